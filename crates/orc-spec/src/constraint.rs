//! Placement constraints: `node.labels.disk == ssd`, `node.role != manager`.

use crate::{Constraint, ConstraintKey, ConstraintOp};

const GRAMMAR: &str = "write KEY == VALUE or KEY != VALUE, where KEY is node.id, \
                       node.hostname, node.role or node.labels.NAME";

/// Parses one constraint expression.
pub fn parse_constraint(s: &str) -> Result<Constraint, String> {
    let (key, op, value) = if let Some((k, v)) = s.split_once("==") {
        (k, ConstraintOp::Eq, v)
    } else if let Some((k, v)) = s.split_once("!=") {
        (k, ConstraintOp::Ne, v)
    } else {
        return Err(format!(
            "constraint {s:?} has no == or != operator; {GRAMMAR}"
        ));
    };
    let (key, value) = (key.trim(), value.trim());
    if value.is_empty() {
        return Err(format!("constraint {s:?} has no value after the operator"));
    }
    if value.contains("==") || value.contains("!=") {
        return Err(format!("constraint {s:?} has more than one operator"));
    }
    if value.chars().any(char::is_whitespace) {
        return Err(format!(
            "constraint {s:?}: the value must not contain spaces"
        ));
    }
    let key = match key {
        "node.id" => ConstraintKey::NodeId,
        "node.hostname" => ConstraintKey::NodeHostname,
        "node.role" => {
            if !matches!(value, "manager" | "worker") {
                return Err(format!(
                    "constraint {s:?}: node.role is \"manager\" or \"worker\", not {value:?}"
                ));
            }
            ConstraintKey::NodeRole
        }
        _ => match key.strip_prefix("node.labels.") {
            Some(label) if valid_label(label) => ConstraintKey::NodeLabel(label.to_string()),
            Some(label) => {
                return Err(format!(
                    "constraint {s:?}: invalid label name {label:?} (letters, digits, \
                     '.', '-', '_', '/')"
                ))
            }
            None => return Err(format!("constraint {s:?}: unknown key {key:?}; {GRAMMAR}")),
        },
    };
    Ok(Constraint {
        key,
        op,
        value: value.to_string(),
    })
}

fn valid_label(label: &str) -> bool {
    !label.is_empty()
        && label
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(key: ConstraintKey, op: ConstraintOp, value: &str) -> Constraint {
        Constraint {
            key,
            op,
            value: value.into(),
        }
    }

    #[test]
    fn the_four_keys() {
        assert_eq!(
            parse_constraint("node.labels.disk == ssd"),
            Ok(c(
                ConstraintKey::NodeLabel("disk".into()),
                ConstraintOp::Eq,
                "ssd"
            ))
        );
        assert_eq!(
            parse_constraint("node.role!=manager"),
            Ok(c(ConstraintKey::NodeRole, ConstraintOp::Ne, "manager"))
        );
        assert_eq!(
            parse_constraint("  node.hostname ==  rock1 "),
            Ok(c(ConstraintKey::NodeHostname, ConstraintOp::Eq, "rock1"))
        );
        assert_eq!(
            parse_constraint("node.id == 3f2a"),
            Ok(c(ConstraintKey::NodeId, ConstraintOp::Eq, "3f2a"))
        );
        assert_eq!(
            parse_constraint("node.labels.com.example/zone == a"),
            Ok(c(
                ConstraintKey::NodeLabel("com.example/zone".into()),
                ConstraintOp::Eq,
                "a"
            ))
        );
    }

    #[test]
    fn bad_constraints() {
        for bad in [
            "node.role = manager",
            "node.role == boss",
            "node.labels. == x",
            "node.labels.disk ==",
            "node.name == x",
            "engine.labels.x == y",
            "node.id == a == b",
            "node.id == a b",
            "",
        ] {
            assert!(parse_constraint(bad).is_err(), "{bad:?}");
        }
        assert!(parse_constraint("node.name == x")
            .unwrap_err()
            .contains("node.labels.NAME"));
    }
}
