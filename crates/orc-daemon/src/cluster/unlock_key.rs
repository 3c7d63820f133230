//! Autolock's cryptography, pure (no I/O): the unlock key a human types, the CA key
//! wrapped under it (the file a locked manager keeps), and the unlock key sealed
//! under the CA key (what Raft holds, so that every unlocked manager can wrap its own
//! copy).
//!
//! The unlock key is 160 random bits, shown as `ORC-UNLOCK-` and eight groups of four
//! base32 letters. Being random (not a passphrase), it needs no slow KDF: the
//! wrapping key is HKDF-SHA256(salt, unlock key) with a fresh 16-byte salt per
//! wrapping, and the CA key PEM is sealed with ChaCha20-Poly1305 (both from ring),
//! the key id bound as associated data.

use orc_model::AutolockSetting;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305, NONCE_LEN};
use ring::hkdf;
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Bytes of randomness in an unlock key.
const KEY_BYTES: usize = 20;
const PREFIX: &str = "ORC-UNLOCK-";
const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
/// HKDF info and AEAD context of the wrapped CA key.
const WRAP_CONTEXT: &[u8] = b"orc autolock CA key v1\0";
/// Domain separation of the key that seals the unlock key in Raft.
const SEAL_CONTEXT: &[u8] = b"orc autolock unlock key v1\0";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UnlockKeyError {
    #[error("this is not an unlock key (expected ORC-UNLOCK- and 32 letters A-Z, 2-7)")]
    Malformed,
    #[error("the unlock key is wrong: it does not open this manager's CA key")]
    Wrong,
    #[error("the wrapped CA key file is damaged: {0}")]
    Damaged(String),
    #[error("the cluster's sealed unlock key does not open under this CA key")]
    Unsealable,
    #[error("no randomness available")]
    NoRandom,
}

/// An unlock key. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct UnlockKey([u8; KEY_BYTES]);

impl std::fmt::Debug for UnlockKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UnlockKey(<redacted>)")
    }
}

impl UnlockKey {
    pub fn generate() -> Result<UnlockKey, UnlockKeyError> {
        let mut k = [0u8; KEY_BYTES];
        SystemRandom::new()
            .fill(&mut k)
            .map_err(|_| UnlockKeyError::NoRandom)?;
        Ok(UnlockKey(k))
    }

    /// What a human types: case, spaces and dashes don't matter, the prefix is optional.
    pub fn parse(text: &str) -> Result<UnlockKey, UnlockKeyError> {
        let t = text.trim();
        let t = match t.get(..PREFIX.len()) {
            Some(p) if p.eq_ignore_ascii_case(PREFIX) => &t[PREFIX.len()..],
            _ => t,
        };
        let mut bits: u64 = 0;
        let mut nbits = 0u32;
        let mut out = Vec::with_capacity(KEY_BYTES);
        for c in t.chars().filter(|c| *c != '-' && !c.is_whitespace()) {
            let c = c.to_ascii_uppercase();
            let v = ALPHABET
                .iter()
                .position(|a| char::from(*a) == c)
                .ok_or(UnlockKeyError::Malformed)?;
            bits = (bits << 5) | v as u64;
            nbits += 5;
            if nbits >= 8 {
                nbits -= 8;
                out.push((bits >> nbits) as u8);
                bits &= (1 << nbits) - 1;
            }
        }
        if nbits != 0 {
            return Err(UnlockKeyError::Malformed);
        }
        <[u8; KEY_BYTES]>::try_from(out.as_slice())
            .map(UnlockKey)
            .map_err(|_| UnlockKeyError::Malformed)
    }

    /// `ORC-UNLOCK-ABCD-EFGH-…` (eight groups of four).
    pub fn display(&self) -> String {
        let mut letters = String::with_capacity(32);
        for chunk in self.0.chunks(5) {
            let mut v: u64 = 0;
            for b in chunk {
                v = (v << 8) | u64::from(*b);
            }
            for i in (0..8).rev() {
                letters.push(char::from(ALPHABET[((v >> (i * 5)) & 31) as usize]));
            }
        }
        let groups: Vec<&str> = (0..8).map(|i| &letters[i * 4..i * 4 + 4]).collect();
        format!("{PREFIX}{}", groups.join("-"))
    }
}

/// The CA key as a locked manager keeps it (`ca-key.locked`, JSON, mode 0600).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WrappedKey {
    pub format: u32,
    /// The cluster's [`AutolockSetting::key_id`] this was wrapped for.
    pub key_id: String,
    /// Hex: HKDF salt, AEAD nonce, ciphertext ‖ tag.
    pub salt: String,
    pub nonce: String,
    pub sealed: String,
}

fn aead_key(salt: &[u8], key: &UnlockKey) -> LessSafeKey {
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, salt).extract(&key.0);
    let okm = prk.expand(&[WRAP_CONTEXT], &CHACHA20_POLY1305);
    // `expand` only fails for an output longer than 255 hash lengths; 32 bytes isn't.
    let unbound: UnboundKey = match okm {
        Ok(o) => o.into(),
        Err(_) => unreachable!("HKDF output of 32 bytes"),
    };
    LessSafeKey::new(unbound)
}

fn aad(key_id: &str) -> Vec<u8> {
    [WRAP_CONTEXT, key_id.as_bytes()].concat()
}

/// Wraps the CA key PEM under `key` for the cluster's `key_id`.
pub fn wrap(ca_key_pem: &str, key: &UnlockKey, key_id: &str) -> Result<WrappedKey, UnlockKeyError> {
    let rng = SystemRandom::new();
    let mut salt = [0u8; 16];
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill(&mut salt).map_err(|_| UnlockKeyError::NoRandom)?;
    rng.fill(&mut nonce).map_err(|_| UnlockKeyError::NoRandom)?;
    let mut data = ca_key_pem.as_bytes().to_vec();
    aead_key(&salt, key)
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad(key_id)),
            &mut data,
        )
        .map_err(|_| UnlockKeyError::NoRandom)?;
    Ok(WrappedKey {
        format: 1,
        key_id: key_id.to_string(),
        salt: hex::encode(salt),
        nonce: hex::encode(nonce),
        sealed: hex::encode(data),
    })
}

/// The CA key PEM inside `w`, if `key` is the one it was wrapped under.
pub fn unwrap(w: &WrappedKey, key: &UnlockKey) -> Result<String, UnlockKeyError> {
    let damaged = |what: &str| UnlockKeyError::Damaged(what.to_string());
    if w.format != 1 {
        return Err(damaged("unknown format"));
    }
    let salt = hex::decode(&w.salt).map_err(|_| damaged("salt"))?;
    let nonce = hex::decode(&w.nonce).map_err(|_| damaged("nonce"))?;
    let mut buf = hex::decode(&w.sealed).map_err(|_| damaged("sealed"))?;
    let nonce = Nonce::try_assume_unique_for_key(&nonce).map_err(|_| damaged("nonce"))?;
    // A wrong key and a tampered file look the same to an AEAD: both are refused.
    let clear = aead_key(&salt, key)
        .open_in_place(nonce, Aad::from(aad(&w.key_id)), &mut buf)
        .map_err(|_| UnlockKeyError::Wrong)?;
    String::from_utf8(clear.to_vec()).map_err(|_| damaged("not text"))
}

fn seal_key(ca_key_pem: &str) -> LessSafeKey {
    let mut h = Sha256::new();
    h.update(SEAL_CONTEXT);
    h.update(ca_key_pem.as_bytes());
    match UnboundKey::new(&CHACHA20_POLY1305, &h.finalize()) {
        Ok(k) => LessSafeKey::new(k),
        Err(_) => unreachable!("SHA-256 gives a 32-byte key"),
    }
}

/// The Raft setting for a new unlock key: a random id and the key sealed under the CA key.
pub fn setting(ca_key_pem: &str, key: &UnlockKey) -> Result<AutolockSetting, UnlockKeyError> {
    let rng = SystemRandom::new();
    let mut id = [0u8; 8];
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill(&mut id).map_err(|_| UnlockKeyError::NoRandom)?;
    rng.fill(&mut nonce).map_err(|_| UnlockKeyError::NoRandom)?;
    let key_id = hex::encode(id);
    let mut data = key.0.to_vec();
    seal_key(ca_key_pem)
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(key_id.as_bytes()),
            &mut data,
        )
        .map_err(|_| UnlockKeyError::NoRandom)?;
    let mut sealed_key = nonce.to_vec();
    sealed_key.extend_from_slice(&data);
    Ok(AutolockSetting { key_id, sealed_key })
}

/// The unlock key inside a Raft setting (on a manager that holds the CA key).
pub fn open_setting(ca_key_pem: &str, s: &AutolockSetting) -> Result<UnlockKey, UnlockKeyError> {
    if s.sealed_key.len() < NONCE_LEN {
        return Err(UnlockKeyError::Unsealable);
    }
    let (n, body) = s.sealed_key.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(n).map_err(|_| UnlockKeyError::Unsealable)?;
    let mut buf = body.to_vec();
    let clear = seal_key(ca_key_pem)
        .open_in_place(nonce, Aad::from(s.key_id.as_bytes()), &mut buf)
        .map_err(|_| UnlockKeyError::Unsealable)?;
    <[u8; KEY_BYTES]>::try_from(&*clear)
        .map(UnlockKey)
        .map_err(|_| UnlockKeyError::Unsealable)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEM: &str =
        "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49\n-----END PRIVATE KEY-----\n";

    #[test]
    fn the_key_reads_back_however_it_is_typed() {
        let k = UnlockKey::generate().unwrap();
        let shown = k.display();
        assert!(shown.starts_with("ORC-UNLOCK-"));
        assert_eq!(shown.len(), "ORC-UNLOCK-".len() + 8 * 4 + 7);
        assert_eq!(UnlockKey::parse(&shown).unwrap(), k);
        let typed = shown.to_lowercase().replace('-', " ");
        let typed = typed.trim_start_matches("orc unlock ");
        assert_eq!(UnlockKey::parse(typed).unwrap(), k);
        assert_eq!(UnlockKey::parse(&format!("  {shown}\n")).unwrap(), k);
        for bad in [
            "",
            "ORC-UNLOCK-ABCD",
            &shown.replace('A', "1"),
            &format!("{shown}A"),
        ] {
            if bad.contains('1') || bad.len() != shown.len() {
                assert_eq!(
                    UnlockKey::parse(bad),
                    Err(UnlockKeyError::Malformed),
                    "{bad}"
                );
            }
        }
        assert!(!format!("{k:?}").contains(&shown[11..15]));
    }

    #[test]
    fn only_the_right_unlock_key_opens_the_wrapped_ca_key() {
        let k = UnlockKey::generate().unwrap();
        let w = wrap(PEM, &k, "id1").unwrap();
        let text = serde_json::to_string(&w).unwrap();
        assert!(!text.contains("PRIVATE KEY") && !text.contains("MIGHAgEA"));
        assert_eq!(unwrap(&w, &k).unwrap(), PEM);
        let other = UnlockKey::generate().unwrap();
        assert_eq!(unwrap(&w, &other), Err(UnlockKeyError::Wrong));
        // Two wrappings under one key differ (fresh salt and nonce).
        assert_ne!(wrap(PEM, &k, "id1").unwrap().sealed, w.sealed);
    }

    #[test]
    fn a_tampered_wrapped_key_is_refused() {
        let k = UnlockKey::generate().unwrap();
        let w = wrap(PEM, &k, "id1").unwrap();
        let mut flipped = w.clone();
        let mut bytes = hex::decode(&flipped.sealed).unwrap();
        bytes[3] ^= 1;
        flipped.sealed = hex::encode(bytes);
        assert_eq!(unwrap(&flipped, &k), Err(UnlockKeyError::Wrong));
        let mut renamed = w.clone();
        renamed.key_id = "id2".into();
        assert_eq!(unwrap(&renamed, &k), Err(UnlockKeyError::Wrong));
        let mut salted = w.clone();
        salted.salt = hex::encode([0u8; 16]);
        assert_eq!(unwrap(&salted, &k), Err(UnlockKeyError::Wrong));
        let mut garbled = w;
        garbled.nonce = "zz".into();
        assert!(matches!(
            unwrap(&garbled, &k),
            Err(UnlockKeyError::Damaged(_))
        ));
    }

    #[test]
    fn the_raft_setting_opens_only_under_the_same_ca_key() {
        let k = UnlockKey::generate().unwrap();
        let s = setting(PEM, &k).unwrap();
        assert!(!s.sealed_key.windows(KEY_BYTES).any(|w| w == k.0.as_slice()));
        assert_eq!(open_setting(PEM, &s).unwrap(), k);
        assert_eq!(
            open_setting("another key", &s),
            Err(UnlockKeyError::Unsealable)
        );
        let mut other_id = s.clone();
        other_id.key_id = "x".into();
        assert_eq!(
            open_setting(PEM, &other_id),
            Err(UnlockKeyError::Unsealable)
        );
    }
}
