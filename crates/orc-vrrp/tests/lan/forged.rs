//! Forged and malformed adverts injected from another node are dropped,
//! counted by reason, and change nothing.

use std::time::Duration;

use orc_vrrp::packet::checksum;
use orc_vrrp::{Advert, DropReason, State};

use crate::support::inject::{inject, vrrp_datagram};
use crate::support::orc::{config, OrcNode};
use crate::support::{require_root, wait_for, Lan};

#[test]
fn forged_adverts_are_dropped_by_reason_and_change_nothing() {
    require_root();
    let mut lan = Lan::new();
    let (a, x) = (lan.node("a", 71), lan.node("x", 72));
    let vip = lan.addr(100);
    let na = OrcNode::start(&a, config(81, 100, vip, Duration::from_millis(200)));
    wait_for(Duration::from_secs(5), || a.has(vip)).expect("orc never became master");

    // Each forgery claims priority 255, which would make a valid advert win.
    let advert = |vrid| Advert {
        vrid,
        priority: 255,
        max_advert_interval_cs: 20,
        addresses: vec![vip],
    };
    let good = advert(81).encode(x.ip).unwrap();
    let resum = |mut m: Vec<u8>| {
        m[6..8].copy_from_slice(&[0, 0]);
        let s = checksum(x.ip, orc_vrrp::packet::VRRP_GROUP_V4, &m);
        m[6..8].copy_from_slice(&s.to_be_bytes());
        m
    };
    let mut bad_sum = good.clone();
    bad_sum[7] ^= 0x55;
    let mut v2 = good.clone();
    v2[0] = 0x21;
    let cases = [
        (DropReason::BadChecksum, vrrp_datagram(x.ip, 255, &bad_sum)),
        (DropReason::BadTtl, vrrp_datagram(x.ip, 254, &good)),
        (
            DropReason::WrongVrid,
            vrrp_datagram(x.ip, 255, &advert(82).encode(x.ip).unwrap()),
        ),
        (DropReason::Truncated, vrrp_datagram(x.ip, 255, &good[..10])),
        (DropReason::BadVersion, vrrp_datagram(x.ip, 255, &resum(v2))),
    ];
    for (reason, datagram) in cases {
        let before = na.counters();
        inject(&x, vec![datagram]);
        wait_for(Duration::from_secs(3), || {
            na.counters().dropped(reason) == 1
        })
        .unwrap_or_else(|| panic!("{reason} not counted: {:?}", na.counters().dropped));
        let after = na.counters();
        assert_eq!(
            after.dropped_total(),
            before.dropped_total() + 1,
            "only {reason}"
        );
        assert_eq!(after.state, State::Master, "{reason} changed the state");
        assert_eq!(after.adverts_received, 0);
        assert_eq!(after.transitions, before.transitions);
        assert!(a.has(vip), "{reason} moved the VIP");
    }

    // Control: the same path with a valid advert does take over.
    inject(&x, vec![vrrp_datagram(x.ip, 255, &good)]);
    wait_for(Duration::from_secs(3), || !a.has(vip)).expect("a valid advert was ignored");
    let c = na.counters();
    assert_eq!(
        (c.state, c.adverts_received, c.master_ip),
        (State::Backup, 1, Some(x.ip))
    );
}
