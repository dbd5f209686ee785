//! The host firewall's say over the mesh. Every connection the mesh DNATs in the host namespace
//! is routed on (to the ingress sandbox, or across the underlay to the task's node), so it
//! crosses the host's forward hook, where every base chain gets a verdict and one drop is final.
//! A host running dockerd has iptables' `FORWARD` policy at `DROP` (dockerd sets it when it
//! switches forwarding on), as has ufw's default: without a rule of their own there, published
//! ports answer only the node's own clients.
//!
//! So the mesh sets a conntrack mark bit ([`CT_MARK`](crate::mesh::CT_MARK)) on each connection
//! it DNATs, and this module keeps one rule in iptables' `FORWARD` chain that accepts that bit in
//! both directions, with the plane's tag in its comment so planes sharing a host namespace keep
//! their own. Through the `iptables` command, as dockerd does, so whichever backend the host
//! uses (nft or legacy) holds it and `iptables -S` still reads its tables; a host without the
//! command has no iptables chains to drop anything.

use std::io::ErrorKind;
use std::path::Path;
use std::process::{Command, Output};

use crate::error::{Error, Result};
use crate::mesh::CT_MARK;
use crate::netns;

/// The rule after `-C`/`-I`/`-D FORWARD`: the mesh's mark bit, this plane's comment.
pub(crate) fn accept_rule(tag: &str) -> Vec<String> {
    let mark = format!("{CT_MARK:#x}/{CT_MARK:#x}");
    let comment = format!("shoal {tag} mesh");
    [
        "-m",
        "connmark",
        "--mark",
        &mark,
        "-m",
        "comment",
        "--comment",
        &comment,
        "-j",
        "ACCEPT",
    ]
    .map(str::to_owned)
    .to_vec()
}

/// Whether a `FORWARD` chain listed as `iptables -S FORWARD` lists it can drop anything: a
/// policy other than `ACCEPT`, or any rule (a firewall's own `REJECT` at its end, dockerd's
/// isolation chains). An accepting, empty chain needs no rule, and a host without one keeps its
/// tables as they were (iptables would make its `filter` table to hold the rule).
pub(crate) fn may_drop(listing: &str) -> bool {
    listing.lines().any(|line| {
        line.starts_with("-A FORWARD ")
            || line
                .strip_prefix("-P FORWARD ")
                .is_some_and(|policy| policy.trim() != "ACCEPT")
    })
}

/// What [`ensure`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ensured {
    /// Nothing to do: the rule is there, the chain drops nothing, or there is no iptables.
    Nothing,
    /// The rule was missing and is in.
    Inserted,
    /// iptables refused it. Not an error: the mesh still serves the node's own clients, and
    /// every client where nothing drops forwarded traffic.
    Refused,
}

/// What to tell the operator when iptables refuses the rule.
pub(crate) const REFUSED: &str = "iptables refused the routing mesh's FORWARD accept rule: where the \
     host's firewall drops forwarded traffic, published ports answer only this node's own clients";

/// Makes sure the accept rule is in the `FORWARD` chain of the namespace at `netns` (first, so a
/// drop of the firewall's own cannot come before it) where that chain may drop; a no-op where
/// it is, where nothing drops, or where the host has no iptables command. Called on every
/// change of the mesh and every few seconds (`guard`), so a firewall set up or reloaded after
/// the mesh is met; each caller reports a refusal its own way (the guard's every few seconds
/// would flood the log).
pub(crate) async fn ensure(netns: &Path, tag: &str) -> Result<Ensured> {
    let rule = accept_rule(tag);
    netns::run_in(netns, move || {
        let Some(listing) = list()? else {
            return Ok(Ensured::Nothing);
        };
        if !may_drop(&listing) || run("-C", &rule)? != Some(false) {
            return Ok(Ensured::Nothing);
        }
        Ok(match run("-I", &rule)? {
            Some(true) => Ensured::Inserted,
            _ => Ensured::Refused,
        })
    })
    .await
}

/// Removes the accept rule (every copy) from the namespace at `netns`; removing one not there
/// succeeds.
pub(crate) async fn remove(netns: &Path, tag: &str) -> Result<()> {
    let rule = accept_rule(tag);
    netns::run_in(netns, move || {
        // `-D` deletes one copy a call; two agents' runs could have left two. Bounded: the
        // rule is only ever inserted after a `-C` that did not find it.
        for _ in 0..8 {
            if run("-D", &rule)?.is_none_or(|deleted| !deleted) {
                break;
            }
        }
        Ok(())
    })
    .await
}

/// `iptables -w 5 <op> FORWARD <rule>` in the calling thread's namespace: whether it succeeded,
/// or `None` when the host has no iptables command.
fn run(op: &str, rule: &[String]) -> Result<Option<bool>> {
    Ok(iptables(op, rule)?.map(|out| out.status.success()))
}

/// `iptables -S FORWARD`'s listing, or `None` when the host has no iptables command or it
/// cannot list the chain (no such table in its backend: nothing there to drop).
fn list() -> Result<Option<String>> {
    Ok(iptables("-S", &[])?
        .filter(|out| out.status.success())
        .map(|out| String::from_utf8_lossy(&out.stdout).into_owned()))
}

fn iptables(op: &str, rest: &[String]) -> Result<Option<Output>> {
    match Command::new("iptables")
        .args(["-w", "5", op, "FORWARD"])
        .args(rest)
        .output()
    {
        Ok(out) => {
            if !out.status.success() && op != "-C" {
                tracing::debug!(op, stderr = %String::from_utf8_lossy(&out.stderr).trim(), "iptables");
            }
            Ok(Some(out))
        }
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::io("run iptables", source)),
    }
}

/// Warnings for the base chains of nftables-native firewalls in the namespace at `netns` that
/// drop forwarded traffic (`nft list chains`); none where `nft` cannot list them.
pub(crate) async fn nft_warnings(netns: &Path) -> Result<Vec<String>> {
    netns::run_in(netns, || {
        let listed = nftables::helper::get_current_ruleset_with_args(
            nftables::helper::DEFAULT_NFT,
            ["list", "chains"],
        );
        Ok(listed.map_or_else(|_| Vec::new(), |ruleset| forward_drops(&ruleset.objects)))
    })
    .await
}

/// Each IPv4 base chain at the forward hook whose policy drops, but iptables' own `FORWARD`
/// (which the rule above serves), as a warning saying what to add. Such a chain is another
/// table's, and every base chain at a hook gets its verdict: an accept in the mesh's table
/// cannot overrule its drop, and the plane does not write into tables it does not own (a
/// firewall's next reload would undo it, and the operator may mean the drop). A firewall that
/// drops by a rule rather than by its policy is not seen.
pub(crate) fn forward_drops(objects: &[nftables::schema::NfObject]) -> Vec<String> {
    use nftables::schema::{NfListObject, NfObject};
    use nftables::types::{NfChainPolicy, NfFamily, NfHook};
    objects
        .iter()
        .filter_map(|object| match object {
            NfObject::ListObject(NfListObject::Chain(chain)) => Some(chain),
            _ => None,
        })
        .filter(|chain| {
            chain.hook == Some(NfHook::Forward)
                && chain.policy == Some(NfChainPolicy::Drop)
                && matches!(chain.family, NfFamily::IP | NfFamily::INet)
                && !(chain.family == NfFamily::IP && chain.table == "filter" && chain.name == "FORWARD")
        })
        .map(|chain| {
            let family = match chain.family {
                NfFamily::IP => "ip",
                _ => "inet",
            };
            let at = format!("{family} {} {}", chain.table, chain.name);
            format!(
                "the nftables chain {at} drops forwarded traffic: published ports answer only this \
                 node's own clients until it accepts the routing mesh's connections \
                 (nft insert rule {at} ct mark and {CT_MARK:#x} == {CT_MARK:#x} accept)"
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forward_chain_of_another_table_that_drops_is_named_with_its_remedy() {
        let listing = r#"{"nftables": [
            {"metainfo": {"version": "1.0.6", "release_name": "x", "json_schema_version": 1}},
            {"chain": {"family": "inet", "table": "filter", "name": "forward", "handle": 2,
                       "type": "filter", "hook": "forward", "prio": 0, "policy": "drop"}},
            {"chain": {"family": "inet", "table": "filter", "name": "input", "handle": 1,
                       "type": "filter", "hook": "input", "prio": 0, "policy": "drop"}},
            {"chain": {"family": "ip", "table": "filter", "name": "FORWARD", "handle": 3,
                       "type": "filter", "hook": "forward", "prio": 0, "policy": "drop"}},
            {"chain": {"family": "ip6", "table": "f6", "name": "fwd", "handle": 4,
                       "type": "filter", "hook": "forward", "prio": 0, "policy": "drop"}},
            {"chain": {"family": "ip", "table": "mine", "name": "fwd", "handle": 5,
                       "type": "filter", "hook": "forward", "prio": 0, "policy": "accept"}},
            {"chain": {"family": "ip", "table": "mine", "name": "plain", "handle": 6}}
        ]}"#;
        let ruleset: nftables::schema::Nftables = serde_json::from_str(listing).expect("a listing nft gives");
        let warnings = forward_drops(&ruleset.objects);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].starts_with("the nftables chain inet filter forward drops forwarded traffic")
                && warnings[0].ends_with(
                    "(nft insert rule inet filter forward ct mark and 0x1000000 == 0x1000000 accept)"
                ),
            "{}",
            warnings[0]
        );
    }

    #[test]
    fn only_a_chain_that_may_drop_gets_the_rule() {
        assert!(!may_drop("-P FORWARD ACCEPT\n"));
        assert!(!may_drop(""));
        // dockerd's policy; ufw's.
        assert!(may_drop("-P FORWARD DROP\n"));
        // An accepting policy with a firewall's reject at the end (firewalld's iptables backend).
        assert!(may_drop(
            "-P FORWARD ACCEPT\n-A FORWARD -j REJECT --reject-with icmp-host-prohibited\n"
        ));
    }

    #[test]
    fn the_rule_names_the_mark_and_the_plane() {
        assert_eq!(
            accept_rule("n1").join(" "),
            "-m connmark --mark 0x1000000/0x1000000 -m comment --comment shoal n1 mesh -j ACCEPT"
        );
    }
}
