//! Removing a container whose processes do not go quietly: the init ignores SIGTERM and has
//! children. Needs root and busybox-static, as `tests.rs`.

use std::path::Path;
use std::time::Duration;

use super::tests::harness;
use crate::executor::Executor;
use crate::executor::conformance::{Harness, run_task_spec, wait_ready, within};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remove_of_a_task_that_ignores_sigterm_and_has_children_is_prompt() {
    let Some(h) = harness() else { return };
    let ex = h.executor();
    let mut spec = h.shell("trap '' TERM; sleep 1000 & sleep 1000 & echo ready; wait; wait");
    spec.container.stop_grace_period = Some(300_000_000);
    run_task_spec(&*ex, "stubborn", spec).await;
    wait_ready(&*ex, "stubborn").await;
    let cgroup = Path::new("/sys/fs/cgroup/pids")
        .join(&h.cgroup_parent)
        .join("stubborn");
    let started = tokio::time::Instant::now();
    within("remove", ex.remove("stubborn")).await.unwrap();
    let took = started.elapsed();
    // Grace 0.3 s, then SIGKILL; removal must not wait out any long timeout.
    assert!(took < Duration::from_secs(5), "remove took {took:?}");
    assert!(!cgroup.exists(), "the container's cgroups are gone");
    assert!(!h.config().runtime_root.join("stubborn").exists());
}
