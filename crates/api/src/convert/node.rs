//! Node: shoal's `Node` (with read-time facts) to Docker's Node JSON, and Docker's NodeSpec
//! back to shoal's, with dockerd's messages for bad values.

use types::{Availability, Role};

use super::time::rfc3339;
use crate::backend::NodeView;
use crate::error::{Error, Result};
use crate::model;

/// Docker's JSON for a node. `tls` is the cluster's issuer info: every node certificate is
/// issued by the cluster's root CA, so a node's TLSInfo is the cluster's.
pub fn to_docker(view: &NodeView, tls: &model::TlsInfo) -> model::Node {
    let node = &view.node;
    let description = &node.description;
    model::Node {
        id: node.id.clone(),
        version: model::ObjectVersion {
            index: node.meta.version,
        },
        created_at: rfc3339(node.meta.created_at),
        updated_at: rfc3339(node.meta.updated_at),
        spec: spec_to_docker(&node.spec),
        description: model::NodeDescription {
            hostname: description.hostname.clone(),
            platform: model::Platform {
                architecture: description.platform.architecture.clone(),
                os: description.platform.os.clone(),
            },
            resources: model::Resources {
                nano_cpus: description.resources.nano_cpus,
                memory_bytes: description.resources.memory_bytes,
                generic_resources: match types::generic::to_docker_json(&types::generic::advertised(node)) {
                    serde_json::Value::Array(items) => items,
                    _ => Vec::new(),
                },
            },
            engine: model::EngineDescription {
                engine_version: description.engine.engine_version.clone(),
                // The generic resources' label is where shoal keeps them, shown above instead.
                labels: description
                    .engine
                    .labels
                    .iter()
                    .filter(|(k, _)| k.as_str() != types::generic::NODE_LABEL)
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
                plugins: Vec::new(),
            },
            tls_info: tls.clone(),
        },
        status: model::NodeStatus {
            state: node.status.state.as_str().to_string(),
            message: node.status.message.clone(),
            addr: node.status.addr.clone(),
        },
        manager_status: node.manager_status.as_ref().map(|status| model::ManagerStatus {
            leader: view.leader,
            reachability: view.reachability.as_str().to_string(),
            addr: status.addr.clone(),
        }),
    }
}

/// Docker's JSON for a node spec.
pub fn spec_to_docker(spec: &types::NodeSpec) -> model::NodeSpec {
    model::NodeSpec {
        name: spec.name.clone(),
        labels: spec.labels.clone(),
        role: spec.role.as_str().to_string(),
        availability: spec.availability.as_str().to_string(),
    }
}

/// Shoal's node spec from Docker's; role and availability are required, as in dockerd.
pub fn spec_from_docker(spec: &model::NodeSpec) -> Result<types::NodeSpec> {
    Ok(types::NodeSpec {
        name: spec.name.clone(),
        labels: spec.labels.clone(),
        role: parse_role(&spec.role)?,
        availability: parse_availability(&spec.availability)?,
    })
}

/// `worker`/`manager`, any case; dockerd's message otherwise.
pub fn parse_role(text: &str) -> Result<Role> {
    Role::parse(text).map_err(|_| Error::BadRequest(format!("invalid Role: {:?}", types::excerpt(text))))
}

/// `active`/`pause`/`drain`, any case; dockerd's message otherwise.
pub fn parse_availability(text: &str) -> Result<Availability> {
    Availability::parse(text)
        .map_err(|_| Error::BadRequest(format!("invalid Availability: {:?}", types::excerpt(text))))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use types::{
        EngineDescription, ManagerStatus, Meta, Node, NodeDescription, NodeSpec, NodeState, NodeStatus,
        Platform, Reachability, Resources, Timestamp,
    };

    use super::*;

    fn manager_view() -> NodeView {
        let node = Node {
            id: "n1".into(),
            meta: Meta {
                version: 12,
                created_at: Timestamp(1_500_000_000),
                updated_at: Timestamp(2_000_000_000),
            },
            spec: NodeSpec {
                name: String::new(),
                labels: [("zone".to_string(), "a".to_string())].into(),
                role: Role::Manager,
                availability: Availability::Drain,
            },
            description: NodeDescription {
                hostname: "alpha".into(),
                platform: Platform {
                    architecture: "x86_64".into(),
                    os: "linux".into(),
                },
                resources: Resources {
                    nano_cpus: 2_000_000_000,
                    memory_bytes: 1 << 30,
                },
                engine: EngineDescription {
                    engine_version: "0.1.0".into(),
                    labels: [
                        ("shoal.executor".to_string(), "oci".to_string()),
                        (
                            types::generic::NODE_LABEL.to_string(),
                            r#"[{"NamedResourceSpec":{"Kind":"gpu","Value":"GPU-1"}},{"DiscreteResourceSpec":{"Kind":"ssd","Value":2}}]"#
                                .to_string(),
                        ),
                    ]
                    .into(),
                },
            },
            status: NodeStatus {
                state: NodeState::Ready,
                message: String::new(),
                addr: "10.0.0.1".into(),
            },
            manager_status: Some(ManagerStatus {
                raft_id: 7,
                addr: "10.0.0.1:2377".into(),
            }),
            role: Role::Manager,
        };
        NodeView {
            node: Arc::new(node),
            leader: true,
            reachability: Reachability::Reachable,
        }
    }

    #[test]
    fn manager_node_json_has_dockers_shape() {
        let json = serde_json::to_value(to_docker(&manager_view(), &model::TlsInfo::default())).unwrap();
        assert_eq!(json["ID"], "n1");
        assert_eq!(json["Version"]["Index"], 12);
        assert_eq!(json["CreatedAt"], "1970-01-01T00:00:01.5Z");
        assert_eq!(json["UpdatedAt"], "1970-01-01T00:00:02Z");
        assert_eq!(
            json["Spec"],
            serde_json::json!({"Labels": {"zone": "a"}, "Role": "manager", "Availability": "drain"})
        );
        assert_eq!(
            json["Description"]["Platform"],
            serde_json::json!({"Architecture": "x86_64", "OS": "linux"})
        );
        assert_eq!(json["Description"]["Resources"]["NanoCPUs"], 2_000_000_000i64);
        assert_eq!(json["Description"]["Engine"]["EngineVersion"], "0.1.0");
        assert_eq!(
            json["Description"]["Resources"]["GenericResources"],
            serde_json::json!([{"NamedResourceSpec": {"Kind": "gpu", "Value": "GPU-1"}},
                               {"DiscreteResourceSpec": {"Kind": "ssd", "Value": 2}}])
        );
        assert_eq!(
            json["Description"]["Engine"]["Labels"],
            serde_json::json!({"shoal.executor": "oci"}),
            "where shoal keeps them is not shown"
        );
        assert_eq!(
            json["Status"],
            serde_json::json!({"State": "ready", "Addr": "10.0.0.1"})
        );
        assert_eq!(
            json["ManagerStatus"],
            serde_json::json!({"Leader": true, "Reachability": "reachable", "Addr": "10.0.0.1:2377"})
        );
    }

    #[test]
    fn workers_have_no_manager_status() {
        let mut view = manager_view();
        let mut node = (*view.node).clone();
        node.manager_status = None;
        view.node = Arc::new(node);
        let json = serde_json::to_value(to_docker(&view, &model::TlsInfo::default())).unwrap();
        assert!(json.get("ManagerStatus").is_none());
    }

    #[test]
    fn spec_round_trips_and_rejects_bad_values() {
        let spec = manager_view().node.spec.clone();
        assert_eq!(spec_from_docker(&spec_to_docker(&spec)).unwrap(), spec);
        let shouted = model::NodeSpec {
            role: "WORKER".into(),
            availability: "Pause".into(),
            ..Default::default()
        };
        let parsed = spec_from_docker(&shouted).unwrap();
        assert_eq!(
            (parsed.role, parsed.availability),
            (Role::Worker, Availability::Pause)
        );
        let bad_role = model::NodeSpec {
            role: "boss".into(),
            availability: "active".into(),
            ..Default::default()
        };
        assert_eq!(
            spec_from_docker(&bad_role).unwrap_err().to_string(),
            r#"invalid Role: "boss""#
        );
        let no_role = model::NodeSpec {
            availability: "active".into(),
            ..Default::default()
        };
        assert_eq!(
            spec_from_docker(&no_role).unwrap_err().to_string(),
            r#"invalid Role: """#
        );
        let bad = model::NodeSpec {
            role: "worker".into(),
            availability: "off".into(),
            ..Default::default()
        };
        assert_eq!(
            spec_from_docker(&bad).unwrap_err().to_string(),
            r#"invalid Availability: "off""#
        );
    }
}
