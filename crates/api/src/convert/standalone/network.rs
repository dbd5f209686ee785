//! The network fields of a create body: `HostConfig.NetworkMode` and
//! `NetworkingConfig.EndpointsConfig` (one network per standalone container; of the endpoint
//! settings, its aliases and requested IPv4 address).

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

/// The endpoint settings shoal applies (`EndpointSettings`: `Aliases`,
/// `IPAMConfig.IPv4Address`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointSettings {
    /// More names the container answers to on the network (`--alias`).
    pub aliases: Vec<String>,
    /// The address asked for (`--ip`), from the network's subnets.
    pub ipv4_address: Option<std::net::Ipv4Addr>,
}

/// `NetworkingConfig.EndpointsConfig`: the CLI names the network mode's network there
/// (`default` without `--network`); its aliases and requested address are applied, any other
/// setting (links, MAC address, IPv6…) is refused by name, as is a second network.
pub(super) fn endpoints(body: &Map<String, Value>, mode: &str) -> Result<EndpointSettings> {
    let Some(Value::Object(config)) = body.get("NetworkingConfig") else {
        return Ok(EndpointSettings::default());
    };
    let Some(Value::Object(endpoints)) = config.get("EndpointsConfig") else {
        return Ok(EndpointSettings::default());
    };
    let mut settings = EndpointSettings::default();
    for (name, endpoint) in endpoints {
        if name != mode && !(mode.is_empty() && name == "default") {
            return Err(CreateError::Unsupported(format!(
                "endpoint for network {:?}: a standalone container joins one network, the one --network names",
                types::excerpt(name)
            )));
        }
        settings = endpoint_settings(
            &format!("NetworkingConfig.EndpointsConfig.{}", types::excerpt(name)),
            endpoint,
        )?;
        if matches!(mode, "" | "default" | "none")
            && (!settings.aliases.is_empty() || settings.ipv4_address.is_some())
        {
            // dockerd's words.
            return Err(CreateError::Invalid(
                "network-scoped aliases and user specified IP addresses are only supported for user defined networks".into(),
            ));
        }
    }
    Ok(settings)
}

/// An endpoint's settings (`at` is where the object sits): `Aliases` and
/// `IPAMConfig.IPv4Address` are read; any other one that is set is refused by name.
pub fn endpoint_settings(at: &str, endpoint: &Value) -> Result<EndpointSettings> {
    let mut out = EndpointSettings::default();
    let Value::Object(fields) = endpoint else {
        return Ok(out);
    };
    let mut refused = Vec::new();
    for (key, value) in fields {
        if is_zero(value) {
            continue;
        }
        match key.as_str() {
            "Aliases" => out.aliases = aliases(at, value)?,
            "IPAMConfig" => {
                let Value::Object(ipam) = value else {
                    return Err(CreateError::Invalid(format!("{at}.IPAMConfig must be an object")));
                };
                for (k, v) in ipam {
                    match k.as_str() {
                        _ if is_zero(v) => {}
                        "IPv4Address" => out.ipv4_address = Some(ipv4(at, v)?),
                        _ => refused.push(format!("{at}.IPAMConfig.{}", types::excerpt(k))),
                    }
                }
            }
            _ => refused.push(format!("{at}.{}", types::excerpt(key))),
        }
    }
    if !refused.is_empty() {
        return Err(CreateError::Unsupported(format!(
            "shoal does not support {} for standalone containers yet; remove {}",
            refused.join(", "),
            if refused.len() == 1 { "it" } else { "them" }
        )));
    }
    Ok(out)
}

/// The aliases: strings that can be DNS names (at most 64, as a sanity bound).
fn aliases(at: &str, value: &Value) -> Result<Vec<String>> {
    let Value::Array(items) = value else {
        return Err(CreateError::Invalid(format!(
            "{at}.Aliases must be a list of strings"
        )));
    };
    if items.len() > 64 {
        return Err(CreateError::Invalid(format!("{at}.Aliases: at most 64 aliases")));
    }
    items
        .iter()
        .map(|v| match v {
            Value::String(a) if valid_alias(a) => Ok(a.clone()),
            Value::String(a) => Err(CreateError::Invalid(format!(
                "invalid alias {:?}: a DNS name of letters, digits, '-', '_' and '.', at most 253 characters",
                types::excerpt(a)
            ))),
            _ => Err(CreateError::Invalid(format!(
                "{at}.Aliases must be a list of strings"
            ))),
        })
        .collect()
}

fn valid_alias(a: &str) -> bool {
    !a.is_empty()
        && a.len() <= 253
        && a.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// An IPv4 address as the CLI sends `--ip`.
fn ipv4(at: &str, value: &Value) -> Result<std::net::Ipv4Addr> {
    match value {
        Value::String(text) => text.parse().map_err(|_| {
            CreateError::Invalid(format!(
                "{at}.IPAMConfig.IPv4Address: invalid IPv4 address: {}",
                types::excerpt(text)
            ))
        }),
        _ => Err(CreateError::Invalid(format!(
            "{at}.IPAMConfig.IPv4Address must be a string"
        ))),
    }
}
