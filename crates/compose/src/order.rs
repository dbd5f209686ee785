//! The order services are deployed in: each after the services it depends on; ties by name,
//! so the order is the same on every run.

use std::collections::{BTreeMap, BTreeSet};

use crate::error::{Result, invalid};

/// The keys of `deps` (service → services it depends on) ordered so that every service comes
/// after its dependencies; an unknown dependency or a cycle is an error naming it.
pub fn dependency_order(deps: &BTreeMap<String, Vec<String>>) -> Result<Vec<String>> {
    for (service, on) in deps {
        if let Some(missing) = on.iter().find(|d| !deps.contains_key(*d)) {
            return Err(invalid(
                format!("services.{service}.depends_on"),
                format!("service {missing:?} is not defined in the file"),
            ));
        }
    }
    let mut done: BTreeSet<&str> = BTreeSet::new();
    let mut order = Vec::with_capacity(deps.len());
    while order.len() < deps.len() {
        // The first (by name) service whose dependencies are all placed.
        let next = deps
            .iter()
            .find(|(s, on)| !done.contains(s.as_str()) && on.iter().all(|d| done.contains(d.as_str())));
        match next {
            Some((service, _)) => {
                done.insert(service);
                order.push(service.clone());
            }
            None => {
                let left: Vec<&str> = deps
                    .keys()
                    .map(String::as_str)
                    .filter(|s| !done.contains(s))
                    .collect();
                return Err(invalid(
                    "depends_on",
                    format!("dependency cycle among services {}", left.join(", ")),
                ));
            }
        }
    }
    Ok(order)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use proptest::prelude::*;

    fn graph(edges: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
        edges
            .iter()
            .map(|(s, on)| (s.to_string(), on.iter().map(|d| d.to_string()).collect()))
            .collect()
    }

    #[test]
    fn dependencies_first_ties_by_name() {
        let g = graph(&[
            ("web", &["db", "cache"]),
            ("db", &[]),
            ("cache", &["db"]),
            ("a", &[]),
        ]);
        assert_eq!(dependency_order(&g).unwrap(), ["a", "db", "cache", "web"]);
    }

    #[test]
    fn cycles_and_unknown_services_are_named() {
        let g = graph(&[("a", &["b"]), ("b", &["a"]), ("c", &[])]);
        let err = dependency_order(&g).unwrap_err().to_string();
        assert_eq!(err, "depends_on: dependency cycle among services a, b");
        let g = graph(&[("a", &["nope"])]);
        let err = dependency_order(&g).unwrap_err().to_string();
        assert!(err.contains("\"nope\" is not defined"), "{err}");
    }

    proptest! {
        /// Any acyclic graph (edges only to lower-numbered services) orders every service
        /// after its dependencies.
        #[test]
        fn every_service_follows_its_dependencies(edges in proptest::collection::vec((0usize..8, 0usize..8), 0..20)) {
            let mut g: BTreeMap<String, Vec<String>> = (0..8).map(|i| (format!("s{i}"), Vec::new())).collect();
            for (a, b) in edges {
                if b < a {
                    g.get_mut(&format!("s{a}")).unwrap().push(format!("s{b}"));
                }
            }
            let order = dependency_order(&g).unwrap();
            prop_assert_eq!(order.len(), 8);
            let pos = |s: &str| order.iter().position(|o| o == s).unwrap();
            for (s, on) in &g {
                for d in on {
                    prop_assert!(pos(d) < pos(s));
                }
            }
        }
    }
}
