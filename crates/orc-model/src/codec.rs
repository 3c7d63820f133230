//! Versioned binary encoding of cluster state (snapshots) and commands (log entries).

use crate::ClusterState;

/// Bumped whenever a persisted type changes shape. Decoding refuses other versions
/// rather than misreading them.
pub const FORMAT_VERSION: u8 = 1;

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

pub fn decode_state(bytes: &[u8]) -> Result<ClusterState, CodecError> {
    let (&v, rest) = bytes.split_first().ok_or(CodecError::Empty)?;
    if v != FORMAT_VERSION {
        return Err(CodecError::Version { found: v });
    }
    match bincode::serde::decode_from_slice(rest, bincode::config::standard()) {
        Ok((state, _)) => Ok(state),
        // A snapshot from before `ClusterState::vip` (the last field) ends where that
        // field would start: decode it with `None` (one 0 byte) appended.
        // Likewise before `storage` (an empty map and `None`: two more 0 bytes).
        Err(bincode::error::DecodeError::UnexpectedEnd { .. }) => {
            let mut last = None;
            for missing in 1..=3 {
                let mut padded = rest.to_vec();
                padded.resize(rest.len() + missing, 0);
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
