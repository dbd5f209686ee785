//! The rotation's rules over a cluster with a real root CA and two nodes.

use rand::SeedableRng;
use rand::rngs::StdRng;
use state::{Op, RootCaOp, State, Txn};
use types::testing::node;
use types::{Cluster, ClusterSpec, JoinTokens, Meta, Object, RootCa, Timestamp};

use super::*;

const NOW: i64 = 1_700_000_000;

fn apply(state: &State, ops: Vec<Op>) -> State {
    let txn = Txn {
        id: 0,
        ops,
        now: Timestamp(0),
    };
    state.apply(&txn, state.index + 1).unwrap().0
}

fn cluster() -> State {
    let root = ca::RootCa::generate(NOW).unwrap();
    let mut rng = StdRng::seed_from_u64(1);
    let digest = ca::ca_digest(root.cert_pem());
    let cluster = Cluster {
        id: "c".into(),
        meta: Meta::default(),
        spec: ClusterSpec::default(),
        root_ca: RootCa {
            ca_cert_pem: root.cert_pem().into(),
            ca_key_pem: root.key_pem().into(),
            join_tokens: JoinTokens {
                worker: ca::JoinToken::generate(digest, &mut rng).to_string(),
                manager: ca::JoinToken::generate(digest, &mut rng).to_string(),
            },
        },
        default_addr_pool: vec![],
        subnet_size: 24,
        data_path_port: 4789,
    };
    apply(
        &State::default(),
        vec![
            Op::Create(Object::Cluster(cluster)),
            Op::Create(Object::Node(node("n1").build())),
            Op::Create(Object::Node(node("n2").build())),
        ],
    )
}

fn request(force_rotate: u64) -> RotateRequest {
    RotateRequest {
        force_rotate,
        signing: None,
        now_secs: NOW,
    }
}

fn started(state: &State, force_rotate: u64) -> State {
    let cluster = state.cluster().unwrap().clone();
    let op = start(state, &cluster, request(force_rotate), &[])
        .unwrap()
        .unwrap();
    apply(state, vec![op])
}

fn renewed(state: &State, node_id: &str) -> State {
    let root = state.ca_state().rotation.as_ref().unwrap().ca_cert_pem.clone();
    apply(
        state,
        vec![Op::RootCa(RootCaOp::Renewed {
            node_id: node_id.into(),
            ca_cert_pem: root,
        })],
    )
}

#[test]
fn only_a_changed_force_rotate_starts_a_rotation() {
    let state = cluster();
    let cluster = state.cluster().unwrap().clone();
    assert!(start(&state, &cluster, request(0), &[]).unwrap().is_none());
    let state = started(&state, 1);
    let cluster = state.cluster().unwrap().clone();
    // `docker swarm update` sends back the counter it read: nothing happens.
    assert!(start(&state, &cluster, request(1), &[]).unwrap().is_none());
    assert!(start(&state, &cluster, request(0), &[]).unwrap().is_none());
    let rotation = state.ca_state().rotation.as_ref().unwrap();
    assert_ne!(rotation.ca_cert_pem, cluster.root_ca.ca_cert_pem);
    assert!(ca::issued_by(
        &rotation.cross_signed_pem,
        &cluster.root_ca.ca_cert_pem
    ));
    // The cluster keeps its root and tokens until the rotation ends, with a new version.
    assert_eq!(cluster.root_ca.ca_cert_pem, state_root(&cluster));
    assert!(cluster.meta.version > 1);
}

fn state_root(cluster: &Cluster) -> String {
    cluster.root_ca.ca_cert_pem.clone()
}

#[test]
fn during_a_rotation_the_new_root_signs_and_both_roots_are_trusted() {
    let before = cluster();
    let old_root = state_root(before.cluster().unwrap());
    let state = started(&before, 1);
    let cluster = state.cluster().unwrap().clone();
    let new_root = state.ca_state().rotation.as_ref().unwrap().ca_cert_pem.clone();
    let s = signer(state.ca_state(), &cluster);
    assert_eq!(s.cert_pem, new_root);
    assert!(s.rotating && !s.chain_pem.is_empty());
    assert_eq!(
        trust_pem(state.ca_state(), &cluster),
        ca::trust_bundle(&old_root, &new_root)
    );
    assert_eq!(wanted_issuer_pem(state.ca_state(), &cluster), new_root);
    let state = renewed(&state, "n1");
    assert_eq!(node_issuer_pem(state.ca_state(), &cluster, "n1"), new_root);
    assert_eq!(node_issuer_pem(state.ca_state(), &cluster, "n2"), old_root);
    // Without a rotation: the cluster's root, no chain.
    let plain = signer(before.ca_state(), before.cluster().unwrap());
    assert_eq!(plain.cert_pem, old_root);
    assert!(!plain.rotating && plain.chain_pem.is_empty());
    assert_eq!(trust_pem(before.ca_state(), before.cluster().unwrap()), old_root);
}

#[test]
fn the_rotation_ends_once_every_node_renewed_with_new_tokens() {
    let mut rng = StdRng::seed_from_u64(7);
    let before = cluster();
    let old = (**before.cluster().unwrap()).clone();
    let state = started(&before, 3);
    assert!(finish(&state, &mut rng).is_none());
    let state = renewed(&state, "n1");
    assert!(finish(&state, &mut rng).is_none());
    let state = renewed(&state, "n2");
    let new_root = state.ca_state().rotation.as_ref().unwrap().ca_cert_pem.clone();
    let done = apply(&state, finish(&state, &mut rng).unwrap());
    let cluster = done.cluster().unwrap();
    assert_eq!(cluster.root_ca.ca_cert_pem, new_root);
    assert_ne!(cluster.root_ca.ca_key_pem, old.root_ca.ca_key_pem);
    assert_eq!(done.ca_state().rotation, None);
    assert_eq!(done.ca_state().force_rotate, 3);
    for (token, old_token) in [
        (
            &cluster.root_ca.join_tokens.worker,
            &old.root_ca.join_tokens.worker,
        ),
        (
            &cluster.root_ca.join_tokens.manager,
            &old.root_ca.join_tokens.manager,
        ),
    ] {
        assert_ne!(token, old_token);
        let parsed = ca::JoinToken::parse(token).unwrap();
        assert_eq!(parsed.ca_digest, ca::ca_digest(&new_root));
    }
    assert!(finish(&done, &mut rng).is_none());
}

#[test]
fn a_new_force_rotate_replaces_the_rotation_under_way() {
    let state = renewed(&started(&cluster(), 1), "n1");
    let first = state.ca_state().rotation.as_ref().unwrap().ca_cert_pem.clone();
    let old_root = state_root(state.cluster().unwrap());
    let state = started(&state, 2);
    let rotation = state.ca_state().rotation.as_ref().unwrap();
    assert_ne!(rotation.ca_cert_pem, first);
    assert!(rotation.renewed.is_empty());
    assert!(ca::issued_by(&rotation.cross_signed_pem, &old_root));
    // A late renewal under the replaced root does not count.
    let late = apply(
        &state,
        vec![Op::RootCa(RootCaOp::Renewed {
            node_id: "n2".into(),
            ca_cert_pem: first,
        })],
    );
    assert!(late.ca_state().rotation.as_ref().unwrap().renewed.is_empty());
}

#[test]
fn a_removed_node_does_not_hold_the_rotation_back() {
    let mut rng = StdRng::seed_from_u64(7);
    let state = renewed(&started(&cluster(), 1), "n1");
    assert!(finish(&state, &mut rng).is_none());
    let state = apply(
        &state,
        vec![Op::Delete {
            kind: types::Kind::Node,
            id: "n2".into(),
            expect_version: None,
        }],
    );
    assert!(finish(&state, &mut rng).is_some());
}

fn own(cert_pem: &str, key_pem: &str) -> RotateRequest {
    RotateRequest {
        force_rotate: 0,
        signing: Some(SigningRoot {
            cert_pem: cert_pem.into(),
            key_pem: key_pem.into(),
        }),
        now_secs: NOW,
    }
}

fn refused(state: &State, request: RotateRequest) -> String {
    let cluster = state.cluster().unwrap().clone();
    match start(state, &cluster, request, &[]) {
        Err(Error::InvalidArgument(m)) => m,
        other => panic!("not InvalidArgument: {other:?}"),
    }
}

#[test]
fn a_root_of_the_operators_own_rotates_as_a_generated_one_and_ends_as_the_cluster_root() {
    let mut rng = StdRng::seed_from_u64(7);
    let before = cluster();
    let old = (**before.cluster().unwrap()).clone();
    let operator = ca::RootCa::generate(NOW).unwrap();
    let op = start(&before, &old, own(operator.cert_pem(), operator.key_pem()), &[])
        .unwrap()
        .unwrap();
    assert!(!format!("{op:?}").contains("PRIVATE KEY"), "{op:?}");
    let state = apply(&before, vec![op]);
    let rotation = state.ca_state().rotation.as_ref().unwrap();
    assert_eq!(rotation.ca_cert_pem, operator.cert_pem());
    assert!(ca::issued_by(
        &rotation.cross_signed_pem,
        &old.root_ca.ca_cert_pem
    ));
    // ForceRotate is not bumped by `--ca-cert`: the counter stays.
    assert_eq!(state.ca_state().force_rotate, 0);
    // Sent again (the CLI retried, or a spec read back): nothing new.
    let cluster = state.cluster().unwrap().clone();
    assert!(
        start(
            &state,
            &cluster,
            own(operator.cert_pem(), operator.key_pem()),
            &[]
        )
        .unwrap()
        .is_none()
    );
    assert!(
        start(&state, &cluster, own(operator.cert_pem(), ""), &[])
            .unwrap()
            .is_none()
    );

    let state = renewed(&renewed(&state, "n1"), "n2");
    let done = apply(&state, finish(&state, &mut rng).unwrap());
    let cluster = done.cluster().unwrap();
    assert_eq!(cluster.root_ca.ca_cert_pem, operator.cert_pem());
    assert_eq!(cluster.root_ca.ca_key_pem, operator.key_pem());
    assert!(!format!("{cluster:?}").contains("PRIVATE KEY"));
    assert_ne!(cluster.root_ca.join_tokens.worker, old.root_ca.join_tokens.worker);
    // The operator's root, now current, given again: nothing rotates.
    assert!(
        start(&done, cluster, own(operator.cert_pem(), operator.key_pem()), &[])
            .unwrap()
            .is_none()
    );
}

#[test]
fn the_current_root_given_again_ends_a_rotation_under_way() {
    let before = cluster();
    let current = (**before.cluster().unwrap()).clone();
    let (cert, key) = (
        current.root_ca.ca_cert_pem.clone(),
        current.root_ca.ca_key_pem.clone(),
    );
    assert!(start(&before, &current, own(&cert, &key), &[]).unwrap().is_none());
    assert!(start(&before, &current, own(&cert, ""), &[]).unwrap().is_none());
    let state = started(&before, 1);
    let op = start(&state, &current, own(&cert, &key), &[]).unwrap().unwrap();
    let state = apply(&state, vec![op]);
    assert_eq!(state.ca_state().rotation, None);
    assert_eq!(state.ca_state().force_rotate, 1);
}

#[test]
fn a_bad_root_is_refused_as_an_invalid_argument() {
    let state = cluster();
    let operator = ca::RootCa::generate(NOW).unwrap();
    let other = ca::RootCa::generate(NOW).unwrap();
    assert_eq!(
        refused(&state, own(operator.cert_pem(), other.key_pem())),
        "certificate key mismatch"
    );
    assert_eq!(
        refused(&state, own("garbage", operator.key_pem())),
        "no valid root CA certificates found"
    );
    let node = ca::NodeKey::generate().unwrap();
    let leaf = operator
        .issue(&node.csr_pem, "n1", types::Role::Worker, "c", NOW, 90 * 24 * 3600)
        .unwrap();
    assert!(refused(&state, own(&leaf, &node.key_pem)).contains("not a CA certificate"));
    assert_eq!(
        refused(&state, own("", operator.key_pem())),
        "if a signing CA key is provided, the signing CA cert must also be provided"
    );
    assert_eq!(refused(&state, own(operator.cert_pem(), "")), NO_EXTERNAL_CA);
}

#[test]
fn a_new_certificate_for_the_current_roots_key_is_refused() {
    let state = cluster();
    let current = state.cluster().unwrap().clone();
    let key = rcgen::KeyPair::from_pem(&current.root_ca.ca_key_pem).unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "reissued");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.not_after = rcgen::date_time_ymd(2040, 1, 1);
    let reissued = params.self_signed(&key).unwrap().pem();
    assert_eq!(
        refused(&state, own(&reissued, &current.root_ca.ca_key_pem)),
        "Cannot update to a cert with an identical key"
    );
}

fn cfssl(url: &str, ca_cert_pem: &str) -> ExternalCa {
    ExternalCa {
        protocol: ExternalCaProtocol::Cfssl,
        url: url.into(),
        options: Default::default(),
        ca_cert_pem: ca_cert_pem.into(),
    }
}

#[test]
fn a_root_without_its_key_rotates_with_an_external_ca_for_it_and_then_signs_through_it() {
    let mut rng = StdRng::seed_from_u64(9);
    let before = cluster();
    let old = (**before.cluster().unwrap()).clone();
    let operator = ca::RootCa::generate(NOW).unwrap();
    let other = ca::RootCa::generate(NOW).unwrap();
    let for_other = [cfssl("https://ca:1/sign", other.cert_pem())];
    let cluster_root_only = [cfssl("https://ca:1/sign", "")];
    for cas in [&for_other[..], &cluster_root_only[..], &[]] {
        assert!(matches!(
            start(&before, &old, own(operator.cert_pem(), ""), cas),
            Err(Error::InvalidArgument(m)) if m == NO_EXTERNAL_CA
        ));
    }
    let cas = [
        cfssl("https://ca:1/sign", other.cert_pem()),
        cfssl("https://ca:2/sign", operator.cert_pem()),
    ];
    let probe = keyless_signers_to_probe(&before, &old, &own(operator.cert_pem(), ""), &cas);
    assert_eq!(probe, Some(vec![cas[1].clone()]));
    let with_key = own(operator.cert_pem(), operator.key_pem());
    assert_eq!(keyless_signers_to_probe(&before, &old, &with_key, &cas), None);
    let op = start(&before, &old, own(operator.cert_pem(), ""), &cas)
        .unwrap()
        .unwrap();
    let state = apply(&before, vec![op]);
    let rotation = state.ca_state().rotation.as_ref().unwrap();
    assert_eq!(rotation.ca_key_pem, "", "no key is kept");
    // The target given again (a spec read back) probes nothing.
    assert_eq!(
        keyless_signers_to_probe(&state, &old, &own(operator.cert_pem(), ""), &cas),
        None
    );
    assert!(ca::issued_by(
        &rotation.cross_signed_pem,
        &old.root_ca.ca_cert_pem
    ));
    assert!(ca::signing_root::same_public_key(
        &rotation.cross_signed_pem,
        operator.cert_pem()
    ));
    // The new root signs through the external CA that names it; the other is not asked.
    let signer = signer(state.ca_state(), &old);
    assert!(signer.is_external() && signer.rotating);
    let picked = external_signers(state.ca_state(), &old, &cas);
    assert_eq!(picked, [cas[1].clone()]);
    // Before the rotation the cluster's root signs locally: no external CA is picked for
    // it unless one names it (or names none).
    assert!(!super::signer(before.ca_state(), &old).is_external());
    assert_eq!(external_signers(before.ca_state(), &old, &cas), []);
    assert_eq!(
        external_signers(before.ca_state(), &old, &cluster_root_only),
        cluster_root_only
    );

    let state = renewed(&renewed(&state, "n1"), "n2");
    let done = apply(&state, finish(&state, &mut rng).unwrap());
    let cluster = (**done.cluster().unwrap()).clone();
    assert_eq!(cluster.root_ca.ca_key_pem, "");
    assert!(ca::signing_root::same_certificate(
        &cluster.root_ca.ca_cert_pem,
        operator.cert_pem()
    ));
    assert!(super::signer(done.ca_state(), &cluster).is_external());
    assert_eq!(
        external_signers(done.ca_state(), &cluster, &cas),
        [cas[1].clone()]
    );
    // Rotating away needs the external CA to cross-sign, which shoal does not do.
    let next = ca::RootCa::generate(NOW).unwrap();
    for request in [request(5), own(next.cert_pem(), next.key_pem())] {
        assert!(matches!(
            start(&done, &cluster, request, &cas),
            Err(Error::InvalidArgument(m)) if m == NO_KEY_TO_CROSS_SIGN
        ));
    }
}

#[test]
fn a_keyless_root_is_checked_as_any_root_of_the_operators_own() {
    let state = cluster();
    let node = ca::NodeKey::generate().unwrap();
    let operator = ca::RootCa::generate(NOW).unwrap();
    let leaf = operator
        .issue(&node.csr_pem, "n1", types::Role::Worker, "c", NOW, 90 * 24 * 3600)
        .unwrap();
    let cas = [cfssl("https://ca:1/sign", &leaf)];
    let cluster = state.cluster().unwrap().clone();
    assert!(matches!(
        start(&state, &cluster, own(&leaf, ""), &cas),
        Err(Error::InvalidArgument(m)) if m.contains("not a CA certificate")
    ));
}
