//! Issue 14 item 1 (control plane), driven by the stock docker CLI against a real `shoal
//! agent`: `docker secret|config create|ls|inspect|rm`, a service created with `--secret`
//! and `--config` showing the references, and removal refused while the service uses them.
//! Delivery (item 1 too): a task of the oci executor reads its secret at
//! `/run/secrets/<target>` and its config at its target path, from a tmpfs of its own that is
//! gone once the task ends; the secret's bytes are in no file of the node's data dir. Rotation
//! (item 2, `shoal secret rotate`): the next version, and the service's new task reads it.

#![allow(clippy::disallowed_methods, clippy::unwrap_used, dead_code, unsafe_code)]

mod common;

#[path = "../../image/tests/common/build.rs"]
mod build;
#[path = "common/busybox.rs"]
mod busybox;
#[path = "common/leaks.rs"]
mod leaks;
#[path = "../../image/tests/common/registry.rs"]
mod registry;

use std::time::Duration;

use busybox::{Cleanup, skip_reason};
use common::{Agent, eventually, stderr};
use leaks::{contains, files_on_disk, mounts_under};
use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(60);

fn json(text: &str) -> Value {
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[test]
fn docker_cli_manages_secrets_and_configs() {
    let root = tempfile::tempdir().unwrap();
    let m1 = Agent::start(root.path(), "m1");
    m1.swarm_init();
    let file = root.path().join("pw.txt");
    std::fs::write(&file, "s3cr3t-pa55\n").unwrap();
    let file = file.to_str().unwrap();

    let id = m1.docker_ok(&["secret", "create", "--label", "env=prod", "db_pw", file]);
    let id = id.trim().to_string();
    assert_eq!(id.len(), 25, "{id}");
    m1.docker_ok(&["secret", "create", "api_key", file]);
    let ls = m1.docker_ok(&["secret", "ls", "--format", "{{.Name}}"]);
    let mut names: Vec<&str> = ls.lines().collect();
    names.sort();
    assert_eq!(names, ["api_key", "db_pw"]);
    let filtered = m1.docker_ok(&[
        "secret",
        "ls",
        "--filter",
        "label=env=prod",
        "--format",
        "{{.ID}}",
    ]);
    assert_eq!(filtered.trim(), id);

    let inspect = m1.docker_ok(&["secret", "inspect", "db_pw"]);
    assert!(
        !inspect.contains("s3cr3t") && !inspect.contains("czNjcjN0"),
        "{inspect}"
    );
    let inspect = json(&inspect);
    assert_eq!(inspect[0]["Spec"]["Labels"]["env"], "prod");
    assert!(inspect[0]["Spec"].get("Data").is_none());

    let dup = m1.docker(&["secret", "create", "db_pw", file]);
    assert!(!dup.status.success());
    assert!(stderr(&dup).contains("already exists"), "{}", stderr(&dup));

    m1.docker_ok(&["config", "create", "app_conf", file]);
    let conf = json(&m1.docker_ok(&["config", "inspect", "app_conf"]));
    assert_eq!(conf[0]["Spec"]["Data"], "czNjcjN0LXBhNTUK");
    let pretty = m1.docker_ok(&["config", "inspect", "--pretty", "app_conf"]);
    assert!(pretty.contains("s3cr3t-pa55"), "{pretty}");

    m1.docker_ok(&[
        "service",
        "create",
        "--detach",
        "--name",
        "web",
        "--secret",
        "source=db_pw,target=password,mode=0400",
        "--config",
        "source=app_conf,target=/etc/app.conf",
        "busybox",
        "sleep",
        "1000",
    ]);
    let svc = json(&m1.docker_ok(&["service", "inspect", "web"]));
    let cs = &svc[0]["Spec"]["TaskTemplate"]["ContainerSpec"];
    assert_eq!(cs["Secrets"][0]["SecretID"], id.as_str(), "{cs}");
    assert_eq!(cs["Secrets"][0]["SecretName"], "db_pw");
    assert_eq!(cs["Secrets"][0]["File"]["Name"], "password");
    assert_eq!(cs["Secrets"][0]["File"]["Mode"], 0o400);
    assert_eq!(cs["Configs"][0]["File"]["Name"], "/etc/app.conf");

    let rm = m1.docker(&["secret", "rm", "db_pw"]);
    assert!(!rm.status.success());
    assert!(
        stderr(&rm).contains("secret 'db_pw' is in use by the following service: web"),
        "{}",
        stderr(&rm)
    );
    let rm = m1.docker(&["config", "rm", "app_conf"]);
    assert!(!rm.status.success(), "{}", stderr(&rm));

    let unknown = m1.docker(&["service", "create", "--detach", "--secret", "nope", "busybox"]);
    assert!(!unknown.status.success());
    assert!(stderr(&unknown).contains("nope"), "{}", stderr(&unknown));

    m1.docker_ok(&["service", "rm", "web"]);
    m1.docker_ok(&["secret", "rm", "db_pw", "api_key"]);
    m1.docker_ok(&["config", "rm", "app_conf"]);
    assert_eq!(m1.docker_ok(&["secret", "ls", "-q"]).trim(), "");
    assert_eq!(m1.docker_ok(&["config", "ls", "-q"]).trim(), "");
}

/// Waits until `service`'s one task runs; on timeout shows its tasks (with their errors).
fn running(agent: &Agent, service: &str) {
    let filter = format!("name={service}");
    let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        eventually(&format!("{service} at 1/1"), LIMIT, || {
            let replicas =
                agent.docker_ok(&["service", "ls", "--filter", &filter, "--format", "{{.Replicas}}"]);
            (replicas.trim() == "1/1").then_some(())
        })
    }));
    if ran.is_err() {
        let ps = agent.docker_ok(&["service", "ps", "--no-trunc", service]);
        panic!("{service} did not run:\n{ps}\n{}", agent.log_tail());
    }
}

#[test]
fn a_task_reads_its_secret_and_config_from_a_tmpfs_never_from_disk_and_rotation_rolls_it() {
    if let Some(why) = skip_reason() {
        eprintln!("skipping: {why}");
        return;
    }
    let (_rt, registry) = busybox::serve_busybox();
    let root = tempfile::tempdir().unwrap();
    let agent = Agent::start_default_executor(root.path(), "n1");
    agent.swarm_init();
    // Distinctive bytes, so finding them anywhere means a leak.
    let secret = format!("delivery-secret-{}", u64::from(std::process::id()) * 7919);
    let config = "listen 8080; # shoal config\n";
    let files = tempfile::tempdir().unwrap();
    let secret_file = files.path().join("pw");
    let config_file = files.path().join("conf");
    std::fs::write(&secret_file, &secret).unwrap();
    std::fs::write(&config_file, config).unwrap();
    agent.docker_ok(&["secret", "create", "db_pw", secret_file.to_str().unwrap()]);
    std::fs::remove_file(&secret_file).unwrap();
    agent.docker_ok(&["config", "create", "app_conf", config_file.to_str().unwrap()]);

    let image = format!("{}/busybox:latest", registry.addr);
    agent.docker_ok(&[
        "service",
        "create",
        "--detach",
        "--name",
        "web",
        "--no-healthcheck",
        "--secret",
        "source=db_pw,target=x,mode=0400",
        "--config",
        "source=app_conf,target=/etc/app.conf",
        &image,
        "busybox",
        "sleep",
        "100000",
    ]);
    running(&agent, "web");
    let id = agent
        .docker_ok(&["service", "ps", "-q", "--no-trunc", "web"])
        .trim()
        .to_string();
    let name = format!("web.1.{id}");
    let _cleanup = Cleanup {
        data_dir: agent.data_dir().to_path_buf(),
        task_ids: vec![id.clone()],
    };

    let read = agent.docker_ok(&["exec", &name, "busybox", "cat", "/run/secrets/x"]);
    assert_eq!(read, secret);
    let stat = agent.docker_ok(&[
        "exec",
        &name,
        "busybox",
        "stat",
        "-c",
        "%a %u %g",
        "/run/secrets/x",
    ]);
    assert_eq!(stat.trim(), "400 0 0");
    let write = agent.docker(&["exec", &name, "busybox", "sh", "-c", "echo x > /run/secrets/x"]);
    assert!(!write.status.success(), "the secret is read-only in the task");
    let conf = agent.docker_ok(&["exec", &name, "busybox", "cat", "/etc/app.conf"]);
    assert_eq!(conf, config);

    let payloads = agent.data_dir().join("payloads");
    let tmpfs = payloads.join(&id);
    assert!(
        mounts_under(&payloads).contains(&tmpfs.to_string_lossy().to_string()),
        "{:?}",
        mounts_under(&payloads)
    );
    for file in files_on_disk(agent.data_dir()) {
        let bytes = std::fs::read(&file).unwrap_or_default();
        assert!(
            !contains(&bytes, secret.as_bytes()),
            "the secret is on disk in {}",
            file.display()
        );
    }

    // Rotation (shoal's CLI): the next version, and the service rolls onto it with the same
    // target, owner and mode; the old version is free to remove.
    let rotated = format!("rotated-{secret}");
    let new_file = files.path().join("pw2");
    std::fs::write(&new_file, &rotated).unwrap();
    let new_id = agent.shoal_ok(&["secret", "rotate", "db_pw", "--file", new_file.to_str().unwrap()]);
    std::fs::remove_file(&new_file).unwrap();
    let inspect = json(&agent.docker_ok(&["secret", "inspect", new_id.trim()]));
    assert_eq!(inspect[0]["Spec"]["Name"], "db_pw.v2");
    assert_eq!(inspect[0]["Spec"]["Labels"]["com.shoal.secret.base"], "db_pw");
    let svc = json(&agent.docker_ok(&["service", "inspect", "web"]));
    let cs = &svc[0]["Spec"]["TaskTemplate"]["ContainerSpec"];
    assert_eq!(cs["Secrets"][0]["SecretName"], "db_pw.v2", "{cs}");
    assert_eq!(cs["Secrets"][0]["File"]["Name"], "x");
    let new_task = eventually("the task replaced", LIMIT, || {
        let ps = agent.docker_ok(&[
            "service",
            "ps",
            "-q",
            "--no-trunc",
            "--filter",
            "desired-state=running",
            "web",
        ]);
        let now = ps.trim().to_string();
        (!now.is_empty() && now != id).then_some(now)
    });
    running(&agent, "web");
    let _cleanup_new = Cleanup {
        data_dir: agent.data_dir().to_path_buf(),
        task_ids: vec![new_task.clone()],
    };
    let name = format!("web.1.{new_task}");
    let read = eventually("the new task's secret", LIMIT, || {
        let out = agent.docker(&["exec", &name, "busybox", "cat", "/run/secrets/x"]);
        out.status.success().then(|| common::stdout(&out))
    });
    assert_eq!(read, rotated);
    eventually("the old task's tmpfs unmounted", LIMIT, || {
        (!tmpfs.exists()).then_some(())
    });
    agent.docker_ok(&["secret", "rm", "db_pw"]);

    agent.docker_ok(&["service", "rm", "web"]);
    eventually("the task's tmpfs unmounted", LIMIT, || {
        (mounts_under(&payloads).is_empty() && !tmpfs.exists()).then_some(())
    });
    agent.docker_ok(&["secret", "rm", "db_pw.v2"]);
    agent.docker_ok(&["config", "rm", "app_conf"]);
}

#[test]
fn a_process_task_finds_its_files_through_the_environment() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipping: a task's tmpfs needs root");
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let agent = Agent::start(root.path(), "p1");
    agent.swarm_init();
    let files = tempfile::tempdir().unwrap();
    let secret_file = files.path().join("pw");
    std::fs::write(&secret_file, "process-secret").unwrap();
    let config_file = files.path().join("conf");
    std::fs::write(&config_file, "process-config").unwrap();
    agent.docker_ok(&["secret", "create", "pw", secret_file.to_str().unwrap()]);
    agent.docker_ok(&["config", "create", "conf", config_file.to_str().unwrap()]);
    agent.docker_ok(&[
        "service",
        "create",
        "--detach",
        "--name",
        "proc",
        "--secret",
        "source=pw,target=x",
        "--config",
        "source=conf,target=/etc/app.conf",
        "busybox",
        "sh",
        "-c",
        r#"echo "S=$(cat "$SHOAL_SECRETS_DIR/x") C=$(cat "$SHOAL_CONFIGS_DIR/etc/app.conf")"; exec sleep 1000"#,
    ]);
    running(&agent, "proc");
    let logs = eventually("the task's output", LIMIT, || {
        let out = agent.docker_ok(&["service", "logs", "--raw", "proc"]);
        out.contains("S=").then_some(out)
    });
    assert!(logs.contains("S=process-secret C=process-config"), "{logs}");
    agent.docker_ok(&["service", "rm", "proc"]);
    let payloads = agent.data_dir().join("payloads");
    eventually("the task's tmpfs unmounted", LIMIT, || {
        mounts_under(&payloads).is_empty().then_some(())
    });
}
