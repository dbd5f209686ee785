//! The swarm calls that read or change the cluster: what `/_ping` and `/info` report, `GET /swarm`,
//! `POST /swarm/update` and the unlock key. Init, join, leave and unlock are `daemon/swarm.rs`'s.

use std::sync::Arc;

use api::{LocalNodeState, ManagerInfo, SwarmStatus};
use manager::Error;
use rules::controlapi::cluster;
use rules::controlapi::cluster::Rotation;
use types::{Cluster, ClusterSpec, Role};

use super::Result;
use crate::daemon::swarm::{Local, Swarm, msg};

/// How long an autolock change waits for this manager's key file to follow.
const KEY_FILE_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Swarm facts for `/_ping` and `/info`.
pub(super) fn status(s: &Swarm) -> SwarmStatus {
    let mut status = SwarmStatus {
        state: LocalNodeState::Inactive,
        node_id: String::new(),
        node_addr: String::new(),
        control_available: false,
        error: String::new(),
        remote_managers: Vec::new(),
    };
    match s.local() {
        Local::Inactive => {}
        Local::Pending => status.state = LocalNodeState::Pending,
        Local::Locked(locked) => {
            status.state = LocalNodeState::Locked;
            status.node_id = locked.state.node_id.clone();
            status.error = msg::SWARM_LOCKED.into();
            status.remote_managers = locked
                .state
                .remote_managers
                .iter()
                .map(|a| (String::new(), a.clone()))
                .collect();
        }
        Local::Active(node) => {
            let state = node.state();
            status.state = LocalNodeState::Active;
            if let Some(reason) = node.removed() {
                status.state = LocalNodeState::Error;
                status.error = reason;
            }
            status.node_id = state.node_id.clone();
            status.node_addr = state
                .advertise_addr
                .rsplit_once(':')
                .map(|(h, _)| h.trim_matches(['[', ']']).to_string())
                .unwrap_or_default();
            status.control_available = state.role == Role::Manager;
            if let Some(m) = node.try_manager()
                && status.error.is_empty()
            {
                status.error = m.health().error();
            }
            status.remote_managers = match node.try_manager() {
                Some(m) => m.voters().into_values().map(|p| (p.node_id, p.addr)).collect(),
                None => state
                    .remote_managers
                    .iter()
                    .map(|a| (String::new(), a.clone()))
                    .collect(),
            };
        }
    }
    status
}

/// Manager-only `/info` facts.
pub(super) fn manager_info(s: &Swarm) -> Option<ManagerInfo> {
    let Local::Active(node) = s.local() else {
        return None;
    };
    let m = node.try_manager()?;
    let view = m.view();
    let cluster = view.cluster()?.clone();
    Some(ManagerInfo {
        nodes: view.node_count(),
        managers: view.nodes().filter(|n| n.spec.role == Role::Manager).count(),
        cluster,
        external_cas: view.external_cas().to_vec(),
    })
}

/// `GET /swarm`: the cluster object as this manager has replicated it.
pub(super) async fn inspect(s: &Swarm) -> Result<Arc<Cluster>> {
    let m = s.require_manager().await?;
    m.synced_view()
        .await
        .cluster()
        .cloned()
        .ok_or_else(|| Error::Unavailable("cluster object not yet replicated".into()))
}

/// `POST /swarm/update`: answers once this manager's key file follows an autolock change.
pub(super) async fn update(s: &Swarm, version: u64, spec: ClusterSpec, mut rotation: Rotation) -> Result<()> {
    let m = s.require_manager().await?;
    // A new root CA is valid from now.
    rotation.root_ca.now_secs = s.clock.now().0 / 1_000_000_000;
    let view = m.synced_view().await;
    if let Some(current) = view.cluster() {
        let cas = rotation.external_cas.as_deref().unwrap_or(view.external_cas());
        let probe = rules::root_rotation::keyless_signers_to_probe(&view, current, &rotation.root_ca, cas);
        // With none named, the rules refuse the rotation themselves.
        if let Some(signers) = probe.filter(|s| !s.is_empty())
            && !manager::external_ca::any_reachable(
                &signers,
                &current.root_ca.ca_cert_pem,
                &m.client_certificate(),
            )
            .await
        {
            return Err(Error::InvalidArgument(
                rules::root_rotation::NO_EXTERNAL_CA.into(),
            ));
        }
    }
    let ops = m.with_rng(|mut rng| cluster::update(&view, version, spec, rotation, &mut rng))?;
    let key_changed = ops.iter().any(|op| matches!(op, store::Op::SetUnlockKey(_)));
    m.propose(ops).await?;
    if key_changed && let Local::Active(node) = s.local() {
        // Answer once this manager's own key file follows (the docker CLI prints the new
        // key next, and an operator may restart this node right after). The others
        // re-wrap as their replicas apply the change.
        let want = crate::daemon::autolock::wanted(&m.view()).flatten();
        if !node.certs().wait_wrapped(want.as_ref(), KEY_FILE_WAIT).await {
            tracing::warn!("the key file was not re-written within {KEY_FILE_WAIT:?} of the autolock change");
        }
    }
    Ok(())
}

/// `GET /swarm/unlockkey`.
pub(super) async fn unlock_key(s: &Swarm) -> Result<String> {
    let m = s.require_manager().await?;
    let view = m.synced_view().await;
    Ok(view.unlock_key().map(|k| k.to_text()).unwrap_or_default())
}
