//! Task: shoal's `Task` to Docker's Task JSON.

use types::Task;

use super::task_spec;
use super::time::rfc3339;
use crate::model;

/// Docker's JSON for a task. The spec always carries a ContainerSpec: the docker CLI reads
/// `Spec.ContainerSpec.Image` without checking for one.
pub fn to_docker(task: &Task) -> model::Task {
    let status = &task.status;
    model::Task {
        id: task.id.clone(),
        version: model::ObjectVersion {
            index: task.meta.version,
        },
        created_at: rfc3339(task.meta.created_at),
        updated_at: rfc3339(task.meta.updated_at),
        name: task.name(),
        labels: Default::default(),
        // dockerd names the runtime in a service's template but not in a task's spec.
        spec: model::TaskSpec {
            runtime: String::new(),
            ..task_spec::to_docker(&task.spec)
        },
        service_id: task.service_id.clone(),
        slot: task.slot,
        node_id: task.node_id.clone(),
        status: model::TaskStatus {
            timestamp: rfc3339(status.timestamp),
            state: status.state.as_str().into(),
            message: status.message.clone(),
            err: status.err.clone(),
            container_status: status.container.as_ref().map(|c| model::ContainerStatus {
                container_id: c.container_id.clone(),
                pid: c.pid,
                exit_code: c.exit_code.unwrap_or(0),
            }),
            port_status: model::PortStatus::default(),
        },
        desired_state: task.desired_state.as_str().into(),
        job_iteration: task.job_iteration.map(|index| model::ObjectVersion { index }),
        volumes: None,
        networks_attachments: Vec::new(),
        generic_resources: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;
    use types::{ContainerStatus, Meta, TaskState, TaskStatus, Timestamp};

    use super::*;

    #[test]
    fn task_json_has_dockers_shape() {
        let mut spec = types::TaskSpec::default();
        spec.container.image = "busybox".into();
        let task = Task {
            id: "t1".into(),
            meta: Meta {
                version: 4,
                created_at: Timestamp(1_000_000_000),
                updated_at: Timestamp(2_000_000_000),
            },
            spec: Arc::new(spec),
            spec_version: 1,
            service_id: "s1".into(),
            service_name: "web".into(),
            slot: 2,
            node_id: "n1".into(),
            status: TaskStatus {
                timestamp: Timestamp(2_000_000_000),
                state: TaskState::Running,
                message: "started".into(),
                err: String::new(),
                container: Some(ContainerStatus {
                    container_id: "c1".into(),
                    pid: 42,
                    exit_code: None,
                }),
            },
            desired_state: TaskState::Running,
            job_iteration: None,
        };
        let json = serde_json::to_value(to_docker(&task)).unwrap();
        assert_eq!(json["ID"], "t1");
        assert_eq!(json["Name"], "web.2.t1");
        assert_eq!(json["Labels"], json!({}));
        assert_eq!(json["Spec"]["ContainerSpec"]["Image"], "busybox");
        assert_eq!(json["Spec"]["ContainerSpec"]["Isolation"], "default");
        assert!(
            json["Spec"].get("Runtime").is_none(),
            "dockerd shows no runtime in a task's spec"
        );
        assert_eq!(
            (
                json["ServiceID"].as_str(),
                json["Slot"].as_u64(),
                json["NodeID"].as_str()
            ),
            (Some("s1"), Some(2), Some("n1"))
        );
        assert_eq!(
            json["Status"],
            json!({"Timestamp": "1970-01-01T00:00:02Z", "State": "running", "Message": "started",
                   "ContainerStatus": {"ContainerID": "c1", "PID": 42, "ExitCode": 0}, "PortStatus": {}})
        );
        assert_eq!(json["DesiredState"], "running");
        assert!(json.get("JobIteration").is_none());
        assert!(json["Volumes"].is_null() && json.as_object().unwrap().contains_key("Volumes"));
    }
}
