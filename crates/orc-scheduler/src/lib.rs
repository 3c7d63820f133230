//! orc-scheduler
