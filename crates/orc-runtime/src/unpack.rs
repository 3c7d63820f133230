//! Unpacking layers into committed snapshots named by chain id.

use crate::client::{leased, Lease, SNAPSHOTTER};
use crate::error::ignore_not_found;
use crate::manifest::Descriptor;
use crate::util::{chain_ids, random_hex};
use crate::{Runtime, RuntimeError};
use containerd_client::services::v1::snapshots::{
    CommitSnapshotRequest, PrepareSnapshotRequest, RemoveSnapshotRequest, StatSnapshotRequest,
};
use containerd_client::services::v1::ApplyRequest;
use containerd_client::types;

impl Runtime {
    /// True if snapshot `key` exists.
    pub(crate) async fn snapshot_exists(&self, key: &str) -> Result<bool, RuntimeError> {
        let req = StatSnapshotRequest {
            snapshotter: SNAPSHOTTER.into(),
            key: key.into(),
        };
        match self.snapshots().stat(req).await {
            Ok(_) => Ok(true),
            Err(s) if s.code() == tonic::Code::NotFound => Ok(false),
            Err(s) => Err(s.into()),
        }
    }

    /// Removes snapshot `key`; absent is fine.
    pub(crate) async fn remove_snapshot(&self, key: &str) -> Result<(), RuntimeError> {
        let req = RemoveSnapshotRequest {
            snapshotter: SNAPSHOTTER.into(),
            key: key.into(),
        };
        ignore_not_found(
            self.snapshots()
                .remove(req)
                .await
                .map(|_| ())
                .map_err(RuntimeError::from),
        )
    }

    /// Unpacks `layers` (already in the content store) so that the snapshot of the
    /// top chain id exists; checks each layer unpacks to its diff id. Returns the
    /// chain ids.
    pub(crate) async fn unpack(
        &self,
        lease: &Lease,
        layers: &[Descriptor],
        diff_ids: &[String],
    ) -> Result<Vec<String>, RuntimeError> {
        let chains = chain_ids(diff_ids);
        for (i, layer) in layers.iter().enumerate() {
            let chain = &chains[i];
            if self.snapshot_exists(chain).await? {
                continue;
            }
            let parent = if i == 0 {
                String::new()
            } else {
                chains[i - 1].clone()
            };
            let key = format!("orc-extract-{}-{chain}", random_hex(6));
            let prep = PrepareSnapshotRequest {
                snapshotter: SNAPSHOTTER.into(),
                key: key.clone(),
                parent,
                labels: Default::default(),
            };
            let mounts = self
                .snapshots()
                .prepare(leased(prep, lease))
                .await?
                .into_inner()
                .mounts;
            let r = self
                .apply_and_commit(lease, layer, &diff_ids[i], mounts, &key, chain)
                .await;
            match r {
                Ok(()) => {}
                Err(e) if e.is_already_exists() => self.remove_snapshot(&key).await?,
                Err(e) => {
                    let _ = self.remove_snapshot(&key).await;
                    return Err(e);
                }
            }
        }
        Ok(chains)
    }

    async fn apply_and_commit(
        &self,
        lease: &Lease,
        layer: &Descriptor,
        diff_id: &str,
        mounts: Vec<types::Mount>,
        key: &str,
        chain: &str,
    ) -> Result<(), RuntimeError> {
        let desc = types::Descriptor {
            media_type: layer.media_type.clone(),
            digest: layer.digest.clone(),
            size: layer.size,
            annotations: Default::default(),
        };
        let req = ApplyRequest {
            diff: Some(desc),
            mounts,
            payloads: Default::default(),
            sync_fs: false,
        };
        let applied = match self.diff().apply(req).await {
            Ok(r) => r.into_inner().applied.map(|d| d.digest).unwrap_or_default(),
            // A layer containerd cannot unpack is a broken archive, not a broken containerd.
            Err(s)
                if matches!(
                    s.code(),
                    tonic::Code::Unknown | tonic::Code::InvalidArgument
                ) =>
            {
                return Err(RuntimeError::archive(format!(
                    "layer {} cannot be unpacked: {}",
                    layer.digest,
                    s.message()
                )))
            }
            Err(s) => return Err(s.into()),
        };
        if applied != diff_id {
            return Err(RuntimeError::archive(format!(
                "layer {} unpacks to {applied}, the image config says {diff_id}",
                layer.digest
            )));
        }
        let commit = CommitSnapshotRequest {
            snapshotter: SNAPSHOTTER.into(),
            name: chain.into(),
            key: key.into(),
            labels: Default::default(),
        };
        self.snapshots().commit(leased(commit, lease)).await?;
        Ok(())
    }
}
