//! A walk over the parsed TOML document that keeps, for every value, its dotted path and
//! position, and collects every problem found as a [`Diagnostic`] instead of stopping.

use crate::error::{line_column, Diagnostic};
use std::ops::Range;
use toml_edit::{ArrayOfTables, Item, Table, TableLike, Value};

/// A value of the document: a plain or inline value, a `[table]`, or `[[tables]]`.
#[derive(Clone, Copy)]
pub(crate) enum Val<'a> {
    Value(&'a Value),
    Table(&'a Table),
    Tables(&'a ArrayOfTables),
}

impl<'a> Val<'a> {
    fn from_item(item: &'a Item) -> Option<Val<'a>> {
        match item {
            Item::None => None,
            Item::Value(v) => Some(Val::Value(v)),
            Item::Table(t) => Some(Val::Table(t)),
            Item::ArrayOfTables(a) => Some(Val::Tables(a)),
        }
    }

    fn span(&self) -> Option<Range<usize>> {
        match self {
            Val::Value(v) => v.span(),
            Val::Table(t) => t.span(),
            Val::Tables(a) => a.span(),
        }
    }

    /// "a string", "an integer"…: for "expected X, found Y" messages.
    fn kind(&self) -> &'static str {
        match self {
            Val::Value(Value::String(_)) => "a string",
            Val::Value(Value::Integer(_)) => "an integer",
            Val::Value(Value::Float(_)) => "a float",
            Val::Value(Value::Boolean(_)) => "a boolean",
            Val::Value(Value::Datetime(_)) => "a date-time",
            Val::Value(Value::Array(_)) | Val::Tables(_) => "an array",
            Val::Value(Value::InlineTable(_)) | Val::Table(_) => "a table",
        }
    }

    fn table_like(&self) -> Option<&'a dyn TableLike> {
        match *self {
            Val::Value(Value::InlineTable(t)) => Some(t),
            Val::Table(t) => Some(t),
            _ => None,
        }
    }
}

/// A value with its dotted path (`services.web.replicas`) and positions.
#[derive(Clone)]
pub(crate) struct Node<'a> {
    /// The key it is stored under, unquoted (empty for the root and array elements).
    pub key: String,
    pub path: String,
    /// Where the value is (falls back to its key, then to its parent).
    pub span: Range<usize>,
    /// Where its key is (falls back to the value).
    pub key_span: Range<usize>,
    pub val: Val<'a>,
}

impl<'a> Node<'a> {
    /// The document's root table.
    pub fn root(table: &'a Table) -> Node<'a> {
        Node {
            key: String::new(),
            path: String::new(),
            span: 0..0,
            key_span: 0..0,
            val: Val::Table(table),
        }
    }

    /// The string content, if this is a string.
    pub fn as_str(&self) -> Option<&'a str> {
        match self.val {
            Val::Value(Value::String(s)) => Some(s.value().as_str()),
            _ => None,
        }
    }

    fn child(&self, key: &str, key_span: Option<Range<usize>>, val: Val<'a>) -> Node<'a> {
        let key_span = key_span.or_else(|| val.span()).unwrap_or(self.span.clone());
        let span = val.span().unwrap_or(key_span.clone());
        let quoted = quote_key(key);
        let path = if self.path.is_empty() {
            quoted
        } else {
            format!("{}.{quoted}", self.path)
        };
        Node {
            key: key.to_string(),
            path,
            span,
            key_span,
            val,
        }
    }

    fn element(&self, index: usize, val: Val<'a>) -> Node<'a> {
        let span = val.span().unwrap_or(self.span.clone());
        Node {
            key: String::new(),
            path: format!("{}[{index}]", self.path),
            span: span.clone(),
            key_span: span,
            val,
        }
    }
}

/// Bare TOML keys stay as they are; others are quoted, so paths stay unambiguous.
fn quote_key(key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare {
        key.to_string()
    } else {
        format!("{key:?}")
    }
}

/// The allowed entries of a table, looked up by key.
pub(crate) struct Fields<'a> {
    pub node: Node<'a>,
    entries: Vec<Node<'a>>,
}

impl<'a> Fields<'a> {
    /// The entry stored under `key`, if present.
    pub fn get(&self, key: &str) -> Option<&Node<'a>> {
        self.entries.iter().find(|n| n.key == key)
    }
}

/// Collects diagnostics while reading typed values out of the document.
pub(crate) struct Checker<'t> {
    file: &'t str,
    text: &'t str,
    diagnostics: Vec<Diagnostic>,
}

impl<'t> Checker<'t> {
    pub fn new(file: &'t str, text: &'t str) -> Self {
        Checker {
            file,
            text,
            diagnostics: Vec::new(),
        }
    }

    /// Records a problem with `field` at byte offset `span.start`.
    pub fn error(&mut self, span: &Range<usize>, field: &str, message: impl Into<String>) {
        let (line, column) = line_column(self.text, span.start);
        self.diagnostics.push(Diagnostic {
            file: self.file.to_string(),
            line,
            column,
            field: field.to_string(),
            message: message.into(),
        });
    }

    /// Records a problem with the value of `node`.
    pub fn invalid(&mut self, node: &Node<'_>, message: impl Into<String>) {
        self.error(&node.span, &node.path, message);
    }

    /// The diagnostics so far, in file order.
    pub fn finish(mut self) -> Vec<Diagnostic> {
        self.diagnostics.sort_by_key(|d| (d.line, d.column));
        self.diagnostics
    }

    /// Records "expected EXPECTED, found <the kind of value node holds>".
    pub fn expected(&mut self, node: &Node<'_>, expected: &str) {
        let found = node.val.kind();
        self.invalid(node, format!("expected {expected}, found {found}"));
    }

    /// Every entry of a table, in file order; `None` (after a diagnostic) if not a table.
    pub fn entries<'a>(&mut self, node: &Node<'a>) -> Option<Vec<Node<'a>>> {
        let Some(table) = node.val.table_like() else {
            self.expected(node, "a table");
            return None;
        };
        let entries = table
            .iter()
            .filter_map(|(key, item)| {
                let val = Val::from_item(item)?;
                let key_span = table.get_key_value(key).and_then(|(k, _)| k.span());
                Some(node.child(key, key_span, val))
            })
            .collect();
        Some(entries)
    }

    /// A table whose keys must all be in `allowed`; unknown keys are reported and dropped.
    pub fn table<'a>(&mut self, node: &Node<'a>, allowed: &[&str]) -> Option<Fields<'a>> {
        let mut entries = self.entries(node)?;
        entries.retain(|entry| {
            let known = allowed.contains(&entry.key.as_str());
            if !known {
                self.unknown_key(entry, allowed);
            }
            known
        });
        Some(Fields {
            node: node.clone(),
            entries,
        })
    }

    fn unknown_key(&mut self, entry: &Node<'_>, allowed: &[&str]) {
        let key = &entry.key;
        let mut message = format!("unknown key `{key}`");
        let close = allowed
            .iter()
            .map(|a| (edit_distance(a, key), a))
            .filter(|(d, a)| *d == 1 || (*d == 2 && a.len() >= 5))
            .min_by_key(|(d, _)| *d)
            .map(|(_, a)| a);
        if let Some(close) = close {
            message.push_str(&format!(" (did you mean `{close}`?)"));
        }
        message.push_str("; allowed keys: ");
        message.push_str(&allowed.join(", "));
        self.error(&entry.key_span.clone(), &entry.path, message);
    }

    /// Reports that the required key `key` is missing from `fields`.
    pub fn missing(&mut self, fields: &Fields<'_>, key: &str, hint: &str) {
        let path = format!("{}.{key}", fields.node.path);
        self.error(
            &fields.node.key_span.clone(),
            &path,
            format!("missing required key `{key}`{hint}"),
        );
    }

    /// A string value.
    pub fn string<'a>(&mut self, node: &Node<'a>) -> Option<&'a str> {
        let s = node.as_str();
        if s.is_none() {
            self.expected(node, "a string");
        }
        s
    }

    /// An integer value.
    pub fn integer(&mut self, node: &Node<'_>) -> Option<i64> {
        match node.val {
            Val::Value(Value::Integer(i)) => Some(*i.value()),
            _ => {
                self.expected(node, "an integer");
                None
            }
        }
    }

    /// A number: an integer or a float.
    pub fn number(&mut self, node: &Node<'_>) -> Option<f64> {
        match node.val {
            Val::Value(Value::Integer(i)) => Some(*i.value() as f64),
            Val::Value(Value::Float(f)) => Some(*f.value()),
            _ => {
                self.expected(node, "a number");
                None
            }
        }
    }

    /// A boolean value.
    pub fn boolean(&mut self, node: &Node<'_>) -> Option<bool> {
        match node.val {
            Val::Value(Value::Boolean(b)) => Some(*b.value()),
            _ => {
                self.expected(node, "a boolean (true or false)");
                None
            }
        }
    }

    /// The elements of an array (inline, or `[[tables]]`); `expected` describes it.
    pub fn array<'a>(&mut self, node: &Node<'a>, expected: &str) -> Option<Vec<Node<'a>>> {
        match node.val {
            Val::Value(Value::Array(a)) => Some(
                a.iter()
                    .enumerate()
                    .map(|(i, v)| node.element(i, Val::Value(v)))
                    .collect(),
            ),
            Val::Tables(a) => Some(
                a.iter()
                    .enumerate()
                    .map(|(i, t)| node.element(i, Val::Table(t)))
                    .collect(),
            ),
            _ => {
                self.expected(node, expected);
                None
            }
        }
    }

    /// An array of strings; `expected` describes it for the message when it isn't one.
    pub fn strings(&mut self, node: &Node<'_>, expected: &str) -> Option<Vec<String>> {
        let elements = self.array(node, expected)?;
        let mut out = Vec::with_capacity(elements.len());
        let mut ok = true;
        for element in &elements {
            match self.string(element) {
                Some(s) => out.push(s.to_string()),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }
}

/// Levenshtein distance, for "did you mean" hints on short key names.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = if ca == *cb {
                prev
            } else {
                1 + prev.min(cur).min(row[j])
            };
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_edits() {
        assert_eq!(edit_distance("image", "image"), 0);
        assert_eq!(edit_distance("image", "imgae"), 2);
        assert_eq!(edit_distance("replicas", "replica"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
    }

    #[test]
    fn keys_that_are_not_bare_are_quoted_in_paths() {
        assert_eq!(quote_key("web"), "web");
        assert_eq!(quote_key("com.example.team"), "\"com.example.team\"");
        assert_eq!(quote_key(""), "\"\"");
    }
}
