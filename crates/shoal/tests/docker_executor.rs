//! `shoal agent --executor docker` over a private dockerd (Debian's docker.io; own socket and
//! data root, no bridge, no iptables): a service of an image made by `docker import` runs as a
//! Swarm-named container on that dockerd, and the stock docker CLI sees (and execs into) it
//! through the shoal socket, whose container endpoints are proxied to the dockerd.
#![allow(clippy::disallowed_methods, clippy::unwrap_used, dead_code, unsafe_code)]

mod common;

use std::time::Duration;

use common::{Agent, eventually, stdout};
use testkit::dockerd::Dockerd;

const LIMIT: Duration = Duration::from_secs(60);
const IMAGE: &str = "shoal-test/busybox:1";

/// A private dockerd holding the busybox image and a one-node swarm of `shoal agent
/// --executor docker` on it (its data and log under the returned directory, which must
/// outlive the agent), or `None` (said why) when this machine has no dockerd.
fn docker_node(test: &str) -> Option<(Dockerd, tempfile::TempDir, Agent)> {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dockerd = match rt.block_on(Dockerd::try_start()) {
        Ok(d) => d,
        Err(why) => {
            eprintln!("SKIPPED: the docker executor's {test} test needs a dockerd: {why}");
            return None;
        }
    };
    dockerd.import_busybox(IMAGE).unwrap();
    let root = tempfile::tempdir().unwrap();
    let host = format!("unix://{}", dockerd.socket().display());
    let agent = Agent::start_with(
        root.path(),
        "n1",
        &["--executor".into(), "docker".into(), "--docker-host".into(), host],
    );
    agent.swarm_init();
    Some((dockerd, root, agent))
}

#[test]
fn a_service_runs_on_the_local_dockerd_and_shows_through_the_shoal_socket() {
    let Some((dockerd, _root, mut agent)) = docker_node("acceptance") else {
        return;
    };
    agent.docker_ok(&[
        "service",
        "create",
        "--detach",
        "--no-resolve-image",
        "--name",
        "web",
        "--stop-grace-period",
        "1s",
        IMAGE,
        "sh",
        "-c",
        "echo hello; sleep 100000 & wait $!",
    ]);
    eventually("web at 1/1", LIMIT, || {
        let replicas = agent.docker_ok(&[
            "service",
            "ls",
            "--filter",
            "name=web",
            "--format",
            "{{.Replicas}}",
        ]);
        (replicas.trim() == "1/1").then_some(())
    });
    let task = agent.docker_ok(&["service", "ps", "-q", "--no-trunc", "web"]);
    let name = format!("web.1.{}", task.trim());

    // Through the shoal socket (proxied), as on dockerd itself.
    let through_shoal = agent.docker_ok(&[
        "ps",
        "--format",
        "{{.Names}} {{.Label \"com.docker.swarm.service.name\"}}",
    ]);
    assert!(
        through_shoal.lines().any(|l| l == format!("{name} web")),
        "{through_shoal}"
    );
    let on_dockerd = dockerd.ok(&["ps", "--format", "{{.Names}}"]);
    assert!(on_dockerd.lines().any(|l| l == name), "{on_dockerd}");
    // exec start is a hijacked (101 Switching Protocols) connection through the proxy.
    let out = agent.docker(&["exec", &name, "echo", "from exec"]);
    assert_eq!(
        stdout(&out).trim(),
        "from exec",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // `docker run` attaches (another hijacked connection), starts, waits and removes.
    let ran = agent.docker_ok(&["run", "--rm", "--network", "none", IMAGE, "echo", "from run"]);
    assert_eq!(ran.trim(), "from run");
    let logs = agent.docker_ok(&["logs", &name]);
    assert_eq!(logs.trim(), "hello");
    // `docker system df` counts what `docker images` and `docker ps -a` list: dockerd's.
    let df = agent.docker_ok(&["system", "df", "--format", "{{.Type}} {{.TotalCount}}"]);
    let on_dockerd = dockerd.ok(&["system", "df", "--format", "{{.Type}} {{.TotalCount}}"]);
    assert_eq!(df, on_dockerd);
    assert!(df.lines().any(|l| l == "Images 1"), "{df}");
    assert!(df.lines().any(|l| l == "Containers 1"), "{df}");

    // kill -9 of the agent: the container keeps running and the restarted agent re-attaches
    // to it (found by its labels) instead of starting another.
    let started = dockerd.ok(&["inspect", "--format", "{{.Id}} {{.State.StartedAt}}", &name]);
    agent.restart();
    eventually("web at 1/1 after the restart", LIMIT, || {
        let replicas = agent.docker(&[
            "service",
            "ls",
            "--filter",
            "name=web",
            "--format",
            "{{.Replicas}}",
        ]);
        (stdout(&replicas).trim() == "1/1").then_some(())
    });
    // The worker re-attaches before the API socket answers; the session then reports the
    // same task, with no replacement in the service's history.
    let tasks = agent.docker_ok(&["service", "ps", "-q", "--no-trunc", "web"]);
    assert_eq!(tasks.trim(), task.trim(), "the same task, not a replacement");
    let running = dockerd.ok(&["ps", "--filter", "label=com.docker.swarm.service.name=web", "-q"]);
    assert_eq!(running.lines().count(), 1, "no second container: {running}");
    assert_eq!(
        dockerd.ok(&["inspect", "--format", "{{.Id}} {{.State.StartedAt}}", &name]),
        started,
        "the same container, never restarted"
    );

    agent.docker_ok(&["service", "rm", "web"]);
    eventually("the task container removed", LIMIT, || {
        let all = dockerd.ok(&["ps", "-a", "--format", "{{.Names}}"]);
        (!all.lines().any(|l| l == name)).then_some(())
    });
}

/// Root with `nft` (the overlay data plane's needs) and a dockerd, else why not.
fn overlay_skip_reason() -> Option<&'static str> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root");
    }
    let nft = std::process::Command::new("nft").arg("--version").output();
    if !nft.is_ok_and(|o| o.status.success()) {
        return Some("no nft");
    }
    None
}

/// The one container of service `service` on `dockerd`.
fn container_of(dockerd: &Dockerd, service: &str) -> Option<String> {
    let filter = format!("label=com.docker.swarm.service.name={service}");
    let out = dockerd.docker(&["ps", "--filter", &filter, "--format", "{{.Names}}"]);
    let names = stdout(&out);
    let mut lines = names.lines();
    let first = lines.next()?.to_owned();
    lines.next().is_none().then_some(first)
}

/// `client` asks `web` (by name: DNS, then the VIP) for its page over plain TCP; the page's
/// body, once it answers.
fn fetch(dockerd: &Dockerd, client: &str) -> Option<String> {
    let out = dockerd.docker(&[
        "exec",
        client,
        "sh",
        "-c",
        "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 web 80",
    ]);
    let text = stdout(&out);
    text.contains(" 200 ").then(|| {
        text.rsplit("\r\n\r\n")
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned()
    })
}

/// The ifindex of a container's `eth0` (a re-made veth gets a new one) and its interfaces.
fn links(dockerd: &Dockerd, container: &str) -> String {
    dockerd.ok(&[
        "exec",
        container,
        "sh",
        "-c",
        "cat /sys/class/net/eth0/ifindex; ls /sys/class/net",
    ])
}

#[test]
fn a_task_on_an_overlay_keeps_its_endpoint_and_answers_by_name_after_an_agent_kill_9() {
    if let Some(why) = overlay_skip_reason() {
        eprintln!("SKIPPED: the docker executor's overlay test needs {why}");
        return;
    }
    let Some((dockerd, root, mut agent)) = docker_node("overlay") else {
        return;
    };
    agent.docker_ok(&["network", "create", "-d", "overlay", "dxnet"]);
    for (name, command) in [
        (
            "web",
            "mkdir -p /www && echo web-page > /www/index.html && exec httpd -f -p 80 -h /www",
        ),
        ("client", "exec sleep 100000"),
    ] {
        agent.docker_ok(&[
            "service",
            "create",
            "--detach",
            "--no-resolve-image",
            "--name",
            name,
            "--network",
            "dxnet",
            "--stop-grace-period",
            "1s",
            IMAGE,
            "sh",
            "-c",
            command,
        ]);
    }
    let (web, client) = eventually("web and client running", LIMIT, || {
        Some((container_of(&dockerd, "web")?, container_of(&dockerd, "client")?))
    });
    let page = eventually("client reaches web by name", LIMIT, || fetch(&dockerd, &client));
    assert_eq!(page, "web-page");
    // The container's host name is the one the sandbox's hosts file gives its address.
    let own = dockerd.docker(&["exec", &client, "sh", "-c", "hostname -i 2>&1"]);
    assert!(own.status.success(), "hostname -i: {own:?}");
    let own: std::net::Ipv4Addr = stdout(&own).trim().parse().expect("hostname -i is an address");
    assert!(!own.is_loopback(), "{own}: the overlay address, not loopback");
    let before = (links(&dockerd, &web), links(&dockerd, &client));
    let tasks = agent.docker_ok(&["service", "ps", "-q", "--no-trunc", "web"]);

    agent.restart();
    eventually("web at 1/1 after the restart", LIMIT, || {
        let out = agent.docker(&[
            "service",
            "ls",
            "--filter",
            "name=web",
            "--format",
            "{{.Replicas}}",
        ]);
        (stdout(&out).trim() == "1/1").then_some(())
    });
    assert_eq!(
        agent.docker_ok(&["service", "ps", "-q", "--no-trunc", "web"]),
        tasks,
        "the same task, not a replacement"
    );
    // The new agent's resolver and the client's VIP table answer again, through the same
    // endpoints: no veth was made again, none added.
    let page = eventually("client reaches web by name after the restart", LIMIT, || {
        fetch(&dockerd, &client)
    });
    assert_eq!(page, "web-page");
    assert_eq!((links(&dockerd, &web), links(&dockerd, &client)), before);
    let log = std::fs::read_to_string(root.path().join("n1.log")).unwrap_or_default();
    assert_eq!(
        log.matches("re-adopted a held task's namespace with its endpoints")
            .count(),
        2,
        "both tasks re-adopted as they were:\n{log}"
    );

    agent.docker_ok(&["service", "rm", "web", "client"]);
    eventually("the task containers removed", LIMIT, || {
        let all = dockerd.ok(&["ps", "-a", "-q"]);
        all.trim().is_empty().then_some(())
    });
}

/// The page at `http://127.0.0.1:{port}/` once something answers there.
fn local_page(port: u16) -> Option<String> {
    use std::io::{Read, Write};
    let mut conn = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    conn.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
    conn.write_all(b"GET / HTTP/1.0\r\n\r\n").ok()?;
    let mut text = String::new();
    conn.read_to_string(&mut text).ok()?;
    text.contains(" 200 ").then(|| {
        text.rsplit("\r\n\r\n")
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned()
    })
}

/// A docker-executor task published through the routing mesh (`-p`): the agent gives the
/// container its ingress endpoint (dockerd made it with network mode `none`), and the node
/// answers on the published port, on its own loopback too, as a Swarm node does.
#[test]
fn a_published_port_answers_through_the_mesh() {
    if let Some(why) = overlay_skip_reason() {
        eprintln!("SKIPPED: the docker executor's mesh test needs {why}");
        return;
    }
    let Some((dockerd, root, mut agent)) = docker_node("mesh") else {
        return;
    };
    // A port no other test publishes in this namespace.
    const PORT: u16 = 28437;
    agent.docker_ok(&[
        "service",
        "create",
        "--detach",
        "--no-resolve-image",
        "--name",
        "web",
        "--publish",
        &format!("{PORT}:80"),
        "--stop-grace-period",
        "1s",
        IMAGE,
        "sh",
        "-c",
        "mkdir -p /www && echo mesh-page > /www/index.html && exec httpd -f -p 80 -h /www",
    ]);
    let web = eventually("web running", LIMIT, || container_of(&dockerd, "web"));
    let page = eventually("the published port answers", LIMIT, || local_page(PORT));
    assert_eq!(page, "mesh-page");
    // The container holds the agent's ingress endpoint (dockerd gave it none of its own).
    let ifaces = links(&dockerd, &web);
    assert!(ifaces.lines().any(|l| l == "eth0"), "{ifaces}");

    // kill -9 of the agent: the restarted one re-adopts the endpoint as it was.
    agent.restart();
    let page = eventually("the published port answers after the restart", LIMIT, || {
        local_page(PORT)
    });
    assert_eq!(page, "mesh-page");
    assert_eq!(links(&dockerd, &web), ifaces, "the same endpoint, not a new one");
    // The endpoint outlived the agent, so the page answered before the new agent's first
    // full assignment; the re-adoption comes with that.
    let adopted = "re-adopted a held task's namespace with its endpoints";
    let log = eventually("the endpoint re-adopted", LIMIT, || {
        let log = std::fs::read_to_string(root.path().join("n1.log")).unwrap_or_default();
        log.contains(adopted).then_some(log)
    });
    assert_eq!(log.matches(adopted).count(), 1, "{log}");

    agent.docker_ok(&["service", "rm", "web"]);
    eventually("the task container removed", LIMIT, || {
        let all = dockerd.ok(&["ps", "-a", "-q"]);
        all.trim().is_empty().then_some(())
    });
    eventually("the port closed with the service", LIMIT, || {
        local_page(PORT).is_none().then_some(())
    });
}

/// A task whose health check passes only over its overlay reaches RUNNING: the agent attaches
/// the endpoints dockerd's namespace needs between the container's start and the wait for its
/// first healthy check (before, `start` waited for health before the attach, so it never came).
#[test]
fn a_health_check_that_needs_the_overlay_passes() {
    if let Some(why) = overlay_skip_reason() {
        eprintln!("SKIPPED: the docker executor's overlay test needs {why}");
        return;
    }
    let Some((dockerd, _root, agent)) = docker_node("overlay") else {
        return;
    };
    agent.docker_ok(&["network", "create", "-d", "overlay", "hcnet"]);
    let httpd = "mkdir -p /www && echo $PAGE > /www/index.html && exec httpd -f -p 80 -h /www";
    agent.docker_ok(&[
        "service",
        "create",
        "--detach",
        "--no-resolve-image",
        "--name",
        "web",
        "--network",
        "hcnet",
        "--env",
        "PAGE=web-page",
        "--stop-grace-period",
        "1s",
        IMAGE,
        "sh",
        "-c",
        httpd,
    ]);
    // `checker` is healthy only once it fetches web's page by name over hcnet, and its own
    // page from its own address there (eth0's, which dockerd's network mode `none` lacks).
    let check = "wget -q -O- http://web/ | grep -q web-page && \
        own=$(ip -o -4 addr show dev eth0 | sed 's/.* inet \\([0-9.]*\\).*/\\1/') && \
        wget -q -O- http://$own/ | grep -q checker-page";
    agent.docker_ok(&[
        "service",
        "create",
        "--detach",
        "--no-resolve-image",
        "--name",
        "checker",
        "--network",
        "hcnet",
        "--env",
        "PAGE=checker-page",
        "--health-cmd",
        check,
        "--health-interval",
        "1s",
        "--health-timeout",
        "3s",
        "--health-retries",
        "3",
        "--stop-grace-period",
        "1s",
        IMAGE,
        "sh",
        "-c",
        httpd,
    ]);
    let task = eventually("checker running", LIMIT, || {
        let out = agent.docker(&[
            "service",
            "ps",
            "--no-trunc",
            "--format",
            "{{.ID}} {{.CurrentState}} {{.Error}}",
            "checker",
        ]);
        let text = stdout(&out);
        let mut lines = text.lines();
        let first = lines.next()?.to_owned();
        first
            .contains(" Running ")
            .then(|| first.split(' ').next().unwrap_or_default().to_owned())
    });
    let container = container_of(&dockerd, "checker").expect("checker's container");
    assert_eq!(
        dockerd
            .ok(&["inspect", "--format", "{{.State.Health.Status}}", &container])
            .trim(),
        "healthy"
    );
    assert_eq!(
        agent
            .docker_ok(&["service", "ps", "-q", "--no-trunc", "checker"])
            .trim(),
        task,
        "the first task, never replaced as unhealthy"
    );

    agent.docker_ok(&["service", "rm", "web", "checker"]);
    eventually("the task containers removed", LIMIT, || {
        let all = dockerd.ok(&["ps", "-a", "-q"]);
        all.trim().is_empty().then_some(())
    });
}
