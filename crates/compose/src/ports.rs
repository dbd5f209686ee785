//! A compose service's `ports:` entries → published ports: the long form, and the short
//! `[published:]target[/protocol]` with ranges, as docker's stack deploy reads them.

use serde_json::Value;
use types::service::PortConfig;

use crate::convert::warn_rest;
use crate::error::{Result, invalid};
use crate::model::Port;

/// One `ports:` entry (a short range gives several).
pub(crate) fn ports(p: &Port, path: &str, warnings: &mut Vec<String>) -> Result<Vec<PortConfig>> {
    match p {
        Port::Long(l) => {
            warn_rest(path, &l.rest, warnings);
            let target = l.target.ok_or_else(|| invalid(path, "a port needs a target"))?.0;
            let published = match &l.published {
                None | Some(Value::Null) => 0,
                Some(v) => number(v)
                    .ok_or_else(|| invalid(path, format!("published port {v} is not a port number")))?,
            };
            Ok(vec![PortConfig {
                name: l.name.clone().unwrap_or_default(),
                protocol: l.protocol.clone().unwrap_or_else(|| "tcp".into()),
                target_port: port_number(target, path)?,
                published_port: port_number(published, path)?,
                publish_mode: l.mode.clone().unwrap_or_else(|| "ingress".into()),
            }])
        }
        Port::Short(v) => {
            let text = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                other => return Err(invalid(path, format!("expected a port, found {other}"))),
            };
            short_port(&text, path)
        }
    }
}

fn number(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn port_number(n: u64, path: &str) -> Result<u32> {
    u16::try_from(n)
        .map(u32::from)
        .map_err(|_| invalid(path, format!("port {n} is out of range")))
}

/// `[published:]target[/protocol]`, either side a range `a-b`.
fn short_port(text: &str, path: &str) -> Result<Vec<PortConfig>> {
    let (spec, protocol) = text.split_once('/').unwrap_or((text, "tcp"));
    let parts: Vec<&str> = spec.split(':').collect();
    let (published, target) = match parts.as_slice() {
        [t] => (None, *t),
        [p, t] => (Some(*p), *t),
        _ => {
            return Err(invalid(
                path,
                format!(
                    "{text:?}: a host address is not supported by swarm services; use [published:]target[/protocol]"
                ),
            ));
        }
    };
    let range = |r: &str| -> Result<(u64, u64)> {
        let bad = || invalid(path, format!("{text:?}: {r:?} is not a port or a range"));
        let (a, b) = r.split_once('-').unwrap_or((r, r));
        let a: u64 = a.parse().map_err(|_| bad())?;
        let b: u64 = b.parse().map_err(|_| bad())?;
        if a > b { Err(bad()) } else { Ok((a, b)) }
    };
    let (t0, t1) = range(target)?;
    let published = published.map(range).transpose()?;
    if let Some((p0, p1)) = published
        && p1 - p0 != t1 - t0
    {
        return Err(invalid(
            path,
            format!("{text:?}: the published and target ranges differ in length"),
        ));
    }
    (0..=t1 - t0)
        .map(|i| {
            Ok(PortConfig {
                name: String::new(),
                protocol: protocol.to_string(),
                target_port: port_number(t0 + i, path)?,
                published_port: port_number(published.map_or(0, |(p0, _)| p0 + i), path)?,
                publish_mode: "ingress".into(),
            })
        })
        .collect()
}
