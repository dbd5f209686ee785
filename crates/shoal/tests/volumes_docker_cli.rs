//! Named volumes on an oci node (issue 14) with the stock docker CLI on a one-node swarm:
//! `docker volume create|ls|inspect|rm|prune` as dockerd's local driver answers them (labels,
//! generated anonymous names, filters, refusals of other drivers, options and bad names, 409
//! while a task uses the volume); a service's file in a volume seen by its replacement task;
//! a mount's `VolumeOptions.Labels` on the volume it creates; the image's content copied into
//! a new volume unless `volume-nocopy`; another driver refused at service create; a created
//! standalone container holding its `-v` volume. Root only.
#![allow(clippy::disallowed_methods, clippy::unwrap_used, dead_code, unsafe_code)]

mod common;

#[path = "../../image/tests/common/build.rs"]
mod build;
#[path = "common/busybox.rs"]
mod busybox;
#[path = "common/oci_swarm.rs"]
mod oci_swarm;
#[path = "../../image/tests/common/registry.rs"]
mod registry;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use common::{eventually, stderr, stdout};
use oci_swarm::OciSwarm;

const LIMIT: Duration = Duration::from_secs(60);

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

/// The ID of `service`'s task that should be running, once there is exactly one.
fn running_task(node: &mut OciSwarm, service: &str, not: &[String]) -> String {
    let agent = &node.agent;
    let id = eventually(&format!("a new running task of {service}"), LIMIT, || {
        let out = agent.docker_ok(&[
            "service",
            "ps",
            "-q",
            "--no-trunc",
            "--filter",
            "desired-state=running",
            service,
        ]);
        let ids: Vec<&str> = out.lines().filter(|id| !not.iter().any(|n| n == id)).collect();
        (ids.len() == 1).then(|| ids[0].to_string())
    });
    node.cleanup.task_ids.push(id.clone());
    id
}

/// Waits until task `id` of `service` logged `line`.
fn logged(node: &OciSwarm, service: &str, id: &str, line: &str) {
    let container = format!("{service}.1.{id}");
    eventually(&format!("{line:?} in {container}'s log"), LIMIT, || {
        let out = node.agent.docker(&["logs", &container]);
        (stdout(&out) + &stderr(&out))
            .lines()
            .any(|l| l.trim_end() == line)
            .then_some(())
    });
}

fn names(node: &OciSwarm, filters: &[&str]) -> Vec<String> {
    let mut args = vec!["volume", "ls", "-q"];
    for f in filters {
        args.extend_from_slice(&["--filter", f]);
    }
    let mut out: Vec<String> = node.agent.docker_ok(&args).lines().map(str::to_string).collect();
    out.sort();
    out
}

#[test]
fn volumes_on_an_oci_node_as_dockerds_local_driver() {
    let Some(mut node) = OciSwarm::start() else {
        return;
    };
    let image = node.image();
    let volumes = node.agent.data_dir().join("volumes");

    // Create: named with labels, and anonymous (a generated name).
    assert_eq!(
        node.agent
            .docker_ok(&["volume", "create", "--label", "tier=db", "db-data"])
            .trim(),
        "db-data"
    );
    let anonymous = node.agent.docker_ok(&["volume", "create"]).trim().to_string();
    assert_eq!(anonymous.len(), 64, "{anonymous}");
    // The same name again answers with the volume as it is.
    node.agent
        .docker_ok(&["volume", "create", "--label", "other=1", "db-data"]);
    for (args, words) in [
        (
            &["volume", "create", "--driver", "nfs", "x1"][..],
            "volume driver \"nfs\" is not supported",
        ),
        (
            &["volume", "create", "-o", "type=tmpfs", "x2"][..],
            "volume driver option \"type\" is not supported",
        ),
        (
            &["volume", "create", "a"][..],
            "includes invalid characters for a local volume name",
        ),
    ] {
        let out = node.agent.docker(args);
        assert!(
            !out.status.success() && stderr(&out).contains(words),
            "{args:?}: {}",
            stderr(&out)
        );
    }

    // Inspect: dockerd's shape; the record beside `_data` is the agent's (0700/0600).
    let inspect = node.agent.docker_ok(&[
        "volume",
        "inspect",
        "--format",
        "{{.Name}} {{.Driver}} {{.Scope}} {{.Mountpoint}} {{json .Labels}} {{json .Options}}",
        "db-data",
    ]);
    let data = volumes.join("db-data/_data");
    assert_eq!(
        inspect.trim(),
        format!("db-data local local {} {{\"tier\":\"db\"}} null", data.display())
    );
    let created = node
        .agent
        .docker_ok(&["volume", "inspect", "--format", "{{.CreatedAt}}", "db-data"]);
    assert!(created.trim().ends_with('Z') && created.len() >= 20, "{created}");
    assert_eq!(mode(&volumes.join("db-data")), 0o700);
    assert_eq!(mode(&volumes.join("db-data/volume.json")), 0o600);
    assert_eq!(mode(&data), 0o755);
    let missing = node.agent.docker(&["volume", "inspect", "nope-vol"]);
    assert!(
        stderr(&missing).contains("no such volume"),
        "{}",
        stderr(&missing)
    );

    // A service writes into db-data; while its task holds it the volume is in use.
    let script = "if [ -f /data/seen ]; then echo saw-$(cat /data/seen); else echo first > /data/seen; echo wrote; fi; \
                  exec sleep 100000";
    node.agent.docker_ok(&[
        "service",
        "create",
        "--detach",
        "--name",
        "writer",
        "--no-healthcheck",
        "--mount",
        "src=db-data,dst=/data",
        &image,
        "sh",
        "-c",
        script,
    ]);
    let first = running_task(&mut node, "writer", &[]);
    logged(&node, "writer", &first, "wrote");
    let refused = node.agent.docker(&["volume", "rm", "db-data"]);
    assert!(
        stderr(&refused).contains("remove db-data: volume is in use - ["),
        "{}",
        stderr(&refused)
    );
    let forced = node.agent.docker(&["volume", "rm", "--force", "db-data"]);
    assert!(
        stderr(&forced).contains("volume is in use"),
        "{}",
        stderr(&forced)
    );
    assert_eq!(names(&node, &["dangling=false"]), vec!["db-data".to_string()]);
    let mut unused = vec![anonymous.clone()];
    unused.sort();
    assert_eq!(names(&node, &["dangling=true"]), unused);
    assert_eq!(names(&node, &["label=tier=db"]), vec!["db-data".to_string()]);
    assert_eq!(names(&node, &["name=db-"]), vec!["db-data".to_string()]);
    assert!(names(&node, &["driver=nfs"]).is_empty());

    // Its replacement task sees the file the first one wrote.
    node.agent
        .docker_ok(&["service", "update", "--detach", "--force", "writer"]);
    let second = running_task(&mut node, "writer", std::slice::from_ref(&first));
    logged(&node, "writer", &second, "saw-first");
    assert_eq!(std::fs::read_to_string(data.join("seen")).unwrap(), "first\n");

    // A mount's labels go on the volume it creates; the image's /bin is copied into a new
    // volume mounted there (the task's shell comes from it), and not with volume-nocopy.
    node.agent.docker_ok(&[
        "service",
        "create",
        "--detach",
        "--name",
        "copier",
        "--no-healthcheck",
        "--mount",
        "src=bin-copy,dst=/bin,volume-label=com.example.made-by=mount",
        &image,
        "sh",
        "-c",
        "echo copied; exec sleep 100000",
    ]);
    let copier = running_task(&mut node, "copier", &[]);
    logged(&node, "copier", &copier, "copied");
    let copied = volumes.join("bin-copy/_data");
    assert!(copied.join("busybox").is_file() && copied.join("sh").exists());
    assert_eq!(
        node.agent
            .docker_ok(&["volume", "inspect", "--format", "{{json .Labels}}", "bin-copy"])
            .trim(),
        r#"{"com.example.made-by":"mount"}"#
    );
    node.agent.docker_ok(&[
        "service",
        "create",
        "--detach",
        "--name",
        "nocopy",
        "--no-healthcheck",
        "--restart-condition",
        "none",
        "--mount",
        "src=bin-empty,dst=/bin,volume-nocopy",
        &image,
        "sh",
        "-c",
        "exec sleep 100000",
    ]);
    // Without /bin/sh the task cannot start: it fails, and its volume stayed empty.
    eventually("the nocopy task failed", LIMIT, || {
        let out = node
            .agent
            .docker_ok(&["service", "ps", "--format", "{{.CurrentState}}", "nocopy"]);
        (out.contains("Failed") || out.contains("Rejected")).then_some(())
    });
    let empty = volumes.join("bin-empty/_data");
    assert_eq!(std::fs::read_dir(&empty).unwrap().count(), 0);

    // Another driver, or a driver option, is refused at service create.
    for (mount, words) in [
        (
            "src=v-nfs,dst=/n,volume-driver=nfs",
            "volume driver \"nfs\" is not supported",
        ),
        (
            "src=v-opt,dst=/n,volume-opt=type=tmpfs",
            "volume driver option \"type\" is not supported",
        ),
    ] {
        let out = node
            .agent
            .docker(&["service", "create", "--detach", "--mount", mount, &image, "true"]);
        assert!(
            !out.status.success() && stderr(&out).contains(words),
            "{mount}: {}",
            stderr(&out)
        );
    }

    // Once the services are gone, nothing uses the volumes: rm and prune take them.
    node.remove_leaving_nothing(&["writer", "copier", "nocopy"]);
    eventually("db-data unused", LIMIT, || {
        names(&node, &["dangling=true"])
            .contains(&"db-data".to_string())
            .then_some(())
    });
    node.agent.docker_ok(&["volume", "rm", "db-data"]);
    assert!(!volumes.join("db-data").exists());
    let gone = node.agent.docker(&["volume", "rm", "db-data"]);
    assert!(stderr(&gone).contains("no such volume"), "{}", stderr(&gone));
    node.agent.docker_ok(&["volume", "rm", "--force", "db-data"]);
    // prune: anonymous ones only; with --all the named ones too.
    let pruned = node.agent.docker_ok(&["volume", "prune", "--force"]);
    assert!(pruned.contains(&anonymous), "{pruned}");
    let mut left = vec!["bin-copy".to_string(), "bin-empty".to_string()];
    left.sort();
    assert_eq!(names(&node, &[]), left);
    let pruned = node.agent.docker_ok(&["volume", "prune", "--all", "--force"]);
    assert!(
        pruned.contains("bin-copy") && pruned.contains("bin-empty"),
        "{pruned}"
    );
    assert!(names(&node, &[]).is_empty());

    // A standalone container (created, never started) holds its volume too.
    let holder = node
        .agent
        .docker_ok(&["create", "--name", "holder", "-v", "held-vol:/d", &image, "true"])
        .trim()
        .to_string();
    let refused = node.agent.docker(&["volume", "rm", "held-vol"]);
    assert!(
        stderr(&refused).contains(&format!("remove held-vol: volume is in use - [{holder}]")),
        "{}",
        stderr(&refused)
    );
    node.agent.docker_ok(&["rm", "holder"]);
    node.agent.docker_ok(&["volume", "rm", "held-vol"]);
}
