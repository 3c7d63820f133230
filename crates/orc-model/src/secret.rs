//! Secrets and configs: named values, each change a new revision, every revision
//! sealed (encrypted and authenticated) by the manager that proposed it, so the Raft
//! log, snapshots and backups hold only ciphertext. A service spec pins the revision
//! it uses ([`orc_spec::FileRef::revision`]), so a changed value changes the spec and
//! its tasks roll, and an older spec (a rollback) still names the revision it used.

use crate::{ApplyError, ClusterState, NodeId, Timestamp};
use orc_spec::{FileRef, ServiceSpec};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// A secret (mounted under `/run/secrets/`) or a config (mounted anywhere).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ValueKind {
    Secret,
    Config,
}

impl ValueKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ValueKind::Secret => "secret",
            ValueKind::Config => "config",
        }
    }

    /// The largest value of this kind: 500 KiB for a secret, 1000 KiB for a config
    /// (Docker's limits).
    pub fn max_bytes(self) -> u64 {
        match self {
            ValueKind::Secret => orc_spec::MAX_SECRET_BYTES,
            ValueKind::Config => orc_spec::MAX_CONFIG_BYTES,
        }
    }

    /// The references of this kind in a service spec.
    pub fn refs(self, spec: &ServiceSpec) -> &[FileRef] {
        match self {
            ValueKind::Secret => &spec.secrets,
            ValueKind::Config => &spec.configs,
        }
    }

    fn refs_mut(self, spec: &mut ServiceSpec) -> &mut Vec<FileRef> {
        match self {
            ValueKind::Secret => &mut spec.secrets,
            ValueKind::Config => &mut spec.configs,
        }
    }
}

/// One revision of a value: sealed bytes (nonce ‖ ciphertext ‖ tag), never clear.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedRevision {
    pub sealed: Vec<u8>,
    /// The clear value's length in bytes.
    pub size: u64,
    pub created_at: Timestamp,
}

impl std::fmt::Debug for SealedRevision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SealedRevision({} bytes, sealed)", self.size)
    }
}

/// A secret or config in the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredValue {
    pub id: String,
    pub name: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// The revision new references pin.
    pub current: u64,
    /// The revisions kept: the current one and those a service or task still uses.
    pub revisions: BTreeMap<u64, SealedRevision>,
    /// The stack whose file made it (`None`: `orc secret create`): removed with the
    /// stack's last service.
    pub stack: Option<String>,
    pub labels: BTreeMap<String, String>,
}

/// Every secret and config, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Values {
    pub secrets: BTreeMap<String, StoredValue>,
    pub configs: BTreeMap<String, StoredValue>,
}

impl Values {
    pub fn of(&self, kind: ValueKind) -> &BTreeMap<String, StoredValue> {
        match kind {
            ValueKind::Secret => &self.secrets,
            ValueKind::Config => &self.configs,
        }
    }

    pub(crate) fn of_mut(&mut self, kind: ValueKind) -> &mut BTreeMap<String, StoredValue> {
        match kind {
            ValueKind::Secret => &mut self.secrets,
            ValueKind::Config => &mut self.configs,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty() && self.configs.is_empty()
    }

    /// The sealed bytes of one revision.
    pub fn sealed(&self, key: &ValueKey) -> Option<&SealedRevision> {
        self.of(key.kind)
            .get(&key.name)?
            .revisions
            .get(&key.revision)
    }
}

/// One revision of one value, as a spec pins it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ValueKey {
    pub kind: ValueKind,
    pub name: String,
    pub revision: u64,
}

impl std::fmt::Display for ValueKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} revision {}",
            self.kind.as_str(),
            self.name,
            self.revision
        )
    }
}

/// What [`crate::Command::PutValue`] may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PutMode {
    /// Only a new name (`orc secret create`).
    Create,
    /// Only an existing name (`orc secret update`).
    Update,
    /// Either (a stack deploy).
    Upsert,
}

/// Every value revision a spec pins (both kinds).
pub fn spec_keys(spec: &ServiceSpec) -> impl Iterator<Item = ValueKey> + '_ {
    [ValueKind::Secret, ValueKind::Config]
        .into_iter()
        .flat_map(move |kind| {
            kind.refs(spec).iter().map(move |r| ValueKey {
                kind,
                name: r.name.clone(),
                revision: r.revision,
            })
        })
}

impl ClusterState {
    /// The values the tasks assigned to `node` need now: those of its tasks that may
    /// still start or run. What the leader sends that node, and nothing else.
    pub fn values_for_node(&self, node: NodeId) -> BTreeSet<ValueKey> {
        self.tasks_on_node(node)
            .filter(|t| {
                t.desired_state <= crate::TaskState::Running && !t.status.state.is_terminal()
            })
            .flat_map(|t| spec_keys(&t.spec))
            .collect()
    }

    /// The services whose spec uses value `name`, by name.
    pub fn value_users(&self, kind: ValueKind, name: &str) -> Vec<String> {
        self.services
            .values()
            .filter(|s| kind.refs(&s.spec).iter().any(|r| r.name == name))
            .map(|s| s.name.clone())
            .collect()
    }

    /// Pins every reference of `spec` that has no revision yet to its value's current
    /// revision (a reference without a cluster name uses its source as the name).
    pub(crate) fn pin_values(&self, spec: &mut ServiceSpec) -> Result<(), ApplyError> {
        for kind in [ValueKind::Secret, ValueKind::Config] {
            for r in kind.refs_mut(spec) {
                if r.name.is_empty() {
                    r.name = r.source.clone();
                }
                let Some(v) = self.values.of(kind).get(&r.name) else {
                    return Err(ApplyError::NoSuchValue {
                        kind: kind.as_str().into(),
                        name: r.name.clone(),
                    });
                };
                if r.revision == 0 {
                    r.revision = v.current;
                } else if !v.revisions.contains_key(&r.revision) {
                    return Err(ApplyError::NoSuchRevision {
                        kind: kind.as_str().into(),
                        name: r.name.clone(),
                        revision: r.revision,
                    });
                }
            }
        }
        Ok(())
    }

    /// Creates a value or adds a revision and makes it current. With `roll`, every
    /// service using the value is re-pinned to the new revision (its spec changes, so
    /// its tasks are replaced with its update settings).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn put_value(
        &mut self,
        kind: ValueKind,
        name: &str,
        id: &str,
        revision: &SealedRevision,
        mode: PutMode,
        roll: bool,
        stack: &Option<String>,
        at: Timestamp,
    ) -> Result<u64, ApplyError> {
        let err = |e: fn(String, String) -> ApplyError| e(kind.as_str().into(), name.into());
        let map = self.values.of_mut(kind);
        let n = match (map.get_mut(name), mode) {
            (Some(_), PutMode::Create) => {
                return Err(err(|kind, name| ApplyError::ValueExists { kind, name }))
            }
            (None, PutMode::Update) => {
                return Err(err(|kind, name| ApplyError::NoSuchValue { kind, name }))
            }
            (Some(v), _) => {
                let n = v
                    .revisions
                    .keys()
                    .next_back()
                    .copied()
                    .unwrap_or(0)
                    .max(v.current)
                    + 1;
                v.revisions.insert(n, revision.clone());
                v.current = n;
                v.updated_at = at;
                n
            }
            (None, _) => {
                map.insert(
                    name.to_string(),
                    StoredValue {
                        id: id.to_string(),
                        name: name.to_string(),
                        created_at: at,
                        updated_at: at,
                        current: 1,
                        revisions: [(1, revision.clone())].into_iter().collect(),
                        stack: stack.clone(),
                        labels: BTreeMap::new(),
                    },
                );
                1
            }
        };
        if roll {
            for s in self.services.values_mut() {
                let mut bumped = false;
                for r in kind.refs_mut(&mut s.spec) {
                    if r.name == name && r.revision != n {
                        r.revision = n;
                        bumped = true;
                    }
                }
                if bumped {
                    s.version += 1;
                    s.updated_at = at;
                    s.record_revision(at, format!("{} {name} revision {n}", kind.as_str()));
                }
            }
        }
        Ok(n)
    }

    /// Removes a value no service uses.
    pub(crate) fn remove_value(&mut self, kind: ValueKind, name: &str) -> Result<(), ApplyError> {
        if !self.values.of(kind).contains_key(name) {
            return Err(ApplyError::NoSuchValue {
                kind: kind.as_str().into(),
                name: name.into(),
            });
        }
        let users = self.value_users(kind, name);
        if !users.is_empty() {
            return Err(ApplyError::ValueInUse {
                kind: kind.as_str().into(),
                name: name.into(),
                services: users,
            });
        }
        self.values.of_mut(kind).remove(name);
        Ok(())
    }

    /// THE place that decides which revisions are kept: a value's current revision
    /// and every revision a service spec (current or kept for rollback) or a task spec
    /// pins; the others go. A value
    /// a stack made goes with that stack's last service once nothing pins it.
    /// Returns whether anything was removed.
    pub fn prune_values(&mut self) -> bool {
        if self.values.is_empty() {
            return false;
        }
        // A service's kept revisions count too: a rollback to one of them must find
        // the values it pinned.
        let pinned: BTreeSet<ValueKey> = self
            .services
            .values()
            .flat_map(|s| {
                std::iter::once(&s.spec).chain(s.rollout.revisions.iter().map(|r| &r.spec))
            })
            .chain(self.tasks.values().map(|t| &t.spec))
            .flat_map(spec_keys)
            .collect();
        let used =
            |kind: ValueKind, name: &str| pinned.iter().any(|k| k.kind == kind && k.name == name);
        let live_stacks: BTreeSet<&str> =
            self.services.values().map(|s| s.stack.as_str()).collect();
        let mut gone_values = Vec::new();
        let mut changed = false;
        for kind in [ValueKind::Secret, ValueKind::Config] {
            for (name, v) in self.values.of(kind) {
                if let Some(st) = &v.stack {
                    if !live_stacks.contains(st.as_str()) && !used(kind, name) {
                        gone_values.push((kind, name.clone()));
                    }
                }
            }
        }
        for (kind, name) in gone_values {
            self.values.of_mut(kind).remove(&name);
            changed = true;
        }
        for kind in [ValueKind::Secret, ValueKind::Config] {
            for (name, v) in self.values.of_mut(kind).iter_mut() {
                let current = v.current;
                let before = v.revisions.len();
                v.revisions.retain(|rev, _| {
                    *rev == current
                        || pinned.contains(&ValueKey {
                            kind,
                            name: name.clone(),
                            revision: *rev,
                        })
                });
                changed |= v.revisions.len() != before;
            }
        }
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Command, NewService};

    fn test_task() -> crate::Task {
        crate::Task {
            id: "t1".into(),
            service_id: "s1".into(),
            service_name: "st_db".into(),
            slot: 1,
            node_id: None,
            spec_version: 1,
            spec: ServiceSpec::new("demo/busybox:1"),
            desired_state: crate::TaskState::Running,
            status: crate::TaskStatus::new(crate::TaskState::Assigned, 1, "assigned"),
            created_at: 1,
            not_before: 0,
            attempt: 0,
        }
    }

    fn rev(b: u8) -> SealedRevision {
        SealedRevision {
            sealed: vec![b; 40],
            size: 12,
            created_at: 1,
        }
    }

    fn put(name: &str, b: u8, mode: PutMode, roll: bool) -> Command {
        Command::PutValue {
            kind: ValueKind::Secret,
            name: name.into(),
            id: format!("id-{name}"),
            revision: rev(b),
            mode,
            roll,
            stack: None,
            at: 5,
            labels: None,
        }
    }

    fn service_using(name: &str) -> NewService {
        let mut spec = ServiceSpec::new("demo/busybox:1");
        let mut r = orc_spec::file_ref("db", None, false);
        r.name = name.into();
        spec.secrets.push(r);
        NewService {
            id: "s1".into(),
            short_name: "db".into(),
            spec,
        }
    }

    fn deploy(s: &mut ClusterState, ns: NewService) -> crate::CommandResult {
        s.apply(&Command::DeployStack {
            stack: "st".into(),
            services: vec![ns],
            at: 2,
        })
    }

    fn pinned(s: &ClusterState) -> u64 {
        s.service_by_name("st_db").unwrap().spec.secrets[0].revision
    }

    #[test]
    fn a_deploy_pins_the_current_revision_and_an_update_rolls_the_users() {
        let mut s = ClusterState::default();
        // A service naming a secret that does not exist: refused, nothing changes.
        let r = deploy(&mut s, service_using("pw"));
        assert!(matches!(
            r,
            crate::CommandResult::Err(ApplyError::NoSuchValue { .. })
        ));
        assert!(s.services.is_empty());
        assert!(s
            .apply(&put("pw", 1, PutMode::Create, true))
            .error()
            .is_none());
        assert!(matches!(
            s.apply(&put("pw", 1, PutMode::Create, true)).error(),
            Some(ApplyError::ValueExists { .. })
        ));
        assert!(deploy(&mut s, service_using("pw")).error().is_none());
        assert_eq!(pinned(&s), 1);
        let v1 = s.service_by_name("st_db").unwrap().version;
        // The same deploy again is unchanged (the pin is the same).
        match deploy(&mut s, service_using("pw")) {
            crate::CommandResult::Deployed(o) => assert_eq!(o.unchanged, ["st_db"]),
            other => panic!("{other:?}"),
        }
        // `secret update`: a new revision, the user re-pinned, its version bumped.
        s.apply(&put("pw", 2, PutMode::Update, true));
        assert_eq!(pinned(&s), 2);
        assert_eq!(s.service_by_name("st_db").unwrap().version, v1 + 1);
        // Revision 1 is pinned only by the service's previous spec, kept for a
        // rollback: kept too (it goes once that spec leaves the service's history).
        assert_eq!(
            s.values.secrets["pw"]
                .revisions
                .keys()
                .copied()
                .collect::<Vec<_>>(),
            [1, 2]
        );
        // Update of an unknown name, removal while used.
        assert!(matches!(
            s.apply(&put("nope", 1, PutMode::Update, true)).error(),
            Some(ApplyError::NoSuchValue { .. })
        ));
        let r = s.apply(&Command::RemoveValue {
            kind: ValueKind::Secret,
            name: "pw".into(),
        });
        match r.error() {
            Some(e @ ApplyError::ValueInUse { services, .. }) => {
                assert_eq!(services, &["st_db"]);
                assert!(e.to_string().contains("st_db"));
            }
            other => panic!("{other:?}"),
        }
        s.apply(&Command::RemoveStack { stack: "st".into() });
        assert!(s
            .apply(&Command::RemoveValue {
                kind: ValueKind::Secret,
                name: "pw".into(),
            })
            .error()
            .is_none());
        assert!(s.values.is_empty());
    }

    #[test]
    fn revisions_a_task_or_an_older_spec_pins_are_kept() {
        let mut s = ClusterState::default();
        s.apply(&put("pw", 1, PutMode::Create, false));
        deploy(&mut s, service_using("pw"));
        // A task made from revision 1 still exists.
        let mut t = test_task();
        t.spec = s.service_by_name("st_db").unwrap().spec.clone();
        s.apply(&Command::CreateTasks(vec![t]));
        s.apply(&put("pw", 2, PutMode::Update, true));
        let kept: Vec<u64> = s.values.secrets["pw"].revisions.keys().copied().collect();
        assert_eq!(kept, [1, 2]);
        // A spec pinning revision 1 explicitly (a rollback) is accepted while kept.
        let mut old = service_using("pw");
        old.spec.secrets[0].revision = 1;
        assert!(deploy(&mut s, old).error().is_none());
        assert_eq!(pinned(&s), 1);
        s.apply(&Command::RemoveTasks {
            ids: vec!["t1".into()],
        });
        // Still pinned by the service (1) and its kept revisions (2); revision 3
        // added without rolling keeps them.
        s.apply(&put("pw", 3, PutMode::Upsert, false));
        let kept: Vec<u64> = s.values.secrets["pw"].revisions.keys().copied().collect();
        assert_eq!(kept, [1, 2, 3]);
        // A revision that is not there can't be pinned.
        let mut gone = service_using("pw");
        gone.spec.secrets[0].revision = 9;
        assert!(matches!(
            deploy(&mut s, gone).error(),
            Some(ApplyError::NoSuchRevision { revision: 9, .. })
        ));
    }

    #[test]
    fn a_stack_s_own_value_goes_with_its_last_service_and_debug_hides_values() {
        let mut s = ClusterState::default();
        let mut cmd = put("st_pw", 7, PutMode::Upsert, false);
        if let Command::PutValue { stack, .. } = &mut cmd {
            *stack = Some("st".into());
        }
        s.apply(&Command::Batch(vec![cmd, {
            let ns = service_using("st_pw");
            Command::DeployStack {
                stack: "st".into(),
                services: vec![ns],
                at: 2,
            }
        }]));
        assert_eq!(pinned(&s), 1);
        let dbg = format!("{:?}", s.values);
        assert!(!dbg.contains("7, 7"), "{dbg}");
        s.apply(&Command::RemoveStack { stack: "st".into() });
        assert!(s.values.is_empty());
        // For a node: only what its live tasks pin.
        let mut s = ClusterState::default();
        s.apply(&put("pw", 1, PutMode::Create, false));
        deploy(&mut s, service_using("pw"));
        let mut t = test_task();
        t.spec = s.service_by_name("st_db").unwrap().spec.clone();
        t.node_id = Some(9);
        s.apply(&Command::CreateTasks(vec![t]));
        assert_eq!(s.values_for_node(9).len(), 1);
        assert!(s.values_for_node(8).is_empty());
    }
}
