//! Several `-c` files merged as compose merges them: later files override; mappings
//! merge key by key; `environment`, `labels`, `sysctls`, `extra_hosts` merge by name
//! (list or mapping form); `volumes` by target, `secrets`/`configs` by target or source,
//! `ports` and other lists append without duplicates; `command`, `entrypoint` and
//! `healthcheck.test` are replaced; a `!reset` value removes the key, `!override`
//! replaces it whole.

use super::convert::scalar_string;
use super::yaml::{YNode, Y};

/// Merges `over` into `base` (both resolved documents).
pub(crate) fn merge_documents(base: &mut YNode, over: YNode) {
    merge_map(base, over, Level::Top);
}

#[derive(Clone, Copy, PartialEq)]
enum Level {
    Top,
    /// `services`, `networks`, … : name → definition.
    Section,
    Service,
    Other,
}

fn merge_map(base: &mut YNode, over: YNode, level: Level) {
    let (Y::Map(b), Y::Map(o)) = (&mut base.v, over.v) else {
        return;
    };
    for (k, v) in o {
        let key = k.as_str().unwrap_or_default().to_string();
        if v.tag.as_deref() == Some("!reset") {
            b.retain(|(bk, _)| bk.as_str() != Some(&key));
            continue;
        }
        let Some(slot) = b.iter_mut().find(|(bk, _)| bk.as_str() == Some(&key)) else {
            b.push((k, v));
            continue;
        };
        let existing = &mut slot.1;
        if v.tag.as_deref() == Some("!override") {
            *existing = v;
            continue;
        }
        let next = match level {
            Level::Top => Level::Section,
            Level::Section => Level::Service,
            _ => Level::Other,
        };
        match (level, key.as_str()) {
            (Level::Service, "command" | "entrypoint") | (Level::Other, "test") => *existing = v,
            (Level::Service, "environment" | "labels" | "sysctls" | "extra_hosts") => {
                let sep: &[char] = if key == "extra_hosts" {
                    &['=', ':']
                } else {
                    &['=']
                };
                let mut merged = as_map(existing, sep);
                merge_map(&mut merged, as_map(&v, sep), Level::Other);
                *existing = merged;
            }
            (Level::Service, "volumes") => merge_list_by(existing, v, volume_target),
            (Level::Service, "secrets" | "configs") => merge_list_by(existing, v, ref_key),
            (Level::Service, "networks" | "depends_on") => {
                let mut merged = as_map(existing, &[]);
                merge_map(&mut merged, as_map(&v, &[]), Level::Other);
                *existing = merged;
            }
            _ => {
                let maps = matches!((&existing.v, &v.v), (Y::Map(_), Y::Map(_)));
                let seqs = matches!((&existing.v, &v.v), (Y::Seq(_), Y::Seq(_)));
                if maps {
                    merge_map(existing, v, next);
                } else if seqs {
                    if let (Y::Seq(items), Y::Seq(more)) = (&mut existing.v, v.v) {
                        for m in more {
                            if !items.iter().any(|i| i.v == m.v) {
                                items.push(m);
                            }
                        }
                    }
                } else {
                    *existing = v;
                }
            }
        }
    }
}

/// A `KEY=VALUE` / name list as a mapping (mappings stay as they are).
fn as_map(n: &YNode, seps: &[char]) -> YNode {
    let Y::Seq(items) = &n.v else {
        return n.clone();
    };
    let mut entries = Vec::new();
    for item in items {
        let text = scalar_string(item).unwrap_or_default();
        let (k, v) = match (seps.is_empty(), text.split_once(seps)) {
            (false, Some((k, v))) => (k.to_string(), Y::Str(v.to_string())),
            _ => (text, Y::Null),
        };
        let mut key = item.clone();
        key.v = Y::Str(k);
        let mut value = item.clone();
        value.v = v;
        entries.push((key, value));
    }
    let mut out = n.clone();
    out.v = Y::Map(entries);
    out
}

fn merge_list_by(existing: &mut YNode, over: YNode, key: fn(&YNode) -> Option<String>) {
    let (Y::Seq(items), Y::Seq(more)) = (&mut existing.v, over.v) else {
        return;
    };
    for m in more {
        let k = key(&m);
        match items.iter_mut().find(|i| k.is_some() && key(i) == k) {
            Some(slot) => *slot = m,
            None => items.push(m),
        }
    }
}

/// The container path of a service volume, short or long form.
fn volume_target(n: &YNode) -> Option<String> {
    match &n.v {
        Y::Map(_) => n.get("target").and_then(scalar_string),
        _ => {
            let text = scalar_string(n)?;
            let parts: Vec<&str> = text.split(':').collect();
            Some(match parts.as_slice() {
                [d] => d.to_string(),
                [_, d, ..] => d.to_string(),
                _ => text.clone(),
            })
        }
    }
}

/// A secret or config reference's target (or source).
fn ref_key(n: &YNode) -> Option<String> {
    match &n.v {
        Y::Map(_) => n
            .get("target")
            .or_else(|| n.get("source"))
            .and_then(scalar_string),
        _ => scalar_string(n),
    }
}
