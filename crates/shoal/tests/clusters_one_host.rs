//! Two one-node swarms whose agents share the root network namespace (dev mode, and every test
//! not on namespace hosts): each makes its `ingress` overlay, VXLAN device and ingress sandbox
//! beside the other's — their VNIs differ, as each cluster numbers from a base of its own — and
//! each one's `swarm leave --force` takes only its own data plane down. Stock docker CLI.
//! Root with `nft` only (the data plane's needs).
#![allow(clippy::disallowed_methods, clippy::unwrap_used, dead_code, unsafe_code)]

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::Agent;

fn skip_reason() -> Option<&'static str> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root");
    }
    let nft = Command::new("nft").arg("--version").output();
    if !nft.is_ok_and(|o| o.status.success()) {
        return Some("no nft");
    }
    None
}

fn node_id(agent: &Agent) -> String {
    agent
        .docker_ok(&["info", "--format", "{{.Swarm.NodeID}}"])
        .trim()
        .to_owned()
}

fn ingress_vni(agent: &Agent) -> u32 {
    let vni = agent.docker_ok(&[
        "network",
        "inspect",
        "--format",
        "{{index .Options \"com.docker.network.driver.overlay.vxlanid_list\"}}",
        "ingress",
    ]);
    vni.trim()
        .parse()
        .unwrap_or_else(|_| panic!("ingress VNI {vni:?}"))
}

/// The names of the root namespace's nft tables of data plane `tag`.
fn tables_of(tag: &str) -> Vec<String> {
    let out = Command::new("nft")
        .args(["list", "tables", "ip"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("table ip "))
        .filter(|t| t.starts_with(&format!("shoal-{tag}")))
        .map(str::to_owned)
        .collect()
}

#[test]
fn two_swarms_in_one_namespace_make_their_overlays_side_by_side() {
    if let Some(why) = skip_reason() {
        eprintln!("skipping: {why}");
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let agents = [Agent::start(root.path(), "one"), Agent::start(root.path(), "two")];
    for agent in &agents {
        agent.swarm_init();
    }
    let tags: Vec<String> = agents.iter().map(|a| common::plane_tag(&node_id(a))).collect();
    let vnis: Vec<u32> = agents.iter().map(ingress_vni).collect();
    assert_ne!(vnis[0], vnis[1], "two clusters, two ingress VNIs");
    for (agent, tag) in agents.iter().zip(&tags) {
        // The ingress sandbox stands only once the ingress overlay (its VXLAN device) does. (No
        // port is published: the mesh has no table.)
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let pins = common::plane_pins(tag);
            let sandbox = pins.iter().any(|p| p.ends_with(format!("shoal-{tag}-ingress")));
            if sandbox {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{}'s ingress sandbox (pins {pins:?})\n--- log ---\n{}",
                agent.name,
                agent.log_tail()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    agents[0].docker_ok(&["swarm", "leave", "--force"]);
    assert!(
        common::plane_pins(&tags[0]).is_empty(),
        "the first swarm's plane is down"
    );
    assert!(tables_of(&tags[0]).is_empty(), "and its mesh table");
    assert!(
        common::plane_pins(&tags[1])
            .iter()
            .any(|p| p.ends_with(format!("shoal-{tags1}-ingress", tags1 = tags[1]))),
        "the other swarm's plane stays"
    );
    agents[1].docker_ok(&["swarm", "leave", "--force"]);
    assert!(common::plane_pins(&tags[1]).is_empty());
    assert!(tables_of(&tags[1]).is_empty());
}
