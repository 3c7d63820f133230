//! Stack networks as objects of their own (for front doors that create and delete
//! them one by one, like the Docker API). A stack network exists while it is declared
//! (`Command::DeclareNetwork`, kept in Raft until removed or its stack goes) or while a
//! service of the stack is attached to it.

use super::Ops;
use crate::util::now_ms;
use crate::DaemonError;
use orc_model::{ApplyError, Command};
use std::collections::BTreeMap;

/// Why a network cannot be removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetworkInUse {
    Free,
    /// By these services.
    By(Vec<String>),
}

impl Ops {
    /// Declares network `net` of stack `stack` with `labels` (valid names, on a
    /// manager); declaring it again replaces its labels.
    pub async fn network_declare(
        &self,
        stack: &str,
        net: &str,
        labels: BTreeMap<String, String>,
    ) -> Result<(), DaemonError> {
        let cluster = self.cluster()?;
        for (what, n) in [("stack", stack), ("network", net)] {
            orc_spec::check_name(n)
                .map_err(|why| DaemonError::Invalid(format!("{what} name: {why}")))?;
        }
        cluster
            .propose(Command::DeclareNetwork {
                stack: stack.to_string(),
                short_name: net.to_string(),
                labels,
                at: now_ms(),
            })
            .await?;
        Ok(())
    }

    /// Removes network `net` of `stack`, unless a service is attached to it.
    pub async fn network_remove(
        &self,
        stack: &str,
        net: &str,
    ) -> Result<NetworkInUse, DaemonError> {
        let cluster = self.cluster()?;
        let name = format!("{stack}_{net}");
        match cluster.propose(Command::RemoveNetwork { name }).await {
            Ok(_) => Ok(NetworkInUse::Free),
            Err(DaemonError::Apply(ApplyError::NetworkInUse { users, .. })) => {
                Ok(NetworkInUse::By(users))
            }
            Err(e) => Err(e),
        }
    }
}
