//! Registry credentials in the replicated state: sealed with ChaCha20-Poly1305
//! under a key derived from the cluster CA's private key (which only managers hold),
//! the registry host as associated data (through [`super::seal`]). The clear password exists only in memory,
//! on the manager that pulls or proposes; it is never logged.

use super::ca_key::CaKeys;
pub use super::seal::SealError;
use super::seal::{self, Purpose};
use orc_model::ClusterState;
use orc_runtime::{Credentials, ImageRef, RegistryOptions};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Seals `creds` for `registry` (the host is the associated data).
pub fn seal(keys: &CaKeys, registry: &str, creds: &Credentials) -> Result<Vec<u8>, SealError> {
    let data = serde_json::to_vec(creds).map_err(|_| SealError::Corrupt(registry.into()))?;
    seal::seal(keys, Purpose::RegistryCredentials, registry, &data)
}

/// Opens what [`seal`] made for `registry`.
pub fn open(keys: &CaKeys, registry: &str, sealed: &[u8]) -> Result<Credentials, SealError> {
    let clear = seal::open(keys, Purpose::RegistryCredentials, registry, sealed)?;
    serde_json::from_slice(&clear).map_err(|_| SealError::Corrupt(registry.into()))
}

/// The sealed credentials an agent last saw, and how to open them.
pub struct PullAuth {
    keys: Option<Arc<CaKeys>>,
    insecure: Vec<String>,
    sealed: Mutex<BTreeMap<String, Vec<u8>>>,
}

impl PullAuth {
    /// For a node whose CA key holder is `keys` (none: no credentials open here),
    /// allowed plain HTTP to `insecure`.
    pub fn new(keys: Option<Arc<CaKeys>>, insecure: Vec<String>) -> PullAuth {
        PullAuth {
            keys,
            insecure,
            sealed: Mutex::new(BTreeMap::new()),
        }
    }

    /// Takes the credentials of a new state.
    pub fn update(&self, state: &ClusterState) {
        if let Ok(mut m) = self.sealed.lock() {
            if *m != state.registry_auth {
                *m = state.registry_auth.clone();
            }
        }
    }

    /// How to pull `reference`: with its registry's credentials if stored and
    /// openable here (a failure to open is logged without secrets; the pull then
    /// goes anonymous and the registry's refusal names the problem).
    pub fn options(&self, reference: &str) -> RegistryOptions {
        let registry = ImageRef::parse(reference)
            .map(|r| r.registry)
            .unwrap_or_default();
        let sealed = self
            .sealed
            .lock()
            .ok()
            .and_then(|m| m.get(&registry).cloned());
        let keys = self.keys.as_deref();
        let credentials = sealed
            .zip(keys)
            .and_then(|(s, k)| match open(k, &registry, &s) {
                Ok(c) => Some(c),
                Err(e) => {
                    tracing::warn!("registry {registry}: {e}");
                    None
                }
            });
        RegistryOptions {
            credentials,
            insecure: self.insecure.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_credentials_open_only_with_the_same_key_and_host() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        orc_pki::save_ca(a.path(), &orc_pki::ClusterCa::generate("a").unwrap()).unwrap();
        orc_pki::save_ca(b.path(), &orc_pki::ClusterCa::generate("b").unwrap()).unwrap();
        let (ka, kb) = (CaKeys::load(a.path(), "m"), CaKeys::load(b.path(), "m"));
        let c = Credentials {
            username: "me".into(),
            password: "s3cret".into(),
        };
        let sealed = seal(&ka, "r.lan:5000", &c).unwrap();
        assert!(!String::from_utf8_lossy(&sealed).contains("s3cret"));
        assert_eq!(open(&ka, "r.lan:5000", &sealed).unwrap(), c);
        assert!(open(&ka, "other:5000", &sealed).is_err());
        assert!(matches!(
            open(&kb, "r.lan:5000", &sealed),
            Err(SealError::Corrupt(_))
        ));
        let none = tempfile::tempdir().unwrap();
        assert!(matches!(
            seal(&CaKeys::load(none.path(), "w"), "r", &c),
            Err(SealError::NoKey(_))
        ));
        // Locked: the wrapped key opens nothing until unlocked.
        let k = crate::cluster::unlock_key::UnlockKey::generate().unwrap();
        ka.wrap(&k, "id").unwrap();
        let locked = CaKeys::load(a.path(), "m");
        assert!(
            matches!(open(&locked, "r.lan:5000", &sealed), Err(SealError::NoKey(m)) if m.contains("locked"))
        );
        locked.unlock(&k).unwrap();
        assert_eq!(open(&locked, "r.lan:5000", &sealed).unwrap(), c);
    }
}
