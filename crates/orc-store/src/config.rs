//! Store settings, and the snapshot/purge defaults recommended for openraft's `Config`.

/// How the sled database is tuned. Defaults suit a 2 GB board booting from an SD card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    /// sled's page cache, in bytes. The Raft log is read back only by replication and
    /// restart, and the state machine lives in memory, so a small cache costs little.
    pub cache_capacity: u64,
    /// sled's background flush interval. Every write Raft needs durable (log appends,
    /// votes, truncations, purges, snapshots) is flushed explicitly before it is
    /// acknowledged; this interval only bounds how long the `committed` marker can lag
    /// on disk. A flush with nothing dirty writes nothing, so it costs no idle writes.
    /// `None` disables the background flusher.
    pub flush_every_ms: Option<u64>,
}

/// 4 MiB page cache.
pub const DEFAULT_CACHE_CAPACITY: u64 = 4 * 1024 * 1024;
/// Background flush once a second.
pub const DEFAULT_FLUSH_EVERY_MS: u64 = 1000;

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            cache_capacity: DEFAULT_CACHE_CAPACITY,
            flush_every_ms: Some(DEFAULT_FLUSH_EVERY_MS),
        }
    }
}

/// Recommended `snapshot_policy`: a snapshot every this many applied log entries.
/// Cluster state is small (kilobytes to a few megabytes), so a snapshot is cheap, and
/// 1000 entries bound both restart replay time and the log's size on disk.
pub const SNAPSHOT_EVERY_LOGS: u64 = 1000;

/// Recommended `max_in_snapshot_log_to_keep`: entries kept after a snapshot, so a
/// follower that lags by fewer than this catches up from the log rather than by a
/// snapshot transfer.
pub const LOGS_KEPT_AFTER_SNAPSHOT: u64 = 500;

/// openraft's `Config` with orc's snapshot and purge defaults
/// ([`SNAPSHOT_EVERY_LOGS`], [`LOGS_KEPT_AFTER_SNAPSHOT`]); timeouts are left at
/// openraft's defaults for the caller to set. Validate it before use
/// (`Arc::new(cfg.validate()?)`).
pub fn default_raft_config(cluster_name: &str) -> openraft::Config {
    openraft::Config {
        cluster_name: cluster_name.to_string(),
        snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(SNAPSHOT_EVERY_LOGS),
        max_in_snapshot_log_to_keep: LOGS_KEPT_AFTER_SNAPSHOT,
        purge_batch_size: 256,
        ..Default::default()
    }
}
