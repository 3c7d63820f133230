//! I/O adapter.
