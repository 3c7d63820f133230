//! orc-runtime
