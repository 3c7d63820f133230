//! orc-store
