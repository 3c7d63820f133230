//! Container networking across nodes, end to end: every node is its own network
//! namespace on a simulated LAN, with its own containerd and `orc daemon`; what is
//! checked is read back from the cluster and from the kernel.

#[path = "cluster/harness.rs"]
#[allow(dead_code)]
mod harness;

use anyhow::{ensure, Result};
use harness::TestCluster;
use std::collections::BTreeSet;
use std::time::Duration;

/// `orc cluster init` on node `i` with extra flags: `Err(stderr)` when refused.
fn init_with(c: &TestCluster, i: usize, flags: &[&str]) -> Result<Result<(), String>> {
    let advertise = format!("{}:4747", c.host(i).ip);
    let mut args = vec!["cluster", "init", "--advertise", &advertise];
    args.extend_from_slice(flags);
    let out = c.node(i).orc(&args)?;
    Ok(if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    })
}

#[test]
fn init_checks_the_subnet_and_every_node_gets_its_own_block() -> Result<()> {
    let c = TestCluster::form(&["a", "b", "c"], 0, 0, Some(250), false)?;
    // The LAN's own /24 inside the chosen subnet: refused, naming both.
    let lan = c.lan.subnet();
    let octets: Vec<&str> = lan.split('.').collect();
    let overlapping = format!("{}.{}.0.0/16", octets[0], octets[1]);
    for (flags, expect) in [
        (vec!["--subnet", overlapping.as_str()], lan.as_str()),
        (vec!["--subnet", "10.201.0.1/16"], "host bits"),
        (
            vec!["--subnet", "10.201.0.0/24"],
            "prefix length of 8 to 23",
        ),
        (
            vec!["--network-driver", "overlay"],
            "unknown network driver",
        ),
    ] {
        let err = init_with(&c, 0, &flags)?.expect_err("bad init must be refused");
        ensure!(err.contains(expect), "{flags:?}: {err}");
    }
    // Nothing was applied: the node is still no cluster's member.
    let info = c.node(0).json(&["cluster", "info"])?;
    ensure!(info["cluster_id"].is_null(), "{info}");

    init_with(
        &c,
        0,
        &["--subnet", "10.202.0.0/16", "--network-driver", "vxlan"],
    )?
    .map_err(anyhow::Error::msg)?;
    let mtoken = c.node(0).ok(&["cluster", "join-token", "manager", "-q"])?;
    let wtoken = c.node(0).ok(&["cluster", "join-token", "worker", "-q"])?;
    c.try_join(1, mtoken.trim(), 0)?
        .map_err(anyhow::Error::msg)?;
    c.try_join(2, wtoken.trim(), 0)?
        .map_err(anyhow::Error::msg)?;
    c.wait_ready(0, 3)?;
    // Read on the joined manager, whose copy of the state may trail the leader's.
    let want: BTreeSet<String> = (1..=3).map(|i| format!("10.202.{i}.0/24")).collect();
    let mut last = BTreeSet::new();
    let got = c.poll(
        Duration::from_secs(30),
        "every node's block on the second manager",
        Duration::from_millis(100),
        || {
            let rows = c.nodes(1).ok()?;
            last = rows
                .iter()
                .filter_map(|r| r["subnet"].as_str().map(str::to_string))
                .collect();
            (last == want).then_some(())
        },
    );
    ensure!(got.is_ok(), "blocks {last:?}, want {want:?}");
    Ok(())
}

/// `svc`'s running task on `via`'s view: (task id, node, address).
fn running_task(c: &TestCluster, via: usize, svc: &str) -> Option<(String, String, String)> {
    let rows = c.node(via).json(&["service", "ps", svc]).ok()?;
    rows.as_array()?.iter().find_map(|t| {
        (t["state"] == "running").then_some(())?;
        Some((
            t["id"].as_str()?.to_string(),
            t["node"].as_str()?.to_string(),
            t["address"].as_str()?.to_string(),
        ))
    })
}

/// The DNS server of a container at `addr`: its node's bridge address, `.1` of the
/// container's /24.
fn dns_server_of(addr: &str) -> String {
    addr.rsplit_once('.')
        .map(|(n, _)| format!("{n}.1"))
        .unwrap_or_default()
}

/// Polls `url` from inside `netns` until the web service's page answers; on timeout
/// the error carries the routes and rules that explain why (`diagnose`).
fn web_answers(
    c: &TestCluster,
    netns: &std::path::Path,
    url: &str,
    what: &str,
    every: Duration,
) -> Result<()> {
    c.poll(harness::CONVERGE, what, every, || {
        wget_from(netns, url).filter(|b| b.contains("hello-from-web"))
    })
    .map_err(|e| e.context(diagnose(c, netns, url)))?;
    Ok(())
}

/// `curl` of `url` from inside the network namespace at `netns`.
fn wget_from(netns: &std::path::Path, url: &str) -> Option<String> {
    let out = std::process::Command::new("nsenter")
        .arg(format!("--net={}", netns.display()))
        .args(["curl", "-s", "-m", "2", url])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The `orc…` veths in node `i`'s namespace, from the kernel.
fn veths(c: &TestCluster, i: usize) -> Result<Vec<String>> {
    let out = c
        .host(i)
        .command("ip")
        .args(["-o", "link", "show"])
        .output()?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap_or(n).to_string())
        .filter(|n| n.starts_with("orc") && n != "orc0" && n != "orcvx")
        .collect())
}

/// orc's routes (protocol 79) in node `i`'s namespace, from the kernel.
fn orc_routes(c: &TestCluster, i: usize) -> Result<String> {
    let out = c
        .host(i)
        .command("ip")
        .args(["-4", "route", "show", "proto", "79"])
        .output()?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Addresses, routes and a verbose wget, for a failure message.
fn diagnose(c: &TestCluster, netns: &std::path::Path, url: &str) -> String {
    let run = |cmd: &mut std::process::Command| {
        cmd.output()
            .map(|o| {
                format!(
                    "{}{}",
                    String::from_utf8_lossy(&o.stdout),
                    String::from_utf8_lossy(&o.stderr)
                )
            })
            .unwrap_or_else(|e| e.to_string())
    };
    let ns = format!("--net={}", netns.display());
    let mut out = String::new();
    for args in [
        &["ip", "addr"][..],
        &["ip", "route"],
        &["curl", "-sS", "-m", "2", url],
    ] {
        out += &run(std::process::Command::new("nsenter").arg(&ns).args(args));
    }
    for i in 0..2 {
        out += &run(c.host(i).command("ip").args(["addr"]));
        out += &run(c.host(i).command("ip").args(["route"]));
        out += &run(c.host(i).command("sysctl").args(["net.ipv4.ip_forward"]));
    }
    out
}

/// Asks the DNS server at `server` for the A records of `name`, from inside the
/// network namespace at `netns` (as the container there would). `None` when no answer
/// came or it was not NOERROR.
fn dns_a(netns: &std::path::Path, server: &str, name: &str) -> Option<Vec<String>> {
    orc_testbed::netns::dns_a(netns, server, name)
}

/// A failed curl from node `j` with both nodes' rules, routes and VXLAN address.
fn net_state(c: &TestCluster, j: usize, url: &str) -> String {
    let out = c
        .host(j)
        .command("curl")
        .args(["-sS", "-m", "2", url])
        .output();
    let mut t = format!("{out:?}\n");
    for i in 0..2 {
        for args in [
            &["nft", "list", "ruleset"][..],
            &["ip", "route"],
            &["ip", "addr", "show", "orcvx"],
        ] {
            t += &c
                .host(i)
                .command(args[0])
                .args(&args[1..])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default();
        }
        t += "----\n";
    }
    t
}

const WEB_AND_CLIENT: &str = r#"
[services.web]
image = "demo/busybox:1"
command = ["sh", "-c", "mkdir -p /tmp/www && echo hello-from-web > /tmp/www/index.html && exec httpd -f -p 80 -h /tmp/www"]
constraints = ["node.hostname == a"]
ports = ["18080:80"]
mounts = [{ type = "tmpfs", target = "/tmp" }]
stop = { signal = "SIGKILL", grace_period = "1s" }

[services.client]
image = "demo/busybox:1"
command = ["sleep", "3600"]
constraints = ["node.hostname == b"]
stop = { signal = "SIGKILL", grace_period = "1s" }
"#;

#[test]
fn a_container_reaches_a_container_on_another_node_over_host_gw_routes() -> Result<()> {
    cross_node("host-gw")
}

#[test]
fn a_container_reaches_a_container_on_another_node_over_vxlan() -> Result<()> {
    cross_node("vxlan")
}

/// Node a runs `web`, node b `client`; the client fetches from the web container's
/// address; a daemon restart keeps it; `stack rm` leaves nothing behind.
fn cross_node(driver: &str) -> Result<()> {
    let mut c = TestCluster::form(&["a", "b"], 0, 0, Some(250), true)?;
    init_with(&c, 0, &["--network-driver", driver])?.map_err(anyhow::Error::msg)?;
    let token = c.node(0).ok(&["cluster", "join-token", "worker", "-q"])?;
    c.try_join(1, token.trim(), 0)?
        .map_err(anyhow::Error::msg)?;
    c.wait_ready(0, 2)?;
    c.deploy(0, "net1", WEB_AND_CLIENT)?;
    let look = std::time::Duration::from_millis(200);
    let (web, client) = c.poll(harness::CONVERGE, "web and client running", look, || {
        Some((
            running_task(&c, 0, "net1_web")?,
            running_task(&c, 0, "net1_client")?,
        ))
    })?;
    ensure!(web.1 == "a" && client.1 == "b", "placed {web:?} {client:?}");
    let blocks: Vec<String> = c
        .nodes(0)?
        .iter()
        .map(|r| format!("{}={}", r["hostname"], r["subnet"]))
        .collect();
    ensure!(
        web.2.starts_with("10.201.") && client.2.starts_with("10.201."),
        "addresses {web:?} {client:?} blocks {blocks:?}"
    );
    // The table shows the same address as --json.
    let table = c.node(0).ok(&["service", "ps", "net1_web"])?;
    ensure!(
        table.lines().next().is_some_and(|h| h.contains("ADDRESS"))
            && table
                .lines()
                .any(|l| l.contains(&web.0[..12]) && l.contains(&web.2)),
        "service ps table lacks the address {}: {table}",
        web.2
    );
    // Each node routes the other's block: via its LAN address, or over the VXLAN device.
    let via = match driver {
        "vxlan" => "dev orcvx".to_string(),
        _ => format!("via {}", c.host(0).ip),
    };
    ensure!(
        orc_routes(&c, 1)?.contains(&via),
        "routes on b: {}",
        orc_routes(&c, 1)?
    );
    let client_ns = c.node(1).data_dir().join("netns").join(&client.0);
    let url = format!("http://{}/", web.2);
    let body = c
        .poll(
            harness::CONVERGE,
            "client → web across nodes",
            look,
            || wget_from(&client_ns, &url),
        )
        .map_err(|e| e.context(diagnose(&c, &client_ns, &url)))?;
    ensure!(body.contains("hello-from-web"), "{body}");

    // The node's DNS on its bridge address answers the service's names with the
    // running task's address (short, STACK_SERVICE, tasks.NAME), from any node.
    let gw = dns_server_of(&client.2);
    for name in ["web", "net1_web", "tasks.web", "WEB"] {
        let got = c.poll(harness::CONVERGE, &format!("DNS {name}"), look, || {
            dns_a(&client_ns, &gw, name).filter(|a| !a.is_empty())
        })?;
        ensure!(got == [web.2.clone()], "{name} → {got:?}");
    }
    let resolv = std::fs::read_to_string(
        c.node(1)
            .data_dir()
            .join("netns")
            .join(format!("{}.resolv", client.0)),
    )?;
    ensure!(resolv.contains(&format!("nameserver {gw}")), "{resolv}");

    // Another stack's services are invisible: its names don't resolve, by any form.
    c.deploy(
        0,
        "net2",
        &WEB_AND_CLIENT
            .replace("hello-from-web", "other")
            .replace("ports = [\"18080:80\"]", ""),
    )?;
    c.poll(harness::CONVERGE, "net2 running", look, || {
        running_task(&c, 0, "net2_client")
    })?;
    for name in ["net2_web", "tasks.net2_web"] {
        let got = dns_a(&client_ns, &gw, name).unwrap_or_default();
        ensure!(got.is_empty(), "{name} leaked across stacks: {got:?}");
    }
    // … and their addresses can't be reached: net2's client reaches its own web (on
    // the other node) but not net1's web, nor ping net1's client on its own bridge.
    let (web2, client2) = c.poll(harness::CONVERGE, "net2 addresses", look, || {
        Some((
            running_task(&c, 0, "net2_web")?,
            running_task(&c, 0, "net2_client")?,
        ))
    })?;
    let client2_ns = c.node(1).data_dir().join("netns").join(&client2.0);
    c.poll(harness::CONVERGE, "net2 client → net2 web", look, || {
        wget_from(&client2_ns, &format!("http://{}/", web2.2)).filter(|b| b.contains("other"))
    })?;
    ensure!(
        wget_from(&client2_ns, &url).is_none(),
        "net2's client reached net1's web"
    );
    let ping = |ns: &std::path::Path, to: &str| {
        std::process::Command::new("nsenter")
            .arg(format!("--net={}", ns.display()))
            .args(["busybox", "ping", "-c", "1", "-W", "1", to])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    ensure!(ping(&client_ns, &gw), "a container pings its bridge");
    ensure!(
        !ping(&client2_ns, &client.2),
        "net2's client pinged net1's client"
    );
    c.node(0).ok(&["stack", "rm", "net2"])?;
    ensure!(veths(&c, 0)?.len() == 1 && veths(&c, 1)?.len() == 1);
    // The container's link fits the path: 1450 under VXLAN's 50 bytes, else 1500.
    let link = std::process::Command::new("nsenter")
        .arg(format!("--net={}", client_ns.display()))
        .args(["ip", "-o", "link", "show", "eth0"])
        .output()?;
    let mtu = if driver == "vxlan" {
        "mtu 1450"
    } else {
        "mtu 1500"
    };
    ensure!(
        String::from_utf8_lossy(&link.stdout).contains(mtu),
        "{link:?}"
    );

    // The published port answers on every node's address (ingress: DNAT to wherever
    // the task runs), from the other node, from the node itself, and from containers —
    // also the web container itself through its own node (hairpin).
    let web_ns = c.node(0).data_dir().join("netns").join(&web.0);
    for i in 0..2 {
        let url = format!("http://{}:18080/", c.host(i).ip);
        for j in 0..2 {
            let got = c
                .poll(
                    harness::CONVERGE,
                    &format!("{url} from node {j}"),
                    look,
                    || {
                        let out = c
                            .host(j)
                            .command("curl")
                            .args(["-s", "-m", "2", &url])
                            .output()
                            .ok()?;
                        let body = String::from_utf8_lossy(&out.stdout).into_owned();
                        body.contains("hello-from-web").then_some(body)
                    },
                )
                .map_err(|e| e.context(net_state(&c, j, &url)))?;
            ensure!(got.contains("hello-from-web"));
        }
        for ns in [&client_ns, &web_ns] {
            let got = c
                .poll(
                    harness::CONVERGE,
                    &format!("{url} from {}", ns.display()),
                    look,
                    || wget_from(ns, &url).filter(|b| b.contains("hello-from-web")),
                )
                .map_err(|e| {
                    let rules: Vec<String> = (0..2)
                        .map(|i| {
                            c.host(i)
                                .command("nft")
                                .args(["list", "ruleset"])
                                .output()
                                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                                .unwrap_or_default()
                        })
                        .collect();
                    e.context(format!(
                        "web {web:?} client {client:?}\n{}",
                        rules.join("\n----\n")
                    ))
                })?;
            ensure!(got.contains("hello-from-web"));
        }
    }

    // A daemon restart keeps the running container's network: same address, answers.
    // A stale route of orc's (protocol 79) left from an earlier run goes at restart.
    let stale = format!("10.201.99.0/24 via {} proto 79", c.host(1).ip);
    let mut add = c.host(0).command("ip");
    add.args(["route", "add"]).args(stale.split(' '));
    ensure!(add.status()?.success(), "adding {stale}");
    c.node_mut(0).restart_daemon()?;
    c.poll(harness::CONVERGE, "the stale route removed", look, || {
        (!orc_routes(&c, 0).ok()?.contains("10.201.99.0")).then_some(())
    })?;
    let again = c.poll(
        harness::CONVERGE,
        "web answers after a restart",
        look,
        || wget_from(&client_ns, &url),
    )?;
    ensure!(again.contains("hello-from-web"));
    ensure!(running_task(&c, 0, "net1_web").map(|t| t.2) == Some(web.2.clone()));

    // stack rm leaves no veth and no namespace behind (read from the kernel and disk),
    // also on a node whose daemon was dead meanwhile (SIGKILL, as in a crash): its
    // restart removes what the gone tasks left.
    c.node_mut(1).kill_daemon()?;
    c.node(0).ok(&["stack", "rm", "net1", "--detach"])?;
    c.node_mut(1).restart_daemon()?;
    c.poll(harness::CONVERGE, "veths and namespaces gone", look, || {
        let clean = (0..2).all(|i| {
            veths(&c, i).is_ok_and(|v| v.is_empty())
                && std::fs::read_dir(c.node(i).data_dir().join("netns"))
                    .map(|d| d.count() == 0)
                    .unwrap_or(true)
        });
        clean.then_some(())
    })?;
    // … and no published-port rules.
    c.poll(harness::CONVERGE, "nft table ip orc gone", look, || {
        let gone = (0..2).all(|i| {
            c.host(i)
                .command("nft")
                .args(["list", "table", "ip", "orc"])
                .output()
                .is_ok_and(|o| !o.status.success())
        });
        gone.then_some(())
    })?;
    // orc programmed nf_tables itself (netlink), not through the nft tool.
    for i in 0..2 {
        let log = c.node(i).daemon_log();
        ensure!(
            log.contains("applied through nf_tables netlink") && !log.contains("with the nft tool"),
            "node {i}: table ip orc not applied through netlink:\n{}",
            c.node(i).daemon_log_tail(40)
        );
    }
    Ok(())
}

/// p50 and p99 of curl's `time_total` (ms) for `n` requests of `url`, run by `cmd`.
fn latency(mut cmd: impl FnMut() -> std::process::Command, url: &str, n: usize) -> (f64, f64) {
    let mut t: Vec<f64> = (0..n)
        .filter_map(|_| {
            let out = cmd()
                .args([
                    "-s",
                    "-o",
                    "/dev/null",
                    "-m",
                    "2",
                    "-w",
                    "%{time_total}",
                    url,
                ])
                .output()
                .ok()?;
            String::from_utf8_lossy(&out.stdout)
                .trim()
                .parse::<f64>()
                .ok()
        })
        .map(|s| s * 1000.0)
        .collect();
    t.sort_by(f64::total_cmp);
    let at = |q: f64| {
        t.get(((t.len() as f64 * q) as usize).min(t.len().saturating_sub(1)))
            .copied()
            .unwrap_or(f64::NAN)
    };
    (at(0.5), at(0.99))
}

/// Measurement for docs/performance.md (not run by default): HTTP request latency
/// node → node, container → container across nodes, and through a published port.
/// `cargo test -p orc-testbed --test network measure -- --ignored --nocapture`
#[test]
#[ignore]
fn measure_latency_across_nodes() -> Result<()> {
    for driver in ["host-gw", "vxlan"] {
        let c = TestCluster::form(&["a", "b"], 0, 0, Some(250), true)?;
        init_with(&c, 0, &["--network-driver", driver])?.map_err(anyhow::Error::msg)?;
        let token = c.node(0).ok(&["cluster", "join-token", "worker", "-q"])?;
        c.try_join(1, token.trim(), 0)?
            .map_err(anyhow::Error::msg)?;
        c.wait_ready(0, 2)?;
        c.deploy(0, "m", WEB_AND_CLIENT)?;
        let look = std::time::Duration::from_millis(200);
        let (web, client) = c.poll(harness::CONVERGE, "running", look, || {
            Some((
                running_task(&c, 0, "m_web")?,
                running_task(&c, 0, "m_client")?,
            ))
        })?;
        // A plain httpd in node a's own namespace, for node → node.
        let www = tempfile::tempdir()?;
        std::fs::write(www.path().join("index.html"), "hello-from-node\n")?;
        let mut httpd = c
            .host(0)
            .command("busybox")
            .args(["httpd", "-f", "-p", "18081", "-h"])
            .arg(www.path())
            .spawn()?;
        let client_ns = c.node(1).data_dir().join("netns").join(&client.0);
        let node_url = format!("http://{}:18081/", c.host(0).ip);
        c.poll(harness::CONVERGE, "node httpd", look, || {
            let o = c
                .host(1)
                .command("curl")
                .args(["-s", &node_url])
                .output()
                .ok()?;
            o.status.success().then_some(())
        })?;
        let n = 200;
        let node = latency(|| c.host(1).command("curl"), &node_url, n);
        let ns = format!("--net={}", client_ns.display());
        let direct = latency(
            || {
                let mut cmd = std::process::Command::new("nsenter");
                cmd.arg(&ns).arg("curl");
                cmd
            },
            &format!("http://{}/", web.2),
            n,
        );
        let published = latency(
            || c.host(1).command("curl"),
            &format!("http://{}:18080/", c.host(0).ip),
            n,
        );
        let _ = httpd.kill();
        let _ = httpd.wait();
        eprintln!(
            "{driver}: node→node p50 {:.3} p99 {:.3} ms | container→container p50 {:.3} p99 {:.3} ms | published port (other node) p50 {:.3} p99 {:.3} ms",
            node.0, node.1, direct.0, direct.1, published.0, published.1
        );
    }
    Ok(())
}

#[test]
fn a_moved_task_answers_again_under_its_name_and_port() -> Result<()> {
    let c = TestCluster::form(&["m", "w1", "w2"], 1, 2, Some(250), true)?;
    let stack = WEB_AND_CLIENT
        .replace("node.hostname == a", "node.role == worker")
        .replace("node.hostname == b", "node.role == manager");
    c.deploy(0, "mv", &stack)?;
    let look = std::time::Duration::from_millis(100);
    let (web, client) = c.poll(harness::CONVERGE, "web and client running", look, || {
        Some((
            running_task(&c, 0, "mv_web")?,
            running_task(&c, 0, "mv_client")?,
        ))
    })?;
    let client_ns = c.node(0).data_dir().join("netns").join(&client.0);
    let gw = dns_server_of(&client.2);
    let port_url = format!("http://{}:18080/", c.host(0).ip);
    c.poll(harness::CONVERGE, "the published port", look, || {
        wget_from(&client_ns, &port_url).filter(|b| b.contains("hello-from-web"))
    })?;

    // Unplug the node running web: its task is replaced on the other worker, and the
    // same name and the same published port lead to the new one.
    let lost = if web.1 == "w1" { 1 } else { 2 };
    c.lan.cut(c.host(lost))?;
    let t0 = std::time::Instant::now();
    // When the manager's state first shows the replacement running, and when the
    // client's DNS first answers its address (how far DNS trails the state).
    let (mut running_at, mut resolved_at) = (None, None);
    let moved = c.poll(
        harness::CONVERGE,
        "web under its name elsewhere",
        look,
        || {
            if running_at.is_none() && running_task(&c, 0, "mv_web").is_some_and(|t| t.2 != web.2) {
                running_at = Some(std::time::Instant::now());
            }
            let a = dns_a(&client_ns, &gw, "web")?;
            let addr = a.first().filter(|a| **a != web.2)?.clone();
            resolved_at.get_or_insert_with(std::time::Instant::now);
            wget_from(&client_ns, &format!("http://{addr}/"))
                .filter(|b| b.contains("hello-from-web"))
        },
    )?;
    if let (Some(r), Some(d)) = (running_at, resolved_at) {
        println!(
            "MEASURE replacement running in the state -> its name resolves: {} ms",
            d.saturating_duration_since(r).as_millis()
        );
    }
    ensure!(moved.contains("hello-from-web"));
    c.poll(harness::CONVERGE, "the published port again", look, || {
        wget_from(&client_ns, &port_url).filter(|b| b.contains("hello-from-web"))
    })?;
    println!(
        "MEASURE node unplugged -> web reachable by name and port elsewhere: {} ms",
        t0.elapsed().as_millis()
    );
    c.lan.heal(c.host(lost))?;
    Ok(())
}

/// Output of `ARGS` run in node `i`'s namespace.
fn on_node(c: &TestCluster, i: usize, args: &[&str]) -> String {
    c.host(i)
        .command(args[0])
        .args(&args[1..])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// What node `i` holds for the node at `ip` with block `block`: its route, and over
/// VXLAN its neighbour (VTEP address) and FDB (→ `ip`) entries.
fn held_for(c: &TestCluster, i: usize, block: &str, ip: &str) -> Vec<String> {
    let mut held = Vec::new();
    let routes = on_node(c, i, &["ip", "-4", "route", "show", "proto", "79"]);
    if routes.lines().any(|l| l.starts_with(block)) {
        held.push(format!("route {block}"));
    }
    let vtep = block.replace(".0/24", ".0");
    let neigh = on_node(c, i, &["ip", "-4", "neigh", "show", "dev", "orcvx"]);
    if neigh.lines().any(|l| l.starts_with(&format!("{vtep} "))) {
        held.push(format!("neighbour {vtep}"));
    }
    let fdb = on_node(c, i, &["bridge", "fdb", "show", "dev", "orcvx"]);
    if fdb.contains(&format!("dst {ip} ")) {
        held.push(format!("fdb → {ip}"));
    }
    held
}

#[test]
fn a_removed_nodes_routes_and_fdb_entries_go_over_vxlan() -> Result<()> {
    removed_node_leaves_nothing("vxlan", &["route", "neighbour", "fdb"])
}

#[test]
fn a_removed_nodes_routes_go_over_host_gw() -> Result<()> {
    removed_node_leaves_nothing("host-gw", &["route"])
}

/// Three nodes; the others hold `kinds` of entries for node c; after c is killed and
/// `orc node rm --force`d, none is left on a or b.
fn removed_node_leaves_nothing(driver: &str, kinds: &[&str]) -> Result<()> {
    let mut c = TestCluster::form(&["a", "b", "c"], 0, 0, Some(250), false)?;
    init_with(&c, 0, &["--network-driver", driver])?.map_err(anyhow::Error::msg)?;
    let token = c.node(0).ok(&["cluster", "join-token", "worker", "-q"])?;
    for i in [1, 2] {
        c.try_join(i, token.trim(), 0)?
            .map_err(anyhow::Error::msg)?;
    }
    c.wait_ready(0, 3)?;
    let block = c
        .nodes(0)?
        .iter()
        .find(|r| r["hostname"] == "c")
        .and_then(|r| r["subnet"].as_str().map(str::to_string))
        .ok_or_else(|| anyhow::anyhow!("no block for c"))?;
    let ip = c.host(2).ip.to_string();
    let look = std::time::Duration::from_millis(100);
    for i in [0, 1] {
        c.poll(harness::CONVERGE, "entries for c", look, || {
            let held = held_for(&c, i, &block, &ip);
            (held.len() == kinds.len()).then_some(())
        })
        .map_err(|e| e.context(format!("{:?}", held_for(&c, i, &block, &ip))))?;
    }

    c.node_mut(2).kill_daemon()?;
    c.node(0).ok(&["node", "rm", "c", "--force"])?;
    for i in [0, 1] {
        c.poll(harness::CONVERGE, "c's entries gone", look, || {
            held_for(&c, i, &block, &ip).is_empty().then_some(())
        })
        .map_err(|e| e.context(format!("left: {:?}", held_for(&c, i, &block, &ip))))?;
    }
    Ok(())
}

/// Every trace of orc's networking on node `i`, read from the kernel and its disk.
fn orc_traces(c: &TestCluster, i: usize) -> Vec<String> {
    let mut traces = Vec::new();
    let links = on_node(c, i, &["ip", "-o", "link", "show"]);
    for l in links.lines() {
        let name = l.split(':').nth(1).unwrap_or("").trim();
        let name = name.split('@').next().unwrap_or(name);
        if name.starts_with("orc") {
            traces.push(format!("link {name}"));
        }
    }
    let routes = on_node(c, i, &["ip", "-4", "route", "show", "proto", "79"]);
    traces.extend(routes.lines().map(|r| format!("route {r}")));
    if !on_node(c, i, &["nft", "list", "tables"]).trim().is_empty() {
        traces.push("an nftables table".into());
    }
    let localnet = on_node(c, i, &["sysctl", "-n", "net.ipv4.conf.all.route_localnet"]);
    if localnet.trim() != "0" {
        traces.push(format!("route_localnet {}", localnet.trim()));
    }
    let netns = c.node(i).data_dir().join("netns");
    if let Ok(d) = std::fs::read_dir(&netns) {
        traces.extend(d.flatten().map(|e| format!("file {}", e.path().display())));
    }
    traces
}

#[test]
fn a_node_that_leaves_keeps_no_trace_of_orcs_networking() -> Result<()> {
    let c = TestCluster::form(&["a", "b"], 0, 0, Some(250), true)?;
    init_with(&c, 0, &["--network-driver", "vxlan"])?.map_err(anyhow::Error::msg)?;
    let token = c.node(0).ok(&["cluster", "join-token", "worker", "-q"])?;
    c.try_join(1, token.trim(), 0)?
        .map_err(anyhow::Error::msg)?;
    c.wait_ready(0, 2)?;
    c.deploy(
        0,
        "gone",
        &WEB_AND_CLIENT.replace("node.hostname == a", "node.hostname == b"),
    )?;
    let look = std::time::Duration::from_millis(200);
    // b holds a container namespace, its veth, the bridge, orcvx, a route to a's block
    // and table ip orc (the published port answers on its loopback).
    c.poll(
        harness::CONVERGE,
        "web answering on b's 127.0.0.1",
        look,
        || {
            let out = c
                .host(1)
                .command("curl")
                .args(["-s", "-m", "2", "http://127.0.0.1:18080/"])
                .output()
                .ok()?;
            String::from_utf8_lossy(&out.stdout)
                .contains("hello-from-web")
                .then_some(())
        },
    )?;
    let before = orc_traces(&c, 1);
    for want in [
        "link orc0",
        "link orcvx",
        "route ",
        "an nftables table",
        "route_localnet 1",
        "file ",
    ] {
        ensure!(
            before.iter().any(|t| t.starts_with(want)),
            "b lacks {want:?} before leaving: {before:?}"
        );
    }
    // (The containers' namespaces go with the containers, before the rest.)
    let out = c.node(1).ok(&["cluster", "leave"])?;
    for said in [
        "bridge orc0",
        "VXLAN device orcvx",
        "nftables table ip orc",
        "route(s) ",
    ] {
        ensure!(
            out.contains(said),
            "leave did not say it removed {said:?}:\n{out}"
        );
    }
    let after = orc_traces(&c, 1);
    ensure!(after.is_empty(), "b still holds {after:?} after leaving");
    Ok(())
}

/// curl's `speed_download` (MB/s) for `url` (a 100 MB file), run by `cmd`.
fn throughput(mut cmd: std::process::Command, url: &str) -> f64 {
    cmd.args([
        "-s",
        "-o",
        "/dev/null",
        "-m",
        "30",
        "-w",
        "%{speed_download}",
        url,
    ])
    .output()
    .ok()
    .and_then(|o| {
        String::from_utf8_lossy(&o.stdout)
            .trim()
            .parse::<f64>()
            .ok()
    })
    .map_or(f64::NAN, |b| b / 1e6)
}

/// ApacheBench's requests per second: `n` requests, 8 at a time, a new TCP connection
/// for each (no keep-alive), run by `cmd` (`ab` from apache2-utils).
fn conns_per_s(mut cmd: std::process::Command, url: &str, n: usize) -> f64 {
    cmd.args(["-q", "-n", &n.to_string(), "-c", "8", url])
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .find(|l| l.starts_with("Requests per second:"))
                .and_then(|l| l.split_whitespace().nth(3))
                .and_then(|v| v.parse::<f64>().ok())
        })
        .unwrap_or(f64::NAN)
}

/// Measurement for docs/performance.md (not run by default): throughput node → node
/// vs container → container across nodes and through a published port, and new
/// connections per second to a node's own port vs through the ingress DNAT.
/// `cargo test -p orc-testbed --test network measure_throughput -- --ignored --nocapture`
#[test]
#[ignore]
fn measure_throughput_across_nodes() -> Result<()> {
    let stack = WEB_AND_CLIENT.replace(
        "exec httpd",
        "busybox dd if=/dev/zero of=/tmp/www/big bs=1M count=100 2>/dev/null; exec httpd",
    );
    for driver in ["host-gw", "vxlan"] {
        let c = TestCluster::form(&["a", "b"], 0, 0, Some(250), true)?;
        init_with(&c, 0, &["--network-driver", driver])?.map_err(anyhow::Error::msg)?;
        let token = c.node(0).ok(&["cluster", "join-token", "worker", "-q"])?;
        c.try_join(1, token.trim(), 0)?
            .map_err(anyhow::Error::msg)?;
        c.wait_ready(0, 2)?;
        c.deploy(0, "t", &stack)?;
        let look = std::time::Duration::from_millis(200);
        let (web, client) = c.poll(harness::CONVERGE, "running", look, || {
            Some((
                running_task(&c, 0, "t_web")?,
                running_task(&c, 0, "t_client")?,
            ))
        })?;
        let client_ns = format!(
            "--net={}",
            c.node(1).data_dir().join("netns").join(&client.0).display()
        );
        let in_client = |program: &str| {
            let mut cmd = std::process::Command::new("nsenter");
            cmd.arg(&client_ns).arg(program);
            cmd
        };
        // The same file from a plain httpd in node a's own namespace, for node → node.
        let www = tempfile::tempdir()?;
        std::fs::write(www.path().join("big"), vec![0u8; 100 << 20])?;
        std::fs::write(www.path().join("index.html"), "hello-from-node\n")?;
        let mut httpd = c
            .host(0)
            .command("busybox")
            .args(["httpd", "-f", "-p", "18081", "-h"])
            .arg(www.path())
            .spawn()?;
        let node_url = format!("http://{}:18081/", c.host(0).ip);
        let web_url = format!("http://{}/", web.2);
        let published_url = format!("http://{}:18080/", c.host(0).ip);
        c.poll(harness::CONVERGE, "all three servers", look, || {
            let ok = |mut cmd: std::process::Command, url: &str| {
                cmd.args(["-sf", "-o", "/dev/null", "-m", "2", url])
                    .status()
                    .is_ok_and(|s| s.success())
            };
            (ok(c.host(1).command("curl"), &node_url)
                && ok(in_client("curl"), &web_url)
                && ok(c.host(1).command("curl"), &published_url))
            .then_some(())
        })?;
        let big = |u: &str| format!("{u}big");
        let node = throughput(c.host(1).command("curl"), &big(&node_url));
        let direct = throughput(in_client("curl"), &big(&web_url));
        let published = throughput(c.host(1).command("curl"), &big(&published_url));
        let n = 2000;
        let node_cps = conns_per_s(c.host(1).command("ab"), &node_url, n);
        let direct_cps = conns_per_s(in_client("ab"), &web_url, n);
        let published_cps = conns_per_s(c.host(1).command("ab"), &published_url, n);
        let _ = httpd.kill();
        let _ = httpd.wait();
        eprintln!(
            "{driver}: 100 MB over HTTP MB/s: node→node {node:.0} | container→container {direct:.0} | published port (other node) {published:.0}; \
             new connections/s (ab -n {n} -c 8): node→node {node_cps:.0} | container→container {direct_cps:.0} | published port via DNAT {published_cps:.0}"
        );
    }
    Ok(())
}

/// A tiny DNS server answering every A query with `answer`, in network namespace
/// `/var/run/netns/NS` on `ip:53`, until dropped; counts the queries it saw.
struct FakeResolver {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    seen: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeResolver {
    fn start(ns: &str, ip: std::net::Ipv4Addr, answer: [u8; 4]) -> Result<FakeResolver> {
        use std::sync::atomic::Ordering;
        let file = std::fs::File::open(format!("/var/run/netns/{ns}"))?;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (tx, rx) = std::sync::mpsc::channel();
        let (stop2, seen2) = (stop.clone(), seen.clone());
        let thread = std::thread::spawn(move || {
            let bound = nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET)
                .map_err(anyhow::Error::from)
                .and_then(|_| Ok(std::net::UdpSocket::bind((ip, 53))?))
                .and_then(|s| {
                    s.set_read_timeout(Some(std::time::Duration::from_millis(100)))?;
                    Ok(s)
                });
            let sock = match bound {
                Ok(s) => {
                    let _ = tx.send(Ok(()));
                    s
                }
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            };
            let mut buf = [0u8; 1500];
            while !stop2.load(Ordering::SeqCst) {
                let Ok((n, from)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                if n < 17 {
                    continue;
                }
                seen2.fetch_add(1, Ordering::SeqCst);
                // The question ends after the name's zero label and QTYPE, QCLASS.
                let Some(end) = buf[12..n].iter().position(|&b| b == 0) else {
                    continue;
                };
                let qend = 12 + end + 5;
                let mut r = buf[..qend.min(n)].to_vec();
                r[2] = 0x81;
                r[3] = 0x80;
                r[6..12].copy_from_slice(&[0, 1, 0, 0, 0, 0]);
                r.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
                r.extend_from_slice(&answer);
                let _ = sock.send_to(&r, from);
            }
        });
        rx.recv()??;
        Ok(FakeResolver {
            stop,
            seen,
            thread: Some(thread),
        })
    }
}

impl Drop for FakeResolver {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[test]
fn names_orc_does_not_know_are_forwarded_to_the_nodes_resolvers() -> Result<()> {
    let mut c = TestCluster::form(&["a"], 0, 0, Some(250), true)?;
    // The node's resolver: another host on the LAN, named in the node's resolv.conf.
    let resolver_host = c.lan.add_host()?;
    let resolver = FakeResolver::start(&resolver_host.netns, resolver_host.ip, [192, 0, 2, 7])?;
    let resolv_conf = c.node(0).data_dir().join("node-resolv.conf");
    std::fs::write(
        &resolv_conf,
        format!("# the LAN's resolver\nnameserver {}\n", resolver_host.ip),
    )?;
    let path = resolv_conf.to_string_lossy().into_owned();
    c.node_mut(0)
        .restart_daemon_with(&["--resolv-conf", &path])?;
    init_with(&c, 0, &[])?.map_err(anyhow::Error::msg)?;
    c.wait_ready(0, 1)?;
    c.deploy(
        0,
        "fwd",
        &WEB_AND_CLIENT
            .replace("node.hostname == b", "node.hostname == a")
            .replace("ports = [\"18080:80\"]", ""),
    )?;
    let look = std::time::Duration::from_millis(200);
    let client = c.poll(harness::CONVERGE, "client running", look, || {
        running_task(&c, 0, "fwd_client")
    })?;
    let client_ns = c.node(0).data_dir().join("netns").join(&client.0);
    let gw = dns_server_of(&client.2);
    // A service name is answered by orc itself, without asking the resolver …
    // (until the web task runs, "web" is unknown to orc and goes to the resolver too).
    c.poll(harness::CONVERGE, "DNS web", look, || {
        dns_a(&client_ns, &gw, "web").filter(|a| a.len() == 1 && a[0].starts_with("10."))
    })?;
    let seen = || resolver.seen.load(std::sync::atomic::Ordering::SeqCst);
    let before = seen();
    let web = dns_a(&client_ns, &gw, "web").unwrap_or_default();
    ensure!(web.len() == 1 && web[0].starts_with("10."), "web → {web:?}");
    ensure!(seen() == before, "the resolver was asked for an orc name");
    // … any other name goes to the node's resolver and its answer comes back.
    let got = c.poll(harness::CONVERGE, "DNS forwarded", look, || {
        dns_a(&client_ns, &gw, "some.other.example").filter(|a| !a.is_empty())
    })?;
    ensure!(got == ["192.0.2.7"], "some.other.example → {got:?}");
    ensure!(seen() > before, "the resolver was never asked");

    // Reverse lookups, asked by a real resolver client (busybox nslookup in the
    // client's namespace): a task address on the asker's networks is named by orc
    // (the service's full name, which resolves back to it), without the resolver …
    let web = running_task(&c, 0, "fwd_web")
        .map(|t| t.2)
        .unwrap_or_default();
    let before = seen();
    let out = nslookup(&client_ns, &web, &gw)?;
    ensure!(
        out.contains(&format!("{}\tname = fwd_web", reverse_name(&web))),
        "PTR {web}: {out}"
    );
    let out = nslookup(&client_ns, &client.2, &gw)?;
    ensure!(out.contains("name = fwd_client"), "PTR {}: {out}", client.2);
    ensure!(
        seen() == before,
        "the resolver was asked for a task address"
    );
    // … any other address goes to the node's resolver.
    let _ = nslookup(&client_ns, "192.0.2.55", &gw)?;
    ensure!(
        seen() > before,
        "the resolver was never asked for 192.0.2.55"
    );
    Ok(())
}

/// `busybox nslookup ADDRESS SERVER` run in the network namespace at `netns`: its output.
fn nslookup(netns: &std::path::Path, address: &str, server: &str) -> Result<String> {
    let out = std::process::Command::new("nsenter")
        .arg(format!("--net={}", netns.display()))
        .args(["timeout", "10", "busybox", "nslookup", address, server])
        .output()?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr))
}

/// `10.201.1.2` → `2.1.201.10.in-addr.arpa`.
fn reverse_name(address: &str) -> String {
    let mut o: Vec<&str> = address.split('.').collect();
    o.reverse();
    format!("{}.in-addr.arpa", o.join("."))
}

#[test]
fn a_worker_with_a_new_address_is_reached_again_by_name() -> Result<()> {
    let mut c = TestCluster::form(&["a", "b"], 0, 0, Some(250), true)?;
    init_with(&c, 0, &["--network-driver", "host-gw"])?.map_err(anyhow::Error::msg)?;
    let token = c.node(0).ok(&["cluster", "join-token", "worker", "-q"])?;
    c.try_join(1, token.trim(), 0)?
        .map_err(anyhow::Error::msg)?;
    c.wait_ready(0, 2)?;
    // The web server on the worker b, its client on a.
    let stack = WEB_AND_CLIENT
        .replace("node.hostname == a", "node.hostname == X")
        .replace("node.hostname == b", "node.hostname == a")
        .replace("node.hostname == X", "node.hostname == b")
        .replace("ports = [\"18080:80\"]", "");
    c.deploy(0, "mv", &stack)?;
    let look = std::time::Duration::from_millis(200);
    let (web, client) = c.poll(harness::CONVERGE, "web and client running", look, || {
        Some((
            running_task(&c, 0, "mv_web")?,
            running_task(&c, 0, "mv_client")?,
        ))
    })?;
    ensure!(web.1 == "b" && client.1 == "a", "placed {web:?} {client:?}");
    let client_ns = c.node(0).data_dir().join("netns").join(&client.0);
    let url = format!("http://{}/", web.2);
    c.poll(harness::CONVERGE, "client → web", look, || {
        wget_from(&client_ns, &url).filter(|b| b.contains("hello-from-web"))
    })?;

    // b gets a new address (a new DHCP lease): the old one is gone, its daemon
    // restarts announcing the new one.
    let old = c.host(1).ip;
    let [x, y, z, w] = old.octets();
    let new = std::net::Ipv4Addr::new(x, y, z, 240 + w % 10);
    c.node_mut(1).kill_daemon()?;
    // (Deleted first: deleting a primary address takes its secondaries with it.)
    for args in [
        ["addr", "del", &format!("{old}/24"), "dev", "eth0"],
        ["addr", "add", &format!("{new}/24"), "dev", "eth0"],
    ] {
        let st = c.host(1).command("ip").args(args).status()?;
        ensure!(st.success(), "ip {args:?}");
    }
    let listen = format!("{new}:4747");
    c.node_mut(1)
        .restart_daemon_on(&listen, &["--advertise", &listen])?;
    // a's route to b's block follows, and the client reaches the web server again,
    // under its name too.
    c.poll(harness::CONVERGE, "route via the new address", look, || {
        orc_routes(&c, 0)
            .ok()
            .filter(|r| r.contains(&format!("via {new} ")))
    })
    .map_err(|e| e.context(orc_routes(&c, 0).unwrap_or_default()))?;
    ensure!(
        !orc_routes(&c, 0)?.contains(&format!("via {old} ")),
        "{}",
        orc_routes(&c, 0)?
    );
    let body = c
        .poll(
            harness::CONVERGE,
            "client → web at b's new address",
            look,
            || wget_from(&client_ns, &url),
        )
        .map_err(|e| e.context(diagnose(&c, &client_ns, &url)))?;
    ensure!(body.contains("hello-from-web"), "{body}");
    let gw = dns_server_of(&client.2);
    let got = dns_a(&client_ns, &gw, "web").unwrap_or_default();
    ensure!(got == [web.2.clone()], "web → {got:?}");
    Ok(())
}

/// Moves node `i`'s LAN address from `old` to the same /24's `.last` while its
/// daemon keeps running (deleted first: deleting a primary address takes its
/// secondaries with it).
fn move_address(
    c: &TestCluster,
    i: usize,
    old: std::net::Ipv4Addr,
    last: u8,
) -> Result<std::net::Ipv4Addr> {
    let [x, y, z, _] = old.octets();
    let new = std::net::Ipv4Addr::new(x, y, z, last);
    for args in [
        ["addr", "del", &format!("{old}/24"), "dev", "eth0"],
        ["addr", "add", &format!("{new}/24"), "dev", "eth0"],
    ] {
        let st = c.host(i).command("ip").args(args).status()?;
        ensure!(st.success(), "ip {args:?}");
    }
    Ok(new)
}

/// Node `host`'s address as `via` lists it.
fn listed_address(c: &TestCluster, via: usize, host: &str) -> Option<String> {
    let rows = c.nodes(via).ok()?;
    rows.iter()
        .find(|r| r["hostname"] == host)
        .and_then(|r| r["address"].as_str().map(str::to_string))
}

/// Whether every running manager's Raft membership (as `orc cluster info` shows
/// it) holds `addr` and not `old`.
fn members_hold(c: &TestCluster, managers: &[usize], addr: &str, old: &str) -> bool {
    managers.iter().all(|i| {
        c.node(*i)
            .json(&["cluster", "info"])
            .ok()
            .and_then(|v| v["raft_members"].as_object().cloned())
            .is_some_and(|m| {
                let addrs: Vec<&str> = m.values().filter_map(|a| a.as_str()).collect();
                addrs.contains(&addr) && !addrs.contains(&old)
            })
    })
}

/// A write committed through `via` (a label on `node`) within the harness deadline.
fn commit_through(c: &TestCluster, via: usize, node: &str, label: &str) -> Result<()> {
    c.poll(
        harness::CONVERGE,
        &format!("a write through node {via}"),
        Duration::from_millis(200),
        || {
            let out = c
                .node(via)
                .orc(&["node", "update", node, "--label-add", label])
                .ok()?;
            out.status.success().then_some(())
        },
    )
}

/// Managers whose address changes (issue #7): a follower and then the leader get a
/// new address while their daemons run (no restart; daemons listen on 0.0.0.0 and
/// follow the kernel), then a manager is restarted with `--advertise NEW:PORT`
/// after its address changed while it was down. Each time the node record, the
/// Raft membership (checked by stopping the third manager: the two left must still
/// commit, so the moved one votes at its new address), the worker's routes and its
/// saved manager list follow. Last, the worker itself moves, live.
#[test]
fn managers_that_change_address_keep_the_cluster_working() -> Result<()> {
    let names = ["a", "b", "c", "d"];
    let mut c = TestCluster::form_with(&names, 3, 1, None, true, true)?;
    let look = Duration::from_millis(100);
    let leader = c.leader_index(0)?;
    let moved = (0..3).find(|i| *i != leader).unwrap_or(1);
    let third = (0..3).find(|i| *i != leader && *i != moved).unwrap_or(2);
    // The web server on the manager that moves, its client on the worker d.
    let stack = WEB_AND_CLIENT
        .replace("node.hostname == b", "node.hostname == d")
        .replace(
            "node.hostname == a",
            &format!("node.hostname == {}", names[moved]),
        )
        .replace("ports = [\"18080:80\"]", "");
    c.deploy(leader, "mm", &stack)?;
    let (web, client) = c.poll(harness::CONVERGE, "web and client running", look, || {
        Some((
            running_task(&c, leader, "mm_web")?,
            running_task(&c, leader, "mm_client")?,
        ))
    })?;
    ensure!(
        web.1 == names[moved] && client.1 == "d",
        "{web:?} {client:?}"
    );
    let client_ns = c.node(3).data_dir().join("netns").join(&client.0);
    let url = format!("http://{}/", web.2);
    c.poll(harness::CONVERGE, "client → web", look, || {
        wget_from(&client_ns, &url).filter(|b| b.contains("hello-from-web"))
    })?;

    // 1. A follower manager moves, live.
    let new = move_address(&c, moved, c.host(moved).ip, 240)?;
    let t0 = std::time::Instant::now();
    let want = format!("{new}:4747");
    c.poll(
        harness::CONVERGE,
        "the moved manager's record",
        look,
        || (listed_address(&c, leader, names[moved])? == want).then_some(()),
    )?;
    let record = t0.elapsed();
    let old = format!("{}:4747", c.host(moved).ip);
    c.poll(harness::CONVERGE, "the Raft membership", look, || {
        members_hold(&c, &[0, 1, 2], &want, &old).then_some(())
    })?;
    let membership = t0.elapsed();
    c.poll(
        harness::CONVERGE,
        "d's route via the new address",
        look,
        || {
            orc_routes(&c, 3)
                .ok()
                .filter(|r| r.contains(&format!("via {new} ")))
        },
    )?;
    let routes = t0.elapsed();
    web_answers(
        &c,
        &client_ns,
        &url,
        "client → web at the new address",
        look,
    )?;
    eprintln!("follower moved: record after {record:?}, membership after {membership:?}, d's route after {routes:?}");
    // The worker saved the managers' new addresses (a restart still finds them).
    c.poll(harness::CONVERGE, "d's saved manager list", look, || {
        let saved = std::fs::read_to_string(c.node(3).data_dir().join("node.json")).ok()?;
        saved.contains(&want).then_some(())
    })?;
    // Its certificate was reissued (same key) naming the new IP.
    let pem = c.node(moved).data_dir().join("pki").join("node.pem");
    c.poll(harness::CONVERGE, "the reissued certificate", look, || {
        let out = std::process::Command::new("openssl")
            .args(["x509", "-noout", "-ext", "subjectAltName", "-in"])
            .arg(&pem)
            .output()
            .ok()?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.contains(&format!("IP Address:{new}")).then_some(())
    })?;
    // The moved manager votes at its new address: without the third, two commit.
    c.node_mut(third).kill_daemon()?;
    commit_through(&c, leader, names[moved], "step=1")?;
    commit_through(&c, moved, names[moved], "step=1b")?;
    c.node_mut(third).restart_daemon()?;
    c.wait_status(leader, names[third], "ready")?;

    // 2. The leader itself moves, live.
    let lnew = move_address(&c, leader, c.host(leader).ip, 241)?;
    let lwant = format!("{lnew}:4747");
    let t0 = std::time::Instant::now();
    c.poll(harness::CONVERGE, "the moved leader's record", look, || {
        (listed_address(&c, moved, names[leader])? == lwant).then_some(())
    })?;
    let lold = format!("{}:4747", c.host(leader).ip);
    c.poll(harness::CONVERGE, "the Raft membership", look, || {
        members_hold(&c, &[0, 1, 2], &lwant, &lold).then_some(())
    })?;
    eprintln!(
        "leader moved: record and membership after {:?}",
        t0.elapsed()
    );
    c.poll(harness::CONVERGE, "d's saved manager list", look, || {
        let saved = std::fs::read_to_string(c.node(3).data_dir().join("node.json")).ok()?;
        saved.contains(&lwant).then_some(())
    })?;
    // Both moved managers vote where they are now: without the third, they commit.
    c.node_mut(third).kill_daemon()?;
    commit_through(&c, moved, names[leader], "step=2")?;
    commit_through(&c, leader, names[leader], "step=2b")?;
    c.node_mut(third).restart_daemon()?;
    c.wait_status(moved, names[third], "ready")?;

    // 3. A manager moves while its daemon is down; restarted with --advertise.
    c.node_mut(moved).kill_daemon()?;
    let rnew = move_address(&c, moved, new, 242)?;
    let rwant = format!("{rnew}:4747");
    c.node_mut(moved)
        .restart_daemon_with(&["--advertise", &rwant])?;
    c.poll(
        harness::CONVERGE,
        "the restarted manager's record",
        look,
        || (listed_address(&c, third, names[moved])? == rwant).then_some(()),
    )?;
    c.poll(
        harness::CONVERGE,
        "d's route via the newest address",
        look,
        || {
            orc_routes(&c, 3)
                .ok()
                .filter(|r| r.contains(&format!("via {rnew} ")))
        },
    )?;
    c.poll(harness::CONVERGE, "the Raft membership", look, || {
        members_hold(&c, &[leader, third], &rwant, &want).then_some(())
    })?;
    c.node_mut(third).kill_daemon()?;
    commit_through(&c, moved, names[moved], "step=3")?;

    // 4. The worker moves, live: the moved manager's route back to it follows, and
    // its client reaches the web server again.
    let wnew = move_address(&c, 3, c.host(3).ip, 243)?;
    c.poll(
        harness::CONVERGE,
        "the route back to the worker",
        look,
        || {
            orc_routes(&c, moved)
                .ok()
                .filter(|r| r.contains(&format!("via {wnew} ")))
        },
    )?;
    web_answers(
        &c,
        &client_ns,
        &url,
        "client → web from the moved worker",
        look,
    )?;
    Ok(())
}

/// A worker whose address changes while its daemon runs, over VXLAN: it recreates
/// its VXLAN device from the new address, the manager's FDB entry follows, and the
/// client on the manager reaches the web server on the worker again.
#[test]
fn a_worker_that_moves_live_is_reached_again_over_vxlan() -> Result<()> {
    let c = TestCluster::form_with(&["a", "b"], 0, 0, None, true, true)?;
    init_with(&c, 0, &["--network-driver", "vxlan"])?.map_err(anyhow::Error::msg)?;
    let token = c.node(0).ok(&["cluster", "join-token", "worker", "-q"])?;
    c.try_join(1, token.trim(), 0)?
        .map_err(anyhow::Error::msg)?;
    c.wait_ready(0, 2)?;
    let stack = WEB_AND_CLIENT
        .replace("node.hostname == a", "node.hostname == X")
        .replace("node.hostname == b", "node.hostname == a")
        .replace("node.hostname == X", "node.hostname == b")
        .replace("ports = [\"18080:80\"]", "");
    c.deploy(0, "mx", &stack)?;
    let look = Duration::from_millis(100);
    let (web, client) = c.poll(harness::CONVERGE, "web and client running", look, || {
        Some((
            running_task(&c, 0, "mx_web")?,
            running_task(&c, 0, "mx_client")?,
        ))
    })?;
    ensure!(web.1 == "b" && client.1 == "a", "placed {web:?} {client:?}");
    let client_ns = c.node(0).data_dir().join("netns").join(&client.0);
    let url = format!("http://{}/", web.2);
    c.poll(harness::CONVERGE, "client → web", look, || {
        wget_from(&client_ns, &url).filter(|b| b.contains("hello-from-web"))
    })?;

    let new = move_address(&c, 1, c.host(1).ip, 244)?;
    c.poll(
        harness::CONVERGE,
        "b's orcvx sending from the new address",
        look,
        || {
            let out = c
                .host(1)
                .command("ip")
                .args(["-d", "link", "show", "orcvx"])
                .output()
                .ok()?;
            String::from_utf8_lossy(&out.stdout)
                .contains(&format!("local {new} "))
                .then_some(())
        },
    )?;
    web_answers(
        &c,
        &client_ns,
        &url,
        "client → web at b's new address",
        look,
    )?;
    Ok(())
}
