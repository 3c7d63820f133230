//! `[volumes.NAME]` tables → [`VolumeSpec`]s, and a service's
//! `volumes = [{ source, target }]` → [`Mount::Volume`]s.

use crate::document::{Checker, Node};
use crate::names::{check_absolute_path, check_name, clean_path, MAX_NAME};
use crate::{Mount, ServiceMode, VolumeDriver, VolumeSpec};
use std::collections::BTreeMap;

const VOLUME_KEYS: &[&str] = &["driver", "size", "pool", "fs_type", "fs_name", "group"];
const DRIVERS: &str = "\"rbd\", \"cephfs\" or \"local\"";
const SERVICE_VOLUME_KEYS: &[&str] = &["source", "target", "read_only"];

/// The stack's volumes, for resolving the services' `volumes` entries.
pub(crate) struct StackVolumes<'a> {
    pub stack: &'a str,
    pub volumes: &'a BTreeMap<String, VolumeSpec>,
    /// The stack's secrets and configs (for the services' references).
    pub secrets: &'a BTreeMap<String, crate::SecretSpec>,
    pub configs: &'a BTreeMap<String, crate::SecretSpec>,
}

/// Reads the `[volumes]` table.
pub(crate) fn parse_volumes(
    ck: &mut Checker<'_>,
    stack: &str,
    node: &Node<'_>,
) -> BTreeMap<String, VolumeSpec> {
    let mut out = BTreeMap::new();
    for entry in ck.entries(node).unwrap_or_default() {
        let name = &entry.key;
        if let Err(why) = check_name(name) {
            ck.error(&entry.key_span, &entry.path, why);
            continue;
        }
        let full = stack.len() + 1 + name.len();
        if full > MAX_NAME {
            ck.error(
                &entry.key_span,
                &entry.path,
                format!("the full volume name \"{stack}_{name}\" is {full} characters long; the limit is {MAX_NAME}"),
            );
        }
        if let Some(spec) = parse_volume(ck, &entry) {
            out.insert(name.clone(), spec);
        }
    }
    out
}

fn parse_volume(ck: &mut Checker<'_>, node: &Node<'_>) -> Option<VolumeSpec> {
    let f = ck.table(node, VOLUME_KEYS)?;
    let Some(driver_node) = f.get("driver") else {
        ck.missing(&f, "driver", &format!(": {DRIVERS}"));
        return None;
    };
    let kind = ck.string(driver_node)?;
    let allowed: &[&str] = match kind {
        "rbd" => &["driver", "size", "pool", "fs_type"],
        "cephfs" => &["driver", "size", "fs_name", "group"],
        "local" => &["driver"],
        _ => {
            ck.invalid(
                driver_node,
                format!("unknown volume driver {kind:?}; use {DRIVERS}"),
            );
            return None;
        }
    };
    for key in VOLUME_KEYS {
        if let (false, Some(n)) = (allowed.contains(key), f.get(key)) {
            ck.error(
                &n.key_span,
                &n.path,
                format!(
                    "`{key}` does not apply to {kind} volumes (they take: {})",
                    allowed.join(", ")
                ),
            );
        }
    }
    let size = f.get("size").and_then(|n| crate::mount::size(ck, n, "10G"));
    let text = |ck: &mut Checker<'_>, key: &str| -> Option<String> {
        let n = f.get(key)?;
        let s = ck.string(n)?;
        if s.is_empty() || s.contains(['/', '@', ' ']) {
            ck.invalid(n, format!("{key} must be a plain Ceph name, not {s:?}"));
            return None;
        }
        Some(s.to_string())
    };
    let driver = match kind {
        "rbd" => {
            let fs_type = text(ck, "fs_type").unwrap_or_else(|| "ext4".into());
            if !matches!(fs_type.as_str(), "ext4" | "xfs") {
                if let Some(n) = f.get("fs_type") {
                    ck.invalid(
                        n,
                        format!("unsupported fs_type {fs_type:?}; use \"ext4\" or \"xfs\""),
                    );
                }
            }
            if size.is_none() && f.get("size").is_none() {
                ck.missing(&f, "size", ": the image size, e.g. \"10G\"");
            }
            VolumeDriver::Rbd {
                pool: text(ck, "pool").unwrap_or_else(|| "rbd".into()),
                fs_type,
            }
        }
        "cephfs" => VolumeDriver::CephFs {
            fs_name: text(ck, "fs_name").unwrap_or_else(|| "cephfs".into()),
            group: text(ck, "group"),
        },
        _ => VolumeDriver::Local,
    };
    if let (VolumeDriver::Rbd { .. }, Some(0)) = (&driver, size) {
        if let Some(n) = f.get("size") {
            ck.invalid(n, "an rbd image needs a size above 0");
        }
    }
    Some(VolumeSpec {
        driver,
        size_bytes: size.unwrap_or(0),
    })
}

/// Reads a service's `volumes` array; every source must be a volume of the stack, and
/// a single-writer volume (rbd, local) serves one task of one service only. `uses`
/// collects (volume, service path) across the stack's services.
pub(crate) fn parse_service_volumes<'a>(
    ck: &mut Checker<'_>,
    stack: &StackVolumes<'_>,
    mode: ServiceMode,
    uses: &mut Vec<(String, String)>,
    node: &Node<'a>,
) -> Vec<(Mount, Node<'a>)> {
    let expected = "an array of tables, e.g. [{ source = \"db\", target = \"/data\" }]";
    let Some(elements) = ck.array(node, expected) else {
        return Vec::new();
    };
    let service_path = node.path.trim_end_matches(".volumes").to_string();
    let mut out = Vec::new();
    for element in &elements {
        let Some(f) = ck.table(element, SERVICE_VOLUME_KEYS) else {
            continue;
        };
        let source = match f.get("source") {
            None => {
                ck.missing(&f, "source", ": the name of a [volumes.NAME] table");
                None
            }
            Some(n) => ck.string(n).and_then(|s| match stack.volumes.get(s) {
                Some(v) => {
                    check_use(ck, n, s, v, mode, uses, &service_path);
                    Some((s.to_string(), v.clone()))
                }
                None => {
                    let known: Vec<&str> = stack.volumes.keys().map(String::as_str).collect();
                    let hint = if known.is_empty() {
                        "the stack declares no volumes; add a [volumes.NAME] table".to_string()
                    } else {
                        format!("declared volumes: {}", known.join(", "))
                    };
                    ck.invalid(n, format!("unknown volume {s:?}; {hint}"));
                    None
                }
            }),
        };
        let target = match f.get("target") {
            None => {
                ck.missing(&f, "target", ": an absolute path");
                None
            }
            Some(n) => ck.string(n).and_then(|p| match check_absolute_path(p) {
                Ok(()) if clean_path(p) == "/" => {
                    ck.invalid(n, "cannot mount over the container's root \"/\"");
                    None
                }
                Ok(()) => Some(clean_path(p)),
                Err(why) => {
                    ck.invalid(n, format!("target {why}"));
                    None
                }
            }),
        };
        let read_only = f
            .get("read_only")
            .and_then(|n| ck.boolean(n))
            .unwrap_or(false);
        if let (Some((short, volume)), Some(target), Some(target_node)) =
            (source, target, f.get("target"))
        {
            let mount = Mount::Volume {
                name: format!("{}_{short}", stack.stack),
                target,
                read_only,
                volume,
            };
            out.push((mount, target_node.clone()));
        }
    }
    out
}

/// A single-writer volume: one replica, one service.
fn check_use(
    ck: &mut Checker<'_>,
    n: &Node<'_>,
    name: &str,
    v: &VolumeSpec,
    mode: ServiceMode,
    uses: &mut Vec<(String, String)>,
    service_path: &str,
) {
    if !v.driver.single_writer() {
        return;
    }
    let driver = v.driver.name();
    match mode {
        ServiceMode::Replicated { replicas } if replicas <= 1 => {}
        ServiceMode::Replicated { replicas } => ck.invalid(
            n,
            format!("{driver} volume {name:?} has one writer at a time, but the service asks for {replicas} replicas; use one replica or a cephfs volume"),
        ),
        ServiceMode::Global => ck.invalid(
            n,
            format!("{driver} volume {name:?} has one writer at a time, so a global service cannot use it; use a cephfs volume"),
        ),
    }
    if let Some((_, other)) = uses.iter().find(|(v, s)| v == name && s != service_path) {
        ck.invalid(
            n,
            format!("{driver} volume {name:?} is already used by {other}; it has one writer at a time (a cephfs volume can be shared)"),
        );
    }
    uses.push((name.to_string(), service_path.to_string()));
}
