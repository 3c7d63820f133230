//! examples/hello/stack.toml parses to the spec the quick start relies on, and a parsed
//! stack survives the bincode encoding the cluster stores it in.

use orc_spec::*;
use std::path::Path;

fn hello_path() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/hello/stack.toml")
}

#[test]
fn hello_example_parses_to_the_expected_spec() {
    let stack = load_stack(&hello_path(), None).unwrap();
    assert_eq!(stack.name, "hello");
    assert_eq!(stack.services.len(), 1);
    let web = &stack.services["web"];
    assert_eq!(web.image, "demo/busybox:1");
    assert_eq!(web.mode, ServiceMode::Replicated { replicas: 1 });
    let command = web.command.as_ref().unwrap();
    assert_eq!(&command[..2], ["sh", "-c"]);
    assert!(
        command[2].contains("httpd -f -p 80 -h /tmp/www"),
        "{command:?}"
    );
    assert_eq!(web.entrypoint, None);
    assert_eq!(web.env["GREETING"], "hello from orc");
    // A published port on the stack network, so that it scales on one node.
    assert_eq!(web.network_mode, NetworkMode::Stack);
    assert_eq!(web.ports.len(), 1);
    assert_eq!((web.ports[0].published, web.ports[0].target), (8080, 80));
    assert_eq!(web.ports[0].mode, PublishMode::Ingress);
    assert_eq!(web.restart.condition, RestartCondition::Any);
    assert_eq!(web.restart.delay_ms, 2_000);
    assert_eq!(web.stop.signal, 15);
    assert_eq!(web.stop.grace_period_ms, 5_000);
    assert_eq!(
        web.mounts,
        vec![Mount::Tmpfs {
            target: "/tmp".into(),
            size_bytes: 16 << 20,
            mode: None
        }]
    );
}

#[test]
fn a_name_override_wins_over_the_file() {
    let stack = load_stack(&hello_path(), Some("other")).unwrap();
    assert_eq!(stack.name, "other");
}

#[test]
fn a_missing_file_is_an_io_error_naming_it() {
    let path = Path::new("/nonexistent/orc-spec-test/stack.toml");
    let err = load_stack(path, None).unwrap_err();
    assert!(matches!(err, SpecError::Io { .. }));
    assert!(err
        .to_string()
        .contains("/nonexistent/orc-spec-test/stack.toml"));
    assert!(err.diagnostics().is_empty());
}

#[test]
fn a_parsed_stack_round_trips_through_bincode() {
    let text = r#"
name = "rt"
[services.web]
image = "demo/busybox:1"
entrypoint = ["/bin/sh", "-c"]
command = ["exec httpd -f"]
env = { A = "1" }
labels = { "x.y" = "z" }
constraints = ["node.labels.disk != hdd", "node.hostname == rock1"]
resources = { limits = { cpus = 1.5, memory = "1G" }, reservations = { memory = "64M" } }
restart = { condition = "none", max_attempts = 0 }
stop = { signal = "SIGINT" }
user = "nobody:nogroup"
mounts = [{ type = "bind", source = "/a", target = "/b", read_only = true }, { type = "tmpfs", target = "/t", mode = 0o700 }]

[services.agent]
image = "a"
mode = "global"
"#;
    let stack = parse_stack(text, "rt.toml", None, "rt").unwrap();
    let config = bincode::config::standard();
    let bytes = bincode::serde::encode_to_vec(&stack, config).unwrap();
    let (back, used): (StackSpec, usize) =
        bincode::serde::decode_from_slice(&bytes, config).unwrap();
    assert_eq!(used, bytes.len());
    assert_eq!(back, stack);
    // And a hand-built spec with every variant set differently decodes the same way.
    let hello = load_stack(&hello_path(), None).unwrap();
    let bytes = bincode::serde::encode_to_vec(&hello, config).unwrap();
    let (back, _): (StackSpec, usize) = bincode::serde::decode_from_slice(&bytes, config).unwrap();
    assert_eq!(back, hello);
}

#[test]
fn the_stack_files_shown_in_docs_parse() {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/stack.md"))
            .unwrap();
    let mut checked = 0;
    for block in doc.split("```toml\n").skip(1) {
        let Some((toml, _)) = block.split_once("```") else {
            panic!("unclosed ```toml block in docs/stack.md");
        };
        // Whole stacks only: fragments are shown inside a service for context.
        if !toml.contains("[services.") {
            continue;
        }
        if let Err(e) = parse_stack(toml, "docs/stack.md", None, "docs") {
            panic!("docs/stack.md example does not parse:\n{e}\n---\n{toml}");
        }
        checked += 1;
    }
    assert!(
        checked >= 2,
        "only {checked} stack examples found in docs/stack.md"
    );
}

#[test]
fn the_fragments_shown_in_docs_parse_inside_a_service() {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/stack.md"))
            .unwrap();
    let mut checked = 0;
    for block in doc.split("```toml\n").skip(1) {
        let (toml, _) = block.split_once("```").unwrap();
        if toml.contains("[services.") {
            continue;
        }
        let stack = format!("[services.s]\nimage = \"a\"\n{toml}");
        if let Err(e) = parse_stack(&stack, "docs/stack.md", None, "docs") {
            panic!("docs/stack.md fragment does not parse:\n{e}\n---\n{toml}");
        }
        checked += 1;
    }
    assert!(
        checked >= 4,
        "only {checked} fragments found in docs/stack.md"
    );
}
