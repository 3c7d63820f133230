//! What goes wrong with a stack file: an unreadable file, or a list of diagnostics, each
//! naming the file, the position, the offending key and what is wrong with it.

use std::fmt;

/// One problem found in a stack file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file as the user named it.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// Dotted path of the key at fault, e.g. `services.web.resources.limits.memory`.
    pub field: String,
    /// What is wrong, in one line.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}: {}",
            self.file, self.line, self.column, self.field, self.message
        )
    }
}

/// Why a stack file was rejected.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// The file could not be read.
    #[error("{file}: cannot read stack file: {source}")]
    Io {
        /// The file as the user named it.
        file: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The file was read but is not a valid stack: every problem found, in file order.
    #[error("{}", DiagnosticList(.0))]
    Invalid(Vec<Diagnostic>),
}

impl SpecError {
    /// The problems found; empty for an I/O error.
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            SpecError::Io { .. } => &[],
            SpecError::Invalid(diagnostics) => diagnostics,
        }
    }
}

/// Displays diagnostics one per line.
struct DiagnosticList<'a>(&'a [Diagnostic]);

impl fmt::Display for DiagnosticList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, diagnostic) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{diagnostic}")?;
        }
        Ok(())
    }
}

/// Converts a byte offset into `text` to a 1-based (line, column) pair, the column
/// counted in characters. Offsets past the end (or inside a character) are clamped.
pub(crate) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// Where the dotted `field` (`secrets.db.file`) is in a stack file's `text`: 1-based
/// line and column of its value (of the deepest part of the path that exists), for
/// problems found after parsing (a file that can't be read, a value the cluster
/// refuses). TOML is located exactly; a compose file (`yaml`) by its keys' lines.
pub fn locate(text: &str, field: &str, yaml: bool) -> Option<(usize, usize)> {
    let parts: Vec<&str> = field.split('.').filter(|p| !p.is_empty()).collect();
    if yaml {
        let mut from = 0;
        let mut found = None;
        let lines: Vec<&str> = text.lines().collect();
        for part in parts {
            let hit = lines.iter().enumerate().skip(from).find(|(_, l)| {
                let t = l.trim_start().trim_start_matches("- ");
                t.strip_prefix(part)
                    .or_else(|| t.strip_prefix(&format!("\"{part}\"")))
                    .is_some_and(|rest| rest.starts_with(':'))
            });
            match hit {
                Some((i, l)) => {
                    found = Some((i + 1, l.len() - l.trim_start().len() + 1));
                    from = i + 1;
                }
                None => break,
            }
        }
        return found;
    }
    let doc = toml_edit::ImDocument::parse(text).ok()?;
    let mut item: &toml_edit::Item = doc.as_item();
    let mut span = None;
    for part in parts {
        let next = match item {
            toml_edit::Item::Table(t) => t.get(part),
            toml_edit::Item::Value(toml_edit::Value::InlineTable(t)) => {
                t.get(part).map(|_| &item[part])
            }
            _ => None,
        };
        let Some(next) = next else { break };
        item = next;
        let s = match item {
            toml_edit::Item::Value(v) => v.span(),
            toml_edit::Item::Table(t) => t.span(),
            _ => None,
        };
        if s.is_some() {
            span = s;
        }
    }
    span.map(|s| line_column(text, s.start))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_located_in_toml_and_yaml() {
        let toml = "[services.a]\nimage = \"x\"\n\n[secrets.db]\nfile = \"./pw\"\n";
        assert_eq!(locate(toml, "secrets.db.file", false), Some((5, 8)));
        assert_eq!(locate(toml, "secrets.db.external", false), Some((4, 1)));
        let yaml = "services:\n  a:\n    image: x\nsecrets:\n  db:\n    file: ./pw\n";
        assert_eq!(locate(yaml, "secrets.db.file", true), Some((6, 5)));
        assert_eq!(locate(yaml, "secrets.nope", true), Some((4, 1)));
    }

    #[test]
    fn line_column_counts_from_one_in_characters() {
        let text = "a = 1\nbé = 2\n";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 4), (1, 5));
        assert_eq!(line_column(text, 6), (2, 1));
        // "bé = " is 6 bytes but 5 characters.
        assert_eq!(line_column(text, 12), (2, 6));
        assert_eq!(line_column(text, 1000), (3, 1));
        // Inside the two-byte 'é': clamped back to its start.
        assert_eq!(line_column(text, 8), (2, 2));
    }

    #[test]
    fn display_is_one_line_per_diagnostic() {
        let d = |line, field: &str| Diagnostic {
            file: "s.toml".into(),
            line,
            column: 3,
            field: field.into(),
            message: "bad".into(),
        };
        let err = SpecError::Invalid(vec![d(1, "name"), d(4, "services.web.image")]);
        assert_eq!(
            err.to_string(),
            "s.toml:1:3: name: bad\ns.toml:4:3: services.web.image: bad"
        );
        assert_eq!(err.diagnostics().len(), 2);
    }
}
