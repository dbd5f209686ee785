//! Issue 14 item 4: the example stacks in `examples/`. Every file loads with our compose crate
//! without a warning; the ones that can run on shoal today are deployed by `shoal stack
//! deploy` on two oci hosts in network namespaces with busybox-static stand-ins (image and
//! command replaced by the test, everything else as written: networks, names, placement,
//! modes, depends_on, secrets, configs, published ports), checked from inside the tasks and
//! through the routing mesh, and removed with nothing left but WordPress's named volume: made
//! on the database's node by its first task with the stack's label, and kept by `stack rm`
//! as Docker keeps it (then removed by hand).

#![allow(clippy::unwrap_used, clippy::disallowed_methods, dead_code, unsafe_code)]

mod common;
#[path = "common/hosts.rs"]
mod hosts;
#[path = "common/overlay.rs"]
mod overlay;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{stderr, stdout};
use hosts::{Cluster, IMAGE, skip_reason};
use overlay::{connects, get, hosts_of, lookup};
use serde_json::Value;

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(name)
        .join("stack.yml")
}

#[test]
fn every_example_loads_without_warnings() {
    let none = BTreeMap::new();
    for name in ["wordpress", "spark", "nginx", "monitoring"] {
        let stack =
            compose::load_file(&example(name), "ex", none.clone()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(stack.warnings.is_empty(), "{name}: {:?}", stack.warnings);
        assert!(!stack.services.is_empty(), "{name}");
    }
    let wp = compose::load_file(&example("wordpress"), "wp", none.clone()).unwrap();
    let order: Vec<&str> = wp.services.iter().map(|s| s.key.as_str()).collect();
    assert_eq!(order, ["db", "wordpress"]);
    assert_eq!(
        wp.services[1].depends_on[0].condition,
        compose::Condition::Healthy
    );
    let secrets: Vec<&str> = wp.secrets.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(secrets, ["wp_db_password", "wp_db_root_password"]);
    let port = &wp.services[1].spec.endpoint.as_ref().unwrap().ports[0];
    assert_eq!((port.published_port, port.target_port), (8080, 80));

    let spark = compose::load_file(&example("spark"), "spark", none.clone()).unwrap();
    let master = &spark.services[0].spec.task.placement.constraints;
    assert_eq!(master, &["node.labels.spark == master"]);
    let mon = compose::load_file(&example("monitoring"), "mon", none).unwrap();
    assert_eq!(mon.services[0].spec.mode, types::service::ServiceMode::Global);
}

/// A copy of example `name` in `dir` with every service's image replaced by the busybox
/// stand-in and its command by `commands[service]`; ports kept as written;
/// health checks replaced by a trivial one for the services in `healthy` (a dependency's
/// `service_healthy` needs one) and dropped elsewhere; named volumes kept as written; the
/// example's secret files copied beside it (the file names them relatively).
fn stand_in(name: &str, dir: &Path, commands: &[(&str, &str)], healthy: &[&str]) -> PathBuf {
    let source = example(name);
    let text = std::fs::read_to_string(&source).unwrap();
    let mut doc: Value = serde_saphyr::from_str(&text).unwrap();
    for (service, body) in doc["services"].as_object_mut().unwrap() {
        let body = body.as_object_mut().unwrap();
        body.insert("image".into(), IMAGE.into());
        let command = commands.iter().find(|(s, _)| s == service).unwrap().1;
        body.insert("command".into(), Value::from(vec!["sh", "-c", command]));
        body.remove("healthcheck");
        if healthy.contains(&service.as_str()) {
            body.insert(
                "healthcheck".into(),
                serde_json::json!({"test": ["CMD", "true"], "interval": "1s"}),
            );
        }
    }
    for entry in std::fs::read_dir(source.parent().unwrap()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "txt") {
            std::fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
        }
    }
    let out = dir.join(format!("{name}.yml"));
    // JSON is YAML: the stack file the CLI reads.
    std::fs::write(&out, serde_json::to_string_pretty(&doc).unwrap()).unwrap();
    out
}

/// Waits until host `via` answers `GET /` on `port` (asked from the other host) with `body`.
fn mesh_answers(c: &Cluster, via: usize, port: u16, body: &str) {
    let from = (via + 1) % c.hosts.len();
    c.wait(&format!("host {via}:{port} answers {body:?}"), || {
        (get(c, from, c.hosts[via].address, port, "/").as_deref() == Some(body)).then_some(())
    });
}

fn shoal(c: &Cluster, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_shoal"))
        .env("DOCKER_HOST", format!("unix://{}", c.hosts[0].sock.display()))
        .envs(env.iter().copied())
        .args(args)
        .output()
        .unwrap()
}

fn nothing_left(c: &Cluster, stack: &str) {
    let label = format!("label=com.docker.stack.namespace={stack}");
    c.wait(&format!("{stack} removed"), || {
        ["service", "network", "secret", "config"]
            .iter()
            .all(|kind| {
                c.docker_ok(0, &[kind, "ls", "-q", "--filter", &label])
                    .trim()
                    .is_empty()
            })
            .then_some(())
    });
}

#[test]
fn the_examples_run_with_stand_ins() {
    if let Some(why) = skip_reason() {
        eprintln!("skipping: {why}");
        return;
    }
    let c = Cluster::new("stkx", 2);
    let dir = tempfile::tempdir().unwrap();
    let ok = |out: Output| {
        assert!(
            out.status.success(),
            "{}{}\n{}",
            stdout(&out),
            stderr(&out),
            c.hosts[0].log_tail()
        );
        stdout(&out)
    };

    // Monitoring: one agent per node, the collector reaching each of them by DNS.
    let file = stand_in(
        "monitoring",
        dir.path(),
        &[
            (
                "agent",
                "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 9100 -h /www",
            ),
            ("collector", "exec sleep 100000"),
        ],
        &[],
    );
    ok(shoal(
        &c,
        &["stack", "deploy", "-c", file.to_str().unwrap(), "mon"],
        &[],
    ));
    let agents = c.wait_running("mon_agent", 2);
    assert_eq!(hosts_of(&agents).len(), 2, "global: one agent per node");
    let collector = c.wait_running("mon_collector", 1).remove(0);
    let found = c.wait("tasks.mon_agent from the collector", || {
        let found = lookup(&c, &collector, "tasks.mon_agent");
        (found.len() == 2).then_some(found)
    });
    for addr in found {
        assert!(
            connects(&c, &collector, addr, 9100),
            "collector → agent {addr}:9100"
        );
    }

    // Spark: the master on the labelled node, workers elsewhere, reaching it by name; its UI
    // port answers on every node through the mesh.
    c.docker_ok(
        0,
        &[
            "node",
            "update",
            "--label-add",
            "spark=master",
            &c.hosts[0].node_id,
        ],
    );
    let file = stand_in(
        "spark",
        dir.path(),
        &[
            (
                "master",
                "mkdir -p /www && echo spark master > /www/index.html && httpd -p 8080 -h /www && exec httpd -f -p 7077",
            ),
            ("worker", "exec sleep 100000"),
        ],
        &[],
    );
    ok(shoal(
        &c,
        &["stack", "deploy", "-c", file.to_str().unwrap(), "spark"],
        &[("SPARK_WORKERS", "2"), ("SPARK_UI_PORT", "8082")],
    ));
    let master = c.wait_running("spark_master", 1).remove(0);
    assert_eq!(
        master.host, 0,
        "the master runs on the node labelled spark=master"
    );
    let workers = c.wait_running("spark_worker", 2);
    assert!(
        workers.iter().all(|w| w.host == 1),
        "workers stay off the master's node: {workers:?}"
    );
    let addr = c.wait("master from a worker", || {
        lookup(&c, &workers[0], "master").into_iter().next()
    });
    assert!(connects(&c, &workers[0], addr, 7077), "worker → master:7077");
    for host in 0..2 {
        mesh_answers(&c, host, 8082, "spark master");
    }

    // nginx behind the mesh: every host answers on the published port with the page the
    // stack's config puts in place.
    let file = stand_in(
        "nginx",
        dir.path(),
        &[("web", "exec httpd -f -p 80 -h /usr/share/nginx/html")],
        &[],
    );
    ok(shoal(
        &c,
        &["stack", "deploy", "-c", file.to_str().unwrap(), "web"],
        &[("NGINX_PORT", "8080"), ("NGINX_REPLICAS", "2")],
    ));
    c.wait_running("web_web", 2);
    for host in 0..2 {
        mesh_answers(&c, host, 8080, "served by the shoal routing mesh");
    }

    // WordPress: the database (on the manager, healthy first) answers on its service name,
    // and the secret file is readable in the tasks: the stand-in serves it through the mesh.
    let file = stand_in(
        "wordpress",
        dir.path(),
        &[
            (
                "db",
                "mkdir -p /www && cat /run/secrets/db_root_password > /www/index.html && hostname > /var/lib/mysql/by && exec httpd -f -p 3306 -h /www",
            ),
            (
                "wordpress",
                "mkdir -p /www && cat /run/secrets/db_password > /www/index.html && exec httpd -f -p 80 -h /www",
            ),
        ],
        &["db"],
    );
    ok(shoal(
        &c,
        &["stack", "deploy", "-c", file.to_str().unwrap(), "wp"],
        &[("WORDPRESS_PORT", "8081")],
    ));
    let db = c.wait_running("wp_db", 1).remove(0);
    assert_eq!(db.host, 0, "the database runs on the manager");
    let sites = c.wait_running("wp_wordpress", 2);
    let addr = c.wait("db from wordpress", || {
        lookup(&c, &sites[0], "db").into_iter().next()
    });
    assert!(connects(&c, &sites[0], addr, 3306), "wordpress → db:3306");
    let password = std::fs::read_to_string(example("wordpress").with_file_name("db_password.txt")).unwrap();
    for host in 0..2 {
        mesh_answers(&c, host, 8081, password.trim());
    }

    // The database's named volume: on its node, labelled with the stack, holding its file.
    let volume = c.docker_ok(
        0,
        &[
            "volume",
            "inspect",
            "--format",
            "{{json .Labels}} {{.Mountpoint}}",
            "wp_db_data",
        ],
    );
    let (labels, mountpoint) = volume.trim().split_once(' ').unwrap();
    assert_eq!(labels, r#"{"com.docker.stack.namespace":"wp"}"#);
    assert!(Path::new(mountpoint).join("by").is_file(), "{mountpoint}");

    for stack in ["mon", "spark", "web", "wp"] {
        ok(shoal(&c, &["stack", "rm", stack], &[]));
    }
    for stack in ["mon", "spark", "web", "wp"] {
        nothing_left(&c, stack);
    }
    // `stack rm` leaves volumes, as Docker's does; once the database's container is gone the
    // volume can be removed.
    let label = "label=com.docker.stack.namespace=wp";
    assert_eq!(
        c.docker_ok(0, &["volume", "ls", "-q", "--filter", label]).trim(),
        "wp_db_data"
    );
    c.wait("wp_db_data unused", || {
        c.docker_ok(0, &["volume", "ls", "-q", "--filter", "dangling=true"])
            .lines()
            .any(|l| l == "wp_db_data")
            .then_some(())
    });
    c.docker_ok(0, &["volume", "rm", "wp_db_data"]);
}
