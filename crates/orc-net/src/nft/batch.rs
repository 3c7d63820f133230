//! The ruleset as one nf_tables netlink batch (NFNL_MSG_BATCH_BEGIN … END): the kernel
//! applies it as one transaction, so replacing table `ip orc` is atomic. Pure: model in,
//! bytes out, plus which object each message creates (to name it in errors).

use super::attr::Writer;
use super::expr::{Expr, Verdict, GOTO};
use super::model::Ruleset;
use super::{rules, GUARD, TABLE};

/// `NFNL_SUBSYS_NFTABLES`.
const SUBSYS: u16 = 10;
/// `NFNL_MSG_BATCH_BEGIN` / `END`.
const BATCH_BEGIN: u16 = 0x10;
const BATCH_END: u16 = 0x11;
/// `enum nf_tables_msg_types`.
pub(crate) const NEWTABLE: u16 = 0;
pub(crate) const GETTABLE: u16 = 1;
pub(crate) const DELTABLE: u16 = 2;
const NEWCHAIN: u16 = 3;
const NEWRULE: u16 = 6;
const NEWSET: u16 = 9;
const NEWSETELEM: u16 = 12;
/// `NFPROTO_IPV4`.
pub(crate) const FAMILY_IP: u8 = 2;
/// Netlink flags.
pub(crate) const F_REQUEST: u16 = 1;
pub(crate) const F_ACK: u16 = 4;
const F_CREATE: u16 = 0x400;
const F_APPEND: u16 = 0x800;
/// Set flags `NFT_SET_ANONYMOUS | NFT_SET_CONSTANT | NFT_SET_MAP`.
const ANON_VMAP: u32 = 0x1 | 0x2 | 0x8;
/// nft's data types: `integer`, `ipv4_addr`, and the concatenation of two addresses.
const TYPE_INTEGER: u32 = 4;
const TYPE_IPV4_ADDR: u32 = 7;
/// `NFT_DATA_VERDICT`.
const DATA_VERDICT: u32 = 0xffff_ff00;
/// Elements per NEWSETELEM message (attribute lengths are 16-bit).
const ELEMENTS_PER_MESSAGE: usize = 1000;

/// nf_tables message type `msg`.
pub(crate) fn msg_type(msg: u16) -> u16 {
    (SUBSYS << 8) | msg
}

/// An encoded batch and the object each acknowledged message creates, by sequence number.
#[derive(Debug)]
pub(crate) struct Batch {
    /// The bytes to send in one `send`.
    pub bytes: Vec<u8>,
    /// (sequence number, "chain p_tcp_8080") for every message that asks for an ACK.
    pub objects: Vec<(u32, String)>,
}

struct Encoder {
    w: Writer,
    seq: u32,
    objects: Vec<(u32, String)>,
    set_id: u32,
}

impl Encoder {
    fn msg(&mut self, msg: u16, flags: u16, object: String, body: impl FnOnce(&mut Writer)) {
        self.seq += 1;
        self.w.begin(
            msg_type(msg),
            F_REQUEST | F_ACK | flags,
            self.seq,
            FAMILY_IP,
            0,
        );
        body(&mut self.w);
        self.w.end();
        self.objects.push((self.seq, object));
    }

    fn chain(&mut self, name: &str, hook: Option<(&str, u32, i32)>) {
        self.msg(NEWCHAIN, F_CREATE, format!("chain {name}"), |w| {
            w.str(1, TABLE);
            w.str(3, name);
            if let Some((ty, hooknum, priority)) = hook {
                w.nest(4, |w| {
                    w.u32(1, hooknum);
                    w.u32(2, priority as u32);
                });
                w.u32(5, 1); // policy accept
                w.str(7, ty);
            }
        });
    }

    fn rule(&mut self, chain: &str, exprs: &[Expr]) {
        self.msg(
            NEWRULE,
            F_CREATE | F_APPEND,
            format!("rule in chain {chain}"),
            |w| {
                w.str(1, TABLE);
                w.str(2, chain);
                w.nest(4, |w| exprs.iter().for_each(|e| e.write(w)));
            },
        );
    }

    /// Creates a set and returns its batch id.
    fn set(&mut self, name: &str, flags: u32, key: (u32, u32), verdicts: Option<u32>) -> u32 {
        self.set_id += 1;
        let id = self.set_id;
        let object = match verdicts {
            Some(_) => "anonymous verdict map".to_string(),
            None => format!("set {name}"),
        };
        self.msg(NEWSET, F_CREATE, object, |w| {
            w.str(1, TABLE);
            w.str(2, name);
            w.u32(3, flags);
            w.u32(4, key.0);
            w.u32(5, key.1);
            if let Some(size) = verdicts {
                w.u32(6, DATA_VERDICT);
                w.nest(9, |w| w.u32(1, size));
            }
            w.u32(10, id);
            if verdicts.is_some() {
                // nft's own user data (NFTNL_UDATA_SET_KEYBYTEORDER = host endian), so
                // `nft list` shows the numgen keys as 0, 1, 2 rather than byte-swapped.
                let mut udata = vec![0, 4];
                udata.extend_from_slice(&1u32.to_ne_bytes());
                w.bytes(13, &udata);
            }
        });
        id
    }

    /// Adds elements (key, verdict for a map) to the set `name` / `id`.
    fn elements(&mut self, name: &str, id: u32, elements: &[(Vec<u8>, Option<Verdict>)]) {
        for chunk in elements.chunks(ELEMENTS_PER_MESSAGE) {
            self.msg(
                NEWSETELEM,
                F_CREATE,
                format!("elements of set {name}"),
                |w| {
                    w.str(1, TABLE);
                    w.str(2, name);
                    w.nest(3, |w| {
                        for (key, verdict) in chunk {
                            w.nest(1, |w| {
                                w.nest(1, |w| w.bytes(1, key));
                                if let Some(v) = verdict {
                                    w.nest(2, |w| v.write(w));
                                }
                            });
                        }
                    });
                    w.u32(4, id);
                },
            );
        }
    }
}

/// The batch replacing table `ip orc` with `ruleset` (only deleting it when empty);
/// messages are numbered from `seq + 1`.
pub(crate) fn encode(ruleset: &Ruleset, seq: u32) -> Batch {
    let mut e = Encoder {
        w: Writer::default(),
        seq,
        objects: Vec::new(),
        set_id: 0,
    };
    e.w.begin(BATCH_BEGIN, F_REQUEST, seq, 0, SUBSYS);
    e.w.end();
    let table = format!("table ip {TABLE}");
    // Create-if-missing then delete: "replace", whether or not it existed.
    e.msg(NEWTABLE, F_CREATE, table.clone(), |w| w.str(1, TABLE));
    e.msg(DELTABLE, 0, table.clone(), |w| w.str(1, TABLE));
    if !ruleset.is_empty() {
        e.msg(NEWTABLE, F_CREATE, table, |w| w.str(1, TABLE));
        body(&mut e, ruleset);
    }
    let end = e.seq + 1;
    e.w.begin(BATCH_END, F_REQUEST, end, 0, SUBSYS);
    e.w.end();
    Batch {
        bytes: e.w.into_bytes(),
        objects: e.objects,
    }
}

fn body(e: &mut Encoder, r: &Ruleset) {
    // Chains in the order the text creates them, so both list the same.
    if !r.ports.is_empty() {
        e.chain("prerouting", Some(("nat", 0, -100)));
        e.chain("output", Some(("nat", 3, -100)));
        e.chain("postrouting", Some(("nat", 4, 100)));
        e.chain(GUARD, Some(("filter", 0, -300)));
        for p in &r.ports {
            e.chain(&p.chain(), None);
            if p.backends.len() != 1 {
                for i in 0..p.backends.len() {
                    e.chain(&p.backend_chain(i), None);
                }
            }
        }
    }
    if r.isolation.is_some() {
        e.chain("forward", Some(("filter", 2, 0)));
    }
    for p in &r.ports {
        let jump = rules::port_jump(p, r.gateway);
        e.rule("prerouting", &jump);
        e.rule("output", &jump);
    }
    if !r.ports.is_empty() {
        e.rule("postrouting", &rules::masquerade(r.subnet));
        for exprs in rules::loopback_guard() {
            e.rule(GUARD, &exprs);
        }
    }
    for p in &r.ports {
        let chain = p.chain();
        if let [only] = p.backends.as_slice() {
            e.rule(&chain, &rules::dnat(p, *only));
            continue;
        }
        let n = p.backends.len() as u32;
        let map = "__map%d";
        let id = e.set(map, ANON_VMAP, (TYPE_INTEGER, 4), Some(n));
        let arms: Vec<_> = (0..n)
            .map(|i| {
                let to = Verdict::to(GOTO, p.backend_chain(i as usize));
                (i.to_ne_bytes().to_vec(), Some(to))
            })
            .collect();
        e.elements(map, id, &arms);
        e.rule(&chain, &rules::spread(n, map, id));
        for (i, b) in p.backends.iter().enumerate() {
            e.rule(&p.backend_chain(i), &rules::dnat(p, *b));
        }
    }
    if let Some(iso) = &r.isolation {
        let key = ((TYPE_IPV4_ADDR << 6) | TYPE_IPV4_ADDR, 8);
        let id = e.set("pairs", 0, key, None);
        let elements: Vec<_> = iso
            .pairs
            .iter()
            .map(|(a, b)| ([a.octets(), b.octets()].concat(), None))
            .collect();
        e.elements("pairs", id, &elements);
        for exprs in rules::isolation(r.subnet, "pairs", id) {
            e.rule("forward", &exprs);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use orc_model::Ipv4Net;
    use std::net::Ipv4Addr;

    /// (type, flags, seq) of every message in a batch.
    fn headers(bytes: &[u8]) -> Vec<(u16, u16, u32)> {
        let mut out = Vec::new();
        let mut at = 0;
        while at < bytes.len() {
            let len = u32::from_ne_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
            let ty = u16::from_ne_bytes([bytes[at + 4], bytes[at + 5]]);
            let flags = u16::from_ne_bytes([bytes[at + 6], bytes[at + 7]]);
            let seq = u32::from_ne_bytes(bytes[at + 8..at + 12].try_into().unwrap());
            out.push((ty, flags, seq));
            at += len;
        }
        out
    }

    fn empty() -> Ruleset {
        Ruleset {
            subnet: Ipv4Net::parse("10.201.0.0/16").unwrap(),
            gateway: Ipv4Addr::new(10, 201, 2, 1),
            ports: Vec::new(),
            isolation: None,
        }
    }

    #[test]
    fn an_empty_ruleset_only_replaces_the_table_by_nothing() {
        let b = encode(&empty(), 7);
        let ack = F_REQUEST | F_ACK;
        assert_eq!(
            headers(&b.bytes),
            vec![
                (BATCH_BEGIN, F_REQUEST, 7),
                (msg_type(NEWTABLE), ack | F_CREATE, 8),
                (msg_type(DELTABLE), ack, 9),
                (BATCH_END, F_REQUEST, 10),
            ]
        );
        // The batch header carries the nftables subsystem id in network order.
        assert_eq!(&b.bytes[16..20], &[0, 0, 0, 10]);
        assert_eq!(b.objects.len(), 2);
    }

    #[test]
    fn every_object_is_named_and_sets_come_before_their_rules() {
        let mut r = empty();
        r.isolation = Some(super::super::Isolation::default());
        r.ports.push(super::super::Published {
            protocol: orc_spec::Protocol::Tcp,
            published: 8080,
            target: 80,
            backends: vec![Ipv4Addr::new(10, 201, 1, 2), Ipv4Addr::new(10, 201, 2, 2)],
        });
        let b = encode(&r, 0);
        let names: Vec<&str> = b.objects.iter().map(|(_, o)| o.as_str()).collect();
        let at = |o: &str| names.iter().position(|n| *n == o).unwrap();
        assert!(at("anonymous verdict map") < at("elements of set __map%d"));
        assert!(at("elements of set __map%d") < at("rule in chain p_tcp_8080"));
        assert!(at("chain p_tcp_8080_1") < at("anonymous verdict map"));
        assert!(at("set pairs") < at("rule in chain forward"));
        // No pairs: no element message (an empty one would be refused).
        assert!(!names.contains(&"elements of set pairs"));
        assert_eq!(
            names
                .iter()
                .filter(|n| **n == "rule in chain forward")
                .count(),
            5
        );
    }
}
