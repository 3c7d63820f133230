//! Sealing values that go into the replicated state: ChaCha20-Poly1305 (ring, which
//! rustls already links) under a key derived from the cluster CA's key material and a
//! per-purpose context, sha256(context ‖ material), with associated data binding each
//! sealed blob to what it is (a registry host, a secret's name). Sealed blobs are
//! nonce ‖ ciphertext ‖ tag. Registry credentials, secrets and configs all go through
//! here; the CA key material comes from the node's one holder of it,
//! [`CaKeys`](super::ca_key::CaKeys) (so a manager locked by autolock seals and opens
//! nothing).

use super::ca_key::CaKeys;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use sha2::{Digest, Sha256};

/// What a sealing key is for: each purpose gets its own key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    RegistryCredentials,
    Secret,
    Config,
}

impl Purpose {
    /// Domain separation for the key derivation.
    fn context(self) -> &'static [u8] {
        match self {
            Purpose::RegistryCredentials => b"orc registry credentials v1\0",
            Purpose::Secret => b"orc secret v1\0",
            Purpose::Config => b"orc config v1\0",
        }
    }
}

impl From<orc_model::ValueKind> for Purpose {
    fn from(k: orc_model::ValueKind) -> Purpose {
        match k {
            orc_model::ValueKind::Secret => Purpose::Secret,
            orc_model::ValueKind::Config => Purpose::Config,
        }
    }
}

/// Why a value cannot be sealed or opened. Never holds the value.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// No CA key here (a worker, a locked manager, or a damaged pki dir).
    #[error("sealed values need the cluster CA key: {0}")]
    NoKey(String),
    /// The sealed blob is damaged, or sealed under another CA key or for another name.
    #[error("the sealed value of {0} cannot be opened")]
    Corrupt(String),
    #[error("no randomness available")]
    NoRandom,
}

fn derived_key(keys: &CaKeys, purpose: Purpose) -> Result<[u8; 32], SealError> {
    let material = keys
        .key_pem()
        .map_err(|e| SealError::NoKey(e.to_string()))?;
    let mut h = Sha256::new();
    h.update(purpose.context());
    h.update(material.as_bytes());
    Ok(h.finalize().into())
}

fn aead(key: &[u8]) -> Result<LessSafeKey, SealError> {
    UnboundKey::new(&CHACHA20_POLY1305, key)
        .map(LessSafeKey::new)
        .map_err(|_| SealError::NoKey("bad key length".into()))
}

/// Seals `clear` under a raw 32-byte key: nonce ‖ ciphertext ‖ tag.
pub fn seal_with_key(key: &[u8], aad: &[u8], clear: &[u8]) -> Result<Vec<u8>, SealError> {
    let key = aead(key)?;
    let mut nonce = [0u8; NONCE_LEN];
    SystemRandom::new()
        .fill(&mut nonce)
        .map_err(|_| SealError::NoRandom)?;
    let mut data = clear.to_vec();
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(aad),
        &mut data,
    )
    .map_err(|_| SealError::Corrupt("a value".into()))?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&data);
    Ok(out)
}

/// Opens what [`seal_with_key`] made; `what` names it in errors.
pub fn open_with_key(
    key: &[u8],
    aad: &[u8],
    sealed: &[u8],
    what: &str,
) -> Result<Vec<u8>, SealError> {
    let key = aead(key)?;
    let corrupt = || SealError::Corrupt(what.to_string());
    if sealed.len() < NONCE_LEN {
        return Err(corrupt());
    }
    let (n, body) = sealed.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(n).map_err(|_| corrupt())?;
    let mut buf = body.to_vec();
    let len = key
        .open_in_place(nonce, Aad::from(aad), &mut buf)
        .map_err(|_| corrupt())?
        .len();
    buf.truncate(len);
    Ok(buf)
}

/// Seals `clear` for `purpose` under the CA-derived key, bound to `aad`.
pub fn seal(
    keys: &CaKeys,
    purpose: Purpose,
    aad: &str,
    clear: &[u8],
) -> Result<Vec<u8>, SealError> {
    seal_with_key(&derived_key(keys, purpose)?, aad.as_bytes(), clear)
}

/// Opens what [`seal`] made for the same purpose and `aad`.
pub fn open(
    keys: &CaKeys,
    purpose: Purpose,
    aad: &str,
    sealed: &[u8],
) -> Result<Vec<u8>, SealError> {
    open_with_key(&derived_key(keys, purpose)?, aad.as_bytes(), sealed, aad)
}

/// The associated data of a secret's or config's revisions: its kind and name, so a
/// sealed value can't pass for another one's.
pub fn value_aad(kind: orc_model::ValueKind, name: &str) -> String {
    format!("{}/{name}", kind.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_value_opens_only_for_its_purpose_name_and_key() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        orc_pki::save_ca(a.path(), &orc_pki::ClusterCa::generate("a").unwrap()).unwrap();
        orc_pki::save_ca(b.path(), &orc_pki::ClusterCa::generate("b").unwrap()).unwrap();
        let (ka, kb) = (CaKeys::load(a.path(), "m"), CaKeys::load(b.path(), "m"));
        let sealed = seal(&ka, Purpose::Secret, "secret/pw", b"hunter2-value").unwrap();
        assert!(!sealed.windows(6).any(|w| w == b"hunter"));
        assert_eq!(
            open(&ka, Purpose::Secret, "secret/pw", &sealed).unwrap(),
            b"hunter2-value"
        );
        assert!(open(&ka, Purpose::Config, "secret/pw", &sealed).is_err());
        assert!(open(&ka, Purpose::Secret, "secret/other", &sealed).is_err());
        let e = open(&kb, Purpose::Secret, "secret/pw", &sealed).unwrap_err();
        assert!(matches!(e, SealError::Corrupt(_)));
        assert!(!e.to_string().contains("hunter"));
        let none = tempfile::tempdir().unwrap();
        assert!(matches!(
            seal(&CaKeys::load(none.path(), "w"), Purpose::Secret, "x", b"v"),
            Err(SealError::NoKey(_))
        ));
    }
}
