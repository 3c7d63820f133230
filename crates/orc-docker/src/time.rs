//! Timestamps as Docker writes them: RFC 3339 in UTC with nanoseconds.

/// Milliseconds since the epoch → `2026-12-07T18:02:06.123000000Z` (fixed width, as
/// Docker's log timestamps; Portainer cuts the first 31 characters of a log line).
pub fn rfc3339(ms: u64) -> String {
    rfc3339_nanos(ms.saturating_mul(1_000_000))
}

/// Nanoseconds since the epoch → `2026-12-07T18:02:06.123456789Z`.
pub fn rfc3339_nanos(ns: u64) -> String {
    let secs = ns / 1_000_000_000;
    let nanos = ns % 1_000_000_000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = orc_metrics::events::civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// A `since` query value (`SECONDS[.NANOS]`, as the CLI sends it) → milliseconds.
pub fn parse_since(v: &str) -> Option<u64> {
    let (s, frac) = v.split_once('.').unwrap_or((v, ""));
    let secs: u64 = s.parse().ok()?;
    let mut ns: u64 = 0;
    if !frac.is_empty() {
        let digits: String = frac.chars().take(9).collect();
        ns = format!("{digits:0<9}").parse().ok()?;
    }
    Some(secs * 1000 + ns / 1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_fixed_width_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000000000Z");
        // 2024-02-29T12:34:56.789Z (a leap day).
        assert_eq!(rfc3339(1_709_210_096_789), "2024-02-29T12:34:56.789000000Z");
        assert_eq!(rfc3339(1_709_210_096_789).len(), 30);
        assert_eq!(
            rfc3339_nanos(1_709_210_096_789_123_456),
            "2024-02-29T12:34:56.789123456Z"
        );
    }

    #[test]
    fn parses_since() {
        assert_eq!(parse_since("12.5"), Some(12_500));
        assert_eq!(parse_since("12"), Some(12_000));
        assert_eq!(parse_since("12.000000001"), Some(12_000));
        assert_eq!(parse_since("x"), None);
    }
}
