//! `/info` and `/version` from the backend's swarm facts and the host's facts.

use std::collections::BTreeMap;

use super::cluster::{cluster_info, external_ca_to_docker};
use crate::backend::{ManagerInfo, SwarmStatus};
use crate::host::{HostFacts, go_arch, uname_arch};
use crate::model;
use crate::version::{API_VERSION, MIN_API_VERSION, SERVER_VERSION};

/// The `Swarm` section of `/info`; cluster facts only on a manager.
pub fn swarm_info(status: &SwarmStatus, manager: Option<&ManagerInfo>) -> model::SwarmInfo {
    model::SwarmInfo {
        node_id: status.node_id.clone(),
        node_addr: status.node_addr.clone(),
        local_node_state: status.state.as_str().to_string(),
        control_available: status.control_available,
        error: status.error.clone(),
        remote_managers: status
            .remote_managers
            .iter()
            .map(|(node_id, addr)| model::PeerNode {
                node_id: node_id.clone(),
                addr: addr.clone(),
            })
            .collect(),
        nodes: manager.map_or(0, |m| m.nodes as i64),
        managers: manager.map_or(0, |m| m.managers as i64),
        cluster: manager.map(|m| {
            let mut info = cluster_info(&m.cluster);
            info.spec.ca_config.external_cas = m.external_cas.iter().map(external_ca_to_docker).collect();
            info
        }),
        warnings: Vec::new(),
    }
}

/// `GET /info` for a daemon that runs no local containers.
pub fn info(
    status: &SwarmStatus,
    manager: Option<&ManagerInfo>,
    hostname: String,
    host: &HostFacts,
) -> model::Info {
    let id = if host.machine_id.is_empty() {
        hostname.clone()
    } else {
        host.machine_id.clone()
    };
    model::Info {
        id,
        driver: "shoal".into(),
        driver_status: Vec::new(),
        docker_root_dir: String::new(),
        plugins: model::PluginsInfo {
            volume: Vec::new(),
            network: vec!["overlay".into()],
            authorization: Vec::new(),
            log: Vec::new(),
        },
        ipv4_forwarding: true,
        logging_driver: String::new(),
        cgroup_driver: "none".into(),
        cgroup_version: host.cgroup_version.clone(),
        kernel_version: host.kernel_version.clone(),
        operating_system: host.operating_system.clone(),
        os_version: host.os_version.clone(),
        os_type: "linux".into(),
        architecture: uname_arch().into(),
        ncpu: host.ncpu,
        mem_total: host.mem_total,
        name: hostname,
        server_version: SERVER_VERSION.into(),
        swarm: swarm_info(status, manager),
        ..Default::default()
    }
}

/// `GET /version`.
pub fn version(host: &HostFacts) -> model::Version {
    let details = BTreeMap::from([
        ("ApiVersion".to_string(), API_VERSION.to_string()),
        ("MinAPIVersion".to_string(), MIN_API_VERSION.to_string()),
        ("Os".to_string(), "linux".to_string()),
        ("Arch".to_string(), go_arch().to_string()),
        ("KernelVersion".to_string(), host.kernel_version.clone()),
    ]);
    model::Version {
        platform: model::ServerPlatform {
            name: format!("shoal {SERVER_VERSION}"),
        },
        components: vec![model::ComponentVersion {
            name: "Engine".into(),
            version: SERVER_VERSION.into(),
            details,
        }],
        version: SERVER_VERSION.into(),
        api_version: API_VERSION.into(),
        min_api_version: MIN_API_VERSION.into(),
        git_commit: option_env!("SHOAL_GIT_COMMIT").unwrap_or("unknown").into(),
        go_version: "rust".into(),
        os: "linux".into(),
        arch: go_arch().into(),
        kernel_version: host.kernel_version.clone(),
        experimental: false,
        build_time: option_env!("SHOAL_BUILD_TIME").unwrap_or_default().into(),
    }
}

#[cfg(test)]
mod tests {
    use crate::backend::LocalNodeState;

    use super::*;

    fn inactive() -> SwarmStatus {
        SwarmStatus {
            state: LocalNodeState::Inactive,
            node_id: String::new(),
            node_addr: String::new(),
            control_available: false,
            error: String::new(),
            remote_managers: Vec::new(),
        }
    }

    #[test]
    fn inactive_info_has_no_cluster() {
        let json = serde_json::to_value(info(&inactive(), None, "h".into(), &HostFacts::default())).unwrap();
        assert_eq!(json["Swarm"]["LocalNodeState"], "inactive");
        assert!(json["Swarm"].get("Cluster").is_none());
        assert!(json["Swarm"].get("Nodes").is_none());
        assert_eq!(json["Name"], "h");
        assert_eq!(json["ID"], "h");
        assert_eq!(json["OSType"], "linux");
        assert_eq!(json["Containers"], 0);
        assert_eq!(json["ServerVersion"], SERVER_VERSION);
    }

    #[test]
    fn version_reports_api_range() {
        let json = serde_json::to_value(version(&HostFacts::default())).unwrap();
        assert_eq!(json["ApiVersion"], "1.47");
        assert_eq!(json["MinAPIVersion"], "1.24");
        assert_eq!(json["GoVersion"], "rust");
        assert_eq!(json["Components"][0]["Name"], "Engine");
        assert!(json["Platform"]["Name"].as_str().unwrap().starts_with("shoal"));
    }
}
