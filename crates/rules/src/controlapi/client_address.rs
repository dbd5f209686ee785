//! The routing mesh's client-address opt-in: the service label
//! `com.shoal.mesh.client-address` (the stock CLI passes labels, not new publish options).
//! `snat` (the default): a task on another node than the receiving one sees that node's
//! ingress sandbox address; `route-return`: it sees the client's own address, and its replies
//! go back through the receiving node (netplane's `mesh_return`).
//!
//! Per port: `com.shoal.mesh.client-address.<published port>[/<tcp|udp>]` (TCP when the
//! protocol is left out) decides for that ingress-mode published port; the service-wide label
//! stays the choice of the ports no such label names. A label naming a port the service does
//! not publish in ingress mode is refused, so a typo never silently keeps SNAT.

use std::collections::{BTreeMap, BTreeSet};

use types::PortConfig;

use crate::error::{Error, Result};

/// The service label choosing how mesh connections reach tasks on other nodes.
pub const LABEL: &str = "com.shoal.mesh.client-address";
/// The default: SNAT to the receiving node's ingress sandbox address.
pub const SNAT: &str = "snat";
/// The client's address kept; replies routed back through the receiving node.
pub const ROUTE_RETURN: &str = "route-return";

/// The prefix of the per-port labels: `<prefix><published port>[/<protocol>]`.
pub const PORT_LABEL_PREFIX: &str = "com.shoal.mesh.client-address.";

/// Whether `labels` ask for route-return service-wide; an unknown value is refused.
pub fn route_return(labels: &BTreeMap<String, String>) -> Result<bool> {
    match labels.get(LABEL) {
        None => Ok(false),
        Some(value) => choice(LABEL, value),
    }
}

/// Whether `value` of label `key` asks for route-return; an unknown value is refused.
fn choice(key: &str, value: &str) -> Result<bool> {
    match value {
        SNAT => Ok(false),
        ROUTE_RETURN => Ok(true),
        other => Err(Error::InvalidArgument(format!(
            "invalid label {}={}: expected {ROUTE_RETURN} or {SNAT}",
            types::excerpt(key),
            types::excerpt(other)
        ))),
    }
}

/// A port's protocol as the labels name it (Docker's empty protocol is TCP).
fn protocol_of(port: &PortConfig) -> &str {
    if port.protocol.is_empty() {
        "tcp"
    } else {
        &port.protocol
    }
}

/// Whether `port` goes through the routing mesh (an ingress-mode port with a number).
fn meshed(port: &PortConfig) -> bool {
    port.publish_mode != "host" && port.published_port != 0
}

/// The (protocol, published port) of each of `ports` whose mesh connections keep the
/// client's address, from the service-wide and the per-port labels. Refuses an unknown value,
/// a malformed per-port key, and one naming no ingress-mode published port of `ports`.
pub fn route_return_ports(
    labels: &BTreeMap<String, String>,
    ports: &[PortConfig],
) -> Result<Vec<(String, u32)>> {
    let default = route_return(labels)?;
    let mut chosen = BTreeMap::new();
    for (key, value) in labels {
        let Some(named) = key.strip_prefix(PORT_LABEL_PREFIX) else {
            continue;
        };
        let invalid =
            |why: String| Error::InvalidArgument(format!("invalid label {}: {why}", types::excerpt(key)));
        let (number, protocol) = named.split_once('/').unwrap_or((named, "tcp"));
        let number: u32 = number
            .parse()
            .ok()
            .filter(|n| (1..=65535).contains(n))
            .ok_or_else(|| {
                invalid("expected a published port (1-65535), then /tcp or /udp if not TCP".into())
            })?;
        let protocol = protocol.to_ascii_lowercase();
        if protocol != "tcp" && protocol != "udp" {
            return Err(invalid("the routing mesh carries tcp and udp ports only".into()));
        }
        if !ports
            .iter()
            .any(|p| meshed(p) && p.published_port == number && protocol_of(p) == protocol)
        {
            let published: BTreeSet<String> = ports
                .iter()
                .filter(|p| meshed(p))
                .map(|p| format!("{}/{}", p.published_port, protocol_of(p)))
                .collect();
            let published = if published.is_empty() {
                "none".to_string()
            } else {
                published.into_iter().collect::<Vec<_>>().join(", ")
            };
            return Err(invalid(format!(
                "the service publishes no port {number}/{protocol} in ingress mode (its ingress ports: {published})"
            )));
        }
        chosen.insert((protocol, number), choice(key, value)?);
    }
    Ok(ports
        .iter()
        .filter(|p| meshed(p))
        .map(|p| (protocol_of(p).to_string(), p.published_port))
        .filter(|key| chosen.get(key).copied().unwrap_or(default))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values_parse_and_others_are_refused() {
        let with = |v: &str| BTreeMap::from([(LABEL.to_string(), v.to_string())]);
        assert!(!route_return(&BTreeMap::new()).unwrap());
        assert!(!route_return(&with("snat")).unwrap());
        assert!(route_return(&with("route-return")).unwrap());
        let err = route_return(&with("proxy-v2")).unwrap_err().to_string();
        assert!(err.contains("expected route-return or snat"), "{err}");
    }

    fn port(protocol: &str, published: u32, mode: &str) -> PortConfig {
        PortConfig {
            protocol: protocol.into(),
            target_port: 80,
            published_port: published,
            publish_mode: mode.into(),
            ..Default::default()
        }
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn key(p: &str, n: u32) -> (String, u32) {
        (p.to_string(), n)
    }

    #[test]
    fn a_port_label_decides_for_its_port_and_the_service_label_for_the_rest() {
        let ports = [
            port("tcp", 8080, "ingress"),
            port("", 8081, ""),
            port("udp", 8080, "ingress"),
            port("tcp", 9000, "host"),
        ];
        assert!(route_return_ports(&BTreeMap::new(), &ports).unwrap().is_empty());
        let one = labels(&[("com.shoal.mesh.client-address.8081", "route-return")]);
        assert_eq!(route_return_ports(&one, &ports).unwrap(), [key("tcp", 8081)]);
        let udp = labels(&[("com.shoal.mesh.client-address.8080/UDP", "route-return")]);
        assert_eq!(route_return_ports(&udp, &ports).unwrap(), [key("udp", 8080)]);
        // Service-wide route-return, one port kept on SNAT; host mode never goes through the mesh.
        let all_but = labels(&[
            (LABEL, "route-return"),
            ("com.shoal.mesh.client-address.8080/tcp", "snat"),
        ]);
        assert_eq!(
            route_return_ports(&all_but, &ports).unwrap(),
            [key("tcp", 8081), key("udp", 8080)]
        );
    }

    #[test]
    fn a_port_label_naming_no_meshed_port_or_an_unknown_value_is_refused() {
        let ports = [port("tcp", 8080, "ingress"), port("tcp", 9000, "host")];
        for (k, v, words) in [
            (
                "com.shoal.mesh.client-address.8081",
                "route-return",
                "publishes no port 8081/tcp",
            ),
            (
                "com.shoal.mesh.client-address.8080/udp",
                "route-return",
                "publishes no port 8080/udp",
            ),
            (
                "com.shoal.mesh.client-address.9000",
                "route-return",
                "(its ingress ports: 8080/tcp)",
            ),
            (
                "com.shoal.mesh.client-address.8080/sctp",
                "route-return",
                "tcp and udp ports only",
            ),
            (
                "com.shoal.mesh.client-address.http",
                "route-return",
                "expected a published port",
            ),
            (
                "com.shoal.mesh.client-address.0",
                "route-return",
                "expected a published port",
            ),
            (
                "com.shoal.mesh.client-address.8080",
                "proxy-v2",
                "expected route-return or snat",
            ),
        ] {
            let err = route_return_ports(&labels(&[(k, v)]), &ports)
                .unwrap_err()
                .to_string();
            assert!(err.contains(words), "{k}={v}: {err}");
        }
        let none = route_return_ports(&labels(&[("com.shoal.mesh.client-address.80", "snat")]), &[])
            .unwrap_err()
            .to_string();
        assert!(none.contains("(its ingress ports: none)"), "{none}");
    }
}
