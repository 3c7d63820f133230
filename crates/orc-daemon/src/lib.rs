//! orc-daemon
