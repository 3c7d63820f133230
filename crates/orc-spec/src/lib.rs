//! stack.toml for orc: parse, validate, normalise. Pure: no I/O beyond reading the file.
//!
//! [`parse_stack`] turns the text of a stack file into a [`StackSpec`], or into every
//! problem it found, each with file, line, column and the dotted key at fault
//! ([`Diagnostic`]). The format is documented in `docs/stack.md`.
#![warn(missing_docs)]

pub mod compose;
mod constraint;
mod document;
mod error;
mod health;
mod mount;
mod names;
mod network;
mod notes;
mod options;
mod placement;
mod policy;
mod resources;
mod service;
mod signal;
mod stack;
mod types;
mod units;
mod value;
mod volume;

pub use constraint::parse_constraint;
pub use error::locate;
pub use error::{Diagnostic, SpecError};
pub use health::{
    effective_healthcheck, EffectiveHealthCheck, ImageHealthcheck, DEFAULT_INTERVAL_MS,
    DEFAULT_RETRIES, DEFAULT_START_INTERVAL_MS, DEFAULT_START_PERIOD_MS, DEFAULT_TIMEOUT_MS,
};
pub use names::check_name;
pub use notes::not_enforced;
pub use options::{
    check_extra_host, check_secret_name, check_sysctl, file_ref, normalize_capability,
    parse_condition, parse_device, parse_failure_action, parse_health_test, parse_order, ratio_ppm,
    LINUX_CAPABILITIES,
};
pub use policy::{MAX_DELAY_MS, MAX_WINDOW_MS};
pub use resources::{MAX_CPUS, MIN_CPU_LIMIT, MIN_MEMORY};
pub use service::MAX_REPLICAS;
pub use signal::parse_signal;
pub use stack::parse_stack;
pub use types::*;
pub use units::{parse_bytes, parse_duration};
pub use value::ClearValue;

use std::path::Path;

/// Reads the stack file at `path` and parses it with [`parse_stack`]; the stack is
/// named `name_override`, else by the file's `name` key, else by the file's stem.
pub fn load_stack(path: &Path, name_override: Option<&str>) -> Result<StackSpec, SpecError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| SpecError::Io {
        file: file.clone(),
        source,
    })?;
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    parse_stack(&text, &file, name_override, &stem)
}
