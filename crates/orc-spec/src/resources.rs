//! `resources = { limits = {…}, reservations = {…} }` → [`Resources`].

use crate::document::{Checker, Node, Val};
use crate::units::parse_bytes;
use crate::{ResourceSet, Resources};
use toml_edit::Value;

/// Most CPUs a service may ask for.
pub const MAX_CPUS: f64 = 1024.0;
/// Smallest CPU limit: the kernel's minimum quota (1 ms) over the default 100 ms period.
pub const MIN_CPU_LIMIT: f64 = 0.01;
/// Smallest memory limit or reservation.
pub const MIN_MEMORY: u64 = 4 << 20;

const SET_KEYS: &[&str] = &["cpus", "memory"];

/// One parsed set, with where its values came from (for reservation > limit errors).
struct Parsed<'a> {
    set: ResourceSet,
    cpus: Option<Node<'a>>,
    memory: Option<Node<'a>>,
}

/// Reads the `resources` table of a service.
pub(crate) fn parse_resources(ck: &mut Checker<'_>, node: &Node<'_>) -> Resources {
    let Some(f) = ck.table(node, &["limits", "reservations"]) else {
        return Resources::default();
    };
    let limits = f.get("limits").and_then(|n| parse_set(ck, n, true));
    let reservations = f.get("reservations").and_then(|n| parse_set(ck, n, false));
    if let (Some(l), Some(r)) = (&limits, &reservations) {
        let (lc, rc) = (l.set.nano_cpus, r.set.nano_cpus);
        if let (Some(n), true) = (&r.cpus, lc > 0 && rc > lc) {
            ck.invalid(
                n,
                format!(
                    "reservation of {} CPUs exceeds the limit of {} CPUs",
                    cpus_text(rc),
                    cpus_text(lc)
                ),
            );
        }
        let (lm, rm) = (l.set.memory_bytes, r.set.memory_bytes);
        if let (Some(n), true) = (&r.memory, lm > 0 && rm > lm) {
            ck.invalid(
                n,
                format!("memory reservation of {rm} bytes exceeds the limit of {lm} bytes"),
            );
        }
    }
    Resources {
        limits: limits.map(|p| p.set).unwrap_or_default(),
        reservations: reservations.map(|p| p.set).unwrap_or_default(),
    }
}

fn parse_set<'a>(ck: &mut Checker<'_>, node: &Node<'a>, is_limit: bool) -> Option<Parsed<'a>> {
    let f = ck.table(node, SET_KEYS)?;
    let mut parsed = Parsed {
        set: ResourceSet::default(),
        cpus: None,
        memory: None,
    };
    if let Some(n) = f.get("cpus") {
        if let Some(nano) = cpus(ck, n, is_limit) {
            parsed.set.nano_cpus = nano;
            parsed.cpus = Some(n.clone());
        }
    }
    if let Some(n) = f.get("memory") {
        if let Some(bytes) = memory(ck, n) {
            parsed.set.memory_bytes = bytes;
            parsed.memory = Some(n.clone());
        }
    }
    Some(parsed)
}

/// CPUs (0.5, 2) → nano-CPUs.
fn cpus(ck: &mut Checker<'_>, n: &Node<'_>, is_limit: bool) -> Option<u64> {
    let cpus = ck.number(n)?;
    if !cpus.is_finite() || cpus <= 0.0 {
        ck.invalid(n, format!("cpus must be a positive number (got {cpus})"));
        return None;
    }
    if cpus > MAX_CPUS {
        ck.invalid(n, format!("cpus {cpus} is above the limit of {MAX_CPUS}"));
        return None;
    }
    if is_limit && cpus < MIN_CPU_LIMIT {
        ck.invalid(
            n,
            format!("a cpus limit must be at least {MIN_CPU_LIMIT} (got {cpus})"),
        );
        return None;
    }
    let nano = (cpus * 1e9).round() as u64;
    if nano == 0 {
        ck.invalid(n, format!("cpus {cpus} is below one nano-CPU"));
        return None;
    }
    Some(nano)
}

/// Memory as a size string ("128M") or a byte count.
fn memory(ck: &mut Checker<'_>, n: &Node<'_>) -> Option<u64> {
    let bytes = match n.val {
        Val::Value(Value::Integer(i)) => match u64::try_from(*i.value()) {
            Ok(b) => b,
            Err(_) => {
                ck.invalid(n, "memory must not be negative");
                return None;
            }
        },
        Val::Value(Value::String(s)) => match parse_bytes(s.value()) {
            Ok(b) => b,
            Err(why) => {
                ck.invalid(n, why);
                return None;
            }
        },
        _ => {
            ck.expected(n, "a size such as \"128M\" or a byte count");
            return None;
        }
    };
    if bytes < MIN_MEMORY {
        ck.invalid(
            n,
            format!("memory must be at least 4M ({MIN_MEMORY} bytes), got {bytes} bytes"),
        );
        return None;
    }
    Some(bytes)
}

fn cpus_text(nano: u64) -> String {
    format!("{}", nano as f64 / 1e9)
}
