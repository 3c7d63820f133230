//! tests/invalid-stacks/*.toml (at the repository root): every file must be rejected,
//! with a diagnostic naming the field and line its first line announces
//! (`# expect: FIELD at LINE`), and the message must name the file. Each file holds
//! exactly one mistake, so exactly one diagnostic is expected: no cascades.

use orc_spec::load_stack;
use std::path::{Path, PathBuf};

fn corpus() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/invalid-stacks");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

/// `# expect: services.web.replicas at 4` → ("services.web.replicas", 4).
fn expectation(path: &Path) -> (String, usize) {
    let text = std::fs::read_to_string(path).unwrap();
    let first = text.lines().next().unwrap_or("");
    let rest = first.strip_prefix("# expect: ").unwrap_or_else(|| {
        panic!(
            "{}: first line must be `# expect: FIELD at LINE`",
            path.display()
        )
    });
    let (field, line) = rest
        .rsplit_once(" at ")
        .unwrap_or_else(|| panic!("{}: no ` at LINE` in {first:?}", path.display()));
    (field.to_string(), line.trim().parse().unwrap())
}

#[test]
fn every_invalid_stack_is_rejected_where_it_says() {
    let files = corpus();
    assert!(
        files.len() >= 20,
        "only {} files in the corpus",
        files.len()
    );
    let mut failures = Vec::new();
    for path in &files {
        let (field, line) = expectation(path);
        let shown = path.display().to_string();
        let err = match load_stack(path, None) {
            Ok(spec) => {
                failures.push(format!("{shown}: accepted as {spec:?}"));
                continue;
            }
            Err(err) => err,
        };
        let message = err.to_string();
        let diagnostics = err.diagnostics();
        if !diagnostics
            .iter()
            .any(|d| d.field == field && d.line == line)
        {
            failures.push(format!(
                "{shown}: wanted {field} at line {line}, got:\n{message}"
            ));
        }
        if diagnostics.len() != 1 {
            failures.push(format!("{shown}: wanted one diagnostic, got:\n{message}"));
        }
        let prefix = format!("{shown}:{line}:");
        if !message.lines().all(|l| l.starts_with(&format!("{shown}:")))
            || !message.contains(&prefix)
        {
            failures.push(format!(
                "{shown}: message does not start with {prefix}:\n{message}"
            ));
        }
        if !message.contains(&format!(": {field}: ")) {
            failures.push(format!(
                "{shown}: message does not name {field}:\n{message}"
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n\n"));
}
