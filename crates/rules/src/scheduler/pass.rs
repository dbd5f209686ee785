//! One scheduling pass over a snapshot: confirm preassigned tasks, then place each group.

use std::collections::HashMap;

use state::State;
use types::{Task, TaskSpec};

use super::filter::{Failures, Filter, Requirements};
use super::group::Group;
use super::nodes::Nodes;
use super::spread::{Spread, TreeNode, node_key};
use super::{Decisions, Inputs, MAX_RECENT_FAILURES};

const NODE_LABEL_PREFIX: &str = "node.labels.";
const ENGINE_LABEL_PREFIX: &str = "engine.labels.";

/// A spread preference: which label a level of the tree splits on.
enum Descriptor<'s> {
    NodeLabel(&'s str),
    EngineLabel(&'s str),
}

/// The levels of the spread tree. Like Swarm, only node and engine labels can be spread over;
/// any other descriptor adds no level.
fn descriptors(spec: &TaskSpec) -> Vec<Descriptor<'_>> {
    spec.placement
        .preferences
        .iter()
        .filter_map(|d| {
            let prefix_of =
                |p: &str| d.len() > p.len() && d.get(..p.len()).is_some_and(|h| h.eq_ignore_ascii_case(p));
            if prefix_of(NODE_LABEL_PREFIX) {
                d.get(NODE_LABEL_PREFIX.len()..).map(Descriptor::NodeLabel)
            } else if prefix_of(ENGINE_LABEL_PREFIX) {
                d.get(ENGINE_LABEL_PREFIX.len()..).map(Descriptor::EngineLabel)
            } else {
                None
            }
        })
        .collect()
}

/// State of a pass across groups.
pub struct Pass<'a> {
    state: &'a State,
    inputs: &'a Inputs<'a>,
    nodes: Nodes<'a>,
    /// Tasks of the current service per node position; reset when the service changes.
    service_tasks: Vec<u32>,
    /// Recent failures (≥ the threshold) of the current group per node position.
    failures: Vec<u32>,
    touched: Vec<u32>,
    touched_failures: Vec<u32>,
    current_service: Option<&'a str>,
    /// Preassigned tasks confirmed in this pass, by service.
    confirmed: HashMap<&'a str, Vec<u32>>,
    /// `(node position, task)` in placement order.
    placed: Vec<(u32, &'a Task)>,
    unplaceable: Vec<(&'a Task, String)>,
    /// `(task ID, units)` for placed tasks given generic resources, in placement order.
    given: Vec<(String, Vec<types::generic::GenericResource>)>,
}

impl<'a> Pass<'a> {
    /// A pass over `state`, with every task the snapshot has on a node accounted for.
    pub fn new(state: &'a State, inputs: &'a Inputs<'a>, nodes: Nodes<'a>) -> Pass<'a> {
        let n = nodes.len();
        Pass {
            state,
            inputs,
            nodes,
            service_tasks: vec![0; n],
            failures: vec![0; n],
            touched: Vec::new(),
            touched_failures: Vec::new(),
            current_service: None,
            confirmed: HashMap::new(),
            placed: Vec::new(),
            unplaceable: Vec::new(),
            given: Vec::new(),
        }
    }

    /// Confirms that a global task fits its preset node (resources only, as Swarm's global
    /// orchestrator has already checked the rest). A task whose node is gone is left alone:
    /// the orchestrator replaces it.
    pub fn confirm_preassigned(&mut self, task: &'a Task) {
        let Some(pos) = self.nodes.position(&task.node_id) else {
            return;
        };
        let reservations = &task.spec.resources.reservations;
        let generic = types::generic::reserved(&task.spec);
        let fits = self.nodes.infos.get(pos as usize).is_some_and(|info| {
            ((reservations.nano_cpus == 0 && reservations.memory_bytes == 0)
                || (reservations.nano_cpus <= info.free_nano_cpus
                    && reservations.memory_bytes <= info.free_memory_bytes))
                && (generic.is_empty() || info.free_generic().fits(&generic))
        });
        if !fits {
            let mut failures = Failures::default();
            failures.add(Filter::Resources);
            self.unplaceable.push((task, failures.reason()));
            return;
        }
        let ports = self.nodes.ports_of_service(&task.service_id).to_vec();
        let given = self.nodes.claim(pos, &generic);
        if !given.is_empty() {
            self.given.push((task.id.clone(), given));
        }
        self.nodes.occupy(pos, reservations, &[], &ports, true);
        self.confirmed
            .entry(task.service_id.as_str())
            .or_default()
            .push(pos);
        self.placed.push((pos, task));
    }

    /// Places every task of `group`, or records why the rest fit nowhere.
    pub fn place_group(&mut self, group: &Group<'a>) {
        let ports = self
            .state
            .service(group.service_id)
            .and_then(|s| s.spec.endpoint.as_ref())
            .map_or(&[][..], |e| e.ports.as_slice());
        let requirements = match Requirements::new(group.spec, ports) {
            Ok(r) => r,
            Err(e) => {
                // Specs are validated at the API; one that slipped through (an older store)
                // must not match everything, as Swarm's would.
                let reason = e.to_string();
                self.unplaceable
                    .extend(group.tasks.iter().map(|t| (*t, reason.clone())));
                return;
            }
        };
        self.load_service(group.service_id);
        self.load_failures(group);
        let mut failures = Failures::default();
        let mut spread = self.candidates(group, &requirements, &mut failures);

        let Pass {
            nodes,
            service_tasks,
            touched,
            failures: recent,
            placed,
            given,
            ..
        } = self;
        let reservations = &group.spec.resources.reservations;
        // The units the last committed placement was given (the task is known only once
        // `place` returns).
        let last_given = std::cell::Cell::new(Vec::new());
        let mut commit = |pos: u32| {
            let p = pos as usize;
            let svc = service_tasks.get_mut(p)?;
            *svc += 1;
            let svc = *svc;
            // So the counts are cleared when the next group is of another service.
            touched.push(pos);
            last_given.set(nodes.claim(pos, &requirements.generic));
            nodes.occupy(pos, reservations, &[], &requirements.host_ports, true);
            let info = nodes.infos.get(p)?;
            match requirements.still_fits(info, svc) {
                Some(filter) => {
                    failures.add(filter);
                    None
                }
                None => Some(node_key(
                    recent.get(p).copied().unwrap_or(0),
                    svc,
                    info.active_tasks,
                    pos,
                )),
            }
        };
        placed.reserve(group.tasks.len());
        let mut rest = group.tasks.iter();
        for task in rest.by_ref() {
            match spread.place(&mut commit) {
                Some(pos) => {
                    placed.push((pos, task));
                    let units = last_given.take();
                    if !units.is_empty() {
                        given.push((task.id.clone(), units));
                    }
                }
                None => {
                    let reason = failures.reason();
                    self.unplaceable.push((task, reason.clone()));
                    self.unplaceable.extend(rest.map(|t| (*t, reason.clone())));
                    break;
                }
            }
        }
    }

    /// Scans every node once: charges failing filters, ranks the rest.
    fn candidates(&self, group: &Group<'a>, requirements: &Requirements, failures: &mut Failures) -> Spread {
        let levels = descriptors(group.spec);
        let mut eligible = |pos: usize| -> Option<u128> {
            let info = self.nodes.infos.get(pos)?;
            let svc = self.service_tasks.get(pos).copied().unwrap_or(0);
            match requirements.first_failure(info, svc) {
                Some(filter) => {
                    failures.add(filter);
                    None
                }
                None => Some(node_key(
                    self.failures.get(pos).copied().unwrap_or(0),
                    svc,
                    info.active_tasks,
                    pos as u32,
                )),
            }
        };
        if levels.is_empty() {
            return Spread::flat((0..self.nodes.len()).filter_map(&mut eligible).collect());
        }
        let tree_nodes = (0..self.nodes.len()).filter_map(|pos| {
            let node = self.nodes.infos.get(pos)?.node;
            let path = levels
                .iter()
                .map(|d| {
                    let labels = match d {
                        Descriptor::NodeLabel(_) => &node.spec.labels,
                        Descriptor::EngineLabel(_) => &node.description.engine.labels,
                    };
                    let (Descriptor::NodeLabel(name) | Descriptor::EngineLabel(name)) = d;
                    labels.get(*name).map_or("", String::as_str)
                })
                .collect();
            let service_tasks = self.service_tasks.get(pos).copied().unwrap_or(0);
            Some(TreeNode {
                path,
                service_tasks,
                key: eligible(pos),
            })
        });
        Spread::tree(levels.len(), tree_nodes)
    }

    /// Counts the tasks of `service_id` per node, unless the previous group was of the same
    /// service (groups of a service are adjacent): then the counts, including this pass's
    /// placements, carry over.
    fn load_service(&mut self, service_id: &'a str) {
        if self.current_service == Some(service_id) {
            return;
        }
        for pos in self.touched.drain(..) {
            if let Some(c) = self.service_tasks.get_mut(pos as usize) {
                *c = 0;
            }
        }
        self.current_service = Some(service_id);
        let bump = |pos: u32, counts: &mut Vec<u32>, touched: &mut Vec<u32>| {
            if let Some(c) = counts.get_mut(pos as usize) {
                *c += 1;
                touched.push(pos);
            }
        };
        for pos in self.nodes.counted_of_service(service_id) {
            bump(pos, &mut self.service_tasks, &mut self.touched);
        }
        for &pos in self.confirmed.get(service_id).map_or(&[][..], Vec::as_slice) {
            bump(pos, &mut self.service_tasks, &mut self.touched);
        }
    }

    /// Marks nodes where this service version failed often enough to be ranked last.
    fn load_failures(&mut self, group: &Group<'a>) {
        for pos in self.touched_failures.drain(..) {
            if let Some(c) = self.failures.get_mut(pos as usize) {
                *c = 0;
            }
        }
        let Some(recent) = self.inputs.recent_failures else {
            return;
        };
        let Some(per_node) = recent.get(&(group.service_id.to_string(), group.spec_version)) else {
            return;
        };
        for (node_id, &count) in per_node {
            if count >= MAX_RECENT_FAILURES
                && let Some(pos) = self.nodes.position(node_id)
                && let Some(slot) = self.failures.get_mut(pos as usize)
            {
                *slot = count;
                self.touched_failures.push(pos);
            }
        }
    }

    /// The decisions: assignments grouped per node in ID order (a counting sort over the
    /// placements), and reasons that differ from what the tasks already show.
    pub fn into_decisions(self) -> Decisions {
        let n = self.nodes.len();
        let mut starts = vec![0usize; n + 1];
        for &(pos, _) in &self.placed {
            if let Some(s) = starts.get_mut(pos as usize + 1) {
                *s += 1;
            }
        }
        for i in 1..starts.len() {
            starts[i] += starts[i - 1];
        }
        let mut ordered: Vec<Option<&Task>> = vec![None; self.placed.len()];
        let mut next = starts.clone();
        for &(pos, task) in &self.placed {
            if let Some(slot) = next.get_mut(pos as usize)
                && let Some(cell) = ordered.get_mut(*slot)
            {
                *cell = Some(task);
                *slot += 1;
            }
        }
        let mut assignments = Vec::new();
        for (pos, window) in starts.windows(2).enumerate() {
            let (from, to) = (window[0], window[1]);
            if from == to {
                continue;
            }
            let Some(info) = self.nodes.infos.get(pos) else {
                continue;
            };
            let tasks = ordered
                .get(from..to)
                .unwrap_or(&[])
                .iter()
                .flatten()
                .map(|t| t.id.clone())
                .collect();
            assignments.push((info.node.id.clone(), tasks));
        }
        let unplaceable = self
            .unplaceable
            .into_iter()
            .filter(|(task, reason)| task.status.err != *reason)
            .map(|(task, reason)| (task.id.clone(), reason))
            .collect();
        Decisions {
            assignments,
            unplaceable,
            given: self.given,
        }
    }
}
