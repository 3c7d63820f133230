//! The cluster's changes as events, derived by diffing two successive applied states
//! (pure), and a bounded in-memory history of them for `orc events --since`.
//!
//! Leader changes and VIP moves aren't in the replicated state (they come from Raft's
//! metrics and the VRRP instance): the daemon pushes those into the same log.

use orc_model::{ClusterState, Task, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};

/// What an event is about; `orc events --filter type=…`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    Task,
    Service,
    Node,
    Leader,
    Vip,
    Network,
    Secret,
    Config,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Task => "task",
            EventKind::Service => "service",
            EventKind::Node => "node",
            EventKind::Leader => "leader",
            EventKind::Vip => "vip",
            EventKind::Network => "network",
            EventKind::Secret => "secret",
            EventKind::Config => "config",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "task" => EventKind::Task,
            "service" => EventKind::Service,
            "node" => EventKind::Node,
            "leader" => EventKind::Leader,
            "vip" => EventKind::Vip,
            "network" => EventKind::Network,
            "secret" => EventKind::Secret,
            "config" => EventKind::Config,
            _ => return None,
        })
    }
}

/// One change. `seq` orders events on the manager that recorded them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub seq: u64,
    /// Milliseconds since the Unix epoch: the change's own time where the state has
    /// one (a task's status time), else when the manager applied it.
    pub time: Timestamp,
    #[serde(rename = "type")]
    pub kind: EventKind,
    /// "create", "update", "remove"; a task's new state ("running", "failed"); a
    /// node's new status ("down", "ready"), "join", "role", "availability", "labels",
    /// "address"; a leader "elected"; a VIP "set", "unset", or this manager's VRRP
    /// state ("master", "backup").
    pub action: String,
    /// The object's id (task, service, node id).
    pub id: String,
    /// Its name: the service's, the node's hostname.
    pub name: String,
    /// Details: node, slot, reason, exit_code, version, from…
    pub attributes: BTreeMap<String, String>,
}

impl Event {
    pub fn new(kind: EventKind, action: &str, id: &str, name: &str, time: Timestamp) -> Self {
        Event {
            seq: 0,
            time,
            kind,
            action: action.into(),
            id: id.into(),
            name: name.into(),
            attributes: BTreeMap::new(),
        }
    }

    pub fn attr(mut self, key: &str, value: impl ToString) -> Self {
        let value = value.to_string();
        if !value.is_empty() {
            self.attributes.insert(key.into(), value);
        }
        self
    }
}

fn task_event(t: &Task, action: &str, time: Timestamp) -> Event {
    let mut e = Event::new(EventKind::Task, action, &t.id, &t.service_name, time)
        .attr("service_id", &t.service_id)
        .attr("slot", t.slot)
        .attr("state", t.status.state.as_str())
        .attr("desired", t.desired_state.as_str())
        .attr("reason", &t.status.message);
    if let Some(node) = t.node_id {
        e = e.attr("node", node);
    }
    if let Some(err) = &t.status.err {
        e = e.attr("error", err);
    }
    if let Some(code) = t.status.exit_code {
        e = e.attr("exit_code", code);
    }
    e
}

/// The changes from `prev` to `next`, in a stable order: nodes, services, networks,
/// secrets and configs, then tasks (each by id or name). `now` stamps changes the state carries no time for.
pub fn diff(prev: &ClusterState, next: &ClusterState, now: Timestamp) -> Vec<Event> {
    let mut out = Vec::new();
    if prev.revision == next.revision && prev == next {
        return out;
    }
    for (id, n) in &next.nodes {
        let id_s = id.to_string();
        let ev = |action: &str| Event::new(EventKind::Node, action, &id_s, &n.hostname, now);
        match prev.nodes.get(id) {
            None => out.push(
                ev("join")
                    .attr("role", n.role.as_str())
                    .attr("address", &n.address),
            ),
            Some(p) => {
                if p.status != n.status {
                    out.push(
                        ev(n.status.as_str())
                            .attr("from", p.status.as_str())
                            .attr("reason", &n.status_message),
                    );
                }
                if p.role != n.role {
                    out.push(ev("role").attr("role", n.role.as_str()));
                }
                if p.availability != n.availability {
                    out.push(ev("availability").attr("availability", n.availability.as_str()));
                }
                if p.labels != n.labels {
                    let labels: Vec<String> =
                        n.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    out.push(ev("labels").attr("labels", labels.join(",")));
                }
                if p.address != n.address {
                    out.push(
                        ev("address")
                            .attr("address", &n.address)
                            .attr("from", &p.address),
                    );
                }
            }
        }
    }
    for (id, n) in &prev.nodes {
        if !next.nodes.contains_key(id) {
            out.push(Event::new(
                EventKind::Node,
                "remove",
                &id.to_string(),
                &n.hostname,
                now,
            ));
        }
    }
    for (id, s) in &next.services {
        let ev = |action: &str, time| {
            Event::new(EventKind::Service, action, id, &s.name, time)
                .attr("stack", &s.stack)
                .attr("version", s.version)
        };
        match prev.services.get(id) {
            None => out.push(ev("create", s.created_at.max(1))),
            Some(p) if p.version != s.version => out.push(ev("update", s.updated_at)),
            Some(_) => {}
        }
        // Its rollout's state changes: "updating", "paused" (with the cause),
        // "rollback_started", "completed"…
        let before = prev
            .services
            .get(id)
            .and_then(|p| p.rollout.update.as_ref())
            .map(|u| (u.state, u.message.as_str()));
        if let Some(u) = &s.rollout.update {
            if before.map(|b| b.0) != Some(u.state) {
                let time = u.ended_at.unwrap_or(u.started_at);
                out.push(
                    Event::new(EventKind::Service, u.state.as_str(), id, &s.name, time)
                        .attr("stack", &s.stack)
                        .attr("version", s.version)
                        .attr("reason", &u.message),
                );
            }
        }
    }
    for (id, s) in &prev.services {
        if !next.services.contains_key(id) {
            out.push(
                Event::new(EventKind::Service, "remove", id, &s.name, now).attr("stack", &s.stack),
            );
        }
    }
    let (a, b) = (prev.stack_networks(), next.stack_networks());
    for (name, n) in b.iter().filter(|(name, _)| !a.contains_key(*name)) {
        out.push(Event::new(EventKind::Network, "create", name, name, now).attr("stack", &n.stack));
    }
    for (name, n) in a.iter().filter(|(name, _)| !b.contains_key(*name)) {
        out.push(Event::new(EventKind::Network, "remove", name, name, now).attr("stack", &n.stack));
    }
    // Secrets and configs: never their values, only that one came, changed (a new
    // revision, or new labels) or went.
    for (kind, ek) in [
        (orc_model::ValueKind::Secret, EventKind::Secret),
        (orc_model::ValueKind::Config, EventKind::Config),
    ] {
        let (a, b) = (prev.values.of(kind), next.values.of(kind));
        for (name, v) in b {
            let ev = |action: &str, time| {
                Event::new(ek, action, &v.id, name, time).attr("revision", v.current)
            };
            match a.get(name) {
                None => out.push(ev("create", v.created_at)),
                Some(p) if p.current != v.current || p.labels != v.labels => {
                    out.push(ev("update", v.updated_at))
                }
                Some(_) => {}
            }
        }
        for (name, v) in a.iter().filter(|(n, _)| !b.contains_key(*n)) {
            out.push(Event::new(ek, "remove", &v.id, name, now));
        }
    }
    for (id, t) in &next.tasks {
        match prev.tasks.get(id) {
            None => out.push(task_event(t, t.status.state.as_str(), t.status.timestamp)),
            Some(p) => {
                if p.status.state != t.status.state {
                    out.push(
                        task_event(t, t.status.state.as_str(), t.status.timestamp)
                            .attr("from", p.status.state.as_str()),
                    );
                } else if p.node_id != t.node_id {
                    out.push(task_event(t, "assigned", now));
                }
                // Docker's `health_status: healthy|unhealthy` (starting is no event).
                let was = p.status.health.as_ref().map(|h| h.state);
                if let Some(h) = t.status.health.as_ref().filter(|h| {
                    Some(h.state) != was
                        && h.state != orc_model::HealthState::Starting
                        && !t.status.state.is_terminal()
                }) {
                    out.push(
                        task_event(t, &format!("health_status: {}", h.state.as_str()), h.since)
                            .attr("health", h.state.as_str()),
                    );
                }
                if p.desired_state != t.desired_state && !t.status.state.is_terminal() {
                    out.push(task_event(t, "desired", now));
                }
            }
        }
    }
    for (id, t) in &prev.tasks {
        if !next.tasks.contains_key(id) {
            out.push(task_event(t, "remove", now));
        }
    }
    if prev.vip != next.vip {
        let (action, addr) = match &next.vip {
            Some(v) => ("set", v.address.clone()),
            None => ("unset", String::new()),
        };
        out.push(Event::new(EventKind::Vip, action, "vip", &addr, now));
    }
    if let (Some(h), Some(v)) = (&next.vip_holder, &next.vip) {
        if prev.vip_holder.as_ref().map(|p| p.node) != Some(h.node) {
            let host = |n| next.nodes.get(&n).map(|n| n.hostname.clone());
            let mut e = Event::new(
                EventKind::Vip,
                "moved",
                &h.node.to_string(),
                &host(h.node).unwrap_or_default(),
                h.since,
            )
            .attr("address", &v.address);
            if let Some(from) = prev.vip_holder.as_ref().and_then(|p| host(p.node)) {
                e = e.attr("from", from);
            }
            out.push(e);
        }
    }
    out
}

/// Days since 1970-01-01 → (year, month, day) in the proleptic Gregorian calendar (the
/// era-based algorithm: 400-year eras of 146 097 days, years starting in March so the
/// leap day comes last). Every UTC date orc prints goes through here.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// "2026-12-07T17:45:01.123Z" from ms since the epoch (UTC, proleptic Gregorian).
pub fn format_utc(ms: Timestamp) -> String {
    let secs = ms / 1000;
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms % 1000
    )
}

/// `--filter KEY=VALUE` (repeatable; all must hold): `type`, `action`, `name`
/// (service or hostname), `id` (prefix), `node`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filter {
    pub kinds: Vec<EventKind>,
    pub pairs: Vec<(String, String)>,
}

impl Filter {
    /// Parses `type=task`, `name=web_web`…; an unknown key or type is an error
    /// naming it.
    pub fn parse(args: &[String]) -> Result<Self, String> {
        let mut f = Filter::default();
        for a in args {
            let Some((k, v)) = a.split_once('=') else {
                return Err(format!("filter {a:?}: expected KEY=VALUE"));
            };
            match k {
                "type" => f.kinds.push(EventKind::parse(v).ok_or_else(|| {
                    format!("filter type={v}: expected task, service, node, network, secret, config, leader or vip")
                })?),
                "action" | "name" | "id" | "node" => f.pairs.push((k.into(), v.into())),
                _ => {
                    return Err(format!(
                        "filter {k:?}: expected type, action, name, id or node"
                    ))
                }
            }
        }
        Ok(f)
    }

    pub fn matches(&self, e: &Event) -> bool {
        (self.kinds.is_empty() || self.kinds.contains(&e.kind))
            && self.pairs.iter().all(|(k, v)| match k.as_str() {
                "action" => &e.action == v,
                "name" => &e.name == v,
                "id" => e.id.starts_with(v.as_str()),
                "node" => {
                    e.attributes.get("node") == Some(v)
                        || (e.kind == EventKind::Node && (&e.id == v || &e.name == v))
                }
                _ => false,
            })
    }
}

/// The last `capacity` events, numbered in the order they were recorded.
#[derive(Debug, Clone)]
pub struct EventLog {
    events: VecDeque<Event>,
    capacity: usize,
    next_seq: u64,
}

impl EventLog {
    pub fn new(capacity: usize) -> Self {
        EventLog {
            events: VecDeque::with_capacity(capacity.min(1024)),
            capacity: capacity.max(1),
            next_seq: 1,
        }
    }

    /// Numbers and keeps `events`; returns them numbered (for live subscribers).
    pub fn record(&mut self, events: Vec<Event>) -> Vec<Event> {
        let mut out = Vec::with_capacity(events.len());
        for mut e in events {
            e.seq = self.next_seq;
            self.next_seq += 1;
            if self.events.len() == self.capacity {
                self.events.pop_front();
            }
            self.events.push_back(e.clone());
            out.push(e);
        }
        out
    }

    /// Kept events with `since <= time <= until`, oldest first.
    pub fn between(&self, since: Timestamp, until: Option<Timestamp>) -> Vec<Event> {
        self.events
            .iter()
            .filter(|e| e.time >= since && until.is_none_or(|u| e.time <= u))
            .cloned()
            .collect()
    }

    /// The sequence number the next event will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use orc_model::{
        Availability, Node, NodeRole, NodeStatus, Platform, Service, TaskState, TaskStatus,
    };

    fn spec() -> orc_model::ServiceSpec {
        let stack = orc_spec::parse_stack(
            "[services.web]\nimage = \"busybox:1\"\n",
            "s.toml",
            Some("s"),
            "s",
        )
        .unwrap();
        stack.services["web"].clone()
    }

    fn node(id: u64) -> Node {
        Node {
            id,
            hostname: format!("rock{id}"),
            role: NodeRole::Manager,
            availability: Availability::Active,
            status: NodeStatus::Ready,
            status_message: String::new(),
            address: format!("10.0.0.{id}:4747"),
            resources: Default::default(),
            labels: Default::default(),
            platform: Platform {
                os: "linux".into(),
                architecture: "arm64".into(),
                variant: String::new(),
            },
            created_at: 1,
            updated_at: 1,
        }
    }

    fn task(id: &str, slot: u32, node: u64, state: TaskState, at: Timestamp) -> Task {
        Task {
            id: id.into(),
            service_id: "svc1".into(),
            service_name: "s_web".into(),
            slot,
            node_id: Some(node),
            spec_version: 1,
            spec: spec(),
            desired_state: TaskState::Running,
            status: TaskStatus::new(state, at, state.as_str()),
            created_at: at,
            not_before: at,
            attempt: 0,
        }
    }

    fn base() -> ClusterState {
        let mut s = ClusterState::default();
        s.nodes.insert(1, node(1));
        s.nodes.insert(2, node(2));
        s.services.insert(
            "svc1".into(),
            Service {
                id: "svc1".into(),
                name: "s_web".into(),
                stack: "s".into(),
                short_name: "web".into(),
                spec: spec(),
                version: 1,
                created_at: 5,
                updated_at: 5,
                rollout: Default::default(),
            },
        );
        s.tasks
            .insert("t1".into(), task("t1", 1, 2, TaskState::Running, 10));
        s.revision = 1;
        s
    }

    #[test]
    fn a_rollout_s_states_are_events_and_a_one_hot_metric() {
        let a = base();
        let mut b = a.clone();
        b.revision = 2;
        let svc = b.services.get_mut("svc1").unwrap();
        svc.rollout.update = Some(orc_model::UpdateStatus {
            state: orc_model::UpdateState::Paused,
            message: "task s_web.2 unhealthy: exit 1: 404".into(),
            started_at: 20,
            ended_at: Some(30),
            from: 1,
            to: 2,
            version: 2,
        });
        let ev = diff(&a, &b, 40);
        assert_eq!(ev.len(), 1, "{ev:?}");
        assert_eq!(
            (ev[0].kind, ev[0].action.as_str(), ev[0].time),
            (EventKind::Service, "paused", 30)
        );
        assert_eq!(
            ev[0].attributes["reason"],
            "task s_web.2 unhealthy: exit 1: 404"
        );
        // The same state again is no new event.
        let mut c = b.clone();
        c.revision = 3;
        assert!(diff(&b, &c, 50).is_empty());
        let mut expo = crate::Exposition::default();
        crate::render::cluster(&mut expo, &b, &[]);
        let text = expo.finish();
        assert!(
            text.contains(
                "orc_service_update_state{service=\"s_web\",stack=\"s\",state=\"paused\"} 1\n"
            ),
            "{text}"
        );
        assert!(text.contains("state=\"completed\"} 0\n"), "{text}");
    }

    #[test]
    fn a_vip_move_names_the_new_holder_and_the_old() {
        let mut a = base();
        a.vip = Some(orc_model::VipSetting {
            address: "192.168.1.100/24".into(),
            interface: "eth0".into(),
            vrid: 51,
            advert_interval_ms: 1000,
        });
        a.vip_holder = Some(orc_model::VipHolder { node: 1, since: 3 });
        let mut b = a.clone();
        b.revision = 2;
        b.vip_holder = Some(orc_model::VipHolder { node: 2, since: 30 });
        let ev = diff(&a, &b, 40);
        assert_eq!(ev.len(), 1);
        let e = &ev[0];
        assert_eq!(
            (e.kind, e.action.as_str(), e.id.as_str()),
            (EventKind::Vip, "moved", "2")
        );
        assert_eq!(e.time, 30);
        assert_eq!(e.name, b.nodes[&2].hostname);
        assert_eq!(e.attributes["from"], b.nodes[&1].hostname);
        assert_eq!(e.attributes["address"], "192.168.1.100/24");
        let mut expo = crate::Exposition::default();
        crate::render::cluster(&mut expo, &b, &[]);
        let text = expo.finish();
        assert!(
            text.contains("orc_vip_holder_since_seconds{node_id=\"0000000000000002\""),
            "{text}"
        );
    }

    #[test]
    fn utc() {
        assert_eq!(format_utc(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_utc(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(format_utc(1_796_665_501_123), "2026-12-07T17:45:01.123Z");
    }

    #[test]
    fn nothing_changed_no_events() {
        let s = base();
        assert!(diff(&s, &s.clone(), 99).is_empty());
    }

    #[test]
    fn killed_task_fails_and_its_replacement_runs() {
        let a = base();
        let mut b = a.clone();
        b.revision = 2;
        let t1 = b.tasks.get_mut("t1").unwrap();
        t1.status = TaskStatus {
            exit_code: Some(137),
            ..TaskStatus::new(TaskState::Failed, 20, "exited with 137")
        };
        let ev = diff(&a, &b, 21);
        assert_eq!(ev.len(), 1);
        assert_eq!(
            (ev[0].kind, ev[0].action.as_str()),
            (EventKind::Task, "failed")
        );
        assert_eq!(ev[0].time, 20);
        assert_eq!(ev[0].attributes["from"], "running");
        assert_eq!(ev[0].attributes["reason"], "exited with 137");
        assert_eq!(ev[0].attributes["exit_code"], "137");
        assert_eq!(ev[0].attributes["node"], "2");

        let mut c = b.clone();
        c.revision = 3;
        c.tasks
            .insert("t2".into(), task("t2", 1, 1, TaskState::Pending, 22));
        let mut d = c.clone();
        d.revision = 4;
        d.tasks.get_mut("t2").unwrap().status = TaskStatus::new(TaskState::Running, 25, "started");
        let mut log = EventLog::new(10);
        log.record(diff(&b, &c, 23));
        log.record(diff(&c, &d, 26));
        let all = log.between(0, None);
        let seen: Vec<(&str, &str, u64)> = all
            .iter()
            .map(|e| (e.id.as_str(), e.action.as_str(), e.seq))
            .collect();
        assert_eq!(seen, [("t2", "pending", 1), ("t2", "running", 2)]);

        // A health change at the same state is an event of its own (as Docker's).
        let mut e = d.clone();
        e.revision = 5;
        e.tasks.get_mut("t2").unwrap().status.health = Some(orc_model::TaskHealth {
            state: orc_model::HealthState::Unhealthy,
            since: 30,
            failing_streak: 3,
            log: Vec::new(),
        });
        let ev = diff(&d, &e, 31);
        assert_eq!(ev.len(), 1, "{ev:?}");
        assert_eq!(ev[0].action, "health_status: unhealthy");
        assert_eq!(ev[0].time, 30);
        // The same state again (a log refresh) is none.
        let mut f = e.clone();
        f.tasks
            .get_mut("t2")
            .unwrap()
            .status
            .health
            .as_mut()
            .unwrap()
            .failing_streak = 4;
        assert!(diff(&e, &f, 40).is_empty());
    }

    #[test]
    fn node_loss_and_service_changes() {
        let a = base();
        let mut b = a.clone();
        b.revision = 2;
        let n2 = b.nodes.get_mut(&2).unwrap();
        n2.status = NodeStatus::Down;
        n2.status_message = "no heartbeat for 2s".into();
        let svc = b.services.get_mut("svc1").unwrap();
        svc.version = 2;
        svc.updated_at = 30;
        b.nodes.remove(&1);
        b.nodes
            .get_mut(&2)
            .unwrap()
            .labels
            .insert("disk".into(), "ssd".into());
        let ev = diff(&a, &b, 31);
        let seen: Vec<(EventKind, &str, &str)> = ev
            .iter()
            .map(|e| (e.kind, e.action.as_str(), e.id.as_str()))
            .collect();
        assert_eq!(
            seen,
            [
                (EventKind::Node, "down", "2"),
                (EventKind::Node, "labels", "2"),
                (EventKind::Node, "remove", "1"),
                (EventKind::Service, "update", "svc1"),
            ]
        );
        assert_eq!(ev[0].attributes["reason"], "no heartbeat for 2s");
        assert_eq!(ev[0].attributes["from"], "ready");
        assert_eq!(ev[1].attributes["labels"], "disk=ssd");
        assert_eq!(ev[3].attributes["version"], "2");
        // Removing the service and its task.
        let mut c = b.clone();
        c.revision = 3;
        c.services.clear();
        c.tasks.clear();
        let ev = diff(&b, &c, 40);
        let seen: Vec<(EventKind, &str)> = ev.iter().map(|e| (e.kind, e.action.as_str())).collect();
        // The service's network goes with its last service.
        assert_eq!(
            seen,
            [
                (EventKind::Service, "remove"),
                (EventKind::Network, "remove"),
                (EventKind::Task, "remove"),
            ]
        );
    }

    #[test]
    fn filters() {
        assert!(Filter::parse(&["type=bogus".into()]).is_err());
        assert!(Filter::parse(&["colour=red".into()]).is_err());
        assert!(Filter::parse(&["type".into()]).is_err());
        let f = Filter::parse(&["type=task".into(), "node=2".into()]).unwrap();
        let t = task_event(&task("t1", 1, 2, TaskState::Running, 1), "running", 1);
        assert!(f.matches(&t));
        let other = task_event(&task("t1", 1, 1, TaskState::Running, 1), "running", 1);
        assert!(!f.matches(&other));
        let n = Event::new(EventKind::Node, "down", "2", "rock2", 1);
        assert!(!f.matches(&n));
        assert!(Filter::parse(&["node=rock2".into()]).unwrap().matches(&n));
    }

    #[test]
    fn log_is_bounded_and_windowed() {
        let mut log = EventLog::new(3);
        let evs: Vec<Event> = (0..5)
            .map(|i| Event::new(EventKind::Leader, "elected", "1", "rock1", 100 + i))
            .collect();
        let numbered = log.record(evs);
        assert_eq!(numbered.last().unwrap().seq, 5);
        assert_eq!(log.len(), 3);
        let times: Vec<u64> = log.between(103, None).iter().map(|e| e.time).collect();
        assert_eq!(times, [103, 104]);
        let times: Vec<u64> = log.between(0, Some(103)).iter().map(|e| e.time).collect();
        assert_eq!(times, [102, 103]);
        assert_eq!(log.next_seq(), 6);
    }
}
