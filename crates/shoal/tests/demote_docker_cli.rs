//! Demotion keeps a leader (issue 9.3), driven by the stock docker CLI against real
//! `shoal agent` processes: at 2, 3, 4 and 5 managers, demoting the leader and a follower
//! leaves exactly one leader among the remaining managers, writes succeed through each of
//! them, and the demoted node ends up a worker. With two managers the removal needs the
//! demoted node's vote, so it must keep serving Raft until it is out of the member list.
//! Also: a node that leaves shows as down at once (issue 9.9).

#![allow(clippy::unwrap_used)]
// Deadlines of waits on real processes use the real clock.
#![allow(clippy::disallowed_methods)]

mod common;

use std::time::{Duration, Instant};

use common::Agent;

/// Generous: the machine is shared with other test binaries.
const WAIT: Duration = Duration::from_secs(60);

/// Polls `check` until it returns `Ok`, or panics with `what`, the last thing seen and `logs`.
fn wait_for(what: &str, logs: &[&Agent], mut check: impl FnMut() -> Result<(), String>) {
    let deadline = Instant::now() + WAIT;
    loop {
        let last = match check() {
            Ok(()) => return,
            Err(last) => last,
        };
        if Instant::now() >= deadline {
            let logs: String = logs
                .iter()
                .map(|a| format!("\n--- {} log ---\n{}", a.name, a.log_tail()))
                .collect();
            panic!("timed out after {WAIT:?} waiting for: {what}\nlast seen: {last}{logs}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `docker node ls` rows as (hostname, status, manager status), or what went wrong.
fn node_rows(agent: &Agent) -> Result<Vec<(String, String, String)>, String> {
    let out = agent.docker(&[
        "node",
        "ls",
        "--format",
        "{{.Hostname}}|{{.Status}}|{{.ManagerStatus}}",
    ]);
    if !out.status.success() {
        return Err(common::stderr(&out));
    }
    Ok(common::stdout(&out)
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('|').collect();
            (
                f[0].to_string(),
                f.get(1).unwrap_or(&"").to_string(),
                f.get(2).unwrap_or(&"").to_string(),
            )
        })
        .collect())
}

/// Runs `swarm init` or `swarm join` (`args` after the verb, before the addresses) on `a`.
/// A port picked free can be taken by another test before the agent binds it; then pick
/// another, as an operator would.
fn enter_swarm(a: &mut Agent, verb: &str, args: &[&str]) {
    for _ in 0..5 {
        let addr = a.addr.clone();
        let mut full = vec!["swarm", verb];
        full.extend_from_slice(args);
        full.extend_from_slice(&["--listen-addr", &addr, "--advertise-addr", &addr]);
        let out = a.docker(&full);
        if out.status.success() {
            return;
        }
        let err = common::stderr(&out);
        assert!(
            err.contains("Address already in use"),
            "docker {full:?} on {} failed: {err}\n--- log ---\n{}",
            a.name,
            a.log_tail()
        );
        a.addr = format!("127.0.0.1:{}", common::free_port());
    }
    panic!("no free cluster port for {}", a.name);
}

/// Starts `n` agents, inits on the first and joins the rest as managers; waits until every
/// one is a ready manager.
fn managers(root: &std::path::Path, n: usize, tag: &str) -> Vec<Agent> {
    let mut agents: Vec<Agent> = (1..=n)
        .map(|i| Agent::start(root, &format!("{tag}m{i}")))
        .collect();
    enter_swarm(&mut agents[0], "init", &[]);
    let token = agents[0]
        .docker_ok(&["swarm", "join-token", "-q", "manager"])
        .trim()
        .to_string();
    let first_addr = agents[0].addr.clone();
    for a in &mut agents[1..] {
        enter_swarm(a, "join", &["--token", &token, &first_addr]);
    }
    let first = &agents[0];
    let all: Vec<&Agent> = agents.iter().collect();
    wait_for(&format!("{n} ready managers, one leader"), &all, || {
        let rows = node_rows(first)?;
        let ok = rows.len() == n
            && rows.iter().all(|r| r.1 == "Ready" && !r.2.is_empty())
            && rows.iter().filter(|r| r.2 == "Leader").count() == 1;
        if ok { Ok(()) } else { Err(format!("{rows:?}")) }
    });
    agents
}

/// One manager (`<tag>m1`) and one worker (`<tag>w1`) joined to it and ready.
fn manager_and_worker(root: &std::path::Path, tag: &str) -> (Vec<Agent>, Agent) {
    let agents = managers(root, 1, tag);
    let m = &agents[0];
    let name = format!("{tag}w1");
    let mut w = Agent::start(root, &name);
    let token = m
        .docker_ok(&["swarm", "join-token", "-q", "worker"])
        .trim()
        .to_string();
    enter_swarm(&mut w, "join", &["--token", &token, &m.addr]);
    wait_for("the worker is ready", &[m, &w], || {
        let rows = node_rows(m)?;
        if rows.iter().any(|r| r.0 == name && r.1 == "Ready") {
            Ok(())
        } else {
            Err(format!("{rows:?}"))
        }
    });
    (agents, w)
}

fn leader_name(agent: &Agent) -> String {
    node_rows(agent)
        .unwrap()
        .into_iter()
        .find(|r| r.2 == "Leader")
        .map(|r| r.0)
        .expect("a leader")
}

/// Demotes `target` through `via`, then checks: every remaining manager sees exactly one
/// leader (one of them) and `target` without manager status; a write succeeds through each
/// of them; and `target` itself ends up without control (a worker).
fn demote_and_check(agents: &[Agent], target: &str, via: &str, remaining: &[&str]) {
    let by_name = |name: &str| agents.iter().find(|a| a.name == name).unwrap();
    by_name(via).docker_ok(&["node", "demote", target]);
    for name in remaining {
        let m = by_name(name);
        let what = format!("{name}: one leader among {remaining:?} and {target} a worker");
        wait_for(&what, &[m, by_name(target)], || {
            let rows = node_rows(m)?;
            let leaders: Vec<_> = rows.iter().filter(|r| r.2 == "Leader").collect();
            let demoted = rows.iter().any(|r| r.0 == target && r.2.is_empty());
            if leaders.len() == 1 && remaining.contains(&leaders[0].0.as_str()) && demoted {
                Ok(())
            } else {
                Err(format!("{rows:?}"))
            }
        });
    }
    // Writes succeed, through the leader and forwarded by followers alike. (The cluster
    // object: node objects are still being written by the role change itself, so a node
    // update could lose a version race, as it would with Swarm.)
    for (i, name) in remaining.iter().enumerate() {
        let limit = format!("{}", 10 + i);
        by_name(name).docker_ok(&["swarm", "update", "--task-history-limit", &limit]);
        let seen = by_name(name).docker_ok(&[
            "info",
            "--format",
            "{{.Swarm.Cluster.Spec.Orchestration.TaskHistoryRetentionLimit}}",
        ]);
        assert_eq!(seen.trim(), limit, "write through {name} not read back");
    }
    let t = by_name(target);
    wait_for(&format!("{target} runs as a worker"), &[t], || {
        let out = t.docker(&["info", "--format", "{{.Swarm.ControlAvailable}}"]);
        let seen = common::stdout(&out);
        if seen.trim() == "false" { Ok(()) } else { Err(seen) }
    });
}

/// Demotes the leader (through a follower), then a follower, while more than one manager
/// remains; each time a leader must exist afterwards.
fn demote_leader_then_follower(n: usize, tag: &str) {
    let root = tempfile::tempdir().unwrap();
    let agents = managers(root.path(), n, tag);
    let names: Vec<String> = agents.iter().map(|a| a.name.clone()).collect();
    let mut remaining: Vec<String> = names.clone();

    let leader = leader_name(&agents[0]);
    remaining.retain(|r| *r != leader);
    let via = remaining[0].clone();
    let rest: Vec<&str> = remaining.iter().map(String::as_str).collect();
    demote_and_check(&agents, &leader, &via, &rest);

    if remaining.len() >= 2 {
        let via_agent = agents.iter().find(|a| a.name == remaining[0]).unwrap();
        let leader = leader_name(via_agent);
        let follower = remaining.iter().find(|r| **r != leader).unwrap().clone();
        remaining.retain(|r| *r != follower);
        let rest: Vec<&str> = remaining.iter().map(String::as_str).collect();
        demote_and_check(&agents, &follower, &leader, &rest);
    }
}

#[test]
fn demoting_the_follower_of_two_managers_keeps_a_leader() {
    let root = tempfile::tempdir().unwrap();
    let agents = managers(root.path(), 2, "f2");
    let leader = leader_name(&agents[0]);
    let follower = agents.iter().find(|a| a.name != leader).unwrap().name.clone();
    demote_and_check(&agents, &follower, &leader, &[leader.as_str()]);
}

#[test]
fn demoting_the_leader_of_two_managers_keeps_a_leader() {
    demote_leader_then_follower(2, "l2");
}

#[test]
fn demotions_at_three_managers_keep_a_leader() {
    demote_leader_then_follower(3, "d3");
}

#[test]
fn demotions_at_four_managers_keep_a_leader() {
    demote_leader_then_follower(4, "d4");
}

#[test]
fn demotions_at_five_managers_keep_a_leader() {
    demote_leader_then_follower(5, "d5");
}

#[test]
fn a_worker_that_leaves_is_down_at_once() {
    let root = tempfile::tempdir().unwrap();
    let (agents, w) = manager_and_worker(root.path(), "lv");
    let m = &agents[0];
    w.docker_ok(&["swarm", "leave"]);
    // Right after `swarm leave` returns, not after missed heartbeats (several seconds).
    let rows = node_rows(m).unwrap();
    let row = rows.iter().find(|r| r.0 == "lvw1").unwrap();
    assert_eq!(row.1, "Down", "{rows:?}");
    // ...and it may be removed without --force, as a down node.
    m.docker_ok(&["node", "rm", "lvw1"]);
}

/// A promotion overtaken by a demotion (the node still joining Raft under its new manager
/// certificate when it is demoted) ends with a worker under a worker certificate, as if
/// neither had happened; the node then still becomes a manager when promoted for good. The
/// demotion is sent as soon as the manager certificate is on the node's disk; that lands
/// inside the join on most rounds, and the rounds go on until the node's log shows a join
/// cut short that way (at most 10).
#[test]
fn a_promotion_overtaken_by_a_demotion_ends_a_worker() {
    let root = tempfile::tempdir().unwrap();
    let (agents, w) = manager_and_worker(root.path(), "pd");
    let m = &agents[0];
    let cert = w.data_dir().join("swarm/certs/node.pem");
    let log = root.path().join("pdw1.log");
    let subject = || {
        let out = std::process::Command::new("openssl")
            .args(["x509", "-noout", "-subject", "-in"])
            .arg(&cert)
            .output()
            .map_err(|e| format!("openssl: {e}"))?;
        Ok::<String, String>(common::stdout(&out).trim().to_string())
    };
    let overtaken = || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("changing role to manager") && l.contains("demoted"))
            .count()
    };
    let mut rounds = 0;
    while rounds < 10 && overtaken() == 0 {
        rounds += 1;
        m.docker_ok(&["node", "promote", "pdw1"]);
        wait_for("the manager certificate on the node", &[m, &w], || {
            let s = subject()?;
            if s.contains("swarm-manager") {
                Ok(())
            } else {
                Err(s)
            }
        });
        m.docker_ok(&["node", "demote", "pdw1"]);
        wait_for("pdw1 a worker again, with a worker certificate", &[m, &w], || {
            let rows = node_rows(m)?;
            let row = rows.iter().find(|r| r.0 == "pdw1").ok_or(format!("{rows:?}"))?;
            let s = subject()?;
            let control = w.docker(&["info", "--format", "{{.Swarm.ControlAvailable}}"]);
            let control = common::stdout(&control);
            if row.1 == "Ready" && row.2.is_empty() && s.contains("swarm-worker") && control.trim() == "false"
            {
                Ok(())
            } else {
                Err(format!("{row:?}; certificate {s}; control {}", control.trim()))
            }
        });
    }
    if overtaken() == 0 {
        eprintln!("no round cut a join short in {rounds} rounds: only the ordinary demotion was checked");
    }
    m.docker_ok(&["node", "promote", "pdw1"]);
    wait_for("pdw1 a reachable manager", &[m, &w], || {
        let rows = node_rows(m)?;
        match rows.iter().find(|r| r.0 == "pdw1") {
            Some(r) if r.2 == "Reachable" => Ok(()),
            other => Err(format!("{other:?}")),
        }
    });
}
