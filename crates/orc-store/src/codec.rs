//! Versioned encoding of every value the store writes: two header bytes (store format,
//! orc-model format) then bincode. Log entries hold `orc_model::Command`s, so a change to
//! the model's shape makes old entries unreadable on purpose rather than misread.

use crate::StoreError;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Version of the store's own records (keys, meta records, snapshot metadata).
pub const STORE_FORMAT: u8 = 1;

/// The header every stored value starts with.
pub const HEADER: [u8; 2] = [STORE_FORMAT, orc_model::FORMAT_VERSION];

/// Encodes `value` behind the version header.
pub fn encode<T: Serialize>(what: &str, value: &T) -> Result<Vec<u8>, StoreError> {
    let body = bincode::serde::encode_to_vec(value, bincode::config::standard()).map_err(|e| {
        StoreError::Encode {
            what: what.to_string(),
            source: e,
        }
    })?;
    let mut out = Vec::with_capacity(HEADER.len() + body.len());
    out.extend_from_slice(&HEADER);
    out.extend_from_slice(&body);
    Ok(out)
}

/// Checks the version header of a stored value and returns what follows it.
pub fn check_header<'a>(what: &str, bytes: &'a [u8]) -> Result<&'a [u8], StoreError> {
    let [s, m, rest @ ..] = bytes else {
        return Err(StoreError::Truncated {
            what: what.to_string(),
            len: bytes.len(),
        });
    };
    if [*s, *m] != HEADER {
        return Err(StoreError::Version {
            what: what.to_string(),
            found_store: *s,
            found_model: *m,
            want_store: HEADER[0],
            want_model: HEADER[1],
        });
    }
    Ok(rest)
}

/// Decodes a value written by [`encode`]; refuses other versions, trailing bytes and
/// corrupt data with an error naming `what`.
pub fn decode<T: DeserializeOwned>(what: &str, bytes: &[u8]) -> Result<T, StoreError> {
    let body = check_header(what, bytes)?;
    let (value, used) = bincode::serde::decode_from_slice(body, bincode::config::standard())
        .map_err(|e| StoreError::Decode {
            what: what.to_string(),
            source: e,
        })?;
    if used != body.len() {
        return Err(StoreError::Decode {
            what: what.to_string(),
            source: bincode::error::DecodeError::OtherString(format!(
                "{} trailing bytes",
                body.len() - used
            )),
        });
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_other_versions() {
        let bytes = encode("v", &(7u64, "x".to_string())).unwrap();
        assert_eq!(&bytes[..2], &HEADER);
        let back: (u64, String) = decode("v", &bytes).unwrap();
        assert_eq!(back, (7, "x".to_string()));

        let mut other = bytes.clone();
        other[0] = STORE_FORMAT + 1;
        let err = decode::<(u64, String)>("vote", &other).unwrap_err();
        assert!(
            matches!(err, StoreError::Version { found_store, .. } if found_store == STORE_FORMAT + 1)
        );
        assert!(err.to_string().contains("vote"), "{err}");

        let mut other_model = bytes.clone();
        other_model[1] = orc_model::FORMAT_VERSION.wrapping_add(1);
        assert!(matches!(
            decode::<(u64, String)>("v", &other_model),
            Err(StoreError::Version { .. })
        ));

        assert!(matches!(
            decode::<u64>("v", &[STORE_FORMAT]),
            Err(StoreError::Truncated { len: 1, .. })
        ));

        let mut trailing = bytes.clone();
        trailing.push(0);
        assert!(matches!(
            decode::<(u64, String)>("v", &trailing),
            Err(StoreError::Decode { .. })
        ));

        let garbage = [HEADER[0], HEADER[1], 0xff, 0xff, 0xff];
        assert!(matches!(
            decode::<(u64, String)>("v", &garbage),
            Err(StoreError::Decode { .. })
        ));
    }
}
