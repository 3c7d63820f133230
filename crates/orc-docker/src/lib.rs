#![recursion_limit = "256"]
//! The Docker Engine API's swarm-mode subset, as orc answers it. Pure: no I/O.
//!
//! * [`route`]: the `/v1.NN` path prefix and the API version it asks for;
//! * [`filters`]: the `filters` query parameter in both of Docker's encodings;
//! * [`containers`]: a node's own containers (its tasks) as `/containers/…` shows them;
//! * [`render`]: orc's nodes, services, tasks and stack networks as Docker JSON;
//! * [`spec`]: a Docker `ServiceSpec` to orc's normalised [`orc_spec::ServiceSpec`]
//!   (refusing, by name, every field orc does not do) and back;
//! * [`frame`]: log streams in Docker's multiplexed framing;
//! * [`time`]: RFC 3339 timestamps with nanoseconds.
//!
//! The front door (`orc-daemon`'s `docker` module) parses HTTP, calls the operations
//! layer and renders with this crate.

pub mod containers;
pub mod events;
pub mod filters;
pub mod frame;
pub mod render;
pub mod route;
pub mod spec;
pub mod time;
pub mod values;

/// The API version orc reports (`/version`, the `Api-Version` header).
pub const API_VERSION: &str = "1.44";
/// The oldest API version orc accepts in a path prefix.
pub const MIN_API_VERSION: &str = "1.24";
/// The label Docker's stacks put on every object of a stack.
pub const STACK_LABEL: &str = "com.docker.stack.namespace";

/// A Docker API error: an HTTP status and the `message` of its JSON body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub status: u16,
    pub message: String,
}

impl ApiError {
    pub fn new(status: u16, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }
    /// 400: bad parameter, invalid filter, malformed body.
    pub fn bad(message: impl Into<String>) -> ApiError {
        ApiError::new(400, message)
    }
    /// 404.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(404, message)
    }
    /// 501: a feature orc does not have.
    pub fn not_supported(message: impl Into<String>) -> ApiError {
        ApiError::new(501, message)
    }
    /// The JSON body Docker sends: `{"message": "..."}`.
    pub fn body(&self) -> String {
        serde_json::json!({ "message": self.message }).to_string()
    }
}

/// Docker's boolean query values: only "", "0", "no", "false" and "none" are false
/// (case-insensitively); anything else is true.
pub fn query_bool(v: &str) -> bool {
    !matches!(
        v.to_ascii_lowercase().as_str(),
        "" | "0" | "no" | "false" | "none"
    )
}
