//! Issue 14 item 1 (control plane), driven by the stock docker CLI against a real `shoal
//! agent`: `docker secret|config create|ls|inspect|rm`, a service created with `--secret`
//! and `--config` showing the references, and removal refused while the service uses them.
//! (Delivery into the task's files is not built yet.)

#![allow(clippy::unwrap_used)]

mod common;

use common::{Agent, stderr};
use serde_json::Value;

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
