//! orc's node-to-node RPC.
//!
//! One gRPC service (`proto/orc.proto`) whose messages are opaque frames; what travels
//! inside is defined here in Rust ([`wire`]) and encoded with versioned bincode. gRPC
//! gives framing, streaming and HTTP/2; orc-pki gives the mutual TLS underneath.

pub mod pb {
    #![allow(missing_docs, clippy::all)]
    tonic::include_proto!("orc.v1");
}
mod raft_net;
pub mod wire;

pub use raft_net::{Dialer, RaftNet};
pub use wire::{decode, encode, WireError};
