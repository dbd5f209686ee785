//! Issue 14 item 3, driven by the stock docker CLI and by our CLI against `shoal agent
//! --executor oci` hosts in network namespaces (`common/hosts.rs`: stack services always sit
//! on overlay networks, whose VXLAN sockets would clash with other agents' in the root
//! namespace): `docker stack deploy|ls|services|ps|rm` with networks, secrets, configs,
//! interpolation, placement, resources and update_config; a redeploy that updates; `stack rm`
//! leaving nothing; `shoal stack deploy` holding a service back until the service it depends
//! on is healthy; and a DAB bundle deployed with `--bundle-file`.

#![allow(clippy::unwrap_used, clippy::disallowed_methods, dead_code, unsafe_code)]

mod common;
#[path = "common/hosts.rs"]
mod hosts;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::stderr;
use hosts::{Cluster, IMAGE, skip_reason};
use serde_json::Value;

macro_rules! skip_unless_root {
    () => {
        if let Some(why) = skip_reason() {
            eprintln!("skipping: {why}");
            return;
        }
    };
}

fn json(text: &str) -> Value {
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn lines(text: &str) -> Vec<String> {
    let mut v: Vec<String> = text.lines().map(str::to_string).collect();
    v.sort();
    v
}

/// A stack file: `web` scaled by `${REPLICAS}`, `db` with a secret and a config.
fn stack_file(replicas: u32) -> String {
    format!(
        r#"version: "3.8"
x-defaults: &defaults
  image: {IMAGE}
services:
  web:
    <<: *defaults
    command: sleep 1000
    networks: [front, back]
    deploy:
      replicas: ${{REPLICAS:-{replicas}}}
      labels: [tier=front]
      placement:
        constraints: [node.role == manager]
      resources:
        limits: {{cpus: "0.5", memory: 64M}}
      update_config: {{parallelism: 2, order: start-first}}
  db:
    <<: *defaults
    command: sleep 1000
    networks:
      back:
        aliases: [database]
    secrets:
      - source: db_pw
        target: password
    configs: [app_conf]
networks:
  front:
  back:
    attachable: true
secrets:
  db_pw:
    file: ./pw.txt
configs:
  app_conf:
    file: ./app.conf
"#
    )
}

fn replicas(c: &Cluster, stack: &str) -> Vec<String> {
    lines(&c.docker_ok(
        0,
        &["stack", "services", stack, "--format", "{{.Name}} {{.Replicas}}"],
    ))
}

/// Our CLI against host 0.
fn shoal(c: &Cluster) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_shoal"));
    cmd.env("DOCKER_HOST", format!("unix://{}", c.hosts[0].sock.display()));
    cmd
}

#[test]
fn docker_cli_deploys_lists_updates_and_removes_a_stack() {
    skip_unless_root!();
    let c = Cluster::new("stkd", 2);
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    std::fs::write(dir.join("pw.txt"), "pa55").unwrap();
    std::fs::write(dir.join("app.conf"), "debug=1\n").unwrap();
    let file = dir.join("stack.yml");
    std::fs::write(&file, stack_file(2)).unwrap();
    let file = file.to_str().unwrap();
    // A service outside the stack, which no stack command may show or touch.
    c.docker_ok(
        0,
        &[
            "service", "create", "--detach", "--name", "other", IMAGE, "sleep", "1000",
        ],
    );

    let out = c.docker_ok(0, &["stack", "deploy", "--detach=true", "-c", file, "st"]);
    assert!(out.contains("Creating network st_back"), "{out}");
    assert!(out.contains("Creating secret st_db_pw"), "{out}");
    assert!(out.contains("Creating config st_app_conf"), "{out}");
    assert!(out.contains("Creating service st_web"), "{out}");

    c.wait("web 2/2", || {
        replicas(&c, "st")
            .contains(&"st_web 2/2".to_string())
            .then_some(())
    });
    assert_eq!(
        c.docker_ok(0, &["stack", "ls", "--format", "{{.Name}} {{.Services}}"])
            .trim(),
        "st 2"
    );

    // Tasks are selected by their service's namespace label: "other" is not among them.
    let tasks = c.docker_ok(0, &["stack", "ps", "st", "--format", "{{.Name}}"]);
    assert!(tasks.lines().all(|t| t.starts_with("st_")), "{tasks}");
    assert!(
        tasks.lines().filter(|t| t.starts_with("st_web.")).count() >= 2,
        "{tasks}"
    );
    let running = c.docker_ok(
        0,
        &["stack", "ps", "st", "--filter", "desired-state=running", "-q"],
    );
    assert!(running.lines().count() >= 3, "{running}");

    // What the CLI sent is kept: labels, aliases, references, placement, resources, update.
    let web = json(&c.docker_ok(0, &["service", "inspect", "st_web"]));
    let spec = &web[0]["Spec"];
    assert_eq!(spec["Labels"]["com.docker.stack.namespace"], "st");
    assert_eq!(spec["Labels"]["tier"], "front");
    assert_eq!(
        spec["TaskTemplate"]["Placement"]["Constraints"][0],
        "node.role == manager"
    );
    assert_eq!(
        spec["TaskTemplate"]["Resources"]["Limits"]["MemoryBytes"],
        64 << 20
    );
    assert_eq!(spec["UpdateConfig"]["Order"], "start-first");
    let db = json(&c.docker_ok(0, &["service", "inspect", "st_db"]));
    let cs = &db[0]["Spec"]["TaskTemplate"]["ContainerSpec"];
    assert_eq!(cs["Secrets"][0]["SecretName"], "st_db_pw", "{cs}");
    assert_eq!(cs["Secrets"][0]["File"]["Name"], "password");
    assert_eq!(cs["Configs"][0]["ConfigName"], "st_app_conf");
    let nets = &db[0]["Spec"]["TaskTemplate"]["Networks"];
    assert!(
        nets[0]["Aliases"]
            .as_array()
            .unwrap()
            .contains(&"database".into()),
        "{nets}"
    );
    let secret = c.docker_ok(
        0,
        &[
            "secret",
            "ls",
            "--filter",
            "label=com.docker.stack.namespace=st",
            "--format",
            "{{.Name}}",
        ],
    );
    assert_eq!(secret.trim(), "st_db_pw");

    // Our CLI sees the same stack.
    let ours = shoal(&c).args(["stack", "ls"]).output().unwrap();
    let ours = String::from_utf8_lossy(&ours.stdout);
    assert!(
        ours.lines().any(|l| l.split_whitespace().eq(["st", "2"])),
        "{ours}"
    );

    // A redeploy updates in place.
    std::fs::write(root.path().join("stack.yml"), stack_file(3)).unwrap();
    let out = c.docker_ok(0, &["stack", "deploy", "--detach=true", "-c", file, "st"]);
    assert!(out.contains("Updating service st_web"), "{out}");
    c.wait("web 3/3", || {
        replicas(&c, "st")
            .contains(&"st_web 3/3".to_string())
            .then_some(())
    });

    // rm leaves nothing of the stack, and the other service alone.
    let rm = c.docker(0, &["stack", "rm", "st"]);
    assert!(rm.status.success(), "{}\n{}", stderr(&rm), c.hosts[0].log_tail());
    let label = "label=com.docker.stack.namespace=st";
    for kind in ["service", "network", "secret", "config"] {
        let left = c.docker_ok(0, &[kind, "ls", "-q", "--filter", label]);
        assert_eq!(left.trim(), "", "{kind}s left");
    }
    assert_eq!(
        c.docker_ok(0, &["stack", "ls", "--format", "{{.Name}}"]).trim(),
        ""
    );
    c.wait("the stack's tasks gone", || {
        let ps = c.docker(0, &["stack", "ps", "st"]);
        (!ps.status.success() && stderr(&ps).contains("nothing found in stack")).then_some(())
    });
    assert_eq!(
        c.docker_ok(0, &["service", "ls", "--format", "{{.Name}}"]).trim(),
        "other"
    );
}

#[test]
fn our_cli_waits_for_a_healthy_dependency() {
    skip_unless_root!();
    let c = Cluster::new("stks", 1);
    let root = tempfile::tempdir().unwrap();
    let file = root.path().join("stack.yml");
    // db is healthy once /tmp/ready exists in its container, which the test makes only
    // after the deploy said it waits.
    std::fs::write(
        &file,
        format!(
            r#"services:
  db:
    image: {IMAGE}
    command: sleep 100000
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/ready"]
      interval: 200ms
  web:
    image: {IMAGE}
    command: sleep 100000
    depends_on:
      db: {{condition: service_healthy}}
"#
        ),
    )
    .unwrap();

    let mut deploy = shoal(&c)
        .args(["stack", "deploy", "-c", file.to_str().unwrap(), "dep"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(deploy.stdout.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "deploy ended early: {seen}"
        );
        seen.push_str(&line);
        if line.starts_with("Waiting for dep_db to be healthy before dep_web") {
            break;
        }
    }
    // Held back: db runs but is not healthy, and web does not exist yet.
    let names = c.docker_ok(0, &["service", "ls", "--format", "{{.Name}}"]);
    assert_eq!(names.trim(), "dep_db", "{seen}");
    let db = c.docker_ok(0, &["service", "ps", "-q", "--no-trunc", "dep_db"]);
    let db = db.lines().next().unwrap().trim().to_string();
    c.wait("db's container", || {
        c.exec(0, &db, &["touch", "/tmp/ready"])
            .status
            .success()
            .then_some(())
    });
    let status = deploy.wait().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    assert!(status.success(), "{seen}{rest}");
    assert!(rest.contains("Creating service dep_web"), "{rest}");
    let ps = c.docker_ok(0, &["stack", "services", "dep", "--format", "{{.Name}}"]);
    assert_eq!(lines(&ps), ["dep_db", "dep_web"]);
    assert!(shoal(&c).args(["stack", "rm", "dep"]).status().unwrap().success());
    assert_eq!(c.docker_ok(0, &["service", "ls", "-q"]).trim(), "");
    assert_eq!(
        c.docker_ok(
            0,
            &[
                "network",
                "ls",
                "-q",
                "--filter",
                "label=com.docker.stack.namespace=dep"
            ]
        )
        .trim(),
        ""
    );

    // A bundle (the book's DAB format) deploys the same way.
    let dab = root.path().join("app.dab");
    std::fs::write(
        &dab,
        format!(r#"{{"Version": "0.1", "Services": {{"cache": {{"Image": "{IMAGE}", "Command": ["sleep", "100000"], "Networks": ["back"]}}}}}}"#),
    )
    .unwrap();
    let out = shoal(&c)
        .args(["stack", "deploy", "--bundle-file", dab.to_str().unwrap(), "dab"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    c.wait_running("dab_cache", 1);
    let nets = c.docker_ok(
        0,
        &[
            "network",
            "ls",
            "--filter",
            "label=com.docker.stack.namespace=dab",
            "--format",
            "{{.Name}}",
        ],
    );
    assert_eq!(nets.trim(), "dab_back");
    assert!(shoal(&c).args(["stack", "rm", "dab"]).status().unwrap().success());
    assert_eq!(c.docker_ok(0, &["service", "ls", "-q"]).trim(), "");
}
