//! Netlink message and attribute layout (linux/netlink.h, nfnetlink.h): a growing
//! buffer of 4-byte aligned TLVs, nested attributes patched with their length at the end.

/// `NLA_F_NESTED`, set on nested attributes as nft does.
const NLA_F_NESTED: u16 = 0x8000;
/// `NFNETLINK_V0`.
const NFNETLINK_V0: u8 = 0;

/// Writes netlink messages one after another into one buffer (a batch).
#[derive(Debug, Default)]
pub(crate) struct Writer {
    buf: Vec<u8>,
    msg_start: usize,
}

impl Writer {
    /// Starts a message: nlmsghdr (host order) + nfgenmsg (`res_id` in network order).
    pub(crate) fn begin(&mut self, ty: u16, flags: u16, seq: u32, family: u8, res_id: u16) {
        self.msg_start = self.buf.len();
        self.buf.extend_from_slice(&0u32.to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(&flags.to_ne_bytes());
        self.buf.extend_from_slice(&seq.to_ne_bytes());
        self.buf.extend_from_slice(&0u32.to_ne_bytes());
        self.buf.push(family);
        self.buf.push(NFNETLINK_V0);
        self.buf.extend_from_slice(&res_id.to_be_bytes());
    }

    /// Ends the message begun last, writing its length.
    pub(crate) fn end(&mut self) {
        let len = (self.buf.len() - self.msg_start) as u32;
        self.buf[self.msg_start..self.msg_start + 4].copy_from_slice(&len.to_ne_bytes());
    }

    /// One attribute holding `data`, padded to 4 bytes.
    pub(crate) fn bytes(&mut self, ty: u16, data: &[u8]) {
        let len = (4 + data.len()) as u16;
        self.buf.extend_from_slice(&len.to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(data);
        self.pad();
    }

    /// A big-endian u32 attribute (every nf_tables number is in network order).
    pub(crate) fn u32(&mut self, ty: u16, value: u32) {
        self.bytes(ty, &value.to_be_bytes());
    }

    /// A NUL-terminated string attribute.
    pub(crate) fn str(&mut self, ty: u16, value: &str) {
        let mut data = Vec::with_capacity(value.len() + 1);
        data.extend_from_slice(value.as_bytes());
        data.push(0);
        self.bytes(ty, &data);
    }

    /// A nested attribute holding what `inner` writes.
    pub(crate) fn nest(&mut self, ty: u16, inner: impl FnOnce(&mut Writer)) {
        let start = self.buf.len();
        self.buf.extend_from_slice(&0u16.to_ne_bytes());
        self.buf
            .extend_from_slice(&(ty | NLA_F_NESTED).to_ne_bytes());
        inner(self);
        let len = (self.buf.len() - start) as u16;
        self.buf[start..start + 2].copy_from_slice(&len.to_ne_bytes());
    }

    fn pad(&mut self) {
        while !self.buf.len().is_multiple_of(4) {
            self.buf.push(0);
        }
    }

    /// The bytes written so far.
    pub(crate) fn into_bytes(self) -> Vec<u8> {
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_are_padded_and_nests_carry_their_length() {
        let mut w = Writer::default();
        w.str(1, "orc");
        w.nest(4, |w| w.u32(2, 0xffff_ff9c));
        let b = w.into_bytes();
        let le = |v: u16| v.to_ne_bytes();
        let mut want = Vec::new();
        want.extend_from_slice(&le(8));
        want.extend_from_slice(&le(1));
        want.extend_from_slice(b"orc\0");
        want.extend_from_slice(&le(12));
        want.extend_from_slice(&le(0x8004));
        want.extend_from_slice(&le(8));
        want.extend_from_slice(&le(2));
        want.extend_from_slice(&[0xff, 0xff, 0xff, 0x9c]);
        assert_eq!(b, want);
    }
}
