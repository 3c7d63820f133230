//! Writing the stack.toml equivalent of a compose file, one key (or array element) per
//! line, each line remembering the compose node it came from, so that stack.toml's
//! diagnostics can be reported at the compose file's line and key.

use super::yaml::Pos;

/// Where a stack.toml line came from in the compose files.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Origin {
    pub pos: Pos,
    /// Dotted compose path, e.g. `services.web.deploy.replicas`.
    pub path: String,
}

/// A TOML value to write.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TVal {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    /// Elements, each written on its own line with its own origin.
    Arr(Vec<(TVal, Origin)>),
    /// An inline table (on one line).
    Inline(Vec<(String, TVal)>),
}

/// One line of output.
#[derive(Debug, Clone)]
pub(crate) struct Line {
    pub text: String,
    pub origin: Option<Origin>,
    /// The stack.toml path of the key or element the line holds.
    pub toml_path: String,
}

/// The output being built.
#[derive(Debug, Default)]
pub(crate) struct Toml {
    pub lines: Vec<Line>,
}

impl Toml {
    pub fn comment(&mut self, text: &str) {
        for l in text.lines() {
            self.lines.push(Line {
                text: format!("# {l}"),
                origin: None,
                toml_path: String::new(),
            });
        }
    }

    pub fn blank(&mut self) {
        self.lines.push(Line {
            text: String::new(),
            origin: None,
            toml_path: String::new(),
        });
    }

    /// `[table]` (the table path already quoted as needed).
    pub fn header(&mut self, table: &str, origin: Origin) {
        self.lines.push(Line {
            text: format!("[{table}]"),
            origin: Some(origin),
            toml_path: table.to_string(),
        });
    }

    /// `key = value` in the table `table`; `key` is a dotted list of raw keys.
    pub fn entry(&mut self, table: &str, key: &[&str], value: &TVal, origin: Origin) {
        let dotted: Vec<String> = key.iter().map(|k| quote_key(k)).collect();
        let dotted = dotted.join(".");
        let path = if table.is_empty() {
            dotted.clone()
        } else {
            format!("{table}.{dotted}")
        };
        match value {
            TVal::Arr(items) if !items.is_empty() => {
                self.lines.push(Line {
                    text: format!("{dotted} = ["),
                    origin: Some(origin.clone()),
                    toml_path: path.clone(),
                });
                for (i, (item, item_origin)) in items.iter().enumerate() {
                    let mut item_origin = item_origin.clone();
                    if item_origin.path == origin.path {
                        item_origin.path = format!("{}[{i}]", origin.path);
                    }
                    self.lines.push(Line {
                        text: format!("  {},", inline(item)),
                        origin: Some(item_origin),
                        toml_path: format!("{path}[{i}]"),
                    });
                }
                self.lines.push(Line {
                    text: "]".into(),
                    origin: Some(origin),
                    toml_path: path,
                });
            }
            _ => self.lines.push(Line {
                text: format!("{dotted} = {}", inline(value)),
                origin: Some(origin),
                toml_path: path,
            }),
        }
    }

    pub fn text(&self) -> String {
        let mut s = String::new();
        for l in &self.lines {
            s.push_str(&l.text);
            s.push('\n');
        }
        s
    }
}

/// A value on one line.
pub(crate) fn inline(v: &TVal) -> String {
    match v {
        TVal::Str(s) => quote(s),
        TVal::Int(i) => i.to_string(),
        TVal::Float(f) => {
            let s = f.to_string();
            if s.contains(['.', 'e', 'E', 'i', 'n']) {
                s
            } else {
                format!("{s}.0")
            }
        }
        TVal::Bool(b) => b.to_string(),
        TVal::Arr(items) => {
            let parts: Vec<String> = items.iter().map(|(i, _)| inline(i)).collect();
            format!("[{}]", parts.join(", "))
        }
        TVal::Inline(entries) => {
            if entries.is_empty() {
                return "{}".into();
            }
            let parts: Vec<String> = entries
                .iter()
                .map(|(k, v)| format!("{} = {}", quote_key(k), inline(v)))
                .collect();
            format!("{{ {} }}", parts.join(", "))
        }
    }
}

/// A TOML basic string.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A bare key if it can be one, else a quoted key.
pub(crate) fn quote_key(k: &str) -> String {
    let bare = !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare {
        k.to_string()
    } else {
        quote(k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_valid_toml() {
        assert_eq!(quote("a\"b\\c\nd\u{1}"), "\"a\\\"b\\\\c\\nd\\u0001\"");
        assert_eq!(quote_key("com.example"), "\"com.example\"");
        assert_eq!(inline(&TVal::Float(2.0)), "2.0");
        assert_eq!(
            inline(&TVal::Inline(vec![("a.b".into(), TVal::Int(1))])),
            "{ \"a.b\" = 1 }"
        );
        let mut t = Toml::default();
        t.entry(
            "services.web",
            &["env", "X.Y"],
            &TVal::Str("1".into()),
            Origin::default(),
        );
        assert_eq!(
            t.lines[0].text,
            "\"X.Y\" = \"1\"".replace("\"X.Y\"", "env.\"X.Y\"")
        );
        assert_eq!(t.lines[0].toml_path, "services.web.env.\"X.Y\"");
    }
}
