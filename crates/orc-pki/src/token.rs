//! Join tokens: `ORC1-<m|w>-<CA fingerprint>-<secret>`.
//!
//! A token proves two things in two directions:
//! - the **joiner** checks the cluster: it connects with
//!   [`join_endpoint`](crate::join_endpoint), which accepts the manager only if
//!   its certificate chains to a CA whose SHA-256 fingerprint is the token's;
//! - the **manager** checks the joiner: the joiner sends the token over that
//!   connection, and the manager compares the secret with the hash it keeps for
//!   the token's role ([`check_secret_hash`]).
//!
//! Managers never store the clear secret: Raft state holds only
//! [`hash_secret`] of it, so a copy of the state (a backup, a snapshot sent to a
//! follower) does not let anyone join. The clear token exists only when it is
//! generated and printed (`orc cluster join-token`, which therefore has to
//! rotate to print a new one). The secret is 32 random bytes, so a plain
//! SHA-256 is as good as a slow password hash here.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

use crate::ca::ClusterCa;
use crate::error::{Result, TokenError};
use crate::identity::Role;
use crate::pem::random_bytes;

const PREFIX: &str = "ORC1";
/// Domain separation for the stored hash, so it is not a plain SHA-256 of the secret.
const HASH_DOMAIN: &[u8] = b"orc join secret v1\0";

/// A parsed join token. `Display` gives the token string to print for the
/// operator; `Debug` hides the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct JoinToken {
    /// SHA-256 of the cluster CA certificate, 64 lowercase hex digits.
    pub ca_fingerprint: String,
    /// 32 random bytes as 64 lowercase hex digits. Secret.
    pub secret: String,
    /// The role the token admits.
    pub role: Role,
}

impl JoinToken {
    /// A new token for `role` with a fresh random secret.
    pub fn generate(ca: &ClusterCa, role: Role) -> Result<JoinToken> {
        let secret: [u8; 32] = random_bytes()?;
        Ok(JoinToken {
            ca_fingerprint: ca.fingerprint(),
            secret: hex::encode(secret),
            role,
        })
    }

    /// Parses a token string. Hex digits may be upper or lower case (they are
    /// normalised to lower case); surrounding whitespace is ignored.
    pub fn parse(s: &str) -> Result<JoinToken, TokenError> {
        let s = s.trim();
        let fields: Vec<&str> = s.split('-').collect();
        if fields.first() != Some(&PREFIX) {
            return Err(TokenError::WrongPrefix);
        }
        if fields.len() != 4 {
            return Err(TokenError::WrongFieldCount(fields.len()));
        }
        let role = match fields[1] {
            "m" | "M" => Role::Manager,
            "w" | "W" => Role::Worker,
            _ => return Err(TokenError::BadRole),
        };
        let ca_fingerprint = fields[2];
        if !is_hex64(ca_fingerprint) {
            return Err(TokenError::BadFingerprint(ca_fingerprint.chars().count()));
        }
        let secret = fields[3];
        if !is_hex64(secret) {
            return Err(TokenError::BadSecret(secret.chars().count()));
        }
        Ok(JoinToken {
            ca_fingerprint: ca_fingerprint.to_ascii_lowercase(),
            secret: secret.to_ascii_lowercase(),
            role,
        })
    }

    /// Whether `presented` is this token's secret, compared in constant time.
    pub fn verify_secret(&self, presented: &str) -> bool {
        constant_time_eq(
            self.secret.as_bytes(),
            presented.trim().to_ascii_lowercase().as_bytes(),
        )
    }

    /// The hash a manager stores instead of the secret: [`hash_secret`] of it.
    pub fn secret_hash(&self) -> String {
        hash_secret(&self.secret)
    }
}

impl fmt::Display for JoinToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{PREFIX}-{}-{}-{}",
            self.role.token_char(),
            self.ca_fingerprint,
            self.secret
        )
    }
}

impl fmt::Debug for JoinToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinToken")
            .field("role", &self.role)
            .field("ca_fingerprint", &self.ca_fingerprint)
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl FromStr for JoinToken {
    type Err = TokenError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        JoinToken::parse(s)
    }
}

/// The stored form of a join secret: hex SHA-256 over a domain tag and the
/// secret (case-insensitive: the secret is lower-cased first).
pub fn hash_secret(secret: &str) -> String {
    let mut h = Sha256::new();
    h.update(HASH_DOMAIN);
    h.update(secret.trim().to_ascii_lowercase().as_bytes());
    hex::encode(h.finalize())
}

/// Whether `presented` is the secret whose [`hash_secret`] is `stored_hash`.
/// The hashes are compared in constant time.
pub fn check_secret_hash(stored_hash: &str, presented: &str) -> bool {
    constant_time_eq(
        stored_hash.to_ascii_lowercase().as_bytes(),
        hash_secret(presented).as_bytes(),
    )
}

/// Compares two byte strings in time that depends only on their lengths
/// (which are public here: secrets and hashes have fixed sizes).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    // black_box keeps the optimiser from turning the fold into an early exit.
    std::hint::black_box(diff) == 0
}

fn is_hex64(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(role: Role) -> JoinToken {
        JoinToken {
            ca_fingerprint: "ab".repeat(32),
            secret: "0123456789abcdef".repeat(4),
            role,
        }
    }

    #[test]
    fn format_and_parse_round_trip() {
        for role in [Role::Manager, Role::Worker] {
            let t = token(role);
            let s = t.to_string();
            assert!(s.starts_with(&format!("ORC1-{}-abab", role.token_char())));
            assert_eq!(JoinToken::parse(&s).unwrap(), t);
            assert_eq!(s.parse::<JoinToken>().unwrap(), t);
            assert_eq!(
                JoinToken::parse(&format!("  {}\n", s.to_uppercase())).unwrap(),
                t
            );
        }
    }

    #[test]
    fn malformed_tokens_are_refused_with_the_reason() {
        let good = token(Role::Worker).to_string();
        let fp = "ab".repeat(32);
        let secret = "cd".repeat(32);
        let cases = [
            (good.replacen("ORC1", "ORC2", 1), TokenError::WrongPrefix),
            ("SWMTKN-1-abc-def".to_string(), TokenError::WrongPrefix),
            (String::new(), TokenError::WrongPrefix),
            (format!("ORC1-w-{fp}"), TokenError::WrongFieldCount(3)),
            (
                format!("ORC1-w-{fp}-{secret}-x"),
                TokenError::WrongFieldCount(5),
            ),
            (format!("ORC1-x-{fp}-{secret}"), TokenError::BadRole),
            (
                format!("ORC1-w-{}-{secret}", &fp[..62]),
                TokenError::BadFingerprint(62),
            ),
            (
                format!("ORC1-w-{}zz-{secret}", &fp[..62]),
                TokenError::BadFingerprint(64),
            ),
            (
                format!("ORC1-m-{fp}-{}", &secret[..10]),
                TokenError::BadSecret(10),
            ),
            (
                format!("ORC1-m-{fp}-{}é", &secret[..63]),
                TokenError::BadSecret(64),
            ),
        ];
        for (s, want) in cases {
            assert_eq!(JoinToken::parse(&s), Err(want), "{s}");
        }
    }

    #[test]
    fn debug_hides_the_secret() {
        let t = token(Role::Manager);
        let dbg = format!("{t:?}");
        assert!(!dbg.contains(&t.secret), "{dbg}");
        assert!(dbg.contains("redacted"));
    }

    #[test]
    fn secret_checks() {
        let t = token(Role::Worker);
        assert!(t.verify_secret(&t.secret));
        assert!(t.verify_secret(&t.secret.to_uppercase()));
        assert!(!t.verify_secret(&"0".repeat(64)));
        assert!(!t.verify_secret(""));
        assert!(!t.verify_secret(&t.secret[..63]));

        let stored = t.secret_hash();
        assert_eq!(stored.len(), 64);
        assert_ne!(stored, t.secret);
        assert_ne!(stored, hex::encode(Sha256::digest(t.secret.as_bytes())));
        assert!(check_secret_hash(&stored, &t.secret));
        assert!(!check_secret_hash(&stored, &"0".repeat(64)));
        assert!(!check_secret_hash(&stored[..63], &t.secret));
    }

    #[test]
    fn constant_time_eq_is_equality() {
        assert!(constant_time_eq(b"", b""));
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"xbc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(!constant_time_eq(b"abc", b""));
        // A difference in any single bit of any byte is seen.
        let a = [0x5au8; 32];
        for i in 0..32 {
            for bit in 0..8 {
                let mut b = a;
                b[i] ^= 1 << bit;
                assert!(!constant_time_eq(&a, &b));
            }
        }
    }
}
