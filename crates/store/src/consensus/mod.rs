//! Drives openraft over our storage: the store's whole use of the Raft library, so its alpha
//! API changes touch few places (the manager names it too, for the network in `raft_net.rs`
//! and the Raft RPC service in `services/raft.rs`).
//!
//! ```text
//!   write(txn) ──► leader? ──yes──► raft.client_write ──► log (redb) ──► replicate ──► commit
//!                     │                                                                 │
//!                     └─no──► Error::ForwardToLeader (caller forwards over RPC)          ▼
//!                                                              StateMachine::apply ─► Store
//! ```

mod log_migration;
mod log_store;
mod log_tail;
mod state_machine;
mod types;
mod v1;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ::types::cluster::{RAFT_TICK_MILLIS, RaftSettings};
pub use log_store::LogStore;
use openraft::async_runtime::WatchReceiver;
use openraft::error::{ClientWriteError, RaftError};
pub use openraft::metrics::RaftMetrics;
pub use openraft::network::RaftNetworkFactory;
use openraft::{ChangeMembers, Config, ServerState, SnapshotPolicy};
pub use state_machine::StateMachine;
pub use types::{Entry, LogId, Peer, Raft, Snapshot, SnapshotMeta, StoredMembership, TypeConfig, Vote};

use crate::crypto::DataKey;
use crate::{Error, Result, Store, Txn};

/// Re-exports of openraft's wire types, for the RPC layer.
pub mod wire {
    pub use openraft::error::{
        NetworkError, RPCError, RaftError, ReplicationClosed, StreamingError, Unreachable,
    };
    pub use openraft::network::RPCOption;
    pub use openraft::network::v2::RaftNetworkV2;
    pub use openraft::raft::{
        AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, TransferLeaderRequest,
        TransferLeaderResponse, VoteRequest, VoteResponse,
    };
}

/// One manager's Raft replica plus the store it feeds.
#[derive(Clone)]
pub struct Consensus {
    raft: Raft,
    store: Store,
    log: LogStore,
    id: u64,
    dir: PathBuf,
    write_timeout: Duration,
    /// Last log index at open (see [`Consensus::log_end_at_open`]).
    log_end_at_open: u64,
}

/// Keeps the log's in-memory tail to the entries someone still has to read: on every
/// progress of applying or replicating, the rest is released. Ends with Raft.
async fn release_log_tail(
    mut rx: openraft::type_config::alias::WatchReceiverOf<
        TypeConfig,
        openraft::metrics::RaftDataMetrics<TypeConfig>,
    >,
    log: LogStore,
) {
    loop {
        let (applied, matched) = {
            let m = rx.borrow_watched();
            let matched: Vec<Option<u64>> = m
                .replication
                .iter()
                .flat_map(|r| r.values().map(|id| id.as_ref().map(|id| id.index())))
                .collect();
            (m.last_applied.as_ref().map(|id| id.index()), matched)
        };
        log.release(applied, &matched);
        if rx.changed().await.is_err() {
            return;
        }
    }
}

/// Openraft timing derived from Swarm's tick counts (see [`RAFT_TICK_MILLIS`]).
pub fn raft_config(settings: &RaftSettings) -> Result<Config> {
    let tick = RAFT_TICK_MILLIS;
    let heartbeat = tick * u64::from(settings.heartbeat_tick.max(1));
    // Election timeout is randomised in [ElectionTick/2, ElectionTick) ticks. openraft's leader
    // lease equals the upper bound, and failover costs lease + timeout, so with the defaults
    // (tick 50 ms, ElectionTick 10) a dead leader is replaced in about 0.8–1 s.
    let election_max = (tick * u64::from(settings.election_tick.max(4))).max(heartbeat * 4);
    let election_min = election_max / 2;
    let config = Config {
        cluster_name: "shoal".to_string(),
        heartbeat_interval: heartbeat,
        election_timeout_min: election_min,
        election_timeout_max: election_max,
        enable_pre_vote: Some(true),
        // Snapshots are triggered by `snapshot_if_due`, which reads the interval from the
        // replicated cluster spec so `swarm update --snapshot-interval` applies at run time.
        snapshot_policy: SnapshotPolicy::Never,
        max_in_snapshot_log_to_keep: settings.log_entries_for_slow_followers,
        purge_batch_size: 1,
        install_snapshot_timeout: 60_000,
        ..Default::default()
    };
    config.validate().map_err(|e| Error::Raft(e.to_string()))
}

impl Consensus {
    /// Opens the replica in `dir` (creating it if empty; its log and snapshots sealed with
    /// `key`) and starts Raft.
    pub async fn open<N>(
        dir: &Path,
        id: u64,
        settings: &RaftSettings,
        network: N,
        key: DataKey,
    ) -> Result<Consensus>
    where
        N: RaftNetworkFactory<TypeConfig>,
        N::Network: openraft::network::NetSnapshot<TypeConfig, SnapshotData = Vec<u8>>,
    {
        std::fs::create_dir_all(dir)?;
        let store = Store::default();
        let log = LogStore::open(dir, key.clone())?;
        let sm = StateMachine::open(dir, store.clone(), settings.keep_old_snapshots as usize, key)?;
        let config = raft_config(settings)?;
        let write_timeout = Duration::from_millis(config.election_timeout_max * 4);
        let log_end_at_open = {
            use openraft::storage::RaftLogStorage;
            let mut reader = log.clone();
            let state = reader
                .get_log_state()
                .await
                .map_err(|e| Error::Raft(e.to_string()))?;
            state.last_log_id.map(|id| id.index()).unwrap_or(0)
        };
        let raft = Raft::new(id, Arc::new(config), network, log.clone(), sm)
            .await
            .map_err(|e| Error::Raft(e.to_string()))?;
        tokio::spawn(release_log_tail(raft.data_metrics(), log.clone()));
        Ok(Consensus {
            raft,
            store,
            log,
            id,
            dir: dir.to_path_buf(),
            write_timeout,
            log_end_at_open,
        })
    }

    /// Makes this replica a one-member cluster (swarm init).
    pub async fn bootstrap(&self, me: Peer) -> Result<()> {
        let members = BTreeMap::from([(self.id, me)]);
        self.raft
            .initialize(members)
            .await
            .map_err(|e| Error::Raft(e.to_string()))
    }

    /// Rewrites membership to just this replica (`--force-new-cluster`): every other member is
    /// dropped, data is kept. Only valid on a stopped cluster member, so it re-initialises
    /// by writing a new membership through this node alone.
    pub fn raft(&self) -> &Raft {
        &self.raft
    }

    /// The store this replica applies to.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The durable log (benchmarks read entry sizes from it).
    pub fn log(&self) -> &LogStore {
        &self.log
    }

    /// This replica's Raft member ID.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Directory holding the log and snapshots.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Latest metrics.
    pub fn metrics(&self) -> RaftMetrics<TypeConfig> {
        self.raft.metrics().borrow_watched().clone()
    }

    /// Waits until the metrics satisfy `ready` (e.g. a leader is known, an index applied).
    /// Returns an error if Raft stops first.
    pub async fn wait_for(&self, ready: impl Fn(&RaftMetrics<TypeConfig>) -> bool) -> Result<()> {
        let mut rx = self.raft.metrics();
        loop {
            if ready(&rx.borrow_watched()) {
                return Ok(());
            }
            rx.changed()
                .await
                .map_err(|_| Error::Raft("raft stopped".into()))?;
        }
    }

    /// Index of the last entry this replica's log held when it opened. Until Raft has
    /// re-applied up to it, the store is behind what this replica already acknowledged
    /// (after a restart it starts from the snapshot), so reads wait for it.
    pub fn log_end_at_open(&self) -> u64 {
        self.log_end_at_open
    }

    /// Index of the last entry applied to the store.
    pub fn applied_index(&self) -> u64 {
        self.raft
            .metrics()
            .borrow_watched()
            .last_applied
            .as_ref()
            .map(|l| l.index())
            .unwrap_or(0)
    }

    /// True while this replica leads.
    pub fn is_leader(&self) -> bool {
        let m = self.raft.metrics();
        let m = m.borrow_watched();
        m.state == ServerState::Leader && m.current_leader == Some(self.id)
    }

    /// The current leader as this replica knows it.
    pub fn leader(&self) -> Option<(u64, Peer)> {
        let m = self.raft.metrics();
        let m = m.borrow_watched();
        let id = m.current_leader?;
        let peer = m.membership_config.get_node(&id)?.clone();
        Some((id, peer))
    }

    /// Voting members and their addresses, from the last applied membership.
    pub fn voters(&self) -> BTreeMap<u64, Peer> {
        let m = self.raft.metrics();
        let m = m.borrow_watched();
        let voters: BTreeSet<u64> = m.membership_config.voter_ids().collect();
        m.membership_config
            .nodes()
            .filter(|(id, _)| voters.contains(id))
            .map(|(id, p)| (*id, p.clone()))
            .collect()
    }

    /// Every member including learners.
    pub fn members(&self) -> BTreeMap<u64, Peer> {
        let m = self.raft.metrics();
        let m = m.borrow_watched();
        m.membership_config
            .nodes()
            .map(|(id, p)| (*id, p.clone()))
            .collect()
    }

    /// Commits `txn` if this replica leads; otherwise says where the leader is. Fails fast
    /// with [`Error::NoLeader`] when no quorum acknowledges the leader.
    pub async fn write(&self, txn: Txn) -> Result<u64> {
        let write = self.raft.client_write(Arc::new(txn));
        let response = match tokio::time::timeout(self.write_timeout, write).await {
            Err(_) => return Err(Error::NoLeader),
            Ok(r) => r,
        };
        match response {
            Ok(resp) => Ok(resp.data?),
            Err(err) => Err(self.map_write_error(err)),
        }
    }

    fn map_write_error(&self, err: RaftError<TypeConfig, ClientWriteError<TypeConfig>>) -> Error {
        match err {
            RaftError::APIError(ClientWriteError::ForwardToLeader(f))
            | RaftError::APIError(ClientWriteError::LogEntryDiscarded(f)) => {
                match (f.leader_id, f.leader_node) {
                    (Some(id), Some(node)) if id != self.id => Error::ForwardToLeader {
                        leader_id: id,
                        addr: node.addr,
                    },
                    _ => Error::NoLeader,
                }
            }
            other => Error::Raft(other.to_string()),
        }
    }

    /// Adds `id` as a learner and waits until it has caught up (snapshot streamed if needed).
    pub async fn add_learner(&self, id: u64, peer: Peer) -> Result<()> {
        self.raft
            .add_learner(id, peer, true)
            .await
            .map(|_| ())
            .map_err(|e| self.map_write_error(e))
    }

    /// Makes learner `id` a voter.
    pub async fn promote_voter(&self, id: u64) -> Result<()> {
        let change = ChangeMembers::AddVoterIds(BTreeSet::from([id]));
        self.raft
            .change_membership(change, false)
            .await
            .map(|_| ())
            .map_err(|e| self.map_write_error(e))
    }

    /// Removes `id` from the voters and from the member list.
    pub async fn remove_member(&self, id: u64) -> Result<()> {
        let voters: BTreeSet<u64> = self.voters().into_keys().collect();
        if voters.contains(&id) {
            let change = ChangeMembers::RemoveVoters(BTreeSet::from([id]));
            self.raft
                .change_membership(change, false)
                .await
                .map_err(|e| self.map_write_error(e))?;
        }
        if self.members().contains_key(&id) {
            let change = ChangeMembers::RemoveNodes(BTreeSet::from([id]));
            self.raft
                .change_membership(change, false)
                .await
                .map_err(|e| self.map_write_error(e))?;
        }
        Ok(())
    }

    /// Builds a snapshot when `interval` entries were applied since the last one.
    pub async fn snapshot_if_due(&self, interval: u64) -> Result<bool> {
        let m = self.metrics();
        let applied = m.last_applied.as_ref().map(|l| l.index()).unwrap_or(0);
        let last = m.snapshot.as_ref().map(|l| l.index()).unwrap_or(0);
        if interval == 0 || applied < last + interval {
            return Ok(false);
        }
        self.raft
            .trigger()
            .snapshot()
            .await
            .map_err(|e| Error::Raft(e.to_string()))?;
        Ok(true)
    }

    /// Stops Raft.
    pub async fn shutdown(&self) {
        let _ = self.raft.shutdown().await;
    }
}
