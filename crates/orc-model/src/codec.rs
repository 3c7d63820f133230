//! Versioned binary encoding of cluster state (snapshots) and commands (log entries).

use crate::{legacy, ClusterState};

/// Bumped whenever a persisted type changes shape. Decoding reads this version and
/// the older ones [`crate::legacy`] knows, and refuses others rather than misreading them.
pub const FORMAT_VERSION: u8 = 5;

#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("empty input")]
    Empty,
    #[error("format version {found} is not supported (this build reads version {FORMAT_VERSION})")]
    Version { found: u8 },
    #[error("encode: {0}")]
    Encode(#[from] bincode::error::EncodeError),
    #[error("decode: {0}")]
    Decode(#[from] bincode::error::DecodeError),
}

pub fn encode_state(state: &ClusterState) -> Result<Vec<u8>, CodecError> {
    let mut out = vec![FORMAT_VERSION];
    out.extend(bincode::serde::encode_to_vec(
        state,
        bincode::config::standard(),
    )?);
    Ok(out)
}

/// Decodes a state [`encode_state`] wrote, in this build's format or an older one
/// still readable (see [`crate::legacy`]), into today's shape.
pub fn decode_state(bytes: &[u8]) -> Result<ClusterState, CodecError> {
    let (&v, rest) = bytes.split_first().ok_or(CodecError::Empty)?;
    match v {
        // Format 4 is today's shape without the trailing `versions`.
        FORMAT_VERSION | 4 => decode_padded::<ClusterState>(rest),
        2 => Ok(decode_padded::<legacy::ClusterState<legacy::SpecV2>>(rest)?.into()),
        3 => Ok(decode_padded::<legacy::ClusterState<legacy::SpecV3>>(rest)?.into()),
        found => Err(CodecError::Version { found }),
    }
}

/// Decodes a state; one written before the trailing fields (`vip`, `registry_auth`,
/// `node_images`, `image_wants`, `network`, `storage`, `held`, `declared_networks`,
/// `vip_holder`, `autolock`, `values`, `versions`) ends where they would start: it is decoded
/// with their empty values (a 0 byte for each `None`, empty map or false, five for the
/// empty `versions`) appended.
fn decode_padded<T: serde::de::DeserializeOwned>(rest: &[u8]) -> Result<T, CodecError> {
    match bincode::serde::decode_from_slice(rest, bincode::config::standard()) {
        Ok((state, _)) => Ok(state),
        Err(bincode::error::DecodeError::UnexpectedEnd { .. }) => {
            let mut last = None;
            for missing in 1..=16 {
                let padded: Vec<u8> = rest
                    .iter()
                    .copied()
                    .chain(std::iter::repeat_n(0, missing))
                    .collect();
                match bincode::serde::decode_from_slice(&padded, bincode::config::standard()) {
                    Ok((state, _)) => return Ok(state),
                    Err(e) => last = Some(e),
                }
            }
            Err(last.map_or(CodecError::Empty, Into::into))
        }
        Err(e) => Err(e.into()),
    }
}
