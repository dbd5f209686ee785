//! What the host namespace needs so that an encrypted network's VXLAN goes through the tunnel and
//! nothing else does:
//!
//! ```text
//!  rule 9000: udp dport 4793 → table 4793   (an encrypted network's VXLAN on its way out)
//!  rule 9001: udp sport 4793 → table 4793   (the same flow reversed: strict rp_filter's check)
//!  table 4793: default dev shoal-wg0         (into the userspace WireGuard loop)
//!              blackhole default metric max  (the agent died: dropped, never sent in the clear)
//!  nft ip shoal-<tag>-crypt: udp dport 4793 from lo with the delivering socket's mark → accept
//!                            udp dport 4793 arriving on any link but shoal-wg0 → drop
//! ```
//!
//! Plain networks' VXLAN (port 4789) never matches the rules and keeps the direct path. The drop
//! is what makes the tunnel authenticating: without it, anyone on the underlay could send VXLAN in
//! the clear to the encrypted port and the kernel would deliver it into the overlay.

use std::borrow::Cow;
use std::net::Ipv4Addr;
use std::path::Path;

use futures::TryStreamExt;
use nftables::batch::Batch;
use nftables::expr::{Expression, Meta, MetaKey, NamedExpression, Payload, PayloadField};
use nftables::schema::{Chain, NfListObject, Rule, Table};
use nftables::stmt::{Match, Operator, Statement};
use nftables::types::{NfChainPolicy, NfChainType, NfFamily, NfHook};
use rtnetlink::packet_route::IpProtocol;
use rtnetlink::packet_route::route::{RouteScope, RouteType};
use rtnetlink::packet_route::rule::{RuleAction, RuleAttribute, RulePortRange};
use rtnetlink::{IpVersion, RouteMessageBuilder};

use super::deliver::DELIVER_MARK;
use super::{ENCRYPTED_VXLAN_PORT, ROUTE_TABLE, RULE_PRIORITY, TUN_NAME};
use crate::error::{Error, Result};
use crate::links;
use crate::netns::{self, Netlink};

/// nft's `raw` priority: the drop happens before conntrack sees the packet.
const RAW: i32 = -300;

/// The nft table of the plane tagged `tag` in the host namespace.
pub(crate) fn nft_table(tag: &str) -> String {
    format!("{}{tag}-crypt", crate::names::PREFIX)
}

/// Routes the encrypted VXLAN port over the TUN device and drops it from anywhere else.
pub(crate) async fn install(host: &Path, tag: &str) -> Result<()> {
    let netlink = Netlink::open(host).await?;
    let handle = &netlink.handle;
    let tun = links::index(handle, TUN_NAME)
        .await?
        .ok_or_else(|| Error::Invalid(format!("the tunnel device {TUN_NAME} is missing")))?;
    handle
        .route()
        .add(
            RouteMessageBuilder::<Ipv4Addr>::new()
                .output_interface(tun)
                .scope(RouteScope::Link)
                .table_id(ROUTE_TABLE)
                .build(),
        )
        .replace()
        .execute()
        .await
        .map_err(|source| Error::netlink("route the encrypted VXLAN port's table over the tunnel", source))?;
    // Below the TUN route, a blackhole: when the agent dies the TUN device and its route go
    // with it, while the rules stay and tasks keep sending; without this, their VXLAN would
    // fall through to the main table and leave in the clear.
    handle
        .route()
        .add(
            RouteMessageBuilder::<Ipv4Addr>::new()
                .kind(RouteType::BlackHole)
                .priority(u32::MAX)
                .table_id(ROUTE_TABLE)
                .build(),
        )
        .replace()
        .execute()
        .await
        .map_err(|source| Error::netlink("put a blackhole under the tunnel's route", source))?;
    remove_rules(handle).await?;
    for (offset, range) in [(0, Port::Destination), (1, Port::Source)] {
        let mut request = handle
            .rule()
            .add()
            .v4()
            .table_id(ROUTE_TABLE)
            .action(RuleAction::ToTable)
            .priority(RULE_PRIORITY + offset);
        let ports = RulePortRange {
            start: ENCRYPTED_VXLAN_PORT,
            end: ENCRYPTED_VXLAN_PORT,
        };
        let attributes = &mut request.message_mut().attributes;
        attributes.push(RuleAttribute::IpProtocol(IpProtocol::Udp));
        attributes.push(match range {
            Port::Destination => RuleAttribute::DestinationPortRange(ports),
            Port::Source => RuleAttribute::SourcePortRange(ports),
        });
        request
            .execute()
            .await
            .map_err(|source| Error::netlink("add the encrypted VXLAN port's routing rule", source))?;
    }
    install_drop(host, tag).await
}

/// Makes the drop table (again, when another program deleted it: `guard.rs`).
pub(crate) async fn install_drop(host: &Path, tag: &str) -> Result<()> {
    let ruleset = drop_ruleset(tag, true);
    let path = host.to_owned();
    netns::run_in(host, move || {
        nftables::helper::apply_ruleset(&ruleset).map_err(|source| Error::Nftables { netns: path, source })
    })
    .await
}

/// Removes the rules, the blackhole and the nft table (the TUN route leaves with the device).
pub(crate) async fn remove(host: &Path, tag: &str) -> Result<()> {
    let netlink = Netlink::open(host).await?;
    remove_rules(&netlink.handle).await?;
    let blackhole = RouteMessageBuilder::<Ipv4Addr>::new()
        .kind(RouteType::BlackHole)
        .priority(u32::MAX)
        .table_id(ROUTE_TABLE)
        .build();
    if let Err(source) = netlink.handle.route().del(blackhole).execute().await {
        let error = Error::netlink("remove the tunnel's blackhole", source);
        if !links::is_missing(&error) {
            return Err(error);
        }
    }
    let ruleset = drop_ruleset(tag, false);
    let path = host.to_owned();
    netns::run_in(host, move || {
        nftables::helper::apply_ruleset(&ruleset).map_err(|source| Error::Nftables { netns: path, source })
    })
    .await
}

enum Port {
    Destination,
    Source,
}

/// Deletes the rules pointing at the tunnel's table (a crashed agent's too).
async fn remove_rules(handle: &rtnetlink::Handle) -> Result<()> {
    let rules: Vec<_> = handle
        .rule()
        .get(IpVersion::V4)
        .execute()
        .try_collect()
        .await
        .map_err(|source| Error::netlink("list routing rules", source))?;
    for rule in rules {
        let ours = rule
            .attributes
            .iter()
            .any(|attribute| matches!(attribute, RuleAttribute::Table(table) if *table == ROUTE_TABLE));
        if ours {
            handle
                .rule()
                .del(rule)
                .execute()
                .await
                .map_err(|source| Error::netlink("remove an encrypted VXLAN routing rule", source))?;
        }
    }
    Ok(())
}

/// The transaction that replaces the drop table (or only deletes it when `keep` is false).
fn drop_ruleset(tag: &str, keep: bool) -> nftables::schema::Nftables<'static> {
    let name = nft_table(tag);
    let table = || Table {
        family: NfFamily::IP,
        name: Cow::Owned(name.clone()),
        handle: None,
    };
    let mut batch = Batch::new();
    // "add" then "delete" deletes the table whether or not it existed, inside the same transaction.
    batch.add(NfListObject::Table(table()));
    batch.delete(NfListObject::Table(table()));
    if !keep {
        return batch.to_nftables();
    }
    batch.add(NfListObject::Table(table()));
    batch.add(NfListObject::Chain(Chain {
        family: NfFamily::IP,
        table: Cow::Owned(name.clone()),
        name: Cow::Borrowed("prerouting"),
        _type: Some(NfChainType::Filter),
        hook: Some(NfHook::Prerouting),
        prio: Some(RAW),
        policy: Some(NfChainPolicy::Accept),
        ..Chain::default()
    }));
    let dport = || {
        Statement::Match(Match {
            left: Expression::Named(NamedExpression::Payload(Payload::PayloadField(PayloadField {
                protocol: Cow::Borrowed("udp"),
                field: Cow::Borrowed("dport"),
            }))),
            right: Expression::Number(u32::from(ENCRYPTED_VXLAN_PORT)),
            op: Operator::EQ,
        })
    };
    // The tunnel loop's own delivery of opened packets (`deliver`): only a process allowed to
    // mark its socket (CAP_NET_ADMIN) sends these.
    batch.add(NfListObject::Rule(Rule {
        family: NfFamily::IP,
        table: Cow::Owned(name.clone()),
        chain: Cow::Borrowed("prerouting"),
        expr: Cow::Owned(vec![
            dport(),
            Statement::Match(Match {
                left: Expression::Named(NamedExpression::Meta(Meta {
                    key: MetaKey::Iifname,
                })),
                right: Expression::String(Cow::Borrowed("lo")),
                op: Operator::EQ,
            }),
            Statement::Match(Match {
                left: Expression::Named(NamedExpression::Meta(Meta { key: MetaKey::Mark })),
                right: Expression::Number(DELIVER_MARK),
                op: Operator::EQ,
            }),
            Statement::Accept(None),
        ]),
        ..Rule::default()
    }));
    batch.add(NfListObject::Rule(Rule {
        family: NfFamily::IP,
        table: Cow::Owned(name.clone()),
        chain: Cow::Borrowed("prerouting"),
        expr: Cow::Owned(vec![
            dport(),
            Statement::Match(Match {
                left: Expression::Named(NamedExpression::Meta(Meta {
                    key: MetaKey::Iifname,
                })),
                right: Expression::String(Cow::Borrowed(TUN_NAME)),
                op: Operator::NEQ,
            }),
            Statement::Drop(None),
        ]),
        ..Rule::default()
    }));
    batch.to_nftables()
}
