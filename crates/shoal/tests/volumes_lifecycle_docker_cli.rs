//! Anonymous volumes and volume subpaths on an oci node (issue 14) with the stock docker CLI
//! on a one-node swarm: a service's `--mount type=volume,target=…` gets a volume of its own
//! (64 hex digits, `com.docker.volume.anonymous`, the image's content copied in) that is gone
//! after `docker service rm`; `docker run -v /dst` / `--mount type=volume,target=…` keep theirs
//! after `docker rm` and lose them with `docker rm -v` or `--rm`; `volume-subpath` mounts a
//! directory of a volume (a link inside it followed), and a subpath that does not exist or
//! leaves the volume is refused with dockerd's words, for services and `docker run`; volume
//! events (create, mount, unmount, destroy with dockerd's attributes, filtered by type, volume
//! and event) and the volumes of `docker system df [-v]` with their sizes and users; an image's
//! `VOLUME` getting an anonymous volume unless a mount covers it. Root only.
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

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

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

/// `docker run ARGS… <image> sh -c SCRIPT` on the node, which must succeed.
fn run_sh(node: &OciSwarm, args: &[&str], script: &str) -> String {
    let image = node.image();
    let mut all = args.to_vec();
    all.extend_from_slice(&[&image, "sh", "-c", script]);
    node.agent.docker_ok(&all)
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
    run_sh(
        &node,
        &["run", "--name", "kept", "-v", "/data"],
        "echo kept > /data/f",
    );
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

    run_sh(
        &node,
        &["run", "--name", "dropped", "--mount", "type=volume,target=/data"],
        "true",
    );
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
fn an_anonymous_volume_another_container_mounts_outlives_its_own() {
    let Some(mut node) = OciSwarm::start() else {
        return;
    };
    let image = node.image();
    let dir = node.agent.data_dir().join("volumes");
    node.agent.docker_ok(&["pull", "-q", &image]);

    // A standalone container's anonymous volume, then another mounting it by name.
    run_sh(
        &node,
        &["run", "--name", "owner", "-v", "/data"],
        "echo owned > /data/f",
    );
    let owned = volumes(&node, &[]);
    assert_eq!(owned.len(), 1, "{owned:?}");
    let owned = &owned[0];
    run_sh(
        &node,
        &[
            "run",
            "-d",
            "--no-healthcheck",
            "--name",
            "borrower",
            "-v",
            &format!("{owned}:/x"),
        ],
        "exec sleep 100000",
    );
    // dockerd keeps it when its own container goes with its volumes: the other's data stays.
    node.agent.docker_ok(&["rm", "-v", "owner"]);
    assert_eq!(volumes(&node, &[]), vec![owned.clone()]);
    assert_eq!(
        std::fs::read_to_string(dir.join(owned).join("_data/f")).unwrap(),
        "owned\n"
    );

    // A service task's anonymous volume mounted by a standalone container: the swarm
    // executor asks the standalone one's containers too.
    node.agent.docker_ok(&[
        "service",
        "create",
        "--detach",
        "--name",
        "anon",
        "--no-healthcheck",
        "--mount",
        "type=volume,target=/data",
        &image,
        "sh",
        "-c",
        "echo tasked > /data/f; echo wrote; exec sleep 100000",
    ]);
    let task = running_task(&mut node, "anon");
    logged(&node, "anon", &task, "wrote");
    let tasked: Vec<String> = volumes(&node, &[]).into_iter().filter(|v| v != owned).collect();
    assert_eq!(tasked.len(), 1, "{tasked:?}");
    let tasked = &tasked[0];
    run_sh(
        &node,
        &[
            "run",
            "-d",
            "--no-healthcheck",
            "--name",
            "borrower2",
            "--mount",
            &format!("type=volume,source={tasked},target=/x"),
        ],
        "exec sleep 100000",
    );
    // The borrower still runs, so its own mounts stay: the task's directory going is the
    // sign its container was removed (its volumes are decided right after).
    node.agent.docker_ok(&["service", "rm", "anon"]);
    let task_dir = node.agent.data_dir().join("containers").join(&task);
    eventually("the service's task container removed", LIMIT, || {
        (!task_dir.exists()).then_some(())
    });
    let mut both = vec![owned.clone(), tasked.clone()];
    both.sort();
    assert_eq!(volumes(&node, &[]), both);
    assert_eq!(
        std::fs::read_to_string(dir.join(tasked).join("_data/f")).unwrap(),
        "tasked\n"
    );

    // Once nothing uses them they are the operator's to remove.
    node.agent.docker_ok(&["rm", "-f", "borrower", "borrower2"]);
    assert_eq!(volumes(&node, &[]), both);
    node.agent.docker_ok(&["volume", "rm", owned, tasked]);
    assert!(volumes(&node, &[]).is_empty());
}

#[test]
fn a_volume_subpath_mounts_part_of_the_volume_and_never_leaves_it() {
    let Some(mut node) = OciSwarm::start() else {
        return;
    };
    let image = node.image();
    node.agent.docker_ok(&["pull", "-q", &image]);
    node.agent.docker_ok(&["volume", "create", "shared"]);
    run_sh(
        &node,
        &["run", "--rm", "-v", "shared:/v"],
        "mkdir -p /v/sub && echo inside > /v/sub/f && ln -s sub /v/link && ln -s / /v/out && ln -s ../.. /v/up",
    );

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

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// The events since `since` (up to now) as `Action Actor.ID` lines, with `filters`.
fn events(node: &OciSwarm, since: f64, filters: &[&str]) -> Vec<Value> {
    let (since, until) = (format!("{since:.3}"), format!("{:.3}", now() + 0.001));
    let mut args = vec![
        "events",
        "--since",
        &since,
        "--until",
        &until,
        "--format",
        "{{json .}}",
    ];
    for f in filters {
        args.extend_from_slice(&["--filter", f]);
    }
    node.agent
        .docker_ok(&args)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn actions(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            format!(
                "{} {}",
                e["Action"].as_str().unwrap(),
                e["Actor"]["ID"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn volume_events_and_disk_usage_as_dockerd_reports_them() {
    let Some(node) = OciSwarm::start() else {
        return;
    };
    let image = node.image();
    node.agent.docker_ok(&["pull", "-q", &image]);
    let since = now() - 0.5;

    // A named volume's life: made, mounted by a container, unmounted at its exit, removed.
    node.agent.docker_ok(&["volume", "create", "ev-vol"]);
    let container = node
        .agent
        .docker_ok(&[
            "create",
            "--name",
            "ev-user",
            "-v",
            "ev-vol:/d:ro",
            &image,
            "sh",
            "-c",
            "true",
        ])
        .trim()
        .to_string();
    node.agent.docker_ok(&["start", "-a", "ev-user"]);
    // An anonymous one: made, mounted, unmounted and removed with its --rm container.
    node.agent
        .docker_ok(&["run", "--rm", "-v", "/scratch", &image, "sh", "-c", "true"]);
    node.agent.docker_ok(&["rm", "ev-user"]);
    node.agent.docker_ok(&["volume", "rm", "ev-vol"]);
    // One made by `volume create` without a name, taken by prune (which says so once).
    let pruned_one = node.agent.docker_ok(&["volume", "create"]).trim().to_string();
    node.agent.docker_ok(&["volume", "prune", "--force"]);

    let named = [
        "create ev-vol",
        "mount ev-vol",
        "unmount ev-vol",
        "destroy ev-vol",
    ];
    let seen = eventually("the volume events", LIMIT, || {
        let seen = events(&node, since, &["type=volume"]);
        (seen.len() >= 11).then_some(seen)
    });
    let all = actions(&seen);
    let anon = all[3].split(' ').nth(1).unwrap().to_string();
    assert_eq!(anon.len(), 64, "{all:?}");
    assert_eq!(
        all,
        [
            "create ev-vol".to_string(),
            "mount ev-vol".into(),
            "unmount ev-vol".into(),
            format!("create {anon}"),
            format!("mount {anon}"),
            format!("unmount {anon}"),
            format!("destroy {anon}"),
            "destroy ev-vol".into(),
            format!("create {pruned_one}"),
            format!("destroy {pruned_one}"),
            "prune ".into(),
        ]
    );
    let prune = &seen[10]["Actor"]["Attributes"];
    assert_eq!(prune, &serde_json::json!({"reclaimed": "0"}));
    for e in &seen[..10] {
        assert_eq!(e["Type"], "volume");
        assert_eq!(e["scope"], "local");
        assert_eq!(e["Actor"]["Attributes"]["driver"], "local");
    }
    let mount = seen
        .iter()
        .find(|e| e["Action"] == "mount" && e["Actor"]["ID"] == "ev-vol")
        .unwrap();
    let attributes = &mount["Actor"]["Attributes"];
    assert_eq!(attributes["container"].as_str().unwrap(), container);
    assert_eq!(attributes["destination"], "/d");
    assert_eq!(attributes["read/write"], "false");
    assert_eq!(attributes["propagation"], "");
    // The filters: by volume, by event, and container events left out by type.
    assert_eq!(actions(&events(&node, since, &["volume=ev-vol"])), named);
    assert_eq!(
        actions(&events(&node, since, &["type=volume", "event=mount"])),
        vec!["mount ev-vol".to_string(), format!("mount {anon}")]
    );
    assert!(
        events(&node, since, &["type=container"])
            .iter()
            .all(|e| e["Type"] == "container")
    );

    // docker system df: a volume in use by a created container, and an unused one.
    node.agent.docker_ok(&["volume", "create", "df-used"]);
    node.agent.docker_ok(&["volume", "create", "df-free"]);
    run_sh(
        &node,
        &["run", "--rm", "-v", "df-used:/d"],
        "echo hello > /d/f; mkdir /d/sub; echo 12345678 > /d/sub/g; ln /d/f /d/hard",
    );
    node.agent.docker_ok(&[
        "create",
        "--name",
        "df-holder",
        "-v",
        "df-used:/d",
        &image,
        "true",
    ]);
    let raw = node.agent.docker_ok(&["system", "df", "--format", "{{json .}}"]);
    let local = raw
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|v| v["Type"] == "Local Volumes")
        .unwrap();
    assert_eq!(local["TotalCount"], "2", "{local}");
    assert_eq!(local["Active"], "1", "{local}");
    assert_eq!(local["Size"], "15B", "{local}");
    assert_eq!(local["Reclaimable"], "0B (0%)", "{local}");
    let verbose = node.agent.docker_ok(&["system", "df", "-v"]);
    let row = |name: &str| -> Vec<String> {
        verbose
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("{name} in {verbose}"))
            .split_whitespace()
            .map(str::to_string)
            .collect()
    };
    // "hello\n" once (its hard link not again) and "12345678\n".
    assert_eq!(row("df-used"), ["df-used", "1", "15B"], "{verbose}");
    assert_eq!(row("df-free"), ["df-free", "0", "0B"], "{verbose}");
    node.agent.docker_ok(&["rm", "df-holder"]);
}

/// Pushes busybox as `withvol:latest` with `VOLUME /etc` in its config.
fn push_image_with_volume(node: &OciSwarm) -> String {
    let addr = node.registry.addr.clone();
    node.rt.block_on(async {
        let auth = oci_client::secrets::RegistryAuth::Anonymous;
        let client = build::client(&addr, "withvol", &auth).await;
        let layers = vec![build::Layer::new(build::busybox_rootfs(), true)];
        let arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            other => other,
        };
        let mut config: Value = serde_json::from_slice(&build::config(&layers, arch, &["sh"])).unwrap();
        config["config"]["Volumes"] = serde_json::json!({"/etc": {}});
        let config = serde_json::to_vec(&config).unwrap();
        let manifest = build::manifest(build::Format::Docker, &config, &layers);
        build::push_image(
            &client,
            &addr,
            "withvol",
            &layers,
            &config,
            (&manifest.0, manifest.1),
            "latest",
        )
        .await;
    });
    format!("{addr}/withvol:latest")
}

#[test]
fn an_images_volumes_get_anonymous_volumes_unless_mounted() {
    let Some(mut node) = OciSwarm::start() else {
        return;
    };
    let image = push_image_with_volume(&node);
    let dir = node.agent.data_dir().join("volumes");
    node.agent.docker_ok(&[
        "service",
        "create",
        "--detach",
        "--name",
        "imgvol",
        "--no-healthcheck",
        &image,
        "sh",
        "-c",
        "echo mine > /etc/mine; echo wrote; exec sleep 100000",
    ]);
    let task = running_task(&mut node, "imgvol");
    logged(&node, "imgvol", &task, "wrote");
    let made = volumes(&node, &[&format!("label={ANONYMOUS}")]);
    assert_eq!(made.len(), 1, "{made:?}");
    let data = dir.join(&made[0]).join("_data");
    assert_eq!(std::fs::read_to_string(data.join("mine")).unwrap(), "mine\n");
    assert_eq!(std::fs::read_to_string(data.join("hello")).unwrap(), "hello\n");
    let refused = node.agent.docker(&["volume", "rm", &made[0]]);
    assert!(
        stderr(&refused).contains("volume is in use"),
        "{}",
        stderr(&refused)
    );
    node.remove_leaving_nothing(&["imgvol"]);
    eventually("the image volume removed with its task", LIMIT, || {
        volumes(&node, &[]).is_empty().then_some(())
    });

    // A named volume mounted there takes its place: no anonymous one.
    node.agent.docker_ok(&["pull", "-q", &image]);
    node.agent
        .docker_ok(&["run", "--rm", "-v", "etc-vol:/etc/", &image, "sh", "-c", "true"]);
    assert_eq!(volumes(&node, &[]), ["etc-vol"]);
}
