//! Acceptance: what shoal cannot do yet is refused with the reason, through the stock docker
//! CLI against a real agent, rather than stored and silently not done.

#![allow(clippy::unwrap_used)]

mod common;

use common::{Agent, stderr, stdout};

#[test]
fn published_ports_and_image_only_services_on_process_nodes_are_refused() {
    let root = tempfile::tempdir().unwrap();
    let agent = Agent::start(root.path(), "refuse");
    agent.swarm_init();

    // The node says which executor runs its tasks.
    let label = agent.docker_ok(&[
        "node",
        "inspect",
        "self",
        "--format",
        "{{index .Description.Engine.Labels \"shoal.executor\"}}",
    ]);
    assert_eq!(label.trim(), "process");

    // Published SCTP ports: the routing mesh carries TCP and UDP.
    let published = agent.docker(&[
        "service",
        "create",
        "-d",
        "--name",
        "web",
        "-p",
        "8080:80/sctp",
        "busybox",
        "sleep",
        "100",
    ]);
    assert!(!published.status.success(), "accepted: {}", stdout(&published));
    let message = stderr(&published);
    assert!(
        message.contains(
            "Error response from daemon: EndpointSpec: publishing SCTP ports is not supported (8080:80/sctp): \
             the nodes' routing mesh carries TCP and UDP"
        ),
        "{message}"
    );

    // An image and no command, where the only executor is `process`.
    let image_only = agent.docker(&["service", "create", "-d", "--name", "web", "nginx"]);
    assert!(!image_only.status.success(), "accepted: {}", stdout(&image_only));
    let message = stderr(&image_only);
    assert!(
        message.contains("Error response from daemon: ContainerSpec: image \"nginx:latest\" has no command")
            && message.contains("process executor"),
        "{message}"
    );
    assert_eq!(
        agent.docker_ok(&["service", "ls", "-q"]).trim(),
        "",
        "nothing stored"
    );

    // With a command it is created (no replicas: the test starts no process); an update that
    // publishes an SCTP port is refused and leaves the service as it was.
    agent.docker_ok(&[
        "service",
        "create",
        "-d",
        "--name",
        "web",
        "--replicas",
        "0",
        "busybox",
        "sleep",
        "100",
    ]);
    let add_port = agent.docker(&["service", "update", "-d", "--publish-add", "9090:90/sctp", "web"]);
    assert!(
        !add_port.status.success()
            && stderr(&add_port).contains("publishing SCTP ports is not supported (9090:90/sctp)"),
        "{}",
        stderr(&add_port)
    );
    // A service with no replicas waits for nothing; scaling it up is where it is refused.
    agent.docker_ok(&[
        "service",
        "create",
        "-d",
        "--name",
        "idle",
        "--replicas",
        "0",
        "nginx",
    ]);
    let scale = agent.docker(&["service", "scale", "-d", "idle=1"]);
    assert!(
        !scale.status.success() && stderr(&scale).contains("has no command"),
        "{}",
        stderr(&scale)
    );
    let ports = agent.docker_ok(&[
        "service",
        "inspect",
        "web",
        "--format",
        "{{json .Spec.EndpointSpec}}",
    ]);
    assert!(!ports.contains("9090"), "{ports}");
}
