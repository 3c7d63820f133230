//! Just enough DNS (RFC 1035) for service discovery: read a query's question and write
//! an answer of A records, or of one PTR record for a reverse (`in-addr.arpa`) name.
//! Everything else is forwarded untouched. Pure, no I/O; no
//! DNS library (it would cost about 1 MB of the board binary for this much).

use std::net::Ipv4Addr;

const TYPE_A: u16 = 1;
/// The PTR record type (reverse lookups).
pub const TYPE_PTR: u16 = 12;
const CLASS_IN: u16 = 1;
/// Answers are not cached: tasks come and go within a second.
const TTL: u32 = 0;

/// The first question of a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    /// The name asked for, lowercase, dotted, without the trailing dot.
    pub name: String,
    /// The record type (1 = A, 28 = AAAA…).
    pub qtype: u16,
    /// Where the question ends in the packet (header + question bytes).
    end: usize,
}

/// Reads the first question of a standard query; `None` for anything else (responses,
/// other opcodes, compressed or malformed names).
pub fn parse_query(packet: &[u8]) -> Option<Question> {
    if packet.len() < 12 {
        return None;
    }
    let flags = u16::from_be_bytes([packet[2], packet[3]]);
    let is_response = flags & 0x8000 != 0;
    let opcode = (flags >> 11) & 0xf;
    let qdcount = u16::from_be_bytes([packet[4], packet[5]]);
    if is_response || opcode != 0 || qdcount == 0 {
        return None;
    }
    let mut labels = Vec::new();
    let mut i = 12;
    loop {
        let len = usize::from(*packet.get(i)?);
        i += 1;
        if len == 0 {
            break;
        }
        if len > 63 {
            return None;
        }
        let label = packet.get(i..i + len)?;
        labels.push(String::from_utf8_lossy(label).to_ascii_lowercase());
        i += len;
    }
    let qtype = u16::from_be_bytes([*packet.get(i)?, *packet.get(i + 1)?]);
    let qclass = u16::from_be_bytes([*packet.get(i + 2)?, *packet.get(i + 3)?]);
    if qclass != CLASS_IN {
        return None;
    }
    Some(Question {
        name: labels.join("."),
        qtype,
        end: i + 4,
    })
}

/// The answer to `query` (whose question is `q`): authoritative, one A record per
/// address when it asked for A, no records (NOERROR) for other types of the name.
pub fn answer(query: &[u8], q: &Question, addresses: &[Ipv4Addr]) -> Vec<u8> {
    let records: &[Ipv4Addr] = if q.qtype == TYPE_A { addresses } else { &[] };
    let mut out = Vec::with_capacity(q.end + records.len() * 16);
    out.extend_from_slice(&query[0..2]); // id
    let rd = query[2] & 0x01;
    out.push(0x80 | 0x04 | rd); // QR, AA, RD as asked
    out.push(0x80); // RA, NOERROR
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&(records.len() as u16).to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]); // no authority, no additional
    out.extend_from_slice(&query[12..q.end]);
    for a in records {
        out.extend_from_slice(&[0xc0, 0x0c]); // the question's name
        out.extend_from_slice(&TYPE_A.to_be_bytes());
        out.extend_from_slice(&CLASS_IN.to_be_bytes());
        out.extend_from_slice(&TTL.to_be_bytes());
        out.extend_from_slice(&4u16.to_be_bytes());
        out.extend_from_slice(&a.octets());
    }
    out
}

/// The address a reverse name stands for: `2.1.201.10.in-addr.arpa` → 10.201.1.2;
/// `None` for any other name (forward names, partial reverse zones).
pub fn reverse_address(name: &str) -> Option<Ipv4Addr> {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    let digits = name.strip_suffix(".in-addr.arpa")?;
    let mut octets = [0u8; 4];
    let mut parts = digits.split('.');
    for o in octets.iter_mut().rev() {
        let p = parts.next()?;
        // Decimal without sign or leading zeros, as reverse names are written.
        if p.is_empty()
            || (p.len() > 1 && p.starts_with('0'))
            || !p.bytes().all(|b| b.is_ascii_digit())
        {
            return None;
        }
        *o = p.parse().ok()?;
    }
    parts.next().is_none().then_some(Ipv4Addr::from(octets))
}

/// The answer to a PTR `query` (question `q`): authoritative, one PTR record naming
/// `target` (dotted; each label at most 63 bytes, longer ones are cut).
pub fn answer_ptr(query: &[u8], q: &Question, target: &str) -> Vec<u8> {
    let mut out = answer(query, q, &[]);
    let mut rdata = Vec::with_capacity(target.len() + 2);
    for label in target
        .trim_end_matches('.')
        .split('.')
        .filter(|l| !l.is_empty())
    {
        let label = &label.as_bytes()[..label.len().min(63)];
        rdata.push(label.len() as u8);
        rdata.extend_from_slice(label);
    }
    rdata.push(0);
    out[6..8].copy_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&[0xc0, 0x0c]); // the question's name
    out.extend_from_slice(&TYPE_PTR.to_be_bytes());
    out.extend_from_slice(&CLASS_IN.to_be_bytes());
    out.extend_from_slice(&TTL.to_be_bytes());
    out.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    out.extend_from_slice(&rdata);
    out
}

/// A SERVFAIL for `query` (when no upstream answered).
pub fn servfail(query: &[u8], q: &Question) -> Vec<u8> {
    let mut out = answer(query, q, &[]);
    out[3] = 0x80 | 2;
    out
}

/// Name servers in resolv.conf text.
pub fn nameservers(resolv_conf: &str) -> Vec<std::net::IpAddr> {
    resolv_conf
        .lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .filter_map(|a| a.trim().parse().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A query for `name` of type `qtype` with id 0x1234 and RD set.
    fn query(name: &str, qtype: u16) -> Vec<u8> {
        let mut p = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        for label in name.split('.') {
            p.push(label.len() as u8);
            p.extend_from_slice(label.as_bytes());
        }
        p.push(0);
        p.extend_from_slice(&qtype.to_be_bytes());
        p.extend_from_slice(&1u16.to_be_bytes());
        p
    }

    #[test]
    fn a_query_is_answered_with_every_address() {
        let p = query("Tasks.Web", TYPE_A);
        let q = parse_query(&p).unwrap();
        assert_eq!(q.name, "tasks.web");
        let ips = [Ipv4Addr::new(10, 201, 1, 2), Ipv4Addr::new(10, 201, 2, 2)];
        let r = answer(&p, &q, &ips);
        assert_eq!(&r[0..2], &[0x12, 0x34]);
        assert_eq!(r[2] & 0x80, 0x80, "a response");
        assert_eq!(u16::from_be_bytes([r[6], r[7]]), 2);
        assert_eq!(&r[r.len() - 4..], &[10, 201, 2, 2]);
        assert_eq!(r.len(), p.len() + 2 * 16);
        // AAAA for the same name: NOERROR, no records.
        let p6 = query("web", 28);
        let r6 = answer(&p6, &parse_query(&p6).unwrap(), &ips);
        assert_eq!(u16::from_be_bytes([r6[6], r6[7]]), 0);
        assert_eq!(r6[3] & 0x0f, 0);
        assert_eq!(servfail(&p6, &parse_query(&p6).unwrap())[3] & 0x0f, 2);
    }

    #[test]
    fn a_reverse_name_is_answered_with_one_ptr_record() {
        assert_eq!(
            reverse_address("2.1.201.10.IN-ADDR.ARPA."),
            Some(Ipv4Addr::new(10, 201, 1, 2))
        );
        for bad in [
            "1.201.10.in-addr.arpa",
            "5.2.1.201.10.in-addr.arpa",
            "02.1.201.10.in-addr.arpa",
            "256.1.201.10.in-addr.arpa",
            "x.1.201.10.in-addr.arpa",
            "web",
            "2.1.201.10.ip6.arpa",
        ] {
            assert_eq!(reverse_address(bad), None, "{bad}");
        }
        let p = query("2.1.201.10.in-addr.arpa", TYPE_PTR);
        let q = parse_query(&p).unwrap();
        let r = answer_ptr(&p, &q, "shop_web");
        assert_eq!(&r[0..2], &[0x12, 0x34]);
        assert_eq!(r[3] & 0x0f, 0, "NOERROR");
        assert_eq!(u16::from_be_bytes([r[6], r[7]]), 1, "one answer");
        let rr = &r[p.len()..];
        assert_eq!(&rr[0..2], &[0xc0, 0x0c]);
        assert_eq!(u16::from_be_bytes([rr[2], rr[3]]), TYPE_PTR);
        assert_eq!(u16::from_be_bytes([rr[10], rr[11]]), 10);
        assert_eq!(&rr[12..], b"\x08shop_web\x00");
        // A dotted target is written label by label.
        let r = answer_ptr(&p, &q, "web.shop.");
        assert!(r.ends_with(b"\x03web\x04shop\x00"));
    }

    #[test]
    fn malformed_or_non_queries_are_refused() {
        assert!(parse_query(&[0; 5]).is_none());
        let mut r = query("web", TYPE_A);
        r[2] |= 0x80;
        assert!(parse_query(&r).is_none(), "a response");
        let mut cut = query("web", TYPE_A);
        cut.truncate(cut.len() - 3);
        assert!(parse_query(&cut).is_none());
        let mut pointer = query("web", TYPE_A);
        pointer[12] = 0xc0;
        assert!(parse_query(&pointer).is_none(), "compressed question");
    }

    #[test]
    fn nameservers_are_read_from_resolv_conf() {
        let ns = nameservers("# x\nnameserver 192.0.2.1\nsearch lan\nnameserver ::1\n");
        assert_eq!(ns.len(), 2);
    }
}
