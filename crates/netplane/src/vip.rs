//! Virtual IPs balanced by nftables in a task's namespace, in kube-proxy's nftables layout:
//!
//! ```text
//! table ip shoal-<tag>
//!   chain nat-output   (nat, output, dstnat):
//!       ip daddr . meta l4proto . th dport vmap { VIP . proto . port : goto svc-<n>, … }
//!       ip daddr vmap { VIP : goto svc-<n>, … }          (services on every port)
//!   chain svc-<n>      numgen random mod N vmap { 0 : goto svc-<n>-ep-0, … }
//!   chain svc-<n>-ep-<m>  meta l4proto P dnat to backend:target
//!   chain filter-output (filter, output, dstnat − 10):
//!       ip daddr . meta l4proto . th dport { VIPs without backends } reject
//!       ip daddr { every-port VIPs without backends } reject
//! ```
//!
//! A service with no ports listed forwards every port and protocol of its VIP (ICMP too) to one
//! backend, unchanged: Swarm's VIP balances by address, so a task reaches whatever its peers
//! listen on, as with IPVS's firewall-mark services.
//!
//! Every update replaces the whole table in one `nft -j -f -` run, which the kernel applies as one
//! transaction: a connection never sees half a change, and established ones keep their conntrack
//! translation. A service in DNS round-robin mode has no VIP and is simply not given here.

use std::borrow::Cow;
use std::net::Ipv4Addr;
use std::path::Path;

use nftables::batch::Batch;
use nftables::expr::{
    CT, Expression, Meta, MetaKey, NamedExpression, NgMode, Numgen, Payload, PayloadField, SetItem, Verdict,
};
use nftables::schema::{Chain, NfListObject, Nftables, Rule, Table};
use nftables::stmt::{JumpTarget, Match, NAT, Operator, Reject, Statement, VerdictMap};
use nftables::types::{NfChainPolicy, NfChainType, NfFamily, NfHook};

use crate::error::{Error, Result};
use crate::names;
use crate::netns;
use crate::plane::Plane;

/// The transport protocol of a VIP port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

impl Protocol {
    pub(crate) fn keyword(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
}

/// One port a VIP serves and the port its backends listen on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct VipPort {
    /// TCP or UDP.
    pub protocol: Protocol,
    /// The port on the VIP.
    pub port: u16,
    /// The port on each backend.
    pub target: u16,
}

/// A service's VIP on one network and the backends (task addresses) that serve it now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VipService {
    /// The virtual IP.
    pub vip: Ipv4Addr,
    /// The ports it serves; none: every port and protocol, each to the same port on a backend.
    pub ports: Vec<VipPort>,
    /// The running, healthy tasks' addresses; none makes the VIP refuse connections.
    pub backends: Vec<Ipv4Addr>,
}

const BASE_CHAIN_NAT: &str = "nat-output";
const BASE_CHAIN_FILTER: &str = "filter-output";
/// nft's `dstnat` priority; the reject runs just before it.
const DSTNAT: i32 = -100;

impl Plane {
    /// Makes the VIP table of the task namespace at `netns` hold exactly `services` (none removes it),
    /// in one atomic nft transaction.
    pub async fn set_vips(&self, netns: &Path, services: &[VipService]) -> Result<()> {
        let table = names::nft_table(&self.config.tag);
        let ruleset = ruleset(&table, services)?;
        let path = netns.to_owned();
        netns::run_in(netns, move || {
            nftables::helper::apply_ruleset(&ruleset)
                .map_err(|source| Error::Nftables { netns: path, source })
        })
        .await
    }

    /// Whether the task namespace at `netns` has this plane's VIP table.
    pub async fn has_vip_table(&self, netns: &Path) -> Result<bool> {
        let table = names::nft_table(&self.config.tag);
        Ok(nft_tables(netns).await?.contains(&table))
    }
}

/// The names of the `ip` family tables in the namespace at `netns`.
pub(crate) async fn nft_tables(netns: &Path) -> Result<Vec<String>> {
    let path = netns.to_owned();
    netns::run_in(netns, move || {
        let current = nftables::helper::get_current_ruleset_with_args(
            nftables::helper::DEFAULT_NFT,
            ["list", "tables", "ip"],
        )
        .map_err(|source| Error::Nftables { netns: path, source })?;
        Ok(current
            .objects
            .iter()
            .filter_map(|object| match object {
                nftables::schema::NfObject::ListObject(NfListObject::Table(table)) => {
                    Some(table.name.to_string())
                }
                _ => None,
            })
            .collect())
    })
    .await
}

/// Deletes table `table` from the namespace at `netns` if it is there.
pub(crate) async fn delete_table(netns: &Path, table: &str) -> Result<()> {
    let ruleset = ruleset(table, &[])?;
    let path = netns.to_owned();
    netns::run_in(netns, move || {
        nftables::helper::apply_ruleset(&ruleset).map_err(|source| Error::Nftables { netns: path, source })
    })
    .await
}

pub(crate) fn family_table(table: &str) -> Table<'static> {
    Table {
        family: NfFamily::IP,
        name: Cow::Owned(table.to_owned()),
        handle: None,
    }
}

/// The transaction that replaces table `table` with one serving `services`.
pub(crate) fn ruleset(table: &str, services: &[VipService]) -> Result<Nftables<'static>> {
    let mut batch = Batch::new();
    // "add" then "delete" deletes the table whether or not it existed, inside the same transaction.
    batch.add(NfListObject::Table(family_table(table)));
    batch.delete(NfListObject::Table(family_table(table)));
    if services.is_empty() {
        return Ok(batch.to_nftables());
    }
    batch.add(NfListObject::Table(family_table(table)));

    let mut map_elements = Vec::new();
    let mut unserved = Vec::new();
    let mut address_elements = Vec::new();
    let mut address_unserved = Vec::new();
    let mut whole = std::collections::HashSet::new();
    let mut chains = Vec::new();
    let mut rules = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (s, service) in services.iter().enumerate() {
        if service.ports.is_empty() {
            if !whole.insert(service.vip) {
                return Err(Error::Invalid(format!("VIP {} is given twice", service.vip)));
            }
            let key = Expression::String(Cow::Owned(service.vip.to_string()));
            if service.backends.is_empty() {
                address_unserved.push(SetItem::Element(key));
                continue;
            }
            let chain = format!("svc-{s}");
            address_elements.push(SetItem::Mapping(key, goto(&chain)));
            let mut choices = Vec::new();
            for (b, backend) in service.backends.iter().enumerate() {
                let endpoint = format!("{chain}-ep-{b}");
                choices.push(SetItem::Mapping(Expression::Number(b as u32), goto(&endpoint)));
                chains.push(plain_chain(table, &endpoint));
                rules.push(rule(table, &endpoint, vec![dnat(*backend, None)]));
            }
            chains.push(plain_chain(table, &chain));
            rules.push(rule(
                table,
                &chain,
                vec![random_choice(service.backends.len(), choices)],
            ));
            continue;
        }
        for (p, port) in service.ports.iter().enumerate() {
            if !seen.insert((service.vip, port.protocol, port.port)) {
                return Err(Error::Invalid(format!(
                    "{}/{} {} is given twice",
                    service.vip,
                    port.port,
                    port.protocol.keyword()
                )));
            }
            let key = key_of(service.vip, port.protocol, port.port);
            if service.backends.is_empty() {
                unserved.push(SetItem::Element(key));
                continue;
            }
            let chain = format!("svc-{s}-{p}");
            map_elements.push(SetItem::Mapping(key, goto(&chain)));
            let mut choices = Vec::new();
            for (b, backend) in service.backends.iter().enumerate() {
                let endpoint = format!("{chain}-ep-{b}");
                choices.push(SetItem::Mapping(Expression::Number(b as u32), goto(&endpoint)));
                chains.push(plain_chain(table, &endpoint));
                rules.push(rule(
                    table,
                    &endpoint,
                    vec![
                        Statement::Match(Match {
                            left: meta(MetaKey::L4proto),
                            right: Expression::String(Cow::Borrowed(port.protocol.keyword())),
                            op: Operator::EQ,
                        }),
                        dnat(*backend, Some(port.target)),
                    ],
                ));
            }
            chains.push(plain_chain(table, &chain));
            rules.push(rule(
                table,
                &chain,
                vec![random_choice(service.backends.len(), choices)],
            ));
        }
    }

    batch.add(NfListObject::Chain(Chain {
        family: NfFamily::IP,
        table: Cow::Owned(table.to_owned()),
        name: Cow::Borrowed(BASE_CHAIN_NAT),
        _type: Some(NfChainType::NAT),
        hook: Some(NfHook::Output),
        prio: Some(DSTNAT),
        policy: Some(NfChainPolicy::Accept),
        ..Chain::default()
    }));
    batch.add(NfListObject::Chain(Chain {
        family: NfFamily::IP,
        table: Cow::Owned(table.to_owned()),
        name: Cow::Borrowed(BASE_CHAIN_FILTER),
        _type: Some(NfChainType::Filter),
        hook: Some(NfHook::Output),
        prio: Some(DSTNAT - 10),
        policy: Some(NfChainPolicy::Accept),
        ..Chain::default()
    }));
    for chain in chains {
        batch.add(NfListObject::Chain(chain));
    }
    // The maps are anonymous, written whole into their rule: the table is replaced on every update
    // anyway, so a named map (kube-proxy's, updated element by element) would buy nothing.
    if !map_elements.is_empty() {
        batch.add(NfListObject::Rule(rule(
            table,
            BASE_CHAIN_NAT,
            vec![Statement::VerdictMap(VerdictMap {
                key: tuple_of_packet(),
                data: Expression::Named(NamedExpression::Set(map_elements)),
            })],
        )));
    }
    if !unserved.is_empty() {
        batch.add(NfListObject::Rule(rule(
            table,
            BASE_CHAIN_FILTER,
            vec![
                Statement::Match(Match {
                    left: tuple_of_packet(),
                    right: Expression::Named(NamedExpression::Set(unserved)),
                    op: Operator::EQ,
                }),
                Statement::Reject(Some(Reject {
                    _type: None,
                    expr: None,
                })),
            ],
        )));
    }
    // After the per-port map: a VIP listed both ways keeps its exact ports' targets.
    if !address_elements.is_empty() {
        batch.add(NfListObject::Rule(rule(
            table,
            BASE_CHAIN_NAT,
            vec![Statement::VerdictMap(VerdictMap {
                key: payload("ip", "daddr"),
                data: Expression::Named(NamedExpression::Set(address_elements)),
            })],
        )));
    }
    if !address_unserved.is_empty() {
        batch.add(NfListObject::Rule(rule(
            table,
            BASE_CHAIN_FILTER,
            vec![
                Statement::Match(Match {
                    left: payload("ip", "daddr"),
                    right: Expression::Named(NamedExpression::Set(address_unserved)),
                    op: Operator::EQ,
                }),
                Statement::Reject(Some(Reject {
                    _type: None,
                    expr: None,
                })),
            ],
        )));
    }
    for rule in rules {
        batch.add(NfListObject::Rule(rule));
    }
    Ok(batch.to_nftables())
}

/// `dnat to backend[:port]`; without a port the destination port is kept.
pub(crate) fn dnat(backend: Ipv4Addr, port: Option<u16>) -> Statement<'static> {
    Statement::DNAT(Some(NAT {
        addr: Some(Expression::String(Cow::Owned(backend.to_string()))),
        family: None,
        port: port.map(|port| Expression::Number(u32::from(port))),
        flags: None,
    }))
}

/// `numgen random mod n vmap { … }`: one of `n` backends' chains.
pub(crate) fn random_choice(n: usize, choices: Vec<SetItem<'static>>) -> Statement<'static> {
    Statement::VerdictMap(VerdictMap {
        key: Expression::Named(NamedExpression::Numgen(Numgen {
            mode: NgMode::Random,
            ng_mod: n as u32,
            offset: None,
        })),
        data: Expression::Named(NamedExpression::Set(choices)),
    })
}

pub(crate) fn key_of(vip: Ipv4Addr, protocol: Protocol, port: u16) -> Expression<'static> {
    Expression::Named(NamedExpression::Concat(vec![
        Expression::String(Cow::Owned(vip.to_string())),
        Expression::String(Cow::Borrowed(protocol.keyword())),
        Expression::Number(u32::from(port)),
    ]))
}

pub(crate) fn tuple_of_packet() -> Expression<'static> {
    Expression::Named(NamedExpression::Concat(vec![
        payload("ip", "daddr"),
        meta(MetaKey::L4proto),
        payload("th", "dport"),
    ]))
}

pub(crate) fn payload(protocol: &'static str, field: &'static str) -> Expression<'static> {
    Expression::Named(NamedExpression::Payload(Payload::PayloadField(PayloadField {
        protocol: Cow::Borrowed(protocol),
        field: Cow::Borrowed(field),
    })))
}

pub(crate) fn meta(key: MetaKey) -> Expression<'static> {
    Expression::Named(NamedExpression::Meta(Meta { key }))
}

/// `ct <key>` of the packet's connection (no direction: the key's own).
pub(crate) fn ct(key: &'static str) -> Expression<'static> {
    Expression::Named(NamedExpression::CT(CT {
        key: Cow::Borrowed(key),
        family: None,
        dir: None,
    }))
}

pub(crate) fn goto(chain: &str) -> Expression<'static> {
    Expression::Verdict(Verdict::Goto(JumpTarget {
        target: Cow::Owned(chain.to_owned()),
    }))
}

pub(crate) fn plain_chain(table: &str, name: &str) -> Chain<'static> {
    Chain {
        family: NfFamily::IP,
        table: Cow::Owned(table.to_owned()),
        name: Cow::Owned(name.to_owned()),
        ..Chain::default()
    }
}

pub(crate) fn rule(table: &str, chain: &str, statements: Vec<Statement<'static>>) -> Rule<'static> {
    Rule {
        family: NfFamily::IP,
        table: Cow::Owned(table.to_owned()),
        chain: Cow::Owned(chain.to_owned()),
        expr: Cow::Owned(statements),
        ..Rule::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ruleset_maps_each_vip_port_to_a_random_choice_of_backends() {
        let services = [VipService {
            vip: Ipv4Addr::new(10, 0, 0, 2),
            ports: vec![VipPort {
                protocol: Protocol::Tcp,
                port: 80,
                target: 8080,
            }],
            backends: vec![Ipv4Addr::new(10, 0, 0, 5), Ipv4Addr::new(10, 0, 0, 6)],
        }];
        let json = serde_json::to_string(&ruleset("shoal-t", &services).expect("ruleset")).expect("json");
        assert!(json.contains(r#""numgen":{"mode":"random","mod":2}"#), "{json}");
        assert!(
            json.contains(r#""dnat":{"addr":"10.0.0.6","port":8080}"#),
            "{json}"
        );
        assert!(json.contains(r#"{"concat":["10.0.0.2","tcp",80]}"#), "{json}");
    }

    #[test]
    fn a_service_without_ports_forwards_every_port_of_its_vip() {
        let services = [
            VipService {
                vip: Ipv4Addr::new(10, 0, 0, 2),
                ports: vec![],
                backends: vec![Ipv4Addr::new(10, 0, 0, 5)],
            },
            VipService {
                vip: Ipv4Addr::new(10, 0, 0, 3),
                ports: vec![],
                backends: vec![],
            },
        ];
        let json = serde_json::to_string(&ruleset("shoal-t", &services).expect("ruleset")).expect("json");
        assert!(json.contains(r#""dnat":{"addr":"10.0.0.5"}"#), "{json}");
        assert!(
            json.contains(r#"{"elem":["10.0.0.2",{"goto":{"target":"svc-0"}}]}"#)
                || json.contains(r#""10.0.0.2""#),
            "{json}"
        );
        assert!(json.contains(r#""reject""#), "{json}");
        assert!(
            !json.contains(r#""th""#),
            "no per-port map when no service lists ports: {json}"
        );
        let twice = [services[0].clone(), services[0].clone()];
        assert!(ruleset("shoal-t", &twice).is_err());
    }

    #[test]
    fn a_vip_port_given_twice_is_refused() {
        let port = VipPort {
            protocol: Protocol::Udp,
            port: 53,
            target: 53,
        };
        let services = [VipService {
            vip: Ipv4Addr::new(10, 0, 0, 2),
            ports: vec![port, port],
            backends: vec![],
        }];
        assert!(ruleset("shoal-t", &services).is_err());
    }
}
