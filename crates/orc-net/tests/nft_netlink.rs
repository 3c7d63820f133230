//! Table `ip orc` applied through hand-built nf_tables netlink messages lists exactly
//! like the same ruleset applied as text with the `nft` tool. Needs root, `ip` and `nft`;
//! every case uses fresh network namespaces, deleted even on failure.

use orc_model::{Directory, DirectoryEntry, Ipv4Net};
use orc_net::nft::{self, Ruleset};
use orc_spec::{PortSpec, Protocol, PublishMode};
use std::io::Write as _;
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// A network namespace made with `ip netns add`, deleted on drop.
struct Netns(String);

impl Netns {
    fn new(tag: &str) -> Netns {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "orcnft-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let ok = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .unwrap();
        assert!(ok.success(), "ip netns add {name}");
        Netns(name)
    }

    /// Runs `f` on a thread that entered this namespace.
    fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        let path = format!("/run/netns/{}", self.0);
        std::thread::scope(|s| {
            s.spawn(|| {
                let file = std::fs::File::open(&path).unwrap();
                nix::sched::setns(file, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
                f()
            })
            .join()
            .unwrap()
        })
    }

    fn nft(&self, args: &[&str], stdin: Option<&str>) -> (bool, String) {
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.0, "nft"])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut input = child.stdin.take().unwrap();
        input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
        drop(input);
        let out = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        (out.status.success(), text)
    }

    fn apply_text(&self, r: &Ruleset) {
        let script = format!("table ip orc\ndelete table ip orc\n{}", r.text());
        let (ok, out) = self.nft(&["-f", "-"], Some(&script));
        assert!(ok, "nft -f -: {out}\n{script}");
    }

    /// `nft list table ip orc` with set elements sorted (hash sets list in any order);
    /// None when the table does not exist.
    fn listing(&self) -> Option<String> {
        let (ok, text) = self.nft(&["list", "table", "ip", "orc"], None);
        ok.then(|| normalise(&text))
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn normalise(text: &str) -> String {
    let mut out = String::new();
    let mut elements: Option<String> = None;
    for line in text.lines() {
        let t = line.trim();
        if let Some(acc) = elements.as_mut() {
            acc.push_str(t);
        } else if let Some(rest) = t.strip_prefix("elements = {") {
            elements = Some(rest.to_string());
        } else {
            out.push_str(line);
            out.push('\n');
            continue;
        }
        if let Some(acc) = elements.as_ref().filter(|a| a.ends_with('}')) {
            let mut items: Vec<String> = acc
                .trim_end_matches('}')
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect();
            items.sort();
            out.push_str(&format!("elements = {{ {} }}\n", items.join(", ")));
            elements = None;
        }
    }
    out
}

fn net(s: &str) -> Ipv4Net {
    Ipv4Net::parse(s).unwrap()
}

fn ip(a: u8, b: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 201, a, b)
}

fn entry(stack: &str, name: &str, running: Vec<Ipv4Addr>, ports: Vec<PortSpec>) -> DirectoryEntry {
    DirectoryEntry {
        stack: stack.into(),
        short_name: name.into(),
        name: format!("{stack}_{name}"),
        networks: vec!["default".into()],
        members: running.clone(),
        running,
        ports,
        dns: Vec::new(),
    }
}

fn port(published: u16, protocol: Protocol, mode: PublishMode) -> PortSpec {
    PortSpec {
        published,
        target: 80,
        protocol,
        mode,
    }
}

fn ruleset(entries: Vec<DirectoryEntry>) -> Ruleset {
    Ruleset::build(
        &Directory { entries },
        net("10.201.2.0/24"),
        net("10.201.0.0/16"),
    )
}

/// Applies `r` via netlink in one namespace and via nft in another; both listings agree.
fn same_listing(a: &Netns, b: &Netns, r: &Ruleset) -> Option<String> {
    a.run(|| nft::apply_netlink(r)).unwrap();
    b.apply_text(r);
    let (la, lb) = (a.listing(), b.listing());
    assert_eq!(
        la,
        lb,
        "netlink (left) and nft (right) differ for\n{}",
        r.text()
    );
    la
}

#[test]
fn netlink_and_nft_list_the_same_table() {
    let (a, b) = (Netns::new("a"), Netns::new("b"));
    // One backend, several backends (numgen vmap), host mode, udp, isolation pairs.
    let one = ruleset(vec![entry(
        "s",
        "web",
        vec![ip(1, 2)],
        vec![port(8080, Protocol::Tcp, PublishMode::Ingress)],
    )]);
    let listing = same_listing(&a, &b, &one).expect("table exists");
    assert!(listing.contains("dnat to 10.201.1.2:80"), "{listing}");
    // The loopback guard (published ports turn route_localnet on).
    assert!(
        listing.contains("type filter hook prerouting priority raw; policy accept;")
            && listing.contains("iif != \"lo\" ip daddr 127.0.0.0/8 drop")
            && listing.contains("iif != \"lo\" ip saddr 127.0.0.0/8 drop"),
        "{listing}"
    );
    assert!(a.run(nft::exists));

    let many = ruleset(vec![
        entry(
            "s",
            "web",
            vec![ip(1, 2), ip(2, 2), ip(3, 2)],
            vec![
                port(8080, Protocol::Tcp, PublishMode::Ingress),
                port(9090, Protocol::Tcp, PublishMode::Host),
                port(5353, Protocol::Udp, PublishMode::Ingress),
            ],
        ),
        entry("s", "db", vec![ip(2, 3)], Vec::new()),
        entry("t", "other", vec![ip(2, 4)], Vec::new()),
    ]);
    let listing = same_listing(&a, &b, &many).expect("table exists");
    assert!(listing.contains("numgen random mod 3 vmap"), "{listing}");
    assert!(listing.contains("@pairs"), "{listing}");
    assert!(listing.contains("10.201.2.2 . 10.201.2.3"), "{listing}");

    // A subnet prefix that is not a whole number of bytes (masked compare).
    let odd = Ruleset::build(
        &Directory {
            entries: vec![entry(
                "s",
                "web",
                vec![ip(2, 2)],
                vec![port(8080, Protocol::Tcp, PublishMode::Ingress)],
            )],
        },
        net("10.201.2.0/24"),
        net("10.201.0.0/20"),
    );
    let listing = same_listing(&a, &b, &odd).expect("table exists");
    assert!(
        listing.contains("ip daddr 10.201.0.0/20 masquerade"),
        "{listing}"
    );

    // More pairs than one element message holds (1,000): 40 containers, 1,560 pairs.
    let crowd = ruleset(
        (0..40)
            .map(|i| entry("big", &format!("c{i}"), vec![ip(4, i + 2)], Vec::new()))
            .collect(),
    );
    let listing = same_listing(&a, &b, &crowd).expect("table exists");
    assert!(listing.contains("10.201.4.41 . 10.201.4.2"), "{listing}");

    // Replacing with a smaller ruleset drops the old chains.
    let replaced = same_listing(&a, &b, &one).expect("table exists");
    assert!(!replaced.contains("p_tcp_9090"), "{replaced}");

    // Isolation only (nothing published), then nothing at all: no table.
    let isolated = ruleset(vec![entry("s", "db", vec![ip(2, 3)], Vec::new())]);
    let listing = same_listing(&a, &b, &isolated).expect("table exists");
    assert!(!listing.contains("prerouting"), "{listing}");
    assert!(!listing.contains("127.0.0.0/8"), "{listing}");
    let empty = ruleset(Vec::new());
    assert!(empty.is_empty());
    assert_eq!(same_listing(&a, &b, &empty), None);
    assert!(!a.run(nft::exists));
}

#[test]
fn a_refused_batch_leaves_the_previous_table() {
    let a = Netns::new("atomic");
    let good = ruleset(vec![entry(
        "s",
        "web",
        vec![ip(1, 2), ip(2, 2)],
        vec![port(8080, Protocol::Tcp, PublishMode::Ingress)],
    )]);
    a.run(|| nft::apply_netlink(&good)).unwrap();
    let before = a.listing().expect("table exists");
    // No backend at all: `numgen random mod 0`, which the kernel refuses (ERANGE).
    let mut bad = ruleset(vec![entry(
        "s",
        "api",
        vec![ip(1, 3), ip(2, 3)],
        vec![port(7070, Protocol::Tcp, PublishMode::Ingress)],
    )]);
    bad.ports[0].backends.clear();
    let err = a.run(|| nft::apply_netlink(&bad)).unwrap_err();
    assert!(
        matches!(&err, orc_net::NetError::Nft { object, .. } if object.contains("p_tcp_7070")),
        "{err}"
    );
    assert_eq!(a.listing().as_deref(), Some(before.as_str()));
}
