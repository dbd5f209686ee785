//! Networks: Docker's create request to a `NetworkSpec` (refusing what is not supported),
//! shoal's `Network` to Docker's JSON, dockerd's predefined local networks, the swarm network
//! object of `NetworksAttachments`, and the filters of `GET /networks`.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use types::{IpamConfig, Network, NetworkSpec};

use super::filters::{self, FilterArgs};
use super::time::rfc3339;
use crate::error::{Error, Result};
use crate::model;

/// The driver option dockerd shows a swarm overlay's VNI under.
const VXLAN_OPTION: &str = "com.docker.network.driver.overlay.vxlanid_list";

/// Filter keys `GET /networks` accepts.
const FILTER_KEYS: &[&str] = &["driver", "id", "label", "name", "scope", "type"];

/// dockerd's local networks, listed beside the cluster's with fixed IDs: name and driver.
const PREDEFINED: [(&str, &str, &str); 3] = [
    (
        "bridge",
        "bridge",
        "d587ed37f616356715e41d4fab9bd909a7c73394762aba4ba3a79693da46a128",
    ),
    (
        "host",
        "host",
        "ea484ebdf6854eea5fcb882250839f4e5ce8fb45dd9b0d5c28adf3772933c6dd",
    ),
    (
        "none",
        "null",
        "02e0c3354ce95c8becfd19e1d94f6fe144bb478204bc8f72ff4124b957644740",
    ),
];

fn refuse(what: &str) -> Error {
    Error::BadRequest(format!("{what} is not supported"))
}

/// The spec of `POST /networks/create`. An empty driver is dockerd's default, `bridge`
/// (refused by the rules with a message naming it).
pub fn spec_from_docker(req: &model::NetworkCreateRequest) -> Result<NetworkSpec> {
    if req.config_only || req.config_from.as_ref().is_some_and(|c| !c.network.is_empty()) {
        return Err(refuse("a config-only network (--config-only, --config-from)"));
    }
    if req.enable_ipv6 == Some(true) {
        return Err(refuse("IPv6 (--ipv6)"));
    }
    if req.enable_ipv4 == Some(false) {
        return Err(refuse("a network without IPv4 (--ipv4=false)"));
    }
    if !matches!(req.scope.as_str(), "" | "swarm") {
        return Err(Error::BadRequest(format!(
            "scope {:?} is not supported: cluster networks are swarm-scoped",
            types::excerpt(&req.scope)
        )));
    }
    if !matches!(req.ipam.driver.as_str(), "" | "default") {
        return Err(refuse(&format!(
            "IPAM driver {:?}",
            types::excerpt(&req.ipam.driver)
        )));
    }
    if !req.ipam.options.is_empty() {
        return Err(refuse("IPAM options (--ipam-opt)"));
    }
    Ok(NetworkSpec {
        name: req.name.clone(),
        labels: req.labels.clone(),
        driver: if req.driver.is_empty() {
            "bridge".into()
        } else {
            req.driver.clone()
        },
        options: req.options.clone(),
        attachable: req.attachable,
        internal: req.internal,
        ingress: req.ingress,
        ipam: req
            .ipam
            .config
            .iter()
            .map(|c| IpamConfig {
                subnet: c.subnet.clone(),
                ip_range: c.ip_range.clone(),
                gateway: c.gateway.clone(),
                aux_addresses: c.aux_addresses.clone(),
            })
            .collect(),
    })
}

/// The IPAM configs as allocated (the user's range and auxiliary addresses included).
fn ipam_configs(n: &Network) -> Vec<model::IpamConfig> {
    n.pools
        .iter()
        .map(|p| model::IpamConfig {
            subnet: p.subnet.to_string(),
            ip_range: if p.range == p.subnet {
                String::new()
            } else {
                p.range.to_string()
            },
            gateway: p.gateway.to_string(),
            aux_addresses: p.aux.iter().map(|(k, v)| (k.clone(), v.to_string())).collect(),
        })
        .collect()
}

/// The driver options as dockerd shows them: the user's and the VNI.
fn options(n: &Network) -> BTreeMap<String, String> {
    let mut options = n.spec.options.clone();
    options.insert(VXLAN_OPTION.into(), n.vni.to_string());
    options
}

/// Docker's JSON for a cluster network.
pub fn to_docker(n: &Network) -> model::Network {
    model::Network {
        name: n.spec.name.clone(),
        id: n.id.clone(),
        created: rfc3339(n.meta.created_at),
        scope: "swarm".into(),
        driver: n.spec.driver.clone(),
        enable_ipv4: true,
        enable_ipv6: false,
        ipam: model::Ipam {
            driver: "default".into(),
            config: ipam_configs(n),
            options: BTreeMap::new(),
        },
        internal: n.spec.internal,
        attachable: n.spec.attachable,
        ingress: n.spec.ingress,
        config_from: model::ConfigReference::default(),
        config_only: false,
        containers: BTreeMap::new(),
        peers: None,
        options: options(n),
        labels: n.spec.labels.clone(),
    }
}

/// dockerd's predefined local networks (`bridge`, `host`, `none`), as listed. shoal does
/// not run a bridge of its own: their IPAM shows no subnet.
pub fn predefined() -> Vec<model::Network> {
    PREDEFINED
        .iter()
        .map(|(name, driver, id)| model::Network {
            name: name.to_string(),
            id: id.to_string(),
            created: rfc3339(types::Timestamp(0)),
            scope: "local".into(),
            driver: driver.to_string(),
            enable_ipv4: *name == "bridge",
            ipam: model::Ipam {
                driver: "default".into(),
                ..Default::default()
            },
            ..Default::default()
        })
        .collect()
}

/// A predefined network by ID, name or unique ID prefix.
pub fn predefined_by_key(key: &str) -> Option<model::Network> {
    let all = predefined();
    if let Some(n) = all.iter().find(|n| n.id == key || n.name == key) {
        return Some(n.clone());
    }
    let mut hits = all
        .into_iter()
        .filter(|n| !key.is_empty() && n.id.starts_with(key));
    match (hits.next(), hits.next()) {
        (Some(one), None) => Some(one),
        _ => None,
    }
}

/// The swarm network object of a task's `NetworksAttachments` entry.
pub fn attachment(n: &Network, address: &str) -> Value {
    let configs: Vec<Value> = n
        .pools
        .iter()
        .map(|p| json!({"Subnet": p.subnet.to_string(), "Gateway": p.gateway.to_string()}))
        .collect();
    json!({
        "Network": {
            "ID": n.id,
            "Version": {"Index": n.meta.version},
            "CreatedAt": rfc3339(n.meta.created_at),
            "UpdatedAt": rfc3339(n.meta.updated_at),
            "Spec": {
                "Name": n.spec.name,
                "Labels": n.spec.labels,
                "DriverConfiguration": {"Name": n.spec.driver, "Options": n.spec.options},
                "Scope": "swarm",
                "Internal": n.spec.internal,
                "Attachable": n.spec.attachable,
                "Ingress": n.spec.ingress,
                "IPAMOptions": {"Driver": {"Name": "default"}, "Configs": configs},
            },
            "DriverState": {"Name": n.spec.driver, "Options": options(n)},
            "IPAMOptions": {"Driver": {"Name": "default"}, "Configs": configs},
        },
        "Addresses": [address],
    })
}

/// The parsed filters of `GET /networks`, checked.
pub fn list_filters(text: &str) -> Result<FilterArgs> {
    let args = filters::parse(text)?;
    filters::validate(&args, FILTER_KEYS)?;
    for t in args.get("type").into_iter().flatten() {
        if t != "custom" && t != "builtin" {
            return Err(Error::BadRequest(format!("invalid filter: 'type'='{t}'")));
        }
    }
    for s in args.get("scope").into_iter().flatten() {
        if !matches!(s.as_str(), "swarm" | "global" | "local") {
            return Err(Error::BadRequest(format!("invalid filter: 'scope'='{s}'")));
        }
    }
    Ok(args)
}

fn labels_match(labels: &BTreeMap<String, String>, wanted: &[String]) -> bool {
    wanted.iter().all(|w| match w.split_once('=') {
        Some((k, v)) => labels.get(k).is_some_and(|have| have == v),
        None => labels.contains_key(w.as_str()),
    })
}

/// Whether `n` passes every filter, as dockerd matches them: `name` and `id` by substring,
/// `driver` and `scope` exactly, `label` as `key` or `key=value`, `type` builtin (the
/// predefined networks) or custom.
pub fn matches(n: &model::Network, args: &FilterArgs) -> bool {
    let any = |key: &str, f: &dyn Fn(&str) -> bool| {
        args.get(key)
            .is_none_or(|vs| vs.is_empty() || vs.iter().any(|v| f(v)))
    };
    let builtin = PREDEFINED.iter().any(|(_, _, id)| *id == n.id);
    any("name", &|v| n.name.contains(v))
        && any("id", &|v| n.id.contains(v))
        && any("driver", &|v| n.driver == v)
        && any("scope", &|v| n.scope == v)
        && any("type", &|v| (v == "builtin") == builtin)
        && labels_match(&n.labels, args.get("label").map(|v| &v[..]).unwrap_or(&[]))
}

/// The label filters of `POST /networks/prune`: `label` and `label!` (`until` is refused).
pub fn prune_filters(text: &str) -> Result<(Vec<String>, Vec<String>)> {
    let mut args = filters::parse(text)?;
    if args.contains_key("until") {
        return Err(Error::BadRequest(
            "the until filter of network prune is not supported yet".into(),
        ));
    }
    filters::validate(&args, &["label", "label!"])?;
    Ok((
        args.remove("label").unwrap_or_default(),
        args.remove("label!").unwrap_or_default(),
    ))
}

/// `docker network inspect`'s `Containers`: each container's endpoint by container ID.
pub fn containers(endpoints: &[crate::NetworkEndpoint]) -> BTreeMap<String, Value> {
    endpoints
        .iter()
        .map(|e| {
            let entry = json!({
                "Name": e.name,
                "EndpointID": e.endpoint_id,
                "MacAddress": e.mac_address,
                "IPv4Address": e.ipv4_address,
                "IPv6Address": "",
            });
            (e.container_id.clone(), entry)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use types::{Meta, Pool, Subnet};

    use super::*;

    fn net() -> Network {
        let subnet = Subnet::parse("10.0.1.0/24").unwrap();
        Network {
            id: "n1abc".into(),
            meta: Meta::default(),
            spec: NetworkSpec {
                name: "front".into(),
                driver: "overlay".into(),
                labels: [("tier".to_string(), "web".to_string())].into(),
                ..Default::default()
            },
            vni: 4097,
            pools: vec![Pool {
                subnet,
                range: subnet,
                gateway: Ipv4Addr::new(10, 0, 1, 1),
                aux: BTreeMap::new(),
            }],
        }
    }

    #[test]
    fn a_network_shows_as_dockerd_shows_a_swarm_overlay() {
        let v = serde_json::to_value(to_docker(&net())).unwrap();
        assert_eq!(v["Scope"], "swarm");
        assert_eq!(
            v["IPAM"]["Config"],
            json!([{"Subnet": "10.0.1.0/24", "Gateway": "10.0.1.1"}])
        );
        assert_eq!(v["Options"][VXLAN_OPTION], "4097");
        assert_eq!(v["Containers"], json!({}));
        let a = attachment(&net(), "10.0.1.3/24");
        assert_eq!(a["Network"]["Spec"]["Name"], "front");
        assert_eq!(a["Addresses"], json!(["10.0.1.3/24"]));
    }

    #[test]
    fn filters_match_as_dockerd_does() {
        let all: Vec<model::Network> = predefined().into_iter().chain([to_docker(&net())]).collect();
        let names = |text: &str| -> Vec<String> {
            let args = list_filters(text).unwrap();
            all.iter()
                .filter(|n| matches(n, &args))
                .map(|n| n.name.clone())
                .collect()
        };
        assert_eq!(names(r#"{"driver":{"overlay":true}}"#), ["front"]);
        assert_eq!(names(r#"{"type":{"builtin":true}}"#), ["bridge", "host", "none"]);
        assert_eq!(names(r#"{"scope":{"local":true}}"#).len(), 3);
        assert_eq!(names(r#"{"name":{"ron":true}}"#), ["front"]);
        assert_eq!(names(r#"{"label":{"tier=web":true}}"#), ["front"]);
        assert_eq!(names(r#"{"id":{"n1a":true}}"#), ["front"]);
        assert!(list_filters(r#"{"type":{"x":true}}"#).is_err());
        assert!(list_filters(r#"{"dangling":{"true":true}}"#).is_err());
    }

    #[test]
    fn unsupported_create_fields_are_refused() {
        let ok: model::NetworkCreateRequest = serde_json::from_value(json!({
            "Name": "front", "Driver": "overlay", "CheckDuplicate": true, "Scope": "swarm",
            "IPAM": {"Driver": "default", "Config": [{"Subnet": "10.5.0.0/16", "IPRange": "10.5.1.0/24",
                     "Gateway": "10.5.0.1", "AuxiliaryAddresses": {"a": "10.5.0.9"}}], "Options": null},
            "Options": {"com.docker.network.driver.mtu": "1400"}, "Labels": null, "EnableIPv6": false,
            "ConfigFrom": null
        }))
        .unwrap();
        let spec = spec_from_docker(&ok).unwrap();
        assert_eq!(spec.ipam[0].ip_range, "10.5.1.0/24");
        assert_eq!(spec.options["com.docker.network.driver.mtu"], "1400");
        let mut v6 = ok.clone();
        v6.enable_ipv6 = Some(true);
        assert!(spec_from_docker(&v6).is_err());
        let mut local = ok.clone();
        local.scope = "local".into();
        assert!(spec_from_docker(&local).is_err());
        let mut bare = ok;
        bare.driver = String::new();
        assert_eq!(spec_from_docker(&bare).unwrap().driver, "bridge");
    }
}
