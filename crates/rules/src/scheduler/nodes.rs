//! What the scheduler knows about each node during one pass: the node, what is left of its
//! resources, how many tasks it runs, which host ports are taken.
//!
//! Built from the snapshot at the start of the pass and updated as tasks are placed, so later
//! groups see earlier placements. Nodes keep the snapshot's ID order; a node's position in
//! that order is its tie-breaker, which makes every decision reproducible.

use std::cell::OnceCell;
use std::collections::{HashMap, HashSet};

use state::State;
use types::generic::GenericResource;
use types::{Node, Reservations, Task, TaskState};

use super::generic::Free;

/// A published port in host mode: `(protocol, port)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HostPort {
    protocol: u8,
    port: u32,
}

impl HostPort {
    /// A host port; the protocol is Docker's spelling, "" meaning tcp.
    pub fn new(protocol: &str, port: u32) -> HostPort {
        let protocol = match protocol.to_ascii_lowercase().as_str() {
            "" | "tcp" => 0,
            "udp" => 1,
            "sctp" => 2,
            _ => 3,
        };
        HostPort { protocol, port }
    }
}

/// One node as the scheduler sees it mid-pass.
#[derive(Debug, Clone)]
pub struct NodeInfo<'a> {
    /// The node in the snapshot.
    pub node: &'a Node,
    /// CPU capacity minus the reservations of the tasks it holds.
    pub free_nano_cpus: i64,
    /// Memory capacity minus the reservations of the tasks it holds.
    pub free_memory_bytes: i64,
    /// Generic resources advertised minus what the tasks it holds reserve; read from the
    /// node on first use (most passes reserve none, and on 100k nodes reading each node's
    /// labels up front cost more than the placements).
    free_generic: OnceCell<Box<Free>>,
    /// Tasks counted for ranking (see [`counts_for_spread`]).
    pub active_tasks: u32,
    /// Host-mode ports in use.
    pub host_ports: Vec<HostPort>,
}

impl NodeInfo<'_> {
    /// Generic resources the node advertises minus what the tasks it holds reserve.
    pub fn free_generic(&self) -> &Free {
        self.free_generic
            .get_or_init(|| Box::new(Free::new(&types::generic::advertised(self.node))))
    }
}

/// Every node of the snapshot, with an index from ID to position.
pub struct Nodes<'a> {
    /// Nodes in ID order.
    pub infos: Vec<NodeInfo<'a>>,
    /// `(service ID, node position)` of every task counted for spreading, sorted by service
    /// once all are in ([`Nodes::seal`]): the per-service counts a group needs, without a
    /// second walk over the service's tasks.
    counted: Vec<(&'a str, u32)>,
    /// The services whose counts the pass needs.
    services: HashSet<&'a str>,
    /// ID → position, built on first use: a pass over a cluster with nothing on its nodes
    /// never needs it, and on 100k nodes building it costs more than the placements.
    positions: OnceCell<HashMap<&'a str, u32>>,
    /// Host ports per service, for the few services that publish any in host mode.
    service_ports: HashMap<&'a str, Vec<HostPort>>,
}

/// A task holds resources and ports on its node from ASSIGNED until it stops running, whatever
/// its desired state: a task being shut down still occupies the node until it has stopped.
pub fn occupies_node(task: &Task) -> bool {
    !task.node_id.is_empty() && task.status.state.is_active_on_node()
}

/// A task on a node counts towards spreading and per-node maximums while it is meant to run
/// (desired state up to COMPLETE, so job tasks count too, as in Swarm).
pub fn counts_for_spread(task: &Task) -> bool {
    occupies_node(task) && task.desired_state <= TaskState::Complete
}

impl<'a> Nodes<'a> {
    /// Every node with its full capacity and nothing on it yet; call [`Nodes::occupy_with`] for
    /// the tasks the snapshot has on nodes. Tasks of `services` are also counted per service.
    pub fn new(state: &'a State, services: HashSet<&'a str>) -> Nodes<'a> {
        let mut infos = Vec::with_capacity(state.node_count());
        for node in state.nodes() {
            infos.push(NodeInfo {
                node,
                free_nano_cpus: node.description.resources.nano_cpus,
                free_memory_bytes: node.description.resources.memory_bytes,
                free_generic: OnceCell::new(),
                active_tasks: 0,
                host_ports: Vec::new(),
            });
        }
        let service_ports = state
            .services()
            .filter_map(|s| {
                let ports = super::filter::host_ports(s.spec.endpoint.as_ref().map_or(&[][..], |e| &e.ports));
                (!ports.is_empty()).then_some((s.id.as_str(), ports))
            })
            .collect();
        Nodes {
            infos,
            counted: Vec::new(),
            services,
            positions: OnceCell::new(),
            service_ports,
        }
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.infos.len()
    }

    /// The position of node `id`, if the snapshot has it.
    pub fn position(&self, id: &str) -> Option<u32> {
        let positions = self.positions.get_or_init(|| {
            self.infos
                .iter()
                .enumerate()
                .map(|(pos, info)| (info.node.id.as_str(), pos as u32))
                .collect()
        });
        positions.get(id).copied()
    }

    /// Host ports a task of `service_id` holds on its node.
    pub fn ports_of_service(&self, service_id: &str) -> &[HostPort] {
        if self.service_ports.is_empty() {
            return &[];
        }
        self.service_ports.get(service_id).map_or(&[], Vec::as_slice)
    }

    /// Accounts for a task the snapshot already has on a node (no-op for other tasks).
    pub fn occupy_with(&mut self, task: &'a Task, given: &[GenericResource]) {
        if !occupies_node(task) {
            return;
        }
        let Some(pos) = self.position(&task.node_id) else {
            return;
        };
        let ports = if self.service_ports.is_empty() {
            Vec::new()
        } else {
            self.ports_of_service(&task.service_id).to_vec()
        };
        let counted = counts_for_spread(task);
        if counted && self.services.contains(task.service_id.as_str()) {
            self.counted.push((task.service_id.as_str(), pos));
        }
        // What the task was given; a task assigned before the units were recorded holds
        // what it reserves (counts: nodes offered no named units then).
        let reserved;
        let held = if given.is_empty() {
            reserved = types::generic::reserved(&task.spec);
            &reserved[..]
        } else {
            given
        };
        self.occupy(pos, &task.spec.resources.reservations, held, &ports, counted);
    }

    /// Gives a task placed on node `pos` the generic units its `reservation` asks for, taken
    /// from what the node has free (named units first, then counts); empty when it asks for
    /// none. The caller has checked that they fit.
    pub fn claim(&mut self, pos: u32, reservation: &[GenericResource]) -> Vec<GenericResource> {
        if reservation.is_empty() {
            return Vec::new();
        }
        let Some(info) = self.infos.get_mut(pos as usize) else {
            return Vec::new();
        };
        info.free_generic();
        info.free_generic
            .get_mut()
            .and_then(|free| free.claim(reservation))
            .unwrap_or_default()
    }

    /// Ends the intake of tasks already on nodes.
    pub fn seal(&mut self) {
        self.counted.sort_unstable_by_key(|(service, _)| *service);
    }

    /// Positions of the nodes running each counted task of `service_id` (one entry per task).
    pub fn counted_of_service<'s>(&'s self, service_id: &'s str) -> impl Iterator<Item = u32> + 's {
        let start = self.counted.partition_point(|(s, _)| *s < service_id);
        self.counted
            .get(start..)
            .unwrap_or(&[])
            .iter()
            .take_while(move |(s, _)| *s == service_id)
            .map(|(_, pos)| *pos)
    }

    /// Puts a task's reservations, the generic units it holds and its ports on node `pos`.
    pub fn occupy(
        &mut self,
        pos: u32,
        reservations: &Reservations,
        generic: &[GenericResource],
        ports: &[HostPort],
        counted: bool,
    ) {
        let Some(info) = self.infos.get_mut(pos as usize) else {
            return;
        };
        if !generic.is_empty() {
            info.free_generic();
            if let Some(free) = info.free_generic.get_mut() {
                free.hold(generic);
            }
        }
        info.free_nano_cpus = info.free_nano_cpus.saturating_sub(reservations.nano_cpus);
        info.free_memory_bytes = info.free_memory_bytes.saturating_sub(reservations.memory_bytes);
        if counted {
            info.active_tasks = info.active_tasks.saturating_add(1);
        }
        info.host_ports.extend_from_slice(ports);
    }
}
