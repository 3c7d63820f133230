//! Registry credentials in the replicated state: sealed with ChaCha20-Poly1305
//! under a key derived from the cluster CA's private key (which only managers hold),
//! the registry host as associated data. The clear password exists only in memory,
//! on the manager that pulls or proposes; it is never logged.

use orc_model::ClusterState;
use orc_runtime::{Credentials, ImageRef, RegistryOptions};
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Domain separation for the key derivation.
const KEY_CONTEXT: &[u8] = b"orc registry credentials v1\0";

/// Why credentials cannot be sealed or opened.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// No CA key here (a worker, or a manager's pki dir is damaged).
    #[error("no cluster CA key on this node ({0}): only managers can handle registry credentials")]
    NoKey(String),
    /// The sealed blob is damaged, or sealed under another CA key or host.
    #[error("stored credentials for {0} cannot be opened")]
    Corrupt(String),
}

/// The sealing key: sha256(context ‖ CA key PEM).
fn key(pki: &Path) -> Result<LessSafeKey, SealError> {
    let path = pki.join(orc_pki::CA_KEY_FILE);
    let pem =
        std::fs::read(&path).map_err(|e| SealError::NoKey(format!("{}: {e}", path.display())))?;
    let mut h = Sha256::new();
    h.update(KEY_CONTEXT);
    h.update(&pem);
    let k = UnboundKey::new(&CHACHA20_POLY1305, &h.finalize())
        .map_err(|_| SealError::NoKey("bad key length".into()))?;
    Ok(LessSafeKey::new(k))
}

/// Seals `creds` for `registry`: nonce ‖ ciphertext ‖ tag.
pub fn seal(pki: &Path, registry: &str, creds: &Credentials) -> Result<Vec<u8>, SealError> {
    let key = key(pki)?;
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
pub fn open(pki: &Path, registry: &str, sealed: &[u8]) -> Result<Credentials, SealError> {
    let key = key(pki)?;
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
