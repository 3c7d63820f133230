//! Join tokens made from a real CA, and the manager-side check.

use orc_pki::{check_secret_hash, ClusterCa, JoinToken, PkiError, Role, TokenError};

#[test]
fn generated_tokens_carry_the_ca_fingerprint_and_a_fresh_secret() {
    let ca = ClusterCa::generate("tokens").unwrap();
    let a = JoinToken::generate(&ca, Role::Worker).unwrap();
    let b = JoinToken::generate(&ca, Role::Worker).unwrap();
    assert_eq!(a.ca_fingerprint, ca.fingerprint());
    assert_ne!(a.secret, b.secret);
    assert_eq!(a.secret.len(), 64);
    let s = a.to_string();
    assert!(s.starts_with("ORC1-w-"), "{s}");
    assert_eq!(s.len(), 4 + 1 + 1 + 1 + 64 + 1 + 64);
    assert_eq!(JoinToken::parse(&s).unwrap(), a);
    assert!(JoinToken::generate(&ca, Role::Manager)
        .unwrap()
        .to_string()
        .starts_with("ORC1-m-"));
}

#[test]
fn the_manager_checks_the_presented_secret_against_the_stored_hash() {
    let ca = ClusterCa::generate("tokens-check").unwrap();
    let worker = JoinToken::generate(&ca, Role::Worker).unwrap();
    let manager = JoinToken::generate(&ca, Role::Manager).unwrap();
    // What Raft stores per role.
    let stored_worker = worker.secret_hash();
    let stored_manager = manager.secret_hash();
    assert!(!stored_worker.contains(&worker.secret));

    let presented = JoinToken::parse(&worker.to_string()).unwrap();
    assert_eq!(presented.ca_fingerprint, ca.fingerprint());
    assert!(check_secret_hash(&stored_worker, &presented.secret));
    // A worker token does not open the manager door.
    assert!(!check_secret_hash(&stored_manager, &presented.secret));
    // After rotation the old token is dead.
    let rotated = JoinToken::generate(&ca, Role::Worker).unwrap();
    assert!(!check_secret_hash(
        &rotated.secret_hash(),
        &presented.secret
    ));
}

#[test]
fn parse_errors_convert_into_pki_errors() {
    let e: PkiError = JoinToken::parse("SWMTKN-1-x").unwrap_err().into();
    assert!(matches!(e, PkiError::Token(TokenError::WrongPrefix)));
    assert!(e.to_string().contains("ORC1-"));
}
