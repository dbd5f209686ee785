//! Generic resources on one node: what is free once the tasks it holds are counted, whether a
//! task's reservation fits, and which units a placed task is given — SwarmKit's `HasEnough` /
//! `Claim` over `types::generic`.
//!
//! ```text
//! advertised (node)  ─► Free::new ─► hold(assigned) per task ASSIGNED..RUNNING ─► Free
//! reservation (task) ─► Free::short_of   → the first kind that lacks units (explanations)
//!                    ─► Free::claim      → the units given: named ones by the node's order,
//!                                          counts as counts; taken from Free for the next task
//! ```
//!
//! Nothing is released explicitly: a pass rebuilds `Free` from the tasks that still hold
//! their units, so a task that ends gives its units back by no longer being counted.
//!
//! Where this differs from SwarmKit on purpose: a reservation of 0 units always fits
//! (SwarmKit refuses it on a node without that kind, and would hand a 0-unit named request
//! every unit); a node advertising a kind both as names and as a count offers both.

use std::collections::BTreeMap;

use types::generic::GenericResource;

/// The generic resources a node has free.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Free {
    /// Free counts by kind.
    counts: BTreeMap<String, i64>,
    /// Free named units by kind, in the order the node advertised them.
    named: BTreeMap<String, Vec<String>>,
}

impl Free {
    /// Everything the node advertises, before any task is counted.
    pub fn new(advertised: &[GenericResource]) -> Free {
        let mut free = Free::default();
        for r in advertised {
            match r {
                GenericResource::Named { kind, value } => {
                    let units = free.named.entry(kind.clone()).or_default();
                    // A unit advertised twice is still one unit.
                    if !units.contains(value) {
                        units.push(value.clone());
                    }
                }
                GenericResource::Discrete { kind, value } => {
                    let count = free.counts.entry(kind.clone()).or_default();
                    *count = count.saturating_add((*value).max(0));
                }
            }
        }
        free
    }

    /// Counts units a task on the node holds. Units the node no longer advertises (it
    /// restarted with fewer) are ignored; a count goes no lower than 0. A count beyond the
    /// node's free count (a task whose units were not recorded: assigned by an older
    /// version, or the node now offers names where it offered a count) takes named units
    /// from the end of the list, so that the units are never over-given.
    pub fn hold(&mut self, assigned: &[GenericResource]) {
        for r in assigned {
            match r {
                GenericResource::Named { kind, value } => {
                    if let Some(units) = self.named.get_mut(kind) {
                        units.retain(|u| u != value);
                    }
                }
                GenericResource::Discrete { kind, value } => {
                    let mut rest = (*value).max(0);
                    if let Some(count) = self.counts.get_mut(kind) {
                        let taken = rest.min(*count);
                        *count -= taken;
                        rest -= taken;
                    }
                    if rest > 0
                        && let Some(units) = self.named.get_mut(kind)
                    {
                        let keep = units
                            .len()
                            .saturating_sub(usize::try_from(rest).unwrap_or(usize::MAX));
                        units.truncate(keep);
                    }
                }
            }
        }
    }

    /// Units of `kind` free: its named units plus its count.
    pub fn available(&self, kind: &str) -> i64 {
        let named = self.named.get(kind).map_or(0, |u| u.len() as i64);
        named.saturating_add(self.counts.get(kind).copied().unwrap_or(0))
    }

    /// The first kind of `reservation` (counts only) the node cannot give, if any.
    pub fn short_of<'r>(&self, reservation: &'r [GenericResource]) -> Option<&'r str> {
        reservation.iter().find_map(|r| match r {
            GenericResource::Discrete { kind, value } if *value > self.available(kind) => Some(kind.as_str()),
            GenericResource::Discrete { .. } => None,
            // Validation admits no named units in a reservation; one that got here fits nowhere.
            GenericResource::Named { kind, .. } => Some(kind.as_str()),
        })
    }

    /// True if every kind of `reservation` has enough free units.
    pub fn fits(&self, reservation: &[GenericResource]) -> bool {
        self.short_of(reservation).is_none()
    }

    /// Takes what `reservation` asks for and returns the units given (named units first, in
    /// the node's order, then the rest as a count), or `None`, taking nothing, if it does
    /// not fit.
    pub fn claim(&mut self, reservation: &[GenericResource]) -> Option<Vec<GenericResource>> {
        if !self.fits(reservation) {
            return None;
        }
        let mut given = Vec::new();
        for r in reservation {
            let GenericResource::Discrete { kind, value } = r else {
                continue;
            };
            let mut wanted = *value;
            if let Some(units) = self.named.get_mut(kind) {
                let n = units
                    .len()
                    .min(usize::try_from(wanted.max(0)).unwrap_or(usize::MAX));
                given.extend(units.drain(..n).map(|value| GenericResource::Named {
                    kind: kind.clone(),
                    value,
                }));
                wanted -= n as i64;
            }
            if wanted > 0 {
                // `fits` saw enough: the rest comes from the count.
                if let Some(count) = self.counts.get_mut(kind) {
                    *count -= wanted;
                }
                given.push(GenericResource::Discrete {
                    kind: kind.clone(),
                    value: wanted,
                });
            }
        }
        Some(given)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::*;

    fn named(kind: &str, value: &str) -> GenericResource {
        GenericResource::Named {
            kind: kind.into(),
            value: value.into(),
        }
    }

    fn count(kind: &str, value: i64) -> GenericResource {
        GenericResource::Discrete {
            kind: kind.into(),
            value,
        }
    }

    #[test]
    fn named_units_are_given_in_order_and_counts_as_counts() {
        let mut free = Free::new(&[
            named("gpu", "A"),
            named("gpu", "B"),
            named("gpu", "C"),
            count("ssd", 3),
        ]);
        assert_eq!(
            free.claim(&[count("gpu", 2), count("ssd", 2)]),
            Some(vec![named("gpu", "A"), named("gpu", "B"), count("ssd", 2)])
        );
        assert_eq!(free.short_of(&[count("gpu", 2)]), Some("gpu"));
        assert_eq!(free.claim(&[count("gpu", 2)]), None, "one GPU left");
        assert_eq!(free.available("gpu"), 1, "a refused claim takes nothing");
        assert_eq!(
            free.claim(&[count("gpu", 1), count("ssd", 1)]),
            Some(vec![named("gpu", "C"), count("ssd", 1)])
        );
        assert!(!free.fits(&[count("ssd", 1)]));
        assert!(free.fits(&[count("fpga", 0)]), "nothing asked, nothing lacking");
        assert!(!free.fits(&[named("gpu", "A")]));
    }

    #[test]
    fn held_units_are_not_given_again() {
        let advertised = [named("gpu", "A"), named("gpu", "B"), count("ssd", 3)];
        let mut free = Free::new(&advertised);
        free.hold(&[
            named("gpu", "A"),
            count("ssd", 2),
            named("gpu", "gone"),
            count("fpga", 1),
        ]);
        assert_eq!(free.claim(&[count("gpu", 1)]), Some(vec![named("gpu", "B")]));
        assert_eq!(free.available("ssd"), 1);
        // A count held beyond the node's count takes names from the end.
        let mut unrecorded = Free::new(&advertised);
        unrecorded.hold(&[count("gpu", 1), count("ssd", 1)]);
        assert_eq!(unrecorded.claim(&[count("gpu", 2)]), None);
        assert_eq!(
            unrecorded.claim(&[count("gpu", 1)]),
            Some(vec![named("gpu", "A")])
        );
        assert_eq!(unrecorded.available("ssd"), 2);
        // The task holding A ends: the next pass no longer counts it.
        let mut next = Free::new(&advertised);
        next.hold(&[named("gpu", "B")]);
        assert_eq!(next.claim(&[count("gpu", 1)]), Some(vec![named("gpu", "A")]));
    }

    /// A node's advertisement: per kind, some named units and a count.
    fn advertised() -> impl Strategy<Value = Vec<GenericResource>> {
        prop::collection::btree_map(0usize..3, (0usize..4, 0i64..4), 0..4).prop_map(|kinds| {
            let mut out = Vec::new();
            for (k, (names, n)) in kinds {
                let kind = ["gpu", "ssd", "fpga"][k];
                out.extend((0..names).map(|i| named(kind, &format!("{kind}-{i}"))));
                if n > 0 {
                    out.push(count(kind, n));
                }
            }
            out
        })
    }

    /// A task's reservation: a count of some kinds, each kind once.
    fn reservation() -> impl Strategy<Value = Vec<GenericResource>> {
        prop::collection::btree_map(0usize..3, 0i64..4, 0..3).prop_map(|m| {
            m.into_iter()
                .map(|(k, n)| count(["gpu", "ssd", "fpga"][k], n))
                .collect()
        })
    }

    /// Units of `kind` in a list, counts as their value.
    fn units(list: &[GenericResource], kind: &str) -> i64 {
        list.iter()
            .filter(|r| r.kind() == kind)
            .map(|r| match r {
                GenericResource::Named { .. } => 1,
                GenericResource::Discrete { value, .. } => *value,
            })
            .sum()
    }

    proptest! {
        // Tasks arrive and end in any order; each pass rebuilds what is free from the tasks
        // still holding units. Checked against plain arithmetic: a claim succeeds exactly when
        // every kind has enough units left, gives what was asked, no named unit is held by
        // two tasks, and no kind is held beyond what the node advertises.
        #[test]
        fn claims_match_the_arithmetic(
            node in advertised(),
            steps in prop::collection::vec((reservation(), prop::bool::weighted(0.3)), 1..12),
        ) {
            let mut held: Vec<Vec<GenericResource>> = Vec::new();
            for (asked, end_one) in steps {
                if end_one && !held.is_empty() {
                    held.remove(0);
                }
                let mut free = Free::new(&node);
                for h in &held {
                    free.hold(h);
                }
                let enough = asked.iter().all(|r| {
                    let kind = r.kind();
                    let left = units(&node, kind) - held.iter().map(|h| units(h, kind)).sum::<i64>();
                    units(std::slice::from_ref(r), kind) <= left
                });
                match free.claim(&asked) {
                    Some(given) => {
                        prop_assert!(enough, "{asked:?} given {given:?} with {held:?} held on {node:?}");
                        for r in &asked {
                            prop_assert_eq!(units(&given, r.kind()), units(std::slice::from_ref(r), r.kind()));
                        }
                        held.push(given);
                    }
                    None => prop_assert!(!enough, "{asked:?} refused with {held:?} held on {node:?}"),
                }
                let mut names = BTreeSet::new();
                for r in held.iter().flatten() {
                    if let GenericResource::Named { kind, value } = r {
                        prop_assert!(names.insert((kind.clone(), value.clone())), "{value} held twice");
                        prop_assert!(node.contains(r), "{value} is not the node's");
                    }
                }
                for kind in ["gpu", "ssd", "fpga"] {
                    let total: i64 = held.iter().map(|h| units(h, kind)).sum();
                    prop_assert!(total <= units(&node, kind), "{kind}: {total} held");
                }
            }
        }
    }
}
