//! orc's quorum guard with real packets: an ineligible node never holds the VIP.

use std::time::Duration;

use orc_vrrp::{Cause, State};

use crate::support::orc::{config, OrcNode};
use crate::support::{holds_for, require_root, wait_for, Lan};

const INTERVAL: Duration = Duration::from_millis(200);

#[test]
fn master_losing_quorum_hands_the_vip_over_and_takes_it_back_on_return() {
    require_root();
    let mut lan = Lan::new();
    let (a, b) = (lan.node("a", 61), lan.node("b", 62));
    let vip = lan.addr(100);
    let na = OrcNode::start(&a, config(71, 200, vip, INTERVAL));
    let nb = OrcNode::start(&b, config(71, 100, vip, INTERVAL));
    wait_for(Duration::from_secs(5), || a.has(vip) && !b.has(vip)).expect("no single holder");

    na.eligible.send(true).unwrap(); // no change: nothing happens
    na.eligible.send(false).unwrap();
    wait_for(Duration::from_secs(3), || !a.has(vip) && b.has(vip)).expect("VIP not handed over");
    // Higher priority and preemption on, yet A stays out while ineligible.
    assert!(holds_for(Duration::from_millis(2000), || !a.has(vip) && b.has(vip)));
    let c = na.counters();
    assert_eq!(c.state, State::Backup);
    assert!(!c.eligible);
    assert_eq!(c.last_transition.map(|t| t.cause), Some(Cause::QuorumLost));
    assert_eq!(
        c.master_ip,
        Some(b.ip),
        "an ineligible backup still follows the master"
    );

    na.eligible.send(true).unwrap();
    wait_for(Duration::from_secs(3), || a.has(vip) && !b.has(vip)).expect("A did not preempt back");
    assert_eq!(na.counters().became_master, 2);
    assert_eq!(nb.state(), State::Backup);
}

#[test]
fn a_node_without_quorum_never_takes_an_unheld_vip() {
    require_root();
    let mut lan = Lan::new();
    let a = lan.node("a", 63);
    let vip = lan.addr(100);
    let na = OrcNode::start_with(&a, config(72, 100, vip, INTERVAL), false);
    // Master_Down_Interval is 0.72 s; wait several.
    assert!(holds_for(Duration::from_millis(2500), || !a.has(vip)));
    assert_eq!(na.state(), State::Backup);
    na.eligible.send(true).unwrap();
    wait_for(Duration::from_secs(2), || a.has(vip)).expect("eligible again, alone, yet no VIP");
}

#[test]
fn a_partitioned_master_that_loses_quorum_leaves_one_holder() {
    require_root();
    let mut lan = Lan::new();
    let (a, b) = (lan.node("a", 64), lan.node("b", 65));
    let vip = lan.addr(100);
    let na = OrcNode::start(&a, config(73, 200, vip, INTERVAL));
    let _nb = OrcNode::start(&b, config(73, 100, vip, INTERVAL));
    wait_for(Duration::from_secs(5), || a.has(vip) && !b.has(vip)).expect("no single holder");

    // Cut A off at the bridge; its link stays up. Plain VRRP (keepalived
    // too) now has two holders: B times out while A keeps advertising.
    lan.connect("a", false);
    wait_for(Duration::from_secs(3), || b.has(vip)).expect("B never took over");
    assert!(a.has(vip), "without the guard A keeps the VIP: split brain");
    // Raft on A notices it lost the majority: the guard releases the VIP.
    na.eligible.send(false).unwrap();
    wait_for(Duration::from_secs(2), || !a.has(vip)).expect("A kept the VIP without quorum");
    lan.connect("a", true);
    assert!(holds_for(Duration::from_millis(1500), || !a.has(vip) && b.has(vip)));
}
