//! Node: one host in the cluster, manager or worker.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Error, Meta, Result};

/// A node as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    /// 25-character ID; also the CN of the node's certificate.
    pub id: String,
    /// Version and timestamps.
    pub meta: Meta,
    /// What operators asked for.
    pub spec: NodeSpec,
    /// What the node reported about itself.
    pub description: NodeDescription,
    /// Liveness as seen by the leader's dispatcher.
    pub status: NodeStatus,
    /// Present while the node is a Raft member.
    pub manager_status: Option<ManagerStatus>,
    /// The role its current certificate carries (lags `spec.role` during promote/demote).
    pub role: Role,
}

/// Operator-controlled part of a node.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeSpec {
    /// Optional name; `docker node ls` shows the hostname instead when empty.
    pub name: String,
    /// `node.labels.*` used by placement constraints.
    pub labels: BTreeMap<String, String>,
    /// Desired role; promote/demote change it.
    pub role: Role,
    /// Whether the scheduler may use the node.
    pub availability: Availability,
}

/// Manager or worker.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Role {
    /// Runs tasks only.
    #[default]
    Worker,
    /// Holds a Raft replica and may lead.
    Manager,
}

impl Role {
    /// Docker's spelling: `worker` / `manager`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Worker => "worker",
            Role::Manager => "manager",
        }
    }

    /// The certificate OU that carries this role.
    pub fn cert_ou(self) -> &'static str {
        match self {
            Role::Worker => "swarm-worker",
            Role::Manager => "swarm-manager",
        }
    }

    /// Parses Docker's spelling, case-insensitively.
    pub fn parse(text: &str) -> Result<Role> {
        match text.to_ascii_lowercase().as_str() {
            "worker" => Ok(Role::Worker),
            "manager" => Ok(Role::Manager),
            _ => Err(Error::Invalid(format!(
                "invalid role {text:?}: must be worker or manager"
            ))),
        }
    }

    /// Parses a certificate OU.
    pub fn from_cert_ou(ou: &str) -> Option<Role> {
        match ou {
            "swarm-worker" => Some(Role::Worker),
            "swarm-manager" => Some(Role::Manager),
            _ => None,
        }
    }
}

/// Scheduling availability.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Availability {
    /// New tasks may be placed.
    #[default]
    Active,
    /// No new tasks; running ones stay.
    Pause,
    /// No tasks; running ones move away.
    Drain,
}

impl Availability {
    /// Docker's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Availability::Active => "active",
            Availability::Pause => "pause",
            Availability::Drain => "drain",
        }
    }

    /// Parses Docker's spelling, case-insensitively.
    pub fn parse(text: &str) -> Result<Availability> {
        match text.to_ascii_lowercase().as_str() {
            "active" => Ok(Availability::Active),
            "pause" => Ok(Availability::Pause),
            "drain" => Ok(Availability::Drain),
            _ => Err(Error::Invalid(format!(
                "invalid availability {text:?}: must be active, pause or drain"
            ))),
        }
    }
}

/// What a node reports about itself when its session opens.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeDescription {
    /// Host name.
    pub hostname: String,
    /// OS and architecture.
    pub platform: Platform,
    /// Capacity for reservations.
    pub resources: Resources,
    /// Engine facts (`engine.labels.*`).
    pub engine: EngineDescription,
}

/// OS and CPU architecture, Docker's spelling (`linux`, `x86_64`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    /// CPU architecture, e.g. `x86_64`.
    pub architecture: String,
    /// Operating system, e.g. `linux`.
    pub os: String,
}

/// CPU and memory capacity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resources {
    /// CPUs × 10⁹.
    pub nano_cpus: i64,
    /// Bytes of memory.
    pub memory_bytes: i64,
}

/// The executor's version and labels.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineDescription {
    /// Version string of the engine.
    pub engine_version: String,
    /// `engine.labels.*` for constraints.
    pub labels: BTreeMap<String, String>,
}

/// Liveness of a node.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStatus {
    /// Ready, down, …
    pub state: NodeState,
    /// Why, when not ready.
    pub message: String,
    /// The IP address the node is reached at.
    pub addr: String,
}

/// Node liveness states, Docker's set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum NodeState {
    /// Not heard from yet.
    #[default]
    Unknown,
    /// Stopped heartbeating.
    Down,
    /// Heartbeating.
    Ready,
    /// Left on purpose.
    Disconnected,
}

impl NodeState {
    /// Docker's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            NodeState::Unknown => "unknown",
            NodeState::Down => "down",
            NodeState::Ready => "ready",
            NodeState::Disconnected => "disconnected",
        }
    }
}

/// Raft membership facts of a manager node.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManagerStatus {
    /// The node's Raft member ID (never reused).
    pub raft_id: u64,
    /// `host:port` other managers reach it at.
    pub addr: String,
}

/// How reachable a manager is; computed when the node is read, not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reachability {
    /// Unknown.
    Unknown,
    /// Not answering.
    Unreachable,
    /// Answering.
    Reachable,
}

impl Reachability {
    /// Docker's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Reachability::Unknown => "unknown",
            Reachability::Unreachable => "unreachable",
            Reachability::Reachable => "reachable",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_docker_spellings() {
        assert_eq!(Role::parse("Manager"), Ok(Role::Manager));
        assert!(Role::parse("boss").is_err());
        assert_eq!(Availability::parse("DRAIN"), Ok(Availability::Drain));
        assert!(Availability::parse("off").is_err());
        assert_eq!(Role::from_cert_ou(Role::Manager.cert_ou()), Some(Role::Manager));
    }
}
