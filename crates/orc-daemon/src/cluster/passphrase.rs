//! The cluster CA key in a backup, sealed under a passphrase the user chose:
//! PBKDF2-HMAC-SHA256 (salted) derives a ChaCha20-Poly1305 key (both from ring, which
//! rustls already links). The clear key exists only in memory.

use super::seal::{open_with_key, seal_with_key};
use orc_model::SealedCa;
use ring::aead::NONCE_LEN;
use ring::pbkdf2;
use ring::rand::{SecureRandom, SystemRandom};
use std::num::NonZeroU32;

/// About a quarter of a second on a Cortex-A53 board; the salt defeats precomputation.
const ITERATIONS: u32 = 100_000;
const AAD: &[u8] = b"orc backup CA key v1";

#[derive(Debug, thiserror::Error)]
pub enum PassphraseError {
    #[error("a passphrase of at least 8 characters is needed")]
    TooShort,
    #[error("the passphrase does not open the backup's CA key (wrong passphrase, or damaged)")]
    Wrong,
    #[error("no randomness available")]
    NoRandom,
}

fn key(passphrase: &str, salt: &[u8], iterations: u32) -> Result<[u8; 32], PassphraseError> {
    let n = NonZeroU32::new(iterations).ok_or(PassphraseError::Wrong)?;
    let mut k = [0u8; 32];
    pbkdf2::derive(
        pbkdf2::PBKDF2_HMAC_SHA256,
        n,
        salt,
        passphrase.as_bytes(),
        &mut k,
    );
    Ok(k)
}

/// Seals the CA key PEM under `passphrase`.
pub fn seal(cert_pem: &str, key_pem: &str, passphrase: &str) -> Result<SealedCa, PassphraseError> {
    if passphrase.chars().count() < 8 {
        return Err(PassphraseError::TooShort);
    }
    let mut salt = vec![0u8; 16];
    SystemRandom::new()
        .fill(&mut salt)
        .map_err(|_| PassphraseError::NoRandom)?;
    let k = key(passphrase, &salt, ITERATIONS)?;
    let mut sealed = seal_with_key(&k, AAD, key_pem.as_bytes()).map_err(|e| match e {
        super::seal::SealError::NoRandom => PassphraseError::NoRandom,
        _ => PassphraseError::Wrong,
    })?;
    let sealed_key = sealed.split_off(NONCE_LEN);
    Ok(SealedCa {
        cert_pem: cert_pem.to_string(),
        salt,
        iterations: ITERATIONS,
        nonce: sealed,
        sealed_key,
    })
}

/// The CA key PEM inside `sealed`.
pub fn open(sealed: &SealedCa, passphrase: &str) -> Result<String, PassphraseError> {
    let k = key(passphrase, &sealed.salt, sealed.iterations)?;
    let mut blob = sealed.nonce.clone();
    blob.extend_from_slice(&sealed.sealed_key);
    let clear = open_with_key(&k, AAD, &blob, "the CA key").map_err(|_| PassphraseError::Wrong)?;
    String::from_utf8(clear).map_err(|_| PassphraseError::Wrong)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_right_passphrase_opens_the_key() {
        let s = seal("CERT", "-----KEY-----", "correct horse").unwrap();
        assert!(!s.sealed_key.windows(5).any(|w| w == b"KEY--"));
        assert_eq!(open(&s, "correct horse").unwrap(), "-----KEY-----");
        assert!(matches!(
            open(&s, "correct horsE"),
            Err(PassphraseError::Wrong)
        ));
        assert!(matches!(
            seal("C", "K", "short"),
            Err(PassphraseError::TooShort)
        ));
    }
}
