//! Figures → the `orc_` metric families (pure). The names, types and labels here are
//! the documented interface (docs/metrics.md): change them only with the docs.

use crate::expo::{Exposition, Histogram, Kind};
use crate::node::NodeSample;
use crate::TaskUsage;
use orc_model::{ClusterState, NodeStatus, TaskState};
use std::collections::BTreeMap;

/// `orc_node_info`'s labels.
#[derive(Debug, Clone, Default)]
pub struct NodeIdentity {
    pub node_id: String,
    pub hostname: String,
    pub role: String,
    pub version: String,
}

pub fn node(e: &mut Exposition, id: &NodeIdentity, s: &NodeSample) {
    e.gauge(
        "orc_node_info",
        "This node: always 1, with its identity as labels.",
    )
    .sample(
        &[
            ("node_id", &id.node_id),
            ("hostname", &id.hostname),
            ("role", &id.role),
            ("version", &id.version),
        ],
        1.0,
    );
    if let Some(cpu) = &s.cpu {
        let mut f = e.counter(
            "orc_node_cpu_seconds_total",
            "CPU time of all the node's CPUs by mode (/proc/stat).",
        );
        for (mode, secs) in &cpu.modes {
            f.sample(&[("mode", mode)], *secs);
        }
        e.single(
            "orc_node_cpus",
            Kind::Gauge,
            "Online CPUs.",
            cpu.cpus as f64,
        );
    }
    if let Some(m) = s.memory {
        e.single(
            "orc_node_memory_total_bytes",
            Kind::Gauge,
            "Physical memory (MemTotal).",
            m.total as f64,
        );
        e.single(
            "orc_node_memory_available_bytes",
            Kind::Gauge,
            "Memory available to new work without swapping (MemAvailable).",
            m.available as f64,
        );
    }
    if let Some([l1, l5, l15]) = s.load {
        e.single("orc_node_load1", Kind::Gauge, "Load average, 1 minute.", l1);
        e.single(
            "orc_node_load5",
            Kind::Gauge,
            "Load average, 5 minutes.",
            l5,
        );
        e.single(
            "orc_node_load15",
            Kind::Gauge,
            "Load average, 15 minutes.",
            l15,
        );
    }
    if !s.filesystems.is_empty() {
        let mut f = e.gauge(
            "orc_node_filesystem_free_bytes",
            "Bytes available to unprivileged users (statvfs f_bavail) on / and the data dir.",
        );
        for (path, space) in &s.filesystems {
            f.sample(&[("path", path)], space.free as f64);
        }
        let mut f = e.gauge("orc_node_filesystem_size_bytes", "Filesystem size.");
        for (path, space) in &s.filesystems {
            f.sample(&[("path", path)], space.size as f64);
        }
    }
    if !s.thermal.is_empty() {
        let mut f = e.gauge(
            "orc_node_temperature_celsius",
            "Thermal zone temperatures (/sys/class/thermal).",
        );
        for t in &s.thermal {
            f.sample(&[("zone", &t.zone), ("type", &t.kind)], t.celsius);
        }
    }
    let life: Vec<_> = s
        .wear
        .iter()
        .flat_map(|w| {
            [("A", w.life_time_a), ("B", w.life_time_b)]
                .into_iter()
                .filter_map(move |(kind, v)| Some((w.device.as_str(), kind, v?)))
        })
        .collect();
    if !life.is_empty() {
        let mut f = e.gauge(
            "orc_node_mmc_life_time_used",
            "eMMC estimated life used, in tenths (1 = 0-10 %, 11 = past its rated life), per memory type.",
        );
        for (device, kind, v) in life {
            f.sample(&[("device", device), ("kind", kind)], f64::from(v));
        }
    }
    if s.wear.iter().any(|w| w.pre_eol.is_some()) {
        let mut f = e.gauge(
            "orc_node_mmc_pre_eol",
            "eMMC reserved blocks state: 1 normal, 2 warning (80 % used), 3 urgent.",
        );
        for w in &s.wear {
            if let Some(v) = w.pre_eol {
                f.sample(&[("device", &w.device)], f64::from(v));
            }
        }
    }
    if let Some(rss) = s.self_rss {
        e.single(
            "orc_daemon_resident_memory_bytes",
            Kind::Gauge,
            "The orc daemon's resident set size.",
            rss as f64,
        );
    }
    if let Some(w) = s.self_write_bytes {
        e.single(
            "orc_daemon_disk_written_bytes_total",
            Kind::Counter,
            "Bytes the orc daemon caused to be written to storage (/proc/self/io write_bytes): SD card wear.",
            w as f64,
        );
    }
}

/// A running task on this node and what it used.
#[derive(Debug, Clone)]
pub struct TaskSample {
    pub task: String,
    pub service: String,
    pub stack: String,
    pub slot: u32,
    pub usage: TaskUsage,
    /// Whether the task serves (runs and, with a health check, is healthy): the
    /// value of `orc_task_health`. `None`: not known (no sample).
    pub serves: Option<bool>,
}

pub fn tasks(e: &mut Exposition, tasks: &[TaskSample]) {
    type Get = fn(&TaskUsage) -> Option<f64>;
    let families: [(&str, Kind, &str, Get); 7] = [
        (
            "orc_task_cpu_seconds_total",
            Kind::Counter,
            "CPU time the task's cgroup used.",
            |u| Some(u.cpu_seconds),
        ),
        (
            "orc_task_memory_bytes",
            Kind::Gauge,
            "Memory the task's cgroup uses (memory.current, v1 memory.usage_in_bytes; page cache included).",
            |u| Some(u.memory_bytes as f64),
        ),
        (
            "orc_task_memory_limit_bytes",
            Kind::Gauge,
            "The task's memory limit; absent when it has none.",
            |u| u.memory_limit_bytes.map(|v| v as f64),
        ),
        (
            "orc_task_block_read_bytes_total",
            Kind::Counter,
            "Bytes the task read from block devices.",
            |u| Some(u.block_read_bytes as f64),
        ),
        (
            "orc_task_block_written_bytes_total",
            Kind::Counter,
            "Bytes the task wrote to block devices.",
            |u| Some(u.block_write_bytes as f64),
        ),
        (
            "orc_task_network_receive_bytes_total",
            Kind::Counter,
            "Bytes received in the task's network namespace (all interfaces but lo; the node's own with host networking).",
            |u| Some(u.net_rx_bytes as f64),
        ),
        (
            "orc_task_network_transmit_bytes_total",
            Kind::Counter,
            "Bytes sent from the task's network namespace (all interfaces but lo).",
            |u| Some(u.net_tx_bytes as f64),
        ),
    ];
    if tasks.is_empty() {
        return;
    }
    for (name, kind, help, get) in families {
        let mut f = e.family(name, kind, help);
        for t in tasks {
            if let Some(v) = get(&t.usage) {
                let slot = t.slot.to_string();
                f.sample(
                    &[
                        ("service", &t.service),
                        ("task", &t.task),
                        ("slot", &slot),
                        ("stack", &t.stack),
                    ],
                    v,
                );
            }
        }
    }
    let mut f = e.family(
        "orc_task_health",
        Kind::Gauge,
        "1 while the task serves (runs and, with a health check, its probes found it healthy); 0 while its check is starting or unhealthy.",
    );
    for t in tasks {
        if let Some(serves) = t.serves {
            let slot = t.slot.to_string();
            f.sample(
                &[
                    ("service", &t.service),
                    ("task", &t.task),
                    ("slot", &slot),
                    ("stack", &t.stack),
                ],
                if serves { 1.0 } else { 0.0 },
            );
        }
    }
}

/// A service's replica counts as `orc service ls` shows them.
#[derive(Debug, Clone)]
pub struct ServiceCounts {
    pub service: String,
    pub stack: String,
    pub desired: u64,
    pub running: u64,
}

/// A pending task's reason as a short label: the scheduler's message up to its
/// details in parentheses ("no suitable node (2 nodes: …)" → "no suitable node").
pub fn reason_label(message: &str) -> String {
    let head = message.split(['(', ':']).next().unwrap_or("").trim();
    let head: String = head.chars().take(60).collect();
    if head.is_empty() {
        "unknown".into()
    } else {
        head
    }
}

/// The update states, as `orc_service_update_state` labels them.
pub const UPDATE_STATES: [&str; 6] = [
    "updating",
    "paused",
    "completed",
    "rollback_started",
    "rollback_paused",
    "rollback_completed",
];

/// What a manager knows of the cluster from its replicated state.
pub fn cluster(e: &mut Exposition, state: &ClusterState, services: &[ServiceCounts]) {
    let mut f = e.gauge(
        "orc_service_replicas_desired",
        "Tasks the service wants running (replicas, or eligible nodes for a global service).",
    );
    for s in services {
        f.sample(
            &[("service", &s.service), ("stack", &s.stack)],
            s.desired as f64,
        );
    }
    let mut f = e.gauge(
        "orc_service_replicas_running",
        "The service's tasks that run and are meant to.",
    );
    for s in services {
        f.sample(
            &[("service", &s.service), ("stack", &s.stack)],
            s.running as f64,
        );
    }
    // Each service's update (or rollback) state, one-hot over the states Docker names,
    // for services that had one; `revision` is the version it rolls out.
    let mut f = e.gauge(
        "orc_service_update_state",
        "1 for the state of the service's last update or rollback (updating, paused, completed, rollback_started, rollback_paused, rollback_completed), 0 for the others.",
    );
    for svc in state.services.values() {
        let Some(u) = &svc.rollout.update else {
            continue;
        };
        for st in UPDATE_STATES {
            f.sample(
                &[("service", &svc.name), ("stack", &svc.stack), ("state", st)],
                if st == u.state.as_str() { 1.0 } else { 0.0 },
            );
        }
    }
    let mut by_state: BTreeMap<TaskState, u64> = BTreeMap::new();
    let mut pending: BTreeMap<String, u64> = BTreeMap::new();
    for t in state.tasks.values() {
        *by_state.entry(t.status.state).or_default() += 1;
        if t.status.state == TaskState::Pending && t.desired_state == TaskState::Running {
            *pending.entry(reason_label(&t.status.message)).or_default() += 1;
        }
    }
    let mut f = e.gauge(
        "orc_tasks",
        "Tasks the cluster keeps (history included) by observed state.",
    );
    for (st, n) in &by_state {
        f.sample(&[("state", st.as_str())], *n as f64);
    }
    let mut f = e.gauge(
        "orc_tasks_pending",
        "Tasks waiting to be placed, by the scheduler's reason.",
    );
    for (reason, n) in &pending {
        f.sample(&[("reason", reason)], *n as f64);
    }
    let mut nodes: BTreeMap<(&str, &str), u64> = BTreeMap::new();
    for st in [NodeStatus::Ready, NodeStatus::Down, NodeStatus::Unknown] {
        for role in ["manager", "worker"] {
            nodes.insert((st.as_str(), role), 0);
        }
    }
    for n in state.nodes.values() {
        *nodes
            .entry((n.status.as_str(), n.role.as_str()))
            .or_default() += 1;
    }
    let mut f = e.gauge("orc_nodes", "Nodes by status and role.");
    for ((status, role), n) in &nodes {
        f.sample(&[("status", status), ("role", role)], *n as f64);
    }
    e.single(
        "orc_state_revision",
        Kind::Gauge,
        "Raft log index of the last entry that changed the replicated state.",
        state.revision as f64,
    );
    if let Some(h) = &state.vip_holder {
        let id = format!("{:016x}", h.node);
        let host = state
            .nodes
            .get(&h.node)
            .map(|n| n.hostname.as_str())
            .unwrap_or("");
        e.gauge(
            "orc_vip_holder_since_seconds",
            "The manager holding the cluster VIP (as it reported on becoming VRRP master) and since when, in Unix seconds.",
        )
        .sample(&[("node_id", &id), ("hostname", host)], h.since as f64 / 1000.0);
    }
}

/// This manager's Raft figures.
#[derive(Debug, Clone, Default)]
pub struct RaftFigures {
    pub term: u64,
    pub commit_index: u64,
    pub applied_index: u64,
    pub is_leader: bool,
    pub leader_changes: u64,
    pub snapshot_age_seconds: Option<f64>,
    pub snapshot_index: Option<u64>,
    pub apply_latency: Option<Histogram>,
    pub voters: u64,
}

pub fn raft(e: &mut Exposition, r: &RaftFigures) {
    e.single(
        "orc_raft_term",
        Kind::Gauge,
        "This manager's current Raft term.",
        r.term as f64,
    );
    e.single(
        "orc_raft_commit_index",
        Kind::Gauge,
        "The highest log index this manager knows committed.",
        r.commit_index as f64,
    );
    e.single(
        "orc_raft_applied_index",
        Kind::Gauge,
        "The highest log index applied to this manager's state.",
        r.applied_index as f64,
    );
    e.single(
        "orc_raft_is_leader",
        Kind::Gauge,
        "1 while this manager leads.",
        if r.is_leader { 1.0 } else { 0.0 },
    );
    e.single(
        "orc_raft_leader_changes_total",
        Kind::Counter,
        "Times this manager saw the leader change since the daemon started.",
        r.leader_changes as f64,
    );
    e.single(
        "orc_raft_voters",
        Kind::Gauge,
        "Voters in the Raft membership.",
        r.voters as f64,
    );
    if let Some(i) = r.snapshot_index {
        e.single(
            "orc_raft_snapshot_index",
            Kind::Gauge,
            "The last log index this manager's Raft snapshot covers (the log before it is compacted).",
            i as f64,
        );
    }
    if let Some(age) = r.snapshot_age_seconds {
        e.single(
            "orc_raft_snapshot_age_seconds",
            Kind::Gauge,
            "Seconds since this manager's Raft snapshot last changed (built or installed); absent until it changed once since the daemon started.",
            age,
        );
    }
    if let Some(h) = &r.apply_latency {
        e.family(
            "orc_raft_apply_latency_seconds",
            Kind::Histogram,
            "Time from proposing a command on this manager to its being applied here.",
        )
        .histogram(&[], h);
    }
}

/// The leader's liveness and the VIP figures of this manager.
#[derive(Debug, Clone, Default)]
pub struct ManagerFigures {
    /// On the leader: each other node (id, hostname) and the seconds since its last
    /// heartbeat; empty elsewhere.
    pub heartbeat_ages: Vec<(String, String, f64)>,
    /// Nodes with a heartbeat within the grace period (the leader's live sessions).
    pub open_sessions: Option<u64>,
    /// Nodes this manager marked down for missed heartbeats while leading.
    pub heartbeat_failures: Option<u64>,
    /// VRRP state ("master", "backup", "initialize") when a VIP is set.
    pub vrrp_state: Option<String>,
    pub vrrp_transitions: Option<u64>,
}

pub const VRRP_STATES: [&str; 3] = ["initialize", "backup", "master"];

pub fn manager(e: &mut Exposition, m: &ManagerFigures) {
    if !m.heartbeat_ages.is_empty() {
        let mut f = e.gauge(
            "orc_node_heartbeat_age_seconds",
            "Seconds since the leader last heard a node's heartbeat (leader only).",
        );
        for (id, host, age) in &m.heartbeat_ages {
            f.sample(&[("node_id", id), ("hostname", host)], *age);
        }
    }
    if let Some(n) = m.open_sessions {
        e.single(
            "orc_sessions_open",
            Kind::Gauge,
            "Nodes whose heartbeats reach this leader within the grace period (leader only).",
            n as f64,
        );
    }
    if let Some(n) = m.heartbeat_failures {
        e.single(
            "orc_heartbeat_failures_total",
            Kind::Counter,
            "Nodes this manager marked down for missed heartbeats while leading.",
            n as f64,
        );
    }
    if let Some(state) = &m.vrrp_state {
        let mut f = e.gauge(
            "orc_vrrp_state",
            "1 for this manager's VRRP state for the cluster VIP, 0 for the others.",
        );
        for s in VRRP_STATES {
            f.sample(&[("state", s)], if s == state { 1.0 } else { 0.0 });
        }
    }
    if let Some(n) = m.vrrp_transitions {
        e.single(
            "orc_vrrp_transitions_total",
            Kind::Counter,
            "VRRP state changes of this manager's instance.",
            n as f64,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::{CpuSeconds, FsSpace, Memory, Wear};

    #[test]
    fn node_families() {
        let s = NodeSample {
            cpu: Some(CpuSeconds {
                modes: vec![("user", 1.5), ("idle", 10.0)],
                cpus: 4,
            }),
            memory: Some(Memory {
                total: 2 << 30,
                available: 1 << 30,
            }),
            load: Some([0.5, 0.25, 0.125]),
            filesystems: vec![("/".into(), FsSpace { free: 10, size: 20 })],
            wear: vec![Wear {
                device: "mmcblk1".into(),
                life_time_a: Some(2),
                life_time_b: None,
                pre_eol: Some(1),
            }],
            self_rss: Some(8 << 20),
            ..NodeSample::default()
        };
        let mut e = Exposition::new();
        let id = NodeIdentity {
            node_id: "42".into(),
            hostname: "rock1".into(),
            role: "manager".into(),
            version: "0.1.0".into(),
        };
        node(&mut e, &id, &s);
        let text = e.finish();
        for line in [
            "orc_node_info{node_id=\"42\",hostname=\"rock1\",role=\"manager\",version=\"0.1.0\"} 1",
            "orc_node_cpu_seconds_total{mode=\"user\"} 1.5",
            "orc_node_cpus 4",
            "orc_node_memory_total_bytes 2147483648",
            "orc_node_load15 0.125",
            "orc_node_filesystem_free_bytes{path=\"/\"} 10",
            "orc_node_mmc_life_time_used{device=\"mmcblk1\",kind=\"A\"} 2",
            "orc_node_mmc_pre_eol{device=\"mmcblk1\"} 1",
            "orc_daemon_resident_memory_bytes 8388608",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
        }
        assert!(!text.contains("orc_node_temperature_celsius"));
        assert!(!text.contains("kind=\"B\""));
    }

    #[test]
    fn task_families_skip_absent_limits() {
        let t = TaskSample {
            task: "t1".into(),
            service: "s_web".into(),
            stack: "s".into(),
            slot: 2,
            usage: TaskUsage {
                cpu_seconds: 3.25,
                memory_bytes: 4096,
                ..TaskUsage::default()
            },
            serves: Some(false),
        };
        let mut e = Exposition::new();
        tasks(&mut e, &[t]);
        let text = e.finish();
        let labels = "{service=\"s_web\",task=\"t1\",slot=\"2\",stack=\"s\"}";
        assert!(text.contains(&format!("orc_task_cpu_seconds_total{labels} 3.25\n")));
        assert!(text.contains(&format!("orc_task_memory_bytes{labels} 4096\n")));
        assert!(text.contains(&format!("orc_task_health{labels} 0\n")));
        assert!(!text.contains("orc_task_memory_limit_bytes{"));
        assert!(text.contains("# TYPE orc_task_memory_limit_bytes gauge"));
    }

    #[test]
    fn reasons_are_short() {
        assert_eq!(
            reason_label("no suitable node (2 nodes: 2 lack memory)"),
            "no suitable node"
        );
        assert_eq!(
            reason_label("registry unreachable: next pull try 01:02:05"),
            "registry unreachable"
        );
        assert_eq!(reason_label(""), "unknown");
    }

    #[test]
    fn raft_families() {
        let mut h = Histogram::new(&[0.01, 0.1]);
        h.observe(0.005);
        let mut e = Exposition::new();
        raft(
            &mut e,
            &RaftFigures {
                term: 3,
                commit_index: 40,
                applied_index: 39,
                is_leader: true,
                snapshot_index: Some(20),
                apply_latency: Some(h),
                voters: 3,
                ..RaftFigures::default()
            },
        );
        let text = e.finish();
        for line in [
            "orc_raft_term 3",
            "orc_raft_commit_index 40",
            "orc_raft_applied_index 39",
            "orc_raft_is_leader 1",
            "orc_raft_snapshot_index 20",
            "orc_raft_voters 3",
            "orc_raft_apply_latency_seconds_bucket{le=\"0.01\"} 1",
            "orc_raft_apply_latency_seconds_count 1",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
        }
        assert!(!text.contains("orc_raft_snapshot_age_seconds"));
    }

    #[test]
    fn vrrp_state_is_one_hot() {
        let mut e = Exposition::new();
        manager(
            &mut e,
            &ManagerFigures {
                vrrp_state: Some("backup".into()),
                ..ManagerFigures::default()
            },
        );
        let text = e.finish();
        assert!(text.contains("orc_vrrp_state{state=\"backup\"} 1\n"));
        assert!(text.contains("orc_vrrp_state{state=\"master\"} 0\n"));
        assert!(!text.contains("orc_sessions_open"));
        assert!(!text.contains("orc_node_heartbeat_age_seconds"));
        let mut e = Exposition::new();
        manager(
            &mut e,
            &ManagerFigures {
                heartbeat_ages: vec![("7".into(), "rock7".into(), 0.25)],
                open_sessions: Some(1),
                heartbeat_failures: Some(2),
                ..ManagerFigures::default()
            },
        );
        let text = e.finish();
        assert!(text
            .contains("orc_node_heartbeat_age_seconds{node_id=\"7\",hostname=\"rock7\"} 0.25\n"));
        assert!(text.contains("orc_sessions_open 1\n"));
        assert!(text.contains("orc_heartbeat_failures_total 2\n"));
    }
}
