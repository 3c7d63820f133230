//! stack.toml's container options, depends_on, healthcheck, update/rollback config,
//! secrets and configs: normalised values and the errors for bad ones.

use orc_spec::{
    parse_stack, DependencyCondition, FailureAction, HealthTest, SecretSource, SpecError,
    UpdateOrder,
};

fn stack(text: &str) -> Result<orc_spec::StackSpec, SpecError> {
    parse_stack(text, "/srv/s.toml", None, "s")
}

fn errors(text: &str) -> Vec<String> {
    match stack(text) {
        Ok(s) => panic!("accepted: {s:?}"),
        Err(e) => e.diagnostics().iter().map(|d| d.to_string()).collect(),
    }
}

#[test]
fn every_option_normalises() {
    let s = stack(
        r#"
[services.radio]
image = "demo/radio:1"
privileged = false
cap_add = ["net_admin", "CAP_SYS_TIME"]
cap_drop = ["ALL"]
devices = ["/dev/ttyUSB0", "/dev/ttyACM0:/dev/radio:rw", { source = "/dev/video0", permissions = "r" }]
sysctls = { "net.core.somaxconn" = 1024 }
ulimits = { nofile = { soft = 1024, hard = 4096 }, nproc = -1 }
init = true
read_only = true
extra_hosts = { "printer.lan" = "192.168.1.20", "v6" = "[::1]" }
dns = ["1.1.1.1"]
dns_search = ["home.lan"]
dns_options = ["ndots:2"]
shm_size = "128M"
pids_limit = 50
depends_on = ["db", { service = "cache", condition = "service_healthy" }]
healthcheck = { test = ["HTTP", "http://localhost:8080/health"], interval = "10s", retries = 2, restart_on_unhealthy = false }
update_config = { parallelism = 2, order = "start-first", failure_action = "rollback", max_failure_ratio = 0.5, healthy_deadline = "1m" }
rollback_config = { stateful = "safe" }
secrets = ["db_pw", { source = "api", target = "key", uid = 1000, mode = "0400" }]
configs = [{ source = "conf", target = "/etc/app.conf" }]

[services.db]
image = "db"

[services.cache]
image = "cache"

[secrets.db_pw]
file = "db_pw.txt"

[secrets.api]
external = true

[configs.conf]
content = "x = 1"
"#,
    )
    .unwrap();
    let r = &s.services["radio"];
    let c = &r.container;
    assert_eq!(c.cap_add, vec!["CAP_NET_ADMIN", "CAP_SYS_TIME"]);
    assert_eq!(c.cap_drop, vec!["ALL"]);
    assert_eq!(c.devices.len(), 3);
    assert_eq!(c.devices[1].target, "/dev/radio");
    assert_eq!(c.devices[2].target, "/dev/video0");
    assert_eq!(c.devices[2].permissions, "r");
    assert_eq!(c.sysctls["net.core.somaxconn"], "1024");
    assert_eq!(
        (c.ulimits["nofile"].soft, c.ulimits["nofile"].hard),
        (1024, 4096)
    );
    assert_eq!(c.ulimits["nproc"].hard, u64::MAX);
    assert!(c.init && c.read_only && !c.privileged);
    assert_eq!(c.extra_hosts.len(), 2);
    assert_eq!(c.extra_hosts[1].ip, "::1");
    assert_eq!(c.shm_size_bytes, 128 << 20);
    assert_eq!(c.pids_limit, 50);
    assert_eq!(r.depends_on[1].condition, DependencyCondition::Healthy);
    let hc = r.healthcheck.as_ref().unwrap();
    assert_eq!(
        hc.test,
        Some(HealthTest::Http("http://localhost:8080/health".into()))
    );
    assert_eq!(
        (hc.interval_ms, hc.retries, hc.timeout_ms),
        (Some(10_000), Some(2), None)
    );
    assert!(!hc.restart_on_unhealthy);
    assert_eq!(r.update_config.parallelism, 2);
    assert_eq!(r.update_config.order, UpdateOrder::StartFirst);
    assert_eq!(r.update_config.failure_action, FailureAction::Rollback);
    assert_eq!(r.update_config.max_failure_ratio_ppm, 500_000);
    assert_eq!(r.update_config.healthy_deadline_ms, 60_000);
    assert_eq!(r.update_config.monitor_ms, 5_000);
    assert!(r.rollback_config.stateful_safe);
    assert_eq!(r.secrets[0].target, "/run/secrets/db_pw");
    assert_eq!(
        (
            r.secrets[1].target.as_str(),
            r.secrets[1].uid,
            r.secrets[1].mode
        ),
        ("/run/secrets/key", 1000, 0o400)
    );
    assert_eq!(r.configs[0].mode, 0o444);
    assert_eq!(
        s.secrets["db_pw"].source,
        SecretSource::File("/srv/db_pw.txt".into())
    );
    assert_eq!(s.secrets["api"].source, SecretSource::External);
    assert_eq!(
        s.configs["conf"].source,
        SecretSource::Content("x = 1".into())
    );
}

#[test]
fn bad_options_name_line_and_field() {
    let e = errors(
        r#"[services.web]
image = "a"
cap_add = ["FLY"]
sysctls = { "kernel.panic" = "1" }
devices = ["dev/x"]
ulimits = { nofile = { soft = 10, hard = 5 } }
extra_hosts = { "h" = "not-an-ip" }
depends_on = ["ghost"]
healthcheck = { test = ["CURL", "x"] }
update_config = { order = "sideways" }
rollback_config = { failure_action = "rollback" }
secrets = ["nope"]
"#,
    );
    let want = [
        "/srv/s.toml:3:12: services.web.cap_add[0]: unknown capability",
        "/srv/s.toml:4:13: services.web.sysctls.\"kernel.panic\": sysctl \"kernel.panic\" is not namespaced",
        "/srv/s.toml:5:12: services.web.devices[0]: device source path \"dev/x\" must be absolute",
        "/srv/s.toml:6:22: services.web.ulimits.nofile: soft limit 10 is above the hard limit 5",
        "/srv/s.toml:7:23: services.web.extra_hosts.h: \"not-an-ip\" is not an IP address",
        "/srv/s.toml:8:15: services.web.depends_on[0]: unknown service \"ghost\"",
        "/srv/s.toml:9:24: services.web.healthcheck.test: test [\"CURL\", \"x\"] is not a valid probe",
        "/srv/s.toml:10:27: services.web.update_config.order: unknown order \"sideways\"",
        "/srv/s.toml:11:38: services.web.rollback_config.failure_action: a failing rollback cannot roll back",
        "/srv/s.toml:12:12: services.web.secrets[0]: unknown secret \"nope\"",
    ];
    assert_eq!(e.len(), want.len(), "{e:#?}");
    for (got, want) in e.iter().zip(want) {
        assert!(got.starts_with(want), "\n got: {got}\nwant: {want}…");
    }
}

#[test]
fn a_dependency_cycle_is_refused() {
    let e = errors(
        "[services.a]\nimage = \"a\"\ndepends_on = [\"b\"]\n[services.b]\nimage = \"b\"\ndepends_on = [\"a\"]\n",
    );
    assert_eq!(
        e,
        vec!["/srv/s.toml:1:1: services: depends_on forms a cycle: a -> b -> a"]
    );
    let e = errors("[services.a]\nimage = \"a\"\ndepends_on = [\"a\"]\n");
    assert!(e[0].contains("cannot depend on itself"), "{e:?}");
}

#[test]
fn a_secret_needs_exactly_one_source() {
    let e = errors("[services.a]\nimage = \"a\"\n[secrets.s]\nname = \"x\"\n");
    assert!(e[0].contains("says nowhere its value comes from"), "{e:?}");
    let e = errors("[services.a]\nimage = \"a\"\n[secrets.s]\nfile = \"f\"\nexternal = true\n");
    assert!(e[0].contains("exactly one source"), "{e:?}");
    let e = errors("[services.a]\nimage = \"a\"\n[secrets.s]\ncontent = \"x\"\n");
    assert!(
        e.iter().any(|d| d.contains("unknown key `content`")),
        "{e:?}"
    );
}

#[test]
fn net_sysctls_need_the_containers_own_network() {
    let e = errors(
        "[services.a]\nimage = \"a\"\nnetwork_mode = \"host\"\nsysctls = { \"net.ipv4.ip_forward\" = \"1\" }\n",
    );
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].starts_with("/srv/s.toml:4:11: services.a.sysctls: sysctl \"net.ipv4.ip_forward\" cannot be set with network_mode"), "{e:?}");
}

#[test]
fn start_first_is_refused_with_a_single_writer_volume_or_a_host_port() {
    let text = r#"
name = "st"
[volumes.db]
driver = "local"
[services.db]
image = "mariadb:11"
volumes = [{ source = "db", target = "/var/lib/mysql" }]
update_config = { order = "start-first" }
[services.web]
image = "demo/busybox:1"
ports = [{ published = 8080, target = 80, mode = "host" }]
rollback_config = { order = "start-first" }
[services.ok]
image = "demo/busybox:1"
ports = ["8081:80"]
update_config = { order = "start-first" }
"#;
    let e = orc_spec::parse_stack(text, "stack.toml", None, "st")
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        e.contains("services.db.update_config")
            && e.contains(
                "order = \"start-first\" is refused: local volume \"st_db\" has one writer"
            ),
        "{e}"
    );
    assert!(
        e.contains("services.web.rollback_config")
            && e.contains("port 8080 is published in host mode"),
        "{e}"
    );
    assert!(!e.contains("services.ok"), "{e}");
}
