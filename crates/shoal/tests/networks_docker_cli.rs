//! Issue 12 (control plane) acceptance, driven by the stock docker CLI: a manager and a
//! worker as real `shoal agent` processes on loopback. Overlay networks are created, listed,
//! inspected, pruned and removed; a service on one gets a VIP and its tasks addresses from
//! the network's range; removal is refused while the service uses it.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{Agent, eventually, stderr};
use serde_json::Value;

fn json(text: &str) -> Value {
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// The addresses (with prefix) the running tasks of `service` hold.
fn task_addresses(m: &Agent, service: &str) -> Vec<String> {
    let ids = m.docker_ok(&[
        "service",
        "ps",
        "-q",
        "--filter",
        "desired-state=running",
        service,
    ]);
    let mut out = Vec::new();
    for id in ids.lines().filter(|l| !l.trim().is_empty()) {
        let a = m.docker_ok(&[
            "inspect",
            "--type",
            "task",
            "--format",
            "{{json .NetworksAttachments}}",
            id.trim(),
        ]);
        for att in json(&a).as_array().cloned().unwrap_or_default() {
            for addr in att["Addresses"].as_array().unwrap() {
                out.push(addr.as_str().unwrap().to_string());
            }
        }
    }
    out
}

#[test]
fn docker_cli_manages_overlay_networks() {
    let root = tempfile::tempdir().unwrap();
    let m1 = Agent::start(root.path(), "m1");
    let w1 = Agent::start(root.path(), "w1");
    m1.swarm_init();
    let token = m1
        .docker_ok(&["swarm", "join-token", "-q", "worker"])
        .trim()
        .to_string();
    w1.docker_ok(&[
        "swarm",
        "join",
        "--token",
        &token,
        "--listen-addr",
        &w1.addr,
        "--advertise-addr",
        &w1.addr,
        &m1.addr,
    ]);

    // The predefined networks, as dockerd lists them in a swarm.
    let ls = m1.docker_ok(&["network", "ls", "--format", "{{.Name}} {{.Driver}} {{.Scope}}"]);
    for row in [
        "ingress overlay swarm",
        "bridge bridge local",
        "host host local",
        "none null local",
    ] {
        assert!(ls.lines().any(|l| l == row), "{row} missing from\n{ls}");
    }
    let ingress = json(&m1.docker_ok(&["network", "inspect", "ingress", "--format", "{{json .}}"]));
    assert_eq!(ingress["IPAM"]["Config"][0]["Subnet"], "10.0.0.0/24");
    assert_eq!(ingress["Ingress"], true);

    let created = m1.docker_ok(&[
        "network",
        "create",
        "-d",
        "overlay",
        "--subnet",
        "10.10.0.0/24",
        "--ip-range",
        "10.10.0.128/25",
        "--gateway",
        "10.10.0.1",
        "--aux-address",
        "db=10.10.0.129",
        "--label",
        "tier=web",
        "--attachable",
        "--opt",
        "com.docker.network.driver.mtu=1400",
        "net1",
    ]);
    let id = created.trim().to_string();
    let net = json(&m1.docker_ok(&["network", "inspect", "net1", "--format", "{{json .}}"]));
    assert_eq!(net["Id"], id.as_str());
    assert_eq!(net["Driver"], "overlay");
    assert_eq!(net["Scope"], "swarm");
    assert_eq!(net["Attachable"], true);
    assert_eq!(net["Labels"]["tier"], "web");
    assert_eq!(net["Options"]["com.docker.network.driver.mtu"], "1400");
    let cfg = &net["IPAM"]["Config"][0];
    assert_eq!(
        (
            &cfg["Subnet"],
            &cfg["IPRange"],
            &cfg["Gateway"],
            &cfg["AuxiliaryAddresses"]["db"]
        ),
        (
            &Value::from("10.10.0.0/24"),
            &Value::from("10.10.0.128/25"),
            &Value::from("10.10.0.1"),
            &Value::from("10.10.0.129")
        )
    );
    // By ID prefix, and with filters.
    m1.docker_ok(&["network", "inspect", &id[..6]]);
    let filtered = m1.docker_ok(&[
        "network",
        "ls",
        "--filter",
        "label=tier=web",
        "--format",
        "{{.Name}}",
    ]);
    assert_eq!(filtered.trim(), "net1");
    let bridge = m1.docker(&["network", "create", "-d", "bridge", "b1"]);
    assert!(!bridge.status.success());
    assert!(
        stderr(&bridge).contains("overlay networks only"),
        "{}",
        stderr(&bridge)
    );
    let dup = m1.docker(&["network", "create", "-d", "overlay", "net1"]);
    assert!(stderr(&dup).contains("already exists"), "{}", stderr(&dup));

    // A service on it: a VIP and one address per task, all from the range.
    m1.docker_ok(&[
        "service",
        "create",
        "--detach",
        "--name",
        "web",
        "--replicas",
        "3",
        "--network",
        "net1",
        "busybox",
        "sleep",
        "1000",
    ]);
    let vips = eventually("the service's VIP", Duration::from_secs(20), || {
        let v = json(&m1.docker_ok(&[
            "service",
            "inspect",
            "web",
            "--format",
            "{{json .Endpoint.VirtualIPs}}",
        ]));
        v.as_array().filter(|a| !a.is_empty()).cloned()
    });
    assert_eq!(vips[0]["NetworkID"], id.as_str());
    let addrs = eventually("3 task addresses", Duration::from_secs(30), || {
        let a = task_addresses(&m1, "web");
        (a.len() == 3).then_some(a)
    });
    let mut all: Vec<String> = addrs.clone();
    all.push(vips[0]["Addr"].as_str().unwrap().to_string());
    let distinct: BTreeSet<&String> = all.iter().collect();
    assert_eq!(distinct.len(), 4, "{all:?}");
    for a in &all {
        let (ip, prefix) = a.split_once('/').unwrap();
        assert_eq!(prefix, "24", "{a}");
        let last: u8 = ip.strip_prefix("10.10.0.").unwrap().parse().unwrap();
        assert!(
            last >= 128 && last != 129,
            "{a} is outside the range or the aux address"
        );
    }

    // In use: refused.
    let rm = m1.docker(&["network", "rm", "net1"]);
    assert!(!rm.status.success());
    assert!(stderr(&rm).contains("in use"), "{}", stderr(&rm));
    let rm = m1.docker(&["network", "rm", "bridge"]);
    assert!(stderr(&rm).contains("pre-defined"), "{}", stderr(&rm));

    // --network-rm drops the VIP; the tasks are replaced without addresses.
    m1.docker_ok(&["service", "update", "--detach", "--network-rm", "net1", "web"]);
    eventually("no VIP", Duration::from_secs(20), || {
        let v = m1.docker_ok(&[
            "service",
            "inspect",
            "web",
            "--format",
            "{{json .Endpoint.VirtualIPs}}",
        ]);
        matches!(v.trim(), "null" | "[]").then_some(())
    });
    m1.docker_ok(&["service", "update", "--detach", "--network-add", "net1", "web"]);
    eventually("addresses again", Duration::from_secs(30), || {
        (task_addresses(&m1, "web").len() == 3).then_some(())
    });

    // Gone with the service: the network can go.
    m1.docker_ok(&["service", "rm", "web"]);
    eventually("net1 removable", Duration::from_secs(30), || {
        m1.docker(&["network", "rm", "net1"])
            .status
            .success()
            .then_some(())
    });
    m1.docker_ok(&["network", "create", "-d", "overlay", "spare"]);
    let pruned = m1.docker_ok(&["network", "prune", "-f"]);
    assert!(pruned.contains("spare"), "{pruned}");
    let ls = m1.docker_ok(&["network", "ls", "--format", "{{.Name}}"]);
    assert!(
        ls.lines().any(|l| l == "ingress") && !ls.contains("spare"),
        "{ls}"
    );
}
