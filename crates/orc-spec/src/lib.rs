//! stack.toml for orc: parse, validate, normalise. Pure: no I/O beyond reading the file.
mod types;
pub use types::*;
