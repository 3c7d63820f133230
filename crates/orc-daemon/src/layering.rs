//! The crate's layout, checked: every `crate::…` path in a file names a module of a
//! lower layer or of the file's own group, the three layer-3 groups (leader, vip,
//! node) don't use each other, and no two files use each other in a cycle (a module
//! and its own `mod.rs` parent aside). See the table in lib.rs.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn layer(group: &str) -> Option<u8> {
    Some(match group {
        "foundation" => 0,
        "net" | "storage" => 1,
        "cluster" => 2,
        "leader" | "vip" | "node" => 3,
        "ops" => 4,
        "api" | "rpc" | "metrics" | "docker" => 5,
        "daemon" => 6,
        _ => return None,
    })
}

/// The group a crate-root name belongs to (re-exports count as their module; the
/// three foundation files are one group).
fn group_of(name: &str) -> &str {
    match name {
        "config" | "error" | "util" | "DaemonError" | "DaemonConfig" | "ImageGcConfig"
        | "BRIDGE_NAME" => "foundation",
        "Daemon" => "daemon",
        other => other,
    }
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The module path of a file: `src/ops/images.rs` → ["ops", "images"].
fn module_of(file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src()).unwrap_or(file);
    let mut parts: Vec<String> = rel
        .iter()
        .map(|c| c.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if parts.last().is_some_and(|l| l == "mod" || l == "lib") {
        parts.pop();
    }
    parts
}

/// The source text without comments and without `#[cfg(test)]` modules' bodies
/// (tests may reach anywhere).
fn code(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => text,
    };
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every `crate::a::b…` path (with the `{…}` groups of a `use` flattened one level).
fn crate_paths(code: &str) -> Vec<Vec<String>> {
    paths_after(code, "crate::")
}

/// The same for paths starting with `key` (`crate::`, `super::`).
fn paths_after(code: &str, key: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find(key) {
        if rest[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == ':') {
            rest = &rest[i + key.len()..];
            continue;
        }
        rest = &rest[i + key.len()..];
        let end = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':' || c == '{'))
            .unwrap_or(rest.len());
        let head = &rest[..end];
        if let Some(b) = head.find('{') {
            let prefix: Vec<String> = head[..b]
                .split("::")
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect();
            let close = rest.find('}').unwrap_or(rest.len());
            for item in rest[b + 1..close].split(',') {
                let mut p = prefix.clone();
                p.extend(
                    item.trim()
                        .split("::")
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty() && s != "self"),
                );
                if let Some(first) = item.trim().split("::").next() {
                    if first.trim() == "self" && prefix.is_empty() {
                        continue;
                    }
                }
                out.push(p);
            }
        } else {
            out.push(
                head.split("::")
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect(),
            );
        }
    }
    out
}

/// The longest module prefix of `path` that is a file of the crate.
fn resolve(path: &[String], modules: &BTreeSet<Vec<String>>) -> Option<Vec<String>> {
    (1..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|p| modules.contains(p))
}

#[test]
fn modules_import_only_lower_layers_and_never_in_a_cycle() {
    let mut all = Vec::new();
    files(&src(), &mut all);
    assert!(all.len() > 40, "found only {} files under src/", all.len());
    let modules: BTreeSet<Vec<String>> = all.iter().map(|f| module_of(f)).collect();
    let mut problems = Vec::new();
    let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for f in &all {
        let me = module_of(f);
        let Some(my_group) = me.first().map(|g| group_of(g).to_string()) else {
            continue; // lib.rs
        };
        if my_group == "layering" {
            continue;
        }
        let Some(my_layer) = layer(&my_group) else {
            problems.push(format!("{}: module {my_group} has no layer", f.display()));
            continue;
        };
        let text = code(&std::fs::read_to_string(f).unwrap_or_default());
        // `super::x` inside a group: only an edge between files.
        let parent = &me[..me.len() - 1];
        for p in paths_after(&text, "super::") {
            let mut full = parent.to_vec();
            full.extend(p);
            if let Some(target) = resolve(&full, &modules) {
                if target != me && !me.starts_with(&target) && !target.starts_with(&me) {
                    edges.entry(me.clone()).or_default().insert(target);
                }
            }
        }
        for p in crate_paths(&text) {
            let Some(first) = p.first() else { continue };
            let group = group_of(first);
            let Some(l) = layer(group) else {
                problems.push(format!(
                    "{}: crate::{} has no layer",
                    f.display(),
                    p.join("::")
                ));
                continue;
            };
            if group != my_group.as_str() && l >= my_layer {
                problems.push(format!(
                    "{}: uses crate::{} (layer {l} {group}) from layer {my_layer} {my_group}",
                    f.display(),
                    p.join("::")
                ));
            }
            if let Some(target) = resolve(&p, &modules) {
                // A module and its ancestors are one unit (mod.rs declares children).
                if target != me && !me.starts_with(&target) && !target.starts_with(&me) {
                    edges.entry(me.clone()).or_default().insert(target);
                }
            }
        }
    }
    // Cycles between files.
    fn reach(
        from: &Vec<String>,
        to: &Vec<String>,
        edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        seen: &mut BTreeSet<Vec<String>>,
    ) -> bool {
        if from == to {
            return true;
        }
        if !seen.insert(from.clone()) {
            return false;
        }
        edges
            .get(from)
            .is_some_and(|n| n.iter().any(|x| reach(x, to, edges, seen)))
    }
    for (a, targets) in &edges {
        for b in targets {
            if reach(b, a, &edges, &mut BTreeSet::new()) {
                problems.push(format!(
                    "import cycle: {} → {} → … → {}",
                    a.join("::"),
                    b.join("::"),
                    a.join("::")
                ));
            }
        }
    }
    assert!(problems.is_empty(), "layering:\n{}", problems.join("\n"));
}

#[test]
fn the_checker_sees_paths_in_use_groups() {
    let p =
        crate_paths("use crate::{ops::views, DaemonError};\nlet x = crate::leader::fencing::f();");
    assert_eq!(
        p,
        vec![
            vec!["ops".to_string(), "views".to_string()],
            vec!["DaemonError".to_string()],
            vec!["leader".to_string(), "fencing".to_string(), "f".to_string()],
        ]
    );
}

#[test]
fn the_checker_sees_relative_paths_and_cycles() {
    assert_eq!(
        paths_after("use super::{views, Ops};\nx(super::logs::f())", "super::"),
        vec![
            vec!["views".to_string()],
            vec!["Ops".to_string()],
            vec!["logs".to_string(), "f".to_string()],
        ]
    );
}
