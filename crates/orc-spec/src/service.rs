//! One `[services.NAME]` table → a [`ServiceSpec`].

use crate::constraint::parse_constraint;
use crate::document::{Checker, Fields, Node};
use crate::mount::parse_mounts;
use crate::names::{check_absolute_path, check_hostname, check_user};
use crate::network::{parse_service_network, StackNetworks};
use crate::policy::{parse_restart, parse_stop};
use crate::resources::parse_resources;
use crate::volume::{parse_service_volumes, StackVolumes};
use crate::{ServiceMode, ServiceSpec};
use std::collections::BTreeMap;
use toml_edit::Value;

/// Every key a service table may hold.
pub(crate) const SERVICE_KEYS: &[&str] = &[
    "image",
    "command",
    "entrypoint",
    "replicas",
    "mode",
    "env",
    "labels",
    "constraints",
    "resources",
    "restart",
    "stop",
    "user",
    "working_dir",
    "hostname",
    "network_mode",
    "mounts",
    "placement",
    "networks",
    "ports",
    "volumes",
    "privileged",
    "cap_add",
    "cap_drop",
    "devices",
    "sysctls",
    "ulimits",
    "init",
    "read_only",
    "extra_hosts",
    "dns",
    "dns_search",
    "dns_options",
    "shm_size",
    "pids_limit",
    "depends_on",
    "healthcheck",
    "update_config",
    "rollback_config",
    "secrets",
    "configs",
];

/// Most replicas one service may ask for.
pub const MAX_REPLICAS: i64 = 1000;

/// Reads one service table. Problems go to `ck`; the returned spec holds defaults where
/// a value was invalid, and is only used when `ck` ends up empty.
pub(crate) fn parse_service<'a>(
    ck: &mut Checker<'_>,
    node: &Node<'a>,
    book: &mut StackNetworks,
    volumes: &StackVolumes<'_>,
    uses: &mut Vec<(String, String)>,
    deps: &mut Vec<(String, Node<'a>)>,
) -> ServiceSpec {
    let mut spec = ServiceSpec::new(String::new());
    let Some(f) = ck.table(node, SERVICE_KEYS) else {
        return spec;
    };
    spec.container = crate::options::parse_options(ck, &f);
    if let Some(n) = f.get("depends_on") {
        for (dep, dep_node) in crate::options::parse_depends_on(ck, n) {
            if dep.service == node.key {
                ck.invalid(&dep_node, "a service cannot depend on itself");
                continue;
            }
            if spec.depends_on.iter().any(|d| d.service == dep.service) {
                ck.invalid(&dep_node, format!("{:?} is listed twice", dep.service));
                continue;
            }
            deps.push((dep.service.clone(), dep_node));
            spec.depends_on.push(dep);
        }
    }
    if let Some(n) = f.get("healthcheck") {
        spec.healthcheck = crate::options::parse_healthcheck(ck, n);
    }
    if let Some(n) = f.get("update_config") {
        spec.update_config = crate::options::parse_update(ck, n, false);
    }
    if let Some(n) = f.get("rollback_config") {
        spec.rollback_config = crate::options::parse_update(ck, n, true);
    }
    for (key, config) in [("secrets", false), ("configs", true)] {
        let Some(n) = f.get(key) else { continue };
        let declared = if config {
            volumes.configs
        } else {
            volumes.secrets
        };
        let mut refs = Vec::new();
        for (r, source_node) in crate::options::parse_file_refs(ck, n, config) {
            if !declared.contains_key(&r.source) {
                let known: Vec<&str> = declared.keys().map(String::as_str).collect();
                ck.invalid(
                    &source_node,
                    format!(
                        "unknown {} {:?}; declare it with a [{key}.{}] table (declared: {})",
                        &key[..key.len() - 1],
                        r.source,
                        r.source,
                        if known.is_empty() {
                            "none".to_string()
                        } else {
                            known.join(", ")
                        }
                    ),
                );
            }
            refs.push(r);
        }
        if config {
            spec.configs = refs;
        } else {
            spec.secrets = refs;
        }
    }
    spec.image = image(ck, &f).unwrap_or_default();
    spec.entrypoint = f.get("entrypoint").and_then(|n| argv(ck, n, true));
    spec.command = f.get("command").and_then(|n| argv(ck, n, false));
    spec.mode = mode(ck, &f);
    spec.env = f.get("env").map(|n| env(ck, n)).unwrap_or_default();
    spec.labels = f.get("labels").map(|n| labels(ck, n)).unwrap_or_default();
    if let Some(n) = f.get("constraints") {
        spec.constraints = constraints(ck, n);
    }
    if let Some(n) = f.get("resources") {
        spec.resources = parse_resources(ck, n);
    }
    if let Some(n) = f.get("restart") {
        spec.restart = parse_restart(ck, n);
    }
    if let Some(n) = f.get("stop") {
        spec.stop = parse_stop(ck, n);
    }
    spec.user = checked_string(ck, f.get("user"), check_user);
    spec.working_dir = checked_string(ck, f.get("working_dir"), check_absolute_path);
    spec.hostname = checked_string(ck, f.get("hostname"), check_hostname);
    (spec.network_mode, spec.networks, spec.ports) = parse_service_network(ck, &f, book);
    if spec.network_mode == crate::NetworkMode::Host {
        let net: Vec<&String> = spec
            .container
            .sysctls
            .keys()
            .filter(|k| k.starts_with("net."))
            .collect();
        if let (Some(first), Some(n)) = (net.first(), f.get("sysctls")) {
            ck.invalid(
                n,
                format!(
                    "sysctl {first:?} cannot be set with network_mode = \"host\": it would \
                     change the node's own network settings"
                ),
            );
        }
    }
    if let Some(n) = f.get("mounts") {
        spec.mounts = parse_mounts(ck, n);
    }
    if let Some(n) = f.get("placement") {
        spec.placement = crate::placement::parse_placement(ck, n);
    }
    if let Some(n) = f.get("volumes") {
        for (mount, target_node) in parse_service_volumes(ck, volumes, spec.mode, uses, n) {
            let clash = spec.mounts.iter().any(|m| m.target() == mount.target());
            if clash {
                ck.invalid(
                    &target_node,
                    format!(
                        "target {:?} is already used by a mount or volume",
                        mount.target()
                    ),
                );
            }
            spec.mounts.push(mount);
        }
    }
    for (key, cfg) in [
        ("update_config", spec.update_config),
        ("rollback_config", spec.rollback_config),
    ] {
        if cfg.order != crate::UpdateOrder::StartFirst {
            continue;
        }
        if let (Some(why), Some(n)) = (spec.start_first_conflict(), f.get(key)) {
            ck.invalid(n, format!("order = \"start-first\" is refused: {why}"));
        }
    }
    for r in spec.secrets.iter().chain(&spec.configs) {
        if spec.mounts.iter().any(|m| m.target() == r.target) {
            ck.invalid(
                node,
                format!("secret/config target {:?} is also a mount target", r.target),
            );
        }
    }
    spec
}

fn image(ck: &mut Checker<'_>, f: &Fields<'_>) -> Option<String> {
    let Some(n) = f.get("image") else {
        ck.missing(
            f,
            "image",
            ": the image to run, e.g. image = \"demo/busybox:1\"",
        );
        return None;
    };
    let image = ck.string(n)?;
    if image.is_empty() {
        ck.invalid(n, "image is empty");
    } else if image.chars().any(|c| c.is_whitespace() || c.is_control()) {
        ck.invalid(n, format!("image {image:?} contains whitespace"));
    }
    Some(image.to_string())
}

/// `command` / `entrypoint`: an array of strings, never a string split on spaces.
fn argv(ck: &mut Checker<'_>, n: &Node<'_>, may_be_empty: bool) -> Option<Vec<String>> {
    if let Some(s) = n.as_str() {
        let words: Vec<String> = s.split_whitespace().map(|w| format!("{w:?}")).collect();
        ck.invalid(
            n,
            format!(
                "must be an array of strings, not a string (orc does not split it into \
                 words): write {} = [{}]",
                n.key,
                words.join(", ")
            ),
        );
        return None;
    }
    let args = ck.strings(n, "an array of strings")?;
    if args.is_empty() && !may_be_empty {
        ck.invalid(
            n,
            "is empty; leave it out to use the image's default command",
        );
    }
    if args.iter().any(|a| a.contains('\0')) {
        ck.invalid(n, "an argument contains a NUL byte");
    }
    Some(args)
}

fn mode(ck: &mut Checker<'_>, f: &Fields<'_>) -> ServiceMode {
    let global = match f.get("mode").map(|n| (n, ck.string(n))) {
        Some((_, Some("global"))) => true,
        Some((n, Some(other))) if other != "replicated" => {
            ck.invalid(
                n,
                format!("unknown mode {other:?}; use \"replicated\" or \"global\""),
            );
            false
        }
        _ => false,
    };
    let Some(n) = f.get("replicas") else {
        return if global {
            ServiceMode::Global
        } else {
            ServiceMode::Replicated { replicas: 1 }
        };
    };
    if global {
        ck.invalid(
            n,
            "replicas cannot be set with mode = \"global\" (global runs one task on every \
             eligible node)",
        );
        return ServiceMode::Global;
    }
    let replicas = match ck.integer(n) {
        Some(r) if r < 0 => {
            ck.invalid(n, format!("replicas must not be negative (got {r})"));
            1
        }
        Some(r) if r > MAX_REPLICAS => {
            ck.invalid(
                n,
                format!("replicas {r} is above the limit of {MAX_REPLICAS}"),
            );
            1
        }
        Some(r) => u32::try_from(r).unwrap_or(1),
        None => 1,
    };
    ServiceMode::Replicated { replicas }
}

fn env(ck: &mut Checker<'_>, n: &Node<'_>) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    for entry in ck.entries(n).unwrap_or_default() {
        let key = &entry.key;
        if key.is_empty() || key.contains('=') || key.contains('\0') {
            ck.error(
                &entry.key_span,
                &entry.path,
                format!("invalid variable name {key:?}: it must be non-empty, without '='"),
            );
        }
        let value = match entry.val {
            crate::document::Val::Value(Value::Integer(i)) => Some(i.value().to_string()),
            crate::document::Val::Value(Value::Boolean(b)) => Some(b.value().to_string()),
            _ => ck.string(&entry).map(str::to_string),
        };
        if let Some(value) = value {
            if value.contains('\0') {
                ck.invalid(&entry, "value contains a NUL byte");
            }
            env.insert(key.clone(), value);
        }
    }
    env
}

fn labels(ck: &mut Checker<'_>, n: &Node<'_>) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    for entry in ck.entries(n).unwrap_or_default() {
        if entry.key.trim().is_empty() {
            ck.error(&entry.key_span, &entry.path, "label name is empty");
        }
        if let Some(value) = ck.string(&entry) {
            labels.insert(entry.key.clone(), value.to_string());
        }
    }
    labels
}

fn constraints(ck: &mut Checker<'_>, n: &Node<'_>) -> Vec<crate::Constraint> {
    let expected = "an array of strings, e.g. [\"node.labels.disk == ssd\"]";
    let Some(elements) = ck.array(n, expected) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for element in &elements {
        let Some(text) = ck.string(element) else {
            continue;
        };
        match parse_constraint(text) {
            Ok(c) => out.push(c),
            Err(why) => ck.invalid(element, why),
        }
    }
    out
}

/// An optional string that must pass `check`.
fn checked_string(
    ck: &mut Checker<'_>,
    n: Option<&Node<'_>>,
    check: fn(&str) -> Result<(), String>,
) -> Option<String> {
    let n = n?;
    let s = ck.string(n)?;
    if let Err(why) = check(s) {
        ck.invalid(n, why);
    }
    Some(s.to_string())
}
