//! Pulling images from OCI distribution registries (Docker Hub, ghcr.io, a
//! `docker-registry` on the LAN) with a small client of orc's own: hyper's HTTP/1
//! client over rustls + ring, anonymous / basic / bearer-token auth, manifest
//! indexes resolved to a platform, every blob verified against its digest.

mod challenge;
mod client;
mod error;
mod http;
mod platform;
mod pull;
mod reference;
mod source;

pub use challenge::{parse_challenge, Challenge};
pub use client::{Credentials, RegistryOptions};
pub use error::RegistryError;
pub use pull::{resolve_digest, PullEvent, PullOptions, PullProgress};
pub use reference::{is_loopback, ImageRef};
pub use source::{BoxFuture, Chunks, FetchedManifest, ImageSource};
