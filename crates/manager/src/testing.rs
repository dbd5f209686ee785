//! An in-process cluster of real managers for tests and benchmarks: each with its own redb
//! log on disk, its own mutual-TLS gRPC listener on loopback, and its own certificate from one
//! root CA. (Compiled only with the `testing` feature.)

use std::sync::Arc;

use crate::{Manager, ManagerConfig, Start};
use arc_swap::ArcSwap;
use rand::SeedableRng;
use rand::rngs::StdRng;
use store::Op;
use types::cluster::RaftSettings;
use types::{Clock, Cluster, ClusterSpec, JoinTokens, Meta, Node, Object, Role, RootCa, Timestamp};

/// The wall clock, for timestamps in the objects the benchmark writes.
pub struct WallClock;

impl Clock for WallClock {
    #[allow(clippy::disallowed_methods)]
    fn now(&self) -> Timestamp {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp(d.as_nanos() as i64)
    }
}

/// A node object for the store.
pub fn node(id: &str, role: Role) -> Node {
    types::testing::node(id).role(role).addr("127.0.0.1").build()
}

/// Managers of one cluster, leader first.
pub struct LocalCluster {
    /// The managers (index 0 bootstrapped the cluster).
    pub managers: Vec<Manager>,
    /// The root CA, for issuing more certificates.
    pub root: ca::RootCa,
    /// The cluster ID.
    pub cluster_id: String,
    /// The first manager's cluster address.
    pub addr: String,
    /// The largest snapshot each manager accepts (its `ManagerConfig.max_snapshot_bytes`).
    pub max_snapshot_bytes: u64,
    dir: tempfile::TempDir,
}

impl LocalCluster {
    /// Starts `size` managers with default Raft settings.
    pub async fn start(size: usize) -> anyhow::Result<LocalCluster> {
        Self::start_with(size, RaftSettings::default()).await
    }

    /// Starts `size` managers and waits until all are voters.
    pub async fn start_with(size: usize, settings: RaftSettings) -> anyhow::Result<LocalCluster> {
        Self::start_limited(size, settings, crate::grpc::raft::DEFAULT_MAX_SNAPSHOT_BYTES).await
    }

    /// [`LocalCluster::start_with`] whose managers accept snapshots of at most
    /// `max_snapshot_bytes`.
    pub async fn start_limited(
        size: usize,
        settings: RaftSettings,
        max_snapshot_bytes: u64,
    ) -> anyhow::Result<LocalCluster> {
        let dir = tempfile::Builder::new()
            .prefix("shoal-cluster-")
            .tempdir_in(std::env::temp_dir())?;
        let clock: Arc<dyn Clock> = Arc::new(WallClock);
        let now_secs = clock.now().0 / 1_000_000_000;
        let root = ca::RootCa::generate(now_secs)?;
        let cluster_id = "benchcluster".to_string();
        let mut managers: Vec<Manager> = Vec::new();
        let mut cluster = LocalCluster {
            managers: Vec::new(),
            root: root.clone(),
            cluster_id: cluster_id.clone(),
            addr: String::new(),
            max_snapshot_bytes,
            dir,
        };
        for i in 0..size {
            let m = cluster
                .start_manager(i, &settings, clock.clone(), &managers)
                .await?;
            managers.push(m);
        }
        cluster.addr = managers[0]
            .consensus()
            .leader()
            .map(|(_, p)| p.addr)
            .unwrap_or_default();
        cluster.managers = managers;
        Ok(cluster)
    }

    /// Starts manager number `i` (0 bootstraps; others join through `existing[0]`).
    pub async fn start_manager(
        &self,
        i: usize,
        settings: &RaftSettings,
        clock: Arc<dyn Clock>,
        existing: &[Manager],
    ) -> anyhow::Result<Manager> {
        let (root, cluster_id, dir) = (&self.root, &self.cluster_id, &self.dir);
        let now_secs = clock.now().0 / 1_000_000_000;
        let node_id = format!("manager{i}");
        let key = ca::NodeKey::generate()?;
        let cert = root.issue(
            &key.csr_pem,
            &node_id,
            Role::Manager,
            cluster_id,
            now_secs,
            86_400,
        )?;
        let server = ca::tls::server_config(&cert, &key.key_pem, root.cert_pem())?;
        let client = ca::tls::client_config(&cert, &key.key_pem, root.cert_pem())?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?.to_string();
        let cfg = ManagerConfig {
            node_id: node_id.clone(),
            cluster_id: cluster_id.clone(),
            raft_id: i as u64 + 1,
            advertise_addr: addr.clone(),
            raft_dir: dir.path().join(&node_id),
            raft_settings: settings.clone(),
            data_key: test_data_key(i)?,
            tunnel_key_rotation: crate::dispatcher::tunnel_keys::DEFAULT_ROTATION,
            max_snapshot_bytes: self.max_snapshot_bytes,
        };
        let start = if i == 0 {
            let cluster = Cluster {
                id: cluster_id.clone(),
                meta: Meta::default(),
                spec: ClusterSpec {
                    raft: settings.clone(),
                    ..ClusterSpec::default()
                },
                root_ca: RootCa {
                    ca_cert_pem: root.cert_pem().into(),
                    ca_key_pem: root.key_pem().into(),
                    join_tokens: JoinTokens::default(),
                },
                default_addr_pool: vec!["10.0.0.0/8".into()],
                subnet_size: 24,
                data_path_port: 4789,
            };
            Start::Bootstrap {
                cluster: Box::new(cluster),
                node: Box::new(node(&node_id, Role::Manager)),
                unlock_key: None,
            }
        } else {
            // The node object exists before it asks to join, as after `swarm join`.
            existing[0]
                .propose(vec![Op::Create(Object::Node(node(&node_id, Role::Manager)))])
                .await?;
            Start::Join {
                remotes: vec![
                    existing[0]
                        .consensus()
                        .leader()
                        .map(|(_, p)| p.addr)
                        .unwrap_or_default(),
                ],
            }
        };
        let m = Manager::start(
            cfg,
            start,
            listener,
            Arc::new(ArcSwap::new(server)),
            rpc::Pool::new(client),
            clock.clone(),
            StdRng::seed_from_u64(i as u64),
        )
        .await?;
        Ok(m)
    }

    /// Starts manager number `i` again over its Raft data, at `addr` (where the others know
    /// it), as a restarted process would.
    pub async fn restart_manager(
        &self,
        i: usize,
        addr: &str,
        settings: &RaftSettings,
    ) -> anyhow::Result<Manager> {
        let node_id = format!("manager{i}");
        let (cert, key) = self.issue(&node_id, Role::Manager)?;
        let server = ca::tls::server_config(&cert, &key, self.root.cert_pem())?;
        let client = ca::tls::client_config(&cert, &key, self.root.cert_pem())?;
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let cfg = ManagerConfig {
            node_id: node_id.clone(),
            cluster_id: self.cluster_id.clone(),
            raft_id: i as u64 + 1,
            advertise_addr: addr.to_string(),
            raft_dir: self.dir.path().join(&node_id),
            raft_settings: settings.clone(),
            data_key: test_data_key(i)?,
            tunnel_key_rotation: crate::dispatcher::tunnel_keys::DEFAULT_ROTATION,
            max_snapshot_bytes: self.max_snapshot_bytes,
        };
        let m = Manager::start(
            cfg,
            Start::Resume,
            listener,
            Arc::new(ArcSwap::new(server)),
            rpc::Pool::new(client),
            Arc::new(WallClock),
            StdRng::seed_from_u64(i as u64 + 1000),
        )
        .await?;
        Ok(m)
    }

    /// A certificate for a new node with `role`: (cert PEM, key PEM).
    pub fn issue(&self, node_id: &str, role: Role) -> anyhow::Result<(String, String)> {
        let key = ca::NodeKey::generate()?;
        let now_secs = WallClock.now().0 / 1_000_000_000;
        Ok((
            self.root
                .issue(&key.csr_pem, node_id, role, &self.cluster_id, now_secs, 3600)?,
            key.key_pem,
        ))
    }

    /// The current leader.
    pub fn leader(&self) -> Option<&Manager> {
        self.managers.iter().find(|m| m.is_leader())
    }

    /// Stops every manager.
    pub async fn stop(&self) {
        for m in &self.managers {
            m.stop().await;
        }
    }
}

/// Manager `i`'s data key: fixed per index, so that `restart_manager` opens what
/// `start_manager` sealed (a real manager keeps its key in `keys.json`).
fn test_data_key(i: usize) -> anyhow::Result<store::crypto::DataKey> {
    Ok(store::crypto::DataKey::from_bytes(&[i as u8 ^ 0x5a; 32])?)
}
