//! `mounts = [{ type = "bind", … }, { type = "tmpfs", … }]` → [`Mount`]s.

use crate::document::{Checker, Fields, Node, Val};
use crate::names::{check_absolute_path, clean_path};
use crate::units::parse_bytes;
use crate::Mount;
use toml_edit::Value;

const MOUNT_KEYS: &[&str] = &["type", "source", "target", "read_only", "size", "mode"];
const BIND_ONLY: &[&str] = &["source", "read_only"];
const TMPFS_ONLY: &[&str] = &["size", "mode"];

/// Reads a service's `mounts` array; targets must be distinct.
pub(crate) fn parse_mounts(ck: &mut Checker<'_>, node: &Node<'_>) -> Vec<Mount> {
    let expected = "an array of tables, e.g. [{ type = \"tmpfs\", target = \"/tmp\" }]";
    let Some(elements) = ck.array(node, expected) else {
        return Vec::new();
    };
    let mut mounts = Vec::new();
    let mut targets: Vec<(String, String)> = Vec::new();
    for element in &elements {
        let Some((mount, target_node)) = parse_mount(ck, element) else {
            continue;
        };
        let target = mount.target().to_string();
        if let Some((_, first)) = targets.iter().find(|(t, _)| *t == target) {
            ck.invalid(
                &target_node,
                format!("duplicate mount target {target:?} (already used by {first})"),
            );
        } else {
            targets.push((target, element.path.clone()));
        }
        mounts.push(mount);
    }
    mounts
}

fn parse_mount<'a>(ck: &mut Checker<'_>, node: &Node<'a>) -> Option<(Mount, Node<'a>)> {
    let f = ck.table(node, MOUNT_KEYS)?;
    let Some(type_node) = f.get("type") else {
        ck.missing(&f, "type", ": \"bind\" or \"tmpfs\"");
        return None;
    };
    let kind = ck.string(type_node)?;
    let (only_other, other_kind) = match kind {
        "bind" => (TMPFS_ONLY, "tmpfs"),
        "tmpfs" => (BIND_ONLY, "bind"),
        _ => {
            ck.invalid(
                type_node,
                format!("unknown mount type {kind:?}; use \"bind\" or \"tmpfs\""),
            );
            return None;
        }
    };
    for key in only_other {
        if let Some(n) = f.get(key) {
            ck.error(
                &n.key_span,
                &n.path,
                format!("`{key}` applies only to {other_kind} mounts, not to {kind} mounts"),
            );
        }
    }
    let target_node = f.get("target").cloned();
    let target = path(ck, &f, "target");
    if let (Some(t), Some(n)) = (&target, &target_node) {
        if t == "/" {
            ck.invalid(n, "cannot mount over the container's root \"/\"");
        }
    }
    let mount = if kind == "bind" {
        let source = path(ck, &f, "source");
        let read_only = f
            .get("read_only")
            .and_then(|n| ck.boolean(n))
            .unwrap_or(false);
        Mount::Bind {
            source: source?,
            target: target?,
            read_only,
        }
    } else {
        let size_bytes = f.get("size").and_then(|n| size(ck, n, "64M")).unwrap_or(0);
        let mode = f.get("mode").and_then(|n| mode(ck, n));
        Mount::Tmpfs {
            target: target?,
            size_bytes,
            mode,
        }
    };
    Some((mount, target_node?))
}

/// A required absolute path, cleaned ("/www/" → "/www").
fn path(ck: &mut Checker<'_>, f: &Fields<'_>, key: &str) -> Option<String> {
    let Some(n) = f.get(key) else {
        ck.missing(f, key, ": an absolute path");
        return None;
    };
    let p = ck.string(n)?;
    match check_absolute_path(p) {
        Ok(()) => Some(clean_path(p)),
        Err(why) => {
            ck.invalid(n, format!("{key} {why}"));
            None
        }
    }
}

/// A size key: a byte count or a string such as "64M"; `example` is the string the
/// error message suggests.
pub(crate) fn size(ck: &mut Checker<'_>, n: &Node<'_>, example: &str) -> Option<u64> {
    match n.val {
        Val::Value(Value::Integer(i)) => match u64::try_from(*i.value()) {
            Ok(b) => Some(b),
            Err(_) => {
                ck.invalid(n, "size must not be negative");
                None
            }
        },
        Val::Value(Value::String(s)) => match parse_bytes(s.value()) {
            Ok(b) => Some(b),
            Err(why) => {
                ck.invalid(n, why);
                None
            }
        },
        _ => {
            ck.expected(n, &format!("a size such as \"{example}\" or a byte count"));
            None
        }
    }
}

/// Permission bits: an integer (`0o1777`) or an octal string (`"1777"`).
fn mode(ck: &mut Checker<'_>, n: &Node<'_>) -> Option<u32> {
    let bits = match n.val {
        Val::Value(Value::Integer(i)) => u32::try_from(*i.value()).ok(),
        Val::Value(Value::String(s)) => u32::from_str_radix(s.value(), 8).ok(),
        _ => {
            ck.expected(n, "permission bits such as 0o1777 or \"1777\"");
            return None;
        }
    };
    match bits {
        Some(b) if b <= 0o7777 => Some(b),
        _ => {
            ck.invalid(
                n,
                "mode must be octal permission bits 0..=0o7777, e.g. 0o1777",
            );
            None
        }
    }
}

impl Mount {
    /// The path in the container.
    pub fn target(&self) -> &str {
        match self {
            Mount::Bind { target, .. }
            | Mount::Tmpfs { target, .. }
            | Mount::Volume { target, .. } => target,
        }
    }
}
