//! The PKI files: modes, atomic replacement, refusal of readable keys.

mod support;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use orc_pki::{
    load_ca, load_node_files, replace_node_cert, save_ca, save_node_files, ClusterCa, PkiError,
    Role, CA_CERT_FILE, CA_KEY_FILE, NODE_CERT_FILE, NODE_KEY_FILE,
};

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn node_files_have_the_right_modes_and_load_back() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pki");
    let ca = ClusterCa::generate("files").unwrap();
    let cert = ca.issue(5, Role::Worker, "w5", &[]).unwrap();
    save_node_files(&dir, ca.cert_pem(), &cert).unwrap();

    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join(NODE_KEY_FILE)), 0o600);
    assert_eq!(mode(&dir.join(NODE_CERT_FILE)), 0o644);
    assert_eq!(mode(&dir.join(CA_CERT_FILE)), 0o644);
    // No temporary files left behind.
    let mut names: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, [CA_CERT_FILE, NODE_KEY_FILE, NODE_CERT_FILE]); // sorted

    let loaded = load_node_files(&dir).unwrap();
    assert_eq!((loaded.node_id(), loaded.role()), (5, Role::Worker));
    assert_eq!(loaded.key_pem(), cert.key_pem);
    assert_eq!(loaded.cert_chain_pem(), cert.cert_chain_pem);
    assert_eq!(loaded.ca_fingerprint(), ca.fingerprint());
}

#[test]
fn saving_again_replaces_the_files_and_tightens_the_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pki");
    fs::create_dir(&dir).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
    let ca = ClusterCa::generate("files-again").unwrap();
    save_node_files(
        &dir,
        ca.cert_pem(),
        &ca.issue(1, Role::Worker, "a", &[]).unwrap(),
    )
    .unwrap();
    assert_eq!(mode(&dir), 0o700);
    save_node_files(
        &dir,
        ca.cert_pem(),
        &ca.issue(2, Role::Manager, "b", &[]).unwrap(),
    )
    .unwrap();
    let loaded = load_node_files(&dir).unwrap();
    assert_eq!((loaded.node_id(), loaded.role()), (2, Role::Manager));
    assert_eq!(mode(&dir.join(NODE_KEY_FILE)), 0o600);
    assert_eq!(fs::read_dir(&dir).unwrap().count(), 3);
}

#[test]
fn a_key_readable_by_others_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = ClusterCa::generate("files-perm").unwrap();
    save_node_files(
        tmp.path(),
        ca.cert_pem(),
        &ca.issue(1, Role::Worker, "a", &[]).unwrap(),
    )
    .unwrap();
    let key = tmp.path().join(NODE_KEY_FILE);
    for bad in [0o640, 0o604, 0o644] {
        fs::set_permissions(&key, fs::Permissions::from_mode(bad)).unwrap();
        match load_node_files(tmp.path()) {
            Err(PkiError::InsecurePermissions { mode, .. }) => assert_eq!(mode, bad),
            other => panic!("mode {bad:o} accepted: {other:?}"),
        }
    }
    fs::set_permissions(&key, fs::Permissions::from_mode(0o400)).unwrap();
    load_node_files(tmp.path()).unwrap();
}

#[test]
fn invalid_node_files_are_not_written() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pki");
    let ca = ClusterCa::generate("files-bad").unwrap();
    let other = ClusterCa::generate("files-bad-other").unwrap();
    let foreign = other.issue(1, Role::Worker, "a", &[]).unwrap();
    assert!(save_node_files(&dir, ca.cert_pem(), &foreign).is_err());
    assert!(!dir.exists());
    assert!(matches!(load_node_files(&dir), Err(PkiError::Io { .. })));
}

#[test]
fn the_ca_key_is_saved_0600_and_loads_back() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ca");
    let ca = ClusterCa::generate("files-ca").unwrap();
    save_ca(&dir, &ca).unwrap();
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join(CA_KEY_FILE)), 0o600);
    assert_eq!(mode(&dir.join(CA_CERT_FILE)), 0o644);
    let loaded = load_ca(&dir).unwrap();
    assert_eq!(loaded.fingerprint(), ca.fingerprint());

    fs::set_permissions(dir.join(CA_KEY_FILE), fs::Permissions::from_mode(0o644)).unwrap();
    assert!(matches!(
        load_ca(&dir),
        Err(PkiError::InsecurePermissions { .. })
    ));
}

/// Whether the first certificate of a PEM chain names `ip` (an IP SAN: tag 0x87).
fn names_ip(chain_pem: &str, ip: [u8; 4]) -> bool {
    use rustls_pki_types::pem::PemObject;
    let der = rustls_pki_types::CertificateDer::pem_slice_iter(chain_pem.as_bytes())
        .next()
        .unwrap()
        .unwrap();
    let needle = [0x87, 4, ip[0], ip[1], ip[2], ip[3]];
    der.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn a_reissued_certificate_names_the_new_ip_and_keeps_the_key() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pki");
    let ca = ClusterCa::generate("reissue").unwrap();
    let old_ip = "10.0.0.5".parse().unwrap();
    let cert = ca.issue(9, Role::Manager, "m9", &[old_ip]).unwrap();
    save_node_files(&dir, ca.cert_pem(), &cert).unwrap();
    assert!(names_ip(&cert.cert_chain_pem, [10, 0, 0, 5]));

    let new_ip = "10.0.0.42".parse().unwrap();
    let again = ca
        .reissue(9, Role::Manager, "m9", &[new_ip], &cert.key_pem)
        .unwrap();
    replace_node_cert(&dir, &again).unwrap();
    let loaded = load_node_files(&dir).unwrap();
    assert_eq!(loaded.key_pem(), cert.key_pem);
    assert_eq!(loaded.cert_chain_pem(), again.cert_chain_pem);
    assert!(names_ip(loaded.cert_chain_pem(), [10, 0, 0, 42]));
    assert!(!names_ip(loaded.cert_chain_pem(), [10, 0, 0, 5]));
    assert_eq!((loaded.node_id(), loaded.role()), (9, Role::Manager));

    // A certificate for another key is refused and the files stay as they were.
    let other = ca.issue(9, Role::Manager, "m9", &[new_ip]).unwrap();
    let e = replace_node_cert(&dir, &other).unwrap_err();
    assert!(matches!(e, PkiError::KeyMismatch(_)), "{e}");
    assert_eq!(
        load_node_files(&dir).unwrap().cert_chain_pem(),
        again.cert_chain_pem
    );
}
