//! `placement = { preferences = [{ spread = "node.labels.board" }] }` → [`Placement`].

use crate::document::{Checker, Node};
use crate::{Placement, PlacementPreference};

const PLACEMENT_KEYS: &[&str] = &["preferences"];
const PREFERENCE_KEYS: &[&str] = &["spread"];
const LABEL_PREFIX: &str = "node.labels.";

/// Reads a service's `placement` table.
pub(crate) fn parse_placement(ck: &mut Checker<'_>, node: &Node<'_>) -> Placement {
    let mut out = Placement::default();
    let Some(f) = ck.table(node, PLACEMENT_KEYS) else {
        return out;
    };
    let Some(prefs) = f.get("preferences") else {
        return out;
    };
    let expected = "an array of tables, e.g. [{ spread = \"node.labels.board\" }]";
    for element in ck.array(prefs, expected).unwrap_or_default() {
        let Some(p) = ck.table(&element, PREFERENCE_KEYS) else {
            continue;
        };
        let Some(spread) = p.get("spread") else {
            ck.missing(&p, "spread", ", e.g. spread = \"node.labels.board\"");
            continue;
        };
        let Some(text) = ck.string(spread) else {
            continue;
        };
        match text.trim().strip_prefix(LABEL_PREFIX) {
            Some(label) if !label.is_empty() => out.preferences.push(PlacementPreference::Spread {
                label: label.to_string(),
            }),
            _ => ck.invalid(
                spread,
                format!(
                    "cannot spread over {text:?}: give a node label, e.g. \"node.labels.board\""
                ),
            ),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::{parse_stack, PlacementPreference, SpecError};

    fn stack(placement: &str) -> Result<crate::StackSpec, SpecError> {
        let text = format!("[services.web]\nimage = \"demo/web:1\"\nplacement = {placement}\n");
        parse_stack(&text, "s.toml", None, "s")
    }

    #[test]
    fn spread_over_labels_in_order() {
        let s = stack(
            r#"{ preferences = [{ spread = "node.labels.board" }, { spread = "node.labels.rack" }] }"#,
        )
        .unwrap();
        assert_eq!(
            s.services["web"].placement.preferences,
            vec![
                PlacementPreference::Spread {
                    label: "board".into()
                },
                PlacementPreference::Spread {
                    label: "rack".into()
                }
            ]
        );
    }

    #[test]
    fn bad_preferences_name_line_column_and_field() {
        let Err(SpecError::Invalid(d)) = stack(r#"{ preferences = [{ spread = "node.role" }] }"#)
        else {
            panic!("accepted a spread over node.role");
        };
        assert_eq!(d[0].line, 3);
        assert_eq!(d[0].field, "services.web.placement.preferences[0].spread");
        assert!(d[0].message.contains("node label"), "{}", d[0].message);

        let Err(SpecError::Invalid(d)) = stack(r#"{ preferences = [{ binpack = "x" }] }"#) else {
            panic!("accepted an unknown preference");
        };
        assert!(
            d.iter()
                .any(|d| d.message.contains("unknown key `binpack`")),
            "{d:?}"
        );

        let Err(SpecError::Invalid(d)) = stack(r#"{ prefs = [] }"#) else {
            panic!("accepted an unknown placement key");
        };
        assert!(d[0].message.contains("preferences"), "{d:?}");
    }
}
