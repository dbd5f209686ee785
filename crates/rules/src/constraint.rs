//! Placement constraints: `key==value` / `key!=value` expressions that a node must satisfy.
//!
//! ```text
//! service spec ─► parse (controlapi: a bad expression is a 400) ─► Vec<Constraint>
//!                                      scheduler: Constraint::matches(&Node) per candidate node
//! ```
//!
//! Swarm's rules, kept exactly where they are observable:
//! - Keys: `node.id`, `node.hostname`, `node.ip` (an IP or a CIDR, compared with the node's
//!   `status.addr`), `node.role` (`manager`/`worker`), `node.platform.os`, `node.platform.arch`,
//!   `node.labels.<name>`, `engine.labels.<name>`. Key names are case-insensitive; label names
//!   are case-sensitive.
//! - Operators `==` and `!=` only. Values compare case-insensitively.
//! - A missing label (or hostname, platform) reads as "", so `!=` matches it and `==` does not.
//!
//! Where Swarm is silent we are stricter, so that mistakes surface when the service is created
//! rather than as a task that stays pending forever: an unknown key or a malformed `node.ip`
//! value is refused by [`parse`] (Swarm accepts both and then matches no node).

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use types::{Node, TaskSpec};

/// Why a constraint expression was refused; the message names the expression and the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid constraint expression {:?}: {reason}", types::excerpt(.expression))]
pub struct ConstraintError {
    /// The expression as written.
    pub expression: String,
    /// What is wrong with it.
    pub reason: String,
}

impl From<ConstraintError> for crate::Error {
    fn from(e: ConstraintError) -> Self {
        // A bad expression is the caller's mistake: retrying the same spec cannot help.
        crate::Error::InvalidArgument(e.to_string())
    }
}

/// `==` or `!=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    /// The node's value must equal the expression's.
    Eq,
    /// The node's value must differ from the expression's.
    Ne,
}

/// What a constraint looks at on a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    /// `node.id`
    NodeId,
    /// `node.hostname`
    Hostname,
    /// `node.ip`, with the parsed address or network.
    Ip(IpMatch),
    /// `node.role`
    Role,
    /// `node.platform.os`
    Os,
    /// `node.platform.arch`
    Arch,
    /// `node.labels.<name>`
    NodeLabel(String),
    /// `engine.labels.<name>`
    EngineLabel(String),
}

/// A single address or a network in CIDR form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpMatch {
    /// Exactly this address.
    Addr(IpAddr),
    /// Any address in `network/prefix`.
    Network(IpAddr, u8),
}

/// One parsed constraint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Constraint {
    /// What is compared.
    pub key: Key,
    /// How.
    pub op: Operator,
    /// The value, as written (compared case-insensitively).
    pub value: String,
}

const NODE_LABEL_PREFIX: &str = "node.labels.";
const ENGINE_LABEL_PREFIX: &str = "engine.labels.";

/// Parses every expression; the first bad one is the error.
pub fn parse(exprs: &[String]) -> Result<Vec<Constraint>, ConstraintError> {
    exprs.iter().map(|e| parse_one(e)).collect()
}

/// True when `node` satisfies every constraint (an empty list matches every node).
pub fn matches_all(constraints: &[Constraint], node: &Node) -> bool {
    constraints.iter().all(|c| c.matches(node))
}

/// Task specs' constraints, parsed once each during one reconcile pass: a service's tasks
/// share their spec (one `Arc`), so 100k tasks of a constrained service cost one parse, not
/// 100k. Keyed by the spec's address, which is stable while the pass holds the state.
#[derive(Default)]
pub struct Parsed(HashMap<usize, Option<Vec<Constraint>>>);

impl Parsed {
    /// True when `node` satisfies every constraint of `spec` (false if they do not parse).
    pub fn meets(&mut self, spec: &Arc<TaskSpec>, node: &Node) -> bool {
        self.0
            .entry(Arc::as_ptr(spec) as usize)
            .or_insert_with(|| parse(&spec.placement.constraints).ok())
            .as_ref()
            .is_some_and(|cs| matches_all(cs, node))
    }
}

fn parse_one(expression: &str) -> Result<Constraint, ConstraintError> {
    let fail = |reason: String| ConstraintError {
        expression: expression.to_string(),
        reason,
    };
    // The earliest operator wins, so `a!=b==c` splits at `!=` (and then fails on the value).
    let (at, op) = match (expression.find("=="), expression.find("!=")) {
        (Some(e), Some(n)) if n < e => (n, Operator::Ne),
        (Some(e), _) => (e, Operator::Eq),
        (None, Some(n)) => (n, Operator::Ne),
        (None, None) => return Err(fail("expected one operator from ==, !=".into())),
    };
    let key_text = expression[..at].trim();
    let value = expression[at + 2..].trim();
    if !valid_key_syntax(key_text) {
        return Err(fail(format!("key {key_text:?} is invalid")));
    }
    if !valid_value(value) {
        return Err(fail(format!("value {value:?} is invalid")));
    }
    let key = parse_key(key_text, value).map_err(fail)?;
    Ok(Constraint {
        key,
        op,
        value: value.to_string(),
    })
}

/// Swarm's key grammar: `[A-Za-z_][A-Za-z0-9-_.]+`.
fn valid_key_syntax(key: &str) -> bool {
    let mut chars = key.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    first_ok && key.len() >= 2 && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Swarm's value grammar: letters, digits, white space and `: - _ . * ( ) ? + [ ] \ ^ $ | /`.
/// It leaves out `<`, `>`, `~`, `=` and `!` so future operators stay unambiguous.
fn valid_value(value: &str) -> bool {
    !value.is_empty()
        && value.chars().all(|c| {
            c.is_ascii_alphanumeric()
                || c.is_ascii_whitespace()
                || matches!(
                    c,
                    ':' | '-'
                        | '_'
                        | '.'
                        | '*'
                        | '('
                        | ')'
                        | '?'
                        | '+'
                        | '['
                        | ']'
                        | '\\'
                        | '^'
                        | '$'
                        | '|'
                        | '/'
                )
        })
}

fn parse_key(key: &str, value: &str) -> Result<Key, String> {
    let lower = key.to_ascii_lowercase();
    let parsed = match lower.as_str() {
        "node.id" => Key::NodeId,
        "node.hostname" => Key::Hostname,
        "node.ip" => Key::Ip(parse_ip_match(value).ok_or_else(|| {
            format!("value {value:?} of node.ip is neither an IP address nor a CIDR network")
        })?),
        "node.role" => Key::Role,
        "node.platform.os" => Key::Os,
        "node.platform.arch" => Key::Arch,
        // Label names keep their case: only the prefix is case-insensitive, as in Swarm.
        _ if lower.len() > NODE_LABEL_PREFIX.len() && lower.starts_with(NODE_LABEL_PREFIX) => {
            Key::NodeLabel(key[NODE_LABEL_PREFIX.len()..].to_string())
        }
        _ if lower.len() > ENGINE_LABEL_PREFIX.len() && lower.starts_with(ENGINE_LABEL_PREFIX) => {
            Key::EngineLabel(key[ENGINE_LABEL_PREFIX.len()..].to_string())
        }
        _ => return Err(format!("unknown key {key:?}")),
    };
    Ok(parsed)
}

/// An address (`10.0.0.1`, `2001:db8::2`) or a network (`10.0.0.0/8`).
fn parse_ip_match(text: &str) -> Option<IpMatch> {
    if let Ok(addr) = text.parse::<IpAddr>() {
        return Some(IpMatch::Addr(addr.to_canonical()));
    }
    let (addr, prefix) = text.split_once('/')?;
    let addr = addr.parse::<IpAddr>().ok()?;
    let prefix: u8 = prefix.parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    (prefix <= max).then_some(IpMatch::Network(addr, prefix))
}

/// The node's address as an IP; `status.addr` may carry a port (`10.0.0.1:2377`).
fn node_ip(addr: &str) -> Option<IpAddr> {
    addr.parse::<IpAddr>()
        .ok()
        .or_else(|| addr.parse::<std::net::SocketAddr>().ok().map(|s| s.ip()))
        .map(|ip| ip.to_canonical())
}

impl IpMatch {
    fn contains(self, ip: Option<IpAddr>) -> bool {
        let Some(ip) = ip else { return false };
        match self {
            IpMatch::Addr(a) => a == ip,
            IpMatch::Network(IpAddr::V4(net), prefix) => match ip {
                IpAddr::V4(v4) => {
                    masked(u32::from(net).into(), prefix, 32) == masked(u32::from(v4).into(), prefix, 32)
                }
                IpAddr::V6(_) => false,
            },
            IpMatch::Network(IpAddr::V6(net), prefix) => match ip {
                IpAddr::V6(v6) => masked(u128::from(net), prefix, 128) == masked(u128::from(v6), prefix, 128),
                IpAddr::V4(_) => false,
            },
        }
    }
}

/// The top `prefix` bits of a `width`-bit address.
fn masked(bits: u128, prefix: u8, width: u32) -> u128 {
    let host_bits = width.saturating_sub(u32::from(prefix));
    if host_bits >= 128 { 0 } else { bits >> host_bits }
}

impl Constraint {
    /// True when `node` satisfies this constraint.
    pub fn matches(&self, node: &Node) -> bool {
        let equal = match &self.key {
            Key::NodeId => self.value.eq_ignore_ascii_case(&node.id),
            Key::Hostname => self.value.eq_ignore_ascii_case(&node.description.hostname),
            Key::Ip(m) => m.contains(node_ip(&node.status.addr)),
            Key::Role => self.value.eq_ignore_ascii_case(node.role.as_str()),
            Key::Os => self.value.eq_ignore_ascii_case(&node.description.platform.os),
            Key::Arch => self
                .value
                .eq_ignore_ascii_case(&node.description.platform.architecture),
            Key::NodeLabel(name) => self
                .value
                .eq_ignore_ascii_case(node.spec.labels.get(name).map_or("", String::as_str)),
            Key::EngineLabel(name) => self.value.eq_ignore_ascii_case(
                node.description
                    .engine
                    .labels
                    .get(name)
                    .map_or("", String::as_str),
            ),
        };
        match self.op {
            Operator::Eq => equal,
            Operator::Ne => !equal,
        }
    }
}

impl fmt::Display for Constraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = match &self.key {
            Key::NodeId => "node.id".to_string(),
            Key::Hostname => "node.hostname".to_string(),
            Key::Ip(_) => "node.ip".to_string(),
            Key::Role => "node.role".to_string(),
            Key::Os => "node.platform.os".to_string(),
            Key::Arch => "node.platform.arch".to_string(),
            Key::NodeLabel(n) => format!("{NODE_LABEL_PREFIX}{n}"),
            Key::EngineLabel(n) => format!("{ENGINE_LABEL_PREFIX}{n}"),
        };
        let op = match self.op {
            Operator::Eq => "==",
            Operator::Ne => "!=",
        };
        write!(f, "{key}{op}{}", self.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use types::Role;

    fn node() -> Node {
        let mut n = types::testing::node("n1abc")
            .role(Role::Manager)
            .hostname("Web-1")
            .build();
        n.meta.version = 1;
        n.description.platform.os = "linux".into();
        n.description.platform.architecture = "x86_64".into();
        n.spec.labels.insert("zone".into(), "East".into());
        n.description.engine.labels.insert("disk".into(), "ssd".into());
        n.status.addr = "10.1.2.3".into();
        n
    }

    #[test]
    fn parsed_parses_each_spec_once_per_pass() {
        let spec = |exprs: &[&str]| {
            let mut spec = TaskSpec::default();
            spec.placement.constraints = exprs.iter().map(|e| e.to_string()).collect();
            Arc::new(spec)
        };
        let east = spec(&["node.labels.zone==east"]);
        let west = spec(&["node.labels.zone==west"]);
        let bad = spec(&["node.labels.zone~east"]);
        let mut parsed = Parsed::default();
        for _ in 0..3 {
            assert!(parsed.meets(&east, &node()));
            assert!(!parsed.meets(&Arc::clone(&west), &node()));
        }
        assert!(
            !parsed.meets(&bad, &node()),
            "constraints that do not parse match nothing"
        );
        assert_eq!(parsed.0.len(), 3, "one parse per spec");
    }

    fn check(expr: &str) -> bool {
        let parsed = parse(&[expr.to_string()]).unwrap_or_else(|e| panic!("{e}"));
        matches_all(&parsed, &node())
    }

    #[test]
    fn every_key_matches_case_insensitively() {
        assert!(check("node.id==N1ABC"));
        assert!(check("node.hostname==web-1"));
        assert!(check("NODE.HOSTNAME != web-2"));
        assert!(check("node.role==manager"));
        assert!(!check("node.role==worker"));
        assert!(check("node.platform.os==Linux"));
        assert!(check("node.platform.arch==x86_64"));
        assert!(check("node.labels.zone==east"));
        assert!(check("engine.labels.disk==SSD"));
        assert!(check("engine.labels.disk!=hdd"));
    }

    #[test]
    fn label_names_are_case_sensitive_and_missing_labels_read_empty() {
        assert!(!check("node.labels.Zone==east"), "label Zone is not zone");
        assert!(check("node.labels.Zone!=east"));
        assert!(check("node.labels.rack!=r1"));
        assert!(!check("node.labels.rack==r1"));
        assert!(check("engine.labels.gpu!=yes"));
    }

    #[test]
    fn node_ip_takes_addresses_and_networks() {
        assert!(check("node.ip==10.1.2.3"));
        assert!(!check("node.ip==10.1.2.4"));
        assert!(check("node.ip==10.1.0.0/16"));
        assert!(check("node.ip!=192.168.0.0/16"));
        assert!(check("node.ip==0.0.0.0/0"));
        assert!(!check("node.ip==2001:db8::/32"), "a v4 node is in no v6 network");
        let mut n = node();
        n.status.addr = "10.1.2.3:2377".into();
        assert!(
            matches_all(&parse(&["node.ip==10.1.2.3".into()]).expect("valid"), &n),
            "a port is ignored"
        );
        n.status.addr = "2001:db8::2".into();
        assert!(matches_all(
            &parse(&["node.ip==2001:db8::/32".into()]).expect("valid"),
            &n
        ));
        n.status.addr = String::new();
        assert!(
            !matches_all(&parse(&["node.ip==10.0.0.0/8".into()]).expect("valid"), &n),
            "no address is in no network"
        );
    }

    #[test]
    fn all_constraints_must_hold() {
        let both = parse(&["node.role==manager".into(), "node.labels.zone==west".into()]).expect("valid");
        assert!(!matches_all(&both, &node()));
        assert!(matches_all(&[], &node()));
    }

    #[test]
    fn bad_expressions_are_refused_with_reasons() {
        let err = |e: &str| parse(&[e.to_string()]).expect_err("refused").to_string();
        assert_eq!(
            err("node.foo==x"),
            r#"invalid constraint expression "node.foo==x": unknown key "node.foo""#
        );
        assert_eq!(
            err("node.role>=manager"),
            r#"invalid constraint expression "node.role>=manager": expected one operator from ==, !="#
        );
        assert!(
            err("node.labels.==x").contains("unknown key"),
            "{}",
            err("node.labels.==x")
        );
        assert!(err("node.role==").contains("value \"\" is invalid"));
        assert!(err("node.role==a=b").contains("is invalid"));
        assert!(err("1node==x").contains("key \"1node\" is invalid"));
        assert!(err("node.ip==10.0.0.300").contains("neither an IP address nor a CIDR"));
        assert!(err("node.ip==10.0.0.0/33").contains("neither"));
        let e = parse(&["node.role==worker".into(), "bad".into()]).expect_err("refused");
        assert_eq!(e.expression, "bad");
        assert!(matches!(crate::Error::from(e), crate::Error::InvalidArgument(_)));
    }

    #[test]
    fn display_round_trips() {
        for expr in [
            "node.labels.Zone==a",
            "engine.labels.x!=y",
            "node.ip==10.0.0.0/8",
            "node.role==worker",
        ] {
            let parsed = parse(&[expr.to_string()]).expect("valid");
            assert_eq!(parsed[0].to_string(), expr);
        }
    }
}
