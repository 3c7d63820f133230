//! The PKI files on disk.
//!
//! Layout of a node's PKI directory (e.g. `/var/lib/orc/pki`, mode 0700):
//!
//! | file | mode | who | content |
//! |---|---|---|---|
//! | `ca.pem` | 0644 | every node | cluster CA certificate |
//! | `node.pem` | 0644 | every node | node certificate, then the CA certificate |
//! | `node-key.pem` | 0600 | every node | node private key |
//! | `ca-key.pem` | 0600 | managers | cluster CA private key |
//!
//! Every file is written to a temporary file in the same directory (created
//! with its final mode, never wider), synced, then renamed over the old one,
//! and the directory is synced: a crash leaves the old or the new file, never
//! a torn one. A crash between two files can leave a new key beside an old
//! certificate; loading then fails with [`PkiError::KeyMismatch`] and the node
//! has to join again. Keys whose mode lets group or others read them are
//! refused on load, as ssh does.

use std::fs::{self, DirBuilder, File, OpenOptions, Permissions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use crate::ca::ClusterCa;
use crate::error::{PkiError, Result};
use crate::node::{NodeCert, NodeFiles};
use crate::pem::random_bytes;

/// The cluster CA certificate.
pub const CA_CERT_FILE: &str = "ca.pem";
/// The cluster CA private key (managers only).
pub const CA_KEY_FILE: &str = "ca-key.pem";
/// The node certificate chain.
pub const NODE_CERT_FILE: &str = "node.pem";
/// The node private key.
pub const NODE_KEY_FILE: &str = "node-key.pem";

const KEY_MODE: u32 = 0o600;
const CERT_MODE: u32 = 0o644;
const DIR_MODE: u32 = 0o700;

/// Checks `node` against `ca_cert_pem` and writes `ca.pem`, `node.pem` and
/// `node-key.pem` into `dir` (created 0700 if missing, tightened to 0700 if not).
pub fn save_node_files(dir: &Path, ca_cert_pem: &str, node: &NodeCert) -> Result<NodeFiles> {
    let files = NodeFiles::from_node_cert(ca_cert_pem, node)?;
    ensure_dir(dir)?;
    write_atomic(&dir.join(NODE_KEY_FILE), files.key_pem(), KEY_MODE)?;
    write_atomic(&dir.join(NODE_CERT_FILE), files.cert_chain_pem(), CERT_MODE)?;
    write_atomic(&dir.join(CA_CERT_FILE), files.ca_cert_pem(), CERT_MODE)?;
    Ok(files)
}

/// Replaces only the node certificate (`node.pem`) of files written by
/// [`save_node_files`], after checking it matches the key and CA already there
/// (a certificate reissued for the same key: one atomic write, so a crash leaves
/// either the old or the new one).
pub fn replace_node_cert(dir: &Path, node: &NodeCert) -> Result<NodeFiles> {
    let current = load_node_files(dir)?;
    let files = NodeFiles::from_node_cert(current.ca_cert_pem(), node)?;
    if files.key_pem() != current.key_pem() {
        return Err(PkiError::KeyMismatch("node certificate on disk"));
    }
    write_atomic(&dir.join(NODE_CERT_FILE), files.cert_chain_pem(), CERT_MODE)?;
    Ok(files)
}

/// Reads and checks the node files written by [`save_node_files`].
pub fn load_node_files(dir: &Path) -> Result<NodeFiles> {
    let key = read_key(&dir.join(NODE_KEY_FILE))?;
    let chain = read(&dir.join(NODE_CERT_FILE))?;
    let ca = read(&dir.join(CA_CERT_FILE))?;
    NodeFiles::from_pem(&ca, &chain, &key)
}

/// Writes the CA certificate (`ca.pem`, 0644) and its private key
/// (`ca-key.pem`, 0600) into `dir` (0700).
pub fn save_ca(dir: &Path, ca: &ClusterCa) -> Result<()> {
    let (cert_pem, key_pem) = ca.to_pem();
    ensure_dir(dir)?;
    write_atomic(&dir.join(CA_KEY_FILE), &key_pem, KEY_MODE)?;
    write_atomic(&dir.join(CA_CERT_FILE), &cert_pem, CERT_MODE)
}

/// Reads the CA written by [`save_ca`].
pub fn load_ca(dir: &Path) -> Result<ClusterCa> {
    let key = read_key(&dir.join(CA_KEY_FILE))?;
    let cert = read(&dir.join(CA_CERT_FILE))?;
    ClusterCa::from_pem(&cert, &key)
}

/// Writes a secret file (`contents`, mode 0600) atomically into its directory, which
/// must exist: for key material kept in another form than [`save_ca`]'s.
pub fn write_key_file(path: &Path, contents: &str) -> Result<()> {
    write_atomic(path, contents, KEY_MODE)
}

/// Reads a file written by [`write_key_file`] (refused if group or others may read it).
pub fn read_key_file(path: &Path) -> Result<String> {
    read_key(path)
}

fn ensure_dir(dir: &Path) -> Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)
        .map_err(|e| PkiError::io("create directory", dir, e))?;
    fs::set_permissions(dir, Permissions::from_mode(DIR_MODE))
        .map_err(|e| PkiError::io("chmod", dir, e))
}

fn read(path: &Path) -> Result<String> {
    fs::read_to_string(path).map_err(|e| PkiError::io("read", path, e))
}

fn read_key(path: &Path) -> Result<String> {
    let meta = fs::metadata(path).map_err(|e| PkiError::io("stat", path, e))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(PkiError::InsecurePermissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    read(path)
}

/// Writes `contents` to `path` atomically with exactly `mode` (umask ignored).
fn write_atomic(path: &Path, contents: &str, mode: u32) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let suffix: [u8; 8] = random_bytes()?;
    let tmp = dir.join(format!(".{name}.tmp-{}", hex::encode(suffix)));
    let result = write_new(&tmp, contents, mode)
        .and_then(|()| fs::rename(&tmp, path).map_err(|e| PkiError::io("rename", path, e)));
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| PkiError::io("sync directory", dir, e))
}

fn write_new(tmp: &Path, contents: &str, mode: u32) -> Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(tmp)
        .map_err(|e| PkiError::io("create", tmp, e))?;
    // The umask can only narrow the mode given at creation; set it exactly.
    f.set_permissions(Permissions::from_mode(mode))
        .map_err(|e| PkiError::io("chmod", tmp, e))?;
    f.write_all(contents.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| PkiError::io("write", tmp, e))
}
