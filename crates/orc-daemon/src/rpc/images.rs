//! Sharing images between nodes without a registry: the serving side of the Image
//! RPC (manifests and blobs from this node's containerd, credentials and holders on a
//! manager). The pulling side is `node::peers`.

use orc_rpc::pb::Frame;
use orc_rpc::wire::{ImageReply, ImageRequest};
use orc_runtime::{ImageRef, RuntimeError};
use std::sync::Arc;
use tokio::sync::mpsc;
use tonic::Status;

/// Answers one Image request into `tx`.
pub async fn serve(
    ctx: Arc<super::RpcContext>,
    from: u64,
    req: ImageRequest,
    tx: mpsc::Sender<Result<Frame, Status>>,
) {
    let runtime = ctx.ops.runtime.clone();
    let send = |m: ImageReply| {
        let tx = tx.clone();
        async move {
            match orc_rpc::encode(&m) {
                Ok(payload) => tx.send(Ok(Frame { payload })).await.is_ok(),
                Err(e) => tx.send(Err(Status::internal(e.to_string()))).await.is_ok(),
            }
        }
    };
    match req {
        ImageRequest::Credentials { registry } => {
            let reply = match ctx.ops.cluster() {
                Ok(c) => {
                    let state = c.snapshot();
                    // Only for a registry of an image that node has to run or hold.
                    let of_registry =
                        |i: &str| ImageRef::parse(i).is_ok_and(|r| r.registry == registry);
                    let needs = state
                        .tasks_on_node(from)
                        .any(|t| of_registry(&t.spec.image))
                        || state.images_wanted_on(from).any(of_registry);
                    let sealed = state
                        .registry_auth
                        .get(&registry)
                        .filter(|_| needs)
                        .cloned();
                    let keys = &ctx.ops.ca_keys;
                    sealed
                        .and_then(|s| crate::cluster::registry_auth::open(keys, &registry, &s).ok())
                        .map(|c| ImageReply::Credentials {
                            username: c.username,
                            password: c.password,
                        })
                }
                Err(_) => None,
            };
            send(reply.unwrap_or(ImageReply::NotFound)).await;
        }
        ImageRequest::Holders { name } => {
            let nodes = match ctx.ops.cluster() {
                Ok(c) => crate::node::peers::holders(
                    &c.snapshot(),
                    &orc_runtime::normalize_reference(&name),
                    from,
                ),
                Err(_) => Vec::new(),
            };
            send(ImageReply::Holders { nodes }).await;
        }
        ImageRequest::Manifest { name } => match runtime.serve_manifest(&name).await {
            Ok(Some(m)) => {
                send(ImageReply::Manifest {
                    bytes: m.bytes,
                    media_type: m.media_type,
                    digest: m.digest,
                })
                .await;
            }
            Ok(None) => {
                send(ImageReply::NotFound).await;
            }
            Err(e) => {
                let _ = tx.send(Err(Status::unavailable(e.to_string()))).await;
            }
        },
        ImageRequest::Blob { digest } => match runtime.blob_chunks(&digest).await {
            Ok(mut rx) => {
                while let Some(c) = rx.recv().await {
                    match c {
                        Ok(data) => {
                            if !send(ImageReply::Chunk(data)).await {
                                return;
                            }
                        }
                        Err(e) => {
                            let _ = tx.send(Err(Status::unavailable(e.to_string()))).await;
                            return;
                        }
                    }
                }
            }
            Err(RuntimeError::NotFound(m)) => {
                let _ = tx.send(Err(Status::not_found(m))).await;
            }
            Err(e) => {
                let _ = tx.send(Err(Status::unavailable(e.to_string()))).await;
            }
        },
    }
}
