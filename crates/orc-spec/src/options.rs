//! The container options of a service (`privileged`, `cap_add`, `devices`, `sysctls`,
//! `ulimits`, `extra_hosts`, `dns`, …), `depends_on`, `healthcheck`, `update_config`,
//! `rollback_config`, and the services' and stack's `secrets` and `configs`.

use crate::document::{Checker, Fields, Node, Val};
use crate::mount::size;
use crate::names::{check_absolute_path, check_hostname, clean_path};
use crate::policy::duration;
use crate::{
    ContainerOptions, Dependency, DependencyCondition, Device, ExtraHost, FailureAction, FileRef,
    HealthCheck, HealthTest, SecretSource, SecretSpec, Ulimit, UpdateConfig, UpdateOrder,
};
use std::collections::BTreeMap;
use std::net::IpAddr;
use toml_edit::Value;

/// Longest health-check, update or deadline duration.
const MAX_PROBE_MS: u64 = 24 * 3_600_000;

/// Reads the container option keys of a service table.
pub(crate) fn parse_options(ck: &mut Checker<'_>, f: &Fields<'_>) -> ContainerOptions {
    let mut o = ContainerOptions::default();
    let flag = |ck: &mut Checker<'_>, key: &str| f.get(key).and_then(|n| ck.boolean(n));
    o.privileged = flag(ck, "privileged").unwrap_or(false);
    o.init = flag(ck, "init").unwrap_or(false);
    o.read_only = flag(ck, "read_only").unwrap_or(false);
    o.cap_add = f.get("cap_add").map(|n| caps(ck, n)).unwrap_or_default();
    o.cap_drop = f.get("cap_drop").map(|n| caps(ck, n)).unwrap_or_default();
    if let Some(n) = f.get("devices") {
        o.devices = devices(ck, n);
    }
    if let Some(n) = f.get("sysctls") {
        o.sysctls = sysctls(ck, n);
    }
    if let Some(n) = f.get("ulimits") {
        o.ulimits = ulimits(ck, n);
    }
    if let Some(n) = f.get("extra_hosts") {
        o.extra_hosts = extra_hosts(ck, n);
    }
    if let Some(n) = f.get("dns") {
        for (element, text) in strings_with_nodes(ck, n, "an array of IP addresses") {
            match text.parse::<IpAddr>() {
                Ok(ip) => o.dns.push(ip.to_string()),
                Err(_) => ck.invalid(&element, format!("{text:?} is not an IP address")),
            }
        }
    }
    if let Some(n) = f.get("dns_search") {
        for (element, text) in strings_with_nodes(ck, n, "an array of domains") {
            match check_hostname(&text) {
                Ok(()) => o.dns_search.push(text),
                Err(why) => ck.invalid(&element, why),
            }
        }
    }
    if let Some(n) = f.get("dns_options") {
        for (element, text) in strings_with_nodes(ck, n, "an array of resolver options") {
            if text.is_empty() || text.chars().any(char::is_whitespace) {
                ck.invalid(
                    &element,
                    format!("resolver option {text:?} must be one word"),
                );
            } else {
                o.dns_options.push(text);
            }
        }
    }
    if let Some(n) = f.get("shm_size") {
        o.shm_size_bytes = size(ck, n, "64M").unwrap_or(0);
    }
    if let Some(n) = f.get("pids_limit") {
        match ck.integer(n) {
            Some(p) if p == -1 || p == 0 => {}
            Some(p) => match u32::try_from(p) {
                Ok(p) => o.pids_limit = p,
                Err(_) => ck.invalid(
                    n,
                    format!("pids_limit must be 1..=4294967295 or 0 (no limit), got {p}"),
                ),
            },
            None => {}
        }
    }
    o
}

/// `CAP_NET_ADMIN`, `NET_ADMIN`, `net_admin` → `CAP_NET_ADMIN`; `ALL` stays `ALL`.
pub fn normalize_capability(text: &str) -> Result<String, String> {
    let upper = text.trim().to_ascii_uppercase();
    if upper == "ALL" {
        return Ok(upper);
    }
    let name = upper.strip_prefix("CAP_").unwrap_or(&upper);
    if LINUX_CAPABILITIES.contains(&name) {
        Ok(format!("CAP_{name}"))
    } else {
        Err(format!(
            "unknown capability {text:?}; use a Linux capability such as \"NET_ADMIN\" or \"ALL\""
        ))
    }
}

/// The Linux capabilities (without `CAP_`), in the kernel's numbering (bit N = entry N).
pub const LINUX_CAPABILITIES: &[&str] = &[
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

fn caps(ck: &mut Checker<'_>, n: &Node<'_>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (element, text) in strings_with_nodes(ck, n, "an array of capabilities") {
        match normalize_capability(&text) {
            Ok(cap) if !out.contains(&cap) => out.push(cap),
            Ok(_) => {}
            Err(why) => ck.invalid(&element, why),
        }
    }
    out
}

/// The string elements of an array with their nodes; other elements are reported.
fn strings_with_nodes<'a>(
    ck: &mut Checker<'_>,
    n: &Node<'a>,
    expected: &str,
) -> Vec<(Node<'a>, String)> {
    let mut out = Vec::new();
    for element in ck.array(n, expected).unwrap_or_default() {
        if let Some(s) = ck.string(&element) {
            out.push((element.clone(), s.to_string()));
        }
    }
    out
}

/// `"/dev/ttyUSB0"`, `"/dev/ttyUSB0:/dev/radio"`, `"/dev/dri:/dev/dri:rw"`, or
/// `{ source, target, permissions }`.
pub fn parse_device(text: &str) -> Result<Device, String> {
    let parts: Vec<&str> = text.split(':').collect();
    let (source, target, permissions) = match parts.as_slice() {
        [s] => (*s, *s, "rwm"),
        [s, p] if is_permissions(p) => (*s, *s, *p),
        [s, t] => (*s, *t, "rwm"),
        [s, t, p] => (*s, *t, *p),
        _ => {
            return Err(format!(
                "device {text:?} must be \"HOST_PATH[:CONTAINER_PATH][:PERMISSIONS]\""
            ))
        }
    };
    device(source, target, permissions)
}

fn is_permissions(p: &str) -> bool {
    !p.is_empty() && p.len() <= 3 && p.chars().all(|c| matches!(c, 'r' | 'w' | 'm'))
}

fn device(source: &str, target: &str, permissions: &str) -> Result<Device, String> {
    check_absolute_path(source).map_err(|why| format!("device source {why}"))?;
    check_absolute_path(target).map_err(|why| format!("device target {why}"))?;
    if !is_permissions(permissions) {
        return Err(format!(
            "device permissions {permissions:?} must be letters of \"rwm\""
        ));
    }
    Ok(Device {
        source: clean_path(source),
        target: clean_path(target),
        permissions: permissions.to_string(),
    })
}

fn devices(ck: &mut Checker<'_>, n: &Node<'_>) -> Vec<Device> {
    let expected = "an array of devices, e.g. [\"/dev/ttyUSB0\"]";
    let mut out = Vec::new();
    for element in ck.array(n, expected).unwrap_or_default() {
        let parsed = match element.as_str() {
            Some(text) => parse_device(text),
            None => {
                let Some(f) = ck.table(&element, &["source", "target", "permissions"]) else {
                    continue;
                };
                let Some(source) = f.get("source").and_then(|n| ck.string(n)) else {
                    if f.get("source").is_none() {
                        ck.missing(&f, "source", ": the device's path on the node");
                    }
                    continue;
                };
                let target = f.get("target").and_then(|n| ck.string(n)).unwrap_or(source);
                let perms = f
                    .get("permissions")
                    .and_then(|n| ck.string(n))
                    .unwrap_or("rwm");
                device(source, target, perms)
            }
        };
        match parsed {
            Ok(d) => out.push(d),
            Err(why) => ck.invalid(&element, why),
        }
    }
    out
}

/// A scalar as a string: strings as they are, integers, floats and booleans printed.
fn scalar_text(n: &Node<'_>) -> Option<String> {
    match n.val {
        Val::Value(Value::String(s)) => Some(s.value().clone()),
        Val::Value(Value::Integer(i)) => Some(i.value().to_string()),
        Val::Value(Value::Float(f)) => Some(f.value().to_string()),
        Val::Value(Value::Boolean(b)) => Some(b.value().to_string()),
        _ => None,
    }
}

fn sysctls(ck: &mut Checker<'_>, n: &Node<'_>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for entry in ck.entries(n).unwrap_or_default() {
        if let Err(why) = check_sysctl(&entry.key) {
            ck.error(&entry.key_span, &entry.path, why);
            continue;
        }
        match scalar_text(&entry) {
            Some(v) => {
                out.insert(entry.key.clone(), v);
            }
            None => ck.expected(&entry, "a string or number"),
        }
    }
    out
}

/// Only namespaced sysctls can be set per container (as Docker allows them).
pub fn check_sysctl(name: &str) -> Result<(), String> {
    let namespaced = name.starts_with("net.")
        || name.starts_with("fs.mqueue.")
        || matches!(
            name,
            "kernel.msgmax"
                | "kernel.msgmnb"
                | "kernel.msgmni"
                | "kernel.sem"
                | "kernel.shmall"
                | "kernel.shmmax"
                | "kernel.shmmni"
                | "kernel.shm_rmid_forced"
        );
    let well_formed = !name.is_empty()
        && name.split('.').all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
        });
    if !well_formed {
        return Err(format!("invalid sysctl name {name:?}"));
    }
    if !namespaced {
        return Err(format!(
            "sysctl {name:?} is not namespaced: only net.*, fs.mqueue.* and the kernel IPC \
             sysctls can be set per container"
        ));
    }
    Ok(())
}

/// The ulimits a container may set (`RLIMIT_` names in lowercase).
const ULIMITS: &[&str] = &[
    "core",
    "cpu",
    "data",
    "fsize",
    "locks",
    "memlock",
    "msgqueue",
    "nice",
    "nofile",
    "nproc",
    "rss",
    "rtprio",
    "rttime",
    "sigpending",
    "stack",
    "as",
];

fn ulimits(ck: &mut Checker<'_>, n: &Node<'_>) -> BTreeMap<String, Ulimit> {
    let mut out = BTreeMap::new();
    for entry in ck.entries(n).unwrap_or_default() {
        if !ULIMITS.contains(&entry.key.as_str()) {
            ck.error(
                &entry.key_span,
                &entry.path,
                format!(
                    "unknown ulimit {:?}; use one of: {}",
                    entry.key,
                    ULIMITS.join(", ")
                ),
            );
            continue;
        }
        let value = |ck: &mut Checker<'_>, n: &Node<'_>| -> Option<u64> {
            let v = ck.integer(n)?;
            if v == -1 {
                return Some(u64::MAX);
            }
            u64::try_from(v)
                .map_err(|_| ck.invalid(n, "a ulimit must be 0 or more (-1 = unlimited)"))
                .ok()
        };
        let limit = if matches!(entry.val, Val::Value(Value::Integer(_))) {
            value(ck, &entry).map(|v| Ulimit { soft: v, hard: v })
        } else {
            let Some(f) = ck.table(&entry, &["soft", "hard"]) else {
                continue;
            };
            let soft = f.get("soft").and_then(|n| value(ck, n));
            let hard = f.get("hard").and_then(|n| value(ck, n));
            for key in ["soft", "hard"] {
                if f.get(key).is_none() {
                    ck.missing(&f, key, "");
                }
            }
            match (soft, hard) {
                (Some(s), Some(h)) if s > h => {
                    ck.invalid(
                        &entry,
                        format!("soft limit {s} is above the hard limit {h}"),
                    );
                    None
                }
                (Some(soft), Some(hard)) => Some(Ulimit { soft, hard }),
                _ => None,
            }
        };
        if let Some(l) = limit {
            out.insert(entry.key.clone(), l);
        }
    }
    out
}

fn extra_hosts(ck: &mut Checker<'_>, n: &Node<'_>) -> Vec<ExtraHost> {
    let mut out = Vec::new();
    for entry in ck.entries(n).unwrap_or_default() {
        let Some(ip) = ck.string(&entry) else {
            continue;
        };
        match check_extra_host(&entry.key, ip) {
            Ok(h) => out.push(h),
            Err(why) => ck.invalid(&entry, why),
        }
    }
    out
}

/// A hostname and its address for /etc/hosts.
pub fn check_extra_host(hostname: &str, ip: &str) -> Result<ExtraHost, String> {
    check_hostname(hostname)?;
    let ip = ip.trim().trim_start_matches('[').trim_end_matches(']');
    let Ok(addr) = ip.parse::<IpAddr>() else {
        return Err(format!(
            "{ip:?} is not an IP address (for host {hostname:?})"
        ));
    };
    Ok(ExtraHost {
        hostname: hostname.to_string(),
        ip: addr.to_string(),
    })
}

/// `depends_on = ["db", { service = "cache", condition = "service_healthy" }]`; the
/// names are checked against the stack's services by the caller.
pub(crate) fn parse_depends_on<'a>(
    ck: &mut Checker<'_>,
    n: &Node<'a>,
) -> Vec<(Dependency, Node<'a>)> {
    let expected = "an array of service names or { service, condition } tables";
    let mut out = Vec::new();
    for element in ck.array(n, expected).unwrap_or_default() {
        if let Some(name) = element.as_str() {
            out.push((
                Dependency {
                    service: name.to_string(),
                    condition: DependencyCondition::Started,
                },
                element.clone(),
            ));
            continue;
        }
        let Some(f) = ck.table(&element, &["service", "condition"]) else {
            continue;
        };
        let Some(service) = f.get("service") else {
            ck.missing(&f, "service", ": the name of a service of the stack");
            continue;
        };
        let Some(name) = ck.string(service) else {
            continue;
        };
        let condition = match f.get("condition").map(|n| (n, ck.string(n))) {
            None => DependencyCondition::Started,
            Some((n, Some(text))) => match parse_condition(text) {
                Ok(c) => c,
                Err(why) => {
                    ck.invalid(n, why);
                    continue;
                }
            },
            Some((_, None)) => continue,
        };
        out.push((
            Dependency {
                service: name.to_string(),
                condition,
            },
            service.clone(),
        ));
    }
    out
}

/// `service_started`, `service_healthy`, `service_completed_successfully`.
pub fn parse_condition(text: &str) -> Result<DependencyCondition, String> {
    match text {
        "service_started" => Ok(DependencyCondition::Started),
        "service_healthy" => Ok(DependencyCondition::Healthy),
        "service_completed_successfully" => Ok(DependencyCondition::CompletedSuccessfully),
        other => Err(format!(
            "unknown condition {other:?}; use \"service_started\", \"service_healthy\" or \
             \"service_completed_successfully\""
        )),
    }
}

const HEALTH_KEYS: &[&str] = &[
    "test",
    "interval",
    "timeout",
    "retries",
    "start_period",
    "start_interval",
    "restart_on_unhealthy",
];

/// `healthcheck = { test = ["CMD", …], interval = "30s", … }`.
pub(crate) fn parse_healthcheck(ck: &mut Checker<'_>, n: &Node<'_>) -> Option<HealthCheck> {
    let f = ck.table(n, HEALTH_KEYS)?;
    let mut hc = HealthCheck {
        test: None,
        interval_ms: None,
        timeout_ms: None,
        retries: None,
        start_period_ms: None,
        start_interval_ms: None,
        restart_on_unhealthy: true,
    };
    if let Some(t) = f.get("test") {
        if let Some(args) = ck.strings(t, "an array such as [\"CMD\", \"pg_isready\"]") {
            match parse_health_test(&args) {
                Ok(test) => hc.test = Some(test),
                Err(why) => ck.invalid(t, why),
            }
        }
    }
    let probe_ms = |ck: &mut Checker<'_>, key: &str| -> Option<u64> {
        let n = f.get(key)?;
        let ms = duration(ck, n, MAX_PROBE_MS)?;
        if ms < 1 && key != "start_period" {
            ck.invalid(n, format!("{key} must be at least 1ms"));
            return None;
        }
        Some(ms)
    };
    hc.interval_ms = probe_ms(ck, "interval");
    hc.timeout_ms = probe_ms(ck, "timeout");
    hc.start_period_ms = probe_ms(ck, "start_period");
    hc.start_interval_ms = probe_ms(ck, "start_interval");
    if let Some(n) = f.get("retries") {
        match ck.integer(n).map(u32::try_from) {
            Some(Ok(r)) => hc.retries = Some(r),
            Some(Err(_)) => ck.invalid(n, "retries must be 0 or more"),
            None => {}
        }
    }
    if let Some(b) = f.get("restart_on_unhealthy").and_then(|n| ck.boolean(n)) {
        hc.restart_on_unhealthy = b;
    }
    Some(hc)
}

/// `["NONE"]`, `["CMD", …]`, `["CMD-SHELL", "…"]`, `["TCP", "8080"]`, `["HTTP", "url"]`.
pub fn parse_health_test(args: &[String]) -> Result<HealthTest, String> {
    let usage = "use [\"CMD\", args…], [\"CMD-SHELL\", \"command\"], [\"TCP\", \"PORT\"], \
                 [\"HTTP\", \"http://localhost:PORT/path\"] or [\"NONE\"]";
    let Some((kind, rest)) = args.split_first() else {
        return Err(format!("test is empty; {usage}"));
    };
    match (kind.as_str(), rest) {
        ("NONE", []) => Ok(HealthTest::None),
        ("CMD", rest) if !rest.is_empty() => Ok(HealthTest::Cmd(rest.to_vec())),
        ("CMD-SHELL", [cmd]) if !cmd.trim().is_empty() => Ok(HealthTest::CmdShell(cmd.clone())),
        ("TCP", [port]) => match port.trim().parse::<u16>() {
            Ok(p) if p > 0 => Ok(HealthTest::Tcp(p)),
            _ => Err(format!(
                "TCP test port {port:?} is not a port number 1..=65535"
            )),
        },
        ("HTTP", [url]) if url.starts_with("http://") => Ok(HealthTest::Http(url.clone())),
        ("HTTP", [url]) => Err(format!("HTTP test URL {url:?} must start with http://")),
        _ => Err(format!("test {args:?} is not a valid probe; {usage}")),
    }
}

const UPDATE_KEYS: &[&str] = &[
    "parallelism",
    "delay",
    "failure_action",
    "monitor",
    "max_failure_ratio",
    "order",
    "healthy_deadline",
    "progress_deadline",
];

/// `update_config = {…}` / `rollback_config = {…}` (which also takes `stateful`).
pub(crate) fn parse_update(ck: &mut Checker<'_>, n: &Node<'_>, rollback: bool) -> UpdateConfig {
    let mut u = UpdateConfig::default();
    let mut keys = UPDATE_KEYS.to_vec();
    if rollback {
        keys.push("stateful");
    }
    let Some(f) = ck.table(n, &keys) else {
        return u;
    };
    if let Some(n) = f.get("parallelism") {
        match ck.integer(n).map(u32::try_from) {
            Some(Ok(p)) => u.parallelism = p,
            Some(Err(_)) => ck.invalid(n, "parallelism must be 0 (all at once) or more"),
            None => {}
        }
    }
    let ms =
        |ck: &mut Checker<'_>, key: &str| f.get(key).and_then(|n| duration(ck, n, MAX_PROBE_MS));
    if let Some(v) = ms(ck, "delay") {
        u.delay_ms = v;
    }
    if let Some(v) = ms(ck, "monitor") {
        u.monitor_ms = v;
    }
    if let Some(v) = ms(ck, "healthy_deadline") {
        u.healthy_deadline_ms = v;
    }
    if let Some(v) = ms(ck, "progress_deadline") {
        u.progress_deadline_ms = v;
    }
    if let Some(n) = f.get("failure_action") {
        if let Some(text) = ck.string(n) {
            match parse_failure_action(text, rollback) {
                Ok(a) => u.failure_action = a,
                Err(why) => ck.invalid(n, why),
            }
        }
    }
    if let Some(n) = f.get("order") {
        if let Some(text) = ck.string(n) {
            match parse_order(text) {
                Ok(o) => u.order = o,
                Err(why) => ck.invalid(n, why),
            }
        }
    }
    if let Some(n) = f.get("max_failure_ratio") {
        if let Some(r) = ck.number(n) {
            match ratio_ppm(r) {
                Ok(ppm) => u.max_failure_ratio_ppm = ppm,
                Err(why) => ck.invalid(n, why),
            }
        }
    }
    if let Some(n) = f.get("stateful") {
        match ck.string(n) {
            Some("safe") => u.stateful_safe = true,
            Some("unsafe") => u.stateful_safe = false,
            Some(other) => ck.invalid(
                n,
                format!("unknown stateful value {other:?}; use \"safe\" or \"unsafe\""),
            ),
            None => {}
        }
    }
    u
}

/// `pause`, `continue`, `rollback` (not for a rollback's own failure).
pub fn parse_failure_action(text: &str, rollback: bool) -> Result<FailureAction, String> {
    match text {
        "pause" => Ok(FailureAction::Pause),
        "continue" => Ok(FailureAction::Continue),
        "rollback" if !rollback => Ok(FailureAction::Rollback),
        "rollback" => {
            Err("a failing rollback cannot roll back; use \"pause\" or \"continue\"".into())
        }
        other => Err(format!(
            "unknown failure_action {other:?}; use \"pause\", \"continue\" or \"rollback\""
        )),
    }
}

/// `stop-first` or `start-first`.
pub fn parse_order(text: &str) -> Result<UpdateOrder, String> {
    match text {
        "stop-first" => Ok(UpdateOrder::StopFirst),
        "start-first" => Ok(UpdateOrder::StartFirst),
        other => Err(format!(
            "unknown order {other:?}; use \"stop-first\" or \"start-first\""
        )),
    }
}

/// A ratio 0..=1 in millionths.
pub fn ratio_ppm(r: f64) -> Result<u32, String> {
    if !(0.0..=1.0).contains(&r) {
        return Err(format!(
            "max_failure_ratio must be between 0 and 1 (got {r})"
        ));
    }
    Ok((r * 1e6).round() as u32)
}

/// A service's `secrets` or `configs`: names or `{ source, target, uid, gid, mode }`.
/// Sources are checked against the stack's declarations by the caller.
pub(crate) fn parse_file_refs<'a>(
    ck: &mut Checker<'_>,
    n: &Node<'a>,
    config: bool,
) -> Vec<(FileRef, Node<'a>)> {
    let expected = "an array of names or { source, target, uid, gid, mode } tables";
    let mut out = Vec::new();
    let mut targets: Vec<String> = Vec::new();
    for element in ck.array(n, expected).unwrap_or_default() {
        let parsed = if let Some(name) = element.as_str() {
            Some((file_ref(name, None, config), element.clone()))
        } else {
            let Some(f) = ck.table(&element, &["source", "target", "uid", "gid", "mode"]) else {
                continue;
            };
            let Some(source) = f.get("source") else {
                ck.missing(
                    &f,
                    "source",
                    ": the name of a secret or config of the stack",
                );
                continue;
            };
            let Some(name) = ck.string(source) else {
                continue;
            };
            let target = f.get("target").and_then(|n| ck.string(n));
            let mut r = file_ref(name, target, config);
            if let Err(why) = check_absolute_path(&r.target) {
                if let Some(t) = f.get("target") {
                    ck.invalid(t, format!("target {why}"));
                }
            }
            r.target = clean_path(&r.target);
            for (key, slot) in [("uid", &mut r.uid), ("gid", &mut r.gid)] {
                if let Some(n) = f.get(key) {
                    let v = match n.val {
                        Val::Value(Value::Integer(i)) => u32::try_from(*i.value()).ok(),
                        Val::Value(Value::String(s)) => s.value().parse().ok(),
                        _ => None,
                    };
                    match v {
                        Some(v) => *slot = v,
                        None => ck.invalid(n, format!("{key} must be a numeric id")),
                    }
                }
            }
            if let Some(n) = f.get("mode") {
                let v = match n.val {
                    Val::Value(Value::Integer(i)) => u32::try_from(*i.value()).ok(),
                    Val::Value(Value::String(s)) => u32::from_str_radix(s.value(), 8).ok(),
                    _ => None,
                };
                match v {
                    Some(v) if v <= 0o7777 => r.mode = v,
                    _ => ck.invalid(n, "mode must be octal permission bits such as 0o440"),
                }
            }
            Some((r, source.clone()))
        };
        let Some((r, node)) = parsed else { continue };
        if targets.contains(&r.target) {
            ck.invalid(&element, format!("target {:?} is used twice", r.target));
            continue;
        }
        targets.push(r.target.clone());
        out.push((r, node));
    }
    out
}

/// A reference with the defaults: target `/run/secrets/NAME` (secrets) or `/NAME`
/// (configs), a relative secret target under `/run/secrets/`, uid/gid 0, mode 0444.
pub fn file_ref(source: &str, target: Option<&str>, config: bool) -> FileRef {
    let target = match target {
        Some(t) if t.starts_with('/') => t.to_string(),
        Some(t) if !config => format!("/run/secrets/{t}"),
        Some(t) => format!("/{t}"),
        None if config => format!("/{source}"),
        None => format!("/run/secrets/{source}"),
    };
    FileRef {
        source: source.to_string(),
        target,
        uid: 0,
        gid: 0,
        mode: 0o444,
        name: String::new(),
        revision: 0,
    }
}

/// The top-level `[secrets.NAME]` / `[configs.NAME]` tables. `base` is the directory
/// of the stack file, for relative `file` paths.
pub(crate) fn parse_secret_decls(
    ck: &mut Checker<'_>,
    n: &Node<'_>,
    base: &str,
    config: bool,
) -> BTreeMap<String, SecretSpec> {
    let what = if config { "config" } else { "secret" };
    let mut keys = vec!["file", "external", "environment", "name"];
    if config {
        keys.push("content");
    }
    let mut out = BTreeMap::new();
    for entry in ck.entries(n).unwrap_or_default() {
        if let Err(why) = check_secret_name(&entry.key) {
            ck.error(&entry.key_span, &entry.path, format!("{what} {why}"));
            continue;
        }
        let Some(f) = ck.table(&entry, &keys) else {
            continue;
        };
        let mut sources = Vec::new();
        if let Some(n) = f.get("file") {
            if let Some(p) = ck.string(n) {
                if p.is_empty() {
                    ck.invalid(n, "file is empty");
                } else {
                    sources.push((n, SecretSource::File(resolve_path(base, p))));
                }
            }
        }
        if let Some(n) = f.get("external") {
            if ck.boolean(n) == Some(true) {
                sources.push((n, SecretSource::External));
            }
        }
        if let Some(n) = f.get("environment") {
            if let Some(v) = ck.string(n) {
                sources.push((n, SecretSource::Environment(v.to_string())));
            }
        }
        if let Some(n) = f.get("content") {
            if let Some(v) = ck.string(n) {
                sources.push((n, SecretSource::Content(v.to_string())));
            }
        }
        let name = f.get("name").and_then(|n| ck.string(n)).map(str::to_string);
        match sources.len() {
            0 => ck.error(
                &entry.key_span,
                &entry.path,
                format!(
                    "{what} {:?} says nowhere its value comes from: set file = \"PATH\", \
                     external = true{}",
                    entry.key,
                    if config {
                        ", environment or content"
                    } else {
                        " or environment"
                    }
                ),
            ),
            1 => {
                let (_, source) = sources.remove(0);
                out.insert(entry.key.clone(), SecretSpec { source, name });
            }
            _ => {
                let (n, _) = &sources[1];
                ck.invalid(
                    n,
                    format!(
                        "a {what} has exactly one source: file, external, environment{}",
                        if config { " or content" } else { "" }
                    ),
                );
            }
        }
    }
    out
}

/// A secret's or config's name: letters, digits, `_`, `.`, `-`, at most 63 characters.
pub fn check_secret_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "name {name:?} must be 1 to 63 letters, digits, '_', '.' or '-'"
        ))
    }
}

/// `p` if absolute, else `base/p` cleaned (`base` may be empty: the current directory).
pub(crate) fn resolve_path(base: &str, p: &str) -> String {
    if p.starts_with('/') {
        return clean_path(p);
    }
    let joined = if base.is_empty() {
        p.to_string()
    } else {
        format!("{base}/{p}")
    };
    let mut parts: Vec<&str> = Vec::new();
    for c in joined.split('/') {
        match c {
            "" | "." => {}
            ".." if parts.last().is_some_and(|l| *l != "..") => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    let rel = parts.join("/");
    if joined.starts_with('/') {
        format!("/{rel}")
    } else if rel.is_empty() {
        ".".into()
    } else {
        rel
    }
}
