//! The routing mesh's nftables rules, as pure functions of the ports a node publishes: one
//! table in the host namespace, one in the node's ingress sandbox (`ingress.rs` makes both
//! namespaces and applies these).
//!
//! ```text
//! host   table ip shoal-<tag>-mesh
//!   chain prerouting (nat, prerouting, dstnat):
//!       fib daddr type local  ip dscp 0x35  l4proto . dport { ports with a task here } goto to-sandbox
//!       fib daddr type local  l4proto . dport vmap { tcp . 8080 : goto fwd-0, … }
//!       fib daddr type local  l4proto . dport { tcp . 8080, … }  goto to-sandbox
//!   chain output (nat, output, dstnat): the last two, the vmap for non-loopback sources only
//!   chain to-sandbox     ct mark set ct mark | CT_MARK  dnat to <sandbox link>
//!   chain fwd-<n>        numgen random mod N vmap { 0 : goto to-sandbox, …, L : goto fwd-<n>-ep-0, … }
//!   chain fwd-<n>-ep-<k> ct mark set ct mark | CT_MARK  dnat to <the task's node>  (the same port, there)
//!   chain postrouting (nat, postrouting, srcnat):
//!       ip saddr 127.0.0.0/8 ip daddr <sandbox link>  snat to <host link>   (`curl localhost:…`)
//!       ct status dnat  ip daddr . l4proto . dport { <node> . tcp . 8080, … }
//!         ip dscp set 0x35  snat to <this node's underlay address>
//! sandbox table ip shoal-<tag>-mesh
//!   chain prerouting (nat, prerouting, dstnat):
//!       iifname "lnk" meta l4proto . th dport vmap { tcp . 8080 : goto port-0, … }
//!   chain port-<n>      numgen random mod N vmap { 0 : goto port-<n>-ep-0, … }
//!                       (forwarded ports: over this node's tasks, and over all from the host link's address)
//!   chain port-<n>-ep-<m>  dnat to task:target
//!   chain postrouting (nat, postrouting, srcnat):
//!       per published port: iifname "lnk" oifname "eth0" meta l4proto tcp
//!         ct original proto-dst 8080 ip daddr { its tasks on other nodes } snat to <sandbox address>
//!       (none for route-return ports: `mesh_return` routes their replies back)
//!   chain forward (filter, forward):
//!       iifname "eth0" oifname "lnk" ct state new drop     (tasks get no way out through it)
//! ```
//!
//! The host picks the task. One on this node: the connection goes to the sandbox, which picks
//! among this node's tasks, and the client's address stays the source (the task's reply goes
//! to the overlay's gateway, whose namespace routes it back to the sandbox, so conntrack undoes
//! the DNAT on the way out). One on another node: the host forwards the connection across the
//! underlay to the same published port of that node, SNATed to this node's address (the task
//! would otherwise answer the client from its own node), its first packet marked with DSCP
//! 0x35 so that node hands it to its sandbox, which picks among its own tasks: the chance of
//! each task stays 1/N. No VXLAN, no second sandbox: the forwarded path costs about one
//! routed hop more than a connection to the task's own node. Connections are tracked by
//! conntrack (established TCP: days), not IPVS's 900 s idle timer.
//!
//! Some connections keep Swarm's path over the ingress overlay instead, the sandbox balancing
//! over every node's tasks: route-return ports (the client's address must reach the task, so
//! nothing may SNAT them), every port on an encrypted ingress network (only its tunnels may
//! carry that traffic), and clients on the node itself at a loopback address, which cannot be
//! routed out of the node (the host SNATs them to its link address, by which the sandbox
//! tells them apart).
//!
//! Host-mode ports use the same two steps with this node's tasks only, and are published only on
//! a node running one of them.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use nftables::batch::Batch;
use nftables::expr::{
    BinaryOperation, CT, CTDir, Expression, Fib, FibFlag, FibResult, MetaKey, NamedExpression, Prefix,
    SetItem,
};
use nftables::schema::{Chain, NfListObject, Nftables};
use nftables::stmt::{JumpTarget, Mangle, Match, NAT, Operator, Statement, VerdictMap};
use nftables::types::{NfChainPolicy, NfChainType, NfFamily, NfHook};

use crate::error::{Error, Result};
use crate::vip::{
    Protocol, ct, dnat, family_table, goto, key_of, meta, payload, plain_chain, random_choice, rule,
    tuple_of_packet,
};

/// The sandbox's end of its link to the host.
pub const SANDBOX_LINK: &str = "lnk";
/// The sandbox's interface on the ingress overlay.
pub const SANDBOX_OVERLAY_IF: &str = "eth0";
/// The host's end of the link (a /30 of link-local addresses, private to the node).
pub const HOST_LINK_ADDRESS: Ipv4Addr = Ipv4Addr::new(169, 254, 197, 1);
/// The sandbox's end of the link: where the host DNATs published ports.
pub const SANDBOX_LINK_ADDRESS: Ipv4Addr = Ipv4Addr::new(169, 254, 197, 2);
/// The link's prefix length.
pub const LINK_PREFIX: u8 = 30;

/// The DSCP of the first packet of a connection one node forwards to another's published port
/// (from the pool RFC 2474 leaves for local use): the receiving node gives it to one of its own
/// tasks instead of balancing it again. A client that sets it itself only narrows its own
/// choice to the receiving node's tasks.
pub const FORWARDED_DSCP: u32 = 0x35;

/// The conntrack mark bit the host sets on every connection it DNATs for a published port (ORed
/// in, so others' bits stay): a firewall that drops forwarded traffic lets these through by one
/// rule (`firewall.rs`).
pub const CT_MARK: u32 = 0x0100_0000;

/// nft's priorities for the nat hooks.
const DSTNAT: i32 = -100;
const SRCNAT: i32 = 100;

/// How a published port reaches its tasks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PublishMode {
    /// Every node answers and balances over every task (the routing mesh).
    Ingress,
    /// Only nodes running a task answer, each to its own tasks.
    Host,
}

/// One port this node publishes and the tasks behind it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MeshPort {
    /// TCP or UDP.
    pub protocol: Protocol,
    /// The port on the node.
    pub published: u16,
    /// The port in the task.
    pub target: u16,
    /// Ingress or host mode.
    pub mode: PublishMode,
    /// Serving tasks' ingress addresses on this node.
    pub local: Vec<Ipv4Addr>,
    /// Serving tasks on other nodes (ingress mode only).
    pub remote: Vec<RemoteTask>,
    /// Route-return: no SNAT towards other nodes' tasks, which route their replies back here
    /// (`mesh_return`), so they see the client's address.
    pub route_return: bool,
    /// The host forwards connections for other nodes' tasks across the underlay to their node
    /// (see the module's doc); false on an encrypted ingress network, whose traffic only its
    /// tunnels may carry. Route-return ports never forward.
    pub forward: bool,
}

/// A serving task on another node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct RemoteTask {
    /// Its ingress address.
    pub addr: Ipv4Addr,
    /// Its node's underlay address, where this node forwards connections for it.
    pub node: Ipv4Addr,
}

impl MeshPort {
    /// The backends the sandbox balances over.
    /// This node's tasks first, so the first `local.len()` are this node's.
    fn backends(&self) -> Vec<Ipv4Addr> {
        match self.mode {
            PublishMode::Ingress => self
                .local
                .iter()
                .copied()
                .chain(self.remote.iter().map(|r| r.addr))
                .collect(),
            PublishMode::Host => self.local.clone(),
        }
    }

    /// Whether the host forwards connections for other nodes' tasks to those nodes.
    fn forwards(&self) -> bool {
        self.mode == PublishMode::Ingress && self.forward && !self.route_return
    }

    /// Whether the host answers on this port at all.
    fn published_here(&self) -> bool {
        match self.mode {
            PublishMode::Ingress => true,
            PublishMode::Host => !self.local.is_empty(),
        }
    }
}

/// Whether the host namespace holds the mesh's table for `ports`: only while the host answers
/// on one of them.
pub(crate) fn host_table_needed(ports: &[MeshPort]) -> bool {
    ports.iter().any(MeshPort::published_here)
}

/// The mesh table's name.
pub fn table_name(tag: &str) -> String {
    format!("{}-mesh", crate::names::nft_table(tag))
}

/// Refuses a (protocol, port) given twice.
fn check(ports: &[MeshPort]) -> Result<()> {
    let mut seen = BTreeSet::new();
    for p in ports {
        if !seen.insert((p.protocol.keyword(), p.published)) {
            return Err(Error::Invalid(format!(
                "published port {}/{} is given twice",
                p.published,
                p.protocol.keyword()
            )));
        }
    }
    Ok(())
}

fn base_chain(table: &str, name: &'static str, kind: NfChainType, hook: NfHook, prio: i32) -> Chain<'static> {
    Chain {
        family: NfFamily::IP,
        table: Cow::Owned(table.to_owned()),
        name: Cow::Borrowed(name),
        _type: Some(kind),
        hook: Some(hook),
        prio: Some(prio),
        policy: Some(NfChainPolicy::Accept),
        ..Chain::default()
    }
}

/// `meta l4proto . th dport`.
fn proto_port() -> Expression<'static> {
    Expression::Named(NamedExpression::Concat(vec![
        meta(MetaKey::L4proto),
        payload("th", "dport"),
    ]))
}

fn proto_port_key(p: &MeshPort) -> Expression<'static> {
    Expression::Named(NamedExpression::Concat(vec![
        Expression::String(Cow::Borrowed(p.protocol.keyword())),
        Expression::Number(u32::from(p.published)),
    ]))
}

fn is(left: Expression<'static>, right: Expression<'static>) -> Statement<'static> {
    Statement::Match(Match {
        left,
        right,
        op: Operator::EQ,
    })
}

fn string(s: &str) -> Expression<'static> {
    Expression::String(Cow::Owned(s.to_owned()))
}

fn set_of(addresses: &[Ipv4Addr]) -> Expression<'static> {
    Expression::Named(NamedExpression::Set(
        addresses
            .iter()
            .map(|a| SetItem::Element(string(&a.to_string())))
            .collect(),
    ))
}

/// The start of a transaction replacing `table` (deleted whether or not it existed).
fn replace(table: &str) -> Batch<'static> {
    let mut batch = Batch::new();
    batch.add(NfListObject::Table(family_table(table)));
    batch.delete(NfListObject::Table(family_table(table)));
    batch
}

fn fib_local() -> Statement<'static> {
    // Only what is addressed to this node: traffic it routes for others keeps going.
    is(
        Expression::Named(NamedExpression::Fib(Fib {
            result: FibResult::Type,
            flags: [FibFlag::Daddr].into_iter().collect(),
        })),
        string("local"),
    )
}

fn loopback() -> Expression<'static> {
    Expression::Named(NamedExpression::Prefix(Prefix {
        addr: Box::new(string("127.0.0.0")),
        len: 8,
    }))
}

fn set(items: Vec<SetItem<'static>>) -> Expression<'static> {
    Expression::Named(NamedExpression::Set(items))
}

/// The host namespace's table: each published port to the sandbox, or, for a task on another
/// node, forwarded there across the underlay from `underlay` (this node's address). No port
/// published here: the table is removed.
pub fn host_ruleset(table: &str, underlay: Ipv4Addr, ports: &[MeshPort]) -> Result<Nftables<'static>> {
    check(ports)?;
    let mut batch = replace(table);
    if !host_table_needed(ports) {
        return Ok(batch.to_nftables());
    }
    let published: Vec<SetItem<'static>> = ports
        .iter()
        .filter(|p| p.published_here())
        .map(|p| SetItem::Element(proto_port_key(p)))
        .collect();
    batch.add(NfListObject::Table(family_table(table)));
    let forwarding: Vec<(usize, &MeshPort)> = ports
        .iter()
        .enumerate()
        .filter(|(_, p)| p.forwards() && !p.remote.is_empty())
        .collect();
    // Connections another node forwarded here, for a port with a task here: to those tasks.
    let kept: Vec<SetItem<'static>> = ports
        .iter()
        .filter(|p| p.forwards() && !p.local.is_empty())
        .map(|p| SetItem::Element(proto_port_key(p)))
        .collect();
    let to_forwarding = || {
        Statement::VerdictMap(VerdictMap {
            key: proto_port(),
            data: set(forwarding
                .iter()
                .map(|(n, p)| SetItem::Mapping(proto_port_key(p), goto(&format!("fwd-{n}"))))
                .collect()),
        })
    };
    // Chains before the rules that jump to them.
    batch.add(NfListObject::Chain(plain_chain(table, "to-sandbox")));
    batch.add(NfListObject::Rule(rule(
        table,
        "to-sandbox",
        vec![mark(), dnat(SANDBOX_LINK_ADDRESS, None)],
    )));
    let forwarded = forward_chains(&mut batch, table, &forwarding);
    for (name, hook) in [("prerouting", NfHook::Prerouting), ("output", NfHook::Output)] {
        batch.add(NfListObject::Chain(base_chain(
            table,
            name,
            NfChainType::NAT,
            hook,
            DSTNAT,
        )));
        if hook == NfHook::Prerouting && !kept.is_empty() {
            batch.add(NfListObject::Rule(rule(
                table,
                name,
                vec![
                    fib_local(),
                    is(payload("ip", "dscp"), Expression::Number(FORWARDED_DSCP)),
                    is(proto_port(), set(kept.clone())),
                    to_sandbox(),
                ],
            )));
        }
        if !forwarding.is_empty() {
            let mut statements = Vec::new();
            if hook == NfHook::Output {
                // A loopback source cannot leave the node: the sandbox's path for those.
                statements.push(Statement::Match(Match {
                    left: payload("ip", "saddr"),
                    right: loopback(),
                    op: Operator::NEQ,
                }));
            }
            statements.extend([fib_local(), to_forwarding()]);
            batch.add(NfListObject::Rule(rule(table, name, statements)));
        }
        batch.add(NfListObject::Rule(rule(
            table,
            name,
            vec![
                fib_local(),
                is(proto_port(), set(published.clone())),
                to_sandbox(),
            ],
        )));
    }
    batch.add(NfListObject::Chain(base_chain(
        table,
        "postrouting",
        NfChainType::NAT,
        NfHook::Postrouting,
        SRCNAT,
    )));
    // A client on the node itself at a loopback address (`curl localhost:8080`, as on a Swarm
    // node): the output chain's DNAT sends it out of the host link (which allows a loopback
    // source: `route_localnet`, set by `ingress.rs`), and the sandbox could not answer a
    // loopback address, so it gets the host's end of the link as its source.
    batch.add(NfListObject::Rule(rule(
        table,
        "postrouting",
        vec![
            is(payload("ip", "saddr"), loopback()),
            is(payload("ip", "daddr"), string(&SANDBOX_LINK_ADDRESS.to_string())),
            snat_to(HOST_LINK_ADDRESS),
        ],
    )));
    if !forwarded.is_empty() {
        let targets = forwarded
            .into_iter()
            .map(|(node, protocol, port)| SetItem::Element(key_of(node, protocol, port)))
            .collect();
        batch.add(NfListObject::Rule(rule(
            table,
            "postrouting",
            vec![
                Statement::Match(Match {
                    left: ct("status"),
                    right: string("dnat"),
                    op: Operator::IN,
                }),
                is(tuple_of_packet(), set(targets)),
                Statement::Mangle(Mangle {
                    key: payload("ip", "dscp"),
                    value: Expression::Number(FORWARDED_DSCP),
                }),
                snat_to(underlay),
            ],
        )));
    }
    Ok(batch.to_nftables())
}

/// Per forwarded port `n`, chain `fwd-<n>`: `numgen` over its tasks, this node's to the
/// sandbox (`to-sandbox`), each other node's task to a chain DNATing to that node. Returns the
/// (node, protocol, port) the chains forward to.
fn forward_chains(
    batch: &mut Batch<'static>,
    table: &str,
    forwarding: &[(usize, &MeshPort)],
) -> BTreeSet<(Ipv4Addr, Protocol, u16)> {
    let mut forwarded = BTreeSet::new();
    for (n, port) in forwarding {
        let chain = format!("fwd-{n}");
        let mut choices: Vec<SetItem<'static>> = (0..port.local.len())
            .map(|i| SetItem::Mapping(Expression::Number(i as u32), goto("to-sandbox")))
            .collect();
        for (k, task) in port.remote.iter().enumerate() {
            let endpoint = format!("{chain}-ep-{k}");
            choices.push(SetItem::Mapping(
                Expression::Number((port.local.len() + k) as u32),
                goto(&endpoint),
            ));
            batch.add(NfListObject::Chain(plain_chain(table, &endpoint)));
            batch.add(NfListObject::Rule(rule(
                table,
                &endpoint,
                vec![
                    is(meta(MetaKey::L4proto), string(port.protocol.keyword())),
                    mark(),
                    dnat(task.node, None),
                ],
            )));
            forwarded.insert((task.node, port.protocol, port.published));
        }
        batch.add(NfListObject::Chain(plain_chain(table, &chain)));
        batch.add(NfListObject::Rule(rule(
            table,
            &chain,
            vec![random_choice(port.local.len() + port.remote.len(), choices)],
        )));
    }
    forwarded
}

/// `goto to-sandbox`: marked and DNATed to the sandbox there.
fn to_sandbox() -> Statement<'static> {
    Statement::Goto(JumpTarget {
        target: Cow::Borrowed("to-sandbox"),
    })
}

/// `ct mark set ct mark | CT_MARK`.
fn mark() -> Statement<'static> {
    Statement::Mangle(Mangle {
        key: ct("mark"),
        value: Expression::BinaryOperation(Box::new(BinaryOperation::OR(vec![
            ct("mark"),
            Expression::Number(CT_MARK),
        ]))),
    })
}

fn snat_to(address: Ipv4Addr) -> Statement<'static> {
    Statement::SNAT(Some(NAT {
        addr: Some(string(&address.to_string())),
        family: None,
        port: None,
        flags: None,
    }))
}

/// The ingress sandbox's table: each port balanced over its tasks (`numgen random`), SNAT to
/// `sandbox_address` towards tasks on other nodes only.
pub fn sandbox_ruleset(
    table: &str,
    sandbox_address: Ipv4Addr,
    ports: &[MeshPort],
) -> Result<Nftables<'static>> {
    check(ports)?;
    let mut batch = replace(table);
    batch.add(NfListObject::Table(family_table(table)));
    batch.add(NfListObject::Chain(base_chain(
        table,
        "prerouting",
        NfChainType::NAT,
        NfHook::Prerouting,
        DSTNAT,
    )));
    batch.add(NfListObject::Chain(base_chain(
        table,
        "postrouting",
        NfChainType::NAT,
        NfHook::Postrouting,
        SRCNAT,
    )));
    batch.add(NfListObject::Chain(base_chain(
        table,
        "forward",
        NfChainType::Filter,
        NfHook::Forward,
        0,
    )));
    // Replies of local tasks pass here (established); nothing new leaves the overlay this way.
    batch.add(NfListObject::Rule(rule(
        table,
        "forward",
        vec![
            is(meta(MetaKey::Iifname), string(SANDBOX_OVERLAY_IF)),
            is(meta(MetaKey::Oifname), string(SANDBOX_LINK)),
            is(ct("state"), string("new")),
            Statement::Drop(None),
        ],
    )));

    let mut entries = Vec::new();
    let mut rules = Vec::new();
    let mut snat = Vec::new();
    for (n, port) in ports.iter().enumerate() {
        let backends = port.backends();
        if backends.is_empty() {
            // Nothing serves it: the connection reaches the sandbox itself, which refuses it.
            continue;
        }
        if port.mode == PublishMode::Ingress && !port.route_return && !port.remote.is_empty() {
            snat.push(port);
        }
        let chain = format!("port-{n}");
        entries.push(SetItem::Mapping(proto_port_key(port), goto(&chain)));
        let mut choices = Vec::new();
        for (b, backend) in backends.iter().enumerate() {
            let endpoint = format!("{chain}-ep-{b}");
            choices.push(SetItem::Mapping(Expression::Number(b as u32), goto(&endpoint)));
            batch.add(NfListObject::Chain(plain_chain(table, &endpoint)));
            rules.push(rule(
                table,
                &endpoint,
                vec![
                    is(meta(MetaKey::L4proto), string(port.protocol.keyword())),
                    dnat(*backend, Some(port.target)),
                ],
            ));
        }
        batch.add(NfListObject::Chain(plain_chain(table, &chain)));
        if port.forwards() && !port.remote.is_empty() {
            // The host chose this node's tasks for everything it sends here, except its
            // loopback clients (SNATed to its link address), for which it chose nothing.
            rules.push(rule(
                table,
                &chain,
                vec![
                    is(payload("ip", "saddr"), string(&HOST_LINK_ADDRESS.to_string())),
                    random_choice(backends.len(), choices.clone()),
                ],
            ));
            choices.truncate(port.local.len());
        }
        if !choices.is_empty() {
            rules.push(rule(table, &chain, vec![random_choice(choices.len(), choices)]));
        }
    }
    if !entries.is_empty() {
        batch.add(NfListObject::Rule(rule(
            table,
            "prerouting",
            vec![
                is(meta(MetaKey::Iifname), string(SANDBOX_LINK)),
                Statement::VerdictMap(VerdictMap {
                    key: proto_port(),
                    data: Expression::Named(NamedExpression::Set(entries)),
                }),
            ],
        )));
    }
    // SNAT per published port, told apart by the connection's original destination port (after
    // the DNAT two ports of one task share the target port): a route-return port of a task
    // keeps the client's address while its other ports are SNATed.
    for port in snat {
        let remote: Vec<Ipv4Addr> = port
            .remote
            .iter()
            .map(|r| r.addr)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        batch.add(NfListObject::Rule(rule(
            table,
            "postrouting",
            vec![
                is(meta(MetaKey::Iifname), string(SANDBOX_LINK)),
                is(meta(MetaKey::Oifname), string(SANDBOX_OVERLAY_IF)),
                is(meta(MetaKey::L4proto), string(port.protocol.keyword())),
                is(
                    Expression::Named(NamedExpression::CT(CT {
                        key: Cow::Borrowed("proto-dst"),
                        family: None,
                        dir: Some(CTDir::Original),
                    })),
                    Expression::Number(u32::from(port.published)),
                ),
                is(payload("ip", "daddr"), set_of(&remote)),
                snat_to(sandbox_address),
            ],
        )));
    }
    for r in rules {
        batch.add(NfListObject::Rule(r));
    }
    Ok(batch.to_nftables())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> Ipv4Addr {
        Ipv4Addr::new(10, 0, 0, last)
    }

    /// A port whose remote tasks run on node `192.168.0.<task's last octet>`; not forwarded
    /// (Swarm's path over the ingress overlay) unless the test says so.
    fn port(mode: PublishMode, local: Vec<Ipv4Addr>, remote: Vec<Ipv4Addr>) -> MeshPort {
        MeshPort {
            protocol: Protocol::Tcp,
            published: 8080,
            target: 80,
            mode,
            local,
            remote: remote
                .into_iter()
                .map(|addr| RemoteTask {
                    addr,
                    node: node(addr.octets()[3]),
                })
                .collect(),
            route_return: false,
            forward: false,
        }
    }

    fn node(last: u8) -> Ipv4Addr {
        Ipv4Addr::new(192, 168, 0, last)
    }

    const UNDERLAY: Ipv4Addr = Ipv4Addr::new(192, 168, 0, 1);

    fn json(rules: &Nftables<'_>) -> String {
        serde_json::to_string(rules).expect("json")
    }

    #[test]
    fn the_host_sends_every_ingress_port_to_the_sandbox() {
        let ports = [port(PublishMode::Ingress, vec![], vec![ip(5)])];
        let j = json(&host_ruleset("shoal-t-mesh", UNDERLAY, &ports).expect("rules"));
        assert!(j.contains(r#"{"concat":["tcp",8080]}"#), "{j}");
        assert!(j.contains(r#""dnat":{"addr":"169.254.197.2"}"#), "{j}");
        assert!(j.contains(r#""fib":{"result":"type","flags":["daddr"]}"#), "{j}");
        assert!(
            j.contains(r#""hook":"output""#) && j.contains(r#""hook":"prerouting""#),
            "{j}"
        );
        // A loopback client is given the host's end of the link as its source.
        assert!(j.contains(r#""prefix":{"addr":"127.0.0.0","len":8}"#), "{j}");
        assert!(j.contains(r#""snat":{"addr":"169.254.197.1"}"#), "{j}");
    }

    #[test]
    fn a_host_mode_port_is_published_only_where_a_task_runs() {
        let elsewhere = [port(PublishMode::Host, vec![], vec![ip(5)])];
        let j = json(&host_ruleset("shoal-t-mesh", UNDERLAY, &elsewhere).expect("rules"));
        assert!(!j.contains("8080") && !j.contains(r#""chain""#), "{j}");
        let here = [port(PublishMode::Host, vec![ip(6)], vec![ip(5)])];
        let j = json(&sandbox_ruleset("shoal-t-mesh", ip(200), &here).expect("rules"));
        assert!(j.contains(r#""dnat":{"addr":"10.0.0.6","port":80}"#), "{j}");
        assert!(!j.contains("10.0.0.5"), "only this node's task: {j}");
        assert!(!j.contains(r#""snat""#), "{j}");
    }

    #[test]
    fn the_sandbox_balances_over_all_tasks_and_snats_only_towards_other_nodes() {
        let ports = [port(PublishMode::Ingress, vec![ip(6)], vec![ip(5), ip(7)])];
        let j = json(&sandbox_ruleset("shoal-t-mesh", ip(200), &ports).expect("rules"));
        assert!(j.contains(r#""numgen":{"mode":"random","mod":3}"#), "{j}");
        for b in [5, 6, 7] {
            assert!(
                j.contains(&format!(r#""dnat":{{"addr":"10.0.0.{b}","port":80}}"#)),
                "{j}"
            );
        }
        assert!(j.contains(r#""snat":{"addr":"10.0.0.200"}"#), "{j}");
        let snat_rule = j.split(r#""postrouting""#).last().expect("postrouting");
        assert!(
            snat_rule.contains("10.0.0.5") && snat_rule.contains("10.0.0.7"),
            "{j}"
        );
        assert!(
            !snat_rule
                .split(r#""snat""#)
                .next()
                .unwrap_or("")
                .contains("10.0.0.6"),
            "{j}"
        );
    }

    #[test]
    fn a_route_return_port_is_not_snated_towards_other_nodes() {
        let mut p = port(PublishMode::Ingress, vec![ip(6)], vec![ip(5)]);
        p.route_return = true;
        let j = json(&sandbox_ruleset("shoal-t-mesh", ip(200), &[p]).expect("rules"));
        assert!(j.contains(r#""dnat":{"addr":"10.0.0.5","port":80}"#), "{j}");
        assert!(!j.contains(r#""snat""#), "{j}");
    }

    #[test]
    fn snat_is_per_published_port_so_a_tasks_other_port_can_route_return() {
        let plain = port(PublishMode::Ingress, vec![], vec![ip(5)]);
        let mut kept = port(PublishMode::Ingress, vec![], vec![ip(5)]);
        kept.published = 8081;
        kept.route_return = true;
        let j = json(&sandbox_ruleset("shoal-t-mesh", ip(200), &[plain, kept]).expect("rules"));
        assert_eq!(j.matches(r#""snat""#).count(), 1, "{j}");
        let snat_rule = j.split(r#""postrouting""#).last().expect("postrouting");
        assert!(
            snat_rule.contains(r#""key":"proto-dst","dir":"original""#) && snat_rule.contains(":8080,"),
            "{j}"
        );
        assert!(!snat_rule.contains("8081"), "{j}");
    }

    #[test]
    fn without_forwarding_the_host_only_sends_to_the_sandbox() {
        let ports = [port(PublishMode::Ingress, vec![ip(6)], vec![ip(5)])];
        let j = json(&host_ruleset("shoal-t-mesh", UNDERLAY, &ports).expect("rules"));
        assert!(
            !j.contains("fwd-") && !j.contains("dscp") && !j.contains("192.168.0.5"),
            "{j}"
        );
    }

    #[test]
    fn the_host_forwards_other_nodes_tasks_across_the_underlay_with_the_same_odds() {
        let mut p = port(PublishMode::Ingress, vec![ip(6)], vec![ip(5), ip(7)]);
        p.forward = true;
        let j = json(&host_ruleset("shoal-t-mesh", UNDERLAY, &[p.clone()]).expect("rules"));
        // One choice in three to this node's sandbox, one to each other node, port unchanged.
        assert!(j.contains(r#""numgen":{"mode":"random","mod":3}"#), "{j}");
        assert!(j.contains(r#"[0,{"goto":{"target":"to-sandbox"}}]"#), "{j}");
        for n in [5, 7] {
            assert!(
                j.contains(&format!(r#""dnat":{{"addr":"192.168.0.{n}"}}"#)),
                "{j}"
            );
        }
        // Forwarded connections: marked and SNATed to this node's address.
        assert!(
            j.contains(r#""mangle":{"key":{"payload":{"protocol":"ip","field":"dscp"}},"value":53}"#),
            "{j}"
        );
        assert!(j.contains(r#""snat":{"addr":"192.168.0.1"}"#), "{j}");
        assert!(j.contains(r#"{"concat":["192.168.0.5","tcp",8080]}"#), "{j}");
        // Every connection the host DNATs carries the mark its firewall rule accepts.
        let marks = j.matches(
            r#""mangle":{"key":{"ct":{"key":"mark"}},"value":{"|":[{"ct":{"key":"mark"}},16777216]}}"#,
        );
        assert_eq!(marks.count(), j.matches(r#""dnat":{"#).count(), "{j}");
        // What another node forwarded here goes to this node's tasks.
        let prerouting = j.split(r#""chain":"output""#).next().expect("prerouting first");
        assert!(prerouting.contains(r#""right":53"#), "{j}");
        // Loopback clients on the node keep the sandbox's path.
        assert!(j.contains(r#""op":"!=""#), "{j}");

        // The sandbox: everything over this node's task, the host link's address over all.
        let j = json(&sandbox_ruleset("shoal-t-mesh", ip(200), &[p]).expect("rules"));
        assert!(j.contains(r#""numgen":{"mode":"random","mod":1}"#), "{j}");
        assert!(j.contains(r#""numgen":{"mode":"random","mod":3}"#), "{j}");
        assert!(j.contains(r#""right":"169.254.197.1""#), "{j}");
    }

    #[test]
    fn route_return_ports_never_forward() {
        let mut p = port(PublishMode::Ingress, vec![], vec![ip(5)]);
        p.forward = true;
        p.route_return = true;
        let j = json(&host_ruleset("shoal-t-mesh", UNDERLAY, &[p.clone()]).expect("rules"));
        assert!(!j.contains("fwd-") && !j.contains("192.168.0.5"), "{j}");
        let j = json(&sandbox_ruleset("shoal-t-mesh", ip(200), &[p]).expect("rules"));
        assert!(j.contains(r#""dnat":{"addr":"10.0.0.5","port":80}"#), "{j}");
        assert!(!j.contains("169.254.197.1"), "{j}");
    }

    #[test]
    fn a_port_given_twice_is_refused_and_no_task_means_no_rule() {
        let p = port(PublishMode::Ingress, vec![], vec![]);
        assert!(host_ruleset("t", UNDERLAY, &[p.clone(), p.clone()]).is_err());
        let j = json(&sandbox_ruleset("t", ip(200), &[p]).expect("rules"));
        assert!(!j.contains("numgen") && !j.contains("8080"), "{j}");
    }
}
