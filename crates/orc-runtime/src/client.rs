//! The connection to containerd: a lazy gRPC channel over its unix socket and the
//! namespace header every request needs.

use crate::RuntimeError;
use containerd_client::services::v1::{
    containers_client::ContainersClient, content_client::ContentClient, diff_client::DiffClient,
    images_client::ImagesClient, leases_client::LeasesClient,
    snapshots::snapshots_client::SnapshotsClient, tasks_client::TasksClient,
    version_client::VersionClient,
};
use hyper_util::rt::TokioIo;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tonic::metadata::{AsciiMetadataValue, MetadataMap};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint, Uri};

/// The snapshotter orc uses for images and containers.
pub(crate) const SNAPSHOTTER: &str = "overlayfs";

/// A service client whose requests carry the namespace header.
pub(crate) type Svc = InterceptedService<Channel, Namespaced>;

/// Adds `containerd-namespace` to every request.
#[derive(Clone)]
pub(crate) struct Namespaced(AsciiMetadataValue);

impl tonic::service::Interceptor for Namespaced {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        req.metadata_mut()
            .insert("containerd-namespace", self.0.clone());
        Ok(req)
    }
}

/// orc's handle on one containerd: cheap to clone, connects on first use and
/// reconnects after containerd restarts.
#[derive(Clone)]
pub struct Runtime {
    channel: Channel,
    ns: Namespaced,
    namespace: String,
    socket: PathBuf,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("socket", &self.socket)
            .field("namespace", &self.namespace)
            .finish()
    }
}

impl Runtime {
    /// A runtime for containerd at `socket`, working in `namespace`. Lazy: succeeds
    /// whether or not containerd runs; calls fail with [`RuntimeError::Unavailable`]
    /// until it does.
    pub fn new(socket: &Path, namespace: &str) -> Result<Runtime, RuntimeError> {
        let ns = AsciiMetadataValue::try_from(namespace).map_err(|_| {
            RuntimeError::Spec(format!(
                "namespace {namespace:?} is not a valid header value"
            ))
        })?;
        if namespace.is_empty() {
            return Err(RuntimeError::Spec(
                "the containerd namespace must not be empty".into(),
            ));
        }
        // The URI is required by tonic but unused: the connector dials the socket.
        let endpoint = Endpoint::from_static("http://containerd.invalid")
            .connect_timeout(Duration::from_secs(5));
        let path = socket.to_path_buf();
        let channel = endpoint.connect_with_connector_lazy(tower::service_fn(move |_: Uri| {
            let path = path.clone();
            async move {
                Ok::<_, std::io::Error>(TokioIo::new(tokio::net::UnixStream::connect(path).await?))
            }
        }));
        Ok(Runtime {
            channel,
            ns: Namespaced(ns),
            namespace: namespace.to_string(),
            socket: socket.to_path_buf(),
        })
    }

    /// The containerd namespace this runtime works in.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The containerd socket.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Waits until containerd answers its version service, polling every 100 ms.
    pub async fn wait_ready(&self, timeout: Duration) -> Result<(), RuntimeError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match self.version().await {
                Ok(_) => return Ok(()),
                Err(e) if tokio::time::Instant::now() >= deadline => return Err(e),
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// containerd's version string.
    pub async fn version(&self) -> Result<String, RuntimeError> {
        let v = VersionClient::with_interceptor(self.channel.clone(), self.ns.clone())
            .version(())
            .await?;
        Ok(v.into_inner().version)
    }

    /// The channel, for clients whose requests need no namespace header.
    pub(crate) fn channel(&self) -> Channel {
        self.channel.clone()
    }

    pub(crate) fn containers(&self) -> ContainersClient<Svc> {
        ContainersClient::with_interceptor(self.channel.clone(), self.ns.clone())
    }

    pub(crate) fn content(&self) -> ContentClient<Svc> {
        ContentClient::with_interceptor(self.channel.clone(), self.ns.clone())
    }

    pub(crate) fn diff(&self) -> DiffClient<Svc> {
        DiffClient::with_interceptor(self.channel.clone(), self.ns.clone())
    }

    pub(crate) fn images(&self) -> ImagesClient<Svc> {
        ImagesClient::with_interceptor(self.channel.clone(), self.ns.clone())
    }

    pub(crate) fn leases(&self) -> LeasesClient<Svc> {
        LeasesClient::with_interceptor(self.channel.clone(), self.ns.clone())
    }

    pub(crate) fn snapshots(&self) -> SnapshotsClient<Svc> {
        SnapshotsClient::with_interceptor(self.channel.clone(), self.ns.clone())
    }

    pub(crate) fn tasks(&self) -> TasksClient<Svc> {
        TasksClient::with_interceptor(self.channel.clone(), self.ns.clone())
    }
}

/// A request that belongs to lease `lease` (its content and snapshots are kept
/// from garbage collection until the lease is deleted).
pub(crate) fn leased<T>(msg: T, lease: &Lease) -> tonic::Request<T> {
    let mut req = tonic::Request::new(msg);
    with_lease(req.metadata_mut(), lease);
    req
}

fn with_lease(md: &mut MetadataMap, lease: &Lease) {
    md.insert("containerd-lease", lease.header.clone());
}

/// A containerd lease held during an import.
pub(crate) struct Lease {
    pub(crate) id: String,
    header: AsciiMetadataValue,
}

impl Runtime {
    /// Creates a lease that expires by itself after `ttl` should orc die before
    /// deleting it.
    pub(crate) async fn create_lease(
        &self,
        prefix: &str,
        ttl: Duration,
    ) -> Result<Lease, RuntimeError> {
        use containerd_client::services::v1::CreateRequest;
        let id = format!("{prefix}-{}", crate::util::random_hex(8));
        let expire = prost_types::Timestamp::from(std::time::SystemTime::now() + ttl).to_string();
        let labels = [("containerd.io/gc.expire".to_string(), expire)]
            .into_iter()
            .collect();
        self.leases()
            .create(CreateRequest {
                id: id.clone(),
                labels,
            })
            .await?;
        let header = AsciiMetadataValue::try_from(id.as_str()).map_err(|_| {
            RuntimeError::Spec(format!("lease id {id:?} is not a valid header value"))
        })?;
        Ok(Lease { id, header })
    }

    /// Deletes a lease; its resources become collectable unless referenced.
    pub(crate) async fn delete_lease(&self, lease: Lease) -> Result<(), RuntimeError> {
        use containerd_client::services::v1::DeleteRequest;
        let r = self
            .leases()
            .delete(DeleteRequest {
                id: lease.id,
                sync: false,
            })
            .await;
        crate::error::ignore_not_found(r.map(|_| ()).map_err(RuntimeError::from))
    }
}
