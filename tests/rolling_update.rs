//! Rolling updates and rollbacks end to end: three nodes in network namespaces, each
//! with its own containerd and `orc daemon`, a busybox httpd service behind a
//! published port, and a client making a request every 20 ms through another node's
//! published port while the service is updated.

#[path = "cluster/harness.rs"]
#[allow(dead_code)]
mod harness;

use anyhow::{ensure, Context, Result};
use harness::TestCluster;
use serde_json::Value;
use std::collections::BTreeSet;
use std::process::{Child, Output, Stdio};
use std::time::Duration;

const LOOK: Duration = Duration::from_millis(250);

/// A web service answering "web-VERSION" on PORT (3 replicas, one per node), rolled
/// out per `update` (the inside of `update_config = {…}`); `extra` adds lines.
fn web_stack(port: u16, version: &str, update: &str, extra: &str) -> String {
    format!(
        r#"
[services.web]
image = "demo/busybox:1"
command = ["sh", "-c", "mkdir -p /tmp/www && echo web-$VERSION > /tmp/www/index.html && exec httpd -f -p 80 -h /tmp/www"]
env = {{ VERSION = "{version}" }}
replicas = 3
ports = ["{port}:80"]
mounts = [{{ type = "tmpfs", target = "/tmp" }}]
stop = {{ signal = "SIGKILL", grace_period = "1s" }}
restart = {{ condition = "any", delay = "1s" }}
update_config = {{ {update} }}
{extra}
"#
    )
}

/// An HTTP health check the web version passes (its page is there).
const GOOD_CHECK: &str = "healthcheck = { test = [\"HTTP\", \"http://localhost:80/\"], interval = \"1s\", start_interval = \"200ms\" }";

/// The version that can't start: its container exits 1 at once.
fn bad_stack(port: u16, update: &str, extra: &str) -> String {
    web_stack(port, "bad", update, extra).replace(
        "mkdir -p /tmp/www && echo web-$VERSION > /tmp/www/index.html && exec httpd -f -p 80 -h /tmp/www",
        "echo cannot start: connection refused >&2; exit 1",
    )
}

fn cluster() -> Result<TestCluster> {
    let c = TestCluster::form(&["m", "w1", "w2"], 1, 2, Some(250), true)?;
    Ok(c)
}

/// `orc stack deploy` through node 0, whatever it answers.
fn deploy_raw(c: &TestCluster, dir: &std::path::Path, name: &str, body: &str) -> Result<Output> {
    let p = dir.join(format!("{name}.toml"));
    std::fs::write(&p, body)?;
    c.node(0).orc(&[
        "stack",
        "deploy",
        &p.to_string_lossy(),
        "--name",
        name,
        "--timeout",
        "180",
    ])
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `orc service inspect --json`.
fn inspect(c: &TestCluster, svc: &str) -> Result<Value> {
    c.node(0).json(&["service", "inspect", svc])
}

/// Waits until revision `rev` of `svc` is marked stable.
fn wait_stable(c: &TestCluster, svc: &str, rev: u64) -> Result<()> {
    c.poll(
        harness::CONVERGE,
        &format!("{svc} revision {rev} stable"),
        LOOK,
        || {
            let rows = c.node(0).json(&["service", "history", svc]).ok()?;
            rows.as_array()?
                .iter()
                .any(|r| r["revision"] == rev && r["stable"] == true)
                .then_some(())
        },
    )
    .with_context(|| c.describe(0, svc))
}

/// The ids of `svc`'s running tasks.
fn running_ids(c: &TestCluster, svc: &str) -> Result<BTreeSet<String>> {
    Ok(c.running_tasks(0, svc)?
        .into_iter()
        .map(|(id, _)| id)
        .collect())
}

/// A client in node `from`'s namespace requesting `url` every 20 ms, one line per
/// request ("ok BODY" or "fail CODE") into a file.
struct Client {
    child: Child,
    out: std::path::PathBuf,
}

impl Client {
    fn start(c: &TestCluster, from: usize, url: &str, dir: &std::path::Path) -> Result<Client> {
        let out = dir.join(format!("client-{from}.log"));
        let file = std::fs::File::create(&out)?;
        let script = format!(
            "while :; do t=$(date +%s.%N); b=$(curl -s -f -m 2 {url}); r=$?; if [ $r = 0 ]; then \
             echo \"ok $b $t\"; else echo \"fail $r $t\"; fi; sleep 0.02; done"
        );
        let child = c
            .host(from)
            .command("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(Stdio::null())
            .spawn()?;
        Ok(Client { child, out })
    }

    fn lines(&self) -> Vec<String> {
        std::fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Waits until `n` more requests answered with `body`.
    fn wait_answers(&self, c: &TestCluster, body: &str, n: usize) -> Result<()> {
        let before = self.lines().iter().filter(|l| l.contains(body)).count();
        c.poll(
            harness::CONVERGE,
            &format!("{n} answers {body}"),
            LOOK,
            || {
                let now = self.lines().iter().filter(|l| l.contains(body)).count();
                (now >= before + n).then_some(())
            },
        )
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// (a) An update to a good version (with an HTTP health check) through the published
/// port of another node, with a request every 20 ms: no request fails.
fn zero_failed_requests(order: &str, port: u16) -> Result<()> {
    let c = cluster()?;
    let dir = tempfile::tempdir()?;
    let update = format!("order = \"{order}\", parallelism = 1, monitor = \"1s\"");
    let out = deploy_raw(
        &c,
        dir.path(),
        "zr",
        &web_stack(port, "1", &update, GOOD_CHECK),
    )?;
    ensure!(out.status.success(), "{}", text(&out));
    c.wait_service(0, "zr_web", 3)?;
    ensure!(
        c.running_by_node(0, "zr_web")?.len() == 3,
        "one replica per node: {:?}",
        c.running_by_node(0, "zr_web")?
    );
    // The client runs on the manager and goes through w1's published port.
    let url = format!("http://{}:{port}/", c.host(1).ip);
    let client = Client::start(&c, 0, &url, dir.path())?;
    client.wait_answers(&c, "web-1", 10)?;
    let out = deploy_raw(
        &c,
        dir.path(),
        "zr",
        &web_stack(port, "2", &update, GOOD_CHECK),
    )?;
    ensure!(out.status.success(), "{}", text(&out));
    let progress = String::from_utf8_lossy(&out.stderr);
    ensure!(
        progress.contains("zr_web: updating 1/3"),
        "progress shown: {}",
        text(&out)
    );
    client.wait_answers(&c, "web-2", 10)?;
    drop(client);
    let lines = std::fs::read_to_string(dir.path().join("client-0.log"))?;
    let failed: Vec<&str> = lines.lines().filter(|l| l.starts_with("fail")).collect();
    let ok = lines.lines().filter(|l| l.starts_with("ok")).count();
    println!(
        "MEASURE {order} update, parallelism 1: {ok} requests answered, {} failed",
        failed.len()
    );
    if !failed.is_empty() {
        for n in 0..3 {
            let o = c
                .host(n)
                .command("nft")
                .args(["list", "ruleset"])
                .output()?;
            println!(
                "--- node {n} ruleset ---\n{}",
                String::from_utf8_lossy(&o.stdout)
            );
        }
        println!("{lines}");
        println!("{}", c.logs_tail());
    }
    ensure!(
        failed.is_empty(),
        "{} of {} requests failed during a {order} update: {:?}\n{}",
        failed.len(),
        ok + failed.len(),
        &failed[..failed.len().min(10)],
        c.describe(0, "zr_web")
    );
    // Every answer after the update is the new version; the rollout completed.
    let last: Vec<&str> = lines.lines().rev().take(5).collect();
    ensure!(last.iter().all(|l| l.contains("web-2")), "{last:?}");
    let i = inspect(&c, "zr_web")?;
    ensure!(i["update"]["state"] == "completed", "{i}");
    ensure!(c.running_tasks(0, "zr_web")?.len() == 3);
    Ok(())
}

#[test]
fn a_start_first_update_fails_no_request() -> Result<()> {
    zero_failed_requests("start-first", 18290)
}

#[test]
fn a_stop_first_update_with_parallelism_1_fails_no_request_through_another_node() -> Result<()> {
    zero_failed_requests("stop-first", 18291)
}

/// (b) A version whose tasks fail, failure_action = "rollback": back to the previous
/// revision with at most `parallelism` slots touched, and the command exits non-zero
/// naming the failed task and its reason. `bad` makes the failing stack.
fn bad_version_rolls_back(port: u16, bad: impl Fn(u16, &str) -> String) -> Result<String> {
    let c = cluster()?;
    let dir = tempfile::tempdir()?;
    let update = "parallelism = 1, monitor = \"2s\", failure_action = \"rollback\", healthy_deadline = \"20s\"";
    let out = deploy_raw(&c, dir.path(), "rb", &web_stack(port, "1", update, ""))?;
    ensure!(out.status.success(), "{}", text(&out));
    c.wait_service(0, "rb_web", 3)?;
    wait_stable(&c, "rb_web", 1)?;
    let before = running_ids(&c, "rb_web")?;
    let out = deploy_raw(&c, dir.path(), "rb", &bad(port, update))?;
    ensure!(
        !out.status.success(),
        "a rolled-back deploy must fail: {}",
        text(&out)
    );
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    ensure!(
        err.contains("rb_web: rolled back to revision 1: task rb_web."),
        "names the service, the revision and the task: {}",
        text(&out)
    );
    let i = inspect(&c, "rb_web")?;
    ensure!(i["update"]["state"] == "rollback_completed", "{i}");
    ensure!(
        i["spec"]["env"]["VERSION"] == "1",
        "the spec is v1 again: {i}"
    );
    c.wait_service(0, "rb_web", 3)?;
    let after = running_ids(&c, "rb_web")?;
    let kept = before.intersection(&after).count();
    ensure!(
        kept >= 2,
        "at most parallelism (1) of 3 slots were replaced: kept {kept} of {before:?} in {after:?}"
    );
    Ok(err)
}

#[test]
fn a_bad_version_rolls_back_and_the_deploy_exits_non_zero() -> Result<()> {
    let err = bad_version_rolls_back(18292, |port, update| bad_stack(port, update, ""))?;
    ensure!(err.contains("failed: task exited with code 1"), "{err}");
    Ok(())
}

/// The same with the issue's bad version: it runs, but its HTTP health check fails.
#[test]
fn a_version_whose_health_check_fails_rolls_back() -> Result<()> {
    let err = bad_version_rolls_back(18293, |port, update| {
        web_stack(
            port,
            "2",
            update,
            "healthcheck = { test = [\"HTTP\", \"http://localhost:80/nope\"], interval = \"1s\", retries = 2, start_interval = \"1s\" }",
        )
    })?;
    ensure!(
        err.contains("unhealthy: exit 1: HTTP/1.1 404 Not Found"),
        "names the probe's output: {err}"
    );
    Ok(())
}

/// (c) New tasks no node can take: the update leaves `updating` at healthy_deadline
/// and pauses (its failure_action), naming the scheduler's reason.
#[test]
fn an_update_nobody_can_place_pauses_at_its_healthy_deadline() -> Result<()> {
    let c = cluster()?;
    let dir = tempfile::tempdir()?;
    let port = 18294;
    let update = "parallelism = 1, monitor = \"1s\", healthy_deadline = \"5s\"";
    let out = deploy_raw(&c, dir.path(), "np", &web_stack(port, "1", update, ""))?;
    ensure!(out.status.success(), "{}", text(&out));
    c.wait_service(0, "np_web", 3)?;
    let stuck = web_stack(
        port,
        "2",
        update,
        "constraints = [\"node.labels.zone == mars\"]",
    );
    let out = deploy_raw(&c, dir.path(), "np", &stuck)?;
    ensure!(
        !out.status.success(),
        "a paused update must fail the deploy: {}",
        text(&out)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    ensure!(
        err.contains("np_web: update paused: task np_web.")
            && err.contains("not placed within 5s: no suitable node"),
        "{}",
        text(&out)
    );
    let i = inspect(&c, "np_web")?;
    ensure!(i["update"]["state"] == "paused", "{i}");
    let msg = i["update"]["message"].as_str().unwrap_or_default();
    ensure!(msg.contains("not placed within 5s"), "{i}");
    // Paused: the two other replicas keep running the old version.
    ensure!(
        c.running_tasks(0, "np_web")?.len() == 2,
        "{}",
        c.describe(0, "np_web")
    );
    Ok(())
}

/// (d) v1 (good), v2 (bad: paused), v2 deployed again, `service rollback` → v1: the
/// bad revision is never the rollback target.
#[test]
fn a_bad_version_deployed_twice_is_never_the_rollback_target() -> Result<()> {
    let c = cluster()?;
    let dir = tempfile::tempdir()?;
    let port = 18295;
    let update = "parallelism = 1, monitor = \"1s\", healthy_deadline = \"20s\"";
    let out = deploy_raw(&c, dir.path(), "tw", &web_stack(port, "1", update, ""))?;
    ensure!(out.status.success(), "{}", text(&out));
    c.wait_service(0, "tw_web", 3)?;
    wait_stable(&c, "tw_web", 1)?;
    for attempt in 0..2 {
        let out = deploy_raw(&c, dir.path(), "tw", &bad_stack(port, update, ""))?;
        ensure!(!out.status.success(), "attempt {attempt}: {}", text(&out));
        ensure!(
            String::from_utf8_lossy(&out.stderr).contains("tw_web: update paused: task tw_web."),
            "attempt {attempt}: {}",
            text(&out)
        );
    }
    let out = c
        .node(0)
        .orc(&["service", "rollback", "tw_web", "--timeout", "120"])?;
    ensure!(out.status.success(), "{}", text(&out));
    let i = inspect(&c, "tw_web")?;
    ensure!(i["update"]["state"] == "rollback_completed", "{i}");
    ensure!(i["update"]["to"] == 1, "back to revision 1: {i}");
    ensure!(i["spec"]["env"]["VERSION"] == "1", "{i}");
    let history = c.node(0).json(&["service", "history", "tw_web"])?;
    let revs: Vec<(u64, bool, String)> = history
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            (
                r["revision"].as_u64().unwrap_or_default(),
                r["stable"] == true,
                r["note"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    ensure!(
        revs.iter().any(|r| r.0 == 2 && !r.1)
            && revs.iter().any(|r| r.0 == 3 && r.2 == "rollback to 1"),
        "{revs:?}"
    );
    c.wait_service(0, "tw_web", 3)?;
    let url = format!("http://{}:{port}/", c.host(2).ip);
    c.poll(harness::CONVERGE, "v1 answers", LOOK, || {
        let o = c
            .host(0)
            .command("curl")
            .args(["-s", "-m", "2", &url])
            .output()
            .ok()?;
        String::from_utf8_lossy(&o.stdout)
            .contains("web-1")
            .then_some(())
    })?;
    // `service update --force` replaces every task of the same spec and waits for it.
    let before = running_ids(&c, "tw_web")?;
    let out = c
        .node(0)
        .orc(&["service", "update", "tw_web", "--force", "--timeout", "120"])?;
    ensure!(out.status.success(), "{}", text(&out));
    let after = running_ids(&c, "tw_web")?;
    ensure!(
        after.len() == 3 && before.is_disjoint(&after),
        "{before:?} {after:?}"
    );
    let row = c.service_row(0, "tw_web").context("tw_web listed")?;
    ensure!(row["update"] == "completed", "{row}");
    // A bad flag changes nothing and says why.
    let out = c
        .node(0)
        .orc(&["service", "update", "tw_web", "--env-add", "NOVALUE"])?;
    ensure!(
        !out.status.success()
            && String::from_utf8_lossy(&out.stderr).contains("expected KEY=VALUE"),
        "{}",
        text(&out)
    );
    let out = c.node(0).orc(&["service", "rm", "tw_web"])?;
    ensure!(out.status.success(), "{}", text(&out));
    ensure!(c.service_row(0, "tw_web").is_none());
    Ok(())
}
