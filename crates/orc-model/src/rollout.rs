//! A service's rollouts: its recent specs as numbered revisions, and the state of the
//! update (or rollback) under way. The updater (orc-scheduler) decides; the commands
//! here only record what it decided, deterministically.

use crate::{ApplyError, ClusterState, CommandResult, Service, ServiceId, Timestamp};
use orc_spec::{ServiceMode, ServiceSpec};
use serde::{Deserialize, Serialize};

/// Revisions kept per service (the newest ones).
pub const REVISIONS_KEPT: usize = 10;

/// Everything about a service's rollouts (a field of [`Service`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceRollout {
    /// The last [`REVISIONS_KEPT`] specs, oldest first; the newest is the current one.
    pub revisions: Vec<Revision>,
    /// The update (or rollback) of the current version, or the last one.
    pub update: Option<UpdateStatus>,
    /// `orc service update --force`: tasks made from a version below this one are
    /// outdated even when their spec is the same.
    pub force: u64,
}

/// One spec a service had.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revision {
    /// The service version that had this spec.
    pub number: u64,
    pub spec: ServiceSpec,
    pub created_at: Timestamp,
    /// Every task of this revision ran healthy through `monitor`: a rollback target.
    pub stable: bool,
    /// What made it ("rollback to 3", "forced"); empty for a plain change.
    pub note: String,
}

/// Where an update (or rollback) stands, as Docker names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum UpdateState {
    Updating,
    Paused,
    Completed,
    RollbackStarted,
    RollbackPaused,
    RollbackCompleted,
}

impl UpdateState {
    pub fn as_str(self) -> &'static str {
        match self {
            UpdateState::Updating => "updating",
            UpdateState::Paused => "paused",
            UpdateState::Completed => "completed",
            UpdateState::RollbackStarted => "rollback_started",
            UpdateState::RollbackPaused => "rollback_paused",
            UpdateState::RollbackCompleted => "rollback_completed",
        }
    }

    /// A rollback's states.
    pub fn is_rollback(self) -> bool {
        matches!(
            self,
            UpdateState::RollbackStarted
                | UpdateState::RollbackPaused
                | UpdateState::RollbackCompleted
        )
    }

    /// Still replacing tasks.
    pub fn in_progress(self) -> bool {
        matches!(self, UpdateState::Updating | UpdateState::RollbackStarted)
    }

    /// Ended in a state a user must look at (paused, or rolled back).
    pub fn is_failure(self) -> bool {
        matches!(
            self,
            UpdateState::Paused | UpdateState::RollbackPaused | UpdateState::RollbackCompleted
        )
    }
}

impl std::fmt::Display for UpdateState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The update or rollback of one service version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateStatus {
    pub state: UpdateState,
    /// Why it is in that state: "task web.2 failed: exited with 1".
    pub message: String,
    pub started_at: Timestamp,
    /// When it completed or paused.
    pub ended_at: Option<Timestamp>,
    /// The revision it moves away from.
    pub from: u64,
    /// The revision it moves to (a rollback: the revision whose spec it restores).
    pub to: u64,
    /// The service version whose tasks it rolls out (the status belongs to it).
    pub version: u64,
}

impl Service {
    /// A new service at version 1, its spec as revision 1.
    pub fn new(
        id: ServiceId,
        name: String,
        stack: String,
        short_name: String,
        spec: ServiceSpec,
        at: Timestamp,
    ) -> Service {
        let mut s = Service {
            id,
            name,
            stack,
            short_name,
            spec,
            version: 1,
            created_at: at,
            updated_at: at,
            rollout: ServiceRollout::default(),
        };
        s.record_revision(at, String::new());
        s
    }

    /// Sets a new spec (version + 1, a new revision).
    pub(crate) fn set_spec(&mut self, spec: ServiceSpec, at: Timestamp, note: String) {
        self.spec = spec;
        self.version += 1;
        self.updated_at = at;
        self.record_revision(at, note);
    }

    /// Records the current spec as revision `version`, dropping the oldest beyond
    /// [`REVISIONS_KEPT`].
    pub(crate) fn record_revision(&mut self, at: Timestamp, note: String) {
        let revs = &mut self.rollout.revisions;
        revs.retain(|r| r.number != self.version);
        revs.push(Revision {
            number: self.version,
            spec: self.spec.clone(),
            created_at: at,
            stable: false,
            note,
        });
        let extra = revs.len().saturating_sub(REVISIONS_KEPT);
        revs.drain(..extra);
    }

    /// The revision a rollback goes to: `to` if given (it must be kept and not the
    /// current one), else the newest stable revision older than the current version
    /// whose spec (with today's replica count) differs from the current spec.
    pub fn rollback_target(&self, to: Option<u64>) -> Result<&Revision, String> {
        let revs = &self.rollout.revisions;
        if let Some(n) = to {
            if n == self.version {
                return Err(format!("revision {n} is the current one"));
            }
            return revs.iter().find(|r| r.number == n).ok_or_else(|| {
                let kept: Vec<String> = revs.iter().map(|r| r.number.to_string()).collect();
                format!("no revision {n} (kept: {})", kept.join(", "))
            });
        }
        revs.iter()
            .rev()
            .filter(|r| r.stable && r.number < self.version)
            .find(|r| self.with_current_mode(&r.spec) != self.spec)
            .ok_or_else(|| "no stable revision to roll back to".to_string())
    }

    /// `spec` with this service's replica count (a rollback keeps the scale).
    pub fn with_current_mode(&self, spec: &ServiceSpec) -> ServiceSpec {
        let mut spec = spec.clone();
        if let (ServiceMode::Replicated { .. }, ServiceMode::Replicated { replicas }) =
            (spec.mode, self.spec.mode)
        {
            spec.mode = ServiceMode::Replicated { replicas };
        }
        spec
    }

    /// The current revision, if kept.
    pub fn current_revision(&self) -> Option<&Revision> {
        self.rollout
            .revisions
            .iter()
            .find(|r| r.number == self.version)
    }
}

impl ClusterState {
    pub(crate) fn set_update_status(
        &mut self,
        id: &str,
        status: &UpdateStatus,
        changed: &mut bool,
    ) -> CommandResult {
        let Some(s) = self.services.get_mut(id) else {
            return CommandResult::Err(ApplyError::NoSuchServiceId(id.to_string()));
        };
        // A status decided for an older version is stale: a newer spec came meanwhile.
        if s.version != status.version {
            return CommandResult::Ok;
        }
        if s.rollout.update.as_ref() != Some(status) {
            s.rollout.update = Some(status.clone());
            *changed = true;
        }
        CommandResult::Ok
    }

    pub(crate) fn mark_stable(&mut self, id: &str, revision: u64, changed: &mut bool) {
        let Some(s) = self.services.get_mut(id) else {
            return;
        };
        if let Some(r) = s
            .rollout
            .revisions
            .iter_mut()
            .find(|r| r.number == revision && !r.stable)
        {
            r.stable = true;
            *changed = true;
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn rollback_service(
        &mut self,
        id: &str,
        to: Option<u64>,
        expect_version: Option<u64>,
        reason: &str,
        at: Timestamp,
        changed: &mut bool,
    ) -> CommandResult {
        let Some(s) = self.services.get_mut(id) else {
            return CommandResult::Err(ApplyError::NoSuchServiceId(id.to_string()));
        };
        if let Some(v) = expect_version.filter(|v| *v != s.version) {
            return CommandResult::Err(ApplyError::OutOfSequence {
                name: s.name.clone(),
                current: s.version,
                expected: v,
            });
        }
        let target = match s.rollback_target(to) {
            Ok(r) => r,
            Err(why) => {
                return CommandResult::Err(ApplyError::NoRollback {
                    name: s.name.clone(),
                    why,
                })
            }
        };
        let (number, spec) = (target.number, s.with_current_mode(&target.spec));
        let from = s.version;
        s.set_spec(spec, at, format!("rollback to {number}"));
        s.rollout.update = Some(UpdateStatus {
            state: UpdateState::RollbackStarted,
            message: reason.to_string(),
            started_at: at,
            ended_at: None,
            from,
            to: number,
            version: s.version,
        });
        *changed = true;
        CommandResult::Ok
    }

    pub(crate) fn force_update(
        &mut self,
        id: &str,
        at: Timestamp,
        changed: &mut bool,
    ) -> CommandResult {
        let Some(s) = self.services.get_mut(id) else {
            return CommandResult::Err(ApplyError::NoSuchServiceId(id.to_string()));
        };
        let spec = s.spec.clone();
        s.set_spec(spec, at, "forced".to_string());
        s.rollout.force = s.version;
        *changed = true;
        CommandResult::Ok
    }
}

#[cfg(test)]
mod tests {
    use crate::{ClusterState, Command, CommandResult, NewService, UpdateState, UpdateStatus};
    use orc_spec::ServiceSpec;

    fn deploy(image: &str) -> Command {
        Command::DeployStack {
            stack: "st".into(),
            services: vec![NewService {
                id: "w".into(),
                short_name: "web".into(),
                spec: ServiceSpec::new(image),
            }],
            at: 1,
        }
    }

    fn rollback(to: Option<u64>) -> Command {
        Command::RollbackService {
            id: "w".into(),
            to,
            expect_version: None,
            reason: "asked".into(),
            at: 9,
        }
    }

    #[test]
    fn each_spec_change_is_a_revision_and_only_ten_are_kept() {
        let mut st = ClusterState::default();
        for i in 0..12 {
            st.apply(&deploy(&format!("app:{i}")));
        }
        st.apply(&deploy("app:11"));
        let s = &st.services["w"];
        assert_eq!(s.version, 12);
        let numbers: Vec<u64> = s.rollout.revisions.iter().map(|r| r.number).collect();
        assert_eq!(numbers, (3..=12).collect::<Vec<_>>());
        assert_eq!(
            s.current_revision().map(|r| r.spec.image.as_str()),
            Some("app:11")
        );
    }

    #[test]
    fn rollback_goes_to_the_last_stable_revision_never_a_redeployed_bad_one() {
        let mut st = ClusterState::default();
        st.apply(&deploy("app:1"));
        st.apply(&Command::MarkStable {
            id: "w".into(),
            revision: 1,
        });
        st.apply(&deploy("app:2"));
        // Nothing stable but the current one before it: v2 is not a target.
        st.apply(&deploy("app:2"));
        assert_eq!(
            st.services["w"].version, 2,
            "the same file twice is no change"
        );
        assert_eq!(st.apply(&rollback(None)), CommandResult::Ok);
        let s = &st.services["w"];
        assert_eq!(s.spec.image, "app:1");
        assert_eq!(s.version, 3);
        let u = s.rollout.update.clone().unwrap();
        assert_eq!(
            (u.state, u.from, u.to, u.version),
            (UpdateState::RollbackStarted, 2, 1, 3)
        );
        assert_eq!(
            s.rollout.revisions.last().map(|r| r.note.as_str()),
            Some("rollback to 1")
        );
        // The rolled-back-to spec is current now: no older stable one differs.
        let r = st.apply(&rollback(None));
        assert!(
            matches!(&r, CommandResult::Err(e) if e.to_string().contains("no stable revision")),
            "{r:?}"
        );
        // An explicit revision is fine, stable or not; an unknown one is refused.
        assert_eq!(st.apply(&rollback(Some(2))), CommandResult::Ok);
        assert_eq!(st.services["w"].spec.image, "app:2");
        let r = st.apply(&rollback(Some(77)));
        assert!(matches!(&r, CommandResult::Err(e) if e.to_string().contains("no revision 77")));
    }

    #[test]
    fn a_rollback_keeps_the_replica_count_and_checks_the_version() {
        let mut st = ClusterState::default();
        st.apply(&deploy("app:1"));
        st.apply(&Command::MarkStable {
            id: "w".into(),
            revision: 1,
        });
        st.apply(&deploy("app:2"));
        st.apply(&Command::ScaleService {
            name: "st_web".into(),
            replicas: 4,
            at: 3,
        });
        let stale = Command::RollbackService {
            id: "w".into(),
            to: None,
            expect_version: Some(2),
            reason: "x".into(),
            at: 4,
        };
        assert!(matches!(st.apply(&stale), CommandResult::Err(_)));
        assert_eq!(st.apply(&rollback(None)), CommandResult::Ok);
        let s = &st.services["w"];
        assert_eq!(s.spec.image, "app:1");
        assert_eq!(
            s.spec.mode,
            orc_spec::ServiceMode::Replicated { replicas: 4 }
        );
    }

    #[test]
    fn update_status_of_an_older_version_is_ignored() {
        let mut st = ClusterState::default();
        st.apply(&deploy("app:1"));
        st.apply(&deploy("app:2"));
        let status = |version| UpdateStatus {
            state: UpdateState::Updating,
            message: String::new(),
            started_at: 5,
            ended_at: None,
            from: 1,
            to: version,
            version,
        };
        let rev = st.revision;
        st.apply(&Command::SetUpdateStatus {
            id: "w".into(),
            status: status(1),
        });
        assert_eq!(st.revision, rev);
        assert!(st.services["w"].rollout.update.is_none());
        st.apply(&Command::SetUpdateStatus {
            id: "w".into(),
            status: status(2),
        });
        assert_eq!(st.services["w"].rollout.update, Some(status(2)));
        let rev = st.revision;
        st.apply(&Command::SetUpdateStatus {
            id: "w".into(),
            status: status(2),
        });
        assert_eq!(st.revision, rev, "the same status again changes nothing");
    }

    #[test]
    fn force_makes_a_new_version_with_the_same_spec() {
        let mut st = ClusterState::default();
        st.apply(&deploy("app:1"));
        st.apply(&Command::ForceUpdate {
            id: "w".into(),
            at: 2,
        });
        let s = &st.services["w"];
        assert_eq!((s.version, s.rollout.force), (2, 2));
        assert_eq!(s.spec.image, "app:1");
    }
}
