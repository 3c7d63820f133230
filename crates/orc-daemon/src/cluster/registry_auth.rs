//! Registry credentials in the replicated state: sealed with ChaCha20-Poly1305
//! under a key derived from the cluster CA's private key (which only managers hold),
//! the registry host as associated data. The clear password exists only in memory,
//! on the manager that pulls or proposes; it is never logged.

use super::ca_key::CaKeys;
use orc_model::ClusterState;
use orc_runtime::{Credentials, ImageRef, RegistryOptions};
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Domain separation for the key derivation.
const KEY_CONTEXT: &[u8] = b"orc registry credentials v1\0";

/// Why credentials cannot be sealed or opened.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// No CA key here (a worker, a locked manager, or a damaged pki dir).
    #[error("registry credentials need the cluster CA key: {0}")]
    NoKey(String),
    /// The sealed blob is damaged, or sealed under another CA key or host.
    #[error("stored credentials for {0} cannot be opened")]
    Corrupt(String),
}

/// The sealing key: sha256(context ‖ CA key PEM), the PEM from the node's one holder.
fn key(keys: &CaKeys) -> Result<LessSafeKey, SealError> {
    let pem = keys
        .key_pem()
        .map_err(|e| SealError::NoKey(e.to_string()))?;
    let mut h = Sha256::new();
    h.update(KEY_CONTEXT);
    h.update(pem.as_bytes());
    let k = UnboundKey::new(&CHACHA20_POLY1305, &h.finalize())
        .map_err(|_| SealError::NoKey("bad key length".into()))?;
    Ok(LessSafeKey::new(k))
}

/// Seals `creds` for `registry`: nonce ‖ ciphertext ‖ tag.
pub fn seal(keys: &CaKeys, registry: &str, creds: &Credentials) -> Result<Vec<u8>, SealError> {
    let key = key(keys)?;
    let mut nonce = [0u8; NONCE_LEN];
    SystemRandom::new()
        .fill(&mut nonce)
        .map_err(|_| SealError::NoKey("no randomness".into()))?;
    let mut data = serde_json::to_vec(creds).map_err(|_| SealError::Corrupt(registry.into()))?;
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(registry.as_bytes()),
        &mut data,
    )
    .map_err(|_| SealError::Corrupt(registry.into()))?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&data);
    Ok(out)
}

/// Opens what [`seal`] made for `registry`.
pub fn open(keys: &CaKeys, registry: &str, sealed: &[u8]) -> Result<Credentials, SealError> {
    let key = key(keys)?;
    let corrupt = || SealError::Corrupt(registry.into());
    if sealed.len() < NONCE_LEN {
        return Err(corrupt());
    }
    let (n, body) = sealed.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(n).map_err(|_| corrupt())?;
    let mut buf = body.to_vec();
    let clear = key
        .open_in_place(nonce, Aad::from(registry.as_bytes()), &mut buf)
        .map_err(|_| corrupt())?;
    serde_json::from_slice(clear).map_err(|_| corrupt())
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
