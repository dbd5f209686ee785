//! Standalone containers on an attachable overlay (issue 12), with the stock docker CLI on two
//! hosts of the multi-host harness: `docker run --network app` on the manager gets an address
//! on `app`, reaches a service's task on the other host by name and by VIP, keeps the network
//! in use while it exists and gives everything back when it goes; `network connect|disconnect`
//! change a stopped or running container's network; a network created without `--attachable` is refused
//! with dockerd's words.
#![allow(clippy::disallowed_methods, clippy::unwrap_used, dead_code, unsafe_code)]

mod common;
#[path = "common/hosts.rs"]
mod hosts;
#[path = "common/overlay.rs"]
mod overlay;

use common::{stderr, stdout};
use hosts::{Cluster, IMAGE, skip_reason};
use overlay::*;

/// An HTTP GET of `target` from inside the container: the answer's last line (the web task's
/// host name).
fn get(target: &str) -> String {
    format!("printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 {target} 80 | tail -n 1")
}

#[test]
fn docker_run_joins_an_attachable_overlay() {
    if let Some(why) = skip_reason() {
        eprintln!("skipping: {why}");
        return;
    }
    let c = Cluster::new("ova", 2);
    c.docker_ok(
        0,
        &[
            "network",
            "create",
            "-d",
            "overlay",
            "--attachable",
            "--subnet",
            "10.77.0.0/24",
            "app",
        ],
    );
    c.docker_ok(0, &["network", "create", "-d", "overlay", "closed"]);
    let on_host_1 = format!("node.hostname=={}", c.hosts[1].name);
    service(&c, "web", &["--network", "app", "--constraint", &on_host_1], WEB);
    let web = c.wait_running("web", 1).remove(0);
    let host = web.id[..12].to_owned();
    let vip = vip(&c, "web", "app");

    // Not attachable: dockerd's refusal, and nothing left behind.
    let refused = c.docker(0, &["run", "--rm", "--network", "closed", IMAGE, "true"]);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("network closed not manually attachable"),
        "{}",
        stderr(&refused)
    );
    assert_eq!(c.docker_ok(0, &["ps", "-aq"]).trim(), "");

    // Attached: an address on the network, the service by name and by VIP across hosts.
    let script = format!(
        "ip -4 -o addr show dev eth0; {}; {}",
        get("web"),
        get(&vip.to_string())
    );
    let out = c.docker(
        0,
        &["run", "--rm", "--network", "app", IMAGE, "sh", "-c", &script],
    );
    assert!(
        out.status.success(),
        "{}\n{}",
        stderr(&out),
        c.hosts[0].log_tail()
    );
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    let [a, b, n, _] = vip.octets();
    assert!(
        lines[0].contains(&format!(" {a}.{b}.{n}.")),
        "eth0 not on the network's subnet: {text}"
    );
    assert_eq!(&lines[1..], [host.as_str(), host.as_str()], "{text}");

    // Detached: the network is in use while it exists; `rm -f` gives its address back.
    let run = c.docker(
        0,
        &[
            "run",
            "-d",
            "--name",
            "c1",
            "--network",
            "app",
            IMAGE,
            "sh",
            "-c",
            WEB,
        ],
    );
    if !run.status.success() {
        let files = std::process::Command::new("find")
            .arg(&c.hosts[0].data_dir)
            .args(["-path", "*sandboxes*"])
            .output()
            .unwrap();
        let log = std::fs::read_to_string(c.dir().join("h0.log")).unwrap_or_default();
        panic!("docker run -d: {}\n{}\n{log}", stderr(&run), stdout(&files));
    }
    let answer = c.exec_ok(0, "c1", &["sh", "-c", &get("web")]);
    assert_eq!(answer.trim(), host);
    // Other containers on the network reach it by its name and short ID, as with dockerd.
    let c1_host = c.exec_ok(0, "c1", &["hostname"]).trim().to_owned();
    let c1_id = c.docker_ok(0, &["inspect", "--format", "{{.Id}}", "c1"])[..12].to_owned();
    let script = format!("{}; {}", get("c1"), get(&c1_id));
    let by_name = c.docker_ok(
        0,
        &["run", "--rm", "--network", "app", IMAGE, "sh", "-c", &script],
    );
    assert_eq!(
        by_name.lines().collect::<Vec<_>>(),
        [c1_host.as_str(), c1_host.as_str()],
        "{by_name}"
    );
    // A running container joins and leaves: an address on the network, the service by name,
    // dockerd's words for a second connect and for leaving a network it is not on.
    c.docker_ok(0, &["run", "-d", "--name", "c3", IMAGE, "sleep", "600"]);
    c.docker_ok(
        0,
        &[
            "network",
            "connect",
            "--ip",
            "10.77.0.60",
            "--alias",
            "cache",
            "app",
            "c3",
        ],
    );
    let address = c.exec_ok(0, "c3", &["ip", "-4", "-o", "addr", "show", "dev", "eth0"]);
    assert!(
        address.contains(" 10.77.0.60/24 "),
        "c3's eth0 not at the address asked for: {address}"
    );
    assert_eq!(c.exec_ok(0, "c3", &["sh", "-c", &get("web")]).trim(), host);
    // `--ip` and `--alias` at run: the address asked for, another name on the network; an
    // address taken or outside the subnet is refused with dockerd's words.
    c.docker_ok(
        0,
        &[
            "run",
            "-d",
            "--name",
            "c4",
            "--network",
            "app",
            "--ip",
            "10.77.0.50",
            "--network-alias",
            "db",
            IMAGE,
            "sh",
            "-c",
            WEB,
        ],
    );
    let c4_host = c.exec_ok(0, "c4", &["hostname"]).trim().to_owned();
    c.wait("c3 reaches c4 by its alias", || {
        let out = c.exec(0, "c3", &["sh", "-c", &get("db")]);
        (stdout(&out).trim() == c4_host).then_some(())
    });
    let taken = c.docker(
        0,
        &[
            "run",
            "--rm",
            "--network",
            "app",
            "--ip",
            "10.77.0.50",
            IMAGE,
            "true",
        ],
    );
    assert!(
        stderr(&taken).contains("Address already in use"),
        "{}",
        stderr(&taken)
    );
    let outside = c.docker(
        0,
        &[
            "run",
            "--rm",
            "--network",
            "app",
            "--ip",
            "10.78.0.5",
            IMAGE,
            "true",
        ],
    );
    assert!(
        stderr(&outside).contains("no configured subnet or ip-range contain the IP address 10.78.0.5"),
        "{}",
        stderr(&outside)
    );
    // `network inspect` lists this node's containers on the network (the web task runs on
    // the other host).
    let listed = |c: &Cluster| -> Vec<(String, String)> {
        let text = c.docker_ok(
            0,
            &["network", "inspect", "--format", "{{json .Containers}}", "app"],
        );
        let map: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&text).unwrap();
        let mut out: Vec<(String, String)> = map
            .values()
            .map(|e| {
                assert_eq!(e["EndpointID"].as_str().unwrap().len(), 64, "{e}");
                assert!(
                    e["MacAddress"].as_str().unwrap().starts_with("02:42:0a:4d:00:"),
                    "{e}"
                );
                (
                    e["Name"].as_str().unwrap().to_owned(),
                    e["IPv4Address"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        out.sort();
        out
    };
    let on_app = listed(&c);
    let names: Vec<&str> = on_app.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["c1", "c3", "c4"], "{on_app:?}");
    assert_eq!(on_app[1].1, "10.77.0.60/24");
    assert_eq!(on_app[2].1, "10.77.0.50/24");
    // `Peers`: both hosts hold the network (the web task on one, the containers on the other).
    let peers = c.docker_ok(0, &["network", "inspect", "--format", "{{json .Peers}}", "app"]);
    for h in &c.hosts {
        assert!(peers.contains(&format!("\"Name\":\"{}\"", h.name)), "{peers}");
    }
    c.docker_ok(0, &["rm", "-f", "c4"]);
    c.wait("c4 gone from network inspect", || {
        (listed(&c).len() == 2).then_some(())
    });
    let again = c.docker(0, &["network", "connect", "app", "c3"]);
    assert!(
        stderr(&again).contains("endpoint with name c3 already exists in network app"),
        "{}",
        stderr(&again)
    );
    // The running container stays on its network across a restart (its new process joins).
    c.docker_ok(0, &["restart", "-t", "1", "c3"]);
    assert_eq!(c.exec_ok(0, "c3", &["sh", "-c", &get("web")]).trim(), host);
    c.docker_ok(0, &["network", "disconnect", "app", "c3"]);
    let gone = c.exec(0, "c3", &["ip", "link", "show", "eth0"]);
    assert!(!gone.status.success(), "eth0 left in c3 after disconnect");
    let not_on = c.docker(0, &["network", "disconnect", "app", "c3"]);
    assert!(
        stderr(&not_on).contains("is not connected to network app"),
        "{}",
        stderr(&not_on)
    );
    c.docker_ok(0, &["rm", "-f", "c3"]);

    // `network connect` / `disconnect` on a container that is not running: its next start
    // joins the network, or no longer does.
    let script = format!("echo ran; {}", get("web"));
    c.docker_ok(0, &["create", "--name", "c2", IMAGE, "sh", "-c", &script]);
    let closed = c.docker(0, &["network", "connect", "closed", "c2"]);
    assert!(
        stderr(&closed).contains("not manually attachable"),
        "{}",
        stderr(&closed)
    );
    c.docker_ok(0, &["network", "connect", "app", "c2"]);
    let again = c.docker(0, &["network", "connect", "app", "c2"]);
    assert!(
        stderr(&again).contains("already exists in network app"),
        "{}",
        stderr(&again)
    );
    // One run of c2, its output (each run starts with fresh logs).
    let run = || {
        c.docker_ok(0, &["start", "c2"]);
        c.docker_ok(0, &["wait", "c2"]);
        c.docker_ok(0, &["logs", "c2"])
    };
    let joined = run();
    assert_eq!(joined.lines().collect::<Vec<_>>(), ["ran", host.as_str()]);
    c.docker_ok(0, &["network", "disconnect", "app", "c2"]);
    let alone = run();
    assert!(
        alone.starts_with("ran\n") && !alone.contains(&host),
        "reached web after disconnect: {alone}"
    );
    c.docker_ok(0, &["rm", "c2"]);

    // From the worker (host 1): the leader makes its attachment (`AttachNetwork`); its
    // container reaches the service by name, the manager's containers reach it by name, and a
    // network that is not attachable is refused there too.
    let closed = c.docker(1, &["run", "--rm", "--network", "closed", IMAGE, "true"]);
    assert!(
        stderr(&closed).contains("not manually attachable"),
        "{}",
        stderr(&closed)
    );
    let from_worker = c.docker(
        1,
        &["run", "--rm", "--network", "app", IMAGE, "sh", "-c", &get("web")],
    );
    assert!(
        from_worker.status.success(),
        "{}\n{}",
        stderr(&from_worker),
        c.hosts[1].log_tail()
    );
    assert_eq!(stdout(&from_worker).trim(), host);
    c.docker_ok(
        1,
        &[
            "run",
            "-d",
            "--name",
            "w1",
            "--network",
            "app",
            IMAGE,
            "sh",
            "-c",
            WEB,
        ],
    );
    let w1_host = c.exec_ok(1, "w1", &["hostname"]).trim().to_owned();
    let seen = c.docker_ok(
        0,
        &["run", "--rm", "--network", "app", IMAGE, "sh", "-c", &get("w1")],
    );
    assert_eq!(seen.trim(), w1_host);
    c.docker_ok(1, &["rm", "-f", "w1"]);

    c.docker_ok(0, &["service", "rm", "web"]);
    // Its container goes once its task is deleted, and with the task its address.
    c.wait("web's container gone from host 1", || {
        c.docker_ok(1, &["ps", "-aq"]).trim().is_empty().then_some(())
    });
    let in_use = c.docker(0, &["network", "rm", "app"]);
    assert!(
        !in_use.status.success() && stderr(&in_use).contains("in use"),
        "app removed while c1 is on it: {}",
        stderr(&in_use)
    );
    // Leaving while running gives the address back: the network is free to go, c1 runs on.
    c.docker_ok(0, &["network", "disconnect", "app", "c1"]);
    let left = c.exec(0, "c1", &["ip", "link", "show", "eth0"]);
    assert!(!left.status.success(), "eth0 left in c1 after disconnect");
    c.wait("app removable once c1 left it", || {
        c.docker(0, &["network", "rm", "app"])
            .status
            .success()
            .then_some(())
    });
    c.docker_ok(0, &["rm", "-f", "c1"]);
    let pins: Vec<_> = c.hosts[0]
        .pinned_netns()
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("-t-"))
        .collect();
    assert!(pins.is_empty(), "task namespaces left: {pins:?}");
}

/// The host names behind `network inspect NET`'s `Containers` on host 0.
fn containers_on(c: &Cluster, network: &str) -> Vec<String> {
    let text = c.docker_ok(
        0,
        &["network", "inspect", "--format", "{{json .Containers}}", network],
    );
    let map: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&text).unwrap();
    let mut names: Vec<String> = map
        .values()
        .map(|e| e["Name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

/// `docker inspect`'s `NetworkSettings.Networks` of `container` on host 0: (name, IPAddress).
fn inspect_networks(c: &Cluster, container: &str) -> Vec<(String, String)> {
    let text = c.docker_ok(
        0,
        &[
            "inspect",
            "--format",
            "{{json .NetworkSettings.Networks}}",
            container,
        ],
    );
    let map: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&text).unwrap();
    map.iter()
        .map(|(name, e)| (name.clone(), e["IPAddress"].as_str().unwrap().to_owned()))
        .collect()
}

#[test]
fn a_container_on_two_attachable_overlays_reaches_both_and_keeps_one_after_leaving_the_other() {
    if let Some(why) = skip_reason() {
        eprintln!("skipping: {why}");
        return;
    }
    let c = Cluster::new("ovb", 2);
    for (name, subnet) in [("front", "10.79.1.0/24"), ("back", "10.79.2.0/24")] {
        c.docker_ok(
            0,
            &[
                "network",
                "create",
                "-d",
                "overlay",
                "--attachable",
                "--subnet",
                subnet,
                name,
            ],
        );
    }
    // One service on each network, on the other host.
    let on_host_1 = format!("node.hostname=={}", c.hosts[1].name);
    service(
        &c,
        "fweb",
        &["--network", "front", "--constraint", &on_host_1],
        WEB,
    );
    service(
        &c,
        "bweb",
        &["--network", "back", "--constraint", &on_host_1],
        WEB,
    );
    let fweb = c.wait_running("fweb", 1).remove(0).id[..12].to_owned();
    let bweb = c.wait_running("bweb", 1).remove(0).id[..12].to_owned();

    // `run --network front`, then `network connect back`: a second interface on back's
    // subnet, each service by its name over its own network.
    c.docker_ok(
        0,
        &[
            "run",
            "-d",
            "--name",
            "m1",
            "--network",
            "front",
            IMAGE,
            "sleep",
            "600",
        ],
    );
    c.docker_ok(0, &["network", "connect", "back", "m1"]);
    let addresses = c.exec_ok(0, "m1", &["ip", "-4", "-o", "addr", "show"]);
    assert!(
        addresses.contains("eth0") && addresses.contains(" 10.79.1."),
        "{addresses}"
    );
    assert!(
        addresses.contains("eth1") && addresses.contains(" 10.79.2."),
        "{addresses}"
    );
    assert_eq!(c.exec_ok(0, "m1", &["sh", "-c", &get("fweb")]).trim(), fweb);
    assert_eq!(c.exec_ok(0, "m1", &["sh", "-c", &get("bweb")]).trim(), bweb);
    assert_eq!(containers_on(&c, "front"), ["m1"]);
    assert_eq!(containers_on(&c, "back"), ["m1"]);
    // `docker inspect` shows both endpoints, at the addresses the interfaces hold.
    let networks = inspect_networks(&c, "m1");
    assert_eq!(
        networks.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        ["back", "front"],
        "{networks:?}"
    );
    for (_, address) in &networks {
        assert!(
            addresses.contains(&format!(" {address}/24 ")),
            "{address} not in {addresses}"
        );
    }
    // A restart's new process joins both networks again.
    c.docker_ok(0, &["restart", "-t", "1", "m1"]);
    assert_eq!(c.exec_ok(0, "m1", &["sh", "-c", &get("fweb")]).trim(), fweb);
    assert_eq!(c.exec_ok(0, "m1", &["sh", "-c", &get("bweb")]).trim(), bweb);

    // A container on back alone reaches m1 by name over back.
    c.docker_ok(
        0,
        &[
            "run",
            "-d",
            "--name",
            "m2",
            "--network",
            "back",
            IMAGE,
            "sh",
            "-c",
            WEB,
        ],
    );
    let m2_host = c.exec_ok(0, "m2", &["hostname"]).trim().to_owned();
    assert_eq!(c.exec_ok(0, "m1", &["sh", "-c", &get("m2")]).trim(), m2_host);

    // Leaving back takes only eth1: front and its service stay.
    c.docker_ok(0, &["network", "disconnect", "back", "m1"]);
    let addresses = c.exec_ok(0, "m1", &["ip", "-4", "-o", "addr", "show"]);
    assert!(
        addresses.contains(" 10.79.1.") && !addresses.contains(" 10.79.2."),
        "{addresses}"
    );
    assert_eq!(c.exec_ok(0, "m1", &["sh", "-c", &get("fweb")]).trim(), fweb);
    let unreachable = c.exec(0, "m1", &["sh", "-c", &get("bweb")]);
    assert!(
        !stdout(&unreachable).contains(&bweb),
        "reached bweb after leaving back: {}",
        stdout(&unreachable)
    );
    assert_eq!(containers_on(&c, "front"), ["m1"]);
    assert_eq!(containers_on(&c, "back"), ["m2"]);
    let networks = inspect_networks(&c, "m1");
    assert_eq!(
        networks.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        ["front"],
        "{networks:?}"
    );
    let not_on = c.docker(0, &["network", "disconnect", "back", "m1"]);
    assert!(
        stderr(&not_on).contains("is not connected to network back"),
        "{}",
        stderr(&not_on)
    );

    // Connected again, then leaving front, its first network: back stays, answering names
    // through its own resolver now.
    c.docker_ok(0, &["network", "connect", "back", "m1"]);
    assert_eq!(c.exec_ok(0, "m1", &["sh", "-c", &get("bweb")]).trim(), bweb);
    c.docker_ok(0, &["network", "disconnect", "front", "m1"]);
    let addresses = c.exec_ok(0, "m1", &["ip", "-4", "-o", "addr", "show"]);
    assert!(
        !addresses.contains(" 10.79.1.") && addresses.contains(" 10.79.2."),
        "{addresses}"
    );
    assert_eq!(c.exec_ok(0, "m1", &["sh", "-c", &get("bweb")]).trim(), bweb);
    assert_eq!(c.exec_ok(0, "m1", &["sh", "-c", &get("m2")]).trim(), m2_host);
    assert_eq!(containers_on(&c, "front"), Vec::<String>::new());
    // Its next run is prepared without front and joins back alone, back's files written.
    c.docker_ok(0, &["restart", "-t", "1", "m1"]);
    assert_eq!(c.exec_ok(0, "m1", &["sh", "-c", &get("bweb")]).trim(), bweb);

    // On the worker (host 1, its attachments made by the leader): both networks, each
    // service by name, and leaving one keeps the other.
    c.docker_ok(
        1,
        &[
            "run",
            "-d",
            "--name",
            "w1",
            "--network",
            "front",
            IMAGE,
            "sleep",
            "600",
        ],
    );
    c.docker_ok(1, &["network", "connect", "back", "w1"]);
    assert_eq!(c.exec_ok(1, "w1", &["sh", "-c", &get("fweb")]).trim(), fweb);
    assert_eq!(c.exec_ok(1, "w1", &["sh", "-c", &get("bweb")]).trim(), bweb);
    c.docker_ok(1, &["network", "disconnect", "back", "w1"]);
    assert_eq!(c.exec_ok(1, "w1", &["sh", "-c", &get("fweb")]).trim(), fweb);
    let addresses = c.exec_ok(1, "w1", &["ip", "-4", "-o", "addr", "show"]);
    assert!(!addresses.contains(" 10.79.2."), "{addresses}");
    c.docker_ok(1, &["rm", "-f", "w1"]);

    // Removed: every attachment goes, and both networks can go.
    c.docker_ok(0, &["rm", "-f", "m1", "m2"]);
    c.docker_ok(0, &["service", "rm", "fweb", "bweb"]);
    for network in ["front", "back"] {
        c.wait("the network removable once its containers left", || {
            c.docker(0, &["network", "rm", network])
                .status
                .success()
                .then_some(())
        });
    }
    let pins: Vec<_> = c.hosts[0]
        .pinned_netns()
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("-t-"))
        .collect();
    assert!(pins.is_empty(), "task namespaces left: {pins:?}");
}
