//! The filters a node must pass to take a task, in Swarm's order, and the explanation of a
//! task that fits nowhere.
//!
//! A group's requirements are worked out once (constraints parsed, ports collected); each node
//! is then checked by plain comparisons. The first failing filter is charged with the node, so
//! the explanation counts every node once, as Swarm's pipeline does.
//!
//! Ready, constraints and platform cannot change during a pass; resources, host ports and max
//! replicas can, because every placement consumes some of them. After a placement only those
//! three are checked again ([`Requirements::still_fits`]).

use types::{Availability, Node, NodeState, PortConfig, TaskSpec};

use super::nodes::{HostPort, NodeInfo};
use crate::constraint::{self, Constraint, ConstraintError};

/// The filters, in the order Swarm applies them (its plugin and volume filters have no
/// counterpart here yet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filter {
    /// Node READY and ACTIVE.
    Ready,
    /// Reservations fit in what the node has left.
    Resources,
    /// Placement constraints hold.
    Constraints,
    /// The node's platform is one the task supports.
    Platform,
    /// The node's executor can run the task (`crate::executor`).
    Executor,
    /// No host-mode published port of the task is in use on the node.
    HostPort,
    /// Fewer tasks of the service on the node than the per-node maximum.
    MaxReplicas,
}

/// Every filter, in order; a filter's position is its index in [`Failures`].
pub const FILTERS: [Filter; 7] = [
    Filter::Ready,
    Filter::Resources,
    Filter::Constraints,
    Filter::Platform,
    Filter::Executor,
    Filter::HostPort,
    Filter::MaxReplicas,
];

impl Filter {
    fn index(self) -> usize {
        self as usize
    }

    /// Swarm's wording for a filter that failed on `n` nodes.
    pub fn explain(self, n: u32) -> String {
        let nodes = if n == 1 {
            "1 node".to_string()
        } else {
            format!("{n} nodes")
        };
        match self {
            Filter::Ready => format!("{nodes} not available for new tasks"),
            Filter::Resources => format!("insufficient resources on {nodes}"),
            Filter::Constraints => format!("scheduling constraints not satisfied on {nodes}"),
            Filter::Platform => format!("unsupported platform on {nodes}"),
            Filter::Executor => {
                format!("executor process cannot run an image without a command on {nodes}")
            }
            Filter::HostPort => format!("host-mode port already in use on {nodes}"),
            Filter::MaxReplicas => format!("max replicas per node limit exceeded on {nodes}"),
        }
    }
}

/// How many nodes each filter turned away.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Failures([u32; FILTERS.len()]);

impl Failures {
    /// Charges one node to `filter`.
    pub fn add(&mut self, filter: Filter) {
        self.0[filter.index()] += 1;
    }

    /// `no suitable node (…)`: filters by failure count, most first; ties in filter order.
    pub fn reason(&self) -> String {
        let mut failed: Vec<(u32, Filter)> = FILTERS
            .iter()
            .map(|&f| (self.0[f.index()], f))
            .filter(|(n, _)| *n > 0)
            .collect();
        if failed.is_empty() {
            return "no suitable node".to_string();
        }
        // Stable, so equal counts keep the filter order.
        failed.sort_by_key(|(n, _)| std::cmp::Reverse(*n));
        let parts: Vec<String> = failed.iter().map(|(n, f)| f.explain(*n)).collect();
        format!("no suitable node ({})", parts.join("; "))
    }
}

/// What a group of identical tasks asks of a node, worked out once per group.
#[derive(Debug, Clone, Default)]
pub struct Requirements {
    /// Reserved CPUs × 10⁹.
    pub nano_cpus: i64,
    /// Reserved memory bytes.
    pub memory_bytes: i64,
    /// Reserved generic resources (counts).
    pub generic: Vec<types::generic::GenericResource>,
    /// Parsed placement constraints.
    pub constraints: Vec<Constraint>,
    /// Supported `(os, normalised arch)`; empty means any.
    pub platforms: Vec<(String, String)>,
    /// Host-mode published ports of the service.
    pub host_ports: Vec<HostPort>,
    /// Tasks of the service per node (0: unlimited).
    pub max_replicas: u64,
    /// The task names an image and no command (not every executor runs it).
    pub needs_image_runner: bool,
}

impl Requirements {
    /// The requirements of tasks running `spec` for a service publishing `ports`.
    pub fn new(spec: &TaskSpec, ports: &[PortConfig]) -> Result<Requirements, ConstraintError> {
        let placement = &spec.placement;
        Ok(Requirements {
            nano_cpus: spec.resources.reservations.nano_cpus,
            memory_bytes: spec.resources.reservations.memory_bytes,
            generic: types::generic::reserved(spec),
            constraints: constraint::parse(&placement.constraints)?,
            platforms: placement
                .platforms
                .iter()
                .map(|p| (p.os.clone(), normalise_arch(&p.architecture).to_string()))
                .collect(),
            host_ports: host_ports(ports),
            max_replicas: placement.max_replicas,
            needs_image_runner: crate::executor::needs_image_runner(spec),
        })
    }

    fn reserves(&self) -> bool {
        self.nano_cpus != 0 || self.memory_bytes != 0 || !self.generic.is_empty()
    }

    /// The first filter `info` fails, or `None` if the node can take a task now.
    /// `service_tasks` is how many tasks of the service the node already has.
    pub fn first_failure(&self, info: &NodeInfo<'_>, service_tasks: u32) -> Option<Filter> {
        let node = info.node;
        if !is_ready(node) {
            return Some(Filter::Ready);
        }
        if self.reserves() && !self.resources_fit(info) {
            return Some(Filter::Resources);
        }
        if !constraint::matches_all(&self.constraints, node) {
            return Some(Filter::Constraints);
        }
        if !self.platform_fits(node) {
            return Some(Filter::Platform);
        }
        if self.needs_image_runner && !crate::executor::runs_images(crate::executor::of_node(node)) {
            return Some(Filter::Executor);
        }
        self.dynamic_failure(info, service_tasks, false)
    }

    /// After a placement on a node that passed every filter: the first filter it fails now.
    pub fn still_fits(&self, info: &NodeInfo<'_>, service_tasks: u32) -> Option<Filter> {
        self.dynamic_failure(info, service_tasks, true)
    }

    fn dynamic_failure(
        &self,
        info: &NodeInfo<'_>,
        service_tasks: u32,
        check_resources: bool,
    ) -> Option<Filter> {
        if check_resources && self.reserves() && !self.resources_fit(info) {
            return Some(Filter::Resources);
        }
        if !self.host_ports.is_empty() && self.host_ports.iter().any(|p| info.host_ports.contains(p)) {
            return Some(Filter::HostPort);
        }
        if self.max_replicas > 0 && u64::from(service_tasks) >= self.max_replicas {
            return Some(Filter::MaxReplicas);
        }
        None
    }

    /// Reservations fit in what the node has left (each dimension on its own, as Swarm).
    pub fn resources_fit(&self, info: &NodeInfo<'_>) -> bool {
        // A task reserving only generic resources is not kept off a node whose CPUs or memory
        // are over-committed, as one reserving nothing is not.
        let cpu_and_memory = (self.nano_cpus == 0 && self.memory_bytes == 0)
            || (self.nano_cpus <= info.free_nano_cpus && self.memory_bytes <= info.free_memory_bytes);
        cpu_and_memory && (self.generic.is_empty() || info.free_generic().fits(&self.generic))
    }

    fn platform_fits(&self, node: &Node) -> bool {
        if self.platforms.is_empty() {
            return true;
        }
        let os = node.description.platform.os.as_str();
        let arch = normalise_arch(&node.description.platform.architecture);
        self.platforms.iter().any(|(want_os, want_arch)| {
            (want_arch.is_empty() || want_arch == arch) && (want_os.is_empty() || want_os == os)
        })
    }
}

/// READY and ACTIVE: the only nodes that take new tasks.
pub fn is_ready(node: &Node) -> bool {
    node.status.state == NodeState::Ready && node.spec.availability == Availability::Active
}

/// Docker and the kernel spell two architectures differently; Swarm treats them as one.
fn normalise_arch(arch: &str) -> &str {
    match arch {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// The host-mode ports with a fixed published port: the only ones that can collide on a node.
pub fn host_ports(ports: &[PortConfig]) -> Vec<HostPort> {
    ports
        .iter()
        .filter(|p| p.publish_mode.eq_ignore_ascii_case("host") && p.published_port != 0)
        .map(|p| HostPort::new(&p.protocol, p.published_port))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_read_like_swarm() {
        let mut f = Failures::default();
        assert_eq!(f.reason(), "no suitable node");
        f.add(Filter::Resources);
        f.add(Filter::Constraints);
        f.add(Filter::Constraints);
        f.add(Filter::Constraints);
        assert_eq!(
            f.reason(),
            "no suitable node (scheduling constraints not satisfied on 3 nodes; insufficient resources on 1 node)"
        );
        f.add(Filter::Resources);
        f.add(Filter::Resources);
        f.add(Filter::Ready);
        f.add(Filter::Ready);
        f.add(Filter::Ready);
        assert_eq!(
            f.reason(),
            "no suitable node (3 nodes not available for new tasks; insufficient resources on 3 nodes; \
             scheduling constraints not satisfied on 3 nodes)"
        );
    }

    #[test]
    fn architectures_are_normalised_on_both_sides() {
        assert_eq!(normalise_arch("x86_64"), "amd64");
        assert_eq!(normalise_arch("aarch64"), "arm64");
        assert_eq!(normalise_arch("s390x"), "s390x");
    }
}
