//! `restart = {…}` and `stop = {…}` → [`RestartPolicy`], [`StopPolicy`].

use crate::document::{Checker, Node, Val};
use crate::signal::parse_signal;
use crate::units::parse_duration;
use crate::{RestartCondition, RestartPolicy, StopPolicy};
use toml_edit::Value;

/// Longest restart delay and stop grace period.
pub const MAX_DELAY_MS: u64 = 3_600_000;
/// Longest restart window.
pub const MAX_WINDOW_MS: u64 = 7 * 24 * 3_600_000;

/// Reads a service's `restart` table; missing keys keep their defaults.
pub(crate) fn parse_restart(ck: &mut Checker<'_>, node: &Node<'_>) -> RestartPolicy {
    let mut policy = RestartPolicy::default();
    let keys = &["condition", "delay", "max_attempts", "window"];
    let Some(f) = ck.table(node, keys) else {
        return policy;
    };
    if let Some(n) = f.get("condition") {
        match ck.string(n) {
            Some("any") => policy.condition = RestartCondition::Any,
            Some("on-failure") => policy.condition = RestartCondition::OnFailure,
            Some("none") => policy.condition = RestartCondition::None,
            Some(other) => ck.invalid(
                n,
                format!(
                    "unknown restart condition {other:?}; use \"any\", \"on-failure\" or \"none\""
                ),
            ),
            None => {}
        }
    }
    if let Some(ms) = f.get("delay").and_then(|n| duration(ck, n, MAX_DELAY_MS)) {
        policy.delay_ms = ms;
    }
    if let Some(n) = f.get("max_attempts") {
        match ck.integer(n) {
            Some(a) if a < 0 => {
                ck.invalid(n, format!("max_attempts must not be negative (got {a})"))
            }
            Some(a) => match u32::try_from(a) {
                Ok(a) => policy.max_attempts = Some(a),
                Err(_) => ck.invalid(n, format!("max_attempts {a} is too large")),
            },
            None => {}
        }
    }
    if let Some(ms) = f.get("window").and_then(|n| duration(ck, n, MAX_WINDOW_MS)) {
        policy.window_ms = ms;
    }
    policy
}

/// Reads a service's `stop` table; missing keys keep their defaults.
pub(crate) fn parse_stop(ck: &mut Checker<'_>, node: &Node<'_>) -> StopPolicy {
    let mut policy = StopPolicy::default();
    let Some(f) = ck.table(node, &["signal", "grace_period"]) else {
        return policy;
    };
    if let Some(n) = f.get("signal") {
        let parsed = match n.val {
            Val::Value(Value::Integer(i)) => Some(parse_signal(&i.value().to_string())),
            Val::Value(Value::String(s)) => Some(parse_signal(s.value())),
            _ => {
                ck.expected(n, "a signal name such as \"SIGTERM\" or a number");
                None
            }
        };
        match parsed {
            Some(Ok(signal)) => policy.signal = signal,
            Some(Err(why)) => ck.invalid(n, why),
            None => {}
        }
    }
    if let Some(ms) = f
        .get("grace_period")
        .and_then(|n| duration(ck, n, MAX_DELAY_MS))
    {
        policy.grace_period_ms = ms;
    }
    policy
}

/// A duration string, at most `max_ms`.
pub(crate) fn duration(ck: &mut Checker<'_>, n: &Node<'_>, max_ms: u64) -> Option<u64> {
    let Some(text) = n.as_str() else {
        ck.expected(n, "a duration string such as \"5s\" or \"1m30s\"");
        return None;
    };
    match parse_duration(text) {
        Ok(ms) if ms > max_ms => {
            ck.invalid(
                n,
                format!(
                    "{} {text:?} is longer than the maximum of {}",
                    n.key,
                    human(max_ms)
                ),
            );
            None
        }
        Ok(ms) => Some(ms),
        Err(why) => {
            ck.invalid(n, why);
            None
        }
    }
}

fn human(ms: u64) -> String {
    if ms.is_multiple_of(3_600_000) {
        format!("{}h", ms / 3_600_000)
    } else {
        format!("{}s", ms / 1000)
    }
}
