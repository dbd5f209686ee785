//! Service specs shoal accepts but cannot carry out yet are refused at create and update, with
//! a message saying what is missing, rather than stored and silently not done:
//!
//! - published ports the nodes' routing mesh does not carry: SCTP, and host-mode ports
//!   without a published port (Swarm would pick one per node). [`PUBLISHING`] still refuses
//!   every published port when set to `Refused` (kept for the control plane's own tests);
//! - an image without a command when every node's executor is `process`, which runs
//!   `ContainerSpec.Command/Args` and never pulls images (`crate::executor`);
//! - a volume mount with a driver other than `local`, or with driver options, when no node
//!   runs the `docker` executor (whose dockerd has the drivers): the other nodes' volumes are
//!   plain directories (`types::volume`).

use state::State;
use types::{PortConfig, ServiceMode, ServiceSpec};

use crate::{Error, Result};

/// Whether specs that publish ports are let through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Publishing {
    /// Refused with the reason: the nodes do not serve them yet.
    Refused,
    /// Allocated and stored (tests of the control plane, and once the data plane serves them).
    Served,
}

/// What the cluster does with published ports today.
pub const PUBLISHING: Publishing = Publishing::Served;

/// Refuses what no node of the cluster in `state` can do for `spec`.
pub fn check(state: &State, spec: &ServiceSpec, publishing: Publishing) -> Result<()> {
    if publishing == Publishing::Refused {
        refuse_published_ports(spec)?;
    }
    refuse_unserved_ports(spec)?;
    refuse_unrunnable(state, spec)?;
    refuse_volume_drivers(state, spec)
}

/// A volume driver (or driver options) no node has: only a `docker`-executor node's dockerd
/// has drivers beyond the local directories.
fn refuse_volume_drivers(state: &State, spec: &ServiceSpec) -> Result<()> {
    let Some((target, why)) = types::volume::foreign_driver_in_extra(&spec.task.container.extra) else {
        return Ok(());
    };
    if state
        .nodes()
        .any(|n| crate::executor::of_node(n) == Some("docker"))
    {
        return Ok(());
    }
    Err(Error::InvalidArgument(format!("mount {target}: {why}")))
}

/// Published ports the nodes' mesh cannot serve.
fn refuse_unserved_ports(spec: &ServiceSpec) -> Result<()> {
    let Some(endpoint) = &spec.endpoint else {
        return Ok(());
    };
    for p in &endpoint.ports {
        if p.protocol.eq_ignore_ascii_case("sctp") {
            return Err(Error::InvalidArgument(format!(
                "EndpointSpec: publishing SCTP ports is not supported ({}): the nodes' routing mesh \
                 carries TCP and UDP",
                spell(p)
            )));
        }
        if p.publish_mode.eq_ignore_ascii_case("host") && p.published_port == 0 {
            return Err(Error::InvalidArgument(format!(
                "EndpointSpec: a host-mode port needs a published port ({}): shoal does not pick \
                 one per node",
                spell(p)
            )));
        }
    }
    Ok(())
}

/// Published ports, until the nodes serve them.
fn refuse_published_ports(spec: &ServiceSpec) -> Result<()> {
    let Some(endpoint) = &spec.endpoint else {
        return Ok(());
    };
    if endpoint.ports.is_empty() {
        return Ok(());
    }
    let ports: Vec<String> = endpoint.ports.iter().map(spell).collect();
    Err(Error::InvalidArgument(format!(
        "EndpointSpec: publishing ports is not supported yet ({}): shoal has neither the routing mesh \
         (ingress mode) nor host-mode publishing on its nodes (ports would be allocated, but no node \
         binds them); create the service without --publish",
        ports.join(", ")
    )))
}

/// A port as `docker service ls` shows it: `8080:80/tcp`, or `80/tcp` with no published port.
fn spell(p: &PortConfig) -> String {
    let protocol = if p.protocol.is_empty() { "tcp" } else { &p.protocol };
    let mode = if p.publish_mode.eq_ignore_ascii_case("host") {
        " (host mode)"
    } else {
        ""
    };
    match p.published_port {
        0 => format!("{}/{protocol}{mode}", p.target_port),
        published => format!("{published}:{}/{protocol}{mode}", p.target_port),
    }
}

/// An image-only task when no node's executor runs images. A cluster with no nodes yet, or
/// one node whose executor runs images (or does not say), lets the spec through: the
/// scheduler then keeps its tasks to the nodes that can run them.
///
/// A replicated service of 0 replicas wants no task, so nothing would wait: it is let through,
/// and scaling it up is refused here instead.
fn refuse_unrunnable(state: &State, spec: &ServiceSpec) -> Result<()> {
    let wants_tasks = !matches!(spec.mode, ServiceMode::Replicated { replicas: 0 });
    if !wants_tasks || !crate::executor::needs_image_runner(&spec.task) {
        return Ok(());
    }
    let mut executors = state.nodes().map(|n| crate::executor::of_node(n)).peekable();
    if executors.peek().is_none() || executors.any(crate::executor::runs_images) {
        return Ok(());
    }
    Err(Error::InvalidArgument(format!(
        "ContainerSpec: image {:?} has no command, and every node of this cluster runs tasks with \
         the process executor, which runs ContainerSpec.Command/Args and does not run images: give \
         the service a command, or add a node started with --executor oci",
        types::excerpt(&spec.task.container.image)
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orchestrator::fixtures::World;
    use state::{Op, Txn};
    use types::{EndpointSpec, Object};

    fn spec(image: &str, args: &[&str]) -> ServiceSpec {
        types::testing::service("web").image(image).args(args).spec()
    }

    fn with_executors(executors: &[Option<&str>]) -> State {
        let ops = executors
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let mut n = types::testing::node(&format!("n{i}")).build();
                if let Some(e) = e {
                    n.description
                        .engine
                        .labels
                        .insert(crate::executor::EXECUTOR_LABEL.into(), (*e).into());
                }
                Op::Create(Object::Node(n))
            })
            .collect();
        let txn = Txn {
            id: 0,
            ops,
            now: types::Timestamp(1),
        };
        State::default().apply(&txn, 1).unwrap().0
    }

    #[test]
    fn a_volume_driver_is_refused_unless_a_node_runs_dockerd() {
        let mut s = spec("nginx:latest", &[]);
        std::sync::Arc::make_mut(&mut s.task).container.extra = r#"{"Mounts":[{"Type":"volume","Source":"v","Target":"/v","VolumeOptions":{"DriverConfig":{"Name":"nfs"}}}]}"#.into();
        let err = check(&with_executors(&[Some("oci")]), &s, PUBLISHING).unwrap_err();
        assert_eq!(
            err.to_string(),
            "mount /v: volume driver \"nfs\" is not supported: shoal nodes have only the local driver (volumes are directories on the node)"
        );
        assert!(matches!(err, Error::InvalidArgument(_)));
        assert_eq!(
            check(&with_executors(&[Some("oci"), Some("docker")]), &s, PUBLISHING),
            Ok(())
        );
        std::sync::Arc::make_mut(&mut s.task).container.extra = r#"{"Mounts":[{"Type":"volume","Source":"v","Target":"/v","VolumeOptions":{"DriverConfig":{"Name":"local"}}}]}"#.into();
        assert_eq!(check(&with_executors(&[Some("oci")]), &s, PUBLISHING), Ok(()));
    }

    #[test]
    fn published_ports_are_refused_with_the_reason() {
        let state = State::default();
        let mut s = spec("nginx:latest", &[]);
        s.endpoint = Some(EndpointSpec {
            mode: "vip".into(),
            ports: vec![
                PortConfig {
                    protocol: "tcp".into(),
                    target_port: 80,
                    published_port: 8080,
                    publish_mode: "ingress".into(),
                    ..Default::default()
                },
                PortConfig {
                    protocol: "udp".into(),
                    target_port: 53,
                    publish_mode: "host".into(),
                    ..Default::default()
                },
            ],
        });
        let err = check(&state, &s, Publishing::Refused).unwrap_err();
        assert_eq!(
            err.to_string(),
            "EndpointSpec: publishing ports is not supported yet (8080:80/tcp, 53/udp (host mode)): \
             shoal has neither the routing mesh (ingress mode) nor host-mode publishing on its nodes \
             (ports would be allocated, but no node binds them); create the service without --publish"
        );
        assert!(matches!(err, Error::InvalidArgument(_)));
        // An endpoint mode alone publishes nothing.
        s.endpoint = Some(EndpointSpec {
            mode: "dnsrr".into(),
            ports: vec![],
        });
        assert_eq!(check(&state, &s, PUBLISHING), Ok(()));
    }

    #[test]
    fn the_mesh_serves_tcp_and_udp_and_refuses_sctp_or_an_unpublished_host_port() {
        let state = State::default();
        let mut s = spec("nginx:latest", &[]);
        let port = |protocol: &str, published: u32, mode: &str| PortConfig {
            protocol: protocol.into(),
            target_port: 80,
            published_port: published,
            publish_mode: mode.into(),
            ..Default::default()
        };
        s.endpoint = Some(EndpointSpec {
            mode: "vip".into(),
            ports: vec![
                port("tcp", 8080, "ingress"),
                port("udp", 53, "host"),
                port("tcp", 0, "ingress"),
            ],
        });
        assert_eq!(check(&state, &s, PUBLISHING), Ok(()));
        for bad in [port("sctp", 9000, "ingress"), port("tcp", 0, "host")] {
            s.endpoint = Some(EndpointSpec {
                mode: "vip".into(),
                ports: vec![bad.clone()],
            });
            let err = check(&state, &s, PUBLISHING).unwrap_err();
            assert!(matches!(err, Error::InvalidArgument(_)), "{bad:?}: {err}");
        }
    }

    #[test]
    fn an_image_only_service_needs_a_node_that_runs_images() {
        let image_only = spec("nginx:latest", &[]);
        let err = check(
            &with_executors(&[Some("process"), Some("process")]),
            &image_only,
            PUBLISHING,
        )
        .unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)));
        let msg = err.to_string();
        assert!(
            msg.starts_with("ContainerSpec: image \"nginx:latest\" has no command"),
            "{msg}"
        );
        assert!(msg.contains("process executor"), "{msg}");
        // One node that runs images, or does not say, is enough; so is a cluster of none yet.
        for executors in [
            &[Some("process"), Some("oci")][..],
            &[Some("process"), None][..],
            &[][..],
        ] {
            assert_eq!(
                check(&with_executors(executors), &image_only, PUBLISHING),
                Ok(()),
                "{executors:?}"
            );
        }
        // A command runs anywhere.
        let state = with_executors(&[Some("process")]);
        assert_eq!(
            check(&state, &spec("busybox:latest", &["sleep", "1"]), PUBLISHING),
            Ok(())
        );
        // No replica waits: let through (a scale-up is then refused by the update).
        let mut none = image_only.clone();
        none.mode = ServiceMode::Replicated { replicas: 0 };
        assert_eq!(check(&state, &none, PUBLISHING), Ok(()));
        none.mode = ServiceMode::Global;
        assert!(check(&state, &none, PUBLISHING).is_err());
    }

    #[test]
    fn create_and_update_refuse_and_rollback_is_left_alone() {
        let w = World::new().nodes(&["n1"]).created("web", 1);
        let web = w.state.service_by_name("web").unwrap().clone();
        let mut next = web.spec.clone();
        next.endpoint = Some(EndpointSpec {
            mode: "vip".into(),
            ports: vec![PortConfig {
                protocol: "sctp".into(),
                target_port: 80,
                published_port: 8080,
                ..Default::default()
            }],
        });
        let update =
            super::super::service::update(&w.state, "web", web.meta.version, next.clone(), false, w.now);
        assert!(
            update
                .unwrap_err()
                .to_string()
                .contains("publishing SCTP ports is not supported")
        );
        next.name = "other".into();
        let create = super::super::service::create(&w.state, "id2".into(), next, w.now);
        assert!(
            create
                .unwrap_err()
                .to_string()
                .contains("publishing SCTP ports is not supported")
        );
    }
}
