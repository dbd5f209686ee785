//! Published ports: which service owns which (protocol, port) of the cluster.
//!
//! ```text
//! service create/update ─► validate (ranges, duplicates, dnsrr + ingress)
//!                       ─► allocate: ingress ports checked against every other service,
//!                          a port of 0 kept from the previous allocation or the lowest free
//!                          one of 30000–32767 ─► Service.endpoint.ports (same transaction)
//! store apply           ─► state refuses an ingress port another service holds (races)
//! service remove        ─► the service's ports go with it
//! ```
//! An ingress port is taken on every node (the routing mesh), so it has one owner
//! cluster-wide per protocol. Host-mode ports are not allocated here: they are taken only on
//! the nodes that run a task, which the scheduler's host-port filter keeps apart; a fixed
//! host-mode port still may not reuse a port the mesh holds.
//!
//! Allocating in the plan of the create or update (rather than in a later allocator pass)
//! lets a conflict or an exhausted range be refused to the client that asked, and keeps the
//! allocation in the store from the start, so a new leader needs nothing of its own. The
//! store re-checks ownership when the entry applies, so two plans made from the same view
//! cannot both take a port.

use std::collections::BTreeMap;

use state::State;
use types::{EndpointSpec, PortConfig, Service};

use crate::{Error, Result};

/// The first port handed out for an ingress port published as 0 (Swarm's range).
pub const DYNAMIC_FIRST: u32 = 30000;
/// The last port handed out for an ingress port published as 0.
pub const DYNAMIC_LAST: u32 = 32767;
/// The highest port number.
pub const PORT_MAX: u32 = 65535;

/// A port's protocol as stored (`""` means tcp).
fn protocol(p: &PortConfig) -> &str {
    if p.protocol.is_empty() { "tcp" } else { &p.protocol }
}

/// True for a port published through the routing mesh (the default mode).
pub fn is_ingress(p: &PortConfig) -> bool {
    !p.publish_mode.eq_ignore_ascii_case("host")
}

/// True when `spec` publishes a port through the routing mesh.
pub fn publishes_ingress(spec: Option<&EndpointSpec>) -> bool {
    spec.is_some_and(|e| e.ports.iter().any(is_ingress))
}

/// Checks a spec's ports on their own, as Swarm's control API does.
pub fn validate(spec: &EndpointSpec) -> Result<()> {
    let mut seen: Vec<(&str, u32)> = Vec::new();
    for p in &spec.ports {
        if !matches!(protocol(p), "tcp" | "udp" | "sctp") {
            return Err(Error::InvalidArgument(format!(
                "EndpointSpec: unsupported port protocol {:?} (expected tcp, udp or sctp)",
                types::excerpt(&p.protocol)
            )));
        }
        if p.target_port == 0 || p.target_port > PORT_MAX {
            return Err(Error::InvalidArgument(format!(
                "EndpointSpec: invalid target port {}: it must be between 1 and {PORT_MAX}",
                p.target_port
            )));
        }
        if p.published_port > PORT_MAX {
            return Err(Error::InvalidArgument(format!(
                "EndpointSpec: invalid published port {}: it must be between 1 and {PORT_MAX}",
                p.published_port
            )));
        }
        if spec.mode == "dnsrr" && is_ingress(p) {
            return Err(Error::InvalidArgument(
                "EndpointSpec: port published with ingress mode can't be used with dnsrr mode".into(),
            ));
        }
        if p.published_port == 0 {
            // A port the cluster picks conflicts with nothing the spec names.
            continue;
        }
        let key = (protocol(p), p.published_port);
        if seen.contains(&key) {
            return Err(Error::InvalidArgument(
                "EndpointSpec: duplicate published ports provided".into(),
            ));
        }
        seen.push(key);
    }
    Ok(())
}

/// How another service uses a (protocol, port).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Use {
    /// Routing mesh: every node.
    Ingress,
    /// Host mode: the nodes running its tasks.
    Host,
}

/// The ports other services publish, by (protocol, port), with their owner.
fn taken<'a>(state: &'a State, except: Option<&str>) -> BTreeMap<(&'a str, u32), (Use, &'a Service)> {
    let mut out = BTreeMap::new();
    for s in state.services() {
        if except == Some(s.id.as_str()) {
            continue;
        }
        for p in &s.endpoint.ports {
            if p.published_port != 0 {
                let used = if is_ingress(p) { Use::Ingress } else { Use::Host };
                // An ingress use wins over a host use of the same port.
                out.entry((protocol(p), p.published_port))
                    .and_modify(|e: &mut (Use, &Service)| {
                        if used == Use::Ingress {
                            *e = (used, s);
                        }
                    })
                    .or_insert((used, &**s));
            }
        }
    }
    out
}

/// dockerd's refusal of a port another service publishes.
pub fn in_use_message(port: u32, service: &Service, ingress: bool) -> String {
    format!(
        "port '{port}' is already in use by service '{}' ({}) as {}",
        service.spec.name,
        service.id,
        if ingress {
            "an ingress port"
        } else {
            "a host-published port"
        }
    )
}

/// The ports of service `id` (none yet for a create) as allocated for `spec`: every port of
/// the spec in order, an ingress port of 0 given the port it held before (same protocol and
/// target) or the lowest free one of [`DYNAMIC_FIRST`]–[`DYNAMIC_LAST`]. Refuses a port
/// another service holds. Call after [`validate`].
pub fn allocate(
    state: &State,
    id: Option<&str>,
    spec: &EndpointSpec,
    previous: &[PortConfig],
) -> Result<Vec<PortConfig>> {
    let taken = taken(state, id);
    let mut out: Vec<PortConfig> = Vec::with_capacity(spec.ports.len());
    // Fixed ports first, so a dynamic pick never takes one the spec names.
    for p in &spec.ports {
        if p.published_port == 0 {
            continue;
        }
        if let Some((used, owner)) = taken.get(&(protocol(p), p.published_port)) {
            // Host mode next to host mode is the scheduler's to keep apart.
            if *used == Use::Ingress || is_ingress(p) {
                return Err(Error::InvalidArgument(in_use_message(
                    p.published_port,
                    owner,
                    *used == Use::Ingress,
                )));
            }
        }
    }
    let fixed = |proto: &str, port: u32| {
        spec.ports
            .iter()
            .any(|q| q.published_port == port && protocol(q) == proto)
    };
    for p in &spec.ports {
        let mut next = p.clone();
        if p.published_port == 0 && is_ingress(p) {
            let proto = protocol(p);
            let free = |port: u32, out: &[PortConfig]| {
                !taken.contains_key(&(proto, port))
                    && !fixed(proto, port)
                    && !out
                        .iter()
                        .any(|q| q.published_port == port && protocol(q) == proto)
            };
            let kept = previous
                .iter()
                .filter(|q| {
                    is_ingress(q)
                        && protocol(q) == proto
                        && q.target_port == p.target_port
                        && (DYNAMIC_FIRST..=DYNAMIC_LAST).contains(&q.published_port)
                })
                .map(|q| q.published_port)
                .find(|&port| free(port, &out));
            let port = kept
                .or_else(|| (DYNAMIC_FIRST..=DYNAMIC_LAST).find(|&port| free(port, &out)))
                .ok_or_else(|| {
                    Error::FailedPrecondition(format!(
                        "no free {proto} port left in {DYNAMIC_FIRST}-{DYNAMIC_LAST} to publish target port {}",
                        p.target_port
                    ))
                })?;
            next.published_port = port;
        }
        out.push(next);
    }
    Ok(out)
}

#[cfg(test)]
#[path = "ports_tests.rs"]
mod tests;
