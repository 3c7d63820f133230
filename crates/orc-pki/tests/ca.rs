//! The CA, node certificates and the identity read back from them.

mod support;

use orc_pki::{fingerprint_of, peer_identity, ClusterCa, NodeFiles, PkiError, Role};
use rustls_pki_types::UnixTime;
use sha2::{Digest, Sha256};
use std::time::Duration;
use support::{leaf_der, node, LOOPBACK};

#[test]
fn fingerprint_is_the_sha256_of_the_ca_certificate() {
    let ca = ClusterCa::generate("fp").unwrap();
    let der = support::leaf_der(ca.cert_pem());
    assert_eq!(der.as_ref(), ca.cert_der().as_ref());
    assert_eq!(ca.fingerprint(), hex::encode(Sha256::digest(&der)));
    assert_eq!(ca.fingerprint().len(), 64);
    assert_eq!(fingerprint_of(&der), ca.fingerprint());
    // Two clusters, two fingerprints.
    assert_ne!(
        ClusterCa::generate("fp").unwrap().fingerprint(),
        ca.fingerprint()
    );
}

#[test]
fn a_reloaded_ca_issues_certificates_that_chain_to_the_original() {
    let ca = ClusterCa::generate("reload-1").unwrap();
    let (cert_pem, key_pem) = ca.to_pem();
    assert!(key_pem.contains("PRIVATE KEY"));
    let again = ClusterCa::from_pem(&cert_pem, &key_pem).unwrap();
    assert_eq!(again.fingerprint(), ca.fingerprint());
    assert_eq!(again.cluster_name(), "reload-1");
    let issued = again.issue(7, Role::Worker, "pi", &[]).unwrap();
    // Checked against the certificate of the CA *before* the reload.
    let files = NodeFiles::from_node_cert(ca.cert_pem(), &issued).unwrap();
    assert_eq!((files.node_id(), files.role()), (7, Role::Worker));
}

#[test]
fn from_pem_refuses_a_foreign_key_or_certificate() {
    let ca = ClusterCa::generate("ca-a").unwrap();
    let other = ClusterCa::generate("ca-b").unwrap();
    let (cert, _) = ca.to_pem();
    let (_, other_key) = other.to_pem();
    assert!(matches!(
        ClusterCa::from_pem(&cert, &other_key),
        Err(PkiError::KeyMismatch(_))
    ));
    // A node certificate is not a CA certificate.
    let n = ca.issue(1, Role::Manager, "m", &[]).unwrap();
    let leaf = n
        .cert_chain_pem
        .split_inclusive("-----END CERTIFICATE-----\n")
        .next()
        .unwrap();
    assert!(matches!(
        ClusterCa::from_pem(leaf, &n.key_pem),
        Err(PkiError::NotOrcCertificate(_))
    ));
    assert!(matches!(
        ClusterCa::from_pem("", &other_key),
        Err(PkiError::Pem { .. })
    ));
    assert!(ClusterCa::from_pem(&cert, "not a key").is_err());
}

#[test]
fn invalid_cluster_names_are_refused() {
    for name in ["", "with space", "a:b"] {
        assert!(matches!(
            ClusterCa::generate(name),
            Err(PkiError::InvalidClusterName(_))
        ));
    }
}

#[test]
fn the_identity_round_trips_through_the_certificate() {
    let ca = ClusterCa::generate("ids").unwrap();
    for (id, role) in [
        (1, Role::Manager),
        (u64::MAX, Role::Worker),
        (0x1234, Role::Worker),
    ] {
        let cert = ca.issue(id, role, "board", &[LOOPBACK]).unwrap();
        assert_eq!((cert.node_id, cert.role), (id, role));
        assert_eq!(
            peer_identity(&leaf_der(&cert.cert_chain_pem)).unwrap(),
            (id, role)
        );
        // The chain is leaf then CA.
        assert!(cert.cert_chain_pem.ends_with(ca.cert_pem()));
        assert!(!format!("{cert:?}").contains("PRIVATE"));
    }
}

#[test]
fn peer_identity_refuses_certificates_without_a_consistent_orc_identity() {
    let plain = rcgen::generate_simple_self_signed(vec!["example.com".into()]).unwrap();
    assert!(matches!(
        peer_identity(plain.cert.der()),
        Err(PkiError::NotOrcCertificate(_))
    ));
    assert!(peer_identity(b"garbage").is_err());
    assert!(peer_identity(&[]).is_err());

    // A worker URI next to the manager DNS name (what a careless or hostile
    // issuer could produce) is refused.
    let mut params = rcgen::CertificateParams::new(vec![
        "orc-node-0000000000000005".to_string(),
        "orc-manager".to_string(),
    ])
    .unwrap();
    params.subject_alt_names.push(rcgen::SanType::URI(
        "orc:node:0000000000000005:worker".try_into().unwrap(),
    ));
    let key = rcgen::KeyPair::generate().unwrap();
    let forged = params.self_signed(&key).unwrap();
    assert!(matches!(
        peer_identity(forged.der()),
        Err(PkiError::NotOrcCertificate(_))
    ));
    // The URI naming another node than the DNS name is refused too.
    let mut params =
        rcgen::CertificateParams::new(vec!["orc-node-0000000000000006".to_string()]).unwrap();
    params.subject_alt_names.push(rcgen::SanType::URI(
        "orc:node:0000000000000005:worker".try_into().unwrap(),
    ));
    let forged = params.self_signed(&key).unwrap();
    assert!(peer_identity(forged.der()).is_err());
}

#[test]
fn a_reserved_hostname_is_not_written_as_a_name() {
    let ca = ClusterCa::generate("hostnames").unwrap();
    // A worker whose hostname is "orc-manager" must not become a manager by name.
    let cert = ca.issue(9, Role::Worker, "orc-manager", &[]).unwrap();
    assert_eq!(
        peer_identity(&leaf_der(&cert.cert_chain_pem)).unwrap(),
        (9, Role::Worker)
    );
}

#[test]
fn node_files_are_checked_against_the_ca_and_the_key() {
    let ca = ClusterCa::generate("bundle").unwrap();
    let other = ClusterCa::generate("bundle-other").unwrap();
    let good = ca.issue(3, Role::Manager, "m3", &[]).unwrap();
    let files = NodeFiles::from_node_cert(ca.cert_pem(), &good).unwrap();
    assert_eq!(files.ca_fingerprint(), ca.fingerprint());
    assert!(!format!("{files:?}").contains("PRIVATE"));

    // Certificate from another CA.
    let foreign = other.issue(3, Role::Manager, "m3", &[]).unwrap();
    assert!(matches!(
        NodeFiles::from_node_cert(ca.cert_pem(), &foreign),
        Err(PkiError::Certificate { .. })
    ));
    // Someone else's key.
    let other_node = ca.issue(4, Role::Worker, "w4", &[]).unwrap();
    assert!(matches!(
        NodeFiles::from_pem(ca.cert_pem(), &good.cert_chain_pem, &other_node.key_pem),
        Err(PkiError::KeyMismatch(_))
    ));
}

#[test]
fn node_certificates_last_a_year() {
    let ca = ClusterCa::generate("validity").unwrap();
    let files = node(&ca, 1, Role::Worker);
    let leaf_der = leaf_der(files.cert_chain_pem());
    let leaf = webpki::EndEntityCert::try_from(&leaf_der).unwrap();
    let anchor = webpki::anchor_from_trusted_cert(ca.cert_der()).unwrap();
    let algs = rustls::crypto::ring::default_provider().signature_verification_algorithms;
    let day = 24 * 3600;
    let verify_at = |offset_days: i64| {
        let now = UnixTime::now().as_secs() as i64;
        let at = UnixTime::since_unix_epoch(Duration::from_secs((now + offset_days * day) as u64));
        leaf.verify_for_usage(
            algs.all,
            std::slice::from_ref(&anchor),
            &[],
            at,
            webpki::KeyUsage::server_auth(),
            None,
            None,
        )
        .is_ok()
    };
    assert!(verify_at(0));
    assert!(verify_at(364));
    assert!(!verify_at(366));
    assert!(!verify_at(-1));
}
