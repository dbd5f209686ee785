//! Data at rest, with real agents and the stock docker CLI: a data dir no other user can
//! read, no secret of the cluster (CA key, join tokens, service env) in any of its files, tasks
//! that still create ordinary files, and a data dir written before sealing (the v1 fixture)
//! sealed on its first start without losing anything; followers seal what they replicate.
//!
//! The fixture `fixtures/v1-datadir.tar.gz` was made with the shoal binary of commit 08fa5ad
//! (before sealing existed): `shoal agent --data-dir d --hostname fixture`, then
//! `docker swarm init`, `docker swarm update --snapshot-interval 5`,
//! `docker service create -d --name fixweb --env FIXTURE_ENV=fixture-env-value-5b1c9e
//! --constraint node.labels.nowhere==true busybox sleep 1000`, ten
//! `docker service update -d --env-add N=<i> fixweb` (so it holds a snapshot and later log
//! entries), SIGTERM, and `tar -C d -czf v1-datadir.tar.gz .`.
// Multi-process tests wait on real processes, so deadlines use the real clock.
#![allow(clippy::disallowed_methods)]
#![allow(clippy::unwrap_used)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use base64::Engine;
use common::{Agent, eventually};

/// The fixture's service env value and worker join token (printed when it was made).
const FIXTURE_ENV: &str = "fixture-env-value-5b1c9e";
const FIXTURE_WORKER_TOKEN: &str =
    "SWMTKN-1-6b09dureuwt4hf5gv61l17qeu80rwwcden8u92cjgneiz7ifdo-2f550nnhx8iv508mf1u5ko9y5";

/// Every regular file under `dir` (symbolic links not followed).
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let t = entry.file_type().unwrap();
            if t.is_dir() {
                stack.push(entry.path());
            } else if t.is_file() {
                out.push(entry.path());
            }
        }
    }
    out
}

/// The files under `dir` whose bytes contain `needle`.
fn holders(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    files(dir)
        .into_iter()
        .filter(|f| {
            let bytes = std::fs::read(f).unwrap_or_default();
            bytes.windows(needle.len()).any(|w| w == needle)
        })
        .collect()
}

/// Entries under `dir` (itself included) that group or others have any permission on.
fn open_to_others(dir: &Path) -> Vec<(PathBuf, u32)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(p) = stack.pop() {
        let meta = std::fs::symlink_metadata(&p).unwrap();
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 && !meta.file_type().is_symlink() {
            out.push((p.clone(), mode));
        }
        if meta.is_dir() {
            stack.extend(std::fs::read_dir(&p).unwrap().flatten().map(|e| e.path()));
        }
    }
    out
}

/// Files under `dir` that user `nobody` can read (checked by reading them as nobody).
fn readable_by_nobody(dir: &Path) -> Vec<PathBuf> {
    files(dir)
        .into_iter()
        .filter(|f| {
            Command::new("runuser")
                .args(["-u", "nobody", "--", "head", "-c", "1"])
                .arg(f)
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false)
        })
        .collect()
}

/// A test root that others may traverse, so that only the data dir's own permissions stand
/// between `nobody` and its files (a 0700 temp dir would hide them whatever shoal does).
fn open_root() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    root
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    #[allow(unsafe_code)]
    unsafe {
        libc::geteuid() == 0
    }
}

fn random_hex() -> String {
    format!("{:032x}", rand::random::<u128>())
}

#[test]
fn a_manager_data_dir_is_owner_only_and_holds_no_secret_in_plaintext() {
    assert!(is_root(), "this test reads files as user nobody and needs root");
    let root = open_root();
    let mut m = Agent::start(root.path(), "m");
    m.swarm_init();
    let secret = format!("at-rest-env-{}", random_hex());
    let workdir = root.path().join("probe");
    std::fs::create_dir(&workdir).unwrap();
    std::fs::set_permissions(&workdir, std::fs::Permissions::from_mode(0o777)).unwrap();
    println!("env value {secret}, probe dir {}", workdir.display());
    // The secret's service is placed nowhere: a task's own spec file on the node running it
    // carries its env (as dockerd's container config does); this test is about what the
    // manager stores.
    m.docker_ok(&[
        "service",
        "create",
        "-d",
        "--name",
        "secretive",
        "--env",
        &format!("SECRET={secret}"),
        "--constraint",
        "node.labels.nowhere==true",
        "busybox",
        "sleep",
        "1000",
    ]);
    // A task that creates a file and records the umask it runs with; umask.txt appears last
    // (by rename), so once it is there both are.
    let script = format!(
        "touch {dir}/made && umask > {dir}/umask.txt.tmp && mv {dir}/umask.txt.tmp {dir}/umask.txt && sleep 1000",
        dir = workdir.display()
    );
    m.docker_ok(&[
        "service", "create", "-d", "--name", "probe", "busybox", "sh", "-c", &script,
    ]);
    let umask = eventually(
        "the probe task to write its umask",
        Duration::from_secs(60),
        || std::fs::read_to_string(workdir.join("umask.txt")).ok(),
    );
    assert_eq!(umask.trim(), "0022", "tasks get the usual umask back");
    let made = std::fs::metadata(workdir.join("made"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(made, 0o644, "a task's new file is world-readable as usual");

    let worker = m
        .docker_ok(&["swarm", "join-token", "-q", "worker"])
        .trim()
        .to_string();
    let manager = m
        .docker_ok(&["swarm", "join-token", "-q", "manager"])
        .trim()
        .to_string();
    // Snapshots as well as log entries: snapshot after every few entries, then write more.
    m.docker_ok(&["swarm", "update", "--snapshot-interval", "3"]);
    for i in 0..6 {
        m.docker_ok(&[
            "service",
            "update",
            "-d",
            "--env-add",
            &format!("N={i}"),
            "secretive",
        ]);
    }
    let snapshots = m.data_dir().join("swarm/raft/snapshots");
    eventually("a snapshot file", Duration::from_secs(60), || {
        std::fs::read_dir(&snapshots)
            .ok()?
            .flatten()
            .any(|e| e.path().extension().is_some_and(|x| x == "snap"))
            .then_some(())
    });
    // Everything is on disk; stopping makes sure nothing is left only in memory.
    m.kill9();

    let dir = m.data_dir().to_path_buf();
    for (what, needle) in [
        ("any join token", b"SWMTKN-1-".as_slice()),
        ("env value", secret.as_bytes()),
        ("worker join token", worker.as_bytes()),
        ("manager join token", manager.as_bytes()),
    ] {
        let found = holders(&dir, needle);
        assert!(found.is_empty(), "{what} in plaintext in {found:?}");
    }
    // The root CA key (rcgen's ECDSA P-256 in PKCS#8), in PEM or DER, is in no file but the
    // key file, which holds this node's own TLS key (unwrapped, as SwarmKit without autolock).
    let der_prefix: &[u8] = &[
        0x30, 0x81, 0x87, 0x02, 0x01, 0x00, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,
    ];
    for (what, needle) in [
        ("a PEM private key", b"PRIVATE KEY".as_slice()),
        ("a PKCS#8 EC key (base64)", b"MIGHAgEAMBMGByqGSM49AgEG".as_slice()),
        ("a PKCS#8 EC key (DER)", der_prefix),
    ] {
        let found: Vec<_> = holders(&dir, needle)
            .into_iter()
            .filter(|p| !p.ends_with("swarm/certs/keys.json"))
            .collect();
        assert!(found.is_empty(), "{what} in {found:?}");
    }
    assert!(dir.join("swarm/certs/keys.json").exists());
    assert!(!dir.join("swarm/certs/node.key").exists());

    let open = open_to_others(&dir);
    assert!(open.is_empty(), "group/other permissions on {open:?}");
    let readable = readable_by_nobody(&dir);
    assert!(readable.is_empty(), "nobody can read {readable:?}");
    // The check itself works: a file nobody may read outside the data dir is seen.
    let control = root.path().join("control.txt");
    std::fs::write(&control, "x").unwrap();
    std::fs::set_permissions(&control, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert!(readable_by_nobody(root.path()).contains(&control));

    // And the sealed state reads back after the restart.
    m.restart();
    let env = eventually("the service after restart", Duration::from_secs(60), || {
        let out = m.docker(&[
            "service",
            "inspect",
            "secretive",
            "--format",
            "{{json .Spec.TaskTemplate.ContainerSpec.Env}}",
        ]);
        out.status.success().then(|| common::stdout(&out))
    });
    assert!(env.contains(&secret) && env.contains("N=5"), "{env}");
    assert_eq!(
        m.docker_ok(&["swarm", "join-token", "-q", "worker"]).trim(),
        worker
    );
}

/// The root CA key of the fixture, read from its plain Raft log.
fn fixture_ca_key(dir: &Path) -> String {
    let bytes = std::fs::read(dir.join("swarm/raft/raft.redb")).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    let begin = "-----BEGIN PRIVATE KEY-----";
    let end = "-----END PRIVATE KEY-----";
    let start = text.find(begin).expect("fixture holds the CA key in plaintext");
    let stop = text[start..].find(end).unwrap() + start + end.len();
    text[start..stop].to_string()
}

/// Points the fixture's cluster port at a free one (its own may be taken on this machine).
fn move_cluster_port(dir: &Path, addr: &str) {
    let path = dir.join("swarm/state.json");
    let mut state: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    state["listen_addr"] = addr.into();
    state["advertise_addr"] = addr.into();
    state["remote_managers"] = serde_json::json!([addr]);
    std::fs::write(&path, serde_json::to_vec(&state).unwrap()).unwrap();
}

#[test]
fn a_v1_data_dir_is_sealed_on_first_start() {
    let root = open_root();
    let dir = root.path().join("v1");
    std::fs::create_dir(&dir).unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1-datadir.tar.gz");
    let untar = Command::new("tar")
        .args(["-xzpf"])
        .arg(&fixture)
        .arg("-C")
        .arg(&dir)
        .output()
        .unwrap();
    assert!(untar.status.success(), "{}", common::stderr(&untar));
    let ca_key = fixture_ca_key(&dir);
    let body: String = ca_key.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = base64::engine::general_purpose::STANDARD.decode(&body).unwrap();
    // The fixture is what the issue describes: world-readable and plain.
    assert!(!open_to_others(&dir).is_empty());
    assert!(!holders(&dir, FIXTURE_ENV.as_bytes()).is_empty());
    assert!(dir.join("swarm/certs/node.key").exists());

    let port = common::free_port();
    let addr = format!("127.0.0.1:{port}");
    move_cluster_port(&dir, &addr);
    let mut m = Agent::start(root.path(), "v1");
    let env = eventually("the fixture's service", Duration::from_secs(60), || {
        let out = m.docker(&[
            "service",
            "inspect",
            "fixweb",
            "--format",
            "{{json .Spec.TaskTemplate.ContainerSpec.Env}}",
        ]);
        out.status.success().then(|| common::stdout(&out))
    });
    assert!(env.contains(FIXTURE_ENV) && env.contains("N=10"), "{env}");
    assert_eq!(
        m.docker_ok(&["swarm", "join-token", "-q", "worker"]).trim(),
        FIXTURE_WORKER_TOKEN
    );
    // A write after the migration, then a restart over the sealed files.
    m.docker_ok(&["service", "update", "-d", "--env-add", "N=11", "fixweb"]);
    m.restart();
    let env = eventually(
        "the service after a second start",
        Duration::from_secs(60),
        || {
            let out = m.docker(&[
                "service",
                "inspect",
                "fixweb",
                "--format",
                "{{json .Spec.TaskTemplate.ContainerSpec.Env}}",
            ]);
            out.status.success().then(|| common::stdout(&out))
        },
    );
    assert!(env.contains(FIXTURE_ENV) && env.contains("N=11"), "{env}");
    m.kill9();

    let pem_in_base64 = base64::engine::general_purpose::STANDARD.encode(ca_key.as_bytes());
    for (what, needle) in [
        ("env value", FIXTURE_ENV.as_bytes()),
        ("worker join token", FIXTURE_WORKER_TOKEN.as_bytes()),
        ("CA key (PEM body)", body.as_bytes()),
        ("CA key (DER)", der.as_slice()),
        ("CA key (PEM as base64)", pem_in_base64.as_bytes()),
    ] {
        let found = holders(&dir, needle);
        assert!(found.is_empty(), "{what} still in plaintext in {found:?}");
    }
    assert!(!dir.join("swarm/certs/node.key").exists(), "node key moved");
    let open = open_to_others(&dir);
    assert!(open.is_empty(), "permissions not tightened: {open:?}");
    if is_root() {
        let readable = readable_by_nobody(&dir);
        assert!(readable.is_empty(), "nobody can read {readable:?}");
    }
}

/// Runs `docker service inspect` for `name`'s env on `agent` until it answers.
fn service_env(agent: &Agent, name: &str) -> String {
    eventually(
        &format!("service {name} on {}", agent.name),
        Duration::from_secs(60),
        || {
            let out = agent.docker(&[
                "service",
                "inspect",
                name,
                "--format",
                "{{json .Spec.TaskTemplate.ContainerSpec.Env}}",
            ]);
            out.status.success().then(|| common::stdout(&out))
        },
    )
}

#[test]
fn every_manager_of_three_seals_what_it_replicates() {
    let root = open_root();
    let m1 = Agent::start(root.path(), "s1");
    let mut m2 = Agent::start(root.path(), "s2");
    let m3 = Agent::start(root.path(), "s3");
    m1.swarm_init();
    // Snapshots on every manager (the interval is replicated), then log entries after them.
    m1.docker_ok(&["swarm", "update", "--snapshot-interval", "3"]);
    let token = m1
        .docker_ok(&["swarm", "join-token", "-q", "manager"])
        .trim()
        .to_string();
    for agent in [&m2, &m3] {
        agent.docker_ok(&[
            "swarm",
            "join",
            "--token",
            &token,
            "--listen-addr",
            &agent.addr,
            "--advertise-addr",
            &agent.addr,
            &m1.addr,
        ]);
    }
    let secret = format!("replicated-env-{}", random_hex());
    println!("env value {secret}");
    m1.docker_ok(&[
        "service",
        "create",
        "-d",
        "--name",
        "shared",
        "--env",
        &format!("SECRET={secret}"),
        "--constraint",
        "node.labels.nowhere==true",
        "busybox",
        "sleep",
        "1000",
    ]);
    for i in 0..6 {
        m1.docker_ok(&[
            "service",
            "update",
            "-d",
            "--env-add",
            &format!("N={i}"),
            "shared",
        ]);
    }
    for agent in [&m1, &m2, &m3] {
        let env = service_env(agent, "shared");
        assert!(env.contains("N=5"), "{} sees {env}", agent.name);
        let snapshots = agent.data_dir().join("swarm/raft/snapshots");
        eventually(
            &format!("a snapshot on {}", agent.name),
            Duration::from_secs(60),
            || {
                std::fs::read_dir(&snapshots)
                    .ok()?
                    .flatten()
                    .any(|e| e.path().extension().is_some_and(|x| x == "snap"))
                    .then_some(())
            },
        );
    }
    // A follower restarts over its sealed log and snapshot and serves the same state.
    m2.restart();
    let env = service_env(&m2, "shared");
    assert!(env.contains(&secret) && env.contains("N=5"), "{env}");

    for agent in [&m1, &m2, &m3] {
        let dir = agent.data_dir();
        for (what, needle) in [
            ("env value", secret.as_bytes()),
            ("a join token", b"SWMTKN-1-".as_slice()),
            ("a PEM private key", b"PRIVATE KEY".as_slice()),
        ] {
            let found: Vec<_> = holders(dir, needle)
                .into_iter()
                .filter(|p| !p.ends_with("swarm/certs/keys.json"))
                .collect();
            assert!(
                found.is_empty(),
                "{what} in plaintext on {}: {found:?}",
                agent.name
            );
        }
        let open = open_to_others(dir);
        assert!(open.is_empty(), "group/other permissions on {open:?}");
    }
}
