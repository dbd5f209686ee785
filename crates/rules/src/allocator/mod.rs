//! The allocator: a task leaves NEW once its resources are allocated — an address on each
//! network its spec names. Services get one virtual IP per network (none with endpoint mode
//! `dnsrr`), and what dead tasks and changed services no longer need is freed.
//!
//! ```text
//! pass ─► free:  addresses of dead tasks, VIPs of networks a service left
//!      ─► VIPs:  each service, per network of its task spec (endpoint mode vip), and on
//!                the ingress network while it publishes a port through the routing mesh
//!      ─► tasks: each wanted NEW task: one address per network (ingress too, as its
//!                service's VIP) ─► PENDING
//!      = one transaction: Op::SetAddresses + Op::UpdateTasks(Pending)
//! ```
//! The store refuses an address that is taken or outside its network's range, so a stale
//! plan fails whole and the next pass re-plans from a fresh view; a new leader's allocator
//! starts from what the store holds.

pub mod ipam;
pub mod ports;

use std::sync::Arc;

use state::{AddressUpdate, Op, Owner, State, TaskChange, TaskUpdate};
use types::{NetAddr, Network, NodeState, Service, Task, TaskState};

pub use ipam::Picker;

/// True for a task waiting on the allocator.
fn waiting(t: &Task) -> bool {
    t.status.state == TaskState::New && t.desired_state <= TaskState::Complete
}

/// True once a task's addresses can go: it stopped, or it is no longer wanted and never
/// started or sits on a node that is down or gone (it will not run there again).
fn releasable(state: &State, t: &Task) -> bool {
    if t.status.state.is_terminal() {
        return true;
    }
    if t.desired_state <= TaskState::Complete {
        return false;
    }
    t.status.state < TaskState::Assigned
        || state
            .node(&t.node_id)
            .is_none_or(|n| n.status.state == NodeState::Down)
}

/// A network named by a task spec: by ID (what the API stores), else by name.
pub fn resolve<'a>(state: &'a State, target: &str) -> Option<&'a Arc<Network>> {
    state.network(target).or_else(|| state.network_by_name(target))
}

/// The networks a task spec attaches to, each once, in spec order; `None` if one is missing.
fn networks_of<'a>(state: &'a State, task: &types::TaskSpec) -> Option<Vec<&'a Arc<Network>>> {
    let mut out: Vec<&Arc<Network>> = Vec::new();
    for n in &task.networks {
        let net = resolve(state, &n.target)?;
        if !out.iter().any(|o| o.id == net.id) {
            out.push(net);
        }
    }
    Some(out)
}

/// `nets` plus the ingress network when `service` publishes a port through the routing mesh
/// (its tasks and VIP then need an address there; Swarm attaches them the same way).
fn with_ingress<'a>(state: &'a State, service: Option<&Service>, nets: &mut Vec<&'a Arc<Network>>) {
    // Host-mode ports reach their tasks through the node's ingress sandbox too, so those
    // tasks get an ingress address as well.
    if service.is_none_or(|s| s.spec.endpoint.as_ref().is_none_or(|e| e.ports.is_empty())) {
        return;
    }
    if let Some(ingress) = state.networks().find(|n| n.spec.ingress)
        && !nets.iter().any(|n| n.id == ingress.id)
    {
        nets.push(ingress);
    }
}

/// True when the service balances through virtual IPs (the default endpoint mode).
fn wants_vips(s: &Service) -> bool {
    s.spec.endpoint.as_ref().is_none_or(|e| e.mode != "dnsrr")
}

/// One pass's plan.
struct Pass<'a> {
    state: &'a State,
    picker: Picker,
    updates: Vec<AddressUpdate>,
    pending: Vec<TaskUpdate>,
}

impl<'a> Pass<'a> {
    fn free_task(&mut self, t: &Task) {
        let owner = Owner::Task(t.id.clone());
        if !self.state.addresses(&owner).is_empty() && releasable(self.state, t) {
            self.updates.push(AddressUpdate {
                owner,
                addresses: Vec::new(),
            });
        }
    }

    /// Brings a service's VIPs in line with its spec: kept where still wanted, new ones
    /// picked, the rest freed.
    fn vips(&mut self, s: &Service) {
        let owner = Owner::Service(s.id.clone());
        let have = self.state.addresses(&owner);
        let wanted = match (wants_vips(s), networks_of(self.state, &s.spec.task)) {
            (true, Some(mut nets)) => {
                with_ingress(self.state, Some(s), &mut nets);
                nets
            }
            (true, None) => {
                // A network it names is gone: keep what it has until the spec changes.
                return;
            }
            (false, _) => Vec::new(),
        };
        let mut next = Vec::with_capacity(wanted.len());
        for net in wanted {
            if let Some(kept) = have.iter().find(|a| a.network_id == net.id) {
                next.push(kept.clone());
            } else if let Some(addr) = self.picker.pick(self.state, net) {
                next.push(NetAddr {
                    network_id: net.id.clone(),
                    addr,
                });
            }
        }
        if next != have {
            self.updates.push(AddressUpdate {
                owner,
                addresses: next,
            });
        }
    }

    /// Every node holds one address on the ingress network, its ingress sandbox's (the
    /// routing mesh's source address towards tasks on other nodes), from the moment the node
    /// exists; the store drops it with the node. Checked every pass: a lookup per node, and
    /// at most one failed search of a full ingress network (a search covers the whole subnet,
    /// so once one node finds nothing the others would not either).
    fn node_sandboxes(&mut self) {
        let Some(ingress) = self.state.networks().find(|n| n.spec.ingress) else {
            return;
        };
        let lacking = |node: &Arc<types::Node>| {
            !self
                .state
                .addresses(&Owner::Node(node.id.clone()))
                .iter()
                .any(|a| a.network_id == ingress.id)
        };
        let mut full = false;
        let mut without = 0usize;
        for node in self.state.nodes() {
            if !lacking(node) {
                continue;
            }
            let Some(addr) = (!full).then(|| self.picker.pick(self.state, ingress)).flatten() else {
                full = true;
                without += 1;
                continue;
            };
            let owner = Owner::Node(node.id.clone());
            self.updates.push(AddressUpdate {
                owner,
                addresses: vec![NetAddr {
                    network_id: ingress.id.clone(),
                    addr,
                }],
            });
        }
        report_nodes_without_ingress(without);
    }

    /// A NEW task gets an address per network and goes PENDING; it stays NEW while a
    /// network is missing or full.
    fn task(&mut self, t: &Task) {
        if !waiting(t) {
            return;
        }
        let Some(mut nets) = networks_of(self.state, &t.spec) else {
            let missing = t
                .spec
                .networks
                .iter()
                .find(|n| resolve(self.state, &n.target).is_none())
                .map(|n| n.target.as_str())
                .unwrap_or_default();
            self.stuck(t, format!("network {missing} not found"));
            return;
        };
        with_ingress(
            self.state,
            self.state.service(&t.service_id).map(|s| &**s),
            &mut nets,
        );
        let owner = Owner::Task(t.id.clone());
        let have = self.state.addresses(&owner);
        let mut next = Vec::with_capacity(nets.len());
        for net in nets {
            if let Some(kept) = have.iter().find(|a| a.network_id == net.id) {
                next.push(kept.clone());
                continue;
            }
            let Some(addr) = self.picker.pick(self.state, net) else {
                self.stuck(t, format!("no address available on network {}", net.spec.name));
                return;
            };
            next.push(NetAddr {
                network_id: net.id.clone(),
                addr,
            });
        }
        if next != have {
            self.updates.push(AddressUpdate {
                owner,
                addresses: next,
            });
        }
        self.pending.push(TaskUpdate {
            id: t.id.clone(),
            change: TaskChange::Pending,
        });
    }

    /// Says in the task's status why it stays NEW (once: an unchanged reason writes nothing,
    /// so a stuck task does not make every pass commit).
    fn stuck(&mut self, t: &Task, reason: String) {
        if t.status.err != reason {
            self.pending.push(TaskUpdate {
                id: t.id.clone(),
                change: TaskChange::Unallocated(reason),
            });
        }
    }

    fn into_ops(self) -> Vec<Op> {
        let mut ops = Vec::new();
        if !self.updates.is_empty() {
            ops.push(Op::SetAddresses(self.updates));
        }
        if !self.pending.is_empty() {
            ops.push(Op::UpdateTasks(self.pending));
        }
        ops
    }
}

fn pass<'a>(state: &'a State, tasks: impl Iterator<Item = &'a Arc<Task>>, all_holders: bool) -> Vec<Op> {
    let mut p = Pass {
        state,
        picker: Picker::default(),
        updates: Vec::new(),
        pending: Vec::new(),
    };
    let tasks: Vec<&Arc<Task>> = tasks.collect();
    if all_holders {
        for (owner, _) in state.address_holders() {
            if let Owner::Task(id) = owner
                && let Some(t) = state.task(id)
            {
                p.free_task(t);
            }
        }
    } else {
        for t in &tasks {
            p.free_task(t);
        }
    }
    // Few services, and a VIP change is rare: checking each every pass is cheap and needs
    // no bookkeeping of which services changed.
    for s in state.services() {
        p.vips(s);
    }
    p.node_sandboxes();
    for t in tasks {
        p.task(t);
    }
    p.into_ops()
}

/// Pure: the ops of one full pass (one transaction; empty when nothing changes).
pub fn allocate(state: &State) -> Vec<Op> {
    pass(state, state.tasks(), true)
}

/// Like [`allocate`], looking only at the tasks in `ids` (those that just changed).
pub fn allocate_ids(state: &State, ids: &[String]) -> Vec<Op> {
    pass(state, ids.iter().filter_map(|id| state.task(id)), false)
}

#[cfg(test)]
mod props;
#[cfg(test)]
mod tests;

/// How many nodes the last pass left without an ingress address (0 at start).
static NODES_WITHOUT_INGRESS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Warns when the number of nodes without an ingress sandbox address changes: every pass
/// sees the same full network, and a warning per pass would flood the log.
fn report_nodes_without_ingress(count: usize) {
    let before = NODES_WITHOUT_INGRESS.swap(count, std::sync::atomic::Ordering::Relaxed);
    if count != before && count > 0 {
        tracing::warn!(
            nodes = count,
            "the ingress network has no address left for these nodes' ingress sandboxes: they cannot serve the routing mesh (give ingress a larger subnet)"
        );
    }
}
