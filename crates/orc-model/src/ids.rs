use std::fmt::Write;

/// Milliseconds since the Unix epoch. Chosen by the proposer, never by apply.
pub type Timestamp = u64;
/// A node's id; managers use the same number as their Raft node id.
pub type NodeId = u64;
pub type ServiceId = String;
/// Also the containerd container id of the task's container, so unique across nodes.
pub type TaskId = String;

/// Hex-encodes random bytes the proposer drew into an id (12 bytes give 24 hex chars).
/// Apply never draws randomness itself: it must stay deterministic.
pub fn new_id(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// The first 12 characters of an id, as listings show it.
pub fn short_id(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}
