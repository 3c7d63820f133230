//! Server-side authentication of the calling node.
//!
//! The TLS layer ([`server_tls`](crate::server_tls)) guarantees that a client
//! certificate, when there is one, was signed by the cluster CA. It cannot
//! know whether the node still belongs to the cluster, and it lets clients
//! without a certificate in (for the join RPC). Both are settled here:
//! - no certificate, or one without an orc identity → `Unauthenticated`;
//! - a valid certificate of a node the cluster no longer has (removed, or
//!   whose role changed since the certificate was issued) → `PermissionDenied`,
//!   so the node learns it was removed rather than retrying forever.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tonic::Status;
use tower_layer::Layer;
use tower_service::Service;

use crate::identity::{peer_identity, Role};

/// The membership check: is node `id` currently a member with role `role`?
///
/// Called on every authenticated request; keep it cheap (a lookup in the
/// replicated node table). Answering on the role too is what stops a demoted
/// manager from using its old manager certificate for manager-only calls.
pub type MembershipCheck = dyn Fn(u64, Role) -> bool + Send + Sync;

/// The node a request was authenticated as; [`RequireNodeCert`] puts it in the
/// request's extensions (`request.extensions().get::<PeerNode>()`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerNode {
    /// The caller's node id.
    pub node_id: u64,
    /// The caller's role, as written in its certificate (and confirmed by the membership check).
    pub role: Role,
}

/// Identifies the caller of `req` from its TLS client certificate and checks it
/// is still a member.
///
/// Returns `Unauthenticated` when the request came without a client
/// certificate (or not over TLS at all) or the certificate carries no orc
/// identity, and `PermissionDenied` when `is_member(id, role)` is false.
pub fn authenticate<T>(
    req: &tonic::Request<T>,
    is_member: &dyn Fn(u64, Role) -> bool,
) -> Result<(u64, Role), Status> {
    let certs = req.peer_certs().ok_or_else(|| {
        Status::unauthenticated("this call needs a node certificate from the cluster CA")
    })?;
    let leaf = certs.first().ok_or_else(|| {
        Status::unauthenticated("this call needs a node certificate from the cluster CA")
    })?;
    let (id, role) = peer_identity(leaf)
        .map_err(|e| Status::unauthenticated(format!("unusable node certificate: {e}")))?;
    if !is_member(id, role) {
        return Err(Status::permission_denied(format!(
            "node {id:016x} is not a {role} of this cluster (removed, or its role changed)"
        )));
    }
    Ok((id, role))
}

/// A tower layer that applies [`authenticate`] to every request of a tonic
/// server except those whose gRPC path starts with an allow-listed prefix
/// (the join service): default deny, so a new RPC cannot be forgotten.
///
/// With tonic's `router` feature (without it, pass the single service to
/// `Server::serve_with_incoming` after `.layer(...)`):
///
/// ```ignore
/// Server::builder()
///     .tls_config(orc_pki::server_tls(&files))?
///     .layer(RequireNodeCertLayer::new(is_member).allow_without_cert("/orc.join.v1.Join/"))
///     .add_service(join_svc).add_service(raft_svc)
/// ```
#[derive(Clone)]
pub struct RequireNodeCertLayer {
    is_member: Arc<MembershipCheck>,
    open_prefixes: Arc<Vec<String>>,
}

impl fmt::Debug for RequireNodeCertLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequireNodeCertLayer")
            .field("open_prefixes", &self.open_prefixes)
            .finish_non_exhaustive()
    }
}

impl RequireNodeCertLayer {
    /// Every request needs a member's certificate.
    pub fn new(is_member: Arc<MembershipCheck>) -> Self {
        RequireNodeCertLayer {
            is_member,
            open_prefixes: Arc::new(Vec::new()),
        }
    }

    /// Lets requests whose path starts with `prefix` (e.g. `/orc.join.v1.Join/`)
    /// through without a certificate. Those handlers must authenticate the
    /// caller some other way (the join token).
    pub fn allow_without_cert(mut self, prefix: impl Into<String>) -> Self {
        Arc::make_mut(&mut self.open_prefixes).push(prefix.into());
        self
    }
}

impl<S> Layer<S> for RequireNodeCertLayer {
    type Service = RequireNodeCert<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireNodeCert {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service made by [`RequireNodeCertLayer`].
#[derive(Clone, Debug)]
pub struct RequireNodeCert<S> {
    inner: S,
    layer: RequireNodeCertLayer,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B> Service<http::Request<B>> for RequireNodeCert<S>
where
    S: Service<http::Request<B>, Response = http::Response<tonic::body::Body>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        let path = req.uri().path();
        if self
            .layer
            .open_prefixes
            .iter()
            .any(|p| path.starts_with(p.as_str()))
        {
            return Box::pin(self.inner.call(req));
        }
        // authenticate() reads the TLS info tonic put in the extensions.
        let mut probe = http::Request::new(());
        *probe.extensions_mut() = req.extensions().clone();
        let probe = tonic::Request::from_http(probe);
        match authenticate(&probe, &*self.layer.is_member) {
            Ok((node_id, role)) => {
                req.extensions_mut().insert(PeerNode { node_id, role });
                Box::pin(self.inner.call(req))
            }
            Err(status) => {
                let response = status.into_http();
                Box::pin(async move { Ok(response) })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_without_tls_is_unauthenticated() {
        let req = tonic::Request::new(());
        let always = |_: u64, _: Role| true;
        let err = authenticate(&req, &always).unwrap_err();
        assert_eq!(err.code(), tonic::Code::Unauthenticated);
    }
}
