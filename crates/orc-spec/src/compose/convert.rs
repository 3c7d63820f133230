//! A merged, interpolated compose document → the equivalent stack.toml, key by key,
//! with an error for what orc can't do faithfully and a warning for each key it drops.

use super::emit::{quote_key, Origin, TVal, Toml};
use super::env::{parse_dotenv, Environment};
use super::yaml::{Pos, YNode, Y};
use crate::error::Diagnostic;
use std::collections::BTreeMap;

/// What the conversion needs besides the document.
pub(crate) struct Ctx<'a> {
    pub files: &'a [String],
    /// The directory relative paths are resolved against (the first file's).
    pub project_dir: &'a str,
    pub env: &'a Environment,
    /// Reads a file (`env_file`); the error is a one-line reason.
    pub read_file: &'a mut dyn FnMut(&str) -> Result<String, String>,
    pub profiles: &'a [String],
    pub errors: Vec<Diagnostic>,
    pub warnings: Vec<Diagnostic>,
}

impl Ctx<'_> {
    fn diag(&self, pos: Pos, path: &str, message: String) -> Diagnostic {
        Diagnostic {
            file: self.files.get(pos.file).cloned().unwrap_or_default(),
            line: pos.line,
            column: pos.col,
            field: path.to_string(),
            message,
        }
    }

    pub fn err(&mut self, pos: Pos, path: &str, message: impl Into<String>) {
        let d = self.diag(pos, path, message.into());
        self.errors.push(d);
    }

    pub fn warn(&mut self, pos: Pos, path: &str, message: impl Into<String>) {
        let d = self.diag(pos, path, message.into());
        self.warnings.push(d);
    }

    fn expected(&mut self, n: &YNode, path: &str, what: &str) {
        self.err(n.pos, path, format!("expected {what}, found {}", n.kind()));
    }

    fn origin(&self, n: &YNode, path: &str) -> Origin {
        Origin {
            pos: n.pos,
            path: path.to_string(),
        }
    }

    /// A string; numbers and booleans as written.
    fn string(&mut self, n: &YNode, path: &str) -> Option<String> {
        let s = scalar_string(n);
        if s.is_none() {
            self.expected(n, path, "a string");
        }
        s
    }

    fn boolean(&mut self, n: &YNode, path: &str) -> Option<bool> {
        match &n.v {
            Y::Bool(b) => Some(*b),
            Y::Str(s) if s == "true" || s == "false" => Some(s == "true"),
            _ => {
                self.expected(n, path, "true or false");
                None
            }
        }
    }

    fn integer(&mut self, n: &YNode, path: &str) -> Option<i64> {
        match &n.v {
            Y::Int(i) => Some(*i),
            Y::Str(s) if s.trim().parse::<i64>().is_ok() => s.trim().parse().ok(),
            _ => {
                self.expected(n, path, "an integer");
                None
            }
        }
    }

    fn number(&mut self, n: &YNode, path: &str) -> Option<f64> {
        match &n.v {
            Y::Int(i) => Some(*i as f64),
            Y::Float(f) => Some(*f),
            Y::Str(s) if s.trim().parse::<f64>().is_ok() => s.trim().parse().ok(),
            _ => {
                self.expected(n, path, "a number");
                None
            }
        }
    }

    /// A string, or a list of strings.
    fn strings(&mut self, n: &YNode, path: &str) -> Vec<(String, YNode)> {
        match &n.v {
            Y::Seq(items) => items
                .iter()
                .enumerate()
                .filter_map(|(i, item)| {
                    let s = self.string(item, &format!("{path}[{i}]"))?;
                    Some((s, item.clone()))
                })
                .collect(),
            Y::Null => Vec::new(),
            _ => self
                .string(n, path)
                .map(|s| vec![(s, n.clone())])
                .unwrap_or_default(),
        }
    }

    /// A mapping's entries with string keys.
    fn mapping<'n>(&mut self, n: &'n YNode, path: &str) -> Vec<(String, &'n YNode, Pos)> {
        match &n.v {
            Y::Map(entries) => entries
                .iter()
                .map(|(k, v)| (k.as_str().unwrap_or_default().to_string(), v, k.pos))
                .collect(),
            Y::Null => Vec::new(),
            _ => {
                self.expected(n, path, "a mapping");
                Vec::new()
            }
        }
    }

    /// `KEY=VALUE` list or `KEY: VALUE` mapping (environment, labels, sysctls…):
    /// (key, value or None for a bare key / null, node).
    fn key_values(
        &mut self,
        n: &YNode,
        path: &str,
        seps: &[char],
    ) -> Vec<(String, Option<String>, YNode)> {
        let mut out = Vec::new();
        match &n.v {
            Y::Seq(items) => {
                for (i, item) in items.iter().enumerate() {
                    let Some(s) = self.string(item, &format!("{path}[{i}]")) else {
                        continue;
                    };
                    match s.split_once(seps) {
                        Some((k, v)) => {
                            out.push((k.to_string(), Some(v.to_string()), item.clone()))
                        }
                        None => out.push((s, None, item.clone())),
                    }
                }
            }
            Y::Map(entries) => {
                for (k, v) in entries {
                    let key = k.as_str().unwrap_or_default().to_string();
                    let value = match &v.v {
                        Y::Null => None,
                        Y::Seq(_) | Y::Map(_) => {
                            self.expected(
                                v,
                                &format!("{path}.{key}"),
                                "a string, number or boolean",
                            );
                            continue;
                        }
                        _ => scalar_string(v),
                    };
                    let mut node = v.clone();
                    if matches!(v.v, Y::Null) {
                        node.pos = k.pos;
                    }
                    out.push((key, value, node));
                }
            }
            Y::Null => {}
            _ => self.expected(n, path, "a list of KEY=VALUE or a mapping"),
        }
        out
    }

    /// A path relative to the project directory (`~` is $HOME).
    fn host_path(&self, p: &str) -> String {
        if let Some(rest) = p.strip_prefix('~') {
            let home = self
                .env
                .get("HOME")
                .map(|v| v.value.clone())
                .unwrap_or_default();
            return crate::options::resolve_path(&home, rest.trim_start_matches('/'));
        }
        crate::options::resolve_path(self.project_dir, p)
    }
}

/// A scalar as text: strings as they are, numbers and booleans as written.
pub(crate) fn scalar_string(n: &YNode) -> Option<String> {
    match &n.v {
        Y::Str(s) => Some(s.clone()),
        Y::Int(i) => Some(i.to_string()),
        Y::Float(f) => Some(n.raw.clone().unwrap_or_else(|| f.to_string())),
        Y::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// What a dropped key means, for the warning (keys that change nothing visible).
const DROPPED: &[(&str, &str)] = &[
    (
        "container_name",
        "orc names each task's container itself (STACK_SERVICE.SLOT)",
    ),
    (
        "links",
        "services of a stack reach each other by name already",
    ),
    ("external_links", "orc has no cross-stack links"),
    (
        "logging",
        "orc keeps each task's output in rotated files (`orc service logs`)",
    ),
    (
        "expose",
        "every port of a task is reachable from the services on its networks",
    ),
    ("domainname", "not supported"),
    ("stdin_open", "tasks have no standard input"),
    ("tty", "tasks have no terminal"),
    (
        "platform",
        "each node runs the image built for its own platform",
    ),
    (
        "pull_policy",
        "nodes fetch a missing image from a peer or its registry",
    ),
    (
        "build",
        "orc does not build images; the `image` is deployed",
    ),
    ("mac_address", "not supported"),
    (
        "cpu_shares",
        "not supported; use deploy.resources.limits.cpus",
    ),
    (
        "cpu_quota",
        "not supported; use deploy.resources.limits.cpus",
    ),
    (
        "cpu_period",
        "not supported; use deploy.resources.limits.cpus",
    ),
    (
        "cpu_count",
        "not supported; use deploy.resources.limits.cpus",
    ),
    (
        "cpu_percent",
        "not supported; use deploy.resources.limits.cpus",
    ),
    ("cpuset", "not supported"),
    ("cpu_rt_runtime", "not supported"),
    ("cpu_rt_period", "not supported"),
    ("oom_kill_disable", "not supported"),
    ("oom_score_adj", "not supported"),
    ("blkio_config", "not supported"),
    ("mem_swappiness", "not supported"),
    ("memswap_limit", "not supported"),
    ("storage_opt", "not supported"),
    ("runtime", "orc runs every container with runc"),
    ("isolation", "not supported on Linux"),
    ("cgroup", "not supported"),
    ("cgroup_parent", "orc places each task under its own cgroup"),
    (
        "security_opt",
        "not supported: orc applies no seccomp or AppArmor profile to change",
    ),
    (
        "userns_mode",
        "not supported: containers run in the node's user namespace",
    ),
    ("group_add", "not supported"),
    ("annotations", "not supported"),
    ("attach", "not supported"),
    ("develop", "a development-only key"),
    ("credential_spec", "Windows only"),
    ("device_cgroup_rules", "not supported; use devices"),
    ("label_file", "not supported; use labels"),
    ("uts", "not supported"),
    ("post_start", "not supported"),
    ("pre_stop", "not supported"),
    ("use_api_socket", "there is no Docker engine on orc nodes"),
    ("stop_timeout", "not supported; use stop_grace_period"),
];

/// The service keys converted.
const SERVICE_KEYS: &[&str] = &[
    "image",
    "command",
    "entrypoint",
    "environment",
    "env_file",
    "labels",
    "ports",
    "volumes",
    "tmpfs",
    "networks",
    "network_mode",
    "deploy",
    "restart",
    "healthcheck",
    "secrets",
    "configs",
    "user",
    "working_dir",
    "hostname",
    "stop_signal",
    "stop_grace_period",
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
    "dns_opt",
    "shm_size",
    "pids_limit",
    "depends_on",
    "mem_limit",
    "mem_reservation",
    "cpus",
    "scale",
    "profiles",
    "ipc",
    "pid",
    "volumes_from",
    "extends",
    "gpus",
];

/// One service key's output: `key = value` lines under `[services.NAME]`.
struct Svc {
    entries: Vec<(Vec<String>, TVal, Origin)>,
    comments: Vec<String>,
}

impl Svc {
    fn set(&mut self, key: &[&str], value: TVal, origin: Origin) {
        self.entries
            .push((key.iter().map(|s| s.to_string()).collect(), value, origin));
    }
}

/// A declared volume: a stack volume, or (`driver_opts: {type: none, o: bind, device}`)
/// a directory of the node mounted directly.
enum VolumeKind {
    Stack,
    Bind(String),
}

/// Converts the document into stack.toml lines. `name` is the stack's name if the
/// compose file sets one (`name:`).
pub(crate) fn convert(ctx: &mut Ctx<'_>, root: &YNode, out: &mut Toml) {
    let entries = ctx.mapping(root, "(document)");
    let mut services = None;
    let mut networks = None;
    let mut volumes = None;
    let mut secrets = None;
    let mut configs = None;
    for (key, v, pos) in entries {
        match key.as_str() {
            "services" => services = Some(v),
            "networks" => networks = Some(v),
            "volumes" => volumes = Some(v),
            "secrets" => secrets = Some(v),
            "configs" => configs = Some(v),
            "name" => {
                if let Some(name) = ctx.string(v, "name") {
                    out.entry("", &["name"], &TVal::Str(name), ctx.origin(v, "name"));
                }
            }
            "version" => {}
            "include" => ctx.err(
                pos,
                "include",
                "`include` is not supported: pass each file with -c instead",
            ),
            k if k.starts_with("x-") => {}
            other => ctx.err(
                pos,
                other,
                format!(
                    "unknown top-level key `{other}`; a compose file has services, networks, \
                     volumes, secrets, configs, name (and x-* extensions)"
                ),
            ),
        }
    }

    let declared_networks: Vec<String> = networks
        .map(|n| {
            ctx.mapping(n, "networks")
                .into_iter()
                .map(|(k, _, _)| k)
                .collect()
        })
        .unwrap_or_default();
    let volume_kinds = volumes.map(|n| volume_kinds(ctx, n)).unwrap_or_default();

    match services {
        None => ctx.err(
            root.pos,
            "services",
            "the file has no services; add a `services:` mapping",
        ),
        Some(node) => {
            for (name, svc, pos) in ctx.mapping(node, "services") {
                if let Some(svc_out) =
                    service(ctx, &name, svc, pos, &declared_networks, &volume_kinds)
                {
                    let path = format!("services.{}", quote_key(&name));
                    out.blank();
                    out.header(
                        &path,
                        Origin {
                            pos,
                            path: format!("services.{name}"),
                        },
                    );
                    for c in &svc_out.comments {
                        out.comment(c);
                    }
                    for (key, value, origin) in &svc_out.entries {
                        let key: Vec<&str> = key.iter().map(String::as_str).collect();
                        out.entry(&path, &key, value, origin.clone());
                    }
                }
            }
        }
    }
    if let Some(n) = networks {
        top_networks(ctx, n, out);
    }
    if let Some(n) = volumes {
        top_volumes(ctx, n, out);
    }
    for (key, node) in [("secrets", secrets), ("configs", configs)] {
        if let Some(n) = node {
            top_secrets(ctx, n, key, out);
        }
    }
}

fn service(
    ctx: &mut Ctx<'_>,
    name: &str,
    node: &YNode,
    pos: Pos,
    networks: &[String],
    volume_kinds: &BTreeMap<String, VolumeKind>,
) -> Option<Svc> {
    let base = format!("services.{name}");
    let mut s = Svc {
        entries: Vec::new(),
        comments: Vec::new(),
    };
    let entries = ctx.mapping(node, &base);
    if let Some((_, profiles, ppos)) = entries.iter().find(|(k, _, _)| k == "profiles") {
        let wanted = ctx.strings(profiles, &format!("{base}.profiles"));
        let selected = wanted.iter().any(|(p, _)| ctx.profiles.contains(p));
        if !selected {
            let list: Vec<&str> = wanted.iter().map(|(p, _)| p.as_str()).collect();
            ctx.warn(
                *ppos,
                &format!("{base}.profiles"),
                format!(
                    "service {name} is not deployed: its profiles ({}) are not selected \
                     (--profile)",
                    list.join(", ")
                ),
            );
            return None;
        }
    }
    let has = |k: &str| entries.iter().any(|(key, _, _)| key == k);
    if !has("image") {
        let hint = if has("build") {
            ": orc does not build images; build and push (or `orc image load`) it, and name it here"
        } else {
            ""
        };
        ctx.err(
            pos,
            &format!("{base}.image"),
            format!("missing `image`{hint}"),
        );
    }
    let deploy = entries
        .iter()
        .find(|(k, _, _)| k == "deploy")
        .map(|(_, v, _)| *v);
    let mut env: BTreeMap<String, (String, Origin)> = BTreeMap::new();
    let mut labels: BTreeMap<String, (String, Origin)> = BTreeMap::new();
    let mut mounts: Vec<(TVal, Origin)> = Vec::new();
    let mut vols: Vec<(TVal, Origin)> = Vec::new();
    let mut limits: Vec<(&str, TVal, Origin)> = Vec::new();
    // env_file first: `environment` overrides it.
    if let Some((_, v, _)) = entries.iter().find(|(k, _, _)| k == "env_file") {
        env_files(ctx, v, &format!("{base}.env_file"), &mut env);
    }
    for (key, v, kpos) in &entries {
        let path = format!("{base}.{key}");
        let here = ctx.origin(v, &path);
        let key = key.as_str();
        if let Some((_, why)) = DROPPED.iter().find(|(k, _)| *k == key) {
            if key == "build" && !has("image") {
                continue;
            }
            ctx.warn(*kpos, &path, format!("`{key}` is ignored: {why}"));
            s.comments.push(format!(
                "dropped `{key}` ({}:{}): {why}",
                ctx.files.get(kpos.file).cloned().unwrap_or_default(),
                kpos.line
            ));
            continue;
        }
        if key.starts_with("x-") {
            continue;
        }
        match key {
            "image" => {
                if let Some(i) = ctx.string(v, &path) {
                    s.set(&["image"], TVal::Str(i), here);
                }
            }
            "command" | "entrypoint" => {
                let args = match &v.v {
                    Y::Str(text) => match shell_words(text) {
                        Ok(words) => Some(words),
                        Err(why) => {
                            ctx.err(v.pos, &path, why);
                            None
                        }
                    },
                    Y::Null => None,
                    _ => Some(ctx.strings(v, &path).into_iter().map(|(s, _)| s).collect()),
                };
                if let Some(args) = args {
                    if key == "command" && args.is_empty() {
                        continue;
                    }
                    let items = args
                        .into_iter()
                        .map(|a| (TVal::Str(a), here.clone()))
                        .collect();
                    s.set(&[key], TVal::Arr(items), here);
                }
            }
            "environment" => {
                for (k, value, n) in ctx.key_values(v, &path, &['=']) {
                    let value = match value {
                        Some(v) => v,
                        None => match ctx.env.get(&k) {
                            Some(e) => e.value.clone(),
                            None => {
                                ctx.warn(
                                    n.pos,
                                    &format!("{path}.{k}"),
                                    format!("{k} has no value here and is not set in the environment; left out"),
                                );
                                continue;
                            }
                        },
                    };
                    env.insert(k.clone(), (value, ctx.origin(&n, &format!("{path}.{k}"))));
                }
            }
            "env_file" => {}
            "labels" => {
                for (k, value, n) in ctx.key_values(v, &path, &['=']) {
                    let o = ctx.origin(&n, &format!("{path}.{k}"));
                    labels.insert(k, (value.unwrap_or_default(), o));
                }
            }
            "ports" => {
                let items = ports(ctx, v, &path);
                if !items.is_empty() {
                    s.set(&["ports"], TVal::Arr(items), here);
                }
            }
            "volumes" => service_volumes(ctx, v, &path, volume_kinds, &mut mounts, &mut vols),
            "tmpfs" => {
                for (text, n) in ctx.strings(v, &path) {
                    if let Some(m) = tmpfs_short(ctx, &text, &n, &path) {
                        mounts.push((m, ctx.origin(&n, &path)));
                    }
                }
            }
            "networks" => {
                let list = service_networks(ctx, v, &path, networks);
                if !list.is_empty() {
                    s.set(&["networks"], TVal::Arr(list), here);
                }
            }
            "network_mode" => {
                if let Some(mode) = ctx.string(v, &path) {
                    match mode.as_str() {
                        "host" => s.set(&["network_mode"], TVal::Str("host".into()), here),
                        "bridge" | "default" => {}
                        "none" => ctx.err(v.pos, &path, "network_mode \"none\" is not supported: a task always has a network"),
                        other => ctx.err(
                            v.pos,
                            &path,
                            format!("network_mode {other:?} is not supported (orc runs each task in its own network namespace, or the node's with \"host\"); sharing another container's network would change what runs"),
                        ),
                    }
                }
            }
            "deploy" => deploy_keys(ctx, v, &path, &mut s, &mut labels),
            "restart" => {
                let has_policy = deploy.and_then(|d| d.get("restart_policy")).is_some();
                if has_policy {
                    ctx.warn(*kpos, &path, "`restart` is ignored: deploy.restart_policy is set");
                    continue;
                }
                if let Some(text) = ctx.string(v, &path) {
                    restart(ctx, &text, v, &path, &mut s);
                }
            }
            "healthcheck" => healthcheck(ctx, v, &path, &mut s),
            "secrets" | "configs" => {
                let items = file_refs(ctx, v, &path);
                if !items.is_empty() {
                    s.set(&[key], TVal::Arr(items), here);
                }
            }
            "user" | "working_dir" | "hostname" => {
                if let Some(text) = ctx.string(v, &path) {
                    s.set(&[key], TVal::Str(text), here);
                }
            }
            "stop_signal" => {
                if let Some(text) = ctx.string(v, &path) {
                    s.set(&["stop", "signal"], TVal::Str(text), here);
                }
            }
            "stop_grace_period" => {
                if let Some(text) = duration(ctx, v, &path) {
                    s.set(&["stop", "grace_period"], TVal::Str(text), here);
                }
            }
            "privileged" | "init" | "read_only" => {
                if let Some(b) = ctx.boolean(v, &path) {
                    s.set(&[key], TVal::Bool(b), here);
                }
            }
            "cap_add" | "cap_drop" | "dns" | "dns_search" | "dns_opt" => {
                let items: Vec<(TVal, Origin)> = ctx
                    .strings(v, &path)
                    .into_iter()
                    .map(|(text, n)| (TVal::Str(text), ctx.origin(&n, &path)))
                    .collect();
                let key = if key == "dns_opt" { "dns_options" } else { key };
                s.set(&[key], TVal::Arr(items), here);
            }
            "devices" => {
                let mut items = Vec::new();
                if let Y::Seq(list) = &v.v {
                    for (i, item) in list.iter().enumerate() {
                        let ipath = format!("{path}[{i}]");
                        let value = match &item.v {
                            Y::Map(_) => {
                                let mut t = Vec::new();
                                for (k, val, p) in ctx.mapping(item, &ipath) {
                                    match k.as_str() {
                                        "source" | "target" | "permissions" => {
                                            if let Some(text) = ctx.string(val, &format!("{ipath}.{k}")) {
                                                t.push((k, TVal::Str(text)));
                                            }
                                        }
                                        other => ctx.err(p, &format!("{ipath}.{other}"), format!("unknown key `{other}`; a device has source, target, permissions")),
                                    }
                                }
                                TVal::Inline(t)
                            }
                            _ => match ctx.string(item, &ipath) {
                                Some(text) => TVal::Str(text),
                                None => continue,
                            },
                        };
                        items.push((value, ctx.origin(item, &ipath)));
                    }
                } else {
                    ctx.expected(v, &path, "a list of devices");
                }
                s.set(&["devices"], TVal::Arr(items), here);
            }
            "sysctls" => {
                for (k, value, n) in ctx.key_values(v, &path, &['=']) {
                    let o = ctx.origin(&n, &format!("{path}.{k}"));
                    s.set(&["sysctls", &k], TVal::Str(value.unwrap_or_default()), o);
                }
            }
            "ulimits" => {
                for (k, val, _) in ctx.mapping(v, &path) {
                    let upath = format!("{path}.{k}");
                    let o = ctx.origin(val, &upath);
                    match &val.v {
                        Y::Map(_) => {
                            let mut t = Vec::new();
                            for (lk, lv, lp) in ctx.mapping(val, &upath) {
                                if lk != "soft" && lk != "hard" {
                                    ctx.err(lp, &format!("{upath}.{lk}"), format!("unknown key `{lk}`; a ulimit has soft and hard"));
                                    continue;
                                }
                                if let Some(i) = ctx.integer(lv, &format!("{upath}.{lk}")) {
                                    t.push((lk, TVal::Int(i)));
                                }
                            }
                            s.set(&["ulimits", &k], TVal::Inline(t), o);
                        }
                        _ => {
                            if let Some(i) = ctx.integer(val, &upath) {
                                s.set(&["ulimits", &k], TVal::Int(i), o);
                            }
                        }
                    }
                }
            }
            "extra_hosts" => {
                for (k, value, n) in ctx.key_values(v, &path, &['=', ':']) {
                    let hpath = format!("{path}.{k}");
                    match value {
                        Some(ip) => s.set(&["extra_hosts", &k], TVal::Str(ip), ctx.origin(&n, &hpath)),
                        None => ctx.err(n.pos, &hpath, format!("extra host {k:?} must be \"HOST:IP\" or \"HOST=IP\"")),
                    }
                }
            }
            "shm_size" => {
                if let Some(size) = size(ctx, v, &path) {
                    s.set(&["shm_size"], size, here);
                }
            }
            "pids_limit" => {
                if let Some(i) = ctx.integer(v, &path) {
                    s.set(&["pids_limit"], TVal::Int(i), here);
                }
            }
            "depends_on" => {
                let items = depends_on(ctx, v, &path);
                if !items.is_empty() {
                    s.set(&["depends_on"], TVal::Arr(items), here);
                }
            }
            "mem_limit" | "mem_reservation" => {
                let which = if key == "mem_limit" { "limits" } else { "reservations" };
                if let Some(size) = size(ctx, v, &path) {
                    limits.push((which, size, here));
                }
            }
            "cpus" => {
                if let Some(c) = ctx.number(v, &path) {
                    limits.push(("cpus", TVal::Float(c), here));
                }
            }
            "scale" => {
                let in_deploy = deploy.and_then(|d| d.get("replicas")).is_some();
                if in_deploy {
                    ctx.warn(*kpos, &path, "`scale` is ignored: deploy.replicas is set");
                } else if let Some(i) = ctx.integer(v, &path) {
                    s.set(&["replicas"], TVal::Int(i), here);
                }
            }
            "profiles" => {}
            "ipc" | "pid" => {
                let value = scalar_string(v).unwrap_or_default();
                if !(key == "ipc" && matches!(value.as_str(), "private" | "shareable")) {
                    ctx.err(
                        v.pos,
                        &path,
                        format!("`{key}: {value}` is not supported: each task has its own {key} namespace; leaving it out would change what runs"),
                    );
                }
            }
            "volumes_from" => ctx.err(
                *kpos,
                &path,
                "`volumes_from` is not supported: declare the shared volume and mount it in both services",
            ),
            "extends" => ctx.err(
                *kpos,
                &path,
                "`extends` is not supported: use YAML anchors (x-… with <<: *anchor) or several -c files",
            ),
            "gpus" => ctx.err(*kpos, &path, "`gpus` is not supported; map the device with `devices`"),
            other => {
                let hint = closest(other);
                ctx.err(*kpos, &path, format!("unknown key `{other}` in a compose service{hint}"));
            }
        }
    }
    // Service-level cpus/mem_limit apply unless deploy.resources sets the same.
    for (which, value, origin) in limits {
        let (table, k) = match which {
            "cpus" => ("limits", "cpus"),
            t => (t, "memory"),
        };
        let taken = s.entries.iter().any(|(key, _, _)| {
            key.len() == 3 && key[0] == "resources" && key[1] == table && key[2] == k
        });
        if !taken {
            s.set(&["resources", table, k], value, origin);
        }
    }
    for (k, (value, origin)) in env {
        s.set(&["env", &k], TVal::Str(value), origin);
    }
    for (k, (value, origin)) in labels {
        s.set(&["labels", &k], TVal::Str(value), origin);
    }
    if !mounts.is_empty() {
        let o = Origin {
            pos: mounts[0].1.pos,
            path: format!("{base}.volumes"),
        };
        s.set(&["mounts"], TVal::Arr(mounts), o);
    }
    if !vols.is_empty() {
        let o = Origin {
            pos: vols[0].1.pos,
            path: format!("{base}.volumes"),
        };
        s.set(&["volumes"], TVal::Arr(vols), o);
    }
    Some(s)
}

/// A "did you mean" for a misspelt service key.
fn closest(key: &str) -> String {
    let near = SERVICE_KEYS
        .iter()
        .chain(DROPPED.iter().map(|(k, _)| k))
        .find(|k| {
            let (a, b) = (k.as_bytes(), key.as_bytes());
            a.len().abs_diff(b.len()) <= 1
                && a.iter().zip(b).filter(|(x, y)| x != y).count() + a.len().abs_diff(b.len()) <= 2
        });
    near.map(|k| format!(" (did you mean `{k}`?)"))
        .unwrap_or_default()
}

/// Splits a string like a POSIX shell would (quotes and backslashes), without running
/// one: `command: echo "a b"` → ["echo", "a b"].
pub(crate) fn shell_words(text: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => cur.push(c),
                        None => return Err(format!("unclosed single quote in {text:?}")),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => cur.push(c),
                            Some('\n') => {}
                            Some(c) => {
                                cur.push('\\');
                                cur.push(c);
                            }
                            None => return Err(format!("unclosed double quote in {text:?}")),
                        },
                        Some(c) => cur.push(c),
                        None => return Err(format!("unclosed double quote in {text:?}")),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some('\n') => {}
                    Some(c) => cur.push(c),
                    None => cur.push('\\'),
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

fn env_files(
    ctx: &mut Ctx<'_>,
    v: &YNode,
    path: &str,
    env: &mut BTreeMap<String, (String, Origin)>,
) {
    let mut files: Vec<(String, bool, YNode)> = Vec::new();
    match &v.v {
        Y::Seq(items) => {
            for (i, item) in items.iter().enumerate() {
                let ipath = format!("{path}[{i}]");
                match &item.v {
                    Y::Map(_) => {
                        let p = item.get("path").and_then(scalar_string);
                        let required = match item.get("required") {
                            Some(r) => ctx.boolean(r, &format!("{ipath}.required")).unwrap_or(true),
                            None => true,
                        };
                        match p {
                            Some(p) => files.push((p, required, item.clone())),
                            None => ctx.err(item.pos, &ipath, "missing `path`"),
                        }
                    }
                    _ => {
                        if let Some(p) = ctx.string(item, &ipath) {
                            files.push((p, true, item.clone()));
                        }
                    }
                }
            }
        }
        _ => {
            if let Some(p) = ctx.string(v, path) {
                files.push((p, true, v.clone()));
            }
        }
    }
    for (p, required, node) in files {
        let full = ctx.host_path(&p);
        let text = match (ctx.read_file)(&full) {
            Ok(t) => t,
            Err(why) if required => {
                ctx.err(
                    node.pos,
                    path,
                    format!("cannot read env_file {full}: {why}"),
                );
                continue;
            }
            Err(_) => continue,
        };
        let project = ctx.env.clone();
        let mut outer = |n: &str| project.get(n).map(|v| v.value.clone());
        match parse_dotenv(&text, &mut outer) {
            Ok(entries) => {
                for e in entries {
                    if let Some(value) = e.value {
                        env.insert(
                            e.key.clone(),
                            (
                                value,
                                Origin {
                                    pos: node.pos,
                                    path: format!("{path} ({full}:{})", e.line),
                                },
                            ),
                        );
                    }
                }
            }
            Err(e) => ctx.err(
                node.pos,
                path,
                format!("env_file {full}:{}: {}", e.line, e.message),
            ),
        }
    }
}

fn duration(ctx: &mut Ctx<'_>, v: &YNode, path: &str) -> Option<String> {
    match &v.v {
        Y::Str(s) => Some(s.clone()),
        Y::Int(0) => Some("0s".into()),
        _ => {
            ctx.expected(v, path, "a duration such as \"10s\" or \"1m30s\"");
            None
        }
    }
}

fn size(ctx: &mut Ctx<'_>, v: &YNode, path: &str) -> Option<TVal> {
    match &v.v {
        Y::Str(s) => Some(TVal::Str(s.clone())),
        Y::Int(i) => Some(TVal::Int(*i)),
        _ => {
            ctx.expected(v, path, "a size such as \"64m\" or a byte count");
            None
        }
    }
}

fn restart(ctx: &mut Ctx<'_>, text: &str, v: &YNode, path: &str, s: &mut Svc) {
    let o = ctx.origin(v, path);
    let (condition, attempts) = match text.split_once(':') {
        Some(("on-failure", n)) => match n.parse::<i64>() {
            Ok(n) => ("on-failure", Some(n)),
            Err(_) => {
                ctx.err(
                    v.pos,
                    path,
                    format!("on-failure:{n}: the retry count is not a number"),
                );
                return;
            }
        },
        _ => match text {
            "no" => ("none", None),
            "always" | "unless-stopped" => ("any", None),
            "on-failure" => ("on-failure", None),
            other => {
                ctx.err(
                    v.pos,
                    path,
                    format!("unknown restart policy {other:?}; use no, always, unless-stopped or on-failure[:N]"),
                );
                return;
            }
        },
    };
    s.set(
        &["restart", "condition"],
        TVal::Str(condition.into()),
        o.clone(),
    );
    if let Some(n) = attempts {
        s.set(&["restart", "max_attempts"], TVal::Int(n), o);
    }
}

/// Short and long port syntax → stack.toml port strings and tables.
fn ports(ctx: &mut Ctx<'_>, v: &YNode, path: &str) -> Vec<(TVal, Origin)> {
    let mut out = Vec::new();
    let Y::Seq(items) = &v.v else {
        ctx.expected(v, path, "a list of ports");
        return out;
    };
    for (i, item) in items.iter().enumerate() {
        let ipath = format!("{path}[{i}]");
        let o = ctx.origin(item, &ipath);
        match &item.v {
            Y::Map(_) => {
                let mut t: Vec<(String, TVal)> = Vec::new();
                let mut range: Option<(i64, i64)> = None;
                for (k, val, kp) in ctx.mapping(item, &ipath) {
                    let kpath = format!("{ipath}.{k}");
                    match k.as_str() {
                        "target" => {
                            if let Some(n) = ctx.integer(val, &kpath) {
                                t.push(("target".into(), TVal::Int(n)));
                            }
                        }
                        "published" => {
                            let text = scalar_string(val).unwrap_or_default();
                            match port_range(&text) {
                                Ok((a, b)) if a == b => t.push(("published".into(), TVal::Int(a))),
                                Ok(r) => range = Some(r),
                                Err(why) => ctx.err(val.pos, &kpath, why),
                            }
                        }
                        "protocol" | "mode" => {
                            if let Some(text) = ctx.string(val, &kpath) {
                                t.push((k.clone(), TVal::Str(text)));
                            }
                        }
                        "host_ip" => {
                            let ip = scalar_string(val).unwrap_or_default();
                            if !matches!(ip.as_str(), "" | "0.0.0.0" | "::") {
                                ctx.err(val.pos, &kpath, format!("binding a published port to {ip} is not supported: orc publishes on every address of every node; leaving it out would expose the port"));
                            }
                        }
                        "name" | "app_protocol" => ctx.warn(kp, &kpath, format!("`{k}` is ignored")),
                        other => ctx.err(kp, &kpath, format!("unknown key `{other}`; a port has target, published, protocol, mode, host_ip")),
                    }
                }
                if let Some((a, b)) = range {
                    ctx.err(
                        item.pos,
                        &ipath,
                        format!(
                            "a published range {a}-{b} needs the short form \"{a}-{b}:TARGET-END\""
                        ),
                    );
                }
                if !t.iter().any(|(k, _)| k == "published") && range.is_none() {
                    ctx.err(
                        item.pos,
                        &ipath,
                        "a published port is required: orc never picks one for you",
                    );
                    continue;
                }
                out.push((TVal::Inline(t), o));
            }
            _ => {
                let Some(text) = scalar_string(item) else {
                    ctx.expected(item, &ipath, "a port such as \"8080:80\" or a mapping");
                    continue;
                };
                match short_port(&text) {
                    Ok(list) => out.extend(list.into_iter().map(|p| (TVal::Str(p), o.clone()))),
                    Err(why) => ctx.err(item.pos, &ipath, why),
                }
            }
        }
    }
    out
}

fn port_range(text: &str) -> Result<(i64, i64), String> {
    let parse = |t: &str| {
        t.trim()
            .parse::<i64>()
            .map_err(|_| format!("port {t:?} is not a number"))
    };
    match text.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (parse(a)?, parse(b)?);
            if b < a {
                return Err(format!("port range {text:?} ends before it starts"));
            }
            Ok((a, b))
        }
        None => {
            let p = parse(text)?;
            Ok((p, p))
        }
    }
}

/// `[HOST_IP:]PUBLISHED[-END]:TARGET[-END][/PROTO]` → "P:T[/proto]" strings.
pub(crate) fn short_port(text: &str) -> Result<Vec<String>, String> {
    let (spec, proto) = match text.rsplit_once('/') {
        Some((s, p)) => (s, Some(p)),
        None => (text, None),
    };
    let suffix = match proto {
        None | Some("tcp") => String::new(),
        Some(p) => format!("/{p}"),
    };
    let (host, rest) = if let Some(r) = spec.strip_prefix('[') {
        match r.split_once("]:") {
            Some((ip, rest)) => (Some(ip.to_string()), rest),
            None => return Err(format!("port {text:?}: unclosed '['")),
        }
    } else {
        let parts: Vec<&str> = spec.split(':').collect();
        match parts.len() {
            3 => (Some(parts[0].to_string()), &spec[parts[0].len() + 1..]),
            _ => (None, spec),
        }
    };
    if let Some(ip) = host {
        if !matches!(ip.as_str(), "" | "0.0.0.0" | "::") {
            return Err(format!(
                "port {text:?}: binding to {ip} is not supported: orc publishes on every address \
                 of every node; leaving the address out would expose the port"
            ));
        }
    }
    let Some((published, target)) = rest.split_once(':') else {
        return Err(format!(
            "port {text:?} has no published port: orc never picks one for you; write \
             \"PUBLISHED:{rest}\" (or leave it out: services on the stack's networks reach it anyway)"
        ));
    };
    let (pa, pb) = port_range(published).map_err(|e| format!("port {text:?}: {e}"))?;
    let (ta, tb) = port_range(target).map_err(|e| format!("port {text:?}: {e}"))?;
    if pb - pa != tb - ta {
        return Err(format!(
            "port {text:?}: the published and target ranges differ in length"
        ));
    }
    if pb - pa > 1000 {
        return Err(format!("port {text:?}: a range of more than 1000 ports"));
    }
    Ok((0..=pb - pa)
        .map(|i| format!("{}:{}{suffix}", pa + i, ta + i))
        .collect())
}

fn volume_kinds(ctx: &mut Ctx<'_>, n: &YNode) -> BTreeMap<String, VolumeKind> {
    let mut out = BTreeMap::new();
    for (name, v, _) in ctx.mapping(n, "volumes") {
        let opts = v.get("driver_opts");
        let get = |k: &str| opts.and_then(|o| o.get(k)).and_then(scalar_string);
        let kind = match (get("type").as_deref(), get("o"), get("device")) {
            (Some("none"), Some(o), Some(device))
                if o.split(',').any(|x| x == "bind" || x == "rbind") =>
            {
                VolumeKind::Bind(ctx.host_path(&device))
            }
            _ => VolumeKind::Stack,
        };
        out.insert(name, kind);
    }
    out
}

fn service_volumes(
    ctx: &mut Ctx<'_>,
    v: &YNode,
    path: &str,
    kinds: &BTreeMap<String, VolumeKind>,
    mounts: &mut Vec<(TVal, Origin)>,
    vols: &mut Vec<(TVal, Origin)>,
) {
    let Y::Seq(items) = &v.v else {
        ctx.expected(v, path, "a list of volumes");
        return;
    };
    for (i, item) in items.iter().enumerate() {
        let ipath = format!("{path}[{i}]");
        let o = ctx.origin(item, &ipath);
        // (type, source, target, read_only, tmpfs size, tmpfs mode)
        let mut kind = String::new();
        let mut source: Option<String> = None;
        let mut target: Option<String> = None;
        let mut read_only = false;
        let mut tsize: Option<TVal> = None;
        let mut tmode: Option<i64> = None;
        match &item.v {
            Y::Map(_) => {
                for (k, val, kp) in ctx.mapping(item, &ipath) {
                    let kpath = format!("{ipath}.{k}");
                    match k.as_str() {
                        "type" => kind = ctx.string(val, &kpath).unwrap_or_default(),
                        "source" => source = ctx.string(val, &kpath),
                        "target" => target = ctx.string(val, &kpath),
                        "read_only" => read_only = ctx.boolean(val, &kpath).unwrap_or(false),
                        "consistency" => {}
                        "bind" => {
                            for (bk, bv, bp) in ctx.mapping(val, &kpath) {
                                match bk.as_str() {
                                    "create_host_path" => {}
                                    "propagation" | "selinux" => ctx.warn(bp, &format!("{kpath}.{bk}"), format!("`{bk}` is ignored")),
                                    other => ctx.err(bp, &format!("{kpath}.{other}"), format!("unknown key `{other}`")),
                                }
                                let _ = bv;
                            }
                        }
                        "volume" => {
                            for (vk, _, vp) in ctx.mapping(val, &kpath) {
                                match vk.as_str() {
                                    "nocopy" => {}
                                    other => ctx.err(vp, &format!("{kpath}.{other}"), format!("`{other}` is not supported")),
                                }
                            }
                        }
                        "tmpfs" => {
                            for (tk, tv, tp) in ctx.mapping(val, &kpath) {
                                match tk.as_str() {
                                    "size" => tsize = size(ctx, tv, &format!("{kpath}.size")),
                                    "mode" => tmode = octal(ctx, tv, &format!("{kpath}.mode")),
                                    other => ctx.err(tp, &format!("{kpath}.{other}"), format!("unknown key `{other}`; tmpfs has size and mode")),
                                }
                            }
                        }
                        other => ctx.err(kp, &kpath, format!("unknown key `{other}`; a volume has type, source, target, read_only, bind, volume, tmpfs")),
                    }
                }
                if kind == "bind" {
                    source = source.map(|s| ctx.host_path(&s));
                }
            }
            _ => {
                let Some(text) = ctx.string(item, &ipath) else {
                    continue;
                };
                let parts: Vec<&str> = text.split(':').collect();
                let (src, dst, opts) = match parts.as_slice() {
                    [d] => (None, *d, ""),
                    [s, d] => (Some(*s), *d, ""),
                    [s, d, o] => (Some(*s), *d, *o),
                    _ => {
                        ctx.err(
                            item.pos,
                            &ipath,
                            format!("volume {text:?} must be SOURCE:TARGET[:OPTIONS]"),
                        );
                        continue;
                    }
                };
                target = Some(dst.to_string());
                for opt in opts.split(',').filter(|o| !o.is_empty()) {
                    match opt {
                        "ro" | "readonly" => read_only = true,
                        "rw" | "nocopy" | "cached" | "delegated" | "consistent" => {}
                        "z" | "Z" => ctx.warn(
                            item.pos,
                            &ipath,
                            format!("SELinux relabel option `{opt}` is ignored"),
                        ),
                        other => ctx.warn(
                            item.pos,
                            &ipath,
                            format!("volume option `{other}` is ignored"),
                        ),
                    }
                }
                match src {
                    None => {
                        kind = "tmpfs".into();
                        ctx.warn(
                            item.pos,
                            &ipath,
                            format!("anonymous volume {dst}: orc mounts a tmpfs there (its data lives in memory and ends with the task, as an anonymous volume's does under Swarm); declare a named volume to keep data"),
                        );
                    }
                    Some(s) if s.starts_with(['/', '.', '~']) => {
                        kind = "bind".into();
                        source = Some(ctx.host_path(s));
                    }
                    Some(s) => {
                        kind = "volume".into();
                        source = Some(s.to_string());
                    }
                }
            }
        }
        let Some(target) = target else {
            ctx.err(item.pos, &ipath, "missing `target`");
            continue;
        };
        match kind.as_str() {
            "volume" => {
                let Some(name) = source else {
                    kind = "tmpfs".into();
                    ctx.warn(
                        item.pos,
                        &ipath,
                        format!("anonymous volume {target}: orc mounts a tmpfs there"),
                    );
                    mounts.push((
                        TVal::Inline(vec![
                            ("type".into(), TVal::Str(kind)),
                            ("target".into(), TVal::Str(target)),
                        ]),
                        o,
                    ));
                    continue;
                };
                match kinds.get(&name) {
                    None => ctx.err(
                        item.pos,
                        &ipath,
                        format!("volume {name:?} is not declared in the top-level `volumes:`"),
                    ),
                    Some(VolumeKind::Bind(dir)) => mounts.push((
                        TVal::Inline(vec![
                            ("type".into(), TVal::Str("bind".into())),
                            ("source".into(), TVal::Str(dir.clone())),
                            ("target".into(), TVal::Str(target)),
                            ("read_only".into(), TVal::Bool(read_only)),
                        ]),
                        o,
                    )),
                    Some(VolumeKind::Stack) => vols.push((
                        TVal::Inline(vec![
                            ("source".into(), TVal::Str(local_name(&name))),
                            ("target".into(), TVal::Str(target)),
                            ("read_only".into(), TVal::Bool(read_only)),
                        ]),
                        o,
                    )),
                }
            }
            "bind" => {
                let Some(source) = source else {
                    ctx.err(item.pos, &ipath, "a bind mount needs a `source`");
                    continue;
                };
                if source == "/var/run/docker.sock" || source == "/run/docker.sock" {
                    ctx.warn(item.pos, &ipath, "there is no Docker engine socket on orc nodes: the mount fails unless the node has that file");
                }
                mounts.push((
                    TVal::Inline(vec![
                        ("type".into(), TVal::Str("bind".into())),
                        ("source".into(), TVal::Str(source)),
                        ("target".into(), TVal::Str(target)),
                        ("read_only".into(), TVal::Bool(read_only)),
                    ]),
                    o,
                ));
            }
            "tmpfs" => {
                let mut t = vec![
                    ("type".into(), TVal::Str("tmpfs".into())),
                    ("target".into(), TVal::Str(target)),
                ];
                if let Some(sz) = tsize {
                    t.push(("size".into(), sz));
                }
                if let Some(m) = tmode {
                    t.push(("mode".into(), TVal::Str(format!("{m:04o}"))));
                }
                mounts.push((TVal::Inline(t), o));
            }
            other => ctx.err(
                item.pos,
                &ipath,
                format!("volume type {other:?} is not supported; use bind, volume or tmpfs"),
            ),
        }
    }
}

/// A permission mode: octal by convention when written with a leading 0 (`0440`).
fn octal(ctx: &mut Ctx<'_>, v: &YNode, path: &str) -> Option<i64> {
    let raw = v.raw.clone().unwrap_or_default();
    if raw.len() > 1 && raw.starts_with('0') && raw.chars().all(|c| c.is_digit(8)) {
        return i64::from_str_radix(&raw, 8).ok();
    }
    match &v.v {
        Y::Str(s) => i64::from_str_radix(s, 8).ok().or_else(|| {
            ctx.err(v.pos, path, format!("mode {s:?} is not octal"));
            None
        }),
        _ => ctx.integer(v, path),
    }
}

fn tmpfs_short(ctx: &mut Ctx<'_>, text: &str, n: &YNode, path: &str) -> Option<TVal> {
    let (target, opts) = text.split_once(':').unwrap_or((text, ""));
    let mut t = vec![
        ("type".into(), TVal::Str("tmpfs".into())),
        ("target".into(), TVal::Str(target.to_string())),
    ];
    for opt in opts.split(',').filter(|o| !o.is_empty()) {
        match opt.split_once('=') {
            Some(("size", v)) => t.push(("size".into(), TVal::Str(v.to_string()))),
            Some(("mode", v)) => match i64::from_str_radix(v, 8) {
                Ok(m) => t.push(("mode".into(), TVal::Str(format!("{m:04o}")))),
                Err(_) => {
                    ctx.err(n.pos, path, format!("tmpfs mode {v:?} is not octal"));
                    return None;
                }
            },
            _ => ctx.warn(n.pos, path, format!("tmpfs option `{opt}` is ignored")),
        }
    }
    Some(TVal::Inline(t))
}

fn service_networks(
    ctx: &mut Ctx<'_>,
    v: &YNode,
    path: &str,
    declared: &[String],
) -> Vec<(TVal, Origin)> {
    let mut names: Vec<(String, YNode)> = Vec::new();
    match &v.v {
        Y::Map(entries) => {
            for (k, val) in entries {
                let name = k.as_str().unwrap_or_default().to_string();
                let npath = format!("{path}.{name}");
                for (ok, _, op) in ctx.mapping(val, &npath) {
                    match ok.as_str() {
                        "aliases" => ctx.warn(op, &format!("{npath}.aliases"), "network aliases are ignored: a service is reached by its name (and tasks.NAME)"),
                        other => ctx.warn(op, &format!("{npath}.{other}"), format!("`{other}` is ignored: orc assigns task addresses itself")),
                    }
                }
                let mut node = k.clone();
                node.v = Y::Str(name.clone());
                names.push((name, node));
            }
        }
        _ => names = ctx.strings(v, path),
    }
    let mut out = Vec::new();
    for (name, n) in names {
        if name != "default" && !declared.contains(&name) {
            ctx.err(
                n.pos,
                path,
                format!("network {name:?} is not declared in the top-level `networks:`"),
            );
            continue;
        }
        out.push((TVal::Str(local_name(&name)), ctx.origin(&n, path)));
    }
    out
}

/// A network or volume name as orc spells it: compose allows `_`, `.` and capitals in
/// these stack-internal names (no DNS name depends on them); orc's names are
/// lowercase letters, digits and `-`.
pub(crate) fn local_name(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            '_' | '.' => '-',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

fn renamed(ctx: &mut Ctx<'_>, pos: Pos, path: &str, what: &str, name: &str) {
    let local = local_name(name);
    if local != name {
        ctx.warn(pos, path, format!("{what} {name:?} is named {local:?} in orc (names are lowercase letters, digits and '-')"));
    }
}

fn deploy_keys(
    ctx: &mut Ctx<'_>,
    v: &YNode,
    path: &str,
    s: &mut Svc,
    labels: &mut BTreeMap<String, (String, Origin)>,
) {
    for (k, val, kp) in ctx.mapping(v, path) {
        let kpath = format!("{path}.{k}");
        let o = ctx.origin(val, &kpath);
        match k.as_str() {
            "mode" => {
                if let Some(m) = ctx.string(val, &kpath) {
                    if m.ends_with("-job") {
                        ctx.err(val.pos, &kpath, format!("mode {m:?} (jobs) is not supported: orc runs services"));
                    } else {
                        s.set(&["mode"], TVal::Str(m), o);
                    }
                }
            }
            "replicas" => {
                if let Some(i) = ctx.integer(val, &kpath) {
                    s.set(&["replicas"], TVal::Int(i), o);
                }
            }
            "labels" => {
                for (lk, value, n) in ctx.key_values(val, &kpath, &['=']) {
                    let lo = ctx.origin(&n, &format!("{kpath}.{lk}"));
                    labels.entry(lk).or_insert((value.unwrap_or_default(), lo));
                }
            }
            "placement" => {
                for (pk, pv, pp) in ctx.mapping(val, &kpath) {
                    let ppath = format!("{kpath}.{pk}");
                    match pk.as_str() {
                        "constraints" => {
                            let mut items = Vec::new();
                            for (c, n) in ctx.strings(pv, &ppath) {
                                let compact: String = c.split_whitespace().collect();
                                if compact == "node.platform.os==linux" {
                                    ctx.warn(n.pos, &ppath, "constraint node.platform.os == linux is always true on orc; dropped");
                                    continue;
                                }
                                items.push((TVal::Str(c), ctx.origin(&n, &ppath)));
                            }
                            if !items.is_empty() {
                                s.set(&["constraints"], TVal::Arr(items), ctx.origin(pv, &ppath));
                            }
                        }
                        "preferences" => {
                            let mut items = Vec::new();
                            if let Y::Seq(list) = &pv.v {
                                for (i, p) in list.iter().enumerate() {
                                    let ip = format!("{ppath}[{i}]");
                                    match p.get("spread").and_then(scalar_string) {
                                        Some(sp) => items.push((TVal::Inline(vec![("spread".into(), TVal::Str(sp))]), ctx.origin(p, &ip))),
                                        None => ctx.err(p.pos, &ip, "a placement preference is { spread: node.labels.NAME }"),
                                    }
                                }
                            } else {
                                ctx.expected(pv, &ppath, "a list");
                            }
                            s.set(&["placement", "preferences"], TVal::Arr(items), ctx.origin(pv, &ppath));
                        }
                        "max_replicas_per_node" => ctx.warn(pp, &ppath, "`max_replicas_per_node` is ignored: orc spreads replicas over the nodes but does not cap them per node"),
                        other => ctx.err(pp, &ppath, format!("unknown key `{other}`; placement has constraints, preferences")),
                    }
                }
            }
            "resources" => {
                for (rk, rv, rp) in ctx.mapping(val, &kpath) {
                    let rpath = format!("{kpath}.{rk}");
                    if rk != "limits" && rk != "reservations" {
                        ctx.err(rp, &rpath, format!("unknown key `{rk}`; resources has limits, reservations"));
                        continue;
                    }
                    for (ek, ev, ep) in ctx.mapping(rv, &rpath) {
                        let epath = format!("{rpath}.{ek}");
                        let eo = ctx.origin(ev, &epath);
                        match ek.as_str() {
                            "cpus" => {
                                if let Some(c) = ctx.number(ev, &epath) {
                                    s.set(&["resources", &rk, "cpus"], TVal::Float(c), eo);
                                }
                            }
                            "memory" => {
                                if let Some(sz) = size(ctx, ev, &epath) {
                                    s.set(&["resources", &rk, "memory"], sz, eo);
                                }
                            }
                            "pids" if rk == "limits" => {
                                if let Some(i) = ctx.integer(ev, &epath) {
                                    s.set(&["pids_limit"], TVal::Int(i), eo);
                                }
                            }
                            "devices" | "generic_resources" => ctx.err(ep, &epath, format!("`{ek}` reservations are not supported; map devices with `devices`")),
                            other => ctx.err(ep, &epath, format!("unknown key `{other}`; {rk} has cpus, memory{}", if rk == "limits" { ", pids" } else { "" })),
                        }
                    }
                }
            }
            "restart_policy" => {
                for (rk, rv, rp) in ctx.mapping(val, &kpath) {
                    let rpath = format!("{kpath}.{rk}");
                    let ro = ctx.origin(rv, &rpath);
                    match rk.as_str() {
                        "condition" => {
                            if let Some(c) = ctx.string(rv, &rpath) {
                                s.set(&["restart", "condition"], TVal::Str(c), ro);
                            }
                        }
                        "delay" | "window" => {
                            if let Some(d) = duration(ctx, rv, &rpath) {
                                s.set(&["restart", &rk], TVal::Str(d), ro);
                            }
                        }
                        "max_attempts" => {
                            if let Some(i) = ctx.integer(rv, &rpath) {
                                s.set(&["restart", "max_attempts"], TVal::Int(i), ro);
                            }
                        }
                        other => ctx.err(rp, &rpath, format!("unknown key `{other}`; restart_policy has condition, delay, max_attempts, window")),
                    }
                }
            }
            "update_config" | "rollback_config" => {
                for (uk, uv, up) in ctx.mapping(val, &kpath) {
                    let upath = format!("{kpath}.{uk}");
                    let uo = ctx.origin(uv, &upath);
                    match uk.as_str() {
                        "parallelism" => {
                            if let Some(i) = ctx.integer(uv, &upath) {
                                s.set(&[&k, "parallelism"], TVal::Int(i), uo);
                            }
                        }
                        "delay" | "monitor" => {
                            if let Some(d) = duration(ctx, uv, &upath) {
                                s.set(&[&k, &uk], TVal::Str(d), uo);
                            }
                        }
                        "failure_action" | "order" => {
                            if let Some(t) = ctx.string(uv, &upath) {
                                s.set(&[&k, &uk], TVal::Str(t), uo);
                            }
                        }
                        "max_failure_ratio" => {
                            if let Some(r) = ctx.number(uv, &upath) {
                                s.set(&[&k, "max_failure_ratio"], TVal::Float(r), uo);
                            }
                        }
                        other => ctx.err(up, &upath, format!("unknown key `{other}`; {k} has parallelism, delay, failure_action, monitor, max_failure_ratio, order")),
                    }
                }
            }
            "endpoint_mode" => {
                let m = scalar_string(val).unwrap_or_default();
                if m != "vip" {
                    ctx.warn(kp, &kpath, format!("endpoint_mode {m:?} is ignored: the service name resolves to its tasks' addresses"));
                }
            }
            other => ctx.err(kp, &kpath, format!("unknown key `{other}`; deploy has mode, replicas, labels, placement, resources, restart_policy, update_config, rollback_config, endpoint_mode")),
        }
    }
}

fn healthcheck(ctx: &mut Ctx<'_>, v: &YNode, path: &str, s: &mut Svc) {
    for (k, val, kp) in ctx.mapping(v, path) {
        let kpath = format!("{path}.{k}");
        let o = ctx.origin(val, &kpath);
        match k.as_str() {
            "test" => {
                let args: Vec<String> = match &val.v {
                    Y::Str(t) => vec!["CMD-SHELL".into(), t.clone()],
                    _ => ctx.strings(val, &kpath).into_iter().map(|(s, _)| s).collect(),
                };
                let items = args.into_iter().map(|a| (TVal::Str(a), o.clone())).collect();
                s.set(&["healthcheck", "test"], TVal::Arr(items), o);
            }
            "disable" => {
                if ctx.boolean(val, &kpath) == Some(true) {
                    s.set(&["healthcheck", "test"], TVal::Arr(vec![(TVal::Str("NONE".into()), o.clone())]), o);
                }
            }
            "interval" | "timeout" | "start_period" | "start_interval" => {
                if let Some(d) = duration(ctx, val, &kpath) {
                    s.set(&["healthcheck", &k], TVal::Str(d), o);
                }
            }
            "retries" => {
                if let Some(i) = ctx.integer(val, &kpath) {
                    s.set(&["healthcheck", "retries"], TVal::Int(i), o);
                }
            }
            other => ctx.err(kp, &kpath, format!("unknown key `{other}`; healthcheck has test, interval, timeout, retries, start_period, start_interval, disable")),
        }
    }
}

fn file_refs(ctx: &mut Ctx<'_>, v: &YNode, path: &str) -> Vec<(TVal, Origin)> {
    let mut out = Vec::new();
    let Y::Seq(items) = &v.v else {
        ctx.expected(v, path, "a list");
        return out;
    };
    for (i, item) in items.iter().enumerate() {
        let ipath = format!("{path}[{i}]");
        let o = ctx.origin(item, &ipath);
        match &item.v {
            Y::Map(_) => {
                let mut t = Vec::new();
                for (k, val, kp) in ctx.mapping(item, &ipath) {
                    let kpath = format!("{ipath}.{k}");
                    match k.as_str() {
                        "source" | "target" | "uid" | "gid" => {
                            if let Some(text) = ctx.string(val, &kpath) {
                                t.push((k.clone(), TVal::Str(text)));
                            }
                        }
                        "mode" => {
                            if let Some(m) = octal(ctx, val, &kpath) {
                                t.push(("mode".into(), TVal::Str(format!("{m:04o}"))));
                            }
                        }
                        other => ctx.err(
                            kp,
                            &kpath,
                            format!("unknown key `{other}`; use source, target, uid, gid, mode"),
                        ),
                    }
                }
                out.push((TVal::Inline(t), o));
            }
            _ => {
                if let Some(name) = ctx.string(item, &ipath) {
                    out.push((TVal::Str(name), o));
                }
            }
        }
    }
    out
}

fn depends_on(ctx: &mut Ctx<'_>, v: &YNode, path: &str) -> Vec<(TVal, Origin)> {
    let mut out = Vec::new();
    match &v.v {
        Y::Map(entries) => {
            for (k, val) in entries {
                let name = k.as_str().unwrap_or_default().to_string();
                let dpath = format!("{path}.{name}");
                let mut t = vec![("service".to_string(), TVal::Str(name.clone()))];
                for (dk, dv, dp) in ctx.mapping(val, &dpath) {
                    let kpath = format!("{dpath}.{dk}");
                    match dk.as_str() {
                        "condition" => {
                            if let Some(c) = ctx.string(dv, &kpath) {
                                t.push(("condition".into(), TVal::Str(c)));
                            }
                        }
                        "restart" => ctx.warn(
                            dp,
                            &kpath,
                            "`restart` is ignored: dependencies order only the first start",
                        ),
                        "required" => {
                            if ctx.boolean(dv, &kpath) == Some(false) {
                                ctx.warn(dp, &kpath, "`required: false` is ignored: the dependency must be in the stack");
                            }
                        }
                        other => ctx.err(
                            dp,
                            &kpath,
                            format!("unknown key `{other}`; use condition, restart, required"),
                        ),
                    }
                }
                out.push((TVal::Inline(t), ctx.origin(k, &dpath)));
            }
        }
        _ => {
            for (name, n) in ctx.strings(v, path) {
                out.push((TVal::Str(name), ctx.origin(&n, path)));
            }
        }
    }
    out
}

fn top_networks(ctx: &mut Ctx<'_>, n: &YNode, out: &mut Toml) {
    for (name, v, pos) in ctx.mapping(n, "networks") {
        let path = format!("networks.{name}");
        for (k, val, kp) in ctx.mapping(v, &path) {
            let kpath = format!("{path}.{k}");
            match k.as_str() {
                "external" => {
                    let yes = matches!(val.v, Y::Bool(true)) || matches!(val.v, Y::Map(_));
                    if yes {
                        ctx.warn(kp, &kpath, format!("network {name:?} is external: orc's networks belong to one stack, so it becomes this stack's own network (services of other stacks on it are not reachable)"));
                    }
                }
                "driver" => {
                    let d = scalar_string(val).unwrap_or_default();
                    if !matches!(d.as_str(), "overlay" | "bridge") {
                        ctx.warn(kp, &kpath, format!("driver {d:?} is ignored: orc's networks span the cluster (routed or VXLAN)"));
                    }
                }
                "name" | "attachable" | "labels" | "driver_opts" | "ipam" | "enable_ipv6"
                | "internal" => ctx.warn(kp, &kpath, format!("`{k}` is ignored")),
                k if k.starts_with("x-") => {}
                other => ctx.err(kp, &kpath, format!("unknown key `{other}` in a network")),
            }
        }
        renamed(ctx, pos, &path, "network", &name);
        out.blank();
        out.header(
            &format!("networks.{}", quote_key(&local_name(&name))),
            Origin { pos, path },
        );
    }
}

fn top_volumes(ctx: &mut Ctx<'_>, n: &YNode, out: &mut Toml) {
    for (name, v, pos) in ctx.mapping(n, "volumes") {
        let path = format!("volumes.{name}");
        let table = format!("volumes.{}", quote_key(&local_name(&name)));
        let origin = Origin {
            pos,
            path: path.clone(),
        };
        let mut driver = "local".to_string();
        let mut driver_origin = origin.clone();
        let mut opts: Vec<(String, TVal, Origin)> = Vec::new();
        let mut bind = false;
        for (k, val, kp) in ctx.mapping(v, &path) {
            let kpath = format!("{path}.{k}");
            match k.as_str() {
                "driver" => {
                    driver = ctx.string(val, &kpath).unwrap_or_default();
                    driver_origin = ctx.origin(val, &kpath);
                }
                "driver_opts" => {
                    let get = |k: &str| val.get(k).and_then(scalar_string);
                    if get("type").as_deref() == Some("none")
                        && get("o").is_some_and(|o| o.split(',').any(|x| x == "bind" || x == "rbind"))
                    {
                        bind = true;
                        continue;
                    }
                    for (ok, ov, _) in ctx.mapping(val, &kpath) {
                        let opath = format!("{kpath}.{ok}");
                        let value = match &ov.v {
                            Y::Int(i) => TVal::Int(*i),
                            _ => TVal::Str(scalar_string(ov).unwrap_or_default()),
                        };
                        opts.push((ok, value, ctx.origin(ov, &opath)));
                    }
                }
                "external" => {
                    let yes = matches!(val.v, Y::Bool(true)) || matches!(val.v, Y::Map(_));
                    if yes {
                        ctx.err(kp, &kpath, format!("external volumes are not supported: orc creates the stack's volumes (STACK_{name}); declare a driver (rbd, cephfs or local) — an empty new volume would silently replace the existing data"));
                    }
                }
                "name" => ctx.warn(kp, &kpath, format!("`name` is ignored: the cluster names the volume STACK_{name}")),
                "labels" => ctx.warn(kp, &kpath, "`labels` is ignored"),
                k if k.starts_with("x-") => {}
                other => ctx.err(kp, &kpath, format!("unknown key `{other}`; a volume has driver, driver_opts, external, name, labels")),
            }
        }
        if bind {
            out.comment(&format!(
                "volume {name} is a bind of a node directory (driver_opts type=none, o=bind): its uses are bind mounts"
            ));
            continue;
        }
        if driver == "local" && !opts.is_empty() {
            ctx.err(pos, &format!("{path}.driver_opts"), "driver_opts of the local driver (NFS, CIFS, …) are not supported; use a bind (type: none, o: bind, device: PATH), or the rbd / cephfs drivers");
            continue;
        }
        renamed(ctx, pos, &path, "volume", &name);
        out.blank();
        out.header(&table, origin);
        out.entry(&table, &["driver"], &TVal::Str(driver), driver_origin);
        for (k, value, o) in opts {
            out.entry(&table, &[&k], &value, o);
        }
    }
}

fn top_secrets(ctx: &mut Ctx<'_>, n: &YNode, key: &str, out: &mut Toml) {
    for (name, v, pos) in ctx.mapping(n, key) {
        let path = format!("{key}.{name}");
        let table = format!("{key}.{}", quote_key(&name));
        out.blank();
        out.header(
            &table,
            Origin {
                pos,
                path: path.clone(),
            },
        );
        for (k, val, kp) in ctx.mapping(v, &path) {
            let kpath = format!("{path}.{k}");
            let o = ctx.origin(val, &kpath);
            match k.as_str() {
                "file" => {
                    if let Some(f) = ctx.string(val, &kpath) {
                        out.entry(&table, &["file"], &TVal::Str(ctx.host_path(&f)), o);
                    }
                }
                "external" => {
                    let (yes, ext_name) = match &val.v {
                        Y::Bool(b) => (*b, None),
                        Y::Map(_) => (true, val.get("name").and_then(scalar_string)),
                        _ => {
                            ctx.expected(val, &kpath, "true or false");
                            (false, None)
                        }
                    };
                    out.entry(&table, &["external"], &TVal::Bool(yes), o.clone());
                    if let Some(n) = ext_name {
                        out.entry(&table, &["name"], &TVal::Str(n), o);
                    }
                }
                "name" | "environment" | "content" => {
                    if let Some(t) = ctx.string(val, &kpath) {
                        out.entry(&table, &[&k], &TVal::Str(t), o);
                    }
                }
                "labels" => ctx.warn(kp, &kpath, "`labels` is ignored"),
                "driver" | "driver_opts" | "template_driver" => ctx.err(kp, &kpath, format!("`{k}` is not supported: orc stores {key} itself and does not template them")),
                k if k.starts_with("x-") => {}
                other => ctx.err(kp, &kpath, format!("unknown key `{other}`; use file, external, name, environment{}", if key == "configs" { ", content" } else { "" })),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words_split_like_a_shell() {
        assert_eq!(
            shell_words(r#"sh -c "echo 'a b' \"c\"" d\ e"#).unwrap(),
            vec!["sh", "-c", "echo 'a b' \"c\"", "d e"]
        );
        assert_eq!(shell_words("  ").unwrap(), Vec::<String>::new());
        assert_eq!(shell_words("a '' b").unwrap(), vec!["a", "", "b"]);
        assert!(shell_words("echo 'x").is_err());
    }

    #[test]
    fn short_ports() {
        assert_eq!(short_port("8080:80").unwrap(), vec!["8080:80"]);
        assert_eq!(short_port("53:53/udp").unwrap(), vec!["53:53/udp"]);
        assert_eq!(short_port("0.0.0.0:8080:80/tcp").unwrap(), vec!["8080:80"]);
        assert_eq!(
            short_port("9000-9001:90-91").unwrap(),
            vec!["9000:90", "9001:91"]
        );
        assert!(short_port("80").unwrap_err().contains("never picks"));
        assert!(short_port("127.0.0.1:8080:80")
            .unwrap_err()
            .contains("127.0.0.1"));
        assert!(short_port("[::1]:8080:80").unwrap_err().contains("::1"));
        assert!(short_port("9000-9002:90-91").is_err());
    }
}
