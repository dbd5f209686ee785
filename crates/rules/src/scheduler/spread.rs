//! Choosing the node for the next task of a group in O(log N): min-heaps of candidate nodes,
//! under a tree of spread preferences.
//!
//! ```text
//!                root (no preferences: the root is the only leaf)
//!         ┌───────┴────────┐            branch heap: (tasks of the service in the branch, value order)
//!     zone=a (4)       zone=b (2)  ◄─── the next task descends into the branch with the fewest
//!      leaf heap        leaf heap        tasks, so branch totals even out ("" = label missing)
//!   (fails, svc, all, pos) ...     ◄─── leaf heap: the best node first
//! ```
//!
//! A node's key packs, most significant first: recent failures of this service version when
//! there are at least five (Swarm's "underweighting", else 0), tasks of the service on the
//! node, all tasks on the node, and the node's position in ID order (the tie-breaker). Every
//! node in a heap passes every filter; a placement changes only the node on top, so its key is
//! updated in place (one sift-down) or, if the node no longer fits, it is popped. A branch
//! whose leaves are all empty is popped the same way. SwarmKit instead rescans all N nodes per
//! task (Θ(T×N)); here a group costs one O(N) scan plus O(log N) per task.

use std::cmp::Reverse;
use std::collections::binary_heap::PeekMut;
use std::collections::{BTreeMap, BinaryHeap};

/// A node's ranking key; smaller is better. See the module doc for the layout.
pub fn node_key(failures: u32, service_tasks: u32, all_tasks: u32, pos: u32) -> u128 {
    (u128::from(failures) << 96)
        | (u128::from(service_tasks) << 64)
        | (u128::from(all_tasks) << 32)
        | u128::from(pos)
}

/// The node position inside a key.
pub fn key_position(key: u128) -> u32 {
    (key & u128::from(u32::MAX)) as u32
}

enum Slot {
    /// Children by (tasks in branch, value order, arena index).
    Branch(BinaryHeap<Reverse<(u32, u32, u32)>>),
    /// Candidate nodes by key.
    Leaf(BinaryHeap<Reverse<u128>>),
}

/// The placement structure of one group.
pub struct Spread {
    slots: Vec<Slot>,
}

/// One node as the tree builder sees it.
pub struct TreeNode<'a> {
    /// Its label value at each preference level ("" when missing).
    pub path: Vec<&'a str>,
    /// Tasks of the service on it (counted in branch totals even if the node is not eligible).
    pub service_tasks: u32,
    /// Its key if it passes every filter.
    pub key: Option<u128>,
}

#[derive(Default)]
struct Building<'a> {
    children: BTreeMap<&'a str, usize>,
    total: u32,
    eligible: u32,
    keys: Vec<u128>,
}

impl Spread {
    /// No preferences: one heap of every eligible node.
    pub fn flat(keys: Vec<u128>) -> Spread {
        Spread {
            slots: vec![Slot::Leaf(BinaryHeap::from(
                keys.into_iter().map(Reverse).collect::<Vec<_>>(),
            ))],
        }
    }

    /// A tree with one level per preference over `nodes` (all nodes, eligible or not).
    pub fn tree<'a>(depth: usize, nodes: impl IntoIterator<Item = TreeNode<'a>>) -> Spread {
        let mut arena: Vec<Building<'a>> = vec![Building::default()];
        let mut leaves: Vec<bool> = vec![depth == 0];
        for node in nodes {
            let mut at = 0;
            for level in 0..=depth {
                if let Some(b) = arena.get_mut(at) {
                    b.total = b.total.saturating_add(node.service_tasks);
                    b.eligible += u32::from(node.key.is_some());
                }
                if level == depth {
                    break;
                }
                let value = node.path.get(level).copied().unwrap_or("");
                let next = arena.len();
                let child = match arena.get_mut(at) {
                    Some(b) => *b.children.entry(value).or_insert(next),
                    None => break,
                };
                if child == next {
                    arena.push(Building::default());
                    leaves.push(level + 1 == depth);
                }
                at = child;
            }
            if let (Some(key), Some(b)) = (node.key, arena.get_mut(at)) {
                b.keys.push(key);
            }
        }
        let totals: Vec<(u32, u32)> = arena.iter().map(|b| (b.total, b.eligible)).collect();
        let slots = arena
            .into_iter()
            .zip(leaves)
            .map(|(b, leaf)| {
                if leaf {
                    Slot::Leaf(BinaryHeap::from(
                        b.keys.into_iter().map(Reverse).collect::<Vec<_>>(),
                    ))
                } else {
                    // Branches without an eligible node can take nothing: leave them out.
                    let children = b
                        .children
                        .values()
                        .enumerate()
                        .filter_map(|(order, &child)| {
                            let (total, eligible) = totals.get(child).copied()?;
                            (eligible > 0).then_some(Reverse((total, order as u32, child as u32)))
                        })
                        .collect::<Vec<_>>();
                    Slot::Branch(BinaryHeap::from(children))
                }
            })
            .collect();
        Spread { slots }
    }

    /// Places one task on the best node. `commit(pos)` records the placement on that node and
    /// returns the node's new key, or `None` if it can take no further task of the group.
    /// Returns the node's position, or `None` when no node is left.
    pub fn place(&mut self, commit: &mut impl FnMut(u32) -> Option<u128>) -> Option<u32> {
        self.place_at(0, commit)
    }

    fn place_at(&mut self, at: usize, commit: &mut impl FnMut(u32) -> Option<u128>) -> Option<u32> {
        if let Some(Slot::Leaf(heap)) = self.slots.get_mut(at) {
            let mut top = heap.peek_mut()?;
            let pos = key_position(top.0);
            match commit(pos) {
                Some(key) => top.0 = key,
                None => {
                    PeekMut::pop(top);
                }
            }
            return Some(pos);
        }
        loop {
            let child = match self.slots.get(at) {
                Some(Slot::Branch(heap)) => heap.peek()?.0.2 as usize,
                _ => return None,
            };
            let placed = self.place_at(child, commit);
            let Some(Slot::Branch(heap)) = self.slots.get_mut(at) else {
                return placed;
            };
            let Some(mut top) = heap.peek_mut() else {
                return placed;
            };
            match placed {
                Some(pos) => {
                    top.0.0 = top.0.0.saturating_add(1);
                    return Some(pos);
                }
                // That branch is full: the next best one gets the task.
                None => {
                    PeekMut::pop(top);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_order_by_failures_then_service_then_all_then_position() {
        assert!(node_key(0, 5, 5, 9) < node_key(5, 0, 0, 0));
        assert!(node_key(0, 1, 9, 9) < node_key(0, 2, 0, 0));
        assert!(node_key(0, 1, 1, 9) < node_key(0, 1, 2, 0));
        assert!(node_key(0, 1, 1, 3) < node_key(0, 1, 1, 4));
        assert_eq!(key_position(node_key(7, 8, 9, 42)), 42);
    }

    #[test]
    fn flat_spread_places_evenly_and_drops_full_nodes() {
        let mut spread = Spread::flat((0..3).map(|p| node_key(0, 0, 0, p)).collect());
        let mut counts = [0u32; 3];
        let mut commit = |pos: u32| {
            counts[pos as usize] += 1;
            // Node 2 takes one task only.
            (pos != 2).then(|| node_key(0, counts[pos as usize], counts[pos as usize], pos))
        };
        let placed: Vec<u32> = std::iter::from_fn(|| spread.place(&mut commit)).take(5).collect();
        assert_eq!(placed, vec![0, 1, 2, 0, 1]);
    }

    #[test]
    fn branches_even_out_and_full_branches_are_skipped() {
        // zone a: nodes 0 and 1 (a already has 2 tasks); zone b: node 2; "" : node 3, not eligible.
        let nodes = vec![
            TreeNode {
                path: vec!["a"],
                service_tasks: 2,
                key: Some(node_key(0, 2, 2, 0)),
            },
            TreeNode {
                path: vec!["a"],
                service_tasks: 0,
                key: Some(node_key(0, 0, 0, 1)),
            },
            TreeNode {
                path: vec!["b"],
                service_tasks: 0,
                key: Some(node_key(0, 0, 0, 2)),
            },
            TreeNode {
                path: vec![""],
                service_tasks: 0,
                key: None,
            },
        ];
        let mut spread = Spread::tree(1, nodes);
        let mut counts = [2u32, 0, 0, 0];
        let mut commit = |pos: u32| {
            counts[pos as usize] += 1;
            let c = counts[pos as usize];
            Some(node_key(0, c, c, pos))
        };
        let placed: Vec<u32> = std::iter::from_fn(|| spread.place(&mut commit)).take(4).collect();
        // b catches up to a (2 tasks), then they alternate; a's next goes to its emptier node.
        assert_eq!(placed, vec![2, 2, 1, 2]);
    }
}
