//! Route-return: how a task answers a mesh connection that kept the client's address although
//! another node's ingress sandbox received it (`com.shoal.mesh.client-address=route-return`).
//!
//! ```text
//!  node A: client ─► :8080 ─ DNAT ─► sandbox A ─ DNAT to task (no SNAT) ─ VXLAN ─┐
//!  node B: task's namespace  ◄── src client, ether saddr 02:42:<sandbox A's address>
//!          prerouting: new, from outside the subnet ─► ct mark = sandbox A's address
//!          reply: output (route) meta mark = ct mark ─► ip rule fwmark A lookup table A
//!          table A: default via sandbox A ─ VXLAN ─► sandbox A (un-DNAT) ─► host A ─► client
//! ```
//! The task's namespace is the only routed hop on node B that sees both directions, so the
//! choice is made there: the sending sandbox is read from the frame's source MAC (every
//! endpoint's MAC is `02:42` + its address), kept in the connection's mark, and the reply is
//! routed by that mark back through the sandbox that DNATed it, whose conntrack undoes the
//! translation. Marks and table IDs are the sandboxes' addresses, so a node joining or leaving
//! changes no other node's mark and established connections keep their route.

use std::borrow::Cow;
use std::net::Ipv4Addr;
use std::path::Path;

use futures::TryStreamExt;
use ipnet::Ipv4Net;
use nftables::batch::Batch;
use nftables::expr::{Expression, Map, MetaKey, NamedExpression, Prefix, SetItem};
use nftables::schema::{Chain, NfListObject, Nftables};
use nftables::stmt::{Mangle, Match, Operator, Statement};
use nftables::types::{NfChainPolicy, NfChainType, NfFamily, NfHook};
use rtnetlink::RouteMessageBuilder;
use rtnetlink::packet_route::rule::RuleAttribute;

use crate::error::{Error, Result};
use crate::links;
use crate::netns::{self, Netlink};
use crate::plane::Plane;
use crate::vip::{ct, family_table, meta, payload, rule};

/// The nft table in a task's namespace.
pub const TABLE: &str = "shoal-mesh-return";
/// The priority of the policy rules (one per node's sandbox), below `main` (32766).
pub const RULE_PRIORITY: u32 = 20000;
/// nft's mangle priority.
const MANGLE: i32 = -150;

/// What a task's namespace needs to answer route-return connections.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MeshReturn {
    /// The task's interface on the ingress network.
    pub ifname: String,
    /// The ingress subnet: connections from inside it were SNATed and need nothing.
    pub subnet: Ipv4Net,
    /// Every node's ingress sandbox address, sorted.
    pub sandboxes: Vec<Ipv4Addr>,
}

/// The mark (and routing table) of connections a sandbox at `address` sent.
pub fn mark_of(address: Ipv4Addr) -> u32 {
    u32::from(address)
}

fn chain(name: &'static str, kind: NfChainType, hook: NfHook) -> Chain<'static> {
    Chain {
        family: NfFamily::IP,
        table: Cow::Borrowed(TABLE),
        name: Cow::Borrowed(name),
        _type: Some(kind),
        hook: Some(hook),
        prio: Some(MANGLE),
        policy: Some(NfChainPolicy::Accept),
        ..Chain::default()
    }
}

fn matches(left: Expression<'static>, op: Operator, right: Expression<'static>) -> Statement<'static> {
    Statement::Match(Match { left, right, op })
}

/// The task namespace's table for `route` (replacing any earlier one); no sandboxes: none.
pub fn ruleset(route: &MeshReturn) -> Nftables<'static> {
    let mut batch = Batch::new();
    batch.add(NfListObject::Table(family_table(TABLE)));
    batch.delete(NfListObject::Table(family_table(TABLE)));
    if route.sandboxes.is_empty() {
        return batch.to_nftables();
    }
    batch.add(NfListObject::Table(family_table(TABLE)));
    batch.add(NfListObject::Chain(chain(
        "prerouting",
        NfChainType::Filter,
        NfHook::Prerouting,
    )));
    // A route chain re-routes a locally sent packet whose mark it changed.
    batch.add(NfListObject::Chain(chain(
        "output",
        NfChainType::Route,
        NfHook::Output,
    )));
    let by_mac: Vec<SetItem<'static>> = route
        .sandboxes
        .iter()
        .map(|s| {
            let mac = crate::names::mac_text(*s);
            SetItem::Mapping(
                Expression::String(Cow::Owned(mac)),
                Expression::Number(mark_of(*s)),
            )
        })
        .collect();
    batch.add(NfListObject::Rule(rule(
        TABLE,
        "prerouting",
        vec![
            matches(
                meta(MetaKey::Iifname),
                Operator::EQ,
                Expression::String(Cow::Owned(route.ifname.clone())),
            ),
            matches(
                ct("state"),
                Operator::EQ,
                Expression::String(Cow::Borrowed("new")),
            ),
            matches(
                payload("ip", "saddr"),
                Operator::NEQ,
                Expression::Named(NamedExpression::Prefix(Prefix {
                    addr: Box::new(Expression::String(Cow::Owned(route.subnet.network().to_string()))),
                    len: u32::from(route.subnet.prefix_len()),
                })),
            ),
            Statement::Mangle(Mangle {
                key: ct("mark"),
                value: Expression::Named(NamedExpression::Map(Box::new(Map {
                    key: payload("ether", "saddr"),
                    data: Expression::Named(NamedExpression::Set(by_mac)),
                }))),
            }),
        ],
    )));
    batch.add(NfListObject::Rule(rule(
        TABLE,
        "output",
        vec![
            matches(ct("mark"), Operator::NEQ, Expression::Number(0)),
            Statement::Mangle(Mangle {
                key: meta(MetaKey::Mark),
                value: ct("mark"),
            }),
        ],
    )));
    batch.to_nftables()
}

impl Plane {
    /// Makes the task namespace at `netns` route replies of route-return connections back
    /// through the sandbox that sent them: its nft table, then one policy rule and one
    /// routing table per sandbox (new ones added before stale ones go).
    pub async fn set_mesh_return(&self, task_netns: &Path, route: &MeshReturn) -> Result<()> {
        let rules = ruleset(route);
        let path = task_netns.to_owned();
        netns::run_in(task_netns, move || {
            nftables::helper::apply_ruleset(&rules).map_err(|source| Error::Nftables { netns: path, source })
        })
        .await?;
        let task = Netlink::open(task_netns).await?;
        let handle = &task.handle;
        let present = return_rules(handle).await?;
        if !route.sandboxes.is_empty() {
            let index = links::index(handle, &route.ifname)
                .await?
                .ok_or_else(|| Error::Invalid(format!("the task has no interface {}", route.ifname)))?;
            for sandbox in &route.sandboxes {
                let mark = mark_of(*sandbox);
                let via = RouteMessageBuilder::<Ipv4Addr>::new()
                    .gateway(*sandbox)
                    .output_interface(index)
                    .table_id(mark)
                    .build();
                handle
                    .route()
                    .add(via)
                    .replace()
                    .execute()
                    .await
                    .map_err(|source| Error::netlink(format!("route back via {sandbox}"), source))?;
                if !present.contains(&mark) {
                    handle
                        .rule()
                        .add()
                        .v4()
                        .fw_mark(mark)
                        .table_id(mark)
                        .priority(RULE_PRIORITY)
                        .action(rtnetlink::packet_route::rule::RuleAction::ToTable)
                        .execute()
                        .await
                        .map_err(|source| Error::netlink(format!("rule for marks of {sandbox}"), source))?;
                }
            }
        }
        let wanted: Vec<u32> = route.sandboxes.iter().map(|s| mark_of(*s)).collect();
        let mut stale = handle.rule().get(rtnetlink::IpVersion::V4).execute();
        let mut gone = Vec::new();
        while let Some(message) = stale
            .try_next()
            .await
            .map_err(|source| Error::netlink("list policy rules", source))?
        {
            if let Some(mark) = return_mark(&message)
                && !wanted.contains(&mark)
            {
                gone.push(message);
            }
        }
        for message in gone {
            handle
                .rule()
                .del(message)
                .execute()
                .await
                .map_err(|source| Error::netlink("remove a stale return rule", source))?;
        }
        Ok(())
    }
}

/// The mark of one of our return rules, if `message` is one.
fn return_mark(message: &rtnetlink::packet_route::rule::RuleMessage) -> Option<u32> {
    let ours = message
        .attributes
        .iter()
        .any(|a| matches!(a, RuleAttribute::Priority(p) if *p == RULE_PRIORITY));
    if !ours {
        return None;
    }
    message.attributes.iter().find_map(|a| match a {
        RuleAttribute::FwMark(mark) => Some(*mark),
        _ => None,
    })
}

/// The marks the namespace's return rules already carry.
async fn return_rules(handle: &rtnetlink::Handle) -> Result<Vec<u32>> {
    let mut rules = handle.rule().get(rtnetlink::IpVersion::V4).execute();
    let mut marks = Vec::new();
    while let Some(message) = rules
        .try_next()
        .await
        .map_err(|source| Error::netlink("list policy rules", source))?
    {
        marks.extend(return_mark(&message));
    }
    Ok(marks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_come_from_the_senders_mac_and_replies_follow_them() {
        let route = MeshReturn {
            ifname: "eth1".into(),
            subnet: "10.0.0.0/24".parse().expect("subnet"),
            sandboxes: vec![Ipv4Addr::new(10, 0, 0, 3), Ipv4Addr::new(10, 0, 0, 4)],
        };
        let j = serde_json::to_string(&ruleset(&route)).expect("json");
        assert!(j.contains(r#""02:42:0a:00:00:03",167772163"#), "{j}");
        assert!(j.contains(r#""prefix":{"addr":"10.0.0.0","len":24}"#), "{j}");
        assert!(
            j.contains(r#""type":"route""#) && j.contains(r#""hook":"output""#),
            "{j}"
        );
        let none = serde_json::to_string(&ruleset(&MeshReturn {
            sandboxes: vec![],
            ..route
        }))
        .expect("json");
        assert!(!none.contains("chain"), "{none}");
    }
}
