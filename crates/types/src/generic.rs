//! Generic resources (Docker's `GenericResources`): what a node advertises beyond CPUs and
//! memory (`shoal agent --node-generic-resource gpu=GPU-1`, as dockerd's flag) and what a
//! task reserves (`docker service create --generic-resource gpu=1`).
//!
//! ```text
//! node advertises  gpu=GPU-1, gpu=GPU-2   → Named { gpu, GPU-1 }, Named { gpu, GPU-2 }
//!                  ssd=3                  → Discrete { ssd, 3 }
//! task reserves    gpu=1, ssd=2           → Discrete { gpu, 1 }, Discrete { ssd, 2 }
//! task is given    gpu=GPU-2, ssd=2       → env DOCKER_RESOURCE_GPU=GPU-2, DOCKER_RESOURCE_SSD=2
//! ```
//!
//! A task only reserves counts (SwarmKit refuses named values in a reservation); a node's
//! named values of a kind are units of it, handed out one by one. Stored without changing
//! any stored type's encoding: a task spec's reservations in its `ContainerSpec.extra`
//! ([`RESERVED_KEY`]), a node's in an engine label ([`NODE_LABEL`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// One generic resource (SwarmKit's `GenericResource`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum GenericResource {
    /// One unit with its own name, e.g. a GPU's UUID (`NamedResourceSpec`).
    Named {
        /// The kind, e.g. `gpu`.
        kind: String,
        /// The unit's name.
        value: String,
    },
    /// A count of interchangeable units (`DiscreteResourceSpec`).
    Discrete {
        /// The kind, e.g. `ssd`.
        kind: String,
        /// How many.
        value: i64,
    },
}

impl GenericResource {
    /// The kind, e.g. `gpu`.
    pub fn kind(&self) -> &str {
        match self {
            GenericResource::Named { kind, .. } | GenericResource::Discrete { kind, .. } => kind,
        }
    }

    /// The value as Docker prints it: the unit's name or the count.
    pub fn value_text(&self) -> String {
        match self {
            GenericResource::Named { value, .. } => value.clone(),
            GenericResource::Discrete { value, .. } => value.to_string(),
        }
    }
}

fn parse_error(message: String) -> Error {
    Error::Invalid(format!("could not parse GenericResource: {message}"))
}

/// Parses `KIND=VALUE` terms as dockerd's `--node-generic-resource` and the CLI's
/// `--generic-resource` do (SwarmKit's rules): a kind given once with an integer is a count,
/// otherwise every value of the kind is a named unit and none may be an integer. Kinds come
/// out in name order, named units in the order given.
pub fn parse(terms: &[String]) -> Result<Vec<GenericResource>> {
    let mut by_kind: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for term in terms {
        let mut parts = term.split('=');
        let (Some(kind), Some(value), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(parse_error(format!(
                "incorrect term {}, missing '=' or malformed expression",
                crate::excerpt(term)
            )));
        };
        let (kind, value) = (kind.trim(), value.trim());
        if kind.is_empty() || value.is_empty() {
            return Err(parse_error(format!(
                "incorrect term {}, empty kind or value",
                crate::excerpt(term)
            )));
        }
        by_kind
            .entry(kind.to_string())
            .or_default()
            .push(value.to_string());
    }
    let mut out = Vec::new();
    for (kind, values) in by_kind {
        let counts: Vec<Option<i64>> = values.iter().map(|v| v.parse::<i64>().ok()).collect();
        match counts.as_slice() {
            [Some(n)] if *n < 0 => {
                return Err(parse_error(format!("cannot ask for negative resource {kind}")));
            }
            [Some(n)] => out.push(GenericResource::Discrete { kind, value: *n }),
            _ if counts.iter().all(Option::is_none) => {
                out.extend(values.into_iter().map(|value| GenericResource::Named {
                    kind: kind.clone(),
                    value,
                }));
            }
            _ => {
                return Err(parse_error(format!(
                    "malformed expression '{kind}={}'",
                    values.join(",")
                )));
            }
        }
    }
    Ok(out)
}

/// Checks a task's reservation: counts only, each kind once, none negative.
pub fn validate_reservation(resources: &[GenericResource]) -> Result<()> {
    let mut seen = std::collections::BTreeSet::new();
    for r in resources {
        if r.kind().trim().is_empty() {
            return Err(Error::Invalid(
                "invalid generic resource: Kind must be given".into(),
            ));
        }
        match r {
            GenericResource::Named { kind, .. } => {
                return Err(Error::Invalid(format!(
                    "invalid generic resource {kind}: a task reserves counts (DiscreteResourceSpec), not named resources"
                )));
            }
            GenericResource::Discrete { kind, value } if *value < 0 => {
                return Err(Error::Invalid(format!(
                    "invalid generic resource {kind}: the count cannot be negative"
                )));
            }
            GenericResource::Discrete { kind, .. } if !seen.insert(kind.as_str()) => {
                return Err(Error::Invalid(format!(
                    "invalid generic resource {kind}: reserved more than once"
                )));
            }
            GenericResource::Discrete { .. } => {}
        }
    }
    Ok(())
}

/// The environment a task sees for what it was given, as SwarmKit's executor sets it:
/// `DOCKER_RESOURCE_<KIND>=v1,v2` (kind upper-cased, values of a kind joined by commas),
/// kinds in name order.
pub fn env(assigned: &[GenericResource]) -> Vec<String> {
    let mut by_kind: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for r in assigned {
        by_kind.entry(r.kind()).or_default().push(r.value_text());
    }
    by_kind
        .into_iter()
        .map(|(kind, values)| {
            format!(
                "{}={}",
                format!("DOCKER_RESOURCE_{kind}").to_uppercase(),
                values.join(",")
            )
        })
        .collect()
}

/// The `ContainerSpec.extra` key under which a task spec keeps its generic reservations (in
/// Docker's JSON shape), so the stored task spec keeps its encoding; the API shows them in
/// `Resources.Reservations.GenericResources` and never in the ContainerSpec.
pub const RESERVED_KEY: &str = "ReservedGenericResources";

/// The engine label under which a node advertises its generic resources (Docker's JSON
/// shape), so the stored node description keeps its encoding; `docker node inspect` shows
/// them in `Description.Resources.GenericResources`, not among the engine labels.
pub const NODE_LABEL: &str = "shoal.generic-resources";

/// Docker's JSON of a list: `[{"DiscreteResourceSpec": {"Kind", "Value"}}, {"NamedResourceSpec": …}]`.
pub fn to_docker_json(list: &[GenericResource]) -> serde_json::Value {
    use serde_json::json;
    list.iter()
        .map(|r| match r {
            GenericResource::Named { kind, value } => {
                json!({"NamedResourceSpec": {"Kind": kind, "Value": value}})
            }
            GenericResource::Discrete { kind, value } => {
                json!({"DiscreteResourceSpec": {"Kind": kind, "Value": value}})
            }
        })
        .collect()
}

/// Reads Docker's JSON of one generic resource; the message names what is wrong.
pub fn from_docker_json(item: &serde_json::Value) -> Result<GenericResource> {
    let spec = |key: &str| item.get(key).filter(|v| !v.is_null());
    let kind_of = |v: &serde_json::Value| v.get("Kind").and_then(|k| k.as_str()).unwrap_or("").to_string();
    match (spec("DiscreteResourceSpec"), spec("NamedResourceSpec")) {
        (Some(d), None) => {
            let value = d.get("Value").map_or(Some(0), |v| v.as_i64()).ok_or_else(|| {
                Error::Invalid(format!(
                    "invalid generic resource {}: Value must be an integer",
                    kind_of(d)
                ))
            })?;
            Ok(GenericResource::Discrete {
                kind: kind_of(d),
                value,
            })
        }
        (None, Some(n)) => Ok(GenericResource::Named {
            kind: kind_of(n),
            value: n.get("Value").and_then(|v| v.as_str()).unwrap_or("").to_string(),
        }),
        _ => Err(Error::Invalid(
            "invalid generic resource: give exactly one of DiscreteResourceSpec and NamedResourceSpec".into(),
        )),
    }
}

/// Reads a list kept by [`to_docker_json`]; anything unreadable reads as nothing.
fn read_list(text: Option<&serde_json::Value>) -> Vec<GenericResource> {
    text.and_then(|v| v.as_array())
        .map(|items| items.iter().filter_map(|i| from_docker_json(i).ok()).collect())
        .unwrap_or_default()
}

/// The generic resources a task spec reserves.
pub fn reserved(spec: &crate::TaskSpec) -> Vec<GenericResource> {
    if !spec.container.extra.contains(RESERVED_KEY) {
        return Vec::new();
    }
    let extra: serde_json::Value = serde_json::from_str(&spec.container.extra).unwrap_or_default();
    read_list(extra.get(RESERVED_KEY))
}

/// Sets (or with an empty list removes) the generic resources a task spec reserves.
pub fn set_reserved(spec: &mut crate::TaskSpec, list: &[GenericResource]) {
    let mut extra = match serde_json::from_str::<serde_json::Value>(&spec.container.extra) {
        Ok(serde_json::Value::Object(extra)) => extra,
        _ => serde_json::Map::new(),
    };
    extra.remove(RESERVED_KEY);
    if !list.is_empty() {
        extra.insert(RESERVED_KEY.into(), to_docker_json(list));
    }
    spec.container.extra = if extra.is_empty() {
        String::new()
    } else {
        serde_json::Value::Object(extra).to_string()
    };
}

/// The generic resources a node advertises.
pub fn advertised(node: &crate::Node) -> Vec<GenericResource> {
    let Some(text) = node.description.engine.labels.get(NODE_LABEL) else {
        return Vec::new();
    };
    read_list(serde_json::from_str::<serde_json::Value>(text).ok().as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn named(kind: &str, value: &str) -> GenericResource {
        GenericResource::Named {
            kind: kind.into(),
            value: value.into(),
        }
    }

    fn discrete(kind: &str, value: i64) -> GenericResource {
        GenericResource::Discrete {
            kind: kind.into(),
            value,
        }
    }

    #[test]
    fn parses_as_swarmkit_does() {
        assert_eq!(
            parse(&terms(&["gpu=GPU-1", "ssd=3", " gpu = GPU-2 "])).unwrap(),
            vec![named("gpu", "GPU-1"), named("gpu", "GPU-2"), discrete("ssd", 3)]
        );
        // A kind given twice is a set of names, even one looking like a count is refused.
        assert!(
            parse(&terms(&["gpu=1", "gpu=2"]))
                .unwrap_err()
                .to_string()
                .contains("malformed")
        );
        assert!(parse(&terms(&["gpu=a", "gpu=2"])).is_err());
        assert!(
            parse(&terms(&["gpu=-1"]))
                .unwrap_err()
                .to_string()
                .contains("negative")
        );
        assert!(
            parse(&terms(&["gpu"]))
                .unwrap_err()
                .to_string()
                .contains("missing '='")
        );
        assert!(parse(&terms(&["a=b=c"])).is_err());
        assert!(parse(&terms(&["=1"])).is_err());
        assert_eq!(parse(&[]).unwrap(), vec![]);
    }

    #[test]
    fn a_reservation_holds_counts_only() {
        assert!(validate_reservation(&[discrete("gpu", 2), discrete("ssd", 0)]).is_ok());
        assert!(validate_reservation(&[named("gpu", "GPU-1")]).is_err());
        assert!(validate_reservation(&[discrete("gpu", -1)]).is_err());
        assert!(validate_reservation(&[discrete("gpu", 1), discrete("gpu", 1)]).is_err());
        assert!(validate_reservation(&[discrete("", 1)]).is_err());
    }

    #[test]
    fn env_is_swarmkits() {
        assert_eq!(
            env(&[named("gpu", "GPU-1"), discrete("ssd", 2), named("gpu", "GPU-3")]),
            vec!["DOCKER_RESOURCE_GPU=GPU-1,GPU-3", "DOCKER_RESOURCE_SSD=2"]
        );
        assert!(env(&[]).is_empty());
    }

    #[test]
    fn reservations_and_advertisements_round_trip_through_their_stored_places() {
        let mut spec = crate::TaskSpec::default();
        spec.container.extra = r#"{"Init":true}"#.into();
        let list = vec![discrete("gpu", 2), named("x", "y")];
        set_reserved(&mut spec, &list);
        assert_eq!(reserved(&spec), list);
        assert!(spec.container.extra.contains(r#""Init":true"#));
        set_reserved(&mut spec, &[]);
        assert_eq!(spec.container.extra, r#"{"Init":true}"#);
        assert!(reserved(&spec).is_empty());

        let mut node = crate::Node {
            id: "n".into(),
            meta: Default::default(),
            spec: Default::default(),
            description: Default::default(),
            status: Default::default(),
            manager_status: None,
            role: Default::default(),
        };
        assert!(advertised(&node).is_empty());
        node.description
            .engine
            .labels
            .insert(NODE_LABEL.into(), to_docker_json(&list).to_string());
        assert_eq!(advertised(&node), list);
        assert!(from_docker_json(&serde_json::json!({})).is_err());
        assert!(
            from_docker_json(&serde_json::json!({"DiscreteResourceSpec": {"Kind": "a", "Value": "x"}}))
                .is_err()
        );
    }
}
