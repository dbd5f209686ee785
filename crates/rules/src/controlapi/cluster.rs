//! The cluster object: spec validation, updates, join-token rotation and the managers'
//! unlock key (autolock).

use rand::RngCore;
use state::crypto::UnlockKey;
use state::{Op, State};
use types::{Cluster, ClusterSpec, Object};

use crate::{Error, Result};

/// Shortest node certificate validity Swarm accepts: one hour.
pub const MIN_CERT_EXPIRY_NANOS: i64 = 3600 * 1_000_000_000;

/// Which join tokens to replace.
#[derive(Debug, Clone, Default)]
pub struct Rotation {
    /// New worker token.
    pub worker_token: bool,
    /// New manager token.
    pub manager_token: bool,
    /// New manager unlock key (only while autolock is on, as Swarm).
    pub unlock_key: bool,
    /// A new root CA (`CAConfig.ForceRotate`, or the operator's `SigningCACert`/`SigningCAKey`;
    /// see `root_rotation.rs`).
    pub root_ca: crate::root_rotation::RotateRequest,
    /// The spec's external CAs (`CAConfig.ExternalCAs`), replacing the cluster's; `None`
    /// keeps them. Stored beside the spec (`Op::SetExternalCas`).
    pub external_cas: Option<Vec<types::ExternalCa>>,
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

/// Checks the spec's external CAs: an `https://` URL with a host (SwarmKit refuses any other
/// scheme; the signer is reached over TLS only), and a `CACert` that is empty or one PEM
/// certificate. At most [`MAX_EXTERNAL_CAS`].
pub fn validate_external_cas(cas: &[types::ExternalCa]) -> Result<()> {
    if cas.len() > MAX_EXTERNAL_CAS {
        return Err(Error::InvalidArgument(format!(
            "at most {MAX_EXTERNAL_CAS} external CAs are allowed"
        )));
    }
    for ca in cas {
        let url = ca.url.as_str();
        let rest = url
            .get(..8)
            .filter(|scheme| scheme.eq_ignore_ascii_case("https://"))
            .map(|_| &url[8..]);
        let host = rest.map(|r| r.split(['/', '?', '#']).next().unwrap_or(""));
        if url.len() > MAX_URL_LEN
            || url.chars().any(|c| c.is_whitespace() || c.is_control())
            || host.is_none_or(|h| h.is_empty() || h.starts_with(':'))
        {
            return Err(Error::InvalidArgument(format!(
                "invalid external CA URL {:?}: an https:// URL is required",
                types::excerpt(url)
            )));
        }
        if !ca.ca_cert_pem.trim().is_empty() && !ca::signing_root::is_one_certificate(&ca.ca_cert_pem) {
            return Err(Error::InvalidArgument(format!(
                "invalid CA certificate for external CA {}: one PEM certificate is required",
                types::excerpt(url)
            )));
        }
    }
    Ok(())
}

/// Most external CAs a spec may name.
pub const MAX_EXTERNAL_CAS: usize = 16;

/// Longest external CA URL accepted.
const MAX_URL_LEN: usize = 2048;

/// A fresh join token for the CA in `cluster`.
pub fn new_token(cluster: &Cluster, rng: &mut impl RngCore) -> String {
    ca::JoinToken::generate(ca::ca_digest(&cluster.root_ca.ca_cert_pem), rng).to_string()
}

/// A fresh unlock key from the manager's random source.
pub fn new_unlock_key(rng: &mut impl RngCore) -> UnlockKey {
    let mut raw = [0u8; state::crypto::KEY_LEN];
    rng.fill_bytes(&mut raw);
    UnlockKey::from_raw(raw)
}

/// Plans `POST /swarm/update`: new spec (keeping what the spec cannot change), rotations, and
/// the unlock key that goes with the autolock setting: a new one when autolock turns on or
/// the key is rotated, none when it turns off (Swarm's rules; rotating without autolock does
/// nothing). The ops form one transaction, so the flag and the key never disagree.
pub fn update(
    state: &State,
    version: u64,
    spec: ClusterSpec,
    rotation: Rotation,
    rng: &mut impl RngCore,
) -> Result<Vec<Op>> {
    validate(&spec)?;
    if let Some(cas) = &rotation.external_cas {
        validate_external_cas(cas)?;
    }
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
    let key = match (next.spec.auto_lock_managers, state.unlock_key()) {
        (false, None) => None,
        (false, Some(_)) => Some(None),
        (true, Some(_)) if !rotation.unlock_key => None,
        (true, _) => Some(Some(new_unlock_key(rng))),
    };
    let external_cas = rotation
        .external_cas
        .filter(|cas| cas.as_slice() != state.external_cas());
    let root_rotation = crate::root_rotation::start(
        state,
        &next,
        rotation.root_ca,
        external_cas.as_deref().unwrap_or(state.external_cas()),
    )?;
    let mut ops = vec![Op::Update {
        object: Object::Cluster(next),
        expect_version: Some(version),
    }];
    if let Some(key) = key {
        ops.push(Op::SetUnlockKey(key));
    }
    ops.extend(external_cas.map(Op::SetExternalCas));
    ops.extend(root_rotation);
    Ok(ops)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use types::{JoinTokens, Meta, RootCa};

    fn state() -> State {
        let cluster = Cluster {
            id: "c".into(),
            meta: Meta::default(),
            spec: ClusterSpec::default(),
            root_ca: RootCa {
                ca_cert_pem: String::new(),
                ca_key_pem: String::new(),
                join_tokens: JoinTokens::default(),
            },
            default_addr_pool: vec![],
            subnet_size: 24,
            data_path_port: 4789,
        };
        apply(&State::default(), vec![Op::Create(Object::Cluster(cluster))])
    }

    fn apply(state: &State, ops: Vec<Op>) -> State {
        let txn = state::Txn {
            id: 0,
            ops,
            now: types::Timestamp(0),
        };
        state.apply(&txn, state.index + 1).unwrap().0
    }

    fn set_autolock(state: &State, on: bool, rotate: bool) -> State {
        let mut rng = rand::rngs::StdRng::seed_from_u64(state.index);
        let spec = ClusterSpec {
            auto_lock_managers: on,
            ..Default::default()
        };
        let rotation = Rotation {
            unlock_key: rotate,
            ..Default::default()
        };
        let version = state.cluster().unwrap().meta.version;
        apply(state, update(state, version, spec, rotation, &mut rng).unwrap())
    }

    #[test]
    fn the_unlock_key_follows_autolock_and_rotates_only_while_it_is_on() {
        let s = set_autolock(&state(), false, true);
        assert_eq!(s.unlock_key(), None, "rotating without autolock does nothing");
        let on = set_autolock(&s, true, false);
        let first = on.unlock_key().cloned().expect("autolock on sets a key");
        let same = set_autolock(&on, true, false);
        assert_eq!(same.unlock_key(), Some(&first), "other updates keep the key");
        let rotated = set_autolock(&same, true, true);
        assert!(rotated.unlock_key().is_some_and(|k| *k != first));
        let off = set_autolock(&rotated, false, false);
        assert_eq!(off.unlock_key(), None);
        assert!(!off.cluster().unwrap().spec.auto_lock_managers);
    }

    fn update_cas(state: &State, cas: Option<Vec<types::ExternalCa>>) -> Result<Vec<Op>> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let rotation = Rotation {
            external_cas: cas,
            ..Default::default()
        };
        let version = state.cluster().unwrap().meta.version;
        update(state, version, ClusterSpec::default(), rotation, &mut rng)
    }

    #[test]
    fn external_cas_are_replaced_by_an_update_kept_without_one_and_checked() {
        let ca = types::ExternalCa {
            protocol: types::ExternalCaProtocol::Cfssl,
            url: "https://127.0.0.1:8888/api/v1/cfssl/sign".into(),
            options: Default::default(),
            ca_cert_pem: String::new(),
        };
        let s = apply(&state(), update_cas(&state(), Some(vec![ca.clone()])).unwrap());
        assert_eq!(s.external_cas(), std::slice::from_ref(&ca));
        let kept = update_cas(&s, None).unwrap();
        assert!(!kept.iter().any(|op| matches!(op, Op::SetExternalCas(_))));
        let same = update_cas(&s, Some(vec![ca.clone()])).unwrap();
        assert!(
            !same.iter().any(|op| matches!(op, Op::SetExternalCas(_))),
            "unchanged: no op"
        );
        let cleared = apply(&s, update_cas(&s, Some(vec![])).unwrap());
        assert_eq!(cleared.external_cas(), []);

        for url in [
            "http://ca/sign",
            "https://",
            "ca:8888/sign",
            "https:// ca/sign",
            "ftp://x",
        ] {
            let bad = types::ExternalCa {
                url: url.into(),
                ..ca.clone()
            };
            let err = update_cas(&s, Some(vec![bad])).unwrap_err();
            assert!(
                err.to_string().contains("an https:// URL is required"),
                "{url}: {err}"
            );
        }
        let garbage = types::ExternalCa {
            ca_cert_pem: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".into(),
            ..ca.clone()
        };
        let err = update_cas(&s, Some(vec![garbage])).unwrap_err();
        assert!(
            err.to_string().contains("one PEM certificate is required"),
            "{err}"
        );
        let root = ca::RootCa::generate(1_700_000_000).unwrap();
        let good = types::ExternalCa {
            ca_cert_pem: root.cert_pem().into(),
            url: "HTTPS://ca.example/sign".into(),
            ..ca.clone()
        };
        assert!(validate_external_cas(&[good]).is_ok());
        assert!(validate_external_cas(&vec![ca; MAX_EXTERNAL_CAS + 1]).is_err());
    }

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
