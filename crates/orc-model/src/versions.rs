//! Each object's change index (nodes, services, tasks, secrets, configs — the objects
//! Docker's API versions): the Raft log index of the entry that last changed it
//! (Docker's `Version.Index`, as swarmkit's), and the guard that makes a write apply
//! only if its object is still at the index its writer read.
//!
//! The index is `ClusterState::revision` at the change, which `apply_at` sets to the
//! entry's log index: the same on every replica. A restore is one entry that changes
//! every object, so a restored cluster's new log starts its objects' indexes afresh.
//! Stamps are kept beside the objects, not in them, and are set in one place: [`Watch`] compares what a command may change before and after
//! it applies, so no apply arm has to remember to stamp. An object written before this
//! existed (an upgraded store) has no stamp and reads as index 0 until it next changes
//! — the same on every replica, so a guard on it decides the same everywhere.

use crate::{ClusterState, Command, NodeId, ServiceId, TaskId, ValueKind};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The change index of every object that changed since model format 5.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Versions {
    pub nodes: BTreeMap<NodeId, u64>,
    pub services: BTreeMap<ServiceId, u64>,
    pub tasks: BTreeMap<TaskId, u64>,
    pub secrets: BTreeMap<String, u64>,
    pub configs: BTreeMap<String, u64>,
}

/// The object a [`Command::Guarded`] write is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Guard {
    Node(NodeId),
    Service(ServiceId),
    Value(ValueKind, String),
}

impl std::fmt::Display for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Guard::Node(id) => write!(f, "node {id:016x}"),
            Guard::Service(id) => write!(f, "service {id}"),
            Guard::Value(kind, name) => write!(f, "{} {name}", kind.as_str()),
        }
    }
}

impl ClusterState {
    /// The change index of whatever `guard` names (0: unchanged since the upgrade
    /// that brought indexes, or gone).
    pub fn index_of(&self, guard: &Guard) -> u64 {
        match guard {
            Guard::Node(id) => self.node_index(*id),
            Guard::Service(id) => self.service_index(id),
            Guard::Value(kind, name) => self.value_index(*kind, name),
        }
    }

    pub fn node_index(&self, id: NodeId) -> u64 {
        self.versions.nodes.get(&id).copied().unwrap_or(0)
    }

    pub fn service_index(&self, id: &str) -> u64 {
        self.versions.services.get(id).copied().unwrap_or(0)
    }

    pub fn task_index(&self, id: &str) -> u64 {
        self.versions.tasks.get(id).copied().unwrap_or(0)
    }

    pub fn value_index(&self, kind: ValueKind, name: &str) -> u64 {
        let values = match kind {
            ValueKind::Secret => &self.versions.secrets,
            ValueKind::Config => &self.versions.configs,
        };
        values.get(name).copied().unwrap_or(0)
    }
}

/// A service as its index sees it: what its writers write — its name and its spec,
/// through the version every spec change bumps (`Service::version`; debug builds
/// check it against the whole spec) — not the rollout's bookkeeping (its status, the
/// stable marks), which the updater writes while clients still hold what they read:
/// counting it would fail a `docker stack deploy` that read the stack mid-rollout.
type ServiceView = (String, String, u64);

fn service_views(map: &BTreeMap<ServiceId, crate::Service>) -> BTreeMap<ServiceId, ServiceView> {
    map.iter()
        .map(|(k, s)| (k.clone(), (s.name.clone(), s.stack.clone(), s.version)))
        .collect()
}

/// What one command may change, by kind of object.
#[derive(Debug, Default)]
struct Scope {
    nodes: bool,
    services: bool,
    values: bool,
    /// `None`: no task; `Some(None)`: any task; `Some(Some(ids))`: those tasks.
    tasks: Option<Option<Vec<TaskId>>>,
}

impl Scope {
    fn of(cmd: &Command) -> Scope {
        let mut s = Scope::default();
        s.add(cmd);
        s
    }

    fn all_tasks(&mut self) {
        self.tasks = Some(None);
    }

    fn some_tasks<'a>(&mut self, ids: impl Iterator<Item = &'a TaskId>) {
        match &mut self.tasks {
            Some(None) => {}
            Some(Some(v)) => v.extend(ids.cloned()),
            None => self.tasks = Some(Some(ids.cloned().collect())),
        }
    }

    fn add(&mut self, cmd: &Command) {
        use Command as C;
        match cmd {
            C::SetNodeRole { .. }
            | C::PutNode(_)
            | C::RemoveNode { .. }
            | C::SetNodeStatus { .. }
            | C::SetNodeAvailability { .. }
            | C::SetNodeLabels { .. } => self.nodes = true,
            C::DeployStack { .. }
            | C::ScaleService { .. }
            | C::PutService { .. }
            | C::RemoveService { .. }
            | C::SetUpdateStatus { .. }
            | C::MarkStable { .. }
            | C::RollbackService { .. }
            | C::ForceUpdate { .. } => self.services = true,
            C::RemoveStack { .. } => self.services = true,
            // A new revision with `roll` re-pins the services using it.
            C::SetValueLabels { .. } => self.values = true,
            C::PutValue { .. } | C::RemoveValue { .. } => {
                self.values = true;
                self.services = true;
            }
            C::CreateTasks(tasks) => self.some_tasks(tasks.iter().map(|t| &t.id)),
            C::AssignTasks { assignments, .. } => self.some_tasks(assignments.iter().map(|a| &a.0)),
            C::SetDesiredState { updates } => self.some_tasks(updates.iter().map(|u| &u.0)),
            C::UpdateTaskStatus { updates } => self.some_tasks(updates.iter().map(|u| &u.0)),
            C::RemoveTasks { ids } => self.some_tasks(ids.iter()),
            C::Restore { .. } => {
                *self = Scope {
                    nodes: true,
                    services: true,
                    values: true,
                    tasks: None,
                };
                self.all_tasks();
            }
            C::Batch(cmds) => cmds.iter().for_each(|c| self.add(c)),
            C::Guarded { then, .. } => self.add(then),
            // Nothing else changes a node, service, task, secret or config.
            C::Noop
            | C::DeclareNetwork { .. }
            | C::RemoveNetwork { .. }
            | C::InitCluster { .. }
            | C::SetClusterSecurity { .. }
            | C::RotateJoinToken { .. }
            | C::SetVip(_)
            | C::SetRegistryAuth { .. }
            | C::SetNodeImages { .. }
            | C::WantImage { .. }
            | C::UnwantImage { .. }
            | C::SetClusterNetwork(_)
            | C::EnsureVolumes { .. }
            | C::RemoveVolume { .. }
            | C::SetVolumeAttachment { .. }
            | C::FenceNode { .. }
            | C::SetCeph(_)
            | C::VolumeReleased { .. }
            | C::Unfence { .. }
            | C::Resume
            | C::SetVipHolder { .. }
            | C::SetAutolock(_) => {}
        }
    }
}

/// A value as its index sees it: everything but the revisions kept (pruning an old
/// revision no reader sees is no change of the object).
type ValueView = (
    String,
    u64,
    u64,
    u64,
    Option<String>,
    BTreeMap<String, String>,
);

fn value_views(map: &BTreeMap<String, crate::StoredValue>) -> BTreeMap<String, ValueView> {
    map.iter()
        .map(|(k, v)| {
            let view = (
                v.id.clone(),
                v.created_at,
                v.updated_at,
                v.current,
                v.stack.clone(),
                v.labels.clone(),
            );
            (k.clone(), view)
        })
        .collect()
}

/// The objects a command may change, as they were before it applied.
pub(crate) struct Watch {
    nodes: Option<BTreeMap<NodeId, crate::Node>>,
    services: Option<BTreeMap<ServiceId, ServiceView>>,
    values: Option<[BTreeMap<String, ValueView>; 2]>,
    tasks: Option<TasksBefore>,
}

/// The tasks a command names (or, `all`, every task), as they were (`None`: absent).
type TasksBefore = (bool, Vec<(TaskId, Option<crate::Task>)>);

impl Watch {
    /// Notes what `cmd` may change in `state` (clones only that).
    pub(crate) fn before(state: &ClusterState, cmd: &Command) -> Watch {
        let scope = Scope::of(cmd);
        Watch {
            nodes: scope.nodes.then(|| state.nodes.clone()),
            services: scope.services.then(|| service_views(&state.services)),
            values: scope.values.then(|| {
                [
                    value_views(&state.values.secrets),
                    value_views(&state.values.configs),
                ]
            }),
            tasks: scope.tasks.map(|ids| match ids {
                None => (
                    true,
                    state
                        .tasks
                        .iter()
                        .map(|(id, t)| (id.clone(), Some(t.clone())))
                        .collect(),
                ),
                Some(ids) => (
                    false,
                    ids.into_iter()
                        .map(|id| {
                            let t = state.tasks.get(&id).cloned();
                            (id, t)
                        })
                        .collect(),
                ),
            }),
        }
    }

    /// Stamps with `state.revision` what changed, and forgets the stamps of what is
    /// gone. Called after a command that changed the state.
    pub(crate) fn stamp(self, state: &mut ClusterState) {
        let at = state.revision;
        let v = &mut state.versions;
        if let Some(before) = self.nodes {
            restamp(&mut v.nodes, &before, &state.nodes, at);
        }
        if let Some(before) = self.services {
            restamp(
                &mut v.services,
                &before,
                &service_views(&state.services),
                at,
            );
        }
        if let Some([secrets, configs]) = self.values {
            restamp(
                &mut v.secrets,
                &secrets,
                &value_views(&state.values.secrets),
                at,
            );
            restamp(
                &mut v.configs,
                &configs,
                &value_views(&state.values.configs),
                at,
            );
        }
        if let Some((all, tasks)) = self.tasks {
            for (id, old) in &tasks {
                match (old.as_ref(), state.tasks.get(id)) {
                    (_, None) => {
                        v.tasks.remove(id);
                    }
                    (Some(a), Some(b)) if a == b => {}
                    _ => {
                        v.tasks.insert(id.clone(), at);
                    }
                }
            }
            if all {
                // Every task was in scope (a restore): any other stamp is of a task
                // long gone.
                let live = &state.tasks;
                v.tasks.retain(|id, _| live.contains_key(id));
            }
        }
        // A value pruned with its last user (after any command that changed
        // something, in scope of values or not) leaves no stamp behind. Nodes and
        // services go only by commands whose scope has them: `restamp` drops theirs.
        let values = &state.values;
        v.secrets.retain(|n, _| values.secrets.contains_key(n));
        v.configs.retain(|n, _| values.configs.contains_key(n));
    }
}

/// Stamps the keys whose value is new or differs from `before`; drops the stamps of
/// the keys gone.
fn restamp<K: Ord + Clone, V: PartialEq>(
    stamps: &mut BTreeMap<K, u64>,
    before: &BTreeMap<K, V>,
    after: &BTreeMap<K, V>,
    at: u64,
) {
    for (k, v) in after {
        if before.get(k) != Some(v) {
            stamps.insert(k.clone(), at);
        }
    }
    for k in before.keys() {
        if !after.contains_key(k) {
            stamps.remove(k);
        }
    }
}

/// The invariant every apply keeps (checked after every apply in debug builds, so
/// every command any test applies is covered): an object that changed carries the
/// new revision, one that didn't keeps its stamp, and only live objects have stamps.
#[cfg(debug_assertions)]
pub(crate) fn check_stamps(before: &ClusterState, after: &ClusterState) {
    fn check<K: Ord + std::fmt::Debug, V: PartialEq>(
        what: &str,
        old: (&BTreeMap<K, V>, &BTreeMap<K, u64>),
        new: (&BTreeMap<K, V>, &BTreeMap<K, u64>),
        revision: u64,
        changed: bool,
    ) {
        for (k, v) in new.0 {
            if changed && old.0.get(k) != Some(v) {
                assert_eq!(new.1.get(k), Some(&revision), "{what} {k:?} changed");
            } else {
                assert_eq!(new.1.get(k), old.1.get(k), "{what} {k:?} did not change");
            }
        }
        for k in new.1.keys() {
            assert!(new.0.contains_key(k), "{what} {k:?} is gone but stamped");
        }
    }
    let changed = after.revision != before.revision;
    let (b, a, r) = (before, after, after.revision);
    check(
        "node",
        (&b.nodes, &b.versions.nodes),
        (&a.nodes, &a.versions.nodes),
        r,
        changed,
    );
    // With the whole spec: a spec change that did not bump the version shows here.
    let full = |m: &BTreeMap<ServiceId, crate::Service>| -> BTreeMap<ServiceId, _> {
        m.iter()
            .map(|(k, s)| (k.clone(), (s.name.clone(), s.version, s.spec.clone())))
            .collect()
    };
    check(
        "service",
        (&full(&b.services), &b.versions.services),
        (&full(&a.services), &a.versions.services),
        r,
        changed,
    );
    check(
        "task",
        (&b.tasks, &b.versions.tasks),
        (&a.tasks, &a.versions.tasks),
        r,
        changed,
    );
    check(
        "secret",
        (&value_views(&b.values.secrets), &b.versions.secrets),
        (&value_views(&a.values.secrets), &a.versions.secrets),
        r,
        changed,
    );
    check(
        "config",
        (&value_views(&b.values.configs), &b.versions.configs),
        (&value_views(&a.values.configs), &a.versions.configs),
        r,
        changed,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Node, NodeRole, NodeStatus, PutMode, SealedRevision};

    fn node(id: NodeId) -> Node {
        Node {
            id,
            hostname: format!("n{id}"),
            role: NodeRole::Manager,
            availability: crate::Availability::Active,
            status: NodeStatus::Ready,
            status_message: String::new(),
            address: "10.0.0.1:4747".into(),
            resources: Default::default(),
            labels: Default::default(),
            platform: crate::Platform {
                os: "linux".into(),
                architecture: "arm64".into(),
                variant: String::new(),
            },
            created_at: 1,
            updated_at: 1,
        }
    }

    fn put_service(id: &str, image: &str, expect: Option<u64>) -> Command {
        Command::PutService {
            service: Box::new(crate::NewService {
                id: id.into(),
                short_name: "web".into(),
                spec: crate::ServiceSpec::new(image),
            }),
            stack: "s".into(),
            name: "s_web".into(),
            expect_version: expect,
            at: 5,
        }
    }

    #[test]
    fn each_object_carries_the_revision_of_its_last_change() {
        let mut s = ClusterState::default();
        s.apply(&Command::PutNode(node(1)));
        s.apply(&Command::PutNode(node(2)));
        assert_eq!((s.node_index(1), s.node_index(2)), (1, 2));
        s.apply(&put_service("svc1", "a:1", None));
        assert_eq!(s.service_index("svc1"), 3);
        s.apply(&Command::SetNodeLabels {
            id: 1,
            labels: [("disk".to_string(), "ssd".to_string())].into(),
            at: 9,
        });
        assert_eq!((s.node_index(1), s.node_index(2)), (4, 2));
        // A write that changes nothing stamps nothing.
        s.apply(&put_service("svc1", "a:1", None));
        assert_eq!((s.revision, s.service_index("svc1")), (4, 3));
        s.apply(&Command::RemoveService { id: "svc1".into() });
        assert_eq!(s.service_index("svc1"), 0);
        assert!(
            s.versions.services.is_empty(),
            "no stamp outlives its object"
        );
    }

    #[test]
    fn a_guarded_write_applies_only_at_the_index_its_writer_read() {
        let mut s = ClusterState::default();
        s.apply(&put_service("svc1", "a:1", None));
        s.apply(&Command::PutNode(node(1)));
        let read = s.service_index("svc1");
        // Another change of the same service in between: the guard refuses.
        s.apply(&Command::ScaleService {
            name: "s_web".into(),
            replicas: 3,
            at: 6,
        });
        let stale = Command::Guarded {
            guard: Guard::Service("svc1".into()),
            index: read,
            then: Box::new(put_service("svc1", "a:2", None)),
        };
        let before = s.clone();
        let r = s.apply(&stale);
        assert!(
            matches!(
                r.error(),
                Some(crate::ApplyError::Stale {
                    current: 3,
                    expected: 1,
                    ..
                })
            ),
            "{r:?}"
        );
        assert_eq!(s, before, "a refused guard changes nothing");
        // Changes to other objects don't move this one's index.
        let fresh = Command::Guarded {
            guard: Guard::Service("svc1".into()),
            index: s.service_index("svc1"),
            then: Box::new(put_service("svc1", "a:2", None)),
        };
        assert_eq!(s.apply(&fresh).error(), None);
        assert_eq!(s.services["svc1"].spec.image, "a:2");
        assert_eq!(s.service_index("svc1"), s.revision);
        // The updater's bookkeeping is no change a writer conflicts with.
        let index = s.service_index("svc1");
        let version = s.services["svc1"].version;
        let r = s.apply(&Command::SetUpdateStatus {
            id: "svc1".into(),
            status: crate::UpdateStatus {
                state: crate::UpdateState::Completed,
                started_at: 7,
                ended_at: Some(8),
                message: "done".into(),
                from: 1,
                to: 2,
                version,
            },
        });
        assert_eq!(r.error(), None);
        assert!(s.services["svc1"].rollout.update.is_some());
        assert_eq!(s.service_index("svc1"), index);
    }

    #[test]
    fn values_are_stamped_on_a_new_revision_or_labels_not_on_pruning() {
        let mut s = ClusterState::default();
        let put = |labels: Option<BTreeMap<String, String>>| Command::PutValue {
            kind: ValueKind::Secret,
            name: "pw".into(),
            id: "sec1".into(),
            revision: SealedRevision {
                sealed: vec![1; 20],
                size: 3,
                created_at: 1,
            },
            mode: PutMode::Upsert,
            roll: false,
            stack: None,
            at: 2,
            labels,
        };
        s.apply(&put(None));
        assert_eq!(s.value_index(ValueKind::Secret, "pw"), 1);
        s.apply(&put(Some([("a".to_string(), "b".to_string())].into())));
        assert_eq!(s.value_index(ValueKind::Secret, "pw"), 2);
        let guarded = Command::Guarded {
            guard: Guard::Value(ValueKind::Secret, "pw".into()),
            index: 1,
            then: Box::new(Command::RemoveValue {
                kind: ValueKind::Secret,
                name: "pw".into(),
            }),
        };
        assert!(s.apply(&guarded).error().is_some());
        assert!(s.values.secrets.contains_key("pw"));
        // Labels alone: a new index, no new revision.
        let labels = Command::Guarded {
            guard: Guard::Value(ValueKind::Secret, "pw".into()),
            index: 2,
            then: Box::new(Command::SetValueLabels {
                kind: ValueKind::Secret,
                name: "pw".into(),
                labels: [("c".to_string(), "d".to_string())].into(),
                at: 3,
            }),
        };
        assert_eq!(s.apply(&labels).error(), None);
        assert_eq!(s.value_index(ValueKind::Secret, "pw"), s.revision);
        assert_eq!(s.values.secrets["pw"].current, 2, "no new revision");
    }
}
