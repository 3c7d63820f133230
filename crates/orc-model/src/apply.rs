use crate::{ClusterInfo, ClusterState, Command, CommandResult, DeployOutcome, Service, TaskState};
use orc_spec::ServiceMode;
use serde::{Deserialize, Serialize};

/// Why a command changed nothing. Deterministic: every replica reaches the same one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum ApplyError {
    #[error("the cluster is already initialised (id {0})")]
    AlreadyInitialised(String),
    #[error("the cluster is not initialised")]
    NotInitialised,
    #[error("no node with id {0:016x}")]
    NoSuchNode(u64),
    #[error("no service named {0}")]
    NoSuchService(String),
    #[error("service {0} is global: it runs one task per node and cannot be scaled")]
    NotReplicated(String),
    #[error("service name {name} is taken by stack {other_stack}")]
    NameTaken { name: String, other_stack: String },
    #[error("port {port}/{protocol} of service {name} is already published by service {other}")]
    PortTaken {
        port: u16,
        protocol: String,
        name: String,
        other: String,
    },
    #[error("the cluster network is already set ({0})")]
    NetworkAlreadySet(String),
    #[error("the cluster subnet has no free /24 block left for node {0:016x}")]
    SubnetFull(u64),
    #[error("no volume named {0}")]
    NoSuchVolume(String),
    #[error("volume {name}: {why}")]
    VolumeConflict { name: String, why: String },
    #[error("update out of sequence: service {name} is at version {current}, not {expected}")]
    OutOfSequence {
        name: String,
        current: u64,
        expected: u64,
    },
    #[error("no service with id {0}")]
    NoSuchServiceId(String),
    #[error("network {name} is in use by service(s) {}", users.join(", "))]
    NetworkInUse { name: String, users: Vec<String> },
    #[error("no {kind} named {name}")]
    NoSuchValue { kind: String, name: String },
    #[error("a {kind} named {name} already exists (change it with `orc {kind} update {name}`)")]
    ValueExists { kind: String, name: String },
    #[error("{kind} {name} is used by service(s) {}: remove it from them first", services.join(", "))]
    ValueInUse {
        kind: String,
        name: String,
        services: Vec<String>,
    },
    #[error("{kind} {name} has no revision {revision} any more")]
    NoSuchRevision {
        kind: String,
        name: String,
        revision: u64,
    },
    #[error("service {name} cannot be rolled back: {why}")]
    NoRollback { name: String, why: String },
    #[error(
        "update out of sequence: {what} changed since index {expected} (it is at {current} now)"
    )]
    Stale {
        what: String,
        current: u64,
        expected: u64,
    },
}

impl ClusterState {
    /// Applies one command outside Raft (tests, planning on a copy): as the entry
    /// right after the last change.
    pub fn apply(&mut self, cmd: &Command) -> CommandResult {
        self.apply_at(self.revision + 1, cmd)
    }

    /// Applies the Raft entry at log index `index`. Pure and deterministic; when
    /// anything changed, `revision` becomes `index` (so it is the Raft index of the
    /// state's last change, the same on every replica), and every object it changed
    /// gets that index as its change index (see `versions`).
    pub fn apply_at(&mut self, index: u64, cmd: &Command) -> CommandResult {
        // A log index never goes back; a state that counted its changes (model
        // format 4 and older) has a revision no larger than its log index.
        let index = index.max(self.revision + 1);
        let watch = crate::versions::Watch::before(self, cmd);
        // Debug builds (every test, and the daemons the end-to-end tests run) check
        // the stamps against a full before/after comparison.
        #[cfg(debug_assertions)]
        let whole = self.clone();
        let mut changed = false;
        let r = self.apply_inner(cmd, &mut changed);
        if changed {
            self.prune_values();
            self.revision = index;
            watch.stamp(self);
        }
        #[cfg(debug_assertions)]
        crate::versions::check_stamps(&whole, self);
        r
    }

    fn apply_inner(&mut self, cmd: &Command, changed: &mut bool) -> CommandResult {
        match cmd {
            Command::Noop => CommandResult::Ok,
            Command::InitCluster { id, at } => {
                if let Some(c) = &self.cluster {
                    return CommandResult::Err(ApplyError::AlreadyInitialised(c.id.clone()));
                }
                self.cluster = Some(ClusterInfo {
                    id: id.clone(),
                    created_at: *at,
                    ca_cert_pem: String::new(),
                    worker_token_salt: String::new(),
                    manager_token_salt: String::new(),
                });
                *changed = true;
                CommandResult::Ok
            }
            Command::SetClusterSecurity {
                ca_cert_pem,
                worker_token_salt,
                manager_token_salt,
            } => {
                let Some(c) = self.cluster.as_mut() else {
                    return CommandResult::Err(ApplyError::NotInitialised);
                };
                c.ca_cert_pem = ca_cert_pem.clone();
                c.worker_token_salt = worker_token_salt.clone();
                c.manager_token_salt = manager_token_salt.clone();
                *changed = true;
                CommandResult::Ok
            }
            Command::RotateJoinToken { role, salt } => {
                let Some(c) = self.cluster.as_mut() else {
                    return CommandResult::Err(ApplyError::NotInitialised);
                };
                match role {
                    crate::NodeRole::Manager => c.manager_token_salt = salt.clone(),
                    crate::NodeRole::Worker => c.worker_token_salt = salt.clone(),
                }
                *changed = true;
                CommandResult::Ok
            }
            Command::SetNodeRole { id, role, at } => {
                let Some(n) = self.nodes.get_mut(id) else {
                    return CommandResult::Err(ApplyError::NoSuchNode(*id));
                };
                if n.role != *role {
                    n.role = *role;
                    n.updated_at = *at;
                    *changed = true;
                }
                CommandResult::Ok
            }
            Command::PutNode(n) => {
                if self.nodes.get(&n.id) != Some(n) {
                    self.nodes.insert(n.id, n.clone());
                    *changed = true;
                }
                self.allocate_blocks(changed)
            }
            Command::RemoveNode { id } => {
                if self.nodes.remove(id).is_none() {
                    return CommandResult::Err(ApplyError::NoSuchNode(*id));
                }
                if let Some(net) = self.network.as_mut() {
                    net.blocks.remove(id);
                }
                self.revoked_nodes.insert(*id);
                self.node_images.remove(id);
                *changed = true;
                CommandResult::Ok
            }
            Command::SetNodeStatus {
                id,
                status,
                message,
                at,
            } => {
                let Some(n) = self.nodes.get_mut(id) else {
                    return CommandResult::Err(ApplyError::NoSuchNode(*id));
                };
                if n.status != *status || n.status_message != *message {
                    n.status = *status;
                    n.status_message = message.clone();
                    n.updated_at = *at;
                    *changed = true;
                }
                CommandResult::Ok
            }
            Command::SetNodeAvailability {
                id,
                availability,
                at,
            } => {
                let Some(n) = self.nodes.get_mut(id) else {
                    return CommandResult::Err(ApplyError::NoSuchNode(*id));
                };
                if n.availability != *availability {
                    n.availability = *availability;
                    n.updated_at = *at;
                    *changed = true;
                }
                CommandResult::Ok
            }
            Command::SetNodeLabels { id, labels, at } => {
                let Some(n) = self.nodes.get_mut(id) else {
                    return CommandResult::Err(ApplyError::NoSuchNode(*id));
                };
                if n.labels != *labels {
                    n.labels = labels.clone();
                    n.updated_at = *at;
                    *changed = true;
                }
                CommandResult::Ok
            }
            Command::DeployStack {
                stack,
                services,
                at,
            } => self.deploy_stack(stack, services, *at, changed),
            Command::RemoveStack { stack } => {
                let before = (self.services.len(), self.declared_networks.len());
                self.services.retain(|_, s| s.stack != *stack);
                self.declared_networks.retain(|_, n| n.stack != *stack);
                *changed |= (self.services.len(), self.declared_networks.len()) != before;
                CommandResult::Ok
            }
            Command::ScaleService { name, replicas, at } => {
                let Some(s) = self.services.values_mut().find(|s| s.name == *name) else {
                    return CommandResult::Err(ApplyError::NoSuchService(name.clone()));
                };
                match &mut s.spec.mode {
                    ServiceMode::Global => {
                        CommandResult::Err(ApplyError::NotReplicated(name.clone()))
                    }
                    ServiceMode::Replicated { replicas: r } => {
                        if *r != *replicas {
                            let mut spec = s.spec.clone();
                            spec.mode = ServiceMode::Replicated {
                                replicas: *replicas,
                            };
                            s.set_spec(spec, *at, String::new());
                            *changed = true;
                        }
                        CommandResult::Ok
                    }
                }
            }
            Command::CreateTasks(tasks) => {
                for t in tasks {
                    if !self.tasks.contains_key(&t.id) {
                        self.tasks.insert(t.id.clone(), t.clone());
                        *changed = true;
                    }
                }
                CommandResult::Ok
            }
            Command::AssignTasks { assignments, at } => {
                for (id, node) in assignments {
                    let Some(t) = self.tasks.get_mut(id) else {
                        continue;
                    };
                    if t.node_id.is_some() || t.status.state > TaskState::Pending {
                        continue;
                    }
                    t.node_id = Some(*node);
                    t.status = crate::TaskStatus::new(TaskState::Assigned, *at, "assigned");
                    *changed = true;
                }
                CommandResult::Ok
            }
            Command::SetDesiredState { updates } => {
                for (id, desired) in updates {
                    let Some(t) = self.tasks.get_mut(id) else {
                        continue;
                    };
                    if *desired > t.desired_state {
                        t.desired_state = *desired;
                        *changed = true;
                    }
                }
                CommandResult::Ok
            }
            Command::UpdateTaskStatus { updates } => {
                for (id, status) in updates {
                    let Some(t) = self.tasks.get_mut(id) else {
                        continue;
                    };
                    let cur = &t.status;
                    let forward = status.state > cur.state && !cur.state.is_terminal();
                    // At the same state: a new message, or the health probes' news
                    // (a health change moves no state, so it is taken as it comes).
                    let same_state_news = status.state == cur.state
                        && (status.message != cur.message
                            || status.err != cur.err
                            || status.health != cur.health);
                    if forward || same_state_news {
                        t.status = status.clone();
                        *changed = true;
                    }
                }
                CommandResult::Ok
            }
            Command::RemoveTasks { ids } => {
                for id in ids {
                    *changed |= self.tasks.remove(id).is_some();
                }
                CommandResult::Ok
            }
            Command::Batch(cmds) => {
                CommandResult::Batch(cmds.iter().map(|c| self.apply_inner(c, changed)).collect())
            }
            Command::Restore { from, keep_sealed } => {
                self.restore_from(from, *keep_sealed);
                *changed = true;
                CommandResult::Ok
            }
            Command::PutService {
                service,
                stack,
                name,
                expect_version,
                at,
            } => self.put_service(service, stack, name, *expect_version, *at, changed),
            Command::RemoveService { id } => match self.services.remove(id) {
                Some(_) => {
                    *changed = true;
                    CommandResult::Ok
                }
                None => CommandResult::Err(ApplyError::NoSuchServiceId(id.clone())),
            },
            Command::SetAutolock(a) => {
                if self.autolock != *a {
                    self.autolock = a.clone();
                    *changed = true;
                }
                CommandResult::Ok
            }
            Command::Resume => {
                *changed |= std::mem::replace(&mut self.held, false);
                CommandResult::Ok
            }
            Command::DeclareNetwork {
                stack,
                short_name,
                labels,
                at,
            } => {
                let name = format!("{stack}_{short_name}");
                let created_at = self
                    .declared_networks
                    .get(&name)
                    .map_or(*at, |n| n.created_at);
                let n = crate::DeclaredNetwork {
                    stack: stack.clone(),
                    short_name: short_name.clone(),
                    labels: labels.clone(),
                    created_at,
                };
                *changed |= self.declared_networks.insert(name, n.clone()).as_ref() != Some(&n);
                CommandResult::Ok
            }
            Command::RemoveNetwork { name } => {
                let users = self
                    .stack_networks()
                    .remove(name)
                    .map(|n| n.users)
                    .unwrap_or_default();
                if !users.is_empty() {
                    return CommandResult::Err(ApplyError::NetworkInUse {
                        name: name.clone(),
                        users,
                    });
                }
                *changed |= self.declared_networks.remove(name).is_some();
                CommandResult::Ok
            }
            Command::SetVip(vip) => {
                if self.vip != *vip {
                    self.vip = vip.clone();
                    self.vip_holder = None;
                    *changed = true;
                }
                CommandResult::Ok
            }
            Command::SetVipHolder { node, at } => {
                if self.vip.is_some() && self.vip_holder.as_ref().map(|h| h.node) != Some(*node) {
                    self.vip_holder = Some(crate::VipHolder {
                        node: *node,
                        since: *at,
                    });
                    *changed = true;
                }
                CommandResult::Ok
            }
            Command::SetRegistryAuth { registry, sealed } => {
                let old = match sealed {
                    Some(s) => self.registry_auth.insert(registry.clone(), s.clone()),
                    None => self.registry_auth.remove(registry),
                };
                *changed |= old != *sealed;
                CommandResult::Ok
            }
            Command::WantImage { image, nodes } => {
                let before = self.image_wants.get(image).cloned();
                let entry = self.image_wants.entry(image.clone()).or_default();
                if nodes.is_empty() {
                    entry.clear();
                } else if before.as_ref().is_none_or(|b| !b.is_empty()) {
                    entry.extend(nodes.iter().copied());
                }
                *changed |= before.as_ref() != Some(&*entry);
                CommandResult::Ok
            }
            Command::UnwantImage { image } => {
                *changed |= self.image_wants.remove(image).is_some();
                CommandResult::Ok
            }
            Command::SetNodeImages { node, images } => {
                if !self.nodes.contains_key(node) {
                    return CommandResult::Ok;
                }
                let old = self.node_images.insert(*node, images.clone());
                *changed |= old.as_ref() != Some(images);
                CommandResult::Ok
            }
            Command::SetClusterNetwork(net) => {
                if let Some(cur) = &self.network {
                    return CommandResult::Err(ApplyError::NetworkAlreadySet(format!(
                        "{} {}",
                        cur.subnet,
                        cur.driver.as_str()
                    )));
                }
                self.network = Some(net.clone());
                *changed = true;
                self.allocate_blocks(changed)
            }
            Command::EnsureVolumes { stack, volumes, at } => {
                self.ensure_volumes(stack, volumes, *at, changed)
            }
            Command::RemoveVolume { name } => {
                *changed |= self.storage.volumes.remove(name).is_some();
                CommandResult::Ok
            }
            Command::SetVolumeAttachment { name, attachment } => {
                self.set_attachment(name, attachment, changed)
            }
            Command::FenceNode { volume, node, .. } => self.fence(volume, *node, changed),
            Command::SetCeph(ceph) => {
                if self.storage.ceph != *ceph {
                    self.storage.ceph = ceph.clone();
                    *changed = true;
                }
                CommandResult::Ok
            }
            Command::VolumeReleased { volume, node } => {
                self.volume_released(volume, *node, changed)
            }
            Command::Unfence { node } => self.unfence(*node, changed),
            Command::PutValue {
                kind,
                name,
                id,
                revision,
                mode,
                roll,
                stack,
                at,
                labels,
            } => match self.put_value(*kind, name, id, revision, *mode, *roll, stack, *at) {
                Ok(_) => {
                    if let (Some(l), Some(v)) = (labels, self.values.of_mut(*kind).get_mut(name)) {
                        v.labels = l.clone();
                    }
                    *changed = true;
                    CommandResult::Ok
                }
                Err(e) => CommandResult::Err(e),
            },
            Command::RemoveValue { kind, name } => match self.remove_value(*kind, name) {
                Ok(()) => {
                    *changed = true;
                    CommandResult::Ok
                }
                Err(e) => CommandResult::Err(e),
            },
            Command::SetUpdateStatus { id, status } => self.set_update_status(id, status, changed),
            Command::MarkStable { id, revision } => {
                self.mark_stable(id, *revision, changed);
                CommandResult::Ok
            }
            Command::RollbackService {
                id,
                to,
                expect_version,
                reason,
                at,
            } => self.rollback_service(id, *to, *expect_version, reason, *at, changed),
            Command::ForceUpdate { id, at } => self.force_update(id, *at, changed),
            Command::Guarded { guard, index, then } => {
                let current = self.index_of(guard);
                if current != *index {
                    return CommandResult::Err(ApplyError::Stale {
                        what: guard.to_string(),
                        current,
                        expected: *index,
                    });
                }
                self.apply_inner(then, changed)
            }
            Command::SetValueLabels {
                kind,
                name,
                labels,
                at,
            } => {
                let Some(v) = self.values.of_mut(*kind).get_mut(name) else {
                    return CommandResult::Err(ApplyError::NoSuchValue {
                        kind: kind.as_str().into(),
                        name: name.clone(),
                    });
                };
                if v.labels != *labels {
                    v.labels = labels.clone();
                    v.updated_at = *at;
                    *changed = true;
                }
                CommandResult::Ok
            }
        }
    }

    fn put_service(
        &mut self,
        ns: &crate::NewService,
        stack: &str,
        name: &str,
        expect_version: Option<u64>,
        at: u64,
        changed: &mut bool,
    ) -> CommandResult {
        // Secret and config references pinned to a revision before comparing specs.
        let mut pinned = ns.clone();
        if let Err(e) = self.pin_values(&mut pinned.spec) {
            return CommandResult::Err(e);
        }
        let ns = &pinned;
        if let Some(other) = self
            .services
            .values()
            .find(|s| s.name == name && s.id != ns.id)
        {
            return CommandResult::Err(ApplyError::NameTaken {
                name: name.to_string(),
                other_stack: other.stack.clone(),
            });
        }
        // Ports: checked against every other service, whatever its stack.
        for p in &ns.spec.ports {
            if let Some(other) = self.services.values().find(|s| {
                s.id != ns.id
                    && s.spec
                        .ports
                        .iter()
                        .any(|q| q.published == p.published && q.protocol == p.protocol)
            }) {
                return CommandResult::Err(ApplyError::PortTaken {
                    port: p.published,
                    protocol: p.protocol.as_str().to_string(),
                    name: name.to_string(),
                    other: other.name.clone(),
                });
            }
        }
        match self.services.get_mut(&ns.id) {
            Some(s) => {
                if let Some(v) = expect_version.filter(|v| *v != s.version) {
                    return CommandResult::Err(ApplyError::OutOfSequence {
                        name: s.name.clone(),
                        current: s.version,
                        expected: v,
                    });
                }
                if s.spec != ns.spec {
                    s.set_spec(ns.spec.clone(), at, String::new());
                    *changed = true;
                }
            }
            None => {
                if expect_version.is_some() {
                    return CommandResult::Err(ApplyError::NoSuchServiceId(ns.id.clone()));
                }
                self.services.insert(
                    ns.id.clone(),
                    Service::new(
                        ns.id.clone(),
                        name.to_string(),
                        stack.to_string(),
                        ns.short_name.clone(),
                        ns.spec.clone(),
                        at,
                    ),
                );
                *changed = true;
            }
        }
        CommandResult::Ok
    }

    fn deploy_stack(
        &mut self,
        stack: &str,
        services: &[crate::NewService],
        at: u64,
        changed: &mut bool,
    ) -> CommandResult {
        // Secret and config references pinned to a revision before comparing specs.
        let mut pinned = services.to_vec();
        for ns in &mut pinned {
            if let Err(e) = self.pin_values(&mut ns.spec) {
                return CommandResult::Err(e);
            }
        }
        let services = &pinned[..];
        if let Some(e) = self.port_conflict(stack, services) {
            return CommandResult::Err(e);
        }
        // Refuse the whole deploy if a name belongs to another stack: nothing changes.
        for ns in services {
            let name = format!("{stack}_{}", ns.short_name);
            if let Some(other) = self
                .services
                .values()
                .find(|s| s.name == name && s.stack != stack)
            {
                return CommandResult::Err(ApplyError::NameTaken {
                    name,
                    other_stack: other.stack.clone(),
                });
            }
        }
        let mut out = DeployOutcome::default();
        for ns in services {
            let name = format!("{stack}_{}", ns.short_name);
            match self.services.values_mut().find(|s| s.name == name) {
                Some(s) if s.spec == ns.spec => out.unchanged.push(name),
                Some(s) => {
                    s.set_spec(ns.spec.clone(), at, String::new());
                    *changed = true;
                    out.updated.push(name);
                }
                None => {
                    self.services.insert(
                        ns.id.clone(),
                        Service::new(
                            ns.id.clone(),
                            name.clone(),
                            stack.to_string(),
                            ns.short_name.clone(),
                            ns.spec.clone(),
                            at,
                        ),
                    );
                    *changed = true;
                    out.created.push(name);
                }
            }
        }
        let keep: Vec<&str> = services.iter().map(|s| s.short_name.as_str()).collect();
        let gone: Vec<String> = self
            .services
            .iter()
            .filter(|(_, s)| s.stack == stack && !keep.contains(&s.short_name.as_str()))
            .map(|(id, _)| id.clone())
            .collect();
        for id in gone {
            if let Some(s) = self.services.remove(&id) {
                out.removed.push(s.name);
                *changed = true;
            }
        }
        CommandResult::Deployed(out)
    }
}

#[cfg(test)]
mod vip_tests {
    use crate::{ClusterState, Command, VipSetting};

    #[test]
    fn set_vip_sets_replaces_and_unsets() {
        let mut s = ClusterState::default();
        let v = VipSetting {
            address: "10.0.0.100/24".into(),
            interface: "eth0".into(),
            vrid: 51,
            advert_interval_ms: 100,
        };
        s.apply(&Command::SetVip(Some(v.clone())));
        assert_eq!(s.vip.as_ref(), Some(&v));
        assert_eq!(s.revision, 1);
        s.apply(&Command::SetVip(Some(v.clone())));
        assert_eq!(s.revision, 1, "setting the same VIP again changes nothing");
        s.apply(&Command::SetVip(None));
        assert_eq!(s.vip, None);
        assert_eq!(s.revision, 2);
    }

    #[test]
    fn snapshots_without_the_vip_field_still_decode() {
        let mut s = ClusterState {
            revision: 7,
            ..Default::default()
        };
        s.vip = None;
        let mut bytes = crate::encode_state(&s).unwrap();
        assert_eq!(bytes.pop(), Some(0), "None is one 0 byte at the end");
        assert_eq!(crate::decode_state(&bytes).unwrap(), s);
        // From before `vip` too: both trailing fields missing.
        assert_eq!(bytes.pop(), Some(0));
        assert_eq!(crate::decode_state(&bytes).unwrap(), s);
    }

    #[test]
    fn registry_auth_is_set_and_removed() {
        let mut s = ClusterState::default();
        let set = |sealed: Option<Vec<u8>>| Command::SetRegistryAuth {
            registry: "r.lan:5000".into(),
            sealed,
        };
        s.apply(&set(Some(vec![1, 2])));
        assert_eq!(s.registry_auth.get("r.lan:5000"), Some(&vec![1, 2]));
        assert_eq!(s.revision, 1);
        s.apply(&set(Some(vec![1, 2])));
        assert_eq!(s.revision, 1, "the same credentials again change nothing");
        s.apply(&set(None));
        assert!(s.registry_auth.is_empty());
        assert_eq!(s.revision, 2);
        s.apply(&set(None));
        assert_eq!(s.revision, 2);
    }

    #[test]
    fn autolock_is_set_rotated_and_cleared() {
        let mut s = ClusterState::default();
        let on = |id: &str| {
            Command::SetAutolock(Some(crate::AutolockSetting {
                key_id: id.into(),
                sealed_key: vec![9, 9],
            }))
        };
        s.apply(&on("k1"));
        assert_eq!(s.autolock.as_ref().map(|a| a.key_id.as_str()), Some("k1"));
        assert_eq!(s.revision, 1);
        s.apply(&on("k1"));
        assert_eq!(s.revision, 1, "the same setting again changes nothing");
        s.apply(&on("k2"));
        assert_eq!(s.autolock.as_ref().map(|a| a.key_id.as_str()), Some("k2"));
        s.apply(&Command::SetAutolock(None));
        assert!(s.autolock.is_none());
        assert_eq!(s.revision, 3);
        let dbg = format!("{:?}", on("k3"));
        assert!(dbg.contains("k3") && !dbg.contains("9, 9"), "{dbg}");
    }

    #[test]
    fn node_images_are_replaced_per_known_node() {
        let mut s = ClusterState::default();
        let images = |d: &str| {
            std::collections::BTreeMap::from([(
                "docker.io/demo/busybox:1".to_string(),
                d.to_string(),
            )])
        };
        s.apply(&Command::SetNodeImages {
            node: 9,
            images: images("sha256:a"),
        });
        assert!(s.node_images.is_empty(), "unknown nodes report nothing");
        let node = crate::node::test_node(9, crate::NodeRole::Worker, "10.0.0.9:4747");
        s.nodes.insert(9, node);
        s.apply(&Command::SetNodeImages {
            node: 9,
            images: images("sha256:a"),
        });
        let rev = s.revision;
        s.apply(&Command::SetNodeImages {
            node: 9,
            images: images("sha256:a"),
        });
        assert_eq!(s.revision, rev, "the same inventory changes nothing");
        s.apply(&Command::SetNodeImages {
            node: 9,
            images: images("sha256:b"),
        });
        assert_eq!(s.node_images[&9]["docker.io/demo/busybox:1"], "sha256:b");
        s.apply(&Command::RemoveNode { id: 9 });
        assert!(s.node_images.is_empty());
    }

    #[test]
    fn image_wants_merge_and_every_node_wins() {
        let mut s = ClusterState::default();
        let want = |nodes: &[u64]| Command::WantImage {
            image: "i".into(),
            nodes: nodes.iter().copied().collect(),
        };
        s.apply(&want(&[1]));
        s.apply(&want(&[2]));
        assert_eq!(s.images_wanted_on(2).collect::<Vec<_>>(), vec!["i"]);
        assert_eq!(s.images_wanted_on(3).count(), 0);
        s.apply(&want(&[]));
        assert_eq!(s.images_wanted_on(3).count(), 1, "empty = every node");
        let rev = s.revision;
        s.apply(&want(&[4]));
        assert_eq!(s.revision, rev, "already wanted everywhere");
        s.apply(&Command::UnwantImage { image: "i".into() });
        assert_eq!(s.images_wanted_on(1).count(), 0);
    }
}
