//! Volumes as cluster objects: what was declared, where each is attached, which nodes
//! were fenced off it, and how nodes reach Ceph.

use crate::{ApplyError, ClusterState, CommandResult, NodeId, Timestamp};
use orc_spec::VolumeSpec;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Everything storage-related the managers replicate (one field of [`ClusterState`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Storage {
    /// Volumes by full name (`STACK_VOLUME`).
    pub volumes: BTreeMap<String, Volume>,
    /// How nodes reach Ceph (`orc cluster ceph set`).
    pub ceph: Option<CephSetting>,
}

/// One volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    /// `STACK_VOLUME`, unique in the cluster.
    pub name: String,
    /// The stack that declared it.
    pub stack: String,
    /// Driver and options, as first deployed.
    pub spec: VolumeSpec,
    /// When the first deploy created it.
    pub created_at: Timestamp,
    /// The node that holds it now (claimed by the leader when it placed a task there).
    pub attachment: Option<Attachment>,
    /// A local volume's node: the volume's data lives there, so its tasks do too.
    pub home_node: Option<NodeId>,
    /// Nodes fenced off this volume at Ceph (blocklisted) after they went down.
    pub fenced: BTreeSet<NodeId>,
    /// Fenced nodes that came back and reported the volume released (stale containers
    /// stopped, unmounted): the leader lifts their blocklist entry, then forgets them.
    pub released: BTreeSet<NodeId>,
}

/// Who holds a volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// The node it is attached on.
    pub node: NodeId,
    /// Since when.
    pub since: Timestamp,
    /// The Ceph client identity the node uses ("client.orc"); empty for local volumes.
    pub client: String,
    /// The client address fencing blocklists (the node's address).
    pub address: String,
}

/// How nodes reach Ceph: the cluster's ceph.conf, a user and its keyring.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CephSetting {
    /// ceph.conf's text.
    pub conf: String,
    /// The Ceph user without `client.` ("orc").
    pub user: String,
    /// The keyring's text: a secret. Never printed (Debug redacts it) or logged; on
    /// disk only inside the Raft store (root-only data dir) and in a 0600 file on each
    /// node for the ceph CLI tools.
    pub keyring: String,
}

impl std::fmt::Debug for CephSetting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CephSetting")
            .field("conf", &format_args!("{} bytes", self.conf.len()))
            .field("user", &self.user)
            .field("keyring", &format_args!("<redacted>"))
            .finish()
    }
}

impl ClusterState {
    /// Volumes of a stack.
    pub fn volumes_in_stack<'a>(&'a self, stack: &'a str) -> impl Iterator<Item = &'a Volume> {
        self.storage
            .volumes
            .values()
            .filter(move |v| v.stack == stack)
    }

    pub(crate) fn ensure_volumes(
        &mut self,
        stack: &str,
        volumes: &[(String, VolumeSpec)],
        at: Timestamp,
        changed: &mut bool,
    ) -> CommandResult {
        for (short, spec) in volumes {
            let name = format!("{stack}_{short}");
            if let Some(v) = self.storage.volumes.get(&name) {
                if v.spec.driver != spec.driver {
                    return CommandResult::Err(ApplyError::VolumeConflict {
                        name,
                        why: format!(
                            "it exists with driver {} and other options; remove it first (orc volume rm)",
                            v.spec.driver.name()
                        ),
                    });
                }
            }
        }
        for (short, spec) in volumes {
            let name = format!("{stack}_{short}");
            self.storage.volumes.entry(name.clone()).or_insert_with(|| {
                *changed = true;
                Volume {
                    name,
                    stack: stack.to_string(),
                    spec: spec.clone(),
                    created_at: at,
                    attachment: None,
                    home_node: None,
                    fenced: BTreeSet::new(),
                    released: BTreeSet::new(),
                }
            });
        }
        CommandResult::Ok
    }

    pub(crate) fn set_attachment(
        &mut self,
        name: &str,
        attachment: &Option<Attachment>,
        changed: &mut bool,
    ) -> CommandResult {
        let Some(v) = self.storage.volumes.get_mut(name) else {
            return CommandResult::Err(ApplyError::NoSuchVolume(name.to_string()));
        };
        if let Some(a) = attachment {
            if v.spec.driver.single_writer()
                && v.attachment.as_ref().is_some_and(|old| old.node != a.node)
            {
                return CommandResult::Err(ApplyError::VolumeConflict {
                    name: name.to_string(),
                    why: "it is attached on another node".into(),
                });
            }
            if v.spec.driver == orc_spec::VolumeDriver::Local && v.home_node.is_none() {
                v.home_node = Some(a.node);
            }
        }
        if v.attachment != *attachment {
            v.attachment = attachment.clone();
            *changed = true;
        }
        CommandResult::Ok
    }

    pub(crate) fn fence(&mut self, name: &str, node: NodeId, changed: &mut bool) -> CommandResult {
        let Some(v) = self.storage.volumes.get_mut(name) else {
            return CommandResult::Err(ApplyError::NoSuchVolume(name.to_string()));
        };
        *changed |= v.fenced.insert(node);
        if v.attachment.as_ref().is_some_and(|a| a.node == node) {
            v.attachment = None;
            *changed = true;
        }
        CommandResult::Ok
    }

    /// `node`, fenced off `name`, released it (a report from that node).
    pub(crate) fn volume_released(
        &mut self,
        name: &str,
        node: NodeId,
        changed: &mut bool,
    ) -> CommandResult {
        let Some(v) = self.storage.volumes.get_mut(name) else {
            return CommandResult::Err(ApplyError::NoSuchVolume(name.to_string()));
        };
        if v.fenced.contains(&node) {
            *changed |= v.released.insert(node);
        }
        CommandResult::Ok
    }

    /// The leader lifted `node`'s blocklist entry: it may use Ceph volumes again.
    pub(crate) fn unfence(&mut self, node: NodeId, changed: &mut bool) -> CommandResult {
        for v in self.storage.volumes.values_mut() {
            *changed |= v.fenced.remove(&node);
            *changed |= v.released.remove(&node);
        }
        CommandResult::Ok
    }
}
