//! Whole stack files → normalised specs: defaults, unit conversions, and that several
//! problems in one file are all reported with their positions.

use orc_spec::*;

fn parse(text: &str) -> Result<StackSpec, SpecError> {
    parse_stack(text, "test.toml", None, "fallback")
}

fn errors(text: &str) -> Vec<Diagnostic> {
    match parse(text) {
        Ok(spec) => panic!("expected errors, parsed {spec:?}"),
        Err(e) => e.diagnostics().to_vec(),
    }
}

const FULL: &str = r#"
name = "hello"
[services.web]
image = "demo/busybox:1"
command = ["httpd", "-f", "-p", "8080", "-h", "/www"]
entrypoint = ["/bin/sh", "-c"]
replicas = 2
mode = "replicated"
env = { KEY = "value", PORT = 8080, DEBUG = false }
labels = { "com.example.team" = "home" }
constraints = ["node.labels.disk == ssd", "node.role == manager"]
resources = { limits = { cpus = 0.5, memory = "128M" }, reservations = { cpus = 0.1, memory = "32M" } }
restart = { condition = "on-failure", delay = "5s", max_attempts = 3, window = "60s" }
stop = { signal = "SIGTERM", grace_period = "10s" }
user = "1000:1000"
working_dir = "/www"
hostname = "web"
network_mode = "host"
mounts = [{ type = "bind", source = "/srv/www", target = "/www", read_only = true }, { type = "tmpfs", target = "/tmp", size = "64M" }]
"#;

#[test]
fn every_key_of_the_reference_example_normalises() {
    let stack = parse(FULL).unwrap();
    assert_eq!(stack.name, "hello");
    let web = &stack.services["web"];
    assert_eq!(web.image, "demo/busybox:1");
    assert_eq!(web.command.as_ref().unwrap()[0], "httpd");
    assert_eq!(web.entrypoint, Some(vec!["/bin/sh".into(), "-c".into()]));
    assert_eq!(web.mode, ServiceMode::Replicated { replicas: 2 });
    assert_eq!(web.env["KEY"], "value");
    assert_eq!(web.env["PORT"], "8080");
    assert_eq!(web.env["DEBUG"], "false");
    assert_eq!(web.labels["com.example.team"], "home");
    assert_eq!(
        web.constraints,
        vec![
            Constraint {
                key: ConstraintKey::NodeLabel("disk".into()),
                op: ConstraintOp::Eq,
                value: "ssd".into()
            },
            Constraint {
                key: ConstraintKey::NodeRole,
                op: ConstraintOp::Eq,
                value: "manager".into()
            },
        ]
    );
    assert_eq!(web.resources.limits.nano_cpus, 500_000_000);
    assert_eq!(web.resources.limits.memory_bytes, 128 * 1024 * 1024);
    assert_eq!(web.resources.reservations.nano_cpus, 100_000_000);
    assert_eq!(web.resources.reservations.memory_bytes, 32 * 1024 * 1024);
    assert_eq!(
        web.restart,
        RestartPolicy {
            condition: RestartCondition::OnFailure,
            delay_ms: 5_000,
            max_attempts: Some(3),
            window_ms: 60_000,
        }
    );
    assert_eq!(
        web.stop,
        StopPolicy {
            signal: 15,
            grace_period_ms: 10_000
        }
    );
    assert_eq!(web.user.as_deref(), Some("1000:1000"));
    assert_eq!(web.working_dir.as_deref(), Some("/www"));
    assert_eq!(web.hostname.as_deref(), Some("web"));
    assert_eq!(web.network_mode, NetworkMode::Host);
    assert_eq!(
        web.mounts,
        vec![
            Mount::Bind {
                source: "/srv/www".into(),
                target: "/www".into(),
                read_only: true
            },
            Mount::Tmpfs {
                target: "/tmp".into(),
                size_bytes: 64 << 20,
                mode: None
            },
        ]
    );
}

#[test]
fn defaults_fill_everything_but_the_image() {
    let stack = parse("[services.app]\nimage = \"a\"\n").unwrap();
    assert_eq!(
        stack.name, "fallback",
        "the file stem names an unnamed stack"
    );
    let app = &stack.services["app"];
    assert_eq!(app.mode, ServiceMode::Replicated { replicas: 1 });
    assert_eq!(app.restart, RestartPolicy::default());
    assert_eq!(app.restart.condition, RestartCondition::Any);
    assert_eq!(app.restart.delay_ms, 5_000);
    assert_eq!(app.restart.max_attempts, None);
    assert_eq!(app.restart.window_ms, 0);
    assert_eq!(app.stop.signal, 15);
    assert_eq!(app.stop.grace_period_ms, 10_000);
    assert_eq!(app.network_mode, NetworkMode::Stack);
    assert_eq!(app.networks, [DEFAULT_NETWORK]);
    assert!(app.ports.is_empty());
    assert_eq!(app.resources, Resources::default());
    assert!(app.command.is_none() && app.entrypoint.is_none());
    assert!(app.env.is_empty() && app.labels.is_empty() && app.mounts.is_empty());
    assert!(app.constraints.is_empty());
    assert!(app.user.is_none() && app.working_dir.is_none() && app.hostname.is_none());
}

#[test]
fn the_name_comes_from_override_then_file_then_stem() {
    let text = "name = \"infile\"\n[services.a]\nimage = \"x\"\n";
    assert_eq!(
        parse_stack(text, "f", Some("cli"), "stem").unwrap().name,
        "cli"
    );
    assert_eq!(parse_stack(text, "f", None, "stem").unwrap().name, "infile");
    let unnamed = "[services.a]\nimage = \"x\"\n";
    assert_eq!(
        parse_stack(unnamed, "f", None, "stem").unwrap().name,
        "stem"
    );
    let err = parse_stack(unnamed, "f", None, "My_Stack").unwrap_err();
    assert_eq!(err.diagnostics()[0].field, "name");
    assert!(err.to_string().contains("name = "), "{err}");
    let err = parse_stack(text, "f", Some("Bad Name"), "stem").unwrap_err();
    assert!(err.to_string().contains("command line"), "{err}");
}

#[test]
fn global_mode_and_other_forms() {
    let text = r#"
[services.agent]
image = "a"
mode = "global"
resources.limits.cpus = 2
resources.limits.memory = 8388608
stop.signal = 3
mounts = [{ type = "tmpfs", target = "/run/", mode = 0o1777 }, { type = "tmpfs", target = "/cache", mode = "755" }]

[[services.db.mounts]]
type = "bind"
source = "/srv/db/"
target = "/var/lib/db"

[services.db]
image = "b"
replicas = 0
stop = { signal = "SIGRTMIN+3", grace_period = "1m30s" }
"#;
    let stack = parse(text).unwrap();
    let agent = &stack.services["agent"];
    assert_eq!(agent.mode, ServiceMode::Global);
    assert_eq!(agent.resources.limits.nano_cpus, 2_000_000_000);
    assert_eq!(agent.resources.limits.memory_bytes, 8 << 20);
    assert_eq!(agent.stop.signal, 3);
    assert_eq!(
        agent.mounts[0],
        Mount::Tmpfs {
            target: "/run".into(),
            size_bytes: 0,
            mode: Some(0o1777)
        }
    );
    assert_eq!(
        agent.mounts[1],
        Mount::Tmpfs {
            target: "/cache".into(),
            size_bytes: 0,
            mode: Some(0o755)
        }
    );
    let db = &stack.services["db"];
    assert_eq!(db.mode, ServiceMode::Replicated { replicas: 0 });
    assert_eq!(db.stop.signal, 37);
    assert_eq!(db.stop.grace_period_ms, 90_000);
    assert_eq!(
        db.mounts,
        vec![Mount::Bind {
            source: "/srv/db".into(),
            target: "/var/lib/db".into(),
            read_only: false
        }]
    );
}

#[test]
fn every_problem_in_a_file_is_reported_in_file_order() {
    let text = r#"name = "ok"
[services.web]
image = "a b"
replicas = -1
colour = "blue"
resources = { limits = { cpus = 0, memory = "1M" } }

[services.Bad_Name]
command = "httpd -f"
"#;
    let d = errors(text);
    let got: Vec<(usize, &str)> = d.iter().map(|d| (d.line, d.field.as_str())).collect();
    assert_eq!(
        got,
        vec![
            (3, "services.web.image"),
            (4, "services.web.replicas"),
            (5, "services.web.colour"),
            (6, "services.web.resources.limits.cpus"),
            (6, "services.web.resources.limits.memory"),
            (8, "services.Bad_Name"),
            (8, "services.Bad_Name.image"),
            (9, "services.Bad_Name.command"),
        ]
    );
    assert!(d.iter().all(|d| d.file == "test.toml"));
    // Columns point at the value, or at the key for unknown keys.
    assert_eq!((d[1].line, d[1].column), (4, 12));
    assert_eq!((d[2].line, d[2].column), (5, 1));
    assert!(
        d[2].message.contains("allowed keys: image, command"),
        "{}",
        d[2].message
    );
    assert!(
        d[7].message.contains(r#"["httpd", "-f"]"#),
        "{}",
        d[7].message
    );
}

#[test]
fn unknown_keys_get_a_suggestion() {
    let d = errors("[services.web]\nimage = \"a\"\nreplica = 2\n");
    assert_eq!(d.len(), 1);
    assert!(
        d[0].message.contains("did you mean `replicas`?"),
        "{}",
        d[0].message
    );
}

#[test]
fn wrong_types_name_both_types() {
    let d = errors("[services.web]\nimage = 5\nreplicas = \"2\"\nrestart = { delay = 5 }\n");
    let messages: Vec<&str> = d.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(
        messages,
        vec![
            "expected a string, found an integer",
            "expected an integer, found a string",
            "expected a duration string such as \"5s\" or \"1m30s\", found an integer",
        ]
    );
    assert_eq!(d[2].field, "services.web.restart.delay");
}

#[test]
fn reservations_may_equal_but_not_exceed_limits() {
    let ok = "[services.w]\nimage = \"a\"\nresources.limits = { cpus = 1, memory = \"64M\" }\n\
              resources.reservations = { cpus = 1.0, memory = \"64M\" }\n";
    assert!(parse(ok).is_ok());
    let bad = "[services.w]\nimage = \"a\"\nresources.limits = { cpus = 1, memory = \"64M\" }\n\
               resources.reservations = { cpus = 1.5, memory = \"65M\" }\n";
    let d = errors(bad);
    let fields: Vec<&str> = d.iter().map(|d| d.field.as_str()).collect();
    assert_eq!(
        fields,
        vec![
            "services.w.resources.reservations.cpus",
            "services.w.resources.reservations.memory"
        ]
    );
}

#[test]
fn limits_on_numbers() {
    let with = |extra: &str| parse(&format!("[services.w]\nimage = \"a\"\n{extra}\n"));
    assert!(with("replicas = 1000").is_ok());
    assert!(with("replicas = 1001").is_err());
    assert!(with("replicas = 2.0").is_err());
    assert!(with("resources.limits.cpus = 1024").is_ok());
    assert!(with("resources.limits.cpus = 1025").is_err());
    assert!(with("resources.limits.cpus = 0.005").is_err());
    assert!(with("resources.reservations.cpus = 0.005").is_ok());
    assert!(with("resources.limits.cpus = nan").is_err());
    assert!(with("resources.limits.memory = \"4M\"").is_ok());
    assert!(with("resources.limits.memory = \"4095k\"").is_err());
    assert!(with("restart.max_attempts = 0").is_ok());
    assert!(with("restart.max_attempts = -1").is_err());
    assert!(with("restart.delay = \"1h\"").is_ok());
    assert!(with("restart.delay = \"61m\"").is_err());
    assert!(with("stop.grace_period = \"0s\"").is_ok());
    assert!(with("stop.grace_period = \"2h\"").is_err());
    assert!(with("network_mode = \"bridge\"").is_err());
    assert!(with("entrypoint = []").is_ok());
    assert!(with("command = []").is_err());
    assert!(with("working_dir = \"www\"").is_err());
    assert!(with("hostname = \"web_1\"").is_err());
    assert!(with("mounts = [{ type = \"tmpfs\", target = \"/\" }]").is_err());
    assert!(with("mounts = [{ type = \"tmpfs\", target = \"/t\", source = \"/s\" }]").is_err());
    assert!(with("mounts = [{ type = \"bind\", source = \"s\", target = \"/t\" }]").is_err());
    assert!(with("mounts = [{ type = \"bind\", target = \"/t\" }]").is_err());
    assert!(with("mounts = [{ type = \"tmpfs\", target = \"/t\", mode = 0o17777 }]").is_err());
}

#[test]
fn the_full_service_name_fits_63_characters() {
    let stack = "s".repeat(31);
    let ok = format!(
        "name = \"{stack}\"\n[services.{}]\nimage = \"a\"\n",
        "v".repeat(31)
    );
    assert!(parse(&ok).is_ok());
    let long = format!(
        "name = \"{stack}\"\n[services.{}]\nimage = \"a\"\n",
        "v".repeat(32)
    );
    let d = errors(&long);
    assert!(d[0].message.contains("63"), "{}", d[0].message);
}

#[test]
fn date_times_and_odd_values_are_type_errors() {
    let d = errors("[services.w]\nimage = 1979-05-27\n");
    assert_eq!(d[0].message, "expected a string, found a date-time");
    assert_eq!((d[0].line, d[0].column), (2, 9));
}

#[test]
fn networks_and_ports_normalise() {
    let stack = parse(
        r#"
name = "shop"
[services.web]
image = "demo/busybox:1"
ports = ["8080:80", "5353:53/udp", { published = 9090, target = 90, mode = "host" }]
networks = ["front"]

[services.api]
image = "demo/busybox:1"
networks = ["front", "back"]
ports = [{ published = 8080, target = 80, protocol = "udp" }]

[services.db]
image = "demo/busybox:1"

[services.agent]
image = "demo/busybox:1"
network_mode = "host"

[networks.front]
[networks.back]
"#,
    )
    .unwrap();
    let names: Vec<&str> = stack.networks.keys().map(String::as_str).collect();
    assert_eq!(names, ["back", "default", "front"]);
    let web = &stack.services["web"];
    assert_eq!(web.network_mode, NetworkMode::Stack);
    assert_eq!(web.networks, ["front"]);
    assert_eq!(
        web.ports,
        [
            PortSpec {
                published: 8080,
                target: 80,
                protocol: Protocol::Tcp,
                mode: PublishMode::Ingress
            },
            PortSpec {
                published: 5353,
                target: 53,
                protocol: Protocol::Udp,
                mode: PublishMode::Ingress
            },
            PortSpec {
                published: 9090,
                target: 90,
                protocol: Protocol::Tcp,
                mode: PublishMode::Host
            },
        ]
    );
    // The same number over another protocol is another port.
    assert_eq!(stack.services["api"].ports[0].protocol, Protocol::Udp);
    assert_eq!(stack.services["api"].networks, ["front", "back"]);
    assert_eq!(stack.services["db"].networks, [DEFAULT_NETWORK]);
    assert_eq!(stack.services["db"].network_mode, NetworkMode::Stack);
    let agent = &stack.services["agent"];
    assert_eq!(agent.network_mode, NetworkMode::Host);
    assert!(agent.networks.is_empty());
}

#[test]
fn a_port_published_twice_names_the_first_user() {
    let errs = errors(
        r#"
name = "shop"
[services.a]
image = "x"
ports = ["80:80", "80:81"]
"#,
    );
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].field, "services.a.ports[1]");
    assert!(
        errs[0].message.contains("services.a.ports[0]"),
        "{}",
        errs[0]
    );
    assert_eq!((errs[0].line, errs[0].column), (5, 19));
}
