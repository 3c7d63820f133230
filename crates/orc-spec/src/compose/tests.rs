use super::*;
use crate::{Mount, RestartCondition, ServiceMode};

fn load_with(files: &[(&str, &str)], vars: &[(&str, &str)]) -> Result<Compose, SpecError> {
    let env = Environment::from_process(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let files = files
        .iter()
        .map(|(n, t)| ComposeFile {
            name: n.to_string(),
            text: t.to_string(),
        })
        .collect();
    let mut read = |p: &str| match p {
        "/srv/app/app.env" => Ok("FROM_FILE=1\nSHARED=file\n".to_string()),
        _ => Err("No such file or directory".to_string()),
    };
    parse_compose(ComposeInput {
        files,
        env: &env,
        project_dir: "/srv/app",
        name: None,
        default_name: "app",
        profiles: &[],
        read_file: &mut read,
    })
}

fn load(text: &str) -> Result<Compose, SpecError> {
    load_with(&[("compose.yml", text)], &[])
}

fn errors(text: &str) -> Vec<String> {
    match load(text) {
        Ok(c) => panic!("accepted:\n{}", c.toml),
        Err(e) => e.diagnostics().iter().map(|d| d.to_string()).collect(),
    }
}

#[test]
fn a_small_file_converts() {
    let c = load(
        "services:\n  web:\n    image: nginx:1\n    ports: [\"8080:80\"]\n    restart: on-failure:3\n    command: nginx -g 'daemon off;'\n    environment:\n      - A=1\n",
    )
    .unwrap();
    let web = &c.spec.services["web"];
    assert_eq!(web.image, "nginx:1");
    assert_eq!(web.ports[0].published, 8080);
    assert_eq!(web.restart.condition, RestartCondition::OnFailure);
    assert_eq!(web.restart.max_attempts, Some(3));
    assert_eq!(
        web.command.as_deref(),
        Some(&["nginx".to_string(), "-g".into(), "daemon off;".into()][..])
    );
    assert_eq!(web.env["A"], "1");
    assert_eq!(c.spec.name, "app");
}

#[test]
fn errors_name_compose_file_line_and_key() {
    let e = errors("services:\n  web:\n    image: nginx\n    deploy:\n      replicas: -2\n");
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with("compose.yml:5:17: services.web.deploy.replicas: "),
        "{e:?}"
    );
}

#[test]
fn interpolation_defaults_and_required() {
    let c = load_with(
        &[(
            "c.yml",
            "services:\n  web:\n    image: \"nginx:${TAG:-1.27}\"\n    deploy:\n      replicas: ${N}\n",
        )],
        &[("N", "3")],
    )
    .unwrap();
    assert_eq!(c.spec.services["web"].image, "nginx:1.27");
    assert_eq!(
        c.spec.services["web"].mode,
        ServiceMode::Replicated { replicas: 3 }
    );
    let e = errors("services:\n  web:\n    image: \"x:${TAG:?set TAG}\"\n");
    assert_eq!(
        e,
        vec!["compose.yml:3:12: services.web.image: required variable TAG is unset or empty: set TAG"]
    );
}

#[test]
fn named_volumes_and_binds() {
    let c = load(
        "services:\n  db:\n    image: db\n    volumes:\n      - data:/var/lib/db\n      - ./conf:/etc/db:ro\n      - /tmp/cache\nvolumes:\n  data:\n",
    )
    .unwrap();
    let db = &c.spec.services["db"];
    assert!(db
        .mounts
        .iter()
        .any(|m| matches!(m, Mount::Volume { name, .. } if name == "app_data")));
    assert!(db.mounts.iter().any(
        |m| matches!(m, Mount::Bind { source, read_only: true, .. } if source == "/srv/app/conf")
    ));
    assert!(db
        .mounts
        .iter()
        .any(|m| matches!(m, Mount::Tmpfs { target, .. } if target == "/tmp/cache")));
    assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
}

#[test]
fn bad_input_is_one_line_per_problem_with_file_line_column() {
    // Invalid YAML.
    let e = errors("services:\n  web:\n    image: [x\n");
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].starts_with("compose.yml:"), "{e:?}");
    assert!(e[0].contains("YAML syntax error"), "{e:?}");
    // Duplicate key.
    let e = errors("services:\n  web:\n    image: a\n    image: b\n");
    assert_eq!(
        e,
        vec!["compose.yml:4:5: (document): duplicate key \"image\" (first at line 3)"]
    );
    // Unknown key, wrong type, missing image: every problem, in file order.
    let e = errors("services:\n  web:\n    imgae: nginx\n    privileged: maybe\n    ports: 8080\n");
    assert_eq!(
        e,
        vec![
            "compose.yml:2:3: services.web.image: missing `image`",
            "compose.yml:3:5: services.web.imgae: unknown key `imgae` in a compose service (did you mean `image`?)",
            "compose.yml:4:17: services.web.privileged: expected true or false, found a string",
            "compose.yml:5:12: services.web.ports: expected a list of ports, found an integer",
        ]
    );
    // Unknown top-level key.
    let e = errors("services:\n  web:\n    image: a\nservice:\n  x: 1\n");
    assert!(
        e[0].starts_with("compose.yml:4:1: service: unknown top-level key"),
        "{e:?}"
    );
}

#[test]
fn what_would_change_what_runs_is_an_error() {
    let e = errors("services:\n  web:\n    image: a\n    network_mode: \"service:db\"\n");
    assert!(
        e[0].contains("network_mode \"service:db\" is not supported"),
        "{e:?}"
    );
    let e = errors("services:\n  web:\n    image: a\n    pid: host\n");
    assert!(e[0].contains("`pid: host` is not supported"), "{e:?}");
    let e = errors("services:\n  web:\n    image: a\n    ports: [\"127.0.0.1:8080:80\"]\n");
    assert!(e[0].contains("binding to 127.0.0.1"), "{e:?}");
    let e = errors("services:\n  web:\n    image: a\n    volumes: [data:/d]\nvolumes:\n  data:\n    external: true\n");
    assert!(e[0].contains("external volumes are not supported"), "{e:?}");
    let e = errors("services:\n  web:\n    image: a\n    volumes: [data:/d]\n");
    assert!(e[0].contains("not declared"), "{e:?}");
    let e = errors("services:\n  web:\n    build: .\n");
    assert!(e[0].contains("orc does not build images"), "{e:?}");
    let e = errors("services:\n  my_web:\n    image: a\n");
    assert!(
        e[0].starts_with("compose.yml:2:3: services.my_web: invalid name"),
        "{e:?}"
    );
}

#[test]
fn stack_toml_checks_report_at_the_compose_line() {
    let e = errors(
        "services:\n  web:\n    image: a\n    deploy:\n      resources:\n        limits:\n          memory: 1k\n      placement:\n        constraints: [\"node.zone == x\"]\n",
    );
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(e[0].starts_with("compose.yml:7:19: services.web.deploy.resources.limits.memory: memory must be at least 4M"), "{e:?}");
    assert!(
        e[1].starts_with("compose.yml:9:23: services.web.deploy.placement.constraints[0]: "),
        "{e:?}"
    );
}

#[test]
fn variables_are_traced_to_their_source() {
    let mut env = Environment::from_process([("A".to_string(), "proc".to_string())]);
    env.add_file("/srv/app/.env", "A=file\nB=file\n").unwrap();
    let files = vec![ComposeFile {
        name: "c.yml".into(),
        text: "services:\n  web:\n    image: \"x:$A-${B}-${C:-c}\"\n".into(),
    }];
    let mut read = |_: &str| Err("no".to_string());
    let c = parse_compose(ComposeInput {
        files,
        env: &env,
        project_dir: "/srv/app",
        name: Some("given"),
        default_name: "app",
        profiles: &[],
        read_file: &mut read,
    })
    .unwrap();
    assert_eq!(c.spec.name, "given");
    assert_eq!(c.spec.services["web"].image, "x:proc-file-c");
    let sources: Vec<(String, Option<EnvSource>)> = c
        .variables
        .iter()
        .map(|v| (v.name.clone(), v.source.clone()))
        .collect();
    assert_eq!(
        sources,
        vec![
            ("A".to_string(), Some(EnvSource::Process)),
            (
                "B".to_string(),
                Some(EnvSource::File {
                    path: "/srv/app/.env".into(),
                    line: 2
                })
            ),
            ("C".to_string(), None),
        ]
    );
}

#[test]
fn profiles_select_services() {
    let env = Environment::default();
    let text = "services:\n  web:\n    image: a\n  debug:\n    image: b\n    profiles: [debug]\n";
    let mut read = |_: &str| Err("no".to_string());
    let profiles = vec!["debug".to_string()];
    let c = parse_compose(ComposeInput {
        files: vec![ComposeFile {
            name: "c.yml".into(),
            text: text.into(),
        }],
        env: &env,
        project_dir: "/p",
        name: None,
        default_name: "p",
        profiles: &profiles,
        read_file: &mut read,
    })
    .unwrap();
    assert!(c.spec.services.contains_key("debug"));
    let c = load(text).unwrap();
    assert!(!c.spec.services.contains_key("debug"));
    assert_eq!(c.warnings.len(), 1);
}

#[test]
fn compose_files_are_recognised() {
    use std::path::Path;
    assert!(is_compose(Path::new("docker-compose.yml"), ""));
    assert!(is_compose(Path::new("x.yaml"), ""));
    assert!(!is_compose(Path::new("stack.toml"), "services:\n"));
    assert!(is_compose(
        Path::new("stackfile"),
        "services:\n  web:\n    image: a\n"
    ));
    assert!(!is_compose(
        Path::new("stackfile"),
        "[services.web]\nimage = \"a\"\n"
    ));
}

#[test]
fn odd_input_is_an_error_never_a_panic() {
    let cases = [
        "",
        "[]",
        "services: []",
        "services:\n  web: 3\n",
        "services:\n  web:\n    image: a\n    ports: [{}]\n",
        "services:\n  web:\n    <<: 5\n",
        "? [a]\n: b\n",
        "services:\n  web:\n    image: a\n    volumes: [':::']\n",
        "services:\n  web:\n    image: a\n    command: '\"'\n",
        "services:\n  web:\n    image: !!int a\n",
        "services:\n  web:\n    image: a\n    ports: ['99999999999999999999:80']\n",
        "services:\n  web:\n    image: a\n    deploy: {replicas: 1e400}\n",
        "---\na: 1\n---\nb: 2\n",
        "services:\n\tweb:\n",
        "services:\n  web:\n    image: a\n    environment: [[a]]\n",
        "services:\n  web:\n    image: a\n    ulimits: {nofile: {soft: -5, hard: 99999999999999999999}}\n",
        "services:\n  web:\n    image: a\n    ports: ['8000-1:80', '1-70000:1-70000']\n",
        "services:\n  web:\n    image: a\n    devices: [{}, 3, '']\n",
        "services:\n  web:\n    image: a\n    healthcheck: {test: []}\n",
        "services:\n  web:\n    image: a\n    secrets: [{mode: 'zz'}]\n",
        "services:\n  web:\n    image: a\n    tmpfs: ['/t:mode=9']\n",
        "services:\n  web:\n    image: a\n    extra_hosts: ['nohost']\n",
        "services:\n  web:\n    image: \"${A:-${B\"\n",
        "services:\n  web:\n    image: a\n    networks: {x: 3}\n",
        "services:\n  web:\n    image: a\n    depends_on: {db: 3}\n",
        "volumes:\n  v: 3\nservices:\n  web:\n    image: a\n    volumes: ['v:/v']\n",
        "secrets:\n  s: []\nservices:\n  web:\n    image: a\n",
        "services:\n  web:\n    image: a\n    stop_grace_period: 1.5\n",
    ];
    for text in cases {
        // Either outcome is fine; a panic fails the test.
        let _ = load(text);
    }
    // And what is invalid says so.
    assert!(load("services:\n  web: 3\n").is_err());
    assert!(load("services:\n  web:\n    image: a\n    ports: ['8000-1:80']\n").is_err());
}
