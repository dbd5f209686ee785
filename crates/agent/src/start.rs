//! Agent assembly: the one place a node's agent is put together, for the daemon's node and
//! for every hollow node alike.
//!
//! ```text
//! start(executor config, network layer, payloads, clock, description)
//!   └► executor ─► describe (engine facts into the description)
//!               ─► runner::Worker (re-attaches tasks left running) + network layer
//!               ─► Started { link: TaskLink { tasks, statuses }, description }
//!                     (the caller may wrap the link here, e.g. container events)
//! Started::session(pool, managers, events) ─► Agent (session, heartbeats, status reports)
//! ```
//!
//! The two phases are apart because a node needs its described self before its session: a
//! joining node sends the description with its certificate request, and a manager's first
//! node object carries it.

use std::sync::Arc;

use rpc::Pool;
use tokio::sync::mpsc;
use types::{Clock, NodeDescription};

use crate::executor::docker::{DockerConfig, DockerExecutor};
use crate::executor::oci::{OciConfig, OciExecutor};
use crate::executor::process::{ProcessConfig, ProcessExecutor};
use crate::executor::sim::{SimConfig, SimExecutor};
use crate::executor::{EngineInfo, Executor, Result};
use crate::network::NodeNetwork;
use crate::payloads::Payloads;
use crate::runner::Worker;
use crate::session::{Agent, AgentEvent, TaskLink};
use crate::tasks::WorkerTasks;

/// Which executor runs the node's tasks, with its configuration.
#[derive(Clone)]
pub enum ExecutorConfig {
    /// Native processes supervised by `shoal task-shim`.
    Process(ProcessConfig),
    /// Containers run by libcontainer under `shoal task-shim`.
    Oci(OciConfig),
    /// Containers on a local dockerd.
    Docker(DockerConfig),
    /// Simulated tasks (hollow nodes, benchmarks).
    Sim(SimConfig),
}

impl ExecutorConfig {
    /// The executor's name, as `shoal agent --executor` spells it.
    pub fn kind(&self) -> &'static str {
        match self {
            ExecutorConfig::Process(_) => "process",
            ExecutorConfig::Oci(_) => "oci",
            ExecutorConfig::Docker(_) => "docker",
            ExecutorConfig::Sim(_) => "sim",
        }
    }
}

/// A node's task side, started and described, before its session.
pub struct Started {
    /// The worker as the session drives it, and the statuses it reports.
    pub link: TaskLink,
    /// The node's description with the executor's engine facts filled in.
    pub description: NodeDescription,
}

impl Started {
    /// Starts the session against `managers` (any of them; it finds the leader), handing it
    /// this task side; the cluster's word for the node arrives on `events`.
    pub fn session(self, pool: Pool, managers: Vec<String>, events: mpsc::Sender<AgentEvent>) -> Agent {
        Agent::start(pool, managers, self.description, events, Some(self.link))
    }
}

/// Starts the executor `config` names and its worker (re-attaching to tasks a previous agent
/// left running) over `network` (and `payloads`: the node's secrets and configs, if it has a
/// place for them), and fills the engine part of `description` from the executor.
pub async fn start(
    config: ExecutorConfig,
    network: Arc<NodeNetwork>,
    payloads: Option<Arc<Payloads>>,
    clock: Arc<dyn Clock>,
    description: NodeDescription,
) -> Result<Started> {
    match config {
        ExecutorConfig::Process(config) => {
            let executor = Arc::new(ProcessExecutor::new(config)?);
            over(executor, network, payloads, clock, description).await
        }
        ExecutorConfig::Oci(config) => {
            let executor = Arc::new(OciExecutor::new(config)?);
            over(executor, network, payloads, clock, description).await
        }
        ExecutorConfig::Docker(config) => {
            let executor = Arc::new(DockerExecutor::connect(config).await?);
            over(executor, network, payloads, clock, description).await
        }
        ExecutorConfig::Sim(config) => {
            let executor = Arc::new(SimExecutor::new(config, clock.clone()));
            over(executor, network, payloads, clock, description).await
        }
    }
}

/// The worker over one started executor.
async fn over<E: Executor>(
    executor: Arc<E>,
    network: Arc<NodeNetwork>,
    payloads: Option<Arc<Payloads>>,
    clock: Arc<dyn Clock>,
    mut description: NodeDescription,
) -> Result<Started> {
    fill(&mut description, executor.describe().await?);
    let (tx, statuses) = mpsc::unbounded_channel();
    let mut worker = Worker::start(executor, clock, tx).await?.with_network(network);
    if let Some(payloads) = payloads {
        worker = worker.with_payloads(payloads);
    }
    Ok(Started {
        link: TaskLink {
            tasks: WorkerTasks::new(worker),
            statuses,
        },
        description,
    })
}

/// The executor's engine facts go into the node description; labels the node was given (on
/// the command line) win over the executor's own, and an executor that cannot tell its
/// resources leaves the host's.
fn fill(description: &mut NodeDescription, info: EngineInfo) {
    description.engine.engine_version = info.engine_version;
    for (k, v) in info.labels {
        description.engine.labels.entry(k).or_insert(v);
    }
    if info.resources.nano_cpus > 0 {
        description.resources = info.resources;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_executors_facts_fill_the_description_and_given_labels_win() {
        let mut description = NodeDescription::default();
        description.engine.labels.insert("zone".into(), "a".into());
        let host = types::Resources {
            nano_cpus: 2,
            memory_bytes: 3,
        };
        description.resources = host;
        let mut info = EngineInfo {
            engine_version: "v1".into(),
            labels: [("zone".into(), "b".into()), ("disk".into(), "ssd".into())].into(),
            resources: types::Resources::default(),
        };
        fill(&mut description, info.clone());
        assert_eq!(description.engine.engine_version, "v1");
        assert_eq!(description.engine.labels["zone"], "a");
        assert_eq!(description.engine.labels["disk"], "ssd");
        assert_eq!(
            description.resources, host,
            "no resources from the executor: the host's stay"
        );
        info.resources.nano_cpus = 8;
        fill(&mut description, info.clone());
        assert_eq!(description.resources, info.resources);
    }
}
