//! The whole file: TOML syntax, the stack's name, and its services.

use crate::document::{Checker, Node};
use crate::error::{line_column, Diagnostic, SpecError};
use crate::names::{check_name, MAX_NAME};
use crate::network::StackNetworks;
use crate::options::parse_secret_decls;
use crate::service::parse_service;
use crate::volume::{parse_volumes, StackVolumes};
use crate::StackSpec;
use std::collections::BTreeMap;
use toml_edit::{ImDocument, TomlError};

const NO_SERVICES: &str = "the stack has no services; add at least one [services.NAME] table";

/// Parses and validates the text of a stack file. `file` is only used in messages.
/// The stack's name is `name_override`, else the file's `name` key, else `file_stem`.
pub fn parse_stack(
    text: &str,
    file: &str,
    name_override: Option<&str>,
    file_stem: &str,
) -> Result<StackSpec, SpecError> {
    let doc = ImDocument::parse(text)
        .map_err(|e| SpecError::Invalid(vec![syntax_error(text, file, &e)]))?;
    let mut ck = Checker::new(file, text);
    let root = Node::root(doc.as_table());
    let top = [
        "name", "services", "networks", "volumes", "secrets", "configs",
    ];
    let Some(fields) = ck.table(&root, &top) else {
        return Err(SpecError::Invalid(ck.finish()));
    };

    let start = 0..0;
    let in_file = fields.get("name").and_then(|n| {
        let name = ck.string(n)?;
        if let Err(why) = check_name(name) {
            ck.invalid(n, why);
        }
        Some(name)
    });
    let name = match (name_override, in_file) {
        (Some(name), _) => {
            if let Err(why) = check_name(name) {
                ck.error(
                    &start,
                    "name",
                    format!("stack name given on the command line: {why}"),
                );
            }
            name
        }
        (None, Some(name)) => name,
        (None, None) => {
            if let Err(why) = check_name(file_stem) {
                ck.error(
                    &start,
                    "name",
                    format!(
                        "the file has no `name` key and its file name {file_stem:?} is not a \
                         valid stack name ({why}); add a line such as name = \"mystack\""
                    ),
                );
            }
            file_stem
        }
    };

    let (mut book, networks) = StackNetworks::parse(&mut ck, fields.get("networks"));
    let volumes = fields
        .get("volumes")
        .map(|n| parse_volumes(&mut ck, name, n))
        .unwrap_or_default();
    let base = std::path::Path::new(file)
        .parent()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    let secrets = fields
        .get("secrets")
        .map(|n| parse_secret_decls(&mut ck, n, &base, false))
        .unwrap_or_default();
    let configs = fields
        .get("configs")
        .map(|n| parse_secret_decls(&mut ck, n, &base, true))
        .unwrap_or_default();
    let stack_volumes = StackVolumes {
        stack: name,
        volumes: &volumes,
        secrets: &secrets,
        configs: &configs,
    };
    let mut deps = Vec::new();
    let mut uses = Vec::new();
    let mut services = BTreeMap::new();
    match fields.get("services") {
        None => ck.error(&start, "services", NO_SERVICES),
        Some(node) => {
            let entries = ck.entries(node);
            if entries.as_ref().is_some_and(Vec::is_empty) {
                ck.invalid(node, NO_SERVICES);
            }
            for entry in entries.unwrap_or_default() {
                check_service_name(&mut ck, name, &entry);
                let spec = parse_service(
                    &mut ck,
                    &entry,
                    &mut book,
                    &stack_volumes,
                    &mut uses,
                    &mut deps,
                );
                services.insert(entry.key.clone(), spec);
            }
        }
    }

    for (dep, node) in &deps {
        if !services.contains_key(dep) {
            let known: Vec<&str> = services.keys().map(String::as_str).collect();
            ck.invalid(
                node,
                format!(
                    "unknown service {dep:?} (the stack's services: {})",
                    known.join(", ")
                ),
            );
        }
    }
    if let Some(cycle) = dependency_cycle(&services) {
        ck.error(
            &start,
            "services",
            format!("depends_on forms a cycle: {}", cycle.join(" -> ")),
        );
    }

    let diagnostics = ck.finish();
    if diagnostics.is_empty() {
        Ok(StackSpec {
            name: name.to_string(),
            services,
            networks,
            volumes,
            secrets,
            configs,
        })
    } else {
        Err(SpecError::Invalid(diagnostics))
    }
}

/// A depends_on cycle, as the names along it (first name repeated at the end).
fn dependency_cycle(services: &BTreeMap<String, crate::ServiceSpec>) -> Option<Vec<String>> {
    // 0 = unvisited, 1 = on the path, 2 = done.
    fn visit(
        name: &str,
        services: &BTreeMap<String, crate::ServiceSpec>,
        state: &mut BTreeMap<String, u8>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match state.get(name).copied().unwrap_or(0) {
            1 => {
                let from = path.iter().position(|p| p == name).unwrap_or(0);
                let mut cycle = path[from..].to_vec();
                cycle.push(name.to_string());
                return Some(cycle);
            }
            2 => return None,
            _ => {}
        }
        state.insert(name.to_string(), 1);
        path.push(name.to_string());
        for dep in services.get(name).map(|s| &s.depends_on[..]).unwrap_or(&[]) {
            if let Some(c) = visit(&dep.service, services, state, path) {
                return Some(c);
            }
        }
        path.pop();
        state.insert(name.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for name in services.keys() {
        let mut path = Vec::new();
        if let Some(c) = visit(name, services, &mut state, &mut path) {
            return Some(c);
        }
    }
    None
}

fn check_service_name(ck: &mut Checker<'_>, stack: &str, entry: &Node<'_>) {
    let service = &entry.key;
    if let Err(why) = check_name(service) {
        ck.error(&entry.key_span, &entry.path, why);
        return;
    }
    let full = stack.len() + 1 + service.len();
    if full > MAX_NAME {
        ck.error(
            &entry.key_span,
            &entry.path,
            format!(
                "the full service name \"{stack}_{service}\" is {full} characters long; the \
                 limit is {MAX_NAME}"
            ),
        );
    }
}

/// A TOML syntax error as a diagnostic, naming the key on (or table around) that line.
fn syntax_error(text: &str, file: &str, e: &TomlError) -> Diagnostic {
    let offset = e.span().map_or(0, |s| s.start);
    let (line, column) = line_column(text, offset);
    let message: Vec<&str> = e
        .message()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    Diagnostic {
        file: file.to_string(),
        line,
        column,
        field: syntax_field(text, line),
        message: format!("TOML syntax error: {}", message.join("; ")),
    }
}

/// Best guess at the key a syntax error on `line` (1-based) belongs to: the enclosing
/// `[table]` header and the `key =` on that line.
fn syntax_field(text: &str, line: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let here = lines.get(line.saturating_sub(1)).copied().unwrap_or("");
    if let Some(header) = header_of(here) {
        return header;
    }
    let table = lines
        .iter()
        .take(line.saturating_sub(1))
        .rev()
        .find_map(|l| header_of(l));
    let key = here
        .split_once('=')
        .map(|(k, _)| k.split_whitespace().collect::<String>())
        .filter(|k| {
            !k.is_empty()
                && k.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '"'))
        });
    match (table, key) {
        (Some(t), Some(k)) => format!("{t}.{k}"),
        (Some(t), None) => t,
        (None, Some(k)) => k,
        (None, None) => "(document)".to_string(),
    }
}

/// `[a.b]` or `[[a.b]]` (a comment may follow) → `a.b`.
fn header_of(line: &str) -> Option<String> {
    let line = line.trim_start();
    let rest = line.strip_prefix("[[").or_else(|| line.strip_prefix('['))?;
    // Up to the closing bracket, or (for an unclosed header) to a comment or the end.
    let inner = rest.split([']', '#']).next().unwrap_or("");
    let name: String = inner.split_whitespace().collect();
    (!name.is_empty()).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_errors_name_the_key_and_table() {
        let text = "name = \"x\"\n[services.web]\nimage = \"a\"\nreplicas = = 2\n";
        assert_eq!(syntax_field(text, 4), "services.web.replicas");
        assert_eq!(syntax_field(text, 1), "name");
        assert_eq!(syntax_field(text, 2), "services.web");
        assert_eq!(syntax_field("[[a . b]] # c\n", 1), "a.b");
        assert_eq!(syntax_field("???\n", 1), "(document)");
        assert_eq!(syntax_field("[services.web\n", 1), "services.web");
    }
}
