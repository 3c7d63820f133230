//! Stack networks as objects of their own (for front doors that create and delete
//! them one by one, like the Docker API). In orc a stack network exists while a
//! service of the stack is attached to it: declaring one checks its names, and
//! removing one checks no service uses it; nothing is stored either way.

use super::Ops;
use crate::DaemonError;
use orc_spec::NetworkMode;

/// Why a network cannot be removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetworkInUse {
    Free,
    /// By these services.
    By(Vec<String>),
}

impl Ops {
    /// Declares network `net` of stack `stack` (valid names, on a manager).
    pub fn network_declare(&self, stack: &str, net: &str) -> Result<(), DaemonError> {
        self.cluster()?;
        for (what, n) in [("stack", stack), ("network", net)] {
            orc_spec::check_name(n)
                .map_err(|why| DaemonError::Invalid(format!("{what} name: {why}")))?;
        }
        Ok(())
    }

    /// Whether network `net` of `stack` may go (no service attached to it).
    pub fn network_remove(&self, stack: &str, net: &str) -> Result<NetworkInUse, DaemonError> {
        let state = self.state()?;
        let users: Vec<String> = state
            .services_in_stack(stack)
            .filter(|s| {
                s.spec.network_mode == NetworkMode::Stack
                    && s.spec.networks.iter().any(|n| n == net)
            })
            .map(|s| s.name.clone())
            .collect();
        Ok(if users.is_empty() {
            NetworkInUse::Free
        } else {
            NetworkInUse::By(users)
        })
    }
}
