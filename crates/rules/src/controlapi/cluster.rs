//! The cluster object: spec validation, updates and join-token rotation.

use rand::RngCore;
use state::{Op, State};
use types::{Cluster, ClusterSpec, Object};

use crate::{Error, Result};

/// Shortest node certificate validity Swarm accepts: one hour.
pub const MIN_CERT_EXPIRY_NANOS: i64 = 3600 * 1_000_000_000;

/// Which join tokens to replace.
#[derive(Debug, Clone, Copy, Default)]
pub struct Rotation {
    /// New worker token.
    pub worker_token: bool,
    /// New manager token.
    pub manager_token: bool,
}

/// Swarm's checks on a cluster spec.
pub fn validate(spec: &ClusterSpec) -> Result<()> {
    if spec.name != "default" {
        return Err(Error::InvalidArgument(
            "modification of cluster name is not allowed".into(),
        ));
    }
    if spec.node_cert_expiry < MIN_CERT_EXPIRY_NANOS {
        return Err(Error::InvalidArgument(
            "minimum certificate expiry time is: 1h0m0s".into(),
        ));
    }
    if spec.dispatcher_heartbeat_period < 0 {
        return Err(Error::InvalidArgument(
            "heartbeat time period cannot be a negative duration".into(),
        ));
    }
    if spec.raft.heartbeat_tick == 0 || spec.raft.election_tick <= spec.raft.heartbeat_tick {
        return Err(Error::InvalidArgument(
            "raft election tick must be greater than heartbeat tick (and both positive)".into(),
        ));
    }
    if spec.raft.snapshot_interval == 0 {
        return Err(Error::InvalidArgument(
            "raft snapshot interval must be positive".into(),
        ));
    }
    Ok(())
}

/// A fresh join token for the CA in `cluster`.
pub fn new_token(cluster: &Cluster, rng: &mut impl RngCore) -> String {
    ca::JoinToken::generate(ca::ca_digest(&cluster.root_ca.ca_cert_pem), rng).to_string()
}

/// Plans `POST /swarm/update`: new spec (keeping what the spec cannot change) and rotations.
pub fn update(
    state: &State,
    version: u64,
    spec: ClusterSpec,
    rotation: Rotation,
    rng: &mut impl RngCore,
) -> Result<Op> {
    validate(&spec)?;
    let current = state
        .cluster()
        .ok_or_else(|| Error::FailedPrecondition("swarm is not initialised".into()))?;
    let mut next = (**current).clone();
    let max_tasks = if spec.max_tasks == 0 {
        // `docker swarm update` sends the whole spec without shoal's MaxTasks: keep it.
        current.spec.max_tasks
    } else {
        spec.max_tasks
    };
    next.spec = spec;
    next.spec.max_tasks = max_tasks;
    if rotation.worker_token {
        next.root_ca.join_tokens.worker = new_token(&next, rng);
    }
    if rotation.manager_token {
        next.root_ca.join_tokens.manager = new_token(&next, rng);
    }
    Ok(Op::Update {
        object: Object::Cluster(next),
        expect_version: Some(version),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_rules() {
        assert!(validate(&ClusterSpec::default()).is_ok());
        let renamed = ClusterSpec {
            name: "other".into(),
            ..Default::default()
        };
        assert_eq!(
            validate(&renamed).unwrap_err(),
            Error::InvalidArgument("modification of cluster name is not allowed".into())
        );
        let short = ClusterSpec {
            node_cert_expiry: 1_000_000_000,
            ..Default::default()
        };
        assert!(validate(&short).is_err());
        let mut ticks = ClusterSpec::default();
        ticks.raft.election_tick = 1;
        assert!(validate(&ticks).is_err());
    }
}
