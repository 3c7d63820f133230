//! Shared test helpers: a CA with nodes, and a real tonic TLS server on loopback.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use orc_pki::{server_tls, ClusterCa, NodeFiles, RequireNodeCertLayer, Role};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::{Channel, Endpoint, Server};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

/// The allow-listed path standing in for the join RPC in these tests.
pub const OPEN_PATH: &str = "/grpc.health.v1.Health/Watch";

pub const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// Issues a node's files from `ca`.
pub fn node(ca: &ClusterCa, id: u64, role: Role) -> NodeFiles {
    let cert = ca
        .issue(id, role, &format!("board-{id}"), &[LOOPBACK])
        .unwrap();
    NodeFiles::from_node_cert(ca.cert_pem(), &cert).unwrap()
}

/// The DER of the first certificate of a PEM chain.
pub fn leaf_der(chain_pem: &str) -> CertificateDer<'static> {
    CertificateDer::pem_slice_iter(chain_pem.as_bytes())
        .next()
        .unwrap()
        .unwrap()
}

/// The membership table the server consults, and a log of what it was asked.
#[derive(Clone, Default)]
pub struct Members {
    pub roles: Arc<Mutex<HashMap<u64, Role>>>,
    pub asked: Arc<Mutex<Vec<(u64, Role)>>>,
}

impl Members {
    pub fn with(members: &[(u64, Role)]) -> Self {
        let m = Members::default();
        m.roles.lock().unwrap().extend(members.iter().copied());
        m
    }

    pub fn check(&self) -> Arc<orc_pki::MembershipCheck> {
        let m = self.clone();
        Arc::new(move |id, role| {
            m.asked.lock().unwrap().push((id, role));
            m.roles.lock().unwrap().get(&id) == Some(&role)
        })
    }

    pub fn was_asked_about(&self, id: u64) -> bool {
        self.asked.lock().unwrap().iter().any(|(i, _)| *i == id)
    }
}

/// A tonic server with the gRPC health service behind `RequireNodeCertLayer`,
/// `Watch` standing in for the join RPC. Stopped on drop.
pub struct TestServer {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl TestServer {
    pub async fn start(files: &NodeFiles, members: &Members) -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (_reporter, health) = tonic_health::server::health_reporter();
        let (stop, stopped) = oneshot::channel::<()>();
        let router = Server::builder()
            .tls_config(server_tls(files))
            .unwrap()
            .layer(RequireNodeCertLayer::new(members.check()).allow_without_cert(OPEN_PATH));
        let task = tokio::spawn(async move {
            let _ = router
                .serve_with_incoming_shutdown(health, TcpListenerStream::new(listener), async {
                    let _ = stopped.await;
                })
                .await;
        });
        TestServer {
            addr,
            stop: Some(stop),
            task,
        }
    }

    pub fn host_port(&self) -> String {
        self.addr.to_string()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.abort();
    }
}

/// Connects and calls the protected `Check`; Err carries the failure as text.
pub async fn check(endpoint: Endpoint) -> Result<ServingStatus, CallError> {
    let channel = endpoint
        .connect()
        .await
        .map_err(|e| CallError::Connect(chain(&e)))?;
    check_on(channel).await
}

pub async fn check_on(channel: Channel) -> Result<ServingStatus, CallError> {
    let reply = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .map_err(CallError::Status)?;
    Ok(reply.into_inner().status())
}

/// Connects and reads the first message of the open `Watch`.
pub async fn watch_on(channel: Channel) -> Result<ServingStatus, CallError> {
    let mut stream = HealthClient::new(channel)
        .watch(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .map_err(CallError::Status)?
        .into_inner();
    let first = stream.message().await.map_err(CallError::Status)?;
    Ok(first.map(|m| m.status()).unwrap_or(ServingStatus::Unknown))
}

#[derive(Debug)]
pub enum CallError {
    Connect(String),
    Status(tonic::Status),
}

impl CallError {
    /// The gRPC status code if the call got as far as a status from the server.
    pub fn code(&self) -> Option<tonic::Code> {
        match self {
            CallError::Status(s) => Some(s.code()),
            CallError::Connect(_) => None,
        }
    }
}

/// An error and its sources, joined (tonic hides the TLS reason in the source chain).
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        out.push_str(": ");
        out.push_str(&s.to_string());
        src = s.source();
    }
    out
}
