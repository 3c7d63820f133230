//! `[volumes.NAME]` and service `volumes`.

use orc_spec::{parse_stack, Diagnostic, Mount, SpecError, StackSpec, VolumeDriver};

fn parse(text: &str) -> Result<StackSpec, SpecError> {
    parse_stack(text, "stack.toml", Some("home"), "stack")
}

fn errors(text: &str) -> Vec<Diagnostic> {
    match parse(text) {
        Ok(s) => panic!("expected errors, parsed {s:?}"),
        Err(SpecError::Invalid(d)) => d,
        Err(e) => panic!("unexpected {e}"),
    }
}

const OK: &str = r#"
[volumes.db]
driver = "rbd"
size = "1G"

[volumes.files]
driver = "cephfs"
size = "2G"
group = "orc"

[volumes.cache]
driver = "local"

[services.mariadb]
image = "busybox"
volumes = [{ source = "db", target = "/var/lib/mysql/" }, { source = "cache", target = "/cache" }]

[services.web]
image = "busybox"
replicas = 2
volumes = [{ source = "files", target = "/srv", read_only = true }]
"#;

#[test]
fn volumes_normalise_and_resolve_to_full_names() {
    let s = parse(OK).unwrap();
    assert_eq!(s.volumes.len(), 3);
    assert_eq!(
        s.volumes["db"].driver,
        VolumeDriver::Rbd {
            pool: "rbd".into(),
            fs_type: "ext4".into()
        }
    );
    assert_eq!(s.volumes["db"].size_bytes, 1 << 30);
    assert_eq!(
        s.volumes["files"].driver,
        VolumeDriver::CephFs {
            fs_name: "cephfs".into(),
            group: Some("orc".into())
        }
    );
    match &s.services["mariadb"].mounts[0] {
        Mount::Volume {
            name,
            target,
            read_only,
            volume,
        } => {
            assert_eq!(name, "home_db");
            assert_eq!(target, "/var/lib/mysql");
            assert!(!read_only);
            assert_eq!(volume, &s.volumes["db"]);
        }
        m => panic!("{m:?}"),
    }
    assert!(matches!(
        &s.services["web"].mounts[0],
        Mount::Volume {
            read_only: true,
            ..
        }
    ));
}

#[test]
fn unknown_driver_bad_size_and_foreign_keys_name_line_and_field() {
    let d = errors(
        "[volumes.a]\ndriver = \"nfs\"\n[volumes.b]\ndriver = \"rbd\"\nsize = \"ten\"\n[volumes.c]\ndriver = \"local\"\npool = \"x\"\n[services.s]\nimage = \"i\"\n",
    );
    assert_eq!(d.len(), 3, "{d:?}");
    assert_eq!(
        (d[0].line, d[0].column, d[0].field.as_str()),
        (2, 10, "volumes.a.driver")
    );
    assert!(
        d[0].message.contains("unknown volume driver \"nfs\""),
        "{}",
        d[0].message
    );
    assert_eq!((d[1].line, d[1].field.as_str()), (5, "volumes.b.size"));
    assert_eq!((d[2].line, d[2].field.as_str()), (8, "volumes.c.pool"));
    assert!(
        d[2].message.contains("does not apply to local"),
        "{}",
        d[2].message
    );
}

#[test]
fn rbd_needs_a_size_and_sources_must_exist() {
    let d = errors(
        "[volumes.db]\ndriver = \"rbd\"\n[services.s]\nimage = \"i\"\nvolumes = [{ source = \"dbx\", target = \"/d\" }]\n",
    );
    assert_eq!(d.len(), 2, "{d:?}");
    assert!(d[0].message.contains("missing required key `size`"));
    assert_eq!(d[1].field, "services.s.volumes[0].source");
    assert!(
        d[1].message.contains("declared volumes: db"),
        "{}",
        d[1].message
    );
}

#[test]
fn single_writer_volumes_refuse_replicas_and_sharing() {
    let d = errors(
        "[volumes.db]\ndriver = \"rbd\"\nsize = \"1G\"\n[services.a]\nimage = \"i\"\nreplicas = 3\nvolumes = [{ source = \"db\", target = \"/d\" }]\n[services.b]\nimage = \"i\"\nvolumes = [{ source = \"db\", target = \"/d\" }]\n",
    );
    assert_eq!(d.len(), 2, "{d:?}");
    assert!(d[0].message.contains("3 replicas"), "{}", d[0].message);
    assert_eq!(d[1].field, "services.b.volumes[0].source");
    assert!(
        d[1].message.contains("already used by services.a"),
        "{}",
        d[1].message
    );
}

#[test]
fn a_volume_target_may_not_clash_with_a_mount() {
    let d = errors(
        "[volumes.f]\ndriver = \"cephfs\"\n[services.a]\nimage = \"i\"\nmounts = [{ type = \"tmpfs\", target = \"/d\" }]\nvolumes = [{ source = \"f\", target = \"/d/\" }]\n",
    );
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0].field, "services.a.volumes[0].target");
}
