//! From one view of a network to the next as a [`NetworkDelta`], and two deltas as one: what
//! lets the dispatcher send each node only what changed since the version it holds.
//!
//! ```text
//! old.apply(&diff(old, new)) == new              (up to order; same_network(old, new))
//! v.apply(&a).apply(&b) == v.apply(&compose(a, b))
//! ```
//! A change to the network itself (name, VNI, pools, options) is not a delta: the whole view
//! is sent again ([`same_network`] says when).

use std::collections::{BTreeMap, HashMap};

use types::{NetworkDelta, NetworkView};

/// True when `old` and `new` differ at most in their endpoints and services, so a delta can
/// carry the change.
pub fn same_network(old: &NetworkView, new: &NetworkView) -> bool {
    old.network_id == new.network_id
        && old.name == new.name
        && old.vni == new.vni
        && old.pools == new.pools
        && old.internal == new.internal
        && old.ingress == new.ingress
        && old.mtu == new.mtu
        && old.encrypted == new.encrypted
}

/// True when `delta` changes nothing.
pub fn is_empty(delta: &NetworkDelta) -> bool {
    delta.endpoints.is_empty()
        && delta.endpoints_removed.is_empty()
        && delta.services.is_empty()
        && delta.services_removed.is_empty()
}

/// The endpoints and services that changed from `old` to `new` (matched by task and service
/// ID), ordered by ID.
pub fn diff(old: &NetworkView, new: &NetworkView) -> NetworkDelta {
    let (endpoints, endpoints_removed) = changes(
        old.endpoints.iter().map(|e| (e.task_id.as_str(), e)),
        new.endpoints.iter().map(|e| (e.task_id.as_str(), e)),
    );
    let (services, services_removed) = changes(
        old.services.iter().map(|s| (s.service_id.as_str(), s)),
        new.services.iter().map(|s| (s.service_id.as_str(), s)),
    );
    NetworkDelta {
        network_id: new.network_id.clone(),
        endpoints,
        endpoints_removed,
        services,
        services_removed,
    }
}

/// Items of `new` that are not in `old` as they are, and IDs of `old` missing from `new`.
fn changes<'a, T: PartialEq + Clone + 'a>(
    old: impl Iterator<Item = (&'a str, &'a T)>,
    new: impl Iterator<Item = (&'a str, &'a T)>,
) -> (Vec<T>, Vec<String>) {
    let old: HashMap<&str, &T> = old.collect();
    let new: BTreeMap<&str, &T> = new.collect();
    let changed = new
        .iter()
        .filter(|(id, item)| old.get(*id) != Some(*item))
        .map(|(_, item)| (*item).clone())
        .collect();
    let mut removed: Vec<String> = old
        .keys()
        .filter(|id| !new.contains_key(*id))
        .map(|id| id.to_string())
        .collect();
    removed.sort();
    (changed, removed)
}

/// One delta doing what applying `first`, then `then`, does (both of the same network).
pub fn compose(first: &NetworkDelta, then: &NetworkDelta) -> NetworkDelta {
    let (endpoints, endpoints_removed) = compose_items([first, then].map(|d| {
        (
            d.endpoints_removed.as_slice(),
            d.endpoints
                .iter()
                .map(|e| (e.task_id.clone(), e.clone()))
                .collect(),
        )
    }));
    let (services, services_removed) = compose_items([first, then].map(|d| {
        (
            d.services_removed.as_slice(),
            d.services
                .iter()
                .map(|s| (s.service_id.clone(), s.clone()))
                .collect(),
        )
    }));
    NetworkDelta {
        network_id: then.network_id.clone(),
        endpoints,
        endpoints_removed,
        services,
        services_removed,
    }
}

/// One delta's part for one kind of item: IDs removed, then items upserted by ID.
type Step<'a, T> = (&'a [String], Vec<(String, T)>);

/// Replays (removals, then upserts) of each step in order on a map ID → last word.
fn compose_items<T>(steps: [Step<'_, T>; 2]) -> (Vec<T>, Vec<String>) {
    let mut last: BTreeMap<String, Option<T>> = BTreeMap::new();
    for (removed, upserts) in steps {
        for id in removed {
            last.insert(id.clone(), None);
        }
        for (id, item) in upserts {
            last.insert(id, Some(item));
        }
    }
    let mut items = Vec::new();
    let mut gone = Vec::new();
    for (id, word) in last {
        match word {
            Some(item) => items.push(item),
            None => gone.push(id),
        }
    }
    (items, gone)
}
