//! The stock docker CLI's image commands against `shoal agent`'s socket, with a real
//! `docker-registry` on loopback holding an image built from busybox-static (pushed with
//! oci-client, no dockerd): pull, images (filters, `-q`, `--digests`), inspect, tag, rmi
//! (missing name, in use by a task), import and load of tars larger than the API's JSON body
//! limit, prune, `system df`.

#![allow(clippy::unwrap_used, clippy::disallowed_methods)]

#[path = "../../image/tests/common/build.rs"]
#[allow(dead_code)]
mod build;
mod common;
#[path = "../../image/tests/common/registry.rs"]
#[allow(dead_code)]
mod registry;

use std::time::Duration;

use build::{Format, Layer, Tar};
use common::{Agent, eventually, stderr, stdout};

/// Bigger than the API's 4 MiB JSON body limit, which uploads must not meet.
const PADDING: usize = 5 << 20;

/// GOARCH of this machine, as image configs name it.
fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

fn rootfs_with_padding() -> Vec<u8> {
    let busybox = std::fs::read("/bin/busybox").expect("/bin/busybox (busybox-static)");
    Tar::default()
        .dir("bin")
        .file("bin/busybox", 0o755, &busybox)
        .symlink("bin/sh", "busybox")
        .file("padding", 0o644, &vec![7u8; PADDING])
        .finish()
}

/// A `docker save` archive (legacy layout) of one image tagged `tag`.
fn save_archive(layer_tar: &[u8], tag: &str) -> Vec<u8> {
    let layer = Layer::new(layer_tar.to_vec(), false);
    let config = build::config(std::slice::from_ref(&layer), go_arch(), &["sh"]);
    let config_name = format!("{}.json", build::sha(&config).trim_start_matches("sha256:"));
    let manifest = serde_json::json!([{
        "Config": config_name,
        "RepoTags": [tag],
        "Layers": ["l1/layer.tar"],
    }]);
    Tar::default()
        .file(&config_name, 0o644, &config)
        .dir("l1")
        .file("l1/layer.tar", 0o644, layer_tar)
        .file("manifest.json", 0o644, &serde_json::to_vec(&manifest).unwrap())
        .finish()
}

/// Runs docker expecting failure; returns stderr.
fn docker_err(agent: &Agent, args: &[&str]) -> String {
    let out = agent.docker(args);
    assert!(
        !out.status.success(),
        "docker {args:?} succeeded: {}",
        stdout(&out)
    );
    stderr(&out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_cli_image_commands() {
    let reg = registry::Registry::start(None).await;
    let layer = Layer::new(build::busybox_rootfs(), true);
    let config = build::config(std::slice::from_ref(&layer), go_arch(), &["sh"]);
    let (manifest, mt) = build::manifest(Format::Docker, &config, std::slice::from_ref(&layer));
    let client = build::client(&reg.addr, "bb", &oci_client::secrets::RegistryAuth::Anonymous).await;
    let digest = build::push_image(&client, &reg.addr, "bb", &[layer], &config, (&manifest, mt), "1").await;
    let image_id = build::sha(&config);
    let bb = format!("{}/bb:1", reg.addr);

    let root = tempfile::tempdir().unwrap();
    let agent = Agent::start(root.path(), "n1");

    // pull: the CLI renders the progress stream and its final status.
    let out = agent.docker_ok(&["pull", &bb]);
    assert!(out.contains("Pull complete"), "{out}");
    assert!(out.contains(&format!("Digest: {digest}")), "{out}");
    assert!(out.contains(&format!("Downloaded newer image for {bb}")), "{out}");
    let again = agent.docker_ok(&["pull", &bb]);
    assert!(
        again.contains(&format!("Image is up to date for {bb}")),
        "{again}"
    );
    let missing = docker_err(&agent, &["pull", &format!("{}/bb:nope", reg.addr)]);
    assert!(missing.contains("not found: manifest unknown"), "{missing}");

    // images, -q, --digests, filters.
    let list = agent.docker_ok(&["images"]);
    assert!(list.contains(&format!("{}/bb", reg.addr)), "{list}");
    let q = agent.docker_ok(&["images", "-q"]);
    assert_eq!(q.trim(), &image_id[7..19]);
    let digests = agent.docker_ok(&["images", "--digests"]);
    assert!(digests.contains(&digest), "{digests}");
    let ids = |filter: &str| {
        agent
            .docker_ok(&["images", "-q", "--filter", filter])
            .trim()
            .to_owned()
    };
    assert_eq!(ids("reference=*/bb"), &image_id[7..19]);
    assert_eq!(ids("reference=*/bb:2"), "");
    assert_eq!(ids("dangling=true"), "");
    assert_eq!(ids("label=test=yes"), &image_id[7..19]);
    assert_eq!(ids("label=test=no"), "");
    let bad = docker_err(&agent, &["images", "--filter", "colour=red"]);
    assert!(bad.contains("invalid filter 'colour'"), "{bad}");

    // inspect.
    let inspected = agent.docker_ok(&[
        "image",
        "inspect",
        "--format",
        "{{.Id}} {{.Os}} {{index .RepoTags 0}}",
        &bb,
    ]);
    assert_eq!(inspected.trim(), format!("{image_id} linux {bb}"));
    let run = agent.docker_ok(&[
        "image",
        "inspect",
        "--format",
        "{{json .Config.Cmd}} {{json .Config.Labels}}",
        &bb,
    ]);
    assert_eq!(run.trim(), r#"["sh"] {"test":"yes"}"#);
    let nosuch = docker_err(&agent, &["image", "inspect", "nosuch:1"]);
    assert!(nosuch.contains("No such image: nosuch:1"), "{nosuch}");

    // tag and rmi.
    agent.docker_ok(&["tag", &bb, "mybb:2"]);
    assert_eq!(ids("reference=mybb"), &image_id[7..19]);
    let untagged = agent.docker_ok(&["rmi", "mybb:2"]);
    assert!(untagged.contains("Untagged: mybb:2"), "{untagged}");
    let gone = docker_err(&agent, &["rmi", "mybb:2"]);
    assert!(gone.contains("No such image: mybb:2"), "{gone}");

    // import of a tar over 4 MiB, by file; the CLI prints the new ID.
    let rootfs = root.path().join("rootfs.tar");
    std::fs::write(&rootfs, rootfs_with_padding()).unwrap();
    let imported = agent.docker_ok(&["import", rootfs.to_str().unwrap(), "imp:1"]);
    assert!(imported.trim().starts_with("sha256:"), "{imported}");
    let size = agent.docker_ok(&["image", "inspect", "--format", "{{.Size}}", "imp:1"]);
    assert!(size.trim().parse::<usize>().unwrap() > PADDING, "{size}");
    // An import with no name is dangling.
    let dangling = agent.docker_ok(&["import", rootfs.to_str().unwrap()]);
    let dangling_id = dangling.trim().to_owned();
    // Same content, same config but another creation time: a second image.
    assert_ne!(dangling_id, imported.trim());
    assert_eq!(ids("dangling=true"), &dangling_id[7..19]);

    // load of a `docker save` archive over 4 MiB.
    let archive = root.path().join("saved.tar");
    std::fs::write(&archive, save_archive(&rootfs_with_padding(), "loaded:1")).unwrap();
    let loaded = agent.docker_ok(&["load", "-i", archive.to_str().unwrap()]);
    assert!(loaded.contains("Loaded image: loaded:1"), "{loaded}");
    assert_ne!(ids("reference=loaded:1"), "");

    // An image a task on this node uses is not removed, even forced.
    agent.swarm_init();
    agent.docker_ok(&[
        "service",
        "create",
        "--detach",
        "--name",
        "web",
        &bb,
        "/bin/sleep",
        "600",
    ]);
    eventually("the web task running", Duration::from_secs(60), || {
        let ps = agent.docker_ok(&["service", "ps", "--format", "{{.CurrentState}}", "web"]);
        ps.starts_with("Running").then_some(())
    });
    let task_id = agent.docker_ok(&["service", "ps", "-q", "--no-trunc", "web"]);
    let (task12, id12) = (&task_id.trim()[..12], &image_id[7..19]);
    let refused = docker_err(&agent, &["rmi", &bb]);
    assert!(
        refused.contains(&format!(
            "conflict: unable to remove repository reference \"{bb}\" (must force) - container {task12} is using its referenced image {id12}"
        )),
        "{refused}"
    );
    let refused = docker_err(&agent, &["rmi", "-f", &bb]);
    assert!(
        refused.contains(&format!(
            "conflict: unable to delete {id12} (cannot be forced) - image is being used by running container {task12}"
        )),
        "{refused}"
    );
    // system df: four images (pulled, imported, dangling, loaded), one used by the task.
    let df = agent.docker_ok(&[
        "system",
        "df",
        "--format",
        "{{.Type}} {{.TotalCount}} {{.Active}}",
    ]);
    assert!(df.lines().any(|l| l == "Images 4 1"), "{df}");
    // -v: each image's bytes shared with other images and its own (dockerd computes both for
    // `system df`; without them the CLI shows N/A and counts an image in use as reclaimable).
    let verbose = agent.docker_ok(&["system", "df", "-v"]);
    let images_table = verbose.split("Containers space usage").next().unwrap_or_default();
    assert!(images_table.contains("SHARED SIZE"), "{verbose}");
    assert!(!images_table.contains("N/A"), "{verbose}");
    // Prune of dangling images leaves tagged and used ones.
    let pruned = agent.docker_ok(&["image", "prune", "-f"]);
    assert!(pruned.contains(&format!("deleted: {dangling_id}")), "{pruned}");
    assert!(pruned.contains("Total reclaimed space"), "{pruned}");
    assert_eq!(ids("dangling=true"), "");
    // prune -a removes every image no task uses.
    let all = agent.docker_ok(&["image", "prune", "-a", "-f"]);
    assert!(all.contains("untagged: imp:1"), "{all}");
    assert!(all.contains("untagged: loaded:1"), "{all}");
    assert_eq!(agent.docker_ok(&["images", "-q"]).trim(), &image_id[7..19]);
    // `docker system prune` runs every prune, the build cache's last (shoal builds nothing,
    // so it has none); the running task and its image stay.
    let system = agent.docker_ok(&["system", "prune", "-f"]);
    assert!(system.contains("Total reclaimed space: 0B"), "{system}");
    assert_eq!(agent.docker_ok(&["images", "-q"]).trim(), &image_id[7..19]);
    let builder = agent.docker_ok(&["builder", "prune", "-f"]);
    assert!(
        builder.contains("Total:") || builder.contains("reclaimed"),
        "{builder}"
    );
    agent.docker_ok(&["service", "rm", "web"]);
    eventually("rmi once the task is gone", Duration::from_secs(60), || {
        agent.docker(&["rmi", &bb]).status.success().then_some(())
    });
    assert_eq!(agent.docker_ok(&["images", "-q"]).trim(), "");
}

/// `docker pull` from a registry behind basic auth: the CLI's stored login travels in
/// `X-Registry-Auth`; without it the registry's refusal is the answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_pull_with_registry_auth() {
    use base64::Engine as _;
    let (user, password) = ("shoal", "s3cret-pw");
    let reg = registry::Registry::start(Some((user, password))).await;
    let layer = Layer::new(build::busybox_rootfs(), true);
    let config = build::config(std::slice::from_ref(&layer), go_arch(), &["sh"]);
    let (manifest, mt) = build::manifest(Format::Oci, &config, std::slice::from_ref(&layer));
    let auth = oci_client::secrets::RegistryAuth::Basic(user.into(), password.into());
    let client = build::client(&reg.addr, "private", &auth).await;
    build::push_image(
        &client,
        &reg.addr,
        "private",
        &[layer],
        &config,
        (&manifest, mt),
        "1",
    )
    .await;
    let reference = format!("{}/private:1", reg.addr);

    let root = tempfile::tempdir().unwrap();
    let agent = Agent::start(root.path(), "n1");
    let refused = docker_err(&agent, &["pull", &reference]);
    assert!(
        refused.contains(&format!(
            "unauthorized: authentication required for {}/private",
            reg.addr
        )),
        "{refused}"
    );
    assert!(agent.docker_ok(&["images", "-q"]).trim().is_empty());

    // A docker config with a stored login for the registry, as `docker login` writes it.
    let config_dir = root.path().join("docker-config");
    std::fs::create_dir(&config_dir).unwrap();
    let stored = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let docker_config = serde_json::json!({"auths": {reg.addr.clone(): {"auth": stored}}});
    std::fs::write(config_dir.join("config.json"), docker_config.to_string()).unwrap();
    let out = agent.docker_ok(&["--config", config_dir.to_str().unwrap(), "pull", &reference]);
    assert!(
        out.contains(&format!("Downloaded newer image for {reference}")),
        "{out}"
    );
    assert_eq!(
        agent.docker_ok(&["images", "-q"]).trim(),
        &build::sha(&config)[7..19]
    );
}
