//! Container networking across nodes, end to end: every node is its own network
//! namespace on a simulated LAN, with its own containerd and `orc daemon`; what is
//! checked is read back from the cluster and from the kernel.

#[path = "cluster/harness.rs"]
#[allow(dead_code)]
mod harness;

use anyhow::{ensure, Result};
use harness::TestCluster;
use std::collections::BTreeSet;

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
    let rows = c.nodes(1)?;
    let blocks: BTreeSet<String> = rows
        .iter()
        .filter_map(|r| r["subnet"].as_str().map(str::to_string))
        .collect();
    let want: BTreeSet<String> = (1..=3).map(|i| format!("10.202.{i}.0/24")).collect();
    ensure!(blocks == want, "blocks {blocks:?} in {rows:?}");
    Ok(())
}
