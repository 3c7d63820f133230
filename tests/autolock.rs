//! Autolock end to end: three managers in their own namespaces (real containerd, real
//! `orc daemon`s), a running service and a sealed registry credential. With autolock
//! on, a restarted manager keeps its containers and its Raft seat but is locked: it
//! derives no join token and writes no backup with the CA until `orc cluster unlock`
//! is given the right key; its data dir holds nothing that opens the sealed
//! credential (tried). Rotation, a locked leader refusing joins, a manager joining an
//! autolocked cluster, and disabling are covered too.

#[allow(dead_code)]
#[path = "cluster/harness.rs"]
mod harness;

use anyhow::{ensure, Context, Result};
use harness::{TestCluster, CONVERGE};
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305, NONCE_LEN};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::Duration;

const LOOK: Duration = Duration::from_millis(300);
const REGISTRY: &str = "registry.autolock.test:5000";
const PASSWORD: &str = "pw-autolock-5fd1c9";

fn pki(c: &TestCluster, i: usize) -> PathBuf {
    c.node(i).data_dir().join("pki")
}

/// The unlock key in `orc cluster autolock enable` / `unlock-key` output.
fn key_in(out: &str) -> Result<String> {
    out.split_whitespace()
        .find(|w| w.starts_with("ORC-UNLOCK-"))
        .map(str::to_string)
        .with_context(|| format!("no unlock key in: {out}"))
}

/// The wrapped key file's key id, if node `i` keeps its CA key wrapped (and not plain).
fn wrapped_id(c: &TestCluster, i: usize) -> Option<String> {
    if pki(c, i).join("ca-key.pem").exists() {
        return None;
    }
    let text = std::fs::read_to_string(pki(c, i).join("ca-key.locked")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v["key_id"].as_str().map(str::to_string)
}

fn info(c: &TestCluster, i: usize) -> Option<serde_json::Value> {
    c.node(i).json(&["cluster", "info"]).ok()
}

fn wait_locked(c: &TestCluster, i: usize, locked: bool) -> Result<()> {
    c.poll(
        CONVERGE,
        &format!("node {i} to say locked={locked}"),
        LOOK,
        || (info(c, i)?["locked"] == locked).then_some(()),
    )
}

fn unlock(c: &TestCluster, i: usize, key: &str) -> Result<std::process::Output> {
    c.node(i)
        .orc_input(&["cluster", "unlock", "--key-stdin"], &format!("{key}\n"))
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Opens a sealed registry credential as orc does, taking `pem` for the CA key
/// (sha256(context ‖ CA key PEM) → ChaCha20-Poly1305, the host as associated data).
fn opens_with_ca_key(pem: &[u8], sealed: &[u8]) -> bool {
    let mut h = Sha256::new();
    h.update(b"orc registry credentials v1\0");
    h.update(pem);
    opens_with_raw_key(&h.finalize(), sealed)
}

fn opens_with_raw_key(key: &[u8], sealed: &[u8]) -> bool {
    let Ok(k) = UnboundKey::new(&CHACHA20_POLY1305, key) else {
        return false;
    };
    if sealed.len() < NONCE_LEN {
        return false;
    }
    let (n, body) = sealed.split_at(NONCE_LEN);
    let Ok(nonce) = Nonce::try_assume_unique_for_key(n) else {
        return false;
    };
    let mut buf = body.to_vec();
    LessSafeKey::new(k)
        .open_in_place(nonce, Aad::from(REGISTRY.as_bytes()), &mut buf)
        .is_ok()
}

/// Every regular file under `dir` (bind-mounted namespaces and other unreadable
/// files skipped).
fn files_under(dir: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        let Ok(m) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        if m.is_dir() {
            files_under(&p, out);
        } else if m.is_file() {
            if let Ok(b) = std::fs::read(&p) {
                out.push((p, b));
            }
        }
    }
}

/// Everything in `bytes` that could be a key: the whole file, each PEM block, each
/// line and each token (split at whitespace, quotes, commas, NULs) of 32+ bytes.
fn candidates(bytes: &[u8]) -> Vec<&[u8]> {
    let mut v: Vec<&[u8]> = vec![bytes];
    let mut at = 0;
    while let Some(start) = find(&bytes[at..], b"-----BEGIN").map(|i| at + i) {
        let Some(end) = find(&bytes[start..], b"-----END").map(|i| start + i) else {
            break;
        };
        let close = find(&bytes[end + 8..], b"-----")
            .map(|i| end + 8 + i + 5)
            .unwrap_or(bytes.len());
        v.push(&bytes[start..close]);
        if close < bytes.len() && bytes[close] == b'\n' {
            v.push(&bytes[start..=close]);
        }
        at = close;
    }
    v.extend(bytes.split(|b| *b == b'\n').filter(|l| l.len() >= 32));
    v.extend(
        bytes
            .split(|b| b.is_ascii_whitespace() || matches!(b, b'"' | b'\'' | b',' | 0))
            .filter(|t| t.len() >= 32),
    );
    v
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Fails if anything in node `i`'s data dir opens `sealed` or contains the CA key.
fn nothing_opens(c: &TestCluster, i: usize, ca_key_pem: &str, sealed: &[u8]) -> Result<()> {
    let mut files = Vec::new();
    files_under(&c.node(i).data_dir(), &mut files);
    ensure!(files.len() > 5, "read only {} files", files.len());
    // The CA key's base64 body lines (64 characters each) appear nowhere.
    let body: Vec<&str> = ca_key_pem
        .lines()
        .filter(|l| !l.starts_with("-----") && l.len() >= 40)
        .collect();
    ensure!(!body.is_empty(), "no key body in {ca_key_pem:?}");
    let mut tried = 0usize;
    for (path, bytes) in &files {
        for line in &body {
            ensure!(
                find(bytes, line.as_bytes()).is_none(),
                "{} holds the CA key in clear",
                path.display()
            );
        }
        for cand in candidates(bytes) {
            tried += 1;
            ensure!(
                !opens_with_ca_key(cand, sealed),
                "{} holds something that opens the sealed credential (as the CA key)",
                path.display()
            );
        }
        // Small files (pki, node.json): every 32-byte window as the sealing key itself.
        if bytes.len() <= 64 * 1024 {
            for w in bytes.windows(32) {
                tried += 1;
                ensure!(
                    !opens_with_raw_key(w, sealed),
                    "{} holds the sealing key",
                    path.display()
                );
            }
        }
    }
    ensure!(tried > 100, "only {tried} candidates tried");
    Ok(())
}

/// The sealed credential for REGISTRY, from a backup written by node `i`.
fn sealed_credential(c: &TestCluster, i: usize, dir: &Path) -> Result<Vec<u8>> {
    let file = dir.join("state.orcbak");
    c.node(i)
        .ok(&["cluster", "backup", &file.to_string_lossy()])?;
    let backup = orc_model::decode_backup(&std::fs::read(&file)?)?;
    backup
        .state
        .registry_auth
        .get(REGISTRY)
        .cloned()
        .context("no sealed credential in the backup")
}

#[test]
fn autolock_keeps_a_restarted_manager_locked_until_unlocked() -> Result<()> {
    let mut c = TestCluster::form(&["al1", "al2", "al3", "al4"], 3, 0, Some(250), true)
        .context("forming the cluster")?;
    let tmp = tempfile::tempdir()?;
    c.deploy(
        0,
        "lk",
        r#"
[services.sleep]
image = "demo/busybox:1"
command = ["sleep", "3600"]
replicas = 3
stop = { signal = "SIGKILL", grace_period = "1s" }
"#,
    )?;
    c.wait_service(0, "lk_sleep", 3)?;
    let leader = c.leader_index(0)?;
    let r = (0..3).find(|i| *i != leader).context("a follower")?;
    c.node(leader).orc_input(
        &[
            "registry",
            "login",
            REGISTRY,
            "--username",
            "me",
            "--password-stdin",
        ],
        &format!("{PASSWORD}\n"),
    )?;
    let sealed = c.poll(CONVERGE, "the sealed credential", LOOK, || {
        sealed_credential(&c, leader, tmp.path()).ok()
    })?;
    let ca_key_pem = std::fs::read_to_string(pki(&c, r).join("ca-key.pem"))?;
    // The check itself works: the real CA key opens the credential, and the data dir
    // of a manager without autolock fails the check.
    ensure!(opens_with_ca_key(ca_key_pem.as_bytes(), &sealed));
    ensure!(
        nothing_opens(&c, r, &ca_key_pem, &sealed).is_err(),
        "the data-dir check finds the plain key"
    );
    let worker_token = c
        .node(leader)
        .ok(&["cluster", "join-token", "worker", "-q"])?
        .trim()
        .to_string();

    // Enable while the third manager is down: a key to note down, and every running
    // manager wraps its own copy; the one that was down wraps on its next start.
    let d = (0..3)
        .find(|i| *i != leader && *i != r)
        .context("a third manager")?;
    c.node_mut(d).kill_daemon()?;
    let out = c.node(leader).ok(&["cluster", "autolock", "enable"])?;
    let key1 = key_in(&out)?;
    let id1 = c.poll(CONVERGE, "the running managers wrapped", LOOK, || {
        let (a, b) = (wrapped_id(&c, leader)?, wrapped_id(&c, r)?);
        (a == b).then_some(a)
    })?;
    ensure!(
        pki(&c, d).join("ca-key.pem").exists() && wrapped_id(&c, d).is_none(),
        "the stopped manager's disk is untouched"
    );
    c.node_mut(d).restart_daemon()?;
    c.poll(CONVERGE, "the manager that was down wrapped", LOOK, || {
        (wrapped_id(&c, d)? == id1).then_some(())
    })?;
    wait_locked(&c, d, false)?;
    ensure!(
        c.node(leader).ok(&["cluster", "unlock-key", "-q"])?.trim() == key1,
        "unlock-key shows the same key"
    );
    ensure!(info(&c, r).context("info")?["autolock"] == true);

    // Restart a follower: locked, its containers kept, and it stays a Raft member.
    c.poll(CONVERGE, "a task on the follower", LOOK, || {
        let v = c.node(r).running_containers().ok()?;
        (!v.is_empty()).then_some(())
    })?;
    let running = c.node(r).running_containers()?;
    c.node_mut(r).restart_daemon()?;
    wait_locked(&c, r, true)?;
    c.poll(
        CONVERGE,
        "the locked manager to be ready again",
        LOOK,
        || {
            let nodes = c.nodes(r).ok()?;
            let ready = nodes.iter().filter(|n| n["status"] == "ready").count();
            (ready == 3).then_some(())
        },
    )?;
    let text = c.node(r).ok(&["cluster", "info"])?;
    ensure!(text.contains("locked"), "cluster info: {text}");
    let after = c.node(r).running_containers()?;
    ensure!(
        running.iter().all(|id| after.contains(id)),
        "containers lost over the locked restart: {running:?} → {after:?}"
    );
    // Writes through the locked manager still work (it is in Raft).
    c.node(r)
        .ok(&["node", "update", "--label-add", "lk=1", "al1"])?;
    // What needs the CA key is refused, saying so.
    let o = c.node(r).orc(&["cluster", "join-token", "worker"])?;
    ensure!(
        !o.status.success()
            && stderr(&o).contains("locked")
            && stderr(&o).contains("orc cluster unlock"),
        "join-token on a locked manager: {}",
        stderr(&o)
    );
    let bak = tmp.path().join("ca.orcbak");
    let o = c.node(r).orc_input(
        &["cluster", "backup", &bak.to_string_lossy(), "--with-ca"],
        "a long passphrase\n",
    )?;
    ensure!(
        !o.status.success() && stderr(&o).contains("locked") && !bak.exists(),
        "backup --with-ca on a locked manager: {}",
        stderr(&o)
    );
    let o = c.node(r).orc_input(
        &[
            "registry",
            "login",
            "other.test",
            "--username",
            "u",
            "--password-stdin",
        ],
        "x\n",
    )?;
    ensure!(
        !o.status.success() && stderr(&o).contains("locked"),
        "{}",
        stderr(&o)
    );
    // Nothing on its disk opens the sealed credential; the clear key is nowhere.
    nothing_opens(&c, r, &ca_key_pem, &sealed)?;
    // A wrong key (well-formed, or not a key at all) is refused and changes nothing.
    let wrong = "ORC-UNLOCK-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA";
    let o = unlock(&c, r, wrong)?;
    ensure!(
        !o.status.success() && stderr(&o).contains("wrong unlock key"),
        "{}",
        stderr(&o)
    );
    let o = unlock(&c, r, "hunter2")?;
    ensure!(
        !o.status.success() && stderr(&o).contains("not an unlock key"),
        "{}",
        stderr(&o)
    );
    ensure!(info(&c, r).context("info")?["locked"] == true);
    ensure!(wrapped_id(&c, r).as_deref() == Some(id1.as_str()));
    // The right key: unlocked, and the key stays wrapped on disk.
    let o = unlock(&c, r, &key1.to_lowercase())?;
    ensure!(o.status.success(), "unlock: {}", stderr(&o));
    wait_locked(&c, r, false)?;
    let token = c.node(r).ok(&["cluster", "join-token", "worker", "-q"])?;
    ensure!(token.trim() == worker_token, "the same token once unlocked");
    ensure!(wrapped_id(&c, r).as_deref() == Some(id1.as_str()));
    nothing_opens(&c, r, &ca_key_pem, &sealed)?;

    // Rotate: every manager wraps again; the old key stops working.
    let key2 = key_in(&c.node(r).ok(&["cluster", "unlock-key", "--rotate"])?)?;
    ensure!(key2 != key1);
    c.poll(CONVERGE, "every manager rewrapped", LOOK, || {
        let ids: Vec<String> = (0..3).map(|i| wrapped_id(&c, i)).collect::<Option<_>>()?;
        ids.iter().all(|i| *i == ids[0] && *i != id1).then_some(())
    })?;

    // Every manager restarts: all locked, so the leader is too; a join is refused,
    // naming the leader and what to run; containers keep running meanwhile.
    for i in 0..3 {
        c.node_mut(i).restart_daemon()?;
    }
    for i in 0..3 {
        wait_locked(&c, i, true)?;
    }
    let leader = c.leader_index(0)?;
    let refused = c
        .try_join(3, &worker_token, leader)?
        .err()
        .context("a join through a locked leader was accepted")?;
    ensure!(
        refused.contains("locked") && refused.contains("orc cluster unlock"),
        "join refusal: {refused}"
    );
    let o = unlock(&c, 0, &key1)?;
    ensure!(
        !o.status.success() && stderr(&o).contains("wrong unlock key"),
        "old key: {}",
        stderr(&o)
    );
    for i in 0..3 {
        let o = unlock(&c, i, &key2)?;
        ensure!(
            o.status.success(),
            "unlock {i} with the new key: {}",
            stderr(&o)
        );
    }
    c.wait_service(0, "lk_sleep", 3)?;
    // The unlock keys were never written down: in no data dir, no daemon log.
    for i in 0..3 {
        let mut files = Vec::new();
        files_under(&c.node(i).data_dir(), &mut files);
        files.push(("daemon log".into(), c.node(i).daemon_log().into_bytes()));
        for (path, bytes) in &files {
            for k in [&key1, &key2] {
                ensure!(
                    find(bytes, k.as_bytes()).is_none()
                        && find(bytes, &k.as_bytes()[11..]).is_none(),
                    "{} holds an unlock key",
                    path.display()
                );
            }
        }
    }

    // A manager joining the autolocked cluster wraps the key it receives.
    let manager_token = c
        .node(0)
        .ok(&["cluster", "join-token", "manager", "-q"])?
        .trim()
        .to_string();
    let leader = c.leader_index(0)?;
    c.try_join(3, &manager_token, leader)?
        .map_err(anyhow::Error::msg)?;
    let id2 = wrapped_id(&c, 0).context("node 0 wrapped")?;
    c.poll(CONVERGE, "the new manager wrapped its key", LOOK, || {
        (wrapped_id(&c, 3)? == id2).then_some(())
    })?;

    // Demoted, it drops the wrapped key; promoted again, it wraps the one it receives.
    let id4 = info(&c, 3)
        .and_then(|v| v["node_id"].as_str().map(str::to_string))
        .context("al4's id")?;
    c.node(0).ok(&["node", "demote", "al4"])?;
    c.poll(
        CONVERGE,
        "the demoted node dropped the CA key",
        LOOK,
        || {
            let p = pki(&c, 3);
            (info(&c, 3).is_some_and(|v| v["is_manager"] == false)
                && !p.join("ca-key.pem").exists()
                && !p.join("ca-key.locked").exists())
            .then_some(())
        },
    )?;
    // Promoted only once it left the Raft membership: a node promoted while the leader
    // still tracks it as a learner restarts Raft on an empty log, which openraft's
    // leader refuses as a log reversion (a panic) — not autolock's to solve.
    c.poll(CONVERGE, "al4 out of the Raft membership", LOOK, || {
        let v = info(&c, 0)?;
        (!v["raft_members"].as_object()?.contains_key(&id4)).then_some(())
    })?;
    c.node(0).ok(&["node", "promote", "al4"])?;
    c.poll(CONVERGE, "the promoted node wrapped its key", LOOK, || {
        (wrapped_id(&c, 3)? == id2).then_some(())
    })?;

    // Disable: plain again everywhere, and a restart comes up unlocked.
    let out = c.node(0).ok(&["cluster", "autolock", "disable"])?;
    ensure!(out.contains("off"), "{out}");
    c.poll(CONVERGE, "every manager unwrapped", LOOK, || {
        (0..4)
            .all(|i| {
                pki(&c, i).join("ca-key.pem").exists() && !pki(&c, i).join("ca-key.locked").exists()
            })
            .then_some(())
    })?;
    c.node_mut(r).restart_daemon()?;
    c.poll(
        CONVERGE,
        "join-token after a restart without autolock",
        LOOK,
        || {
            c.node(r)
                .ok(&["cluster", "join-token", "worker", "-q"])
                .ok()
                .filter(|t| t.trim() == worker_token)
        },
    )?;
    ensure!(info(&c, r).context("info")?["locked"] == false);
    c.poll(
        CONVERGE,
        "the restarted manager to apply the disable",
        LOOK,
        || (info(&c, r)?["autolock"] == false).then_some(()),
    )?;
    let o = c.node(r).orc(&["cluster", "unlock-key"])?;
    ensure!(
        !o.status.success() && stderr(&o).contains("autolock is off"),
        "unlock-key with autolock off: {:?} {} {}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        stderr(&o)
    );
    Ok(())
}
