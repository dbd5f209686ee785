//! openraft's storage conformance suite, run against shoal's log store and state machine as
//! they run in a manager: on disk (redb and snapshot files in a fresh directory) and sealed
//! under a data key. The suite checks what openraft relies on: vote and log persistence,
//! truncation and purge, log-state reporting, membership and snapshot handling.

use openraft::StorageError;
use openraft::testing::log::{StoreBuilder, Suite};
use store::consensus::{LogStore, StateMachine, TypeConfig};
use store::crypto::DataKey;
use store::{State, Store};

struct OnDisk;

impl StoreBuilder<TypeConfig, LogStore, StateMachine, tempfile::TempDir> for OnDisk {
    async fn build(&self) -> Result<(tempfile::TempDir, LogStore, StateMachine), StorageError<TypeConfig>> {
        let failed = |e: String| {
            StorageError::from_io_error(
                openraft::ErrorSubject::Store,
                openraft::ErrorVerb::Write,
                std::io::Error::other(e),
            )
        };
        let dir = tempfile::tempdir().map_err(|e| failed(e.to_string()))?;
        let key = DataKey::generate().map_err(|e| failed(e.to_string()))?;
        let log = LogStore::open(dir.path(), key.clone()).map_err(|e| failed(e.to_string()))?;
        let sm = StateMachine::open(dir.path(), Store::new(State::default()), 1, key)
            .map_err(|e| failed(e.to_string()))?;
        Ok((dir, log, sm))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_store_and_state_machine_pass_openraft_storage_suite() {
    if let Err(e) = Suite::test_all(OnDisk).await {
        panic!("openraft storage suite: {e}");
    }
}
