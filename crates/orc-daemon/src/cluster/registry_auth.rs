//! Registry credentials in the replicated state: sealed with ChaCha20-Poly1305
//! under a key derived from the cluster CA's private key (which only managers hold),
//! the registry host as associated data (through [`super::seal`]). The clear password exists only in memory,
//! on the manager that pulls or proposes; it is never logged.

pub use super::seal::SealError;
use super::seal::{self, Purpose};
use orc_model::ClusterState;
use orc_runtime::{Credentials, ImageRef, RegistryOptions};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Seals `creds` for `registry` (the host is the associated data).
pub fn seal(pki: &Path, registry: &str, creds: &Credentials) -> Result<Vec<u8>, SealError> {
    let data = serde_json::to_vec(creds).map_err(|_| SealError::Corrupt(registry.into()))?;
    seal::seal(pki, Purpose::RegistryCredentials, registry, &data)
}

/// Opens what [`seal`] made for `registry`.
pub fn open(pki: &Path, registry: &str, sealed: &[u8]) -> Result<Credentials, SealError> {
    let clear = seal::open(pki, Purpose::RegistryCredentials, registry, sealed)?;
    serde_json::from_slice(&clear).map_err(|_| SealError::Corrupt(registry.into()))
}

/// The sealed credentials an agent last saw, and how to open them.
pub struct PullAuth {
    pki: PathBuf,
    insecure: Vec<String>,
    sealed: Mutex<BTreeMap<String, Vec<u8>>>,
}

impl PullAuth {
    /// For a node whose pki dir is `pki`, allowed plain HTTP to `insecure`.
    pub fn new(pki: PathBuf, insecure: Vec<String>) -> PullAuth {
        PullAuth {
            pki,
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
        let credentials = sealed.and_then(|s| match open(&self.pki, &registry, &s) {
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
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(orc_pki::CA_KEY_FILE), "-----KEY A-----").unwrap();
        let c = Credentials {
            username: "me".into(),
            password: "s3cret".into(),
        };
        let sealed = seal(dir.path(), "r.lan:5000", &c).unwrap();
        assert!(!String::from_utf8_lossy(&sealed).contains("s3cret"));
        assert_eq!(open(dir.path(), "r.lan:5000", &sealed).unwrap(), c);
        assert!(open(dir.path(), "other:5000", &sealed).is_err());
        std::fs::write(dir.path().join(orc_pki::CA_KEY_FILE), "-----KEY B-----").unwrap();
        assert!(matches!(
            open(dir.path(), "r.lan:5000", &sealed),
            Err(SealError::Corrupt(_))
        ));
        let none = tempfile::tempdir().unwrap();
        assert!(matches!(
            seal(none.path(), "r", &c),
            Err(SealError::NoKey(_))
        ));
    }
}
