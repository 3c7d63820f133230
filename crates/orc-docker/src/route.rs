//! Request paths: the optional `/v1.NN` prefix, then one of the routes orc answers.

use crate::ApiError;

/// Every route orc answers, with the id or name from its path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Ping,
    Version,
    Info,
    Swarm,
    Nodes,
    Node(String),
    NodeUpdate(String),
    NodeDelete(String),
    Services,
    ServiceCreate,
    Service(String),
    ServiceUpdate(String),
    ServiceDelete(String),
    ServiceLogs(String),
    Tasks,
    Task(String),
    TaskLogs(String),
    Networks,
    NetworkCreate,
    Network(String),
    NetworkDelete(String),
    Containers,
    Images,
    Volumes,
    Plugins,
    Events,
    Distribution(String),
    /// `kind` is "secrets" or "configs" (values are never returned).
    SecretsList(&'static str),
    SecretsGet(&'static str, String),
    SecretsCreate(&'static str),
    SecretsUpdate(&'static str, String),
    SecretsDelete(&'static str, String),
    /// `/containers/{id}/json`: one of this node's containers.
    Container(String),
    /// `/containers/{id}/stats`.
    ContainerStats(String),
}

impl Route {
    /// Whether the route changes anything (the read-only socket refuses these).
    pub fn is_write(&self) -> bool {
        matches!(
            self,
            Route::NodeUpdate(_)
                | Route::NodeDelete(_)
                | Route::ServiceCreate
                | Route::ServiceUpdate(_)
                | Route::ServiceDelete(_)
                | Route::NetworkCreate
                | Route::NetworkDelete(_)
                | Route::SecretsCreate(_)
                | Route::SecretsUpdate(..)
                | Route::SecretsDelete(..)
        )
    }

    /// Whether only a swarm manager answers it (a worker says so, as Docker does).
    pub fn needs_manager(&self) -> bool {
        !matches!(
            self,
            Route::Ping
                | Route::Version
                | Route::Info
                | Route::Containers
                | Route::Container(_)
                | Route::ContainerStats(_)
                | Route::Events
                | Route::Images
                | Route::Volumes
                | Route::Plugins
                | Route::Distribution(_)
        )
    }
}

/// An API version as (major, minor).
pub type ApiVersion = (u32, u32);

/// The version orc speaks, as numbers.
pub const CURRENT: ApiVersion = (1, 44);
const MINIMUM: ApiVersion = (1, 24);

/// Splits `/v1.NN/rest` into the version asked for and `/rest` (no prefix: the
/// current version). Below the minimum: 400 as Docker answers; above the current
/// version: treated as the current one.
pub fn split_version(path: &str) -> Result<(ApiVersion, &str), ApiError> {
    let Some(rest) = path.strip_prefix("/v") else {
        return Ok((CURRENT, path));
    };
    let end = rest.find('/').unwrap_or(rest.len());
    let (ver, tail) = rest.split_at(end);
    let parsed = ver
        .split_once('.')
        .and_then(|(a, b)| Some((a.parse::<u32>().ok()?, b.parse::<u32>().ok()?)));
    let Some(v) = parsed else {
        return Ok((CURRENT, path));
    };
    if v < MINIMUM {
        return Err(ApiError::bad(format!(
            "client version {}.{} is too old. Minimum supported API version is {}, please \
             upgrade your client to a newer version",
            v.0,
            v.1,
            crate::MIN_API_VERSION
        )));
    }
    Ok((v.min(CURRENT), if tail.is_empty() { "/" } else { tail }))
}

/// Percent-decodes one path segment.
fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("");
            if let Ok(x) = u8::from_str_radix(hex, 16) {
                out.push(x);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The route of `method` `path` (after [`split_version`]); 404 "page not found"
/// otherwise, as Docker answers.
pub fn route(method: &str, path: &str) -> Result<Route, ApiError> {
    let path = path.trim_end_matches('/');
    let segs: Vec<String> = path.split('/').skip(1).map(decode).collect();
    let s: Vec<&str> = segs.iter().map(String::as_str).collect();
    let get = method == "GET" || method == "HEAD";
    let post = method == "POST";
    let del = method == "DELETE";
    let r = match (s.as_slice(), get, post, del) {
        (["_ping"], true, _, _) => Route::Ping,
        (["version"], true, _, _) => Route::Version,
        (["info"], true, _, _) => Route::Info,
        (["swarm"], true, _, _) => Route::Swarm,
        (["nodes"], true, _, _) => Route::Nodes,
        (["nodes", id], true, _, _) => Route::Node(id.to_string()),
        (["nodes", id, "update"], _, true, _) => Route::NodeUpdate(id.to_string()),
        (["nodes", id], _, _, true) => Route::NodeDelete(id.to_string()),
        (["services"], true, _, _) => Route::Services,
        (["services", "create"], _, true, _) => Route::ServiceCreate,
        (["services", id], true, _, _) => Route::Service(id.to_string()),
        (["services", id, "update"], _, true, _) => Route::ServiceUpdate(id.to_string()),
        (["services", id], _, _, true) => Route::ServiceDelete(id.to_string()),
        (["services", id, "logs"], true, _, _) => Route::ServiceLogs(id.to_string()),
        (["tasks"], true, _, _) => Route::Tasks,
        (["tasks", id], true, _, _) => Route::Task(id.to_string()),
        (["tasks", id, "logs"], true, _, _) => Route::TaskLogs(id.to_string()),
        (["networks"], true, _, _) => Route::Networks,
        (["networks", "create"], _, true, _) => Route::NetworkCreate,
        (["networks", id], true, _, _) => Route::Network(id.to_string()),
        (["networks", id], _, _, true) => Route::NetworkDelete(id.to_string()),
        (["containers", "json"], true, _, _) => Route::Containers,
        (["containers", id, "json"], true, _, _) => Route::Container(id.to_string()),
        (["containers", id, "stats"], true, _, _) => Route::ContainerStats(id.to_string()),
        (["images", "json"], true, _, _) => Route::Images,
        (["volumes"], true, _, _) => Route::Volumes,
        (["plugins"], true, _, _) => Route::Plugins,
        (["events"], true, _, _) => Route::Events,
        (["distribution", rest @ .., "json"], true, _, _) if !rest.is_empty() => {
            Route::Distribution(rest.join("/"))
        }
        ([kind @ ("secrets" | "configs")], true, _, _) => Route::SecretsList(static_kind(kind)),
        ([kind @ ("secrets" | "configs"), "create"], _, true, _) => {
            Route::SecretsCreate(static_kind(kind))
        }
        ([kind @ ("secrets" | "configs"), id], true, _, _) => {
            Route::SecretsGet(static_kind(kind), id.to_string())
        }
        ([kind @ ("secrets" | "configs"), id, "update"], _, true, _) => {
            Route::SecretsUpdate(static_kind(kind), id.to_string())
        }
        ([kind @ ("secrets" | "configs"), id], _, _, true) => {
            Route::SecretsDelete(static_kind(kind), id.to_string())
        }
        _ => return Err(ApiError::not_found("page not found")),
    };
    Ok(r)
}

fn static_kind(k: &str) -> &'static str {
    if k == "secrets" {
        "secrets"
    } else {
        "configs"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_prefixes() {
        assert_eq!(
            split_version("/v1.24/services").unwrap(),
            ((1, 24), "/services")
        );
        assert_eq!(split_version("/v1.51/_ping").unwrap(), ((1, 44), "/_ping"));
        assert_eq!(split_version("/services").unwrap(), ((1, 44), "/services"));
        let e = split_version("/v1.12/info").unwrap_err();
        assert_eq!(e.status, 400);
        assert!(e.message.contains("too old"), "{}", e.message);
        // "/version" is a path, not a prefix.
        assert_eq!(split_version("/version").unwrap(), ((1, 44), "/version"));
    }

    #[test]
    fn routes() {
        assert_eq!(route("HEAD", "/_ping").unwrap(), Route::Ping);
        assert_eq!(
            route("GET", "/services/abc/logs").unwrap(),
            Route::ServiceLogs("abc".into())
        );
        assert_eq!(
            route("GET", "/distribution/docker.io/library/nginx:1/json").unwrap(),
            Route::Distribution("docker.io/library/nginx:1".into())
        );
        assert_eq!(
            route("POST", "/secrets/create").unwrap(),
            Route::SecretsCreate("secrets")
        );
        assert_eq!(
            route("POST", "/configs/abc/update").unwrap(),
            Route::SecretsUpdate("configs", "abc".into())
        );
        assert!(route("DELETE", "/secrets/abc").unwrap().is_write());
        assert!(route("POST", "/services/create").unwrap().is_write());
        assert!(!route("GET", "/services").unwrap().is_write());
        assert_eq!(route("GET", "/nope").unwrap_err().status, 404);
        assert_eq!(
            route("GET", "/containers/%2Fshop_web.1.x/json").unwrap(),
            Route::Container("/shop_web.1.x".into())
        );
        assert_eq!(
            route("GET", "/containers/abc/stats").unwrap(),
            Route::ContainerStats("abc".into())
        );
        assert!(!Route::ContainerStats("abc".into()).needs_manager());
        assert_eq!(route("PUT", "/services").unwrap_err().status, 404);
        assert_eq!(
            route("GET", "/networks/a%20b").unwrap(),
            Route::Network("a b".into())
        );
    }
}
