//! A task directory damaged while the agent was down (a full disk, a crash mid-write, a
//! hand edit): reattaching reads what it can, skips what it cannot with a warning, and never
//! panics nor signals a process the files merely name.

use std::path::Path;

use super::launch::{EXIT, SHIM_PID, TASK_PID};
use super::*;
use crate::executor::Phase;
use crate::executor::conformance::{shell, task};

fn executor(state: &Path) -> ProcessExecutor {
    ProcessExecutor::new(ProcessConfig {
        state_dir: state.to_path_buf(),
        // Never run: these tests only prepare and reattach.
        shim: ShimCommand {
            program: "/nonexistent/shim".into(),
            args: Vec::new(),
        },
        cgroup_root: None,
        log_limit: 1 << 20,
        labels: Default::default(),
    })
    .unwrap()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(name), bytes).unwrap();
}

#[tokio::test]
async fn corrupt_spec_files_are_skipped_and_the_rest_reattached() {
    let state = tempfile::tempdir().unwrap();
    let first = executor(state.path());
    first.prepare(&task("good", shell("true"))).await.unwrap();
    drop(first);
    let deep = format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000));
    let cases: &[(&str, &[u8])] = &[
        ("garbage", b"{not json"),
        ("empty", b""),
        ("wrongshape", b"[1,2,3]"),
        ("binary", &[0xff, 0xfe, 0, 1, 2]),
        ("deep", deep.as_bytes()),
        ("nulls", b"{\"argv\": null, \"env\": null}"),
    ];
    for (id, bytes) in cases {
        write(&state.path().join(id), SPEC, bytes);
    }
    // A directory that is not a task, and a name no task ID takes.
    std::fs::create_dir_all(state.path().join("stray")).unwrap();
    std::fs::create_dir_all(state.path().join("bad name")).unwrap();

    let attached = executor(state.path()).reattach().await.unwrap();
    let ids: Vec<&str> = attached.iter().map(|a| a.task_id.as_str()).collect();
    assert_eq!(ids, ["good"]);
    assert_eq!(attached[0].phase, Phase::Prepared);
}

#[tokio::test]
async fn corrupt_pid_and_exit_files_end_the_task_as_lost_without_signalling_anyone() {
    let state = tempfile::tempdir().unwrap();
    let pid_files: &[&[u8]] = &[
        b"-1 0\n",
        b"0 0\n",
        b"1 0\n",
        b"99999999999 1\n",
        b"garbage",
        b"",
        b"1",
    ];
    for (i, pid) in pid_files.iter().enumerate() {
        let id = format!("t{i}");
        let first = executor(state.path());
        first.prepare(&task(&id, shell("true"))).await.unwrap();
        drop(first);
        let dir = state.path().join(&id);
        // The supervisor's pid file names a process that is not it (or nothing at all), the
        // task's likewise, and the exit record is torn.
        write(&dir, SHIM_PID, b"1 0\n");
        write(&dir, TASK_PID, pid);
        write(&dir, EXIT, b"{\"code\": 0, \"si");
    }
    let attached = executor(state.path()).reattach().await.unwrap();
    assert_eq!(attached.len(), pid_files.len());
    for a in &attached {
        // The supervisor is gone (pid 1's start time is not 0), the exit unreadable: the
        // task ends as lost rather than being left running unsupervised or taken as a success.
        match &a.phase {
            Phase::Exited(exit) => assert!(exit.lost.is_some(), "{}: {exit:?}", a.task_id),
            other => panic!("{}: {other:?}", a.task_id),
        }
    }
}
