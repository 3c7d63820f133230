//! openraft's own storage test suite against the sled store, each store in its own dir.

use openraft::testing::{StoreBuilder, Suite};
use openraft::StorageIOError;
use orc_store::{LogStore, StateMachineStore, StorageError, StoreConfig, TypeConfig};
use tempfile::TempDir;

struct SledStoreBuilder;

impl StoreBuilder<TypeConfig, LogStore, StateMachineStore, TempDir> for SledStoreBuilder {
    async fn build(&self) -> Result<(TempDir, LogStore, StateMachineStore), StorageError> {
        let dir = tempfile::tempdir().map_err(|e| StorageIOError::write(&e))?;
        let (log, sm) = orc_store::open(dir.path(), &StoreConfig::default())
            .map_err(|e| StorageIOError::write(&e))?;
        Ok((dir, log, sm))
    }
}

#[test]
fn openraft_store_suite() {
    Suite::test_all(SledStoreBuilder).expect("openraft store suite");
}
