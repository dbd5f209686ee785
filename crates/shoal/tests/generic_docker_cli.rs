//! Named generic resources through the stock docker CLI: a node offering GPUs by name
//! (`--node-generic-resource gpu=GPU-A`, as dockerd's flag), a service asking `gpu=1` per task
//! (`docker service create --generic-resource gpu=1`). Each task is given a GPU of its own,
//! shown in `docker inspect <task>` as dockerd's `GenericResources` and seen by the task as
//! `DOCKER_RESOURCE_GPU`; a task asking for more than is free waits with Swarm's reason.
//! Our own CLI's `--generic-resource` and `--generic-resource-rm` do as the docker CLI's.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{Agent, eventually, stdout};

#[test]
fn named_gpus_are_given_one_per_task() {
    let root = tempfile::tempdir().unwrap();
    let m1 = Agent::start_with(
        root.path(),
        "m1",
        &[
            "--node-generic-resource".into(),
            "gpu=GPU-A".into(),
            "--node-generic-resource".into(),
            "gpu=GPU-B".into(),
        ],
    );
    m1.swarm_init();
    let offered = m1.docker_ok(&[
        "node",
        "inspect",
        "self",
        "--format",
        "{{json .Description.Resources.GenericResources}}",
    ]);
    assert!(
        offered.contains(r#"{"NamedResourceSpec":{"Kind":"gpu","Value":"GPU-A"}}"#)
            && offered.contains("GPU-B"),
        "{offered}"
    );
    m1.docker_ok(&[
        "service",
        "create",
        "--detach",
        "--name",
        "cuda",
        "--replicas",
        "3",
        "--generic-resource",
        "gpu=1",
        "busybox",
        "sh",
        "-c",
        "echo given=$DOCKER_RESOURCE_GPU; sleep 1000",
    ]);
    // Two tasks run, each with one GPU; the third waits for one.
    let ids = eventually("two running, one waiting", Duration::from_secs(20), || {
        let rows = m1.docker_ok(&[
            "service",
            "ps",
            "cuda",
            "--no-trunc",
            "--format",
            "{{.ID}}|{{.CurrentState}}|{{.Error}}",
        ]);
        let running: Vec<String> = rows
            .lines()
            .filter(|l| l.contains("|Running"))
            .filter_map(|l| l.split('|').next().map(str::to_string))
            .collect();
        let waiting = rows
            .lines()
            .filter(|l| l.contains("|Pending") && l.contains("insufficient resources on 1 node"))
            .count();
        (running.len() == 2 && waiting == 1).then_some(running)
    });
    let mut units = BTreeSet::new();
    for id in &ids {
        let given = m1.docker_ok(&[
            "inspect",
            "--type",
            "task",
            "--format",
            "{{json .GenericResources}}",
            id,
        ]);
        let json: serde_json::Value = serde_json::from_str(given.trim()).unwrap();
        let list = json.as_array().unwrap();
        assert_eq!(list.len(), 1, "{given}");
        assert_eq!(list[0]["NamedResourceSpec"]["Kind"], "gpu", "{given}");
        units.insert(
            list[0]["NamedResourceSpec"]["Value"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    assert_eq!(
        units,
        BTreeSet::from(["GPU-A".to_string(), "GPU-B".to_string()]),
        "each task its own GPU"
    );
    eventually("each task sees its GPU", Duration::from_secs(20), || {
        let logs = stdout(&m1.docker(&["service", "logs", "cuda"]));
        (logs.contains("given=GPU-A") && logs.contains("given=GPU-B")).then_some(())
    });
    // Scaling down frees a GPU; scaling up again gives it to the new task.
    let running = |m: &Agent| {
        m.docker_ok(&[
            "service",
            "ps",
            "cuda",
            "--filter",
            "desired-state=running",
            "--format",
            "{{.CurrentState}}",
        ])
        .lines()
        .filter(|l| l.starts_with("Running"))
        .count()
    };
    m1.docker_ok(&["service", "scale", "--detach", "cuda=1"]);
    eventually("one task left", Duration::from_secs(20), || {
        (running(&m1) == 1).then_some(())
    });
    m1.docker_ok(&["service", "scale", "--detach", "cuda=2"]);
    eventually("the freed GPU given again", Duration::from_secs(20), || {
        (running(&m1) == 2).then_some(())
    });

    // Our CLI spells the flags as the docker CLI: the reservation lands in the same place, and
    // a service waiting for a GPU runs once `--generic-resource-rm` drops it.
    m1.shoal_ok(&[
        "service",
        "create",
        "--detach",
        "--name",
        "ours",
        "--generic-resource",
        "gpu=1",
        "busybox",
        "sleep",
        "1000",
    ]);
    let reserved = m1.docker_ok(&[
        "service",
        "inspect",
        "ours",
        "--format",
        "{{json .Spec.TaskTemplate.Resources.Reservations.GenericResources}}",
    ]);
    assert_eq!(
        reserved.trim(),
        r#"[{"DiscreteResourceSpec":{"Kind":"gpu","Value":1}}]"#
    );
    eventually("ours waits for a GPU", Duration::from_secs(20), || {
        m1.docker_ok(&["service", "ps", "ours", "--no-trunc", "--format", "{{.Error}}"])
            .contains("insufficient resources on 1 node")
            .then_some(())
    });
    m1.shoal_ok(&[
        "service",
        "update",
        "--detach",
        "--generic-resource-rm",
        "gpu",
        "ours",
    ]);
    eventually("ours runs without a GPU", Duration::from_secs(20), || {
        m1.docker_ok(&[
            "service",
            "ps",
            "ours",
            "--filter",
            "desired-state=running",
            "--format",
            "{{.CurrentState}}",
        ])
        .starts_with("Running")
        .then_some(())
    });
}
