//! Applying table `ip orc` (20 published ports, 50 containers in 5 stacks: DNAT chains,
//! numgen maps and the isolation set) through nf_tables netlink messages built in Rust
//! against the `nft -f -` tool, in a fresh network namespace. Prints figures; run with
//! `cargo bench -p orc-testbed --bench nft_apply` (root, `ip` and `nft` needed).

use anyhow::{ensure, Context, Result};
use orc_model::{Directory, DirectoryEntry, Ipv4Net};
use orc_net::nft::{self, Ruleset};
use orc_spec::{PortSpec, Protocol, PublishMode};
use std::net::Ipv4Addr;
use std::process::Command;
use std::time::Instant;

const PORTS: u16 = 20;
const CONTAINERS: u8 = 50;
const ROUNDS: usize = 50;

fn ruleset() -> Result<Ruleset> {
    let mut entries = Vec::new();
    for s in 0..10u8 {
        // 10 services of 5 replicas over 5 nodes; two published ports each.
        let running: Vec<_> = (0..CONTAINERS / 10)
            .map(|r| Ipv4Addr::new(10, 201, r + 1, s + 2))
            .collect();
        let ports = (0..PORTS / 10)
            .map(|p| PortSpec {
                published: 8000 + u16::from(s) * 10 + p,
                target: 80,
                protocol: Protocol::Tcp,
                mode: PublishMode::Ingress,
            })
            .collect();
        entries.push(DirectoryEntry {
            stack: format!("stack{}", s / 2),
            short_name: format!("svc{s}"),
            name: format!("stack{}_svc{s}", s / 2),
            networks: vec!["default".into()],
            running: running.clone(),
            members: running,
            ports,
            dns: Vec::new(),
        });
    }
    let net = |s: &str| Ipv4Net::parse(s).map_err(anyhow::Error::msg);
    Ok(Ruleset::build(
        &Directory { entries },
        net("10.201.2.0/24")?,
        net("10.201.0.0/16")?,
    ))
}

fn median_ms(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

struct Netns(String);

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn main() -> Result<()> {
    let r = ruleset()?;
    let text = r.text();
    let (bytes, messages) = nft::batch_size(&r);
    let ns = Netns(format!("orcnftbench-{}", std::process::id()));
    ensure!(Command::new("ip")
        .args(["netns", "add", &ns.0])
        .status()?
        .success());
    let file = std::fs::File::open(format!("/run/netns/{}", ns.0))?;
    let (netlink, tool) = std::thread::scope(|s| {
        s.spawn(|| -> Result<(Vec<f64>, Vec<f64>)> {
            nix::sched::setns(file, nix::sched::CloneFlags::CLONE_NEWNET)?;
            let time = |f: &dyn Fn() -> Result<()>| -> Result<Vec<f64>> {
                (0..ROUNDS)
                    .map(|_| {
                        let t = Instant::now();
                        f().map(|()| t.elapsed().as_secs_f64() * 1e3)
                    })
                    .collect()
            };
            let netlink = time(&|| nft::apply_netlink(&r).context("netlink"))?;
            let tool = time(&|| nft::tool::apply(&text).context("nft -f -"))?;
            let empty = Ruleset {
                ports: Vec::new(),
                isolation: None,
                ..r.clone()
            };
            nft::apply_netlink(&empty)?;
            Ok((netlink, tool))
        })
        .join()
        .map_err(|_| anyhow::anyhow!("bench thread panicked"))?
    })?;
    let pairs = r.isolation.as_ref().map_or(0, |i| i.pairs.len());
    println!(
        "table ip orc: {} published ports, {CONTAINERS} containers, {pairs} isolation pairs; \
         batch {bytes} B in {messages} messages",
        r.ports.len()
    );
    println!(
        "apply (median of {ROUNDS}): netlink {:.2} ms, nft -f - {:.2} ms",
        median_ms(netlink),
        median_ms(tool)
    );
    Ok(())
}
