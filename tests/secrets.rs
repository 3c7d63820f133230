//! Secrets and configs on a real cluster (3 managers + 1 worker in network namespaces,
//! real containerd): a database-style service reads its password from
//! `/run/secrets/db_root` (`MARIADB_ROOT_PASSWORD_FILE`), a client gets the same secret
//! at its own target and owner, plus an external secret and a config. Checked from
//! inside the containers (`ctr tasks exec`: read-only tmpfs, mode, owner, content), on
//! every node's disk (no file under its data dir, sled, logs or containerd's root and
//! state holds a value), through what nodes were sent (the worker never receives a
//! value none of its tasks uses), across `orc secret update` and a redeploy with a
//! changed file (both roll the users), and bad input (each error names
//! FILE:LINE:COL and the field, and nothing changes).

#[path = "cluster/harness.rs"]
#[allow(dead_code)]
mod harness;

use anyhow::{bail, ensure, Context, Result};
use harness::TestCluster;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

const M2: usize = 1;
const W1: usize = 3;

fn stack(extra_db: &str) -> String {
    format!(
        r#"
[secrets.db_root]
file = "./db_root.txt"

[secrets.api_key]
external = true

[configs.motd]
file = "./motd.txt"

[services.db]
image = "demo/busybox:1"
command = ["sleep", "3600"]
env = {{ MARIADB_ROOT_PASSWORD_FILE = "/run/secrets/db_root" }}
secrets = ["db_root"]
configs = [{{ source = "motd", target = "/etc/motd", mode = 0o440 }}]
constraints = ["node.role == worker"]
stop = {{ signal = "SIGKILL", grace_period = "1s" }}
{extra_db}

[services.client]
image = "demo/busybox:1"
command = ["sleep", "3600"]
secrets = [{{ source = "db_root", target = "db_pw", uid = 1000, gid = 1000, mode = 0o400 }}, "api_key"]
constraints = ["node.hostname == m2"]
stop = {{ signal = "SIGKILL", grace_period = "1s" }}
"#
    )
}

/// A value no file of the machine holds by chance.
fn value(what: &str) -> String {
    format!("{what}-{}", orc_testbed::unique_id("v"))
}

/// The running task of `svc` (id, node), other than `not`.
fn task_of(c: &TestCluster, svc: &str, not: Option<&str>) -> Result<(String, String)> {
    c.poll(
        harness::CONVERGE,
        &format!("a running task of {svc}"),
        Duration::from_millis(300),
        || {
            c.running_tasks(0, svc)
                .ok()?
                .into_iter()
                .find(|(id, _)| Some(id.as_str()) != not)
        },
    )
}

/// Runs `sh -c SCRIPT` inside task `id` on node `node` (no log file involved).
fn exec(c: &TestCluster, node: usize, id: &str, script: &str) -> Result<String> {
    let exec_id = orc_testbed::unique_id("chk");
    c.node(node).ctr(&[
        "tasks",
        "exec",
        "--exec-id",
        &exec_id,
        id,
        "sh",
        "-c",
        script,
    ])
}

/// Every regular file under `root` (not crossing into other mounts: a task's tmpfs
/// is memory) whose bytes contain `needle`.
fn files_containing(root: &Path, needle: &[u8], out: &mut Vec<PathBuf>) {
    let Ok(top) = std::fs::symlink_metadata(root) else {
        return;
    };
    let dev = top.dev();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            let Ok(m) = std::fs::symlink_metadata(&p) else {
                continue;
            };
            if m.dev() != dev {
                continue;
            }
            if m.is_dir() {
                stack.push(p);
            } else if m.is_file() {
                if let Ok(b) = std::fs::read(&p) {
                    if b.windows(needle.len()).any(|w| w == needle) {
                        out.push(p);
                    }
                }
            }
        }
    }
}

/// No node's directory (data dir with sled and task logs, daemon log), containerd
/// root or state, nor runc's state holds any of `values`.
fn nowhere_on_disk(c: &TestCluster, n: usize, values: &[&str]) -> Result<()> {
    for v in values {
        let mut hits = Vec::new();
        for i in 0..n {
            files_containing(c.node(i).dir(), v.as_bytes(), &mut hits);
            files_containing(c.node(i).containerd.dir(), v.as_bytes(), &mut hits);
        }
        files_containing(
            Path::new("/run/containerd/runc/orc"),
            v.as_bytes(),
            &mut hits,
        );
        ensure!(hits.is_empty(), "a value is on disk in clear: {hits:?}");
    }
    Ok(())
}

fn fails(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn secrets_reach_only_their_tasks_in_memory_and_roll_when_changed() -> Result<()> {
    let mut c = TestCluster::form(&["m1", "m2", "m3", "w1"], 3, 1, Some(250), true)?;
    let dir = tempfile::Builder::new().prefix("orc-secrets-").tempdir()?;
    let file = dir.path().join("stack.toml");
    let file_s = file.to_string_lossy().to_string();
    let (d1, d2, a1, a2, m1) = (
        value("dbroot1"),
        value("dbroot2"),
        value("apikey1"),
        value("apikey2"),
        value("motd1"),
    );
    std::fs::write(dir.path().join("db_root.txt"), &d1)?;
    std::fs::write(dir.path().join("motd.txt"), &m1)?;
    std::fs::write(&file, stack(""))?;

    // An external secret first, from standard input.
    let out = c
        .node(0)
        .orc_input(&["secret", "create", "api_key", "-"], &a1)?;
    ensure!(out.status.success(), "secret create: {}", fails(&out));
    let ls = c.node(0).json(&["secret", "ls"])?;
    ensure!(ls[0]["name"] == "api_key" && ls[0]["revision"] == 1, "{ls}");
    let table = c.node(0).ok(&["secret", "ls"])?;
    ensure!(
        table.contains("NAME") && table.contains("api_key"),
        "{table}"
    );
    let inspect = c.node(0).ok(&["secret", "inspect", "api_key"])?;
    ensure!(!inspect.contains(&a1), "inspect shows the value");
    ensure!(
        !c.node(0)
            .orc(&["secret", "inspect", "api_key", "--value"])?
            .status
            .success(),
        "a secret's value was shown"
    );

    c.node(0).ok(&[
        "stack",
        "deploy",
        &file_s,
        "--name",
        "app",
        "--timeout",
        "90",
    ])?;
    let (db, on) = task_of(&c, "app_db", None)?;
    ensure!(on == "w1", "db runs on {on}");
    let (client, on) = task_of(&c, "app_client", None)?;
    ensure!(on == "m2", "client runs on {on}");

    // Inside the db container: a read-only tmpfs file, 0444, root's.
    let seen = exec(
        &c,
        W1,
        &db,
        "cat $MARIADB_ROOT_PASSWORD_FILE; echo; stat -c '%a %u %g' /run/secrets/db_root; \
         grep ' /run/secrets/db_root ' /proc/mounts; stat -c '%a' /etc/motd; cat /etc/motd; echo; \
         if echo x > /run/secrets/db_root; then echo WRITABLE; fi",
    )?;
    let lines: Vec<&str> = seen.lines().collect();
    ensure!(lines.first() == Some(&d1.as_str()), "db reads {seen}");
    ensure!(lines.get(1) == Some(&"444 0 0"), "mode/owner: {seen}");
    let mnt = lines.get(2).copied().unwrap_or_default();
    ensure!(mnt.contains(" tmpfs "), "not a tmpfs: {seen}");
    for opt in ["ro", "nosuid", "nodev", "noexec"] {
        ensure!(
            mnt.split_whitespace()
                .nth(3)
                .is_some_and(|o| o.split(',').any(|x| x == opt)),
            "mount lacks {opt}: {mnt}"
        );
    }
    ensure!(lines.get(3) == Some(&"440"), "config mode: {seen}");
    ensure!(lines.get(4) == Some(&m1.as_str()), "config: {seen}");
    ensure!(!seen.contains("WRITABLE"), "the secret is writable: {seen}");
    // The client: the same secret at its own target, owner and mode, and the external one.
    let seen = exec(
        &c,
        M2,
        &client,
        "stat -c '%a %u %g' /run/secrets/db_pw; cat /run/secrets/db_pw; echo; cat /run/secrets/api_key",
    )?;
    ensure!(
        seen.lines().collect::<Vec<_>>() == ["400 1000 1000", d1.as_str(), a1.as_str()],
        "client sees {seen}"
    );

    // Never in what the API shows.
    for args in [
        &["service", "ls", "--json"][..],
        &["secret", "ls", "--json"],
        &["secret", "inspect", "app_db_root"],
        &["service", "ps", "app_db", "--json"],
    ] {
        let out = c.node(0).orc(args)?;
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), fails(&out));
        ensure!(
            !text.contains(&d1) && !text.contains(&a1),
            "{args:?} shows a value"
        );
    }
    // A config's value is shown on request.
    let shown: serde_json::Value = serde_json::from_str(
        &c.node(0)
            .ok(&["config", "inspect", "app_motd", "--value"])?,
    )?;
    ensure!(shown["value"] == m1.as_str(), "{shown}");

    // What nodes were sent: the worker got db_root (its task's) and never api_key
    // (no task of its uses it); managers without a user never opened either.
    let wlog = c.node(W1).daemon_log();
    ensure!(
        wlog.contains("received secret app_db_root revision 1 from the leader"),
        "worker log lacks the delivery"
    );
    ensure!(
        !wlog.contains("secret api_key revision"),
        "the worker received api_key"
    );
    for i in [0, 2] {
        let log = c.node(i).daemon_log();
        ensure!(
            !log.contains("app_db_root revision") && !log.contains("api_key revision"),
            "node {i} has no user but handled a value"
        );
    }
    ensure!(c
        .node(M2)
        .daemon_log()
        .contains("secret api_key revision 1 is at /run/secrets/api_key"));

    // The search itself finds a value where it is in clear: the stack's own file.
    let mut found = Vec::new();
    files_containing(dir.path(), d1.as_bytes(), &mut found);
    ensure!(
        found.len() == 1,
        "the search missed the stack's file: {found:?}"
    );
    nowhere_on_disk(&c, 4, &[&d1, &a1, &m1])?;

    // The worker's daemon restarts: the container is adopted and keeps its file (the
    // tmpfs outlives the daemon; the new daemon holds no value in memory).
    c.node_mut(W1).restart_daemon()?;
    c.poll(
        harness::CONVERGE,
        "db adopted",
        Duration::from_millis(300),
        || {
            let log = c.node(W1).daemon_log();
            (log.contains("adopting running container") && log.contains(db.as_str())).then_some(())
        },
    )?;
    ensure!(
        task_of(&c, "app_db", None)?.0 == db,
        "db was replaced by the restart"
    );
    let seen = exec(&c, W1, &db, "cat /run/secrets/db_root")?;
    ensure!(seen == d1, "after the restart db reads {seen}");

    // `secret update`: the client rolls to the new value.
    let out = c.node(2).orc_input(&["secret", "update", "api_key"], &a2)?;
    ensure!(out.status.success(), "secret update: {}", fails(&out));
    let (client2, _) = task_of(&c, "app_client", Some(&client))?;
    let seen = exec(&c, M2, &client2, "cat /run/secrets/api_key")?;
    ensure!(seen == a2, "after update the client reads {seen}");

    // `service rollback` to the spec before the update: it pinned the old revision,
    // which was kept for it, and the client reads the old value again.
    let history = c.node(2).json(&["service", "history", "app_client"])?;
    let before = history
        .as_array()
        .and_then(|h| h.iter().find(|r| r["current"] == false))
        .and_then(|r| r["revision"].as_u64())
        .with_context(|| format!("an earlier revision in {history}"))?;
    let out = c.node(2).orc(&[
        "service",
        "rollback",
        "app_client",
        "--to",
        &before.to_string(),
    ])?;
    ensure!(out.status.success(), "service rollback: {}", fails(&out));
    let (client3, _) = task_of(&c, "app_client", Some(&client2))?;
    let seen = exec(&c, M2, &client3, "cat /run/secrets/api_key")?;
    ensure!(seen == a1, "after the rollback the client reads {seen}");

    // A redeploy with a changed file: a new revision, the users roll (no "only updates
    // to Labels are allowed").
    std::fs::write(dir.path().join("db_root.txt"), &d2)?;
    let out = c.node(0).orc(&[
        "stack",
        "deploy",
        &file_s,
        "--name",
        "app",
        "--timeout",
        "90",
    ])?;
    ensure!(out.status.success(), "redeploy: {}", fails(&out));
    let ls = c.node(0).json(&["secret", "ls"])?;
    let row = ls
        .as_array()
        .and_then(|a| a.iter().find(|r| r["name"] == "app_db_root"))
        .context("app_db_root listed")?;
    ensure!(row["revision"] == 2, "{row}");
    let (db2, _) = task_of(&c, "app_db", Some(&db))?;
    let seen = exec(&c, W1, &db2, "cat /run/secrets/db_root")?;
    ensure!(seen == d2, "after the redeploy db reads {seen}");
    ensure!(
        c.node(W1)
            .daemon_log()
            .contains("received secret app_db_root revision 2"),
        "revision 2 not delivered"
    );

    // Removal refused while used, naming the users.
    let out = c.node(0).orc(&["secret", "rm", "api_key"])?;
    ensure!(
        !out.status.success() && fails(&out).contains("app_client"),
        "{}",
        fails(&out)
    );

    // Bad input: each a FILE:LINE:COL: field error, and nothing changes.
    let before = c.node(0).ok(&["service", "ls", "--json"])?;
    let secrets_before = c.node(0).ok(&["secret", "ls", "--json"])?;
    let bad = |name: &str, body: String, want: &[&str]| -> Result<()> {
        let p = dir.path().join(format!("{name}.toml"));
        std::fs::write(&p, body)?;
        let out = c
            .node(0)
            .orc(&["stack", "deploy", &p.to_string_lossy(), "--name", "app"])?;
        let err = fails(&out);
        ensure!(!out.status.success(), "{name} was accepted");
        let at = format!("{}:", p.display());
        ensure!(err.contains(&at), "{name}: no file position in {err}");
        for w in want {
            ensure!(err.contains(w), "{name}: {w:?} not in {err}");
        }
        ensure!(
            !err.contains(&d2) && !err.contains(&a2),
            "{name}: a value in the error"
        );
        Ok(())
    };
    bad(
        "missing-file",
        stack("").replace("./db_root.txt", "./nope.txt"),
        &["secrets.db_root.file", "nope.txt"],
    )?;
    std::fs::write(dir.path().join("big.txt"), vec![b'x'; 600 * 1024])?;
    bad(
        "too-big",
        stack("").replace("./db_root.txt", "./big.txt"),
        &["secrets.db_root.file", "500 KiB"],
    )?;
    bad(
        "unknown-external",
        stack("")
            .replace(
                "[secrets.api_key]",
                "[secrets.ghost]\nexternal = true\n[secrets.api_key]",
            )
            .replace("\"api_key\"]", "\"api_key\", \"ghost\"]"),
        &["secrets.ghost", "does not exist"],
    )?;
    bad(
        "target-clash",
        stack("mounts = [{ type = \"tmpfs\", target = \"/run/secrets/db_root\" }]"),
        &["services.db", "/run/secrets/db_root"],
    )?;
    bad(
        "undeclared",
        stack("").replace(
            "secrets = [\"db_root\"]",
            "secrets = [\"db_root\", \"nope\"]",
        ),
        &["services.db.secrets", "unknown secret \"nope\""],
    )?;
    ensure!(
        c.node(0).ok(&["service", "ls", "--json"])? == before
            && c.node(0).ok(&["secret", "ls", "--json"])? == secrets_before,
        "a refused deploy changed something"
    );
    // Too big through the CLI.
    let out = c.node(0).orc(&[
        "secret",
        "create",
        "huge",
        &dir.path().join("big.txt").to_string_lossy(),
    ])?;
    ensure!(
        !out.status.success() && fails(&out).contains("500 KiB"),
        "{}",
        fails(&out)
    );

    nowhere_on_disk(&c, 4, &[&d1, &d2, &a1, &a2, &m1])?;

    // The stack goes while the worker's daemon is down (killed: its container keeps
    // running): once back, the daemon reaps the orphaned container and its tmpfs.
    // The stack's own secrets go with it.
    let values_dir = c.node(W1).data_dir().join("values");
    ensure!(
        std::fs::read_dir(&values_dir)
            .map(|d| d.count())
            .unwrap_or(0)
            == 1,
        "the worker has no tmpfs for its task"
    );
    c.node_mut(W1).kill_daemon()?;
    c.node(0).ok(&["stack", "rm", "app", "--detach"])?;
    c.node_mut(W1).restart_daemon()?;
    c.poll(
        harness::CONVERGE,
        "the worker's tmpfs gone",
        Duration::from_millis(300),
        || {
            let left = std::fs::read_dir(&values_dir)
                .map(|d| d.count())
                .unwrap_or(0);
            let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
            (left == 0 && !mounts.contains(&values_dir.to_string_lossy().to_string())).then_some(())
        },
    )?;
    c.poll(
        harness::CONVERGE,
        "only api_key left",
        Duration::from_millis(300),
        || {
            let ls = c.node(0).json(&["secret", "ls"]).ok()?;
            let names: Vec<&str> = ls
                .as_array()
                .map(|a| a.iter().filter_map(|r| r["name"].as_str()).collect())
                .unwrap_or_default();
            (names == ["api_key"]).then_some(())
        },
    )?;
    c.node(0).ok(&["secret", "rm", "api_key"])?;
    if !c
        .node(0)
        .json(&["secret", "ls"])?
        .as_array()
        .is_some_and(|a| a.is_empty())
    {
        bail!("api_key not removed");
    }
    Ok(())
}

/// The real-database image: Debian's MariaDB server and client (debootstrap, built
/// once per package list into the shared image cache, see `debian_image`).
const MARIADB_IMAGE: &str = "demo/mariadb:11";
const MARIADB_PACKAGES: &[&str] = &["mariadb-server", "mariadb-client"];

const MARIADB_STACK: &str = r#"
[secrets.db_root]
file = "./db_root.txt"

[services.db]
image = "demo/mariadb:11"
env = { MARIADB_ROOT_PASSWORD_FILE = "/run/secrets/db_root" }
secrets = ["db_root"]
constraints = ["node.role == worker"]
stop = { signal = "SIGKILL", grace_period = "1s" }
command = ["bash", "-c", """
set -e
mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld
[ -d /var/lib/mysql/mysql ] || mariadb-install-db --user=mysql --datadir=/var/lib/mysql >/dev/null
mariadbd --user=mysql --bind-address=0.0.0.0 &
for i in $(seq 120); do mariadb-admin ping >/dev/null 2>&1 && break; sleep 0.5; done
printf "CREATE USER IF NOT EXISTS 'root'@'%%' IDENTIFIED BY '%s'; GRANT ALL ON *.* TO 'root'@'%%' WITH GRANT OPTION;" "$(cat "$MARIADB_ROOT_PASSWORD_FILE")" | mariadb
echo db-ready
wait
"""]

[services.client]
image = "demo/mariadb:11"
secrets = ["db_root"]
constraints = ["node.role == manager"]
stop = { signal = "SIGKILL", grace_period = "1s" }
command = ["bash", "-c", """
for i in $(seq 240); do
  if out=$(MYSQL_PWD="$(cat /run/secrets/db_root)" mariadb -h db -uroot -N -e 'SELECT 6*7' 2>/dev/null); then
    echo "connected: $out"
    MYSQL_PWD=not-the-password mariadb -h db -uroot -N -e 'SELECT 1' >/dev/null 2>&1 || echo refused-wrong-password
    break
  fi
  sleep 0.5
done
exec sleep 3600
"""]
"#;

#[test]
fn a_real_mariadb_takes_its_root_password_from_a_secret_and_a_client_connects_with_it() -> Result<()>
{
    let image = orc_testbed::debian_image(MARIADB_IMAGE, MARIADB_PACKAGES)?;
    let c = TestCluster::form(&["dbm", "dbw"], 1, 1, Some(250), false)?;
    for i in 0..2 {
        c.node(i).ok(&["image", "load", &image.to_string_lossy()])?;
    }
    let dir = tempfile::Builder::new().prefix("orc-mariadb-").tempdir()?;
    let pw = value("rootpw");
    std::fs::write(dir.path().join("db_root.txt"), &pw)?;
    let file = dir.path().join("stack.toml");
    std::fs::write(&file, MARIADB_STACK)?;
    c.node(0).ok(&[
        "stack",
        "deploy",
        &file.to_string_lossy(),
        "--name",
        "mdb",
        "--timeout",
        "180",
    ])?;
    let logs = c.poll(
        Duration::from_secs(180),
        "the client connected to MariaDB with the secret",
        Duration::from_secs(1),
        || {
            let out = c.node(0).ok(&["service", "logs", "mdb_client"]).ok()?;
            out.contains("connected: 42").then_some(out)
        },
    )?;
    ensure!(
        logs.contains("refused-wrong-password"),
        "MariaDB accepted a wrong password: {logs}"
    );
    let db_logs = c.node(0).ok(&["service", "logs", "mdb_db"])?;
    ensure!(db_logs.contains("db-ready"), "{db_logs}");
    ensure!(
        !db_logs.contains(&pw) && !logs.contains(&pw),
        "the password is in a log"
    );
    // The worker running the database holds the password in no file of its own.
    let mut hits = Vec::new();
    files_containing(c.node(1).dir(), pw.as_bytes(), &mut hits);
    files_containing(c.node(1).containerd.dir(), pw.as_bytes(), &mut hits);
    ensure!(
        hits.is_empty(),
        "the password is on the worker's disk: {hits:?}"
    );
    Ok(())
}
