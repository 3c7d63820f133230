//! End-to-end test harness for orc (filled in by the runtime/e2e work).
