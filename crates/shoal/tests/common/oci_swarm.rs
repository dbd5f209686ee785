//! A single-node swarm on the default (oci) executor beside a loopback registry holding
//! busybox: the set-up of the container service tests, and the check that a removed
//! service leaves no container, mount or cgroup behind. Root only.

use std::path::Path;
use std::time::Duration;

use oci_client::secrets::RegistryAuth;

use crate::busybox::{Cleanup, push_busybox, skip_reason, task_cgroups};
use crate::common::{Agent, eventually};
use crate::registry::Registry;

/// How long the checks here wait.
const LIMIT: Duration = Duration::from_secs(60);

/// The node and its registry. Fields drop in order: the clean-up before the agent, the
/// registry's runtime last.
pub struct OciSwarm {
    /// Ends what a failed run leaves of the tasks it names.
    pub cleanup: Cleanup,
    /// The agent, manager of a swarm of its own.
    pub agent: Agent,
    /// Its data directory and log.
    pub root: tempfile::TempDir,
    /// The registry with `busybox:latest`.
    pub registry: Registry,
    /// The runtime the registry runs on.
    pub rt: tokio::runtime::Runtime,
}

impl OciSwarm {
    /// With an anonymous registry; `None` (the reason printed) where containers cannot run.
    pub fn start() -> Option<OciSwarm> {
        OciSwarm::start_with(None)
    }

    /// With a registry that asks for `credentials` (user, password) when given.
    pub fn start_with(credentials: Option<(&str, &str)>) -> Option<OciSwarm> {
        if let Some(why) = skip_reason() {
            eprintln!("skipping: {why}");
            return None;
        }
        let rt = tokio::runtime::Runtime::new().unwrap();
        let registry = rt.block_on(Registry::start(credentials));
        let auth = match credentials {
            Some((user, password)) => RegistryAuth::Basic(user.into(), password.into()),
            None => RegistryAuth::Anonymous,
        };
        rt.block_on(push_busybox(&registry.addr, &auth));
        let root = tempfile::tempdir().unwrap();
        let agent = Agent::start_default_executor(root.path(), "n1");
        let cleanup = Cleanup {
            data_dir: agent.data_dir().to_path_buf(),
            task_ids: Vec::new(),
        };
        agent.swarm_init();
        Some(OciSwarm {
            cleanup,
            agent,
            root,
            registry,
            rt,
        })
    }

    /// `<registry>/busybox:latest`.
    pub fn image(&self) -> String {
        format!("{}/busybox:latest", self.registry.addr)
    }

    /// Removes `services` and waits until the tasks the clean-up names left nothing behind.
    pub fn remove_leaving_nothing(&self, services: &[&str]) {
        let mut args = vec!["service", "rm"];
        args.extend_from_slice(services);
        self.agent.docker_ok(&args);
        let data_dir = self.agent.data_dir().to_path_buf();
        let ids = self.cleanup.task_ids.clone();
        eventually("no containers, mounts or cgroups left", LIMIT, || {
            leftovers(&data_dir, &ids).is_empty().then_some(())
        });
    }
}

/// The full IDs of `service`'s tasks.
pub fn task_ids(agent: &Agent, service: &str) -> Vec<String> {
    agent
        .docker_ok(&["service", "ps", "-q", "--no-trunc", service])
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Containers left under a data dir: task directories, mounts below it, task cgroups.
pub fn leftovers(data_dir: &Path, task_ids: &[String]) -> Vec<String> {
    let mut found = Vec::new();
    let containers = data_dir.join("containers");
    if let Ok(entries) = std::fs::read_dir(&containers) {
        found.extend(
            entries
                .flatten()
                .map(|e| format!("task dir {}", e.path().display())),
        );
    }
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let prefix = data_dir.to_string_lossy();
    found.extend(
        mounts
            .lines()
            .filter(|l| {
                l.split_whitespace()
                    .nth(4)
                    .is_some_and(|m| m.starts_with(&*prefix))
            })
            .map(|l| format!("mount {l}")),
    );
    found.extend(
        task_cgroups(task_ids)
            .into_iter()
            .map(|d| format!("cgroup {}", d.display())),
    );
    found
}
