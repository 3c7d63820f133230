//! The Prometheus text exposition format, version 0.0.4
//! (`Content-Type: text/plain; version=0.0.4`).
//!
//! ```text
//! # HELP orc_node_load1 Load average over 1 minute.
//! # TYPE orc_node_load1 gauge
//! orc_node_load1 0.42
//! ```
//!
//! Metric and label names are the program's own constants (checked in debug builds);
//! label values and help texts are escaped.

use std::fmt::Write;

/// The content type to serve the exposition with.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// A whole scrape's text, built family by family.
#[derive(Debug, Default)]
pub struct Exposition {
    out: String,
}

/// One metric family: its samples follow its HELP and TYPE lines.
pub struct Family<'a> {
    out: &'a mut String,
    name: &'a str,
}

impl Exposition {
    pub fn new() -> Self {
        Exposition::default()
    }

    /// Starts a family; samples are then added on the returned value.
    pub fn family<'a>(&'a mut self, name: &'a str, kind: Kind, help: &str) -> Family<'a> {
        debug_assert!(valid_name(name), "bad metric name {name}");
        let _ = write!(self.out, "# HELP {name} ");
        escape_into(&mut self.out, help, false);
        let _ = writeln!(self.out, "\n# TYPE {name} {}", kind.as_str());
        Family {
            out: &mut self.out,
            name,
        }
    }

    pub fn counter<'a>(&'a mut self, name: &'a str, help: &str) -> Family<'a> {
        self.family(name, Kind::Counter, help)
    }

    pub fn gauge<'a>(&'a mut self, name: &'a str, help: &str) -> Family<'a> {
        self.family(name, Kind::Gauge, help)
    }

    /// A gauge or counter with a single unlabelled sample.
    pub fn single(&mut self, name: &str, kind: Kind, help: &str, value: f64) {
        self.family(name, kind, help).sample(&[], value);
    }

    pub fn finish(self) -> String {
        self.out
    }
}

impl Family<'_> {
    /// One sample of this family.
    pub fn sample(&mut self, labels: &[(&str, &str)], value: f64) -> &mut Self {
        sample_line(self.out, self.name, "", labels, None, value);
        self
    }

    /// A histogram's buckets, sum and count.
    pub fn histogram(&mut self, labels: &[(&str, &str)], h: &Histogram) -> &mut Self {
        let mut cumulative = 0u64;
        for (bound, n) in h.bounds.iter().zip(&h.counts) {
            cumulative += n;
            let le = format_value(*bound);
            sample_line(
                self.out,
                self.name,
                "_bucket",
                labels,
                Some(&le),
                cumulative as f64,
            );
        }
        sample_line(
            self.out,
            self.name,
            "_bucket",
            labels,
            Some("+Inf"),
            h.count as f64,
        );
        sample_line(self.out, self.name, "_sum", labels, None, h.sum);
        sample_line(self.out, self.name, "_count", labels, None, h.count as f64);
        self
    }
}

fn sample_line(
    out: &mut String,
    name: &str,
    suffix: &str,
    labels: &[(&str, &str)],
    le: Option<&str>,
    value: f64,
) {
    out.push_str(name);
    out.push_str(suffix);
    if !labels.is_empty() || le.is_some() {
        out.push('{');
        let mut first = true;
        let le = le.map(|v| ("le", v));
        for (k, v) in labels.iter().copied().chain(le) {
            debug_assert!(valid_name(k) && !k.contains(':'), "bad label name {k}");
            if !first {
                out.push(',');
            }
            first = false;
            out.push_str(k);
            out.push_str("=\"");
            escape_into(out, v, true);
            out.push('"');
        }
        out.push('}');
    }
    out.push(' ');
    out.push_str(&format_value(value));
    out.push('\n');
}

/// `\` and newlines are escaped everywhere, `"` in label values too.
fn escape_into(out: &mut String, s: &str, quote: bool) {
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if quote => out.push_str("\\\""),
            c => out.push(c),
        }
    }
}

fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        // Rust prints integral floats without a fraction ("3") and others in the
        // shortest form that reads back exactly: both parse in Prometheus.
        format!("{v}")
    }
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// A cumulative histogram with fixed upper bounds (seconds, bytes…).
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    bounds: Vec<f64>,
    /// Observations per bucket (not cumulative): `counts[i]` ≤ `bounds[i]`, above the
    /// previous bound. Those above the last bound only count in `count`.
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    /// `bounds` must be increasing.
    pub fn new(bounds: &[f64]) -> Self {
        debug_assert!(bounds.windows(2).all(|w| w[0] < w[1]));
        Histogram {
            bounds: bounds.to_vec(),
            counts: vec![0; bounds.len()],
            sum: 0.0,
            count: 0,
        }
    }

    pub fn observe(&mut self, v: f64) {
        if let Some(i) = self.bounds.iter().position(|b| v <= *b) {
            self.counts[i] += 1;
        }
        self.sum += v;
        self.count += 1;
    }

    pub fn count(&self) -> u64 {
        self.count
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_have_help_type_and_samples() {
        let mut e = Exposition::new();
        e.gauge("orc_node_load1", "Load average over 1 minute.")
            .sample(&[], 0.42);
        e.counter("orc_task_cpu_seconds_total", "CPU time.")
            .sample(&[("service", "web"), ("slot", "1")], 12.5)
            .sample(&[("service", "db"), ("slot", "2")], 3.0);
        assert_eq!(
            e.finish(),
            "# HELP orc_node_load1 Load average over 1 minute.\n\
             # TYPE orc_node_load1 gauge\n\
             orc_node_load1 0.42\n\
             # HELP orc_task_cpu_seconds_total CPU time.\n\
             # TYPE orc_task_cpu_seconds_total counter\n\
             orc_task_cpu_seconds_total{service=\"web\",slot=\"1\"} 12.5\n\
             orc_task_cpu_seconds_total{service=\"db\",slot=\"2\"} 3\n"
        );
    }

    #[test]
    fn label_values_and_help_are_escaped() {
        let mut e = Exposition::new();
        e.gauge("m", "a \\ b\nc \"q\"")
            .sample(&[("l", "x\"y\\z\nw")], 1.0);
        let text = e.finish();
        assert!(text.contains("# HELP m a \\\\ b\\nc \"q\"\n"), "{text}");
        assert!(text.contains("m{l=\"x\\\"y\\\\z\\nw\"} 1\n"), "{text}");
    }

    #[test]
    fn special_values() {
        assert_eq!(format_value(f64::NAN), "NaN");
        assert_eq!(format_value(f64::INFINITY), "+Inf");
        assert_eq!(format_value(f64::NEG_INFINITY), "-Inf");
        assert_eq!(format_value(1e21), "1000000000000000000000");
        assert_eq!(format_value(0.001), "0.001");
    }

    #[test]
    fn histogram_buckets_are_cumulative() {
        let mut h = Histogram::new(&[0.01, 0.1, 1.0]);
        for v in [0.005, 0.05, 0.05, 0.5, 7.0] {
            h.observe(v);
        }
        let mut e = Exposition::new();
        e.family("lat_seconds", Kind::Histogram, "Latency.")
            .histogram(&[("op", "apply")], &h);
        let text = e.finish();
        let lines: Vec<&str> = text.lines().skip(2).collect();
        assert_eq!(
            lines,
            [
                "lat_seconds_bucket{op=\"apply\",le=\"0.01\"} 1",
                "lat_seconds_bucket{op=\"apply\",le=\"0.1\"} 3",
                "lat_seconds_bucket{op=\"apply\",le=\"1\"} 4",
                "lat_seconds_bucket{op=\"apply\",le=\"+Inf\"} 5",
                "lat_seconds_sum{op=\"apply\"} 7.605",
                "lat_seconds_count{op=\"apply\"} 5",
            ]
        );
    }

    #[test]
    fn names_are_checked() {
        assert!(valid_name("orc_raft_term"));
        assert!(valid_name("_x:y"));
        assert!(!valid_name("9x"));
        assert!(!valid_name("a-b"));
        assert!(!valid_name(""));
    }
}
