//! A secret's or config's clear value in memory: on its way from the CLI to the
//! daemon that seals it, or from the leader to the node that writes it into a task's
//! tmpfs. `Debug` never shows it, and its bytes are overwritten when it is dropped.
//! In JSON (the CLI's root-only socket) it is a hex string; in bincode, bytes.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Clear bytes of a secret or config, redacted in `Debug`, zeroed on drop.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ClearValue(Vec<u8>);

impl ClearValue {
    /// Wraps `bytes`.
    pub fn new(bytes: Vec<u8>) -> ClearValue {
        ClearValue(bytes)
    }

    /// The clear bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the value is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Drop for ClearValue {
    fn drop(&mut self) {
        for b in self.0.iter_mut() {
            // SAFETY: `b` is a valid, aligned, exclusive reference into the vector.
            unsafe { std::ptr::write_volatile(b, 0) };
        }
    }
}

impl std::fmt::Debug for ClearValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<redacted, {} bytes>", self.0.len())
    }
}

impl Serialize for ClearValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            let mut out = String::with_capacity(self.0.len() * 2);
            for b in &self.0 {
                out.push(HEX[(b >> 4) as usize] as char);
                out.push(HEX[(b & 15) as usize] as char);
            }
            s.serialize_str(&out)
        } else {
            s.serialize_bytes(&self.0)
        }
    }
}

impl<'de> Deserialize<'de> for ClearValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<ClearValue, D::Error> {
        if d.is_human_readable() {
            let s = String::deserialize(d)?;
            let digit = |c: u8| match c {
                b'0'..=b'9' => Ok(c - b'0'),
                b'a'..=b'f' => Ok(c - b'a' + 10),
                _ => Err(serde::de::Error::custom("a value must be hex")),
            };
            let b = s.as_bytes();
            if b.len() % 2 != 0 {
                return Err(serde::de::Error::custom("a value must be hex"));
            }
            let mut out = Vec::with_capacity(b.len() / 2);
            for pair in b.chunks(2) {
                out.push((digit(pair[0])? << 4) | digit(pair[1])?);
            }
            Ok(ClearValue(out))
        } else {
            Ok(ClearValue(serde_bytes_vec(d)?))
        }
    }
}

fn serde_bytes_vec<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    struct V;
    impl<'de> serde::de::Visitor<'de> for V {
        type Value = Vec<u8>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("bytes")
        }
        fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
            Ok(v.to_vec())
        }
        fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
            Ok(v)
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut a: A) -> Result<Vec<u8>, A::Error> {
            let mut out = Vec::new();
            while let Some(b) = a.next_element::<u8>()? {
                out.push(b);
            }
            Ok(out)
        }
    }
    d.deserialize_byte_buf(V)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_round_trips_in_json_and_never_shows_in_debug() {
        let v = ClearValue::new(b"s3cret\x00\xff".to_vec());
        assert!(!format!("{v:?}").contains("s3cret"));
        let j = serde_json::to_string(&v).unwrap();
        assert_eq!(j, "\"73336372657400ff\"");
        let b = bincode::serde::encode_to_vec(&v, bincode::config::standard()).unwrap();
        let (back, _): (ClearValue, _) =
            bincode::serde::decode_from_slice(&b, bincode::config::standard()).unwrap();
        assert_eq!(back, v);
        let back: ClearValue = serde_json::from_str(&j).unwrap();
        assert_eq!(back, v);
        assert!(serde_json::from_str::<ClearValue>("\"abc\"").is_err());
    }
}
