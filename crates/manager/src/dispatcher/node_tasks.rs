//! What a node's assignment stream knows of its node's tasks, for the network and payload
//! feeds: per task, the networks it holds addresses on and, while it should run, the secrets
//! and configs it references; per network and per payload, how many tasks hold it.
//!
//! ```text
//! full message ─── reset(tasks) ──────────► one pass over the node's tasks (the only scan)
//! task message ─── apply(changed, removed, readdressed)
//!                    └─ per task: standing before/after ─► alters() ─► counts adjusted
//!                                                           └─► Alters { nets, payloads }
//! ```
//!
//! Most messages are status reports (assigned → preparing → starting → running): they change
//! neither what a node's tasks are nor what they use, so they cost one map lookup per task
//! and the feeds skip their work. A rollout of 100 tasks on a node once cost 100 rescans of
//! its tasks per status wave (a 100k-task rollout on 1000 hollow nodes 5× slower).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use store::{Owner, State};
use types::{PayloadKind, Task, TaskState};

use super::assignments::assigned_to;

/// Where a task stands in what its node's feeds depend on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Not in the node's assignment set (not assigned to it, or gone).
    Absent,
    /// In the set but not to run: it ended or was told to stop (its addresses may stay
    /// until the allocator frees them; its payloads are no longer needed).
    Held,
    /// In the set and to run: it needs its payloads.
    Live,
}

/// What a task's change alters in its node's feeds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Alters {
    /// The set of networks the node's tasks hold addresses on may have changed.
    pub nets: bool,
    /// The set of payloads the node's tasks need may have changed.
    pub payloads: bool,
}

impl Alters {
    fn or(self, other: Alters) -> Alters {
        Alters {
            nets: self.nets || other.nets,
            payloads: self.payloads || other.payloads,
        }
    }
}

/// `task`'s standing for `node` (the payload rule: desired up to running, not finished).
pub fn standing(task: Option<&Task>, node: &str) -> Standing {
    match task {
        Some(t) if assigned_to(t, node) => {
            if t.desired_state <= TaskState::Running && !t.status.state.is_terminal() {
                Standing::Live
            } else {
                Standing::Held
            }
        }
        _ => Standing::Absent,
    }
}

/// What a task moving from `before` to `after` alters: entering or leaving the set changes
/// the networks (a task's addresses change apart, see [`NodeTasks::apply`]), starting or
/// ceasing to run changes the payloads. Any other change (a status report) alters nothing.
pub fn alters(before: Standing, after: Standing) -> Alters {
    Alters {
        nets: (before == Standing::Absent) != (after == Standing::Absent),
        payloads: (before == Standing::Live) != (after == Standing::Live),
    }
}

/// One task as its node's feeds see it.
#[derive(Debug, Clone)]
struct Held {
    standing: Standing,
    nets: Vec<String>,
    /// Its references while live (a task's spec never changes, so read once).
    refs: Vec<(PayloadKind, String)>,
}

/// A stream's index of its node's tasks (see the module doc).
#[derive(Debug, Default)]
pub struct NodeTasks {
    tasks: HashMap<String, Held>,
    nets: BTreeMap<String, usize>,
    payloads: BTreeMap<(PayloadKind, String), usize>,
    /// Passes over every task of the node (one per full message).
    scans: u64,
}

fn networks(state: &State, task: &str) -> Vec<String> {
    let mut nets: Vec<String> = state
        .addresses(&Owner::Task(task.to_string()))
        .iter()
        .map(|a| a.network_id.clone())
        .collect();
    nets.sort();
    nets.dedup();
    nets
}

fn references(task: &Task) -> Vec<(PayloadKind, String)> {
    // Malformed references were refused at create; a task holding some needs nothing.
    let refs = types::secret::references(&task.spec.container.extra).unwrap_or_default();
    let mut out: Vec<(PayloadKind, String)> = refs
        .secrets
        .into_iter()
        .map(|r| (PayloadKind::Secret, r.secret_id))
        .chain(
            refs.configs
                .into_iter()
                .map(|r| (PayloadKind::Config, r.config_id)),
        )
        .collect();
    out.sort();
    out.dedup();
    out
}

fn add<K: Ord + Clone>(counts: &mut BTreeMap<K, usize>, keys: &[K]) {
    for k in keys {
        *counts.entry(k.clone()).or_default() += 1;
    }
}

fn sub<K: Ord>(counts: &mut BTreeMap<K, usize>, keys: &[K]) {
    for k in keys {
        if let Some(n) = counts.get_mut(k) {
            *n -= 1;
            if *n == 0 {
                counts.remove(k);
            }
        }
    }
}

impl NodeTasks {
    /// Forgets everything and indexes `tasks`, `node`'s whole assignment set.
    pub fn reset(&mut self, state: &State, node: &str, tasks: &[Task]) {
        self.scans += 1;
        *self = NodeTasks {
            scans: self.scans,
            ..NodeTasks::default()
        };
        for t in tasks {
            self.set(state, &t.id, Some(t), node);
        }
    }

    /// Notes the current values of the tasks `changed` (assigned to `node`), the tasks
    /// `removed` from its set, and the tasks whose addresses changed (`readdressed`).
    pub fn apply(
        &mut self,
        state: &State,
        node: &str,
        changed: &[Task],
        removed: &[String],
        readdressed: &HashSet<String>,
    ) -> Alters {
        let mut out = Alters::default();
        for t in changed {
            out = out.or(self.set(state, &t.id, Some(t), node));
        }
        for id in removed {
            out = out.or(self.set(state, id, None, node));
        }
        for id in readdressed {
            let Some(held) = self.tasks.get_mut(id) else {
                continue;
            };
            let nets = networks(state, id);
            if nets != held.nets {
                let old = std::mem::replace(&mut held.nets, nets.clone());
                sub(&mut self.nets, &old);
                add(&mut self.nets, &nets);
                out.nets = true;
            }
        }
        out
    }

    /// Sets one task's current value (`None`: gone from the set).
    fn set(&mut self, state: &State, id: &str, task: Option<&Task>, node: &str) -> Alters {
        let before = self.tasks.get(id).map_or(Standing::Absent, |h| h.standing);
        let after = standing(task, node);
        let change = alters(before, after);
        if before == after {
            return change;
        }
        let mut held = self.tasks.remove(id).unwrap_or(Held {
            standing: Standing::Absent,
            nets: Vec::new(),
            refs: Vec::new(),
        });
        if change.nets {
            sub(&mut self.nets, &held.nets);
            held.nets = if after == Standing::Absent {
                Vec::new()
            } else {
                networks(state, id)
            };
            add(&mut self.nets, &held.nets);
        }
        if change.payloads {
            sub(&mut self.payloads, &held.refs);
            held.refs = match task {
                Some(t) if after == Standing::Live => references(t),
                _ => Vec::new(),
            };
            add(&mut self.payloads, &held.refs);
        }
        held.standing = after;
        if after != Standing::Absent {
            self.tasks.insert(id.to_string(), held);
        }
        change
    }

    /// The networks the node's tasks hold addresses on, plus the routing mesh's network
    /// (every node holds an ingress sandbox).
    pub fn networks(&self, state: &State) -> BTreeSet<String> {
        let mut nets: BTreeSet<String> = self.nets.keys().cloned().collect();
        if let Some(ingress) = rules::netview::ingress_network(state) {
            nets.insert(ingress.id.clone());
        }
        nets
    }

    /// The secrets and configs the node's running tasks reference.
    pub fn payloads(&self) -> impl Iterator<Item = &(PayloadKind, String)> {
        self.payloads.keys()
    }

    /// How many times the whole task set was indexed (tests: a status report does not).
    pub fn scans(&self) -> u64 {
        self.scans
    }
}

#[cfg(test)]
#[path = "node_tasks_tests.rs"]
mod tests;
