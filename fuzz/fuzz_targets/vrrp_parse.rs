//! Fuzzes the VRRP parsers: whole datagrams as a raw socket delivers them,
//! and bare VRRP messages with a chosen source and TTL. Anything accepted
//! must encode back to an advert that parses the same.
#![no_main]

use std::net::Ipv4Addr;

use libfuzzer_sys::fuzz_target;
use orc_vrrp::packet::{parse, VRRP_GROUP_V4};

fuzz_target!(|data: &[u8]| {
    if let Ok((src, advert)) = orc_vrrp::ipv4::parse_advert(data) {
        check_round_trip(src, &advert);
    }
    if data.len() >= 5 {
        let src = Ipv4Addr::new(data[0], data[1], data[2], data[3]);
        if let Ok(advert) = parse(src, VRRP_GROUP_V4, data[4], &data[5..]) {
            check_round_trip(src, &advert);
        }
    }
});

fn check_round_trip(src: Ipv4Addr, advert: &orc_vrrp::Advert) {
    let bytes = advert.encode(src).expect("a parsed advert encodes");
    assert_eq!(parse(src, VRRP_GROUP_V4, 255, &bytes).as_ref(), Ok(advert));
}
