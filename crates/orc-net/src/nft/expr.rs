//! nf_tables expressions (linux/netfilter/nf_tables.h) and their attribute layout:
//! each is one `NFTA_LIST_ELEM` holding `NFTA_EXPR_NAME` and nested `NFTA_EXPR_DATA`.
//! Numbers in attributes are big-endian; compared data is raw bytes, in the byte order
//! of what the register holds (network order for packet fields, host order for
//! ct/meta/fib/numgen values).

use super::attr::Writer;

/// The verdict register.
pub(crate) const REG_VERDICT: u32 = 0;
/// `NFT_REG_1` (16 bytes; the same storage as `NFT_REG32_00`).
pub(crate) const REG_1: u32 = 1;
/// `NFT_REG_2`.
pub(crate) const REG_2: u32 = 2;
/// `NFT_REG32_01`: the 4 bytes after `NFT_REG32_00`, for the second half of a concatenation.
pub(crate) const REG32_01: u32 = 9;

/// `NFT_PAYLOAD_NETWORK_HEADER`.
pub(crate) const NETWORK_HEADER: u32 = 1;
/// `NFT_PAYLOAD_TRANSPORT_HEADER`.
pub(crate) const TRANSPORT_HEADER: u32 = 2;

/// `NFT_CT_STATE`.
pub(crate) const CT_STATE: u32 = 0;
/// `NFT_CT_STATUS`.
pub(crate) const CT_STATUS: u32 = 2;
/// `NFT_META_L4PROTO`.
pub(crate) const META_L4PROTO: u32 = 16;
/// `NFT_META_IIF`.
pub(crate) const META_IIF: u32 = 4;

/// `NF_ACCEPT`.
pub(crate) const ACCEPT: i32 = 1;
/// `NF_DROP`.
pub(crate) const DROP: i32 = 0;
/// `NFT_JUMP`.
pub(crate) const JUMP: i32 = -3;
/// `NFT_GOTO`.
pub(crate) const GOTO: i32 = -4;

/// `enum nft_cmp_ops`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CmpOp {
    /// `NFT_CMP_EQ`.
    Eq = 0,
    /// `NFT_CMP_NEQ`.
    Neq = 1,
}

/// A verdict: code and, for jump/goto, the target chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Verdict {
    /// `NF_ACCEPT`, `NF_DROP`, `NFT_JUMP`, `NFT_GOTO`.
    pub code: i32,
    /// The chain of a jump or goto.
    pub chain: Option<String>,
}

impl Verdict {
    /// A verdict without a chain.
    pub(crate) fn plain(code: i32) -> Verdict {
        Verdict { code, chain: None }
    }

    /// A jump or goto to `chain`.
    pub(crate) fn to(code: i32, chain: impl Into<String>) -> Verdict {
        Verdict {
            code,
            chain: Some(chain.into()),
        }
    }

    /// `NFTA_DATA_VERDICT` { `NFTA_VERDICT_CODE`, `NFTA_VERDICT_CHAIN` }.
    pub(crate) fn write(&self, w: &mut Writer) {
        w.nest(2, |w| {
            w.u32(1, self.code as u32);
            if let Some(c) = &self.chain {
                w.str(2, c);
            }
        });
    }
}

/// One expression of a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Expr {
    /// `len` bytes at `offset` of header `base` into `dreg`.
    Payload {
        base: u32,
        offset: u32,
        len: u32,
        dreg: u32,
    },
    /// Compares `sreg` with `data`; the rule stops unless it holds.
    Cmp { sreg: u32, op: CmpOp, data: Vec<u8> },
    /// `reg = (reg & mask) ^ xor` over `mask.len()` bytes.
    Bitwise {
        reg: u32,
        mask: Vec<u8>,
        xor: Vec<u8>,
    },
    /// Loads constant bytes into `dreg`.
    Value { dreg: u32, data: Vec<u8> },
    /// Sets the verdict.
    Verdict(Verdict),
    /// A conntrack key (state, status) into `dreg`.
    Ct { key: u32, dreg: u32 },
    /// A meta key (l4proto) into `dreg`.
    Meta { key: u32, dreg: u32 },
    /// The address type of the destination (`fib daddr type`) into `dreg`.
    FibDaddrType { dreg: u32 },
    /// A random number below `modulus` into `dreg`.
    NumgenRandom { modulus: u32, dreg: u32 },
    /// Looks `sreg` up in a set (by name and batch id); a map writes `dreg`.
    Lookup {
        set: String,
        set_id: u32,
        sreg: u32,
        dreg: Option<u32>,
    },
    /// DNAT to the IPv4 address in `addr` and the port in `port`.
    Dnat { addr: u32, port: u32 },
    /// Masquerade.
    Masq,
}

impl Expr {
    /// The expression's kernel name.
    fn name(&self) -> &'static str {
        match self {
            Expr::Payload { .. } => "payload",
            Expr::Cmp { .. } => "cmp",
            Expr::Bitwise { .. } => "bitwise",
            Expr::Value { .. } | Expr::Verdict(_) => "immediate",
            Expr::Ct { .. } => "ct",
            Expr::Meta { .. } => "meta",
            Expr::FibDaddrType { .. } => "fib",
            Expr::NumgenRandom { .. } => "numgen",
            Expr::Lookup { .. } => "lookup",
            Expr::Dnat { .. } => "nat",
            Expr::Masq => "masq",
        }
    }

    /// Writes the `NFTA_LIST_ELEM` of this expression.
    pub(crate) fn write(&self, w: &mut Writer) {
        w.nest(1, |w| {
            w.str(1, self.name());
            if *self == Expr::Masq {
                return;
            }
            w.nest(2, |w| self.write_data(w));
        });
    }

    fn write_data(&self, w: &mut Writer) {
        match self {
            Expr::Payload {
                base,
                offset,
                len,
                dreg,
            } => {
                w.u32(1, *dreg);
                w.u32(2, *base);
                w.u32(3, *offset);
                w.u32(4, *len);
            }
            Expr::Cmp { sreg, op, data } => {
                w.u32(1, *sreg);
                w.u32(2, *op as u32);
                w.nest(3, |w| w.bytes(1, data));
            }
            Expr::Bitwise { reg, mask, xor } => {
                w.u32(1, *reg);
                w.u32(2, *reg);
                w.u32(3, mask.len() as u32);
                w.nest(4, |w| w.bytes(1, mask));
                w.nest(5, |w| w.bytes(1, xor));
            }
            Expr::Value { dreg, data } => {
                w.u32(1, *dreg);
                w.nest(2, |w| w.bytes(1, data));
            }
            Expr::Verdict(v) => {
                w.u32(1, REG_VERDICT);
                w.nest(2, |w| v.write(w));
            }
            Expr::Ct { key, dreg } | Expr::Meta { key, dreg } => {
                w.u32(1, *dreg);
                w.u32(2, *key);
            }
            Expr::FibDaddrType { dreg } => {
                w.u32(1, *dreg);
                w.u32(2, 3); // NFT_FIB_RESULT_ADDRTYPE
                w.u32(3, 1 << 1); // NFTA_FIB_F_DADDR
            }
            Expr::NumgenRandom { modulus, dreg } => {
                w.u32(1, *dreg);
                w.u32(2, *modulus);
                w.u32(3, 1); // NFT_NG_RANDOM
            }
            Expr::Lookup {
                set,
                set_id,
                sreg,
                dreg,
            } => {
                w.str(1, set);
                w.u32(2, *sreg);
                if let Some(d) = dreg {
                    w.u32(3, *d);
                }
                w.u32(4, *set_id);
            }
            Expr::Dnat { addr, port } => {
                w.u32(1, 1); // NFT_NAT_DNAT
                w.u32(2, 2); // NFPROTO_IPV4
                w.u32(3, *addr);
                w.u32(5, *port);
                w.u32(7, 2); // NF_NAT_RANGE_PROTO_SPECIFIED
            }
            Expr::Masq => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Attribute header bytes: length and type in host order.
    fn hdr(len: u16, ty: u16) -> Vec<u8> {
        [len.to_ne_bytes(), ty.to_ne_bytes()].concat()
    }

    #[test]
    fn cmp_of_a_port_matches_nfts_layout() {
        // nft --debug=netlink: [ cmp eq reg 1 0x0000901f ] (tcp dport 8080).
        let mut w = Writer::default();
        Expr::Cmp {
            sreg: REG_1,
            op: CmpOp::Eq,
            data: 8080u16.to_be_bytes().to_vec(),
        }
        .write(&mut w);
        let want = [
            hdr(44, 0x8001),
            hdr(8, 1),
            b"cmp\0".to_vec(),
            hdr(32, 0x8002),
            hdr(8, 1),
            vec![0, 0, 0, 1],
            hdr(8, 2),
            vec![0, 0, 0, 0],
            hdr(12, 0x8003),
            hdr(6, 1),
            vec![0x1f, 0x90, 0, 0],
        ]
        .concat();
        assert_eq!(w.into_bytes(), want);
    }

    #[test]
    fn goto_verdict_and_masq_match_nfts_layout() {
        let mut w = Writer::default();
        Expr::Verdict(Verdict::to(GOTO, "c")).write(&mut w);
        let want = [
            hdr(56, 0x8001),
            hdr(14, 1),
            b"immediate\0\0\0".to_vec(),
            hdr(36, 0x8002),
            hdr(8, 1),
            vec![0, 0, 0, 0],
            hdr(24, 0x8002),
            hdr(20, 0x8002),
            hdr(8, 1),
            (-4i32).to_be_bytes().to_vec(),
            hdr(6, 2),
            b"c\0\0\0".to_vec(),
        ]
        .concat();
        assert_eq!(w.into_bytes(), want);
        let mut w = Writer::default();
        Expr::Masq.write(&mut w);
        assert_eq!(
            w.into_bytes(),
            [hdr(16, 0x8001), hdr(9, 1), b"masq\0\0\0\0".to_vec()].concat()
        );
    }
}
