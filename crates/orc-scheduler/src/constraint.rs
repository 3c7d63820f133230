//! Placement constraints (`node.labels.disk == ssd`) evaluated against a node.

use orc_model::Node;
use orc_spec::{Constraint, ConstraintKey, ConstraintOp};

/// Whether `node` satisfies one constraint. A label the node does not have never
/// equals anything, so `node.labels.x != y` holds on a node without label `x`.
pub fn constraint_matches(c: &Constraint, node: &Node) -> bool {
    let equal = match &c.key {
        ConstraintKey::NodeId => id_matches(node.id, &c.value),
        ConstraintKey::NodeHostname => node.hostname == c.value,
        ConstraintKey::NodeRole => node.role.as_str().eq_ignore_ascii_case(&c.value),
        ConstraintKey::NodeLabel(key) => node.labels.get(key).is_some_and(|v| *v == c.value),
    };
    match c.op {
        ConstraintOp::Eq => equal,
        ConstraintOp::Ne => !equal,
    }
}

/// Whether `node` satisfies every constraint in `constraints`.
pub fn constraints_match(constraints: &[Constraint], node: &Node) -> bool {
    constraints.iter().all(|c| constraint_matches(c, node))
}

/// Node ids are written in hex as listings show them (16 digits, or a unique prefix of
/// at least 12 like `short_id`); a decimal form is accepted too.
fn id_matches(id: u64, value: &str) -> bool {
    let hex = format!("{id:016x}");
    let v = value.to_ascii_lowercase();
    if v == hex || (v.len() >= 12 && hex.starts_with(&v)) {
        return true;
    }
    v.parse::<u64>().is_ok_and(|d| d == id)
}
