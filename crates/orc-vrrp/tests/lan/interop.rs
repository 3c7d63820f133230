//! orc and keepalived 2.2.7 in one virtual router (VRRPv3, same VRID).

use std::time::{Duration, Instant};

use orc_vrrp::State;

use crate::support::keepalived::Keepalived;
use crate::support::orc::{config, OrcNode, Stop};
use crate::support::{holds_for, require_root, wait_for, Lan};

const INTERVAL: Duration = Duration::from_millis(200);

#[test]
fn orc_master_keepalived_backup_follows_orc() {
    require_root();
    let mut lan = Lan::new();
    let (a, k) = (lan.node("a", 41), lan.node("k", 42));
    let vip = lan.addr(100);
    let mut ka = Keepalived::start(&k, 61, 100, vip, INTERVAL);
    let mut na = OrcNode::start(&a, config(61, 150, vip, INTERVAL));

    wait_for(Duration::from_secs(5), || a.has(vip) && !k.has(vip))
        .unwrap_or_else(|| panic!("orc never became the only holder\n{}", ka.log()));
    // keepalived would take over after 0.72 s of silence or invalid adverts.
    assert!(
        holds_for(Duration::from_millis(2000), || a.has(vip) && !k.has(vip)),
        "keepalived did not follow orc's adverts\n{}",
        ka.log()
    );
    assert_eq!(na.counters().dropped_total(), 0);

    // orc's priority-0 advert makes keepalived take over after its skew time.
    let start = Instant::now();
    na.stop(Stop::Graceful);
    wait_for(Duration::from_secs(3), || k.has(vip)).expect("keepalived never took over");
    let took = start.elapsed();
    assert!(
        took < Duration::from_millis(700),
        "keepalived took {took:?}: missed priority 0?"
    );

    // A restarted orc with the higher priority preempts keepalived.
    let na = OrcNode::start(&a, config(61, 150, vip, INTERVAL));
    wait_for(Duration::from_secs(5), || a.has(vip) && !k.has(vip))
        .unwrap_or_else(|| panic!("orc did not preempt keepalived\n{}", ka.log()));
    assert_eq!(na.state(), State::Master);
    assert!(
        na.counters().adverts_received >= 1,
        "orc heard keepalived's adverts"
    );
    ka.terminate();
    assert!(ka.log().contains("Entering BACKUP STATE"), "{}", ka.log());
}

#[test]
fn keepalived_master_orc_backup_follows_keepalived() {
    require_root();
    let mut lan = Lan::new();
    let (a, k) = (lan.node("a", 51), lan.node("k", 52));
    let vip = lan.addr(100);
    let na = OrcNode::start(&a, config(62, 100, vip, INTERVAL));
    let mut ka = Keepalived::start(&k, 62, 200, vip, INTERVAL);

    // orc may time out first; keepalived's higher priority then preempts it.
    wait_for(Duration::from_secs(6), || k.has(vip) && !a.has(vip))
        .unwrap_or_else(|| panic!("keepalived never became the only holder\n{}", ka.log()));
    assert!(holds_for(Duration::from_millis(2000), || k.has(vip) && !a.has(vip)));
    let c = na.counters();
    assert_eq!(c.state, State::Backup);
    assert_eq!(c.master_ip, Some(k.ip));
    assert!(c.adverts_received >= 5);
    assert_eq!(
        c.dropped_total(),
        0,
        "keepalived's adverts were dropped: {:?}",
        c.dropped
    );

    // keepalived's SIGTERM sends priority 0 (late in its ~1 s shutdown): orc
    // takes over a skew time (122 ms) after it, before a whole
    // Master_Down_Interval (722 ms) of silence.
    let start = Instant::now();
    ka.terminate();
    let exited = start.elapsed();
    wait_for(Duration::from_secs(3), || a.has(vip)).expect("orc never took over");
    let took = start.elapsed();
    assert!(na.counters().priority_zero_received >= 1);
    assert!(
        took < exited + Duration::from_millis(500),
        "keepalived exited after {exited:?}, orc took over after {took:?}"
    );
}
