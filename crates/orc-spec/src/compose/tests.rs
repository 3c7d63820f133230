use super::*;
use crate::{Mount, RestartCondition, ServiceMode};

fn load_with(files: &[(&str, &str)], vars: &[(&str, &str)]) -> Result<Compose, SpecError> {
    let env = Environment::from_process(
        vars.iter()
            .map(|(k, v)| (k.to_string(), v.to_string())),
    );
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
    assert!(db.mounts.iter().any(|m| matches!(m, Mount::Volume { name, .. } if name == "app_data")));
    assert!(db.mounts.iter().any(|m| matches!(m, Mount::Bind { source, read_only: true, .. } if source == "/srv/app/conf")));
    assert!(db.mounts.iter().any(|m| matches!(m, Mount::Tmpfs { target, .. } if target == "/tmp/cache")));
    assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
}
