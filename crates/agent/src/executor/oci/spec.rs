//! Turns a task and its image into an OCI runtime spec (`config.json`), with Docker's rules:
//! the spec's Command replaces the image's Entrypoint and its Args replace the image's Cmd;
//! the image's Env comes first and the spec's wins; User, WorkingDir, StopSignal and
//! Healthcheck fall back to the image's.
//!
//! The container gets its own PID, mount, UTS, IPC, network and cgroup namespaces, Docker's
//! default capability set (adjusted by CapabilityAdd/Drop), the spec's limits as cgroup
//! resources, ulimits as rlimits, namespaced sysctls, and bind, volume and tmpfs mounts.
//!
//! A seccomp filter (`seccomp.rs`: the default deny list, or none with
//! `Privileges.Seccomp.Mode: unconfined`) and `NoNewPrivileges` apply; libcontainer needs
//! libseccomp for the filter (linked from the system's library). Not applied, unlike Docker:
//! an AppArmor profile (`Privileges.AppArmor` other than `disabled` is refused by `extras.rs`).

use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespace, LinuxNamespaceType, ProcessBuilder, Root, Spec, UserBuilder};
use types::{HealthConfig, Task};

use super::extras::Extras;
use super::image::ImageRunConfig;
use super::{limits, mounts};
use crate::executor::process::user;
use crate::executor::{Error, Result, parse_signal};

/// PATH given to images that set none (Docker's default).
const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What the spec builder needs besides the task.
pub struct Inputs<'a> {
    /// The task.
    pub task: &'a Task,
    /// The image's run configuration.
    pub image: &'a ImageRunConfig,
    /// Parsed ContainerSpec extras.
    pub extras: &'a Extras,
    /// The container's root filesystem (mounted), to resolve users and create the cwd.
    pub rootfs: &'a Path,
    /// The node's named volumes.
    pub volumes: &'a crate::volumes::VolumeStore,
    /// The task's directory (pins of volume subpaths go there).
    pub task_dir: &'a Path,
    /// Filled with the anonymous volumes the mounts created.
    pub created_volumes: &'a std::sync::Mutex<Vec<String>>,
    /// The cgroup path of the container (relative to each hierarchy's root).
    pub cgroups_path: &'a str,
}

/// The built spec plus the resolved facts the executor keeps for itself.
pub struct Built {
    /// The runtime spec.
    pub spec: Spec,
    /// Program and arguments.
    pub argv: Vec<String>,
    /// Full environment.
    pub env: Vec<String>,
    /// Working directory inside the container.
    pub cwd: String,
    /// Stop signal number.
    pub stop_signal: i32,
    /// Health check (the spec's, else the image's).
    pub healthcheck: Option<HealthConfig>,
    /// The anonymous volumes its mounts use.
    pub anonymous_volumes: Vec<String>,
    /// Every volume its mounts use, named or anonymous.
    pub volumes: Vec<String>,
}

/// Builds the runtime spec; errors reject the task.
pub fn build(inputs: &Inputs<'_>) -> Result<Built> {
    let c = &inputs.task.spec.container;
    let image = inputs.image;
    let entrypoint = if c.command.is_empty() {
        &image.entrypoint
    } else {
        &c.command
    };
    let args = if c.args.is_empty() && c.command.is_empty() {
        &image.cmd
    } else {
        &c.args
    };
    let argv: Vec<String> = entrypoint.iter().chain(args.iter()).cloned().collect();
    if argv.is_empty() || argv[0].is_empty() {
        return Err(Error::Invalid(
            "task has no command: neither the service nor its image sets an entrypoint or command".into(),
        ));
    }
    for kv in &c.env {
        if !kv.contains('=') || kv.starts_with('=') || kv.contains('\0') {
            return Err(Error::Invalid(format!(
                "invalid environment entry {kv:?}: want KEY=value"
            )));
        }
    }
    let hostname = inputs.task.hostname();
    let user_spec = if c.user.is_empty() { &image.user } else { &c.user };
    let resolved = resolve_user(user_spec, inputs.rootfs)?;
    let cwd = [&c.dir, &image.working_dir]
        .into_iter()
        .find(|d| !d.is_empty())
        .cloned()
        .unwrap_or_else(|| "/".into());
    if !cwd.starts_with('/') {
        return Err(Error::Invalid(format!(
            "working directory {cwd:?} is not absolute"
        )));
    }
    create_inside(inputs.rootfs, &cwd)?;

    let mut env = vec![DEFAULT_PATH.to_string(), format!("HOSTNAME={hostname}")];
    // dockerd's, for a container with a terminal (the image or the spec may override it).
    if c.tty {
        env.push("TERM=xterm".into());
    }
    env.push(format!("HOME={}", resolved.home));
    env.extend(image.env.iter().cloned());
    env.extend(c.env.iter().cloned());
    let env = dedup_env(env);

    let stop_signal = parse_signal(if c.stop_signal.is_empty() {
        &image.stop_signal
    } else {
        &c.stop_signal
    })?;
    let healthcheck = c.healthcheck.clone().or_else(|| image.healthcheck.clone());

    let mut additional = Vec::new();
    for g in inputs.extras.groups.iter().flatten() {
        additional.push(resolve_group(g, inputs.rootfs)?);
    }
    let user = UserBuilder::default()
        .uid(resolved.uid)
        .gid(resolved.gid)
        .additional_gids(additional)
        // Docker's umask; the supervisor runs with the agent's stricter one.
        .umask(0o022u32)
        .build()
        .map_err(spec_error)?;

    let mut process = ProcessBuilder::default()
        .terminal(c.tty)
        .args(argv.clone())
        .env(env.clone())
        .cwd(cwd.clone())
        .user(user)
        .rlimits(limits::rlimits(inputs.extras)?)
        .build()
        .map_err(spec_error)?;
    // Unset rather than false: libcontainer loads the seccomp filter before dropping
    // capabilities only when the field is absent (without no_new_privs, loading a filter
    // needs CAP_SYS_ADMIN, which the container's process no longer has after the drop).
    process.set_no_new_privileges(inputs.extras.no_new_privileges().then_some(true));
    let caps = limits::capabilities(inputs.extras)?;
    let mut capabilities = oci_spec::runtime::LinuxCapabilities::default();
    capabilities.set_bounding(Some(caps.clone()));
    capabilities.set_effective(Some(caps.clone()));
    let seccomp = super::seccomp::profile(inputs.extras.seccomp()?, &caps)?;
    capabilities.set_permitted(Some(caps));
    capabilities.set_inheritable(None);
    capabilities.set_ambient(None);
    process.set_capabilities(Some(capabilities));

    let mut spec = Spec::default();
    spec.set_version("1.0.2".into());
    spec.set_hostname(Some(hostname));
    spec.set_process(Some(process));
    let mut root = Root::default();
    root.set_path(inputs.rootfs.to_path_buf());
    root.set_readonly(Some(inputs.extras.read_only));
    spec.set_root(Some(root));
    let mut mounts = spec.mounts().clone().unwrap_or_default();
    mounts.push(mounts::mount(
        "/sys/fs/cgroup",
        "cgroup",
        "cgroup",
        &["nosuid", "noexec", "nodev", "relatime", "ro"],
    )?);
    let cx = mounts::MountContext {
        volumes: inputs.volumes,
        rootfs: inputs.rootfs,
        task_id: &inputs.task.id,
        task_dir: inputs.task_dir,
        created: inputs.created_volumes,
    };
    let mut anonymous_volumes = Vec::new();
    let mut volumes = Vec::new();
    for (index, m) in inputs.extras.mounts.iter().flatten().enumerate() {
        mounts.retain(|existing| existing.destination() != Path::new(&m.target));
        let prepared = mounts::docker_mount(m, index, &cx)?;
        anonymous_volumes.extend(prepared.anonymous);
        volumes.extend(prepared.volume);
        mounts.push(prepared.mount);
    }
    // The image's `VOLUME`s that no mount covers get an anonymous volume each, as dockerd
    // gives every container.
    let given: Vec<String> = inputs
        .extras
        .mounts
        .iter()
        .flatten()
        .map(|m| mounts::clean_target(&m.target))
        .collect();
    for path in &image.volumes {
        let target = mounts::clean_target(path);
        if !target.starts_with('/') || given.contains(&target) {
            continue;
        }
        let m = super::extras::DockerMount {
            r#type: "volume".into(),
            target: target.clone(),
            ..Default::default()
        };
        let prepared = mounts::docker_mount(&m, usize::MAX, &cx)?;
        anonymous_volumes.extend(prepared.anonymous);
        volumes.extend(prepared.volume);
        mounts.retain(|existing| existing.destination() != Path::new(&target));
        mounts.push(prepared.mount);
    }
    spec.set_mounts(Some(mounts));

    let mut linux = spec.linux().clone().unwrap_or_default();
    linux.set_namespaces(Some(
        [
            LinuxNamespaceType::Pid,
            LinuxNamespaceType::Network,
            LinuxNamespaceType::Ipc,
            LinuxNamespaceType::Uts,
            LinuxNamespaceType::Mount,
            LinuxNamespaceType::Cgroup,
        ]
        .into_iter()
        .map(|typ| {
            let mut ns = LinuxNamespace::default();
            ns.set_typ(typ);
            ns
        })
        .collect(),
    ));
    linux.set_cgroups_path(Some(PathBuf::from(inputs.cgroups_path)));
    linux.set_seccomp(seccomp);
    linux.set_resources(Some(limits::resources(inputs.task)?));
    if let Some(sysctls) = &inputs.extras.sysctls {
        for key in sysctls.keys() {
            limits::check_sysctl(key)?;
        }
        linux.set_sysctl(Some(sysctls.clone().into_iter().collect()));
    }
    spec.set_linux(Some(linux));
    Ok(Built {
        spec,
        argv,
        env,
        cwd,
        stop_signal,
        healthcheck,
        anonymous_volumes,
        volumes,
    })
}

/// An oci-spec builder error as a rejected task.
pub(crate) fn spec_error(e: oci_spec::OciSpecError) -> Error {
    Error::Invalid(format!("building the runtime spec: {e}"))
}

/// Later entries win, as in Docker (image defaults first, then the spec).
pub(crate) fn dedup_env(env: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(env.len());
    for kv in env {
        let key = kv.split('=').next().unwrap_or_default().to_string();
        out.retain(|e| e.split('=').next() != Some(key.as_str()));
        out.push(kv);
    }
    out
}

/// Reads a file of the image, refusing symlinks (they could point at the host's files).
fn read_image_file(rootfs: &Path, rel: &str) -> Result<String> {
    use std::io::Read;
    let path = rootfs.join(rel);
    // Only a regular file inside the rootfs: a symlinked `etc` would lead to the host's.
    let inside = match (std::fs::canonicalize(&path), std::fs::canonicalize(rootfs)) {
        (Ok(file), Ok(root)) => file.starts_with(root),
        _ => false,
    };
    let file = match std::fs::symlink_metadata(&path) {
        Ok(m) if m.is_file() && inside => std::fs::File::open(&path),
        _ => return Ok(String::new()),
    };
    let mut bytes = Vec::new();
    // The image decides the size; the whole file is read only when it is a plausible one.
    let read = file.and_then(|f| f.take(MAX_IMAGE_FILE + 1).read_to_end(&mut bytes));
    if read.is_ok() && bytes.len() as u64 > MAX_IMAGE_FILE {
        return Err(Error::Invalid(format!(
            "the image's /{rel} is larger than {MAX_IMAGE_FILE} bytes"
        )));
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Largest /etc/passwd or /etc/group read from an image.
const MAX_IMAGE_FILE: u64 = 16 << 20;

/// Resolves User against the image's /etc/passwd and /etc/group ("" = root).
fn resolve_user(spec: &str, rootfs: &Path) -> Result<user::User> {
    if spec.is_empty() {
        let passwd = read_image_file(rootfs, "etc/passwd")?;
        let home = user::resolve("0", &passwd, "")
            .map(|u| u.home)
            .unwrap_or_else(|_| "/root".into());
        return Ok(user::User { uid: 0, gid: 0, home });
    }
    user::resolve(
        spec,
        &read_image_file(rootfs, "etc/passwd")?,
        &read_image_file(rootfs, "etc/group")?,
    )
}

/// A supplementary group: a number, or a name in the image's /etc/group.
fn resolve_group(name: &str, rootfs: &Path) -> Result<u32> {
    if let Ok(gid) = name.parse() {
        return Ok(gid);
    }
    read_image_file(rootfs, "etc/group")?
        .lines()
        .filter_map(|l| {
            let mut f = l.split(':');
            Some((f.next()?, f.nth(1)?.parse::<u32>().ok()?))
        })
        .find(|(n, _)| *n == name)
        .map(|(_, gid)| gid)
        .ok_or_else(|| {
            Error::Invalid(format!(
                "unable to find group {name}: no matching entries in group file"
            ))
        })
}

/// Creates `dir` (absolute, container-side) inside `rootfs`, refusing to follow symlinks so
/// an image cannot make the agent create directories on the host.
fn create_inside(rootfs: &Path, dir: &str) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mut path = rootfs.to_path_buf();
    for part in Path::new(dir).components() {
        match part {
            std::path::Component::Normal(p) => path.push(p),
            std::path::Component::RootDir | std::path::Component::CurDir => continue,
            _ => return Err(Error::Invalid(format!("working directory {dir:?} has '..'"))),
        }
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.is_dir() => {}
            Ok(m) if m.file_type().is_symlink() => {
                // The runtime resolves it inside the container; leave it to it.
                return Ok(());
            }
            Ok(_) => {
                return Err(Error::Invalid(format!(
                    "working directory {dir}: not a directory in the image"
                )));
            }
            Err(_) => {
                // 0755 as Docker creates it, whatever the agent's umask.
                std::fs::create_dir(&path)
                    .and_then(|()| std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)))
                    .map_err(|e| Error::io(format!("creating working directory {}", path.display()), e))?
            }
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "spec_image_files_tests.rs"]
mod image_files_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::executor::conformance::task;
    use oci_spec::runtime::Capability;
    use types::TaskSpec;

    struct Fixture {
        root: tempfile::TempDir,
        image: ImageRunConfig,
        extras: Extras,
    }

    fn fixture() -> Fixture {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("etc")).unwrap();
        std::fs::write(
            root.path().join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nwww:x:33:34:www:/var/www:/bin/false\n",
        )
        .unwrap();
        std::fs::write(root.path().join("etc/group"), "root:x:0:\nstaff:x:50:\n").unwrap();
        Fixture {
            root,
            image: ImageRunConfig {
                entrypoint: vec!["/ep".into()],
                cmd: vec!["c1".into()],
                env: vec!["A=1".into(), "B=2".into()],
                stop_signal: "SIGQUIT".into(),
                ..ImageRunConfig::default()
            },
            extras: Extras::default(),
        }
    }

    fn build_with(f: &Fixture, spec: TaskSpec) -> Result<Built> {
        let volumes = crate::volumes::VolumeStore::open(&f.root.path().join("volumes")).unwrap();
        build(&Inputs {
            task: &task("t123456789abcdef", spec),
            image: &f.image,
            extras: &f.extras,
            rootfs: f.root.path(),
            volumes: &volumes,
            task_dir: f.root.path(),
            created_volumes: &Default::default(),
            cgroups_path: "/shoal/t1",
        })
    }

    fn with(f: impl FnOnce(&mut types::ContainerSpec)) -> TaskSpec {
        let mut spec = TaskSpec::default();
        f(&mut spec.container);
        spec
    }

    #[test]
    fn command_and_args_follow_dockers_rules() {
        let f = fixture();
        let argv = |spec| build_with(&f, spec).unwrap().argv;
        assert_eq!(argv(TaskSpec::default()), ["/ep", "c1"]);
        assert_eq!(argv(with(|c| c.args = vec!["a".into()])), ["/ep", "a"]);
        assert_eq!(argv(with(|c| c.command = vec!["/x".into()])), ["/x"]);
        assert_eq!(
            argv(with(|c| {
                c.command = vec!["/x".into()];
                c.args = vec!["y".into()];
            })),
            ["/x", "y"]
        );
        let mut empty = fixture();
        empty.image = ImageRunConfig::default();
        let err = build_with(&empty, TaskSpec::default()).err().unwrap().to_string();
        assert!(err.contains("task has no command"), "{err}");
    }

    #[test]
    fn env_user_dir_signal_and_hostname() {
        let f = fixture();
        let built = build_with(
            &f,
            with(|c| {
                c.env = vec!["B=3".into()];
                c.user = "www:staff".into();
                c.dir = "/srv/app".into();
            }),
        )
        .unwrap();
        assert!(built.env.contains(&"A=1".to_string()) && built.env.contains(&"B=3".to_string()));
        assert_eq!(built.env.iter().filter(|e| e.starts_with("B=")).count(), 1);
        assert!(built.env.contains(&"HOME=/var/www".to_string()));
        assert!(built.env.contains(&"HOSTNAME=t123456789ab".to_string()));
        assert!(built.env.iter().any(|e| e.starts_with("PATH=")));
        let user = built.spec.process().as_ref().unwrap().user().clone();
        assert_eq!((user.uid(), user.gid()), (33, 50));
        assert_eq!(built.cwd, "/srv/app");
        assert!(
            f.root.path().join("srv/app").is_dir(),
            "the working directory is created"
        );
        assert_eq!(built.stop_signal, libc::SIGQUIT);
        assert_eq!(built.spec.hostname().as_deref(), Some("t123456789ab"));
        let err = build_with(&f, with(|c| c.user = "nobody-here".into()))
            .err()
            .unwrap();
        assert!(err.to_string().contains("unable to find user"), "{err}");
    }

    #[test]
    fn working_directory_never_follows_a_symlink_out_of_the_rootfs() {
        let f = fixture();
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), f.root.path().join("escape")).unwrap();
        build_with(&f, with(|c| c.dir = "/escape/sub".into())).unwrap();
        assert!(!outside.path().join("sub").exists());
    }

    #[test]
    fn limits_caps_sysctls_and_namespaces() {
        let mut f = fixture();
        f.extras.capability_add = Some(vec!["NET_ADMIN".into()]);
        f.extras.capability_drop = Some(vec!["cap_chown".into()]);
        f.extras.sysctls = Some([("net.core.somaxconn".to_string(), "1024".to_string())].into());
        let mut spec = TaskSpec::default();
        spec.resources.limits.memory_bytes = 1 << 30;
        spec.resources.limits.nano_cpus = 1_500_000_000;
        spec.resources.limits.pids = 64;
        let built = build_with(&f, spec).unwrap();
        let linux = built.spec.linux().as_ref().unwrap();
        let res = linux.resources().as_ref().unwrap();
        assert_eq!(res.memory().as_ref().unwrap().limit(), Some(1 << 30));
        assert_eq!(res.cpu().as_ref().unwrap().quota(), Some(150_000));
        assert_eq!(res.pids().as_ref().unwrap().limit(), 64);
        assert_eq!(linux.cgroups_path().as_deref(), Some(Path::new("/shoal/t1")));
        let kinds: Vec<_> = linux.namespaces().iter().flatten().map(|n| n.typ()).collect();
        for want in [
            LinuxNamespaceType::Pid,
            LinuxNamespaceType::Network,
            LinuxNamespaceType::Ipc,
            LinuxNamespaceType::Uts,
            LinuxNamespaceType::Mount,
        ] {
            assert!(kinds.contains(&want), "{want:?} in {kinds:?}");
        }
        let caps = built
            .spec
            .process()
            .as_ref()
            .unwrap()
            .capabilities()
            .clone()
            .unwrap();
        let bounding = caps.bounding().clone().unwrap();
        assert!(bounding.contains(&Capability::NetAdmin));
        assert!(!bounding.contains(&Capability::Chown));
        assert!(bounding.contains(&Capability::Kill));
        assert!(!bounding.contains(&Capability::SysAdmin));

        f.extras.sysctls = Some([("vm.swappiness".to_string(), "1".to_string())].into());
        let err = build_with(&f, TaskSpec::default()).err().unwrap().to_string();
        assert!(
            err.contains("vm.swappiness") && err.contains("namespaced"),
            "{err}"
        );
        f.extras.sysctls = None;
        f.extras.capability_add = Some(vec!["CAP_NOPE".into()]);
        assert!(build_with(&f, TaskSpec::default()).is_err());
    }
}
