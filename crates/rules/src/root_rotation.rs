//! Root CA rotation rules (Swarm's `docker swarm ca --rotate`, `CAConfig.ForceRotate`).
//!
//! ```text
//! swarm update, ForceRotate changed ─► start: new root, cross-signed by the current root
//!        │                              (CaState.rotation; the cluster keeps the old root)
//!        ▼
//! CA service issues every renewal from the new root (leaf ‖ cross-signed) and records the
//! node in `renewed`; sessions tell nodes which root to renew under and which to trust
//!        │
//!        ▼ every node in the store renewed (control loop)
//! finish: cluster root = new root, new join tokens (their digest pins the new root),
//!         rotation cleared — one transaction
//! ```
//! Pure: the new root's key is the one source of randomness besides the `rng` passed in.

use rand::RngCore;
use state::{Op, RootCaOp, State};
use types::{CaState, Cluster, ExternalCa, ExternalCaProtocol, Object, RootRotation};

use crate::{Error, Result};

/// What a cluster update asks of the CA beside the spec.
#[derive(Debug, Clone, Default)]
pub struct RotateRequest {
    /// The spec's `CAConfig.ForceRotate`; 0 means not given (the spec merges onto defaults).
    pub force_rotate: u64,
    /// The spec's `SigningCACert`/`SigningCAKey` (`--ca-cert`/`--ca-key`), when either is given.
    pub signing: Option<SigningRoot>,
    /// Now, in Unix seconds: the new root is valid from then.
    pub now_secs: i64,
}

/// A root CA of the operator's own, as the request carried it (PEM). Its `Debug` shows no key.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SigningRoot {
    /// `SigningCACert`: the root certificate.
    pub cert_pem: String,
    /// `SigningCAKey`: its private key; empty when only the certificate was given.
    pub key_pem: String,
}

impl std::fmt::Debug for SigningRoot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningRoot")
            .field("cert_pem", &self.cert_pem)
            .field("key_given", &!self.key_pem.is_empty())
            .finish_non_exhaustive()
    }
}

/// The op that starts a rotation, when `request` asks for one: a root of the operator's own
/// that is not the current one, or a `ForceRotate` that differs from the one last acted on.
/// A rotation under way is replaced (the new root is again cross-signed by the cluster's
/// current root; renewals start over), as Swarm does.
///
/// `external_cas` are the cluster spec's after the update: a root given without its key
/// needs one of them that signs under it.
pub fn start(
    state: &State,
    cluster: &Cluster,
    request: RotateRequest,
    external_cas: &[ExternalCa],
) -> Result<Option<Op>> {
    if let Some(signing) = &request.signing {
        return start_with_own_root(state, cluster, signing, &request, external_cas);
    }
    let current = state.ca_state();
    if request.force_rotate == 0 || request.force_rotate == current.force_rotate {
        return Ok(None);
    }
    let new = ca::RootCa::generate(request.now_secs).map_err(internal)?;
    rotate_to(cluster, new.cert_pem(), new.key_pem(), request.force_rotate).map(Some)
}

fn internal(e: ca::Error) -> Error {
    Error::Internal(format!("root CA rotation: {e}"))
}

/// Why a root whose key is outside the cluster cannot be rotated away from.
pub const NO_KEY_TO_CROSS_SIGN: &str = "the current root CA's key is not in the cluster (an external CA signs \
     for it): rotating away from it needs the external CA to cross-sign, which shoal does not do";

/// The rotation to the root `cert_pem` (with `key_pem`, or empty when an external CA holds
/// it), cross-signed by the cluster's current root, whose key the cluster must hold.
fn rotate_to(cluster: &Cluster, cert_pem: &str, key_pem: &str, force_rotate: u64) -> Result<Op> {
    if cluster.root_ca.ca_key_pem.is_empty() {
        return Err(Error::InvalidArgument(NO_KEY_TO_CROSS_SIGN.into()));
    }
    let old =
        ca::RootCa::from_pem(&cluster.root_ca.ca_cert_pem, &cluster.root_ca.ca_key_pem).map_err(internal)?;
    let cross_signed_pem = old.cross_sign_certificate(cert_pem).map_err(internal)?;
    Ok(Op::RootCa(RootCaOp::Set(CaState {
        force_rotate,
        rotation: Some(RootRotation {
            ca_cert_pem: cert_pem.to_string(),
            ca_key_pem: key_pem.to_string(),
            cross_signed_pem,
            renewed: Default::default(),
        }),
    })))
}

/// SwarmKit's `validateCAConfig` for a given root: the pair is checked (400 with its
/// messages); the current root again changes nothing but ends a rotation under way; the
/// root a rotation is already moving to changes nothing; any other starts a rotation to it.
/// A certificate without its key needs an external CA that signs under it (SwarmKit's
/// `validateHasAtLeastOneExternalCA`, without its reachability probe).
fn start_with_own_root(
    state: &State,
    cluster: &Cluster,
    signing: &SigningRoot,
    request: &RotateRequest,
    external_cas: &[ExternalCa],
) -> Result<Option<Op>> {
    let current = state.ca_state();
    let force_rotate = if request.force_rotate == 0 {
        current.force_rotate
    } else {
        request.force_rotate
    };
    let is_current = ca::signing_root::same_certificate(&signing.cert_pem, &cluster.root_ca.ca_cert_pem);
    let is_next = current
        .rotation
        .as_ref()
        .is_some_and(|r| ca::signing_root::same_certificate(&signing.cert_pem, &r.ca_cert_pem));
    if signing.cert_pem.trim().is_empty() {
        return Err(Error::InvalidArgument(
            "if a signing CA key is provided, the signing CA cert must also be provided".into(),
        ));
    }
    if signing.key_pem.trim().is_empty() {
        if is_current || is_next {
            // The certificate a swarm spec read back may carry: nothing to do.
            return Ok(None);
        }
        let cert_pem = ca::signing_root::operator_certificate(&signing.cert_pem, request.now_secs)
            .map_err(|e| Error::InvalidArgument(e.to_string()))?;
        if !external_cas.iter().any(|e| {
            e.protocol == ExternalCaProtocol::Cfssl
                && ca::signing_root::same_certificate(&e.ca_cert_pem, &cert_pem)
        }) {
            return Err(Error::InvalidArgument(NO_EXTERNAL_CA.into()));
        }
        if ca::signing_root::same_public_key(&cert_pem, &cluster.root_ca.ca_cert_pem) {
            return Err(Error::InvalidArgument(
                "Cannot update to a cert with an identical key".into(),
            ));
        }
        return rotate_to(cluster, &cert_pem, "", force_rotate).map(Some);
    }
    let new = ca::RootCa::from_operator(&signing.cert_pem, &signing.key_pem, request.now_secs).map_err(
        |e| match e {
            ca::Error::InvalidRoot(m) => Error::InvalidArgument(m),
            other => Error::InvalidArgument(other.to_string()),
        },
    )?;
    if is_current {
        // Nothing rotates; a rotation under way is given up, as SwarmKit does.
        return Ok(current
            .rotation
            .is_some()
            .then_some(Op::RootCa(RootCaOp::Set(CaState {
                force_rotate,
                rotation: None,
            }))));
    }
    if ca::signing_root::same_public_key(&signing.cert_pem, &cluster.root_ca.ca_cert_pem) {
        return Err(Error::InvalidArgument(
            "Cannot update to a cert with an identical key".into(),
        ));
    }
    if is_next {
        return Ok(None);
    }
    rotate_to(cluster, new.cert_pem(), new.key_pem(), force_rotate).map(Some)
}

/// The external CAs to probe before `request` starts a rotation to a root whose key only
/// they hold (SwarmKit checks at least one is reachable): those `external_cas` (the spec's
/// after the update) that sign under the given certificate. `None` when the request asks
/// for no such rotation (a key given, no certificate, or the current or target root again).
pub fn keyless_signers_to_probe(
    state: &State,
    cluster: &Cluster,
    request: &RotateRequest,
    external_cas: &[ExternalCa],
) -> Option<Vec<ExternalCa>> {
    let signing = request.signing.as_ref()?;
    if !signing.key_pem.trim().is_empty() || signing.cert_pem.trim().is_empty() {
        return None;
    }
    let same = |pem: &str| ca::signing_root::same_certificate(&signing.cert_pem, pem);
    if same(&cluster.root_ca.ca_cert_pem)
        || state
            .ca_state()
            .rotation
            .as_ref()
            .is_some_and(|r| same(&r.ca_cert_pem))
    {
        return None;
    }
    Some(
        external_cas
            .iter()
            .filter(|e| e.protocol == ExternalCaProtocol::Cfssl && same(&e.ca_cert_pem))
            .cloned()
            .collect(),
    )
}

/// SwarmKit's refusal of a root given without its key and without an external CA for it.
pub const NO_EXTERNAL_CA: &str =
    "there must be at least 1 reachable, valid external CA for the desired CA certificate";

/// The ops that end the rotation once every node in the store holds a certificate from
/// the new root (a node that is gone for good must be removed first, as in Swarm): the new
/// root replaces the old one and both join tokens change, since they pin the old root.
pub fn finish(state: &State, rng: &mut dyn RngCore) -> Option<Vec<Op>> {
    let rotation = state.ca_state().rotation.as_ref()?;
    let cluster = state.cluster()?;
    if !state.nodes().all(|n| rotation.renewed.contains(&n.id)) {
        return None;
    }
    let mut next = (**cluster).clone();
    next.root_ca.ca_cert_pem = rotation.ca_cert_pem.clone();
    next.root_ca.ca_key_pem = rotation.ca_key_pem.clone();
    let digest = ca::ca_digest(&next.root_ca.ca_cert_pem);
    let mut token = || ca::JoinToken::generate(digest, &mut &mut *rng).to_string();
    next.root_ca.join_tokens.worker = token();
    next.root_ca.join_tokens.manager = token();
    Some(vec![
        Op::Update {
            object: Object::Cluster(next),
            expect_version: Some(cluster.meta.version),
        },
        Op::RootCa(RootCaOp::Set(CaState {
            force_rotate: state.ca_state().force_rotate,
            rotation: None,
        })),
    ])
}

/// How the CA signs now: the root and the chain it appends to each leaf.
pub struct Signer {
    /// PEM of the signing root's certificate.
    pub cert_pem: String,
    /// PEM of its key.
    pub key_pem: String,
    /// Appended to every leaf: the cross-signed certificate during a rotation, else empty.
    pub chain_pem: String,
    /// Whether this is a rotation's new root (its renewals are recorded).
    pub rotating: bool,
}

impl Signer {
    /// Whether the key is outside the cluster, so an external CA must sign.
    pub fn is_external(&self) -> bool {
        self.key_pem.is_empty()
    }
}

/// The external CAs that may sign now, as SwarmKit picks them: cfssl ones whose root (their
/// `CACert`, or the cluster's when they name none) is the root that signs now.
pub fn external_signers(ca: &CaState, cluster: &Cluster, external_cas: &[ExternalCa]) -> Vec<ExternalCa> {
    let wanted = wanted_issuer_pem(ca, cluster);
    external_cas
        .iter()
        .filter(|e| e.protocol == ExternalCaProtocol::Cfssl)
        .filter(|e| {
            let root = if e.ca_cert_pem.trim().is_empty() {
                &cluster.root_ca.ca_cert_pem
            } else {
                &e.ca_cert_pem
            };
            ca::signing_root::same_certificate(root, wanted)
        })
        .cloned()
        .collect()
}

/// The root that signs node certificates now: the new root while a rotation is under way.
pub fn signer(ca: &CaState, cluster: &Cluster) -> Signer {
    match &ca.rotation {
        Some(r) => Signer {
            cert_pem: r.ca_cert_pem.clone(),
            key_pem: r.ca_key_pem.clone(),
            chain_pem: r.cross_signed_pem.clone(),
            rotating: true,
        },
        None => Signer {
            cert_pem: cluster.root_ca.ca_cert_pem.clone(),
            key_pem: cluster.root_ca.ca_key_pem.clone(),
            chain_pem: String::new(),
            rotating: false,
        },
    }
}

/// The roots nodes should trust now: the cluster's, plus the new one during a rotation.
pub fn trust_pem(ca: &CaState, cluster: &Cluster) -> String {
    match &ca.rotation {
        Some(r) => ca::trust_bundle(&cluster.root_ca.ca_cert_pem, &r.ca_cert_pem),
        None => cluster.root_ca.ca_cert_pem.clone(),
    }
}

/// The root whose certificates nodes must hold: the new one during a rotation.
pub fn wanted_issuer_pem<'a>(ca: &'a CaState, cluster: &'a Cluster) -> &'a str {
    match &ca.rotation {
        Some(r) => &r.ca_cert_pem,
        None => &cluster.root_ca.ca_cert_pem,
    }
}

/// The root that issued `node_id`'s certificate, as far as the managers know: the new root
/// once the node renewed under it, else the cluster's.
pub fn node_issuer_pem<'a>(ca: &'a CaState, cluster: &'a Cluster, node_id: &str) -> &'a str {
    match &ca.rotation {
        Some(r) if r.renewed.contains(node_id) => &r.ca_cert_pem,
        _ => &cluster.root_ca.ca_cert_pem,
    }
}

#[cfg(test)]
#[path = "root_rotation_tests.rs"]
mod tests;
