//! The compose corpus (tests/compose/*.yml): each file (or, for multi.*, the pair)
//! converts to its golden normalised stack (warnings, stack.toml, specs), and the
//! stack.toml it converts to parses to the very same spec. `UPDATE_GOLDEN=1` rewrites
//! the golden files after a deliberate change.

use orc_spec::compose::{parse_compose, ComposeFile, ComposeInput, Environment};
use orc_spec::{parse_stack, SpecError};
use std::path::{Path, PathBuf};

const PROJECT: &str = "/srv/app";

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/compose")
}

fn environment(dotenv: Option<&str>) -> Environment {
    let vars = [
        ("HOME", "/home/user"),
        ("TAG", "1.2.3"),
        ("GREETING", "from-the-environment"),
        ("EMPTY_VAR", ""),
        ("FROM_SHELL", "shell-value"),
    ];
    let mut env =
        Environment::from_process(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    if let Some(name) = dotenv {
        let text = std::fs::read_to_string(corpus().join(name)).unwrap();
        env.add_file(name, &text).unwrap();
    }
    env
}

/// Loads corpus files as if they lived in /srv/app.
fn load(files: &[&str], env: &Environment) -> Result<orc_spec::compose::Compose, SpecError> {
    let files = files
        .iter()
        .map(|f| ComposeFile {
            name: f.to_string(),
            text: std::fs::read_to_string(corpus().join(f)).unwrap(),
        })
        .collect();
    let mut read = |p: &str| {
        let rel = p
            .strip_prefix(&format!("{PROJECT}/"))
            .ok_or_else(|| format!("{p} is outside the project"))?;
        std::fs::read_to_string(corpus().join(rel)).map_err(|e| e.to_string())
    };
    parse_compose(ComposeInput {
        files,
        env,
        project_dir: PROJECT,
        name: None,
        default_name: "app",
        profiles: &[],
        read_file: &mut read,
    })
}

fn golden(case: &str, files: &[&str], dotenv: Option<&str>) {
    let env = environment(dotenv);
    let c = match load(files, &env) {
        Ok(c) => c,
        Err(e) => panic!("{case}: rejected:\n{e}"),
    };
    // The converted text is a stack.toml that gives the same spec.
    let again = parse_stack(&c.toml, &format!("{PROJECT}/x.toml"), None, "app")
        .unwrap_or_else(|e| panic!("{case}: converted stack.toml rejected:\n{e}\n{}", c.toml));
    assert_eq!(again, c.spec, "{case}: stack.toml round trip differs");
    let mut out = String::from("== warnings\n");
    for w in &c.warnings {
        out.push_str(&format!("{w}\n"));
    }
    out.push_str("== not enforced\n");
    for n in orc_spec::not_enforced(&c.spec) {
        out.push_str(&format!("{n}\n"));
    }
    out.push_str("== stack.toml\n");
    out.push_str(&c.toml);
    out.push_str("== spec\n");
    out.push_str(&format!("{:#?}\n", c.spec));
    let path = corpus().join(format!("{case}.golden"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &out).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("{} missing: run with UPDATE_GOLDEN=1", path.display()));
    if want != out {
        let diff: Vec<String> = want
            .lines()
            .zip(out.lines())
            .enumerate()
            .filter(|(_, (a, b))| a != b)
            .take(5)
            .map(|(i, (a, b))| format!("line {}:\n  golden: {a}\n  now:    {b}", i + 1))
            .collect();
        panic!(
            "{case}: output differs from {} ({} vs {} lines):\n{}",
            path.display(),
            want.lines().count(),
            out.lines().count(),
            diff.join("\n")
        );
    }
}

#[test]
fn basic() {
    golden("basic", &["basic.yml"], None);
}

#[test]
fn interpolation() {
    golden(
        "interpolation",
        &["interpolation.yml"],
        Some("interpolation.env"),
    );
}

#[test]
fn anchors() {
    golden("anchors", &["anchors.yml"], None);
}

#[test]
fn volumes() {
    golden("volumes", &["volumes.yml"], None);
}

#[test]
fn deploy() {
    golden("deploy", &["deploy.yml"], None);
}

#[test]
fn options() {
    golden("options", &["options.yml"], None);
}

#[test]
fn health_secrets() {
    golden("health_secrets", &["health_secrets.yml"], None);
}

#[test]
fn networks() {
    golden("networks", &["networks.yml"], None);
}

#[test]
fn dropped() {
    golden("dropped", &["dropped.yml"], None);
}

#[test]
fn multi() {
    golden("multi", &["multi.base.yml", "multi.override.yml"], None);
}

#[test]
fn the_compose_files_shown_in_docs_load() {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/stack.md"))
            .unwrap();
    let env = environment(None);
    let mut checked = 0;
    for block in doc.split("```yaml\n").skip(1) {
        let (yaml, _) = block.split_once("```").unwrap();
        let mut read = |_: &str| Err("no files in docs".to_string());
        let loaded = parse_compose(ComposeInput {
            files: vec![ComposeFile {
                name: "docs/stack.md".into(),
                text: yaml.to_string(),
            }],
            env: &env,
            project_dir: PROJECT,
            name: None,
            default_name: "docs",
            profiles: &[],
            read_file: &mut read,
        });
        if let Err(e) = loaded {
            panic!("docs/stack.md compose example does not load:\n{e}\n---\n{yaml}");
        }
        checked += 1;
    }
    assert!(checked >= 1, "no compose example in docs/stack.md");
}
