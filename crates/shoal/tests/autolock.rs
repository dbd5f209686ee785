//! Autolock with real agents and the stock docker CLI: a manager whose swarm is autolocked
//! restarts sealed (API up, swarm refused with dockerd's message) until `docker swarm unlock`
//! gives the key; its key file never holds the data key or the TLS key in plaintext; key
//! rotation re-wraps every manager's file without a restart; turning autolock off unwraps it,
//! and so does demotion (workers have no lock).
// Multi-process tests wait on real processes, so deadlines use the real clock.
#![allow(clippy::disallowed_methods)]
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use base64::Engine;
use common::{Agent, eventually, stderr};

const LOCKED: &str = "Swarm is encrypted and needs to be unlocked before it can be used. Please use \"docker swarm unlock\" to unlock it.";

fn key_file(agent: &Agent) -> PathBuf {
    agent.data_dir().join("swarm/certs/keys.json")
}

fn key_json(agent: &Agent) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(key_file(agent)).unwrap()).unwrap()
}

/// The secrets of a plain key file, as the file spells them and as raw bytes.
fn plain_secrets(agent: &Agent) -> Vec<Vec<u8>> {
    let file = key_json(agent);
    assert_eq!(file["format"], "shoal-keys-1", "{file}");
    let mut out = Vec::new();
    for field in ["data_key", "node_key"] {
        let text = file[field].as_str().unwrap().to_string();
        let raw = base64::engine::general_purpose::STANDARD.decode(&text).unwrap();
        out.push(text.into_bytes());
        out.push(raw);
    }
    out
}

/// Asserts the key file is wrapped and holds none of `secrets`.
fn assert_locked_file(agent: &Agent, secrets: &[Vec<u8>]) {
    let bytes = std::fs::read(key_file(agent)).unwrap();
    let file: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(file["format"], "shoal-keys-locked-1", "{file}");
    let fields: Vec<_> = file.as_object().unwrap().keys().cloned().collect();
    assert_eq!(fields, ["format", "sealed"], "only the sealed body: {file}");
    for secret in secrets {
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_slice()),
            "a key is in plaintext in {}",
            key_file(agent).display()
        );
    }
    assert!(!String::from_utf8_lossy(&bytes).contains("PRIVATE KEY"));
}

/// Runs the docker CLI with `input` on its stdin (`swarm unlock` reads the key there).
fn docker_with_input(agent: &Agent, args: &[&str], input: &str) -> Output {
    let mut command = Command::new("docker");
    command
        .arg("-H")
        .arg(format!("unix://{}", agent.sock.display()))
        .args(args)
        .env_remove("DOCKER_CONTEXT");
    with_input(command, input)
}

/// Runs our CLI with `input` on its stdin.
fn shoal_with_input(agent: &Agent, args: &[&str], input: &str) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_shoal"));
    command
        .env("DOCKER_HOST", format!("unix://{}", agent.sock.display()))
        .args(args);
    with_input(command, input)
}

fn with_input(mut command: Command, input: &str) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{input}\n").as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn unlock(agent: &Agent, key: &str) -> Output {
    docker_with_input(agent, &["swarm", "unlock"], key)
}

fn local_state(agent: &Agent) -> String {
    agent
        .docker_ok(&["info", "--format", "{{.Swarm.LocalNodeState}}"])
        .trim()
        .to_string()
}

/// The `SWMKEY-1-…` key in a CLI output.
fn swmkey(text: &str) -> String {
    text.split_whitespace()
        .find(|w| w.starts_with("SWMKEY-1-"))
        .unwrap_or_else(|| panic!("no unlock key in {text:?}"))
        .to_string()
}

/// Restarts `agent` and checks it comes up locked: the API answers, the swarm does not.
fn restart_locked(agent: &mut Agent) {
    agent.restart();
    assert_eq!(local_state(agent), "locked");
    let info = agent.docker_ok(&["info"]);
    assert!(info.contains("Swarm: locked"), "{info}");
    let ls = agent.docker(&["service", "ls"]);
    assert!(!ls.status.success(), "service ls served while locked");
    assert!(stderr(&ls).contains(LOCKED), "{}", stderr(&ls));
    let key = agent.docker(&["swarm", "unlock-key"]);
    assert!(stderr(&key).contains(LOCKED), "{}", stderr(&key));
}

/// Unlocks with `key` and waits until the swarm answers again.
fn unlock_ok(agent: &Agent, key: &str) {
    let out = unlock(agent, key);
    assert!(
        out.status.success(),
        "unlock failed: {}\n{}",
        stderr(&out),
        agent.log_tail()
    );
    assert_eq!(local_state(agent), "active");
    eventually("the swarm answers after unlock", Duration::from_secs(30), || {
        agent.docker(&["node", "ls"]).status.success().then_some(())
    });
}

fn refused_unlock(agent: &Agent, key: &str) -> String {
    let out = unlock(agent, key);
    assert!(!out.status.success(), "unlock with {key:?} accepted");
    assert_eq!(local_state(agent), "locked");
    stderr(&out)
}

#[test]
fn a_locked_manager_restarts_sealed_and_serves_after_unlock_rotation_and_autolock_off() {
    let root = tempfile::tempdir().unwrap();
    let mut m = Agent::start(root.path(), "locky");
    m.swarm_init();
    let secrets = plain_secrets(&m);
    let none = m.docker(&["swarm", "unlock-key", "-q"]);
    assert!(
        stderr(&none).contains("no unlock key is set"),
        "{}",
        stderr(&none)
    );
    // Never placed (no node has the label), so no task process outlives the test.
    m.docker_ok(&[
        "service",
        "create",
        "-d",
        "--name",
        "keep",
        "--constraint",
        "node.labels.nowhere==true",
        "busybox",
        "sleep",
        "1000",
    ]);

    let out = m.docker_ok(&["swarm", "update", "--autolock=true"]);
    let key = swmkey(&out);
    assert!(out.contains("docker swarm unlock"), "{out}");
    assert_eq!(m.docker_ok(&["swarm", "unlock-key", "-q"]).trim(), key);
    assert!(m.docker_ok(&["swarm", "unlock-key"]).contains(&key));
    let flag = m.docker_ok(&[
        "info",
        "--format",
        "{{.Swarm.Cluster.Spec.EncryptionConfig.AutoLockManagers}}",
    ]);
    assert_eq!(flag.trim(), "true");
    assert_locked_file(&m, &secrets);
    let again = unlock(&m, &key);
    assert!(
        stderr(&again).contains("swarm is not locked"),
        "{}",
        stderr(&again)
    );

    restart_locked(&mut m);
    let leave = m.docker(&["swarm", "leave"]);
    assert!(
        stderr(&leave).contains("Swarm is encrypted and locked. Please unlock it first"),
        "{}",
        stderr(&leave)
    );
    let wrong = refused_unlock(&m, "SWMKEY-1-AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8");
    assert!(
        wrong.contains("swarm could not be unlocked: invalid key provided"),
        "{wrong}"
    );
    let garbage = refused_unlock(&m, "not-a-key");
    assert!(garbage.contains("invalid key string"), "{garbage}");
    unlock_ok(&m, &key);
    let services = m.docker_ok(&["service", "ls", "--format", "{{.Name}}"]);
    assert_eq!(services.trim(), "keep", "the state is intact");
    assert_eq!(m.docker_ok(&["swarm", "unlock-key", "-q"]).trim(), key);

    // Rotation: a new key, the file re-wrapped (same data key), only the new key opens it.
    let before = std::fs::read(key_file(&m)).unwrap();
    let out = m.docker_ok(&["swarm", "unlock-key", "--rotate"]);
    assert!(out.contains("Successfully rotated manager unlock key"), "{out}");
    let rotated = swmkey(&out);
    assert_ne!(rotated, key);
    assert_eq!(m.docker_ok(&["swarm", "unlock-key", "-q"]).trim(), rotated);
    assert_ne!(std::fs::read(key_file(&m)).unwrap(), before, "re-wrapped");
    assert_locked_file(&m, &secrets);
    restart_locked(&mut m);
    let old = refused_unlock(&m, &key);
    assert!(old.contains("invalid key provided"), "{old}");
    unlock_ok(&m, &rotated);

    // Autolock off: the file is plain again, with the same data key, and a restart is normal.
    let out = m.docker_ok(&["swarm", "update", "--autolock=false"]);
    assert!(!out.contains("SWMKEY"), "{out}");
    assert_eq!(
        plain_secrets(&m),
        secrets,
        "unwrapped; the data key did not change"
    );
    let none = m.docker(&["swarm", "unlock-key", "-q"]);
    assert!(
        stderr(&none).contains("no unlock key is set"),
        "{}",
        stderr(&none)
    );
    let rotate = m.docker(&["swarm", "unlock-key", "--rotate"]);
    assert!(!rotate.status.success(), "rotation without autolock");
    m.restart();
    assert_eq!(local_state(&m), "active");
    let services = m.docker_ok(&["service", "ls", "--format", "{{.Name}}"]);
    assert_eq!(services.trim(), "keep");
}

#[test]
fn init_with_autolock_locks_from_the_first_write() {
    let root = tempfile::tempdir().unwrap();
    let mut m = Agent::start(root.path(), "lockinit");
    let out = m.docker_ok(&[
        "swarm",
        "init",
        "--autolock",
        "--advertise-addr",
        &m.addr,
        "--listen-addr",
        &m.addr,
    ]);
    let key = swmkey(&out);
    assert_eq!(m.docker_ok(&["swarm", "unlock-key", "-q"]).trim(), key);
    assert_locked_file(&m, &[]);
    // The key written at init must come back from a snapshot: snapshot every few entries,
    // then write more, so the restarted replica loads the state from a snapshot file.
    m.docker_ok(&["swarm", "update", "--snapshot-interval", "3"]);
    m.docker_ok(&[
        "service",
        "create",
        "-d",
        "--name",
        "snap",
        "--constraint",
        "node.labels.nowhere==true",
        "busybox",
        "sleep",
        "1000",
    ]);
    for i in 0..6 {
        m.docker_ok(&["service", "update", "-d", "--env-add", &format!("N={i}"), "snap"]);
    }
    let snapshots = m.data_dir().join("swarm/raft/snapshots");
    eventually("a snapshot file", Duration::from_secs(60), || {
        std::fs::read_dir(&snapshots)
            .ok()?
            .flatten()
            .any(|e| e.path().extension().is_some_and(|x| x == "snap"))
            .then_some(())
    });
    restart_locked(&mut m);
    let init = m.docker(&["swarm", "init"]);
    assert!(
        stderr(&init).contains("already part of a swarm"),
        "{}",
        stderr(&init)
    );
    unlock_ok(&m, &key);
    assert_eq!(
        m.docker_ok(&["swarm", "unlock-key", "-q"]).trim(),
        key,
        "from the snapshot"
    );
    // Our CLI does the same.
    assert_eq!(m.shoal_ok(&["swarm", "unlock-key", "-q"]).trim(), key);
    restart_locked(&mut m);
    let wrong = shoal_with_input(
        &m,
        &["swarm", "unlock"],
        "SWMKEY-1-AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",
    );
    assert!(
        stderr(&wrong).contains("invalid key provided"),
        "{}",
        stderr(&wrong)
    );
    let ours = shoal_with_input(&m, &["swarm", "unlock"], &key);
    assert!(ours.status.success(), "{}", stderr(&ours));
    assert_eq!(local_state(&m), "active");
    // Disaster recovery keeps autolock and its key.
    m.docker_ok(&[
        "swarm",
        "init",
        "--force-new-cluster",
        "--advertise-addr",
        &m.addr,
        "--listen-addr",
        &m.addr,
    ]);
    assert_eq!(m.docker_ok(&["swarm", "unlock-key", "-q"]).trim(), key);
    assert_locked_file(&m, &[]);
    // A locked node can also be made to leave, with --force, as dockerd.
    restart_locked(&mut m);
    m.docker_ok(&["swarm", "leave", "--force"]);
    assert_eq!(local_state(&m), "inactive");
    assert!(!key_file(&m).exists());
}

#[test]
fn rotation_rewraps_every_managers_key_file_and_a_late_manager_unlocks_with_the_new_key() {
    let root = tempfile::tempdir().unwrap();
    let m1 = Agent::start(root.path(), "lm1");
    let m2 = Agent::start(root.path(), "lm2");
    let mut m3 = Agent::start(root.path(), "lm3");
    let key = swmkey(&m1.docker_ok(&[
        "swarm",
        "init",
        "--autolock",
        "--advertise-addr",
        &m1.addr,
        "--listen-addr",
        &m1.addr,
    ]));
    let token = m1.docker_ok(&["swarm", "join-token", "-q", "manager"]);
    for agent in [&m2, &m3] {
        agent.docker_ok(&[
            "swarm",
            "join",
            "--token",
            token.trim(),
            "--listen-addr",
            &agent.addr,
            "--advertise-addr",
            &agent.addr,
            &m1.addr,
        ]);
    }
    let managers = [&m1, &m2, &m3];
    // Joined managers wrap their files once their replicas hold the cluster's key.
    let is_locked = |a: &Agent| key_json(a)["format"] == "shoal-keys-locked-1";
    for agent in managers {
        eventually(
            &format!("{} key file wrapped", agent.name),
            Duration::from_secs(30),
            || is_locked(agent).then_some(()),
        );
        assert_eq!(agent.docker_ok(&["swarm", "unlock-key", "-q"]).trim(), key);
    }
    let before: Vec<Vec<u8>> = managers
        .iter()
        .map(|a| std::fs::read(key_file(a)).unwrap())
        .collect();

    // Rotated on one manager: every manager re-wraps its own file, none restarts.
    let rotated = swmkey(&m2.docker_ok(&["swarm", "unlock-key", "--rotate"]));
    assert_ne!(rotated, key);
    for (agent, old) in managers.iter().zip(&before) {
        eventually(
            &format!("{} key file re-wrapped", agent.name),
            Duration::from_secs(30),
            || (std::fs::read(key_file(agent)).unwrap() != *old && is_locked(agent)).then_some(()),
        );
        assert_eq!(agent.docker_ok(&["swarm", "unlock-key", "-q"]).trim(), rotated);
    }

    restart_locked(&mut m3);
    let old = refused_unlock(&m3, &key);
    assert!(old.contains("invalid key provided"), "{old}");
    unlock_ok(&m3, &rotated);
    let ready = |a: &Agent| {
        a.docker_ok(&["node", "ls", "--format", "{{.Status}} {{.ManagerStatus}}"])
            .lines()
            .filter(|l| l.starts_with("Ready") && !l.ends_with(' '))
            .count()
    };
    eventually(
        "three ready managers seen from m3",
        Duration::from_secs(30),
        || (ready(&m3) == 3).then_some(()),
    );

    // Workers have no lock: demoted, m3 unwraps its key file.
    m1.docker_ok(&["node", "demote", "lm3"]);
    eventually(
        "the demoted manager's key file unwrapped",
        Duration::from_secs(30),
        || (key_json(&m3)["format"] == "shoal-keys-1").then_some(()),
    );
    assert!(is_locked(&m1) && is_locked(&m2));
}
