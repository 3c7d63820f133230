//! A YAML 1.2 document as a tree with positions: anchors and aliases copied, merge
//! keys (`<<`) applied, duplicate keys refused. Scalars stay text until
//! [`resolve`] types the plain ones by the YAML 1.2 core schema (after interpolation).

use saphyr_parser::{Event, Parser, ScalarStyle, Span};
use std::collections::BTreeMap;

/// Where a node starts: the index of its file in the load, 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Pos {
    pub file: usize,
    pub line: usize,
    pub col: usize,
}

/// A node's value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Y {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// A string; before [`resolve`], every scalar.
    Str(String),
    Seq(Vec<YNode>),
    /// Entries in file order; keys are scalars.
    Map(Vec<(YNode, YNode)>),
}

/// A value with its position, how it was written and its tag.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct YNode {
    pub v: Y,
    pub pos: Pos,
    /// A plain (unquoted) scalar: typed by the core schema after interpolation.
    pub plain: bool,
    /// The scalar as written (for `mode: 0440`, octal by compose's convention).
    pub raw: Option<String>,
    /// A local tag such as `!reset` / `!override`, or a core tag (`!!str`).
    pub tag: Option<String>,
}

impl YNode {
    pub fn new(v: Y, pos: Pos) -> YNode {
        YNode {
            v,
            pos,
            plain: false,
            raw: None,
            tag: None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.v {
            Y::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn entries(&self) -> Option<&[(YNode, YNode)]> {
        match &self.v {
            Y::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn get(&self, key: &str) -> Option<&YNode> {
        self.entries()?
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v)
    }

    /// "a string", "a mapping"…: for "expected X, found Y" messages.
    pub fn kind(&self) -> &'static str {
        match self.v {
            Y::Null => "null",
            Y::Bool(_) => "a boolean",
            Y::Int(_) => "an integer",
            Y::Float(_) => "a number",
            Y::Str(_) => "a string",
            Y::Seq(_) => "a list",
            Y::Map(_) => "a mapping",
        }
    }
}

/// A problem in the YAML itself, at a position.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct YamlError {
    pub pos: Pos,
    pub message: String,
}

enum Frame {
    Seq {
        items: Vec<YNode>,
        pos: Pos,
        anchor: usize,
        tag: Option<String>,
    },
    Map {
        entries: Vec<(YNode, YNode)>,
        key: Option<YNode>,
        /// Values of `<<` keys, applied at the end of the mapping.
        merges: Vec<YNode>,
        pos: Pos,
        anchor: usize,
        tag: Option<String>,
    },
}

fn pos_of(file: usize, span: &Span) -> Pos {
    Pos {
        file,
        line: span.start.line(),
        col: span.start.col() + 1,
    }
}

fn tag_text(tag: Option<&saphyr_parser::Tag>) -> Option<String> {
    let tag = tag?;
    if tag.is_yaml_core_schema() {
        Some(format!("!!{}", tag.suffix))
    } else if tag.handle == "!" {
        Some(format!("!{}", tag.suffix))
    } else {
        Some(format!("{}{}", tag.handle, tag.suffix))
    }
}

/// Most nodes aliases may copy in one document: anchors that nest aliases expand
/// exponentially ("billion laughs"), which must fail, not exhaust memory.
const MAX_ALIASED_NODES: usize = 1_000_000;

/// The number of nodes in a tree.
fn size(node: &YNode) -> usize {
    1 + match &node.v {
        Y::Seq(items) => items.iter().map(size).sum(),
        Y::Map(entries) => entries.iter().map(|(k, v)| size(k) + size(v)).sum(),
        _ => 0,
    }
}

/// Parses the first document of `text` (an empty text is an empty mapping).
pub(crate) fn parse(text: &str, file: usize) -> Result<YNode, YamlError> {
    let mut parser = Parser::new_from_str(text);
    let mut anchors: BTreeMap<usize, YNode> = BTreeMap::new();
    let mut aliased = 0usize;
    let mut stack: Vec<Frame> = Vec::new();
    let mut root: Option<YNode> = None;
    let mut documents = 0;
    while let Some(event) = parser.next_event() {
        let (event, span) = event.map_err(|e| YamlError {
            pos: Pos {
                file,
                line: e.marker().line(),
                col: e.marker().col() + 1,
            },
            message: format!("YAML syntax error: {}", e.info()),
        })?;
        let pos = pos_of(file, &span);
        let done = match event {
            Event::StreamStart | Event::StreamEnd | Event::Nothing | Event::DocumentEnd => None,
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    return Err(YamlError {
                        pos,
                        message: "a compose file holds one YAML document; this is a second one \
                                  (after `---`)"
                            .into(),
                    });
                }
                None
            }
            Event::Alias(id) => match anchors.get(&id) {
                Some(node) => {
                    aliased = aliased.saturating_add(size(node));
                    if aliased > MAX_ALIASED_NODES {
                        return Err(YamlError {
                            pos,
                            message: format!(
                                "aliases expand the document past {MAX_ALIASED_NODES} values"
                            ),
                        });
                    }
                    Some(node.clone())
                }
                None => {
                    return Err(YamlError {
                        pos,
                        message: "alias to an unknown anchor".into(),
                    })
                }
            },
            Event::Scalar(value, style, anchor, tag) => {
                let mut node = YNode::new(Y::Str(value.to_string()), pos);
                node.plain = style == ScalarStyle::Plain;
                node.raw = Some(value.to_string());
                node.tag = tag_text(tag.as_deref());
                if anchor > 0 {
                    anchors.insert(anchor, node.clone());
                }
                Some(node)
            }
            Event::SequenceStart(anchor, tag) => {
                stack.push(Frame::Seq {
                    items: Vec::new(),
                    pos,
                    anchor,
                    tag: tag_text(tag.as_deref()),
                });
                None
            }
            Event::MappingStart(anchor, tag) => {
                stack.push(Frame::Map {
                    entries: Vec::new(),
                    key: None,
                    merges: Vec::new(),
                    pos,
                    anchor,
                    tag: tag_text(tag.as_deref()),
                });
                None
            }
            Event::SequenceEnd => match stack.pop() {
                Some(Frame::Seq {
                    items,
                    pos,
                    anchor,
                    tag,
                }) => {
                    let mut node = YNode::new(Y::Seq(items), pos);
                    node.tag = tag;
                    if anchor > 0 {
                        anchors.insert(anchor, node.clone());
                    }
                    Some(node)
                }
                _ => None,
            },
            Event::MappingEnd => match stack.pop() {
                Some(Frame::Map {
                    mut entries,
                    merges,
                    pos,
                    anchor,
                    tag,
                    ..
                }) => {
                    apply_merges(&mut entries, merges)?;
                    let mut node = YNode::new(Y::Map(entries), pos);
                    node.tag = tag;
                    if anchor > 0 {
                        anchors.insert(anchor, node.clone());
                    }
                    Some(node)
                }
                _ => None,
            },
        };
        let Some(node) = done else { continue };
        match stack.last_mut() {
            None => root = Some(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map {
                entries,
                key,
                merges,
                ..
            }) => match key.take() {
                None => {
                    if !matches!(node.v, Y::Str(_)) {
                        return Err(YamlError {
                            pos: node.pos,
                            message: "mapping keys must be plain values, not lists or mappings"
                                .into(),
                        });
                    }
                    *key = Some(node);
                }
                Some(k) => {
                    let name = k.as_str().unwrap_or_default();
                    if name == "<<" && k.plain {
                        merges.push(node);
                    } else if let Some((first, _)) =
                        entries.iter().find(|(e, _)| e.as_str() == Some(name))
                    {
                        return Err(YamlError {
                            pos: k.pos,
                            message: format!(
                                "duplicate key {name:?} (first at line {})",
                                first.pos.line
                            ),
                        });
                    } else {
                        entries.push((k, node));
                    }
                }
            },
        }
    }
    Ok(root.unwrap_or_else(|| {
        YNode::new(
            Y::Map(Vec::new()),
            Pos {
                file,
                line: 1,
                col: 1,
            },
        )
    }))
}

/// `<<: *a` or `<<: [*a, *b]`: keys of the merged mappings that the mapping does not
/// set itself are added (the first merged mapping wins among them).
fn apply_merges(entries: &mut Vec<(YNode, YNode)>, merges: Vec<YNode>) -> Result<(), YamlError> {
    let mut sources = Vec::new();
    for m in merges {
        match m.v {
            Y::Map(e) => sources.push(e),
            Y::Seq(items) => {
                for item in items {
                    match item.v {
                        Y::Map(e) => sources.push(e),
                        _ => {
                            return Err(YamlError {
                                pos: item.pos,
                                message: "a merge key (<<) takes mappings only".into(),
                            })
                        }
                    }
                }
            }
            _ => {
                return Err(YamlError {
                    pos: m.pos,
                    message: "a merge key (<<) takes a mapping or a list of mappings".into(),
                })
            }
        }
    }
    for source in sources {
        for (k, v) in source {
            if !entries.iter().any(|(e, _)| e.as_str() == k.as_str()) {
                entries.push((k, v));
            }
        }
    }
    Ok(())
}

/// Types the plain scalars of `node` by the YAML 1.2 core schema (`2222:22` and `no`
/// stay strings), honouring core tags (`!!str 1`).
pub(crate) fn resolve(node: &mut YNode) {
    match &mut node.v {
        Y::Seq(items) => items.iter_mut().for_each(resolve),
        Y::Map(entries) => entries.iter_mut().for_each(|(_, v)| resolve(v)),
        Y::Str(s) => {
            let typed = match node.tag.as_deref() {
                Some("!!str") => None,
                Some("!!int") => s.parse().ok().map(Y::Int),
                Some("!!float") => s.parse().ok().map(Y::Float),
                Some("!!bool") => core_scalar(s).filter(|v| matches!(v, Y::Bool(_))),
                Some("!!null") => Some(Y::Null),
                _ if node.plain => core_scalar(s),
                _ => None,
            };
            if let Some(v) = typed {
                node.v = v;
            }
        }
        _ => {}
    }
}

/// The core schema's reading of a plain scalar; None = a string.
pub(crate) fn core_scalar(s: &str) -> Option<Y> {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Some(Y::Null),
        "true" | "True" | "TRUE" => return Some(Y::Bool(true)),
        "false" | "False" | "FALSE" => return Some(Y::Bool(false)),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Some(Y::Float(f64::INFINITY))
        }
        "-.inf" | "-.Inf" | "-.INF" => return Some(Y::Float(f64::NEG_INFINITY)),
        ".nan" | ".NaN" | ".NAN" => return Some(Y::Float(f64::NAN)),
        _ => {}
    }
    if let Some(oct) = s.strip_prefix("0o") {
        if !oct.is_empty() && oct.chars().all(|c| c.is_digit(8)) {
            return i64::from_str_radix(oct, 8).ok().map(Y::Int);
        }
        return None;
    }
    if let Some(hex) = s.strip_prefix("0x") {
        if !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return i64::from_str_radix(hex, 16).ok().map(Y::Int);
        }
        return None;
    }
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    if !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()) {
        return s.parse().ok().map(Y::Int);
    }
    if is_core_float(s) {
        return s.parse().ok().map(Y::Float);
    }
    None
}

/// `[-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?`
fn is_core_float(s: &str) -> bool {
    let s = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let (int, frac) = match mantissa.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (mantissa, None),
    };
    let digits = |t: &str| t.chars().all(|c| c.is_ascii_digit());
    let mantissa_ok = match frac {
        None => !int.is_empty() && digits(int),
        Some(f) => digits(int) && digits(f) && (!int.is_empty() || !f.is_empty()),
    };
    let exponent_ok = match exponent {
        None => true,
        Some(e) => {
            let e = e.strip_prefix(['-', '+']).unwrap_or(e);
            !e.is_empty() && digits(e)
        }
    };
    mantissa_ok && exponent_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(text: &str) -> YNode {
        let mut n = parse(text, 0).unwrap();
        resolve(&mut n);
        n
    }

    #[test]
    fn yaml_1_2_core_schema() {
        let n = typed(
            "a: 2222:22\nb: no\nc: 0o17\nd: 1.5\ne: ~\nf: '1'\ng: 010\nh: true\ni: !!str 3\n",
        );
        assert_eq!(n.get("a").unwrap().v, Y::Str("2222:22".into()));
        assert_eq!(n.get("b").unwrap().v, Y::Str("no".into()));
        assert_eq!(n.get("c").unwrap().v, Y::Int(15));
        assert_eq!(n.get("d").unwrap().v, Y::Float(1.5));
        assert_eq!(n.get("e").unwrap().v, Y::Null);
        assert_eq!(n.get("f").unwrap().v, Y::Str("1".into()));
        assert_eq!(n.get("g").unwrap().v, Y::Int(10));
        assert_eq!(n.get("h").unwrap().v, Y::Bool(true));
        assert_eq!(n.get("i").unwrap().v, Y::Str("3".into()));
    }

    #[test]
    fn anchors_aliases_and_merge_keys() {
        let n = typed(
            "base: &b\n  x: 1\n  y: 2\nother: &o\n  z: 3\nuse:\n  <<: [*b, *o]\n  y: 9\nlist: *b\n",
        );
        let u = n.get("use").unwrap();
        assert_eq!(u.get("x").unwrap().v, Y::Int(1));
        assert_eq!(u.get("y").unwrap().v, Y::Int(9));
        assert_eq!(u.get("z").unwrap().v, Y::Int(3));
        assert_eq!(n.get("list").unwrap().get("y").unwrap().v, Y::Int(2));
    }

    #[test]
    fn errors_have_positions() {
        let e = parse("a: 1\na: 2\n", 0).unwrap_err();
        assert_eq!((e.pos.line, e.pos.col), (2, 1));
        assert!(e.message.contains("duplicate key"), "{}", e.message);
        let e = parse("a: [1, 2\nb: 3\n", 0).unwrap_err();
        assert!(e.message.contains("YAML syntax error"), "{}", e.message);
        let e = parse("a: *nope\n", 0).unwrap_err();
        assert!(
            e.message.contains("anchor") || e.message.contains("syntax"),
            "{}",
            e.message
        );
    }

    #[test]
    fn exponential_aliases_are_refused() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..9 {
            let refs = vec![format!("*a{}", i - 1); 10].join(", ");
            text.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
        }
        let e = parse(&text, 0).unwrap_err();
        assert!(e.message.contains("aliases expand"), "{}", e.message);
        // An alias to the anchor being defined is not known yet.
        assert!(parse("a: &x [*x]\n", 0).is_err());
    }

    #[test]
    fn positions_are_one_based() {
        let n = parse("services:\n  web:\n    image: x\n", 0).unwrap();
        let image = n
            .get("services")
            .unwrap()
            .get("web")
            .unwrap()
            .get("image")
            .unwrap();
        assert_eq!((image.pos.line, image.pos.col), (3, 12));
    }
}
