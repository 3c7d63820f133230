//! The expressions of each rule of table `ip orc`, as nft itself generates them for the
//! text (checked against `nft --debug=netlink`). Pure.

use super::expr::*;
use super::model::Published;
use orc_model::Ipv4Net;
use orc_spec::Protocol;
use std::net::Ipv4Addr;

/// Offset of the IPv4 source address in the network header.
const SADDR: u32 = 12;
/// Offset of the IPv4 destination address.
const DADDR: u32 = 16;
/// `IP_CT_ESTABLISHED` and `IP_CT_RELATED` as ct state bits.
const CT_ESTABLISHED_RELATED: u32 = (1 << 1) | (1 << 2);
/// `IPS_DST_NAT`.
const IPS_DST_NAT: u32 = 1 << 5;
/// `RTN_LOCAL`.
const RTN_LOCAL: u32 = 2;
/// The loopback interface's index, the same in every network namespace.
const LOOPBACK_IFINDEX: u32 = 1;

fn ip_proto(p: Protocol) -> u8 {
    match p {
        Protocol::Tcp => 6,
        Protocol::Udp => 17,
    }
}

/// `ip saddr|daddr SUBNET` as nft writes it: the prefix bytes when the prefix is
/// byte-aligned, else the whole address masked.
fn in_subnet(offset: u32, net: Ipv4Net) -> Vec<Expr> {
    if net.prefix == 0 {
        return Vec::new();
    }
    let aligned = net.prefix.is_multiple_of(8);
    let len = if aligned {
        u32::from(net.prefix) / 8
    } else {
        4
    };
    let mut out = vec![Expr::Payload {
        base: NETWORK_HEADER,
        offset,
        len,
        dreg: REG_1,
    }];
    if !aligned {
        let mask = u32::MAX << (32 - u32::from(net.prefix));
        out.push(Expr::Bitwise {
            reg: REG_1,
            mask: mask.to_be_bytes().to_vec(),
            xor: vec![0; 4],
        });
    }
    out.push(Expr::Cmp {
        sreg: REG_1,
        op: CmpOp::Eq,
        data: net.addr.octets()[..len as usize].to_vec(),
    });
    out
}

/// `ct KEY BITS` as nft writes a flag test: load, mask, non-zero.
fn ct_has(key: u32, bits: u32) -> Vec<Expr> {
    vec![
        Expr::Ct { key, dreg: REG_1 },
        Expr::Bitwise {
            reg: REG_1,
            mask: bits.to_ne_bytes().to_vec(),
            xor: vec![0; 4],
        },
        Expr::Cmp {
            sreg: REG_1,
            op: CmpOp::Neq,
            data: vec![0; 4],
        },
    ]
}

fn l4proto_is(p: Protocol) -> Vec<Expr> {
    vec![
        Expr::Meta {
            key: META_L4PROTO,
            dreg: REG_1,
        },
        Expr::Cmp {
            sreg: REG_1,
            op: CmpOp::Eq,
            data: vec![ip_proto(p)],
        },
    ]
}

/// `fib daddr type local ip daddr != GATEWAY PROTO dport P jump CHAIN`.
pub(crate) fn port_jump(p: &Published, gateway: Ipv4Addr) -> Vec<Expr> {
    let mut e = vec![
        Expr::FibDaddrType { dreg: REG_1 },
        Expr::Cmp {
            sreg: REG_1,
            op: CmpOp::Eq,
            data: RTN_LOCAL.to_ne_bytes().to_vec(),
        },
        Expr::Payload {
            base: NETWORK_HEADER,
            offset: DADDR,
            len: 4,
            dreg: REG_1,
        },
        Expr::Cmp {
            sreg: REG_1,
            op: CmpOp::Neq,
            data: gateway.octets().to_vec(),
        },
    ];
    e.extend(l4proto_is(p.protocol));
    e.push(Expr::Payload {
        base: TRANSPORT_HEADER,
        offset: 2,
        len: 2,
        dreg: REG_1,
    });
    e.push(Expr::Cmp {
        sreg: REG_1,
        op: CmpOp::Eq,
        data: p.published.to_be_bytes().to_vec(),
    });
    e.push(Expr::Verdict(Verdict::to(JUMP, p.chain())));
    e
}

/// `meta l4proto PROTO dnat to BACKEND:TARGET`.
pub(crate) fn dnat(p: &Published, backend: Ipv4Addr) -> Vec<Expr> {
    let mut e = l4proto_is(p.protocol);
    e.push(Expr::Value {
        dreg: REG_1,
        data: backend.octets().to_vec(),
    });
    e.push(Expr::Value {
        dreg: REG_2,
        data: p.target.to_be_bytes().to_vec(),
    });
    e.push(Expr::Dnat {
        addr: REG_1,
        port: REG_2,
    });
    e
}

/// `numgen random mod N vmap @MAP` (the anonymous map `set`, batch id `set_id`).
pub(crate) fn spread(n: u32, set: &str, set_id: u32) -> Vec<Expr> {
    vec![
        Expr::NumgenRandom {
            modulus: n,
            dreg: REG_1,
        },
        Expr::Lookup {
            set: set.into(),
            set_id,
            sreg: REG_1,
            dreg: Some(REG_VERDICT),
        },
    ]
}

/// `ct status dnat ip daddr SUBNET masquerade`.
pub(crate) fn masquerade(subnet: Ipv4Net) -> Vec<Expr> {
    let mut e = ct_has(CT_STATUS, IPS_DST_NAT);
    e.extend(in_subnet(DADDR, subnet));
    e.push(Expr::Masq);
    e
}

/// `iif != "lo" ip daddr 127.0.0.0/8 drop` and the same for `ip saddr`: with
/// `route_localnet` on (so that 127.0.0.1 reaches published ports), nothing from
/// outside may address loopback nor pretend to come from it.
pub(crate) fn loopback_guard() -> Vec<Vec<Expr>> {
    vec![loopback_guard_on(DADDR), loopback_guard_on(SADDR)]
}

fn loopback_guard_on(offset: u32) -> Vec<Expr> {
    let mut e = vec![
        Expr::Meta {
            key: META_IIF,
            dreg: REG_1,
        },
        Expr::Cmp {
            sreg: REG_1,
            op: CmpOp::Neq,
            data: LOOPBACK_IFINDEX.to_ne_bytes().to_vec(),
        },
    ];
    e.extend(in_subnet(offset, LOOPBACK));
    e.push(Expr::Verdict(Verdict::plain(DROP)));
    e
}

/// 127.0.0.0/8.
pub(crate) const LOOPBACK: Ipv4Net = Ipv4Net {
    addr: Ipv4Addr::new(127, 0, 0, 0),
    prefix: 8,
};

/// The forward chain's rules, in order (the set of pairs is `pairs`, batch id `set_id`).
pub(crate) fn isolation(subnet: Ipv4Net, pairs: &str, set_id: u32) -> Vec<Vec<Expr>> {
    let accept = || Expr::Verdict(Verdict::plain(ACCEPT));
    let mut established = ct_has(CT_STATE, CT_ESTABLISHED_RELATED);
    established.push(accept());
    let mut dnat = ct_has(CT_STATUS, IPS_DST_NAT);
    dnat.push(accept());
    let overlay = vec![
        Expr::Payload {
            base: NETWORK_HEADER,
            offset: SADDR,
            len: 4,
            dreg: REG_1,
        },
        Expr::Bitwise {
            reg: REG_1,
            mask: vec![0, 0, 0, 0xff],
            xor: vec![0; 4],
        },
        Expr::Cmp {
            sreg: REG_1,
            op: CmpOp::Eq,
            data: vec![0; 4],
        },
        accept(),
    ];
    let pair = vec![
        Expr::Payload {
            base: NETWORK_HEADER,
            offset: SADDR,
            len: 4,
            dreg: REG_1,
        },
        Expr::Payload {
            base: NETWORK_HEADER,
            offset: DADDR,
            len: 4,
            dreg: REG32_01,
        },
        Expr::Lookup {
            set: pairs.into(),
            set_id,
            sreg: REG_1,
            dreg: None,
        },
        accept(),
    ];
    let mut drop = in_subnet(SADDR, subnet);
    drop.extend(in_subnet(DADDR, subnet));
    drop.push(Expr::Verdict(Verdict::plain(DROP)));
    vec![established, dnat, overlay, pair, drop]
}
