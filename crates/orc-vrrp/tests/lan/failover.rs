//! Two orc instances: one VIP holder, and failover when it stops or dies.

use std::time::{Duration, Instant};

use orc_vrrp::State;

use crate::support::orc::{config, OrcNode, Stop};
use crate::support::{holds_for, require_root, wait_for, Lan};

const INTERVAL: Duration = Duration::from_millis(200);

#[test]
fn one_holder_and_graceful_handover_within_skew_time() {
    require_root();
    let mut lan = Lan::new();
    let (a, b) = (lan.node("a", 11), lan.node("b", 12));
    let vip = lan.addr(100);
    let mut na = OrcNode::start(&a, config(51, 150, vip, INTERVAL));
    let nb = OrcNode::start(&b, config(51, 100, vip, INTERVAL));

    wait_for(Duration::from_secs(5), || a.has(vip))
        .expect("the higher priority never took the VIP");
    assert!(holds_for(Duration::from_millis(1500), || a.has(vip) && !b.has(vip)));
    assert_eq!((na.state(), nb.state()), (State::Master, State::Backup));
    assert_eq!(nb.counters().master_ip, Some(a.ip));
    assert!(nb.counters().adverts_received >= 5);
    assert_eq!(nb.counters().dropped_total(), 0);

    let start = Instant::now();
    let last = na
        .stop(Stop::Graceful)
        .expect("graceful stop returns counters");
    wait_for(Duration::from_secs(3), || b.has(vip)).expect("the backup never took the VIP");
    let took = start.elapsed();
    assert!(!a.has(vip), "a stopped master keeps no VIP");
    assert_eq!(last.priority_zero_sent, 1);
    assert!(nb.counters().priority_zero_received >= 1);
    // Skew time of priority 100 at 200 ms is 122 ms; a whole
    // Master_Down_Interval (722 ms) would mean the priority-0 advert was missed.
    assert!(
        took < Duration::from_millis(700),
        "graceful failover took {took:?}"
    );
    eprintln!("orc graceful failover at 200 ms adverts: {took:?}");
}

#[test]
fn crash_of_the_master_fails_over_within_master_down_interval() {
    require_root();
    let mut lan = Lan::new();
    let (a, b) = (lan.node("a", 21), lan.node("b", 22));
    let vip = lan.addr(100);
    let mut na = OrcNode::start(&a, config(52, 200, vip, INTERVAL));
    let nb = OrcNode::start(&b, config(52, 100, vip, INTERVAL));
    wait_for(Duration::from_secs(5), || a.has(vip) && !b.has(vip)).expect("no single holder");
    assert!(holds_for(Duration::from_millis(1000), || !b.has(vip)));

    let start = Instant::now();
    na.stop(Stop::Crash);
    wait_for(Duration::from_secs(5), || b.has(vip)).expect("the backup never took the VIP");
    let took = start.elapsed();
    let c = nb.counters();
    assert_eq!(c.state, State::Master);
    assert_eq!(c.priority_zero_received, 0, "a crash sends no last advert");
    assert_eq!(
        c.last_transition.map(|t| t.cause),
        Some(orc_vrrp::Cause::MasterDown)
    );
    // Master_Down_Interval = 3 × 200 ms + 122 ms = 722 ms after the last advert.
    assert!(
        took < Duration::from_millis(1500),
        "crash failover took {took:?}"
    );
    eprintln!("orc crash failover at 200 ms adverts: {took:?}");
}

#[test]
fn equal_priority_masters_settle_on_the_higher_address() {
    require_root();
    let mut lan = Lan::new();
    let (a, b) = (lan.node("a", 31), lan.node("b", 32));
    let vip = lan.addr(100);
    // Priority 255 (address owner) starts as master at once, so starting B
    // while A is master makes two masters of equal priority.
    let na = OrcNode::start(&a, config(53, 255, vip, INTERVAL));
    wait_for(Duration::from_secs(5), || a.has(vip)).expect("A never took the VIP");
    let nb = OrcNode::start(&b, config(53, 255, vip, INTERVAL));
    wait_for(Duration::from_secs(5), || b.has(vip) && !a.has(vip))
        .expect("the higher address did not win");
    assert!(holds_for(Duration::from_millis(1000), || b.has(vip) && !a.has(vip)));
    assert_eq!((na.state(), nb.state()), (State::Backup, State::Master));
    let t = na.counters().last_transition.unwrap();
    assert_eq!(t.cause, orc_vrrp::Cause::HigherPriority);
}
