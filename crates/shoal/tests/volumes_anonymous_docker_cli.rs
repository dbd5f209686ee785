//! Anonymous volumes and volume subpaths on an oci node (issue 14) with the stock docker CLI
//! on a one-node swarm: a service's `--mount type=volume,target=…` gets a volume of its own
//! (64 hex digits, `com.docker.volume.anonymous`, the image's content copied in) that is gone
//! after `docker service rm`; `docker run -v /dst` / `--mount type=volume,target=…` keep theirs
//! after `docker rm` and lose them with `docker rm -v` or `--rm`; `volume-subpath` mounts a
//! directory of a volume (a link inside it followed), and a subpath that does not exist or
//! leaves the volume is refused with dockerd's words, for services and `docker run`. Root only.
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

use std::time::Duration;

use common::{eventually, stderr, stdout};
use oci_swarm::OciSwarm;

const LIMIT: Duration = Duration::from_secs(60);
const ANONYMOUS: &str = "com.docker.volume.anonymous";

/// The ID of `service`'s one task that should be running.
fn running_task(node: &mut OciSwarm, service: &str) -> String {
    let agent = &node.agent;
    let id = eventually(&format!("a running task of {service}"), LIMIT, || {
        let out = agent.docker_ok(&[
            "service",
            "ps",
            "-q",
            "--no-trunc",
            "--filter",
            "desired-state=running",
            service,
        ]);
        let ids: Vec<&str> = out.lines().collect();
        (ids.len() == 1).then(|| ids[0].to_string())
    });
    node.cleanup.task_ids.push(id.clone());
    id
}

/// Waits until `service`'s task `id` logged `line`.
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

fn volumes(node: &OciSwarm, filters: &[&str]) -> Vec<String> {
    let mut args = vec!["volume", "ls", "-q"];
    for f in filters {
        args.extend_from_slice(&["--filter", f]);
    }
    let mut out: Vec<String> = node.agent.docker_ok(&args).lines().map(str::to_string).collect();
    out.sort();
    out
}

#[test]
fn anonymous_volumes_live_as_long_as_their_container() {
    let Some(mut node) = OciSwarm::start() else {
        return;
    };
    let image = node.image();
    let dir = node.agent.data_dir().join("volumes");

    // A service task's anonymous volume: made for it, with the image's /etc copied in.
    node.agent.docker_ok(&[
        "service",
        "create",
        "--detach",
        "--name",
        "anon",
        "--no-healthcheck",
        "--mount",
        "type=volume,target=/etc",
        &image,
        "sh",
        "-c",
        "echo hello > /etc/written; echo wrote; exec sleep 100000",
    ]);
    let task = running_task(&mut node, "anon");
    logged(&node, "anon", &task, "wrote");
    let made = volumes(&node, &[&format!("label={ANONYMOUS}")]);
    assert_eq!(made.len(), 1, "{made:?}");
    let name = &made[0];
    assert_eq!(name.len(), 64);
    assert!(name.chars().all(|c| c.is_ascii_hexdigit()), "{name}");
    let data = dir.join(name).join("_data");
    assert_eq!(std::fs::read_to_string(data.join("written")).unwrap(), "hello\n");
    assert_eq!(
        std::fs::read_to_string(data.join("hello")).unwrap(),
        "hello\n",
        "the image's /etc copied in"
    );
    assert_eq!(
        node.agent
            .docker_ok(&["volume", "inspect", "--format", "{{json .Labels}}", name])
            .trim(),
        format!("{{\"{ANONYMOUS}\":\"\"}}")
    );
    // In use while its task holds it.
    let refused = node.agent.docker(&["volume", "rm", name]);
    assert!(
        stderr(&refused).contains("volume is in use"),
        "{}",
        stderr(&refused)
    );
    assert!(volumes(&node, &["dangling=true"]).is_empty());

    // Gone with the service's task.
    node.remove_leaving_nothing(&["anon"]);
    eventually("the anonymous volume removed with its task", LIMIT, || {
        volumes(&node, &[]).is_empty().then_some(())
    });
    assert!(!dir.join(name).exists());

    // Standalone containers: `-v /dst` and `--mount type=volume,target=…` each get one,
    // kept by `docker rm`, removed by `docker rm -v` and by `--rm`.
    node.agent.docker_ok(&["pull", "-q", &image]);
    node.agent.docker_ok(&[
        "run",
        "--name",
        "kept",
        "-v",
        "/data",
        &image,
        "sh",
        "-c",
        "echo kept > /data/f",
    ]);
    let kept = volumes(&node, &[]);
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(
        std::fs::read_to_string(dir.join(&kept[0]).join("_data/f")).unwrap(),
        "kept\n"
    );
    let refused = node.agent.docker(&["volume", "rm", &kept[0]]);
    assert!(
        stderr(&refused).contains("volume is in use"),
        "{}",
        stderr(&refused)
    );
    node.agent.docker_ok(&["rm", "kept"]);
    assert_eq!(volumes(&node, &[]), kept);

    node.agent.docker_ok(&[
        "run",
        "--name",
        "dropped",
        "--mount",
        "type=volume,target=/data",
        &image,
        "sh",
        "-c",
        "true",
    ]);
    assert_eq!(volumes(&node, &[]).len(), 2);
    node.agent.docker_ok(&["rm", "-v", "dropped"]);
    assert_eq!(volumes(&node, &[]), kept);

    node.agent
        .docker_ok(&["run", "--rm", "-v", "/scratch", &image, "sh", "-c", "true"]);
    eventually("the --rm container's volume removed", LIMIT, || {
        (volumes(&node, &[]) == kept).then_some(())
    });
    // The one left is anonymous: prune takes it.
    let pruned = node.agent.docker_ok(&["volume", "prune", "--force"]);
    assert!(pruned.contains(&kept[0]), "{pruned}");
}

#[test]
fn a_volume_subpath_mounts_part_of_the_volume_and_never_leaves_it() {
    let Some(mut node) = OciSwarm::start() else {
        return;
    };
    let image = node.image();
    node.agent.docker_ok(&["pull", "-q", &image]);
    node.agent.docker_ok(&["volume", "create", "shared"]);
    node.agent.docker_ok(&[
        "run",
        "--rm",
        "-v",
        "shared:/v",
        &image,
        "sh",
        "-c",
        "mkdir -p /v/sub && echo inside > /v/sub/f && ln -s sub /v/link && ln -s / /v/out && ln -s ../.. /v/up",
    ]);

    // `docker run`: the subdirectory, or a link that stays inside the volume.
    for sub in ["sub", "link", "./sub/../sub"] {
        let out = node.agent.docker_ok(&[
            "run",
            "--rm",
            "--mount",
            &format!("type=volume,source=shared,target=/x,volume-subpath={sub}"),
            &image,
            "sh",
            "-c",
            "cat /x/f",
        ]);
        assert_eq!(out.trim(), "inside", "{sub}");
    }
    // A subpath that leaves the volume, lexically or through a link, or does not exist.
    for (sub, words) in [
        ("../x", "subpath must be a relative path within the volume"),
        ("out", "path concatenation escapes the base directory"),
        ("up/etc", "path concatenation escapes the base directory"),
        ("nope", "cannot access path"),
    ] {
        let out = node.agent.docker(&[
            "run",
            "--rm",
            "--mount",
            &format!("type=volume,source=shared,target=/x,volume-subpath={sub}"),
            &image,
            "sh",
            "-c",
            "ls /x",
        ]);
        assert!(
            !out.status.success() && stderr(&out).contains(words),
            "{sub}: {}",
            stderr(&out)
        );
    }
    let out = node.agent.docker(&[
        "run",
        "--rm",
        "--mount",
        "type=volume,target=/x,volume-subpath=sub",
        &image,
        "sh",
        "-c",
        "true",
    ]);
    assert!(
        stderr(&out).contains("must not set Subpath when using anonymous volumes"),
        "{}",
        stderr(&out)
    );

    // A service: its task writes through the subpath into the volume.
    node.agent.docker_ok(&[
        "service",
        "create",
        "--detach",
        "--name",
        "sub",
        "--no-healthcheck",
        "--mount",
        "type=volume,source=shared,target=/x,volume-subpath=sub",
        &image,
        "sh",
        "-c",
        "cat /x/f; echo from-task > /x/g; exec sleep 100000",
    ]);
    let task = running_task(&mut node, "sub");
    logged(&node, "sub", &task, "inside");
    let data = node.agent.data_dir().join("volumes/shared/_data");
    eventually("the task's file in the volume", LIMIT, || {
        std::fs::read_to_string(data.join("sub/g"))
            .ok()
            .filter(|t| t == "from-task\n")
    });
    // One whose subpath leaves the volume fails with dockerd's words.
    node.agent.docker_ok(&[
        "service",
        "create",
        "--detach",
        "--name",
        "escape",
        "--restart-condition",
        "none",
        "--mount",
        "type=volume,source=shared,target=/x,volume-subpath=out",
        &image,
        "sh",
        "-c",
        "true",
    ]);
    eventually("the escaping task refused", LIMIT, || {
        let out = node.agent.docker_ok(&[
            "service",
            "ps",
            "--no-trunc",
            "--format",
            "{{.CurrentState}} {{.Error}}",
            "escape",
        ]);
        (out.contains("path concatenation escapes the base directory")).then_some(())
    });
    // Nothing of either is left mounted once they are gone.
    for id in oci_swarm::task_ids(&node.agent, "escape") {
        node.cleanup.task_ids.push(id);
    }
    node.remove_leaving_nothing(&["sub", "escape"]);
    assert!(data.join("sub/f").is_file() && data.join("out").is_symlink());
}
