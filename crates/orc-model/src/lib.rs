//! orc's cluster object model and the pure Raft state machine.
//!
//! Everything a manager replicates lives in [`ClusterState`]; every change is a
//! [`Command`] applied by [`ClusterState::apply`], which is deterministic and does no
//! I/O: ids and timestamps come inside the command, chosen by the proposer.

mod apply;
mod apply_network;
mod backup;
mod codec;
mod command;
mod directory;
mod ids;
pub mod legacy;
mod network;
mod node;
mod rollout;
mod secret;
mod state;
mod task;
mod versions;
mod volume;

pub use apply::ApplyError;
pub use backup::{
    decode_backup, encode_backup, Backup, BackupError, BackupHeader, SealedCa, BACKUP_FORMAT,
};
pub use codec::{decode_state, encode_state, CodecError, FORMAT_VERSION};
pub use command::{Command, CommandResult, DeployOutcome, NewService};
pub use directory::{Directory, DirectoryEntry};
pub use ids::{new_id, short_id, NodeId, ServiceId, TaskId, Timestamp};
pub use network::{
    free_address, gateway, ClusterNetwork, DeclaredNetwork, Ipv4Net, NetworkDriver, StackNetwork,
    DEFAULT_SUBNET, VXLAN_PORT, VXLAN_VNI,
};
pub use node::{Availability, Node, NodeResources, NodeRole, NodeStatus, Platform};
pub use orc_spec::{ClearValue, ServiceMode, ServiceSpec};
pub use rollout::{Revision, ServiceRollout, UpdateState, UpdateStatus, REVISIONS_KEPT};
pub use secret::{spec_keys, PutMode, SealedRevision, StoredValue, ValueKey, ValueKind, Values};
pub use state::{AutolockSetting, ClusterInfo, ClusterState, Service, VipHolder, VipSetting};
pub use task::{HealthState, ProbeResult, Task, TaskHealth, TaskState, TaskStatus};
pub use versions::{Guard, Versions};
pub use volume::{Attachment, CephSetting, Storage, Volume};
