//! Task reads: Docker's task filters.

use std::collections::BTreeMap;
use std::sync::Arc;

use state::State;
use types::{Task, TaskState};

/// Filters of `GET /tasks`, Docker's set.
#[derive(Debug, Clone, Default)]
pub struct TaskFilters {
    /// ID prefixes.
    pub id: Vec<String>,
    /// Task name prefixes (`web.1`, `web.1.<id>`).
    pub name: Vec<String>,
    /// Services (ID, name or ID prefix).
    pub service: Vec<String>,
    /// Nodes (ID, name or ID prefix).
    pub node: Vec<String>,
    /// Task (container) labels, `key` or `key=value`.
    pub label: Vec<String>,
    /// Desired states (`running`, `shutdown`, `accepted`).
    pub desired_state: Vec<TaskState>,
    /// Docker CLI's internal `_up-to-date`: only tasks running the service's current task spec.
    pub up_to_date: bool,
}

fn labels_match(labels: &BTreeMap<String, String>, wanted: &[String]) -> bool {
    wanted.iter().all(|w| match w.split_once('=') {
        Some((k, v)) => labels.get(k).is_some_and(|have| have == v),
        None => labels.contains_key(w.as_str()),
    })
}

/// Tasks matching every filter (within one filter, any value may match).
pub fn list(state: &State, f: &TaskFilters) -> Vec<Arc<Task>> {
    let services: Vec<String> = f
        .service
        .iter()
        .filter_map(|k| state.lookup_service(k).ok().map(|s| s.id.clone()))
        .collect();
    let nodes: Vec<String> = f
        .node
        .iter()
        .filter_map(|k| state.lookup_node(k).ok().map(|n| n.id.clone()))
        .collect();
    if (!f.service.is_empty() && services.is_empty()) || (!f.node.is_empty() && nodes.is_empty()) {
        return Vec::new();
    }
    let candidates: Box<dyn Iterator<Item = &Arc<Task>>> = if !services.is_empty() {
        Box::new(services.iter().flat_map(|s| state.tasks_of_service(s)))
    } else if !nodes.is_empty() {
        Box::new(nodes.iter().flat_map(|n| state.tasks_on_node(n)))
    } else {
        Box::new(state.tasks())
    };
    candidates
        .filter(|t| services.is_empty() || services.contains(&t.service_id))
        .filter(|t| nodes.is_empty() || nodes.contains(&t.node_id))
        .filter(|t| f.id.is_empty() || f.id.iter().any(|p| t.id.starts_with(p.as_str())))
        .filter(|t| f.name.is_empty() || f.name.iter().any(|p| t.name().starts_with(p.as_str())))
        .filter(|t| labels_match(&t.spec.container.labels, &f.label))
        .filter(|t| f.desired_state.is_empty() || f.desired_state.contains(&t.desired_state))
        .filter(|t| {
            // SwarmKit's IsTaskDirty: a scale or a label change leaves tasks up to date; only
            // a different task spec makes them old.
            !f.up_to_date
                || state
                    .service(&t.service_id)
                    .is_some_and(|s| !crate::orchestrator::update::dirty(s, t))
        })
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orchestrator::fixtures::World;

    fn up_to_date(w: &World) -> usize {
        let f = TaskFilters {
            service: vec!["web".into()],
            up_to_date: true,
            ..Default::default()
        };
        list(&w.state, &f).len()
    }

    #[test]
    fn a_scale_leaves_tasks_up_to_date_and_a_new_image_does_not() {
        let mut w = World::new().nodes(&["n1"]).replicated("web", 2);
        let plan = w.reconcile();
        w.apply(plan);
        assert_eq!(up_to_date(&w), 2);
        w.set_replicas("web", 3);
        assert_eq!(
            up_to_date(&w),
            2,
            "a scale bumps the spec version, not the task spec"
        );
        w.update_service("web", |s| {
            std::sync::Arc::make_mut(&mut s.task).container.image = "busybox:2".into()
        });
        assert_eq!(up_to_date(&w), 0);
    }
}
