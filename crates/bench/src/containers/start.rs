//! `shoal-bench start`: task start latency with a cached image.
//!
//! ```text
//!   oci executor (in this process, as the agent drives it; supervisor = `shoal task-shim`)
//!     to running:  prepare(task) + start(task)     task = `/bin/sleep 3600` in busybox
//!     full cycle:  prepare + start + wait + remove task = `/bin/true`
//!   process executor: the same two series with the host's /bin/sleep and /bin/true
//!   docker executor: the same two series against the private dockerd below (bollard)
//!   peers, same run: `docker run --rm --network none bb:1 /bin/true` (private dockerd),
//!                    `runc run` of a busybox bundle running /bin/true
//!   → section `start-latency` of BENCHMARKS.md
//! ```
//!
//! The store keeps only a task's latest status timestamp, so assigned → running is timed here
//! around the executor calls the agent's runner makes between the two states (prepare, then
//! start, which returns once the task runs); the dispatcher hop before them is not included.
//!
//! The process runs in a mount namespace of its own ([`private_mounts`], called before any
//! thread starts), so every overlay mount it makes vanishes when it exits.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use agent::executor::Executor;
use agent::executor::docker::{DockerConfig, DockerExecutor};
use agent::executor::oci::image_store::StoreImageSource;
use agent::executor::oci::{OciConfig, OciExecutor};
use agent::executor::process::{ProcessConfig, ProcessExecutor, ShimCommand};
use types::{ContainerSpec, Task};

use super::procs;
use crate::peer::dockerd::Dockerd;
use crate::peer::member::{Member, docker};
use crate::peer::netns;
use crate::report::percentile;

/// Flags of `shoal-bench start`.
#[derive(clap::Args)]
pub struct Args {
    /// Sequential tasks per series (after 3 warm-up tasks).
    #[arg(long, default_value_t = 50)]
    tasks: usize,
    /// The shoal binary whose `task-shim` supervises the tasks.
    #[arg(long, default_value = "target/release/shoal")]
    shoal: PathBuf,
    /// The dockerd binary (Debian's docker.io).
    #[arg(long, default_value = "dockerd")]
    dockerd: String,
    /// The docker CLI.
    #[arg(long, default_value = "docker")]
    docker: String,
    /// runc (skipped with a note when absent).
    #[arg(long, default_value = "runc")]
    runc: String,
    /// Report file to update.
    #[arg(long, default_value = "BENCHMARKS.md")]
    out: PathBuf,
}

/// Enters a mount namespace of this process's own with private propagation. Must run while
/// the process has one thread (before the async runtime starts).
pub fn private_mounts() -> anyhow::Result<()> {
    // SAFETY: plain syscalls with valid, NUL-terminated arguments; one thread is running.
    unsafe {
        anyhow::ensure!(
            libc::unshare(libc::CLONE_NEWNS) == 0,
            "unshare(CLONE_NEWNS): {} (run as root)",
            std::io::Error::last_os_error()
        );
        anyhow::ensure!(
            libc::mount(
                std::ptr::null(),
                c"/".as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null()
            ) == 0,
            "making / private: {}",
            std::io::Error::last_os_error()
        );
    }
    Ok(())
}

/// One measured series (ms).
struct Series {
    name: String,
    how: &'static str,
    ms: Vec<f64>,
    /// Prepare's and start's share, for the executor's to-running series.
    parts: Option<(Vec<f64>, Vec<f64>)>,
}

impl Series {
    fn p(&self, q: f64) -> f64 {
        let mut s = self.ms.clone();
        s.sort_by(|a, b| a.total_cmp(b));
        percentile(&s, q)
    }
}

/// Kills what a failed run left in the executors' directories (task processes by their pid
/// files) and removes the run's cgroups; mounts go with the process's mount namespace.
struct Leftovers {
    state_dirs: Vec<PathBuf>,
    cgroup_parent: String,
}

impl Drop for Leftovers {
    fn drop(&mut self) {
        for dir in &self.state_dirs {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                for file in ["task.pid", "shim.pid"] {
                    let pid = std::fs::read_to_string(entry.path().join(file))
                        .ok()
                        .and_then(|t| t.split_whitespace().next().and_then(|p| p.parse::<i32>().ok()));
                    if let Some(pid) = pid.filter(|p| *p > 1) {
                        // SAFETY: kill(2) on a pid this run's executor recorded.
                        unsafe { libc::kill(pid, libc::SIGKILL) };
                    }
                }
            }
        }
        for h in std::fs::read_dir("/sys/fs/cgroup")
            .into_iter()
            .flatten()
            .flatten()
        {
            let parent = h.path().join(&self.cgroup_parent);
            for sub in std::fs::read_dir(&parent).into_iter().flatten().flatten() {
                let _ = std::fs::remove_dir(sub.path());
            }
            let _ = std::fs::remove_dir(&parent);
            // The shared parent goes with the last run's (busy while another run is on).
            let _ = std::fs::remove_dir(h.path().join("shoal-bench"));
        }
    }
}

fn task(id: &str, image: &str, command: &[&str]) -> Task {
    types::testing::task(id)
        .service("bench", "bench")
        .node("node")
        .container(ContainerSpec {
            image: image.into(),
            command: command.iter().map(|s| s.to_string()).collect(),
            // sleep as PID 1 ignores SIGTERM; stopping is not what is measured.
            stop_signal: "SIGKILL".into(),
            ..ContainerSpec::default()
        })
        .build()
}

/// Runs `n` tasks one after another through `executor` (after 3 untimed warm-ups); returns
/// the to-running series (with prepare and start apart) and the full-cycle series.
async fn executor_series(
    label: &str,
    executor: &dyn Executor,
    image: &str,
    sleep: &str,
    truecmd: &str,
    n: usize,
) -> anyhow::Result<(Series, Series)> {
    let (mut to_running, mut prepare, mut start, mut cycle) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for i in 0..n + 3 {
        let id = format!("{label}s{i}");
        let t = task(&id, image, &[sleep, "3600"]);
        let t0 = Instant::now();
        executor.prepare(&t).await?;
        let t1 = Instant::now();
        executor.start(&id).await?;
        let t2 = Instant::now();
        executor.remove(&id).await?;
        if i >= 3 {
            prepare.push((t1 - t0).as_secs_f64() * 1000.0);
            start.push((t2 - t1).as_secs_f64() * 1000.0);
            to_running.push((t2 - t0).as_secs_f64() * 1000.0);
        }
    }
    for i in 0..n + 3 {
        let id = format!("{label}c{i}");
        let t = task(&id, image, &[truecmd]);
        let t0 = Instant::now();
        executor.prepare(&t).await?;
        executor.start(&id).await?;
        let exit = executor.wait(&id).await?;
        executor.remove(&id).await?;
        anyhow::ensure!(exit.code == 0, "{label}: /bin/true exited {exit:?}");
        if i >= 3 {
            cycle.push(t0.elapsed().as_secs_f64() * 1000.0);
        }
    }
    eprintln!("start: {label} done");
    Ok((
        Series {
            name: format!("shoal `{label}` executor: to running"),
            how: "prepare + start (`sleep 3600`)",
            ms: to_running,
            parts: Some((prepare, start)),
        },
        Series {
            name: format!("shoal `{label}` executor: full run"),
            how: "prepare + start + wait + remove (`/bin/true`)",
            ms: cycle,
            parts: None,
        },
    ))
}

/// Runs the series and writes the `start-latency` section.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let dockerd = super::tool(&args.dockerd, "install Debian's docker.io")?;
    let cli = super::tool(&args.docker, "the docker CLI is needed")?;
    let shoal = super::shoal_binary(&args.shoal)?;
    let load_before = procs::load_average();
    let dir = tempfile::Builder::new()
        .prefix("shoal-start-")
        .tempdir_in("/tmp")?;
    let tar = super::busybox_tar(dir.path())?;
    let cgroup_parent = format!(
        "shoal-bench/{}",
        dir.path()
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    );
    let _leftovers = Leftovers {
        state_dirs: vec![dir.path().join("containers"), dir.path().join("tasks")],
        cgroup_parent: cgroup_parent.clone(),
    };
    let shim = ShimCommand {
        program: shoal.clone(),
        args: vec!["task-shim".into()],
    };

    let store = image::ImageStore::open(dir.path().join("images"))?;
    store
        .import(
            tokio::fs::File::open(&tar).await?,
            Some("bb:1"),
            Default::default(),
            None,
        )
        .await?;
    let mut oci = OciConfig::new(dir.path(), shim.clone(), Arc::new(StoreImageSource::new(store)));
    oci.cgroup_parent = cgroup_parent.clone();
    let oci = OciExecutor::new(oci)?;
    let (oci_run, oci_cycle) =
        executor_series("oci", &oci, "bb:1", "/bin/sleep", "/bin/true", args.tasks).await?;
    drop(oci);
    let process = ProcessExecutor::new(ProcessConfig::new(dir.path(), shim))?;
    let (proc_run, proc_cycle) =
        executor_series("process", &process, "", "/bin/sleep", "/bin/true", args.tasks).await?;
    drop(process);

    let mut series = vec![oci_run, oci_cycle, proc_run, proc_cycle];
    let version = super::dockerd_version(&dockerd);
    series.extend(docker_series(&dockerd, &cli, dir.path(), &tar, args.tasks).await?);
    let runc = crate::peer::resolve(&args.runc);
    let runc_version = match &runc {
        Some(runc) => {
            series.push(runc_series(runc, dir.path(), args.tasks)?);
            netns::run(Command::new(runc).arg("--version"))
                .map(|v| v.lines().next().unwrap_or_default().to_string())
                .unwrap_or_default()
        }
        None => String::new(),
    };

    let body = section(
        &series,
        args.tasks,
        (&version, &runc_version),
        &shoal,
        &load_before,
    );
    crate::report::write_section(&args.out, "start-latency", &body)?;
    println!("{body}");
    Ok(())
}

/// `docker run --rm` of the imported busybox through a private dockerd, `n` times timed;
/// then the `docker` executor's two series on the same dockerd.
async fn docker_series(
    dockerd: &Path,
    cli: &Path,
    dir: &Path,
    tar: &Path,
    n: usize,
) -> anyhow::Result<Vec<Series>> {
    let mut d = Dockerd::in_root_netns(dockerd, "start", dir);
    d.start().await?;
    let socket = d.socket().to_path_buf();
    docker(cli, &socket, &["import", &tar.to_string_lossy(), "bb:1"]).await?;
    let mut ms = Vec::new();
    for i in 0..n + 3 {
        let t0 = Instant::now();
        docker(
            cli,
            &socket,
            &["run", "--rm", "--network", "none", "bb:1", "/bin/true"],
        )
        .await?;
        if i >= 3 {
            ms.push(t0.elapsed().as_secs_f64() * 1000.0);
        }
    }
    eprintln!("start: docker run done");
    // The `docker` executor against the same dockerd, as an agent with `--executor docker`
    // drives it (a container per task, network mode none).
    let executor = DockerExecutor::connect(DockerConfig {
        host: socket.to_string_lossy().into_owned(),
        node_id: "bench".into(),
        labels: Default::default(),
    })
    .await?;
    let (run, cycle) = executor_series("docker", &executor, "bb:1", "/bin/sleep", "/bin/true", n).await?;
    drop(executor);
    drop(d);
    Ok(vec![
        Series {
            name: "`docker run --rm` (dockerd)".into(),
            how: "CLI → dockerd → containerd → runc, exit and removal (`/bin/true`)",
            ms,
            parts: None,
        },
        run,
        cycle,
    ])
}

/// `runc run` of a bundle over the busybox rootfs (read-only), `n` times timed.
fn runc_series(runc: &Path, dir: &Path, n: usize) -> anyhow::Result<Series> {
    let bundle = dir.join("bundle");
    std::fs::create_dir_all(&bundle)?;
    netns::run(Command::new(runc).arg("spec").arg("--bundle").arg(&bundle))?;
    let path = bundle.join("config.json");
    let mut config: serde_json::Value = serde_json::from_slice(&std::fs::read(&path)?)?;
    config["process"]["terminal"] = false.into();
    config["process"]["args"] = serde_json::json!(["/bin/true"]);
    config["root"] = serde_json::json!({"path": dir.join("bb-rootfs"), "readonly": true});
    std::fs::write(&path, serde_json::to_vec(&config)?)?;
    let state = dir.join("runc-state");
    let mut ms = Vec::new();
    for i in 0..n + 3 {
        let t0 = Instant::now();
        netns::run(
            Command::new(runc)
                .arg("--root")
                .arg(&state)
                .args(["run", "--bundle"])
                .arg(&bundle)
                .arg(format!("bench{i}")),
        )?;
        if i >= 3 {
            ms.push(t0.elapsed().as_secs_f64() * 1000.0);
        }
    }
    eprintln!("start: runc run done");
    Ok(Series {
        name: "`runc run` (busybox bundle)".into(),
        how: "create + start + exit + delete (`/bin/true`)",
        ms,
        parts: None,
    })
}

fn section(series: &[Series], n: usize, versions: (&str, &str), shoal: &Path, load_before: &str) -> String {
    let (dockerd, runc) = versions;
    let mut b = String::from("## Task start latency: `start-latency/<executor>/busybox_cached`\n\n");
    b.push_str(&format!(
        "Workload: {n} tasks one after another on one node (after 3 untimed warm-ups), each with the busybox image\n\
         (Debian's busybox-static, imported as `bb:1`) already in the node's image store and unpacked. For the\n\
         executors, \"to running\" is what the agent's runner does between *assigned* and *running*: `prepare` (image\n\
         lookup, overlay rootfs, OCI spec) then `start` (supervisor `shoal task-shim`, libcontainer create + start;\n\
         returns once the process runs), timed in-process around the executor calls — the store keeps only a task's\n\
         latest status timestamp, so assigned → running cannot be read back from it. \"Full run\" adds the exit\n\
         and removal of a `/bin/true` task: that is what `docker run --rm` and `runc run` measure. Peers in the\n\
         same run: `docker run --rm --network none bb:1 /bin/true` through a private dockerd ({dockerd}; the\n\
         docker CLI's own start-up is included) and `runc run` of a bundle over the same rootfs ({}).\n\n\
         Reproduce (root; Debian's `docker.io`, `runc`, `busybox-static`): `cargo build --release -p shoal -p bench &&\n\
         target/release/shoal-bench start`\n\n",
        if runc.is_empty() { "runc not installed: skipped" } else { runc }
    ));
    b.push_str("| series | what is timed | p50 (ms) | p99 (ms) | min (ms) | max (ms) |\n|---|---|---:|---:|---:|---:|\n");
    for s in series {
        b.push_str(&format!(
            "| {} | {} | **{:.1}** | {:.1} | {:.1} | {:.1} |\n",
            s.name,
            s.how,
            s.p(50.0),
            s.p(99.0),
            s.p(0.0),
            s.p(100.0)
        ));
    }
    b.push_str(
        "\nThe `docker` executor's rows: the same executor calls against the private dockerd above\n\
         (bollard over its socket; create + start in network mode `none`, wait, remove).\n\n",
    );
    let find = |prefix: &str| series.iter().find(|s| s.name.starts_with(prefix));
    if let Some(oci) = find("shoal `oci` executor: to running") {
        let p50 = oci.p(50.0);
        b.push_str(&format!(
            "Target: `oci` p50 to running < 50 ms — **{}** ({p50:.1} ms).",
            if p50 < 50.0 { "met" } else { "missed" }
        ));
        let med = |v: &Vec<f64>| {
            let mut s = v.clone();
            s.sort_by(|a, b| a.total_cmp(b));
            percentile(&s, 50.0)
        };
        if let Some((prepare, start)) = &oci.parts {
            b.push_str(&format!(
                " Of it, `prepare` (image lookup, overlay mount, spec) p50 {:.1} ms, `start` p50 {:.1} ms.",
                med(prepare),
                med(start)
            ));
            // The process executor's start is the same supervisor spawn without a container:
            // the difference is what libcontainer's create + start (namespaces, cgroups,
            // pivot_root, the container's init handshake) adds.
            if let Some((_, proc_start)) =
                find("shoal `process` executor: to running").and_then(|s| s.parts.as_ref())
            {
                b.push_str(&format!(
                    " The `process` executor's `start` (the same `task-shim` spawn, no container) p50 {:.1} ms, so about\n\
                     {:.1} ms of `oci` start is libcontainer's create + start inside the supervisor and {:.1} ms the\n\
                     supervisor's own spawn and handshake.",
                    med(proc_start),
                    (med(start) - med(proc_start)).max(0.0),
                    med(proc_start)
                ));
            }
        }
        b.push('\n');
    }
    if let (Some(oci), Some(docker)) = (find("shoal `oci` executor: full run"), find("`docker run")) {
        b.push_str(&format!(
            "Full run, p50: `docker run --rm` ÷ shoal `oci` = **{}**",
            super::ratio(docker.p(50.0), oci.p(50.0))
        ));
        if let Some(runc) = find("`runc run") {
            b.push_str(&format!(
                "; shoal `oci` ÷ `runc run` = {}",
                super::ratio(oci.p(50.0), runc.p(50.0))
            ));
        }
        b.push_str(".\n");
    }
    if let (Some(oci), Some(docker)) = (
        find("shoal `oci` executor: to running"),
        find("shoal `docker` executor: to running"),
    ) {
        b.push_str(&format!(
            "To running, p50: shoal `docker` ÷ shoal `oci` = {}.\n",
            super::ratio(docker.p(50.0), oci.p(50.0))
        ));
    }
    b.push('\n');
    b.push_str(&super::machine_line(load_before, Some(shoal)));
    b.push('\n');
    b
}
