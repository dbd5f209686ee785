//! The network fields of a create body: `HostConfig.NetworkMode` and
//! `NetworkingConfig.EndpointsConfig` (one network per standalone container, no endpoint
//! settings yet).

use serde_json::{Map, Value};

use super::values::{is_zero, string};
use super::{CreateError, Result};

/// `default` and `none` give the container its own network namespace with loopback only
/// (dockerd's `bridge` needs a network this node does not have); another name is a swarm
/// network to attach to (the daemon checks that it is an attachable overlay).
pub(super) fn network_mode(host: &Map<String, Value>) -> Result<Option<String>> {
    match string(host, "NetworkMode")?.as_str() {
        "" | "default" | "none" => Ok(None),
        "host" => Err(CreateError::Unsupported(
            "network mode host is not supported by the oci executor yet; run without --network host".into(),
        )),
        "bridge" => Err(CreateError::Unsupported(
            "network bridge: this node has no bridge network; run without --network, or on an attachable overlay network (docker network create -d overlay --attachable)".into(),
        )),
        other if other.starts_with("container:") => Err(CreateError::Unsupported(
            "network mode container:<name> is not supported by the oci executor yet".into(),
        )),
        other => Ok(Some(other.to_owned())),
    }
}

/// `NetworkingConfig.EndpointsConfig`: the CLI names the network mode's network there
/// (`default` without `--network`); per-endpoint settings (aliases, static addresses, links…)
/// are not applied yet and are refused by name, as is a second network.
pub(super) fn endpoints(body: &Map<String, Value>, mode: &str) -> Result<()> {
    let Some(Value::Object(config)) = body.get("NetworkingConfig") else {
        return Ok(());
    };
    let Some(Value::Object(endpoints)) = config.get("EndpointsConfig") else {
        return Ok(());
    };
    for (name, endpoint) in endpoints {
        if name != mode && !(mode.is_empty() && name == "default") {
            return Err(CreateError::Unsupported(format!(
                "endpoint for network {:?}: a standalone container joins one network, the one --network names",
                types::excerpt(name)
            )));
        }
        endpoint_settings(
            &format!("NetworkingConfig.EndpointsConfig.{}", types::excerpt(name)),
            endpoint,
        )?;
    }
    Ok(())
}

/// An endpoint's settings (`EndpointSettings`: aliases, static addresses, links…), which are
/// not applied yet: any that is set is refused by name (`at` is where the object sits).
pub fn endpoint_settings(at: &str, endpoint: &Value) -> Result<()> {
    let Value::Object(fields) = endpoint else {
        return Ok(());
    };
    let set: Vec<String> = fields
        .iter()
        .filter(|(_, v)| !is_zero(v))
        .map(|(k, _)| format!("{at}.{k}"))
        .collect();
    if !set.is_empty() {
        return Err(CreateError::Unsupported(format!(
            "shoal does not support {} for standalone containers yet; remove {}",
            set.join(", "),
            if set.len() == 1 { "it" } else { "them" }
        )));
    }
    Ok(())
}
