//! Networks: the rules for create, remove and prune, and resolving the networks a service
//! spec names. Subnets and the VNI are chosen here (by the allocator's IPAM) so that the
//! create's answer already shows them; the store re-checks them when the entry applies.

use std::sync::Arc;

use state::{Op, Owner, State};
use types::{Kind, Network, NetworkSpec, Object, ServiceSpec};

use crate::allocator::ipam;
use crate::{Error, Result};

/// Names dockerd keeps for its local networks.
pub const PREDEFINED: [&str; 3] = ["bridge", "host", "none"];

/// The name of the routing mesh's network, created at init.
pub const INGRESS: &str = "ingress";

/// Docker's rule for network names.
fn valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

/// Checks a spec for create: the name, the overlay driver, and only options we honour.
pub fn validate(spec: &NetworkSpec) -> Result<()> {
    if !valid_name(&spec.name) {
        return Err(Error::InvalidArgument(format!(
            "invalid network name {:?}: it must start with a letter or digit and hold only letters, digits, '_', '.' and '-'",
            types::excerpt(&spec.name)
        )));
    }
    if PREDEFINED.contains(&spec.name.as_str()) {
        return Err(Error::Forbidden(format!(
            "{} is a pre-defined network and cannot be created",
            spec.name
        )));
    }
    if spec.driver != types::network::OVERLAY {
        return Err(Error::InvalidArgument(format!(
            "network driver {:?} is not supported: shoal manages overlay networks only (use -d overlay)",
            types::excerpt(&spec.driver)
        )));
    }
    for (key, value) in &spec.options {
        if key == types::network::MTU_OPTION {
            match value.parse::<u32>() {
                Ok(68..=65535) => {}
                _ => {
                    return Err(Error::InvalidArgument(format!(
                        "invalid MTU {:?}: it must be a number from 68 to 65535",
                        types::excerpt(value)
                    )));
                }
            }
        } else if key == types::network::ENCRYPTED_OPTION {
            // Any value: dockerd looks at the key only. The nodes holding the network carry
            // its VXLAN through their WireGuard tunnels (netplane's `crypt`).
        } else {
            return Err(Error::InvalidArgument(format!(
                "network option {:?} is not supported (only {} and {} are)",
                types::excerpt(key),
                types::network::MTU_OPTION,
                types::network::ENCRYPTED_OPTION
            )));
        }
    }
    if spec.ingress && spec.attachable {
        return Err(Error::InvalidArgument(
            "an ingress network cannot be attachable".into(),
        ));
    }
    Ok(())
}

/// Plans `POST /networks/create`: a new network with its subnets and VNI.
pub fn create(state: &State, id: String, spec: NetworkSpec) -> Result<(Op, Network)> {
    validate(&spec)?;
    if state.network_by_name(&spec.name).is_some() {
        return Err(Error::Conflict(format!(
            "network with name {} already exists",
            spec.name
        )));
    }
    if spec.ingress
        && let Some(other) = state.networks().find(|n| n.spec.ingress)
    {
        return Err(Error::Forbidden(format!(
            "ingress network {} ({}) is already present",
            other.spec.name, other.id
        )));
    }
    let network = Network {
        id,
        meta: Default::default(),
        pools: ipam::plan_pools(state, &spec)?,
        vni: ipam::next_vni(state)?,
        spec,
    };
    Ok((Op::Create(Object::Network(network.clone())), network))
}

/// The routing mesh's network a new cluster starts with: `ingress` on the first subnet of
/// the cluster's default pool (10.0.0.0/24 with Docker's defaults), as Swarm makes it.
pub fn ingress(state: &State, id: String) -> Result<(Op, Network)> {
    let spec = NetworkSpec {
        name: INGRESS.into(),
        driver: types::network::OVERLAY.into(),
        ingress: true,
        ..Default::default()
    };
    create(state, id, spec)
}

/// The services whose current spec attaches to `network`.
fn users<'a>(state: &'a State, network: &'a Network) -> impl Iterator<Item = &'a Arc<types::Service>> + 'a {
    state.services().filter(move |s| {
        s.spec
            .task
            .networks
            .iter()
            .any(|n| n.target == network.id || n.target == network.spec.name)
    })
}

/// Why `network` cannot go now, if it cannot.
fn in_use(state: &State, network: &Network) -> Option<String> {
    if let Some(s) = users(state, network).next() {
        return Some(format!(
            "network {} is in use by service {}",
            network.spec.name, s.id
        ));
    }
    // Nodes' ingress sandbox addresses go with the network.
    let mut held = state
        .held_on(&network.id)
        .filter(|(_, owner)| !matches!(owner, Owner::Node(_)));
    held.next().map(|(_, owner)| match owner {
        Owner::Task(id) => format!("network {} is in use by task {id}", network.spec.name),
        Owner::Service(id) => format!("network {} is in use by service {id}", network.spec.name),
        Owner::Node(id) => format!("network {} is in use by node {id}", network.spec.name),
    })
}

/// Plans `DELETE /networks/{id}`; refused while a service or task uses the network.
pub fn remove(state: &State, key: &str) -> Result<Op> {
    if PREDEFINED.contains(&key) {
        return Err(Error::Forbidden(format!(
            "{key} is a pre-defined network and cannot be removed"
        )));
    }
    let n = state
        .lookup_network(key)
        .map_err(|e| Error::NotFound(e.to_string()))?;
    if let Some(why) = in_use(state, &n) {
        return Err(Error::FailedPrecondition(why));
    }
    Ok(Op::Delete {
        kind: Kind::Network,
        id: n.id.clone(),
        expect_version: Some(n.meta.version),
    })
}

/// Plans `POST /networks/prune`: every unused network (not the ingress network, which is
/// only removed when asked for by name) whose labels match; the ops and removed names.
pub fn prune(state: &State, labels: &[String], not_labels: &[String]) -> (Vec<Op>, Vec<String>) {
    let mut ops = Vec::new();
    let mut names = Vec::new();
    for n in state.networks() {
        if n.spec.ingress
            || in_use(state, n).is_some()
            || !super::service::labels_match(&n.spec.labels, labels)
            || not_labels
                .iter()
                .any(|l| super::service::labels_match(&n.spec.labels, std::slice::from_ref(l)))
        {
            continue;
        }
        ops.push(Op::Delete {
            kind: Kind::Network,
            id: n.id.clone(),
            expect_version: Some(n.meta.version),
        });
        names.push(n.spec.name.clone());
    }
    (ops, names)
}

/// Rewrites the networks a service spec names to their IDs, as dockerd stores them; a
/// network that does not exist is refused, and so is naming one twice.
pub fn resolve_spec(state: &State, spec: &mut ServiceSpec) -> Result<()> {
    if spec.task.networks.is_empty() {
        return Ok(());
    }
    let task = Arc::make_mut(&mut spec.task);
    let mut seen: Vec<String> = Vec::new();
    for n in &mut task.networks {
        let net = state
            .lookup_network(&n.target)
            .map_err(|_| Error::NotFound(format!("network {} not found", types::excerpt(&n.target))))?;
        if net.spec.ingress {
            return Err(Error::InvalidArgument(format!(
                "service cannot be explicitly attached to the ingress network {:?}",
                net.spec.name
            )));
        }
        if seen.contains(&net.id) {
            return Err(Error::InvalidArgument(format!(
                "duplicate network attachment for network {}",
                net.spec.name
            )));
        }
        seen.push(net.id.clone());
        n.target = net.id.clone();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orchestrator::fixtures::World;

    pub(crate) fn overlay(name: &str) -> NetworkSpec {
        NetworkSpec {
            name: name.into(),
            driver: "overlay".into(),
            ..Default::default()
        }
    }

    #[test]
    fn create_picks_the_next_subnet_and_vni_and_refuses_what_dockerd_refuses() {
        let mut w = World::new();
        let (op, ingress) = ingress(&w.state, "ing".into()).unwrap();
        w.commit_op(op);
        assert_eq!(ingress.pools[0].subnet.to_string(), "10.0.0.0/24");
        assert_eq!(ingress.vni, 4096);
        let (op, net) = create(&w.state, "n1".into(), overlay("front")).unwrap();
        w.commit_op(op);
        assert_eq!(net.pools[0].subnet.to_string(), "10.0.1.0/24");
        assert_eq!(net.pools[0].gateway.to_string(), "10.0.1.1");
        assert_eq!(net.vni, 4097);
        let err = |spec| create(&w.state, "n2".into(), spec).unwrap_err();
        assert!(matches!(err(overlay("front")), Error::Conflict(_)));
        assert!(matches!(err(overlay("bridge")), Error::Forbidden(_)));
        assert!(matches!(err(overlay("-x")), Error::InvalidArgument(_)));
        let mut bridge = overlay("b");
        bridge.driver = "bridge".into();
        assert!(matches!(err(bridge), Error::InvalidArgument(_)));
        let mut opt = overlay("o");
        opt.options.insert("encrypted".into(), "".into());
        let (_, encrypted) = create(&w.state, "n3".into(), opt).unwrap();
        assert!(encrypted.spec.encrypted());
        let mut unknown = overlay("u");
        unknown.options.insert("encrypt".into(), "".into());
        assert!(matches!(err(unknown), Error::InvalidArgument(_)));
        let mut mtu = overlay("m");
        mtu.options.insert(types::network::MTU_OPTION.into(), "12".into());
        assert!(matches!(err(mtu.clone()), Error::InvalidArgument(_)));
        mtu.options
            .insert(types::network::MTU_OPTION.into(), "1400".into());
        create(&w.state, "n2".into(), mtu).unwrap();
        let mut second = overlay("ing2");
        second.ingress = true;
        assert!(matches!(err(second), Error::Forbidden(_)));
        let mut overlap = overlay("ov");
        overlap.ipam = vec![types::IpamConfig {
            subnet: "10.0.1.128/25".into(),
            ..Default::default()
        }];
        assert!(matches!(err(overlap), Error::Forbidden(_)));
    }

    #[test]
    fn remove_is_refused_while_a_service_uses_the_network_and_prune_keeps_ingress() {
        let mut w = World::new();
        w.commit_op(ingress(&w.state, "ing".into()).unwrap().0);
        w.commit_op(create(&w.state, "n1".into(), overlay("front")).unwrap().0);
        w.commit_op(create(&w.state, "n2".into(), overlay("spare")).unwrap().0);
        let mut task = types::TaskSpec::default();
        task.networks.push(types::NetworkAttachment {
            target: "front".into(),
            ..Default::default()
        });
        let mut w = w.service("web", types::ServiceMode::Replicated { replicas: 1 }, task);
        match remove(&w.state, "front") {
            Err(Error::FailedPrecondition(m)) => assert!(m.contains("in use by service"), "{m}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(remove(&w.state, "bridge"), Err(Error::Forbidden(_))));
        assert!(matches!(remove(&w.state, "nope"), Err(Error::NotFound(_))));
        let (ops, names) = prune(&w.state, &[], &[]);
        assert_eq!(names, ["spare"]);
        for op in ops {
            w.commit_op(op);
        }
        w.commit_op(remove(&w.state, "ingress").unwrap());
        assert_eq!(w.state.networks().count(), 1);
    }

    #[test]
    fn service_specs_name_networks_by_id() {
        let mut w = World::new();
        w.commit_op(create(&w.state, "n1abc".into(), overlay("front")).unwrap().0);
        w.commit_op(ingress(&w.state, "ing".into()).unwrap().0);
        let mut spec = ServiceSpec {
            name: "web".into(),
            labels: Default::default(),
            task: Arc::default(),
            mode: types::ServiceMode::Replicated { replicas: 1 },
            update: None,
            rollback: None,
            endpoint: None,
        };
        let attach = |target: &str| types::NetworkAttachment {
            target: target.into(),
            ..Default::default()
        };
        Arc::make_mut(&mut spec.task).networks = vec![attach("front")];
        resolve_spec(&w.state, &mut spec).unwrap();
        assert_eq!(spec.task.networks[0].target, "n1abc");
        Arc::make_mut(&mut spec.task).networks = vec![attach("n1a"), attach("front")];
        assert!(matches!(
            resolve_spec(&w.state, &mut spec.clone()),
            Err(Error::InvalidArgument(_))
        ));
        Arc::make_mut(&mut spec.task).networks = vec![attach("nope")];
        assert!(matches!(
            resolve_spec(&w.state, &mut spec.clone()),
            Err(Error::NotFound(_))
        ));
        Arc::make_mut(&mut spec.task).networks = vec![attach("ingress")];
        assert!(matches!(
            resolve_spec(&w.state, &mut spec),
            Err(Error::InvalidArgument(_))
        ));
    }
}
