//! Node liveness on the leader: heartbeats arrive in memory, and a periodic pass marks nodes
//! that went quiet as down. Only state changes reach the Raft log, never heartbeats.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use store::{Op, State};
use tokio::time::Instant;
use types::{NodeState, Object};

/// Heartbeats missed before a node is marked down (Swarm uses three as well).
pub const MISSED_HEARTBEATS: u32 = 3;

/// Last heartbeat per node, kept only on the leader.
#[derive(Default)]
pub struct Liveness {
    last_seen: Mutex<HashMap<String, Instant>>,
    // Nodes never heard from by this leader count from here: a new leader gives everyone a
    // full grace period instead of marking the whole cluster down at once.
    since: Mutex<Option<Instant>>,
}

impl Liveness {
    /// Starts tracking as a new leader at `now`.
    pub fn reset(&self, now: Instant) {
        self.last_seen.lock().unwrap_or_else(|e| e.into_inner()).clear();
        *self.since.lock().unwrap_or_else(|e| e.into_inner()) = Some(now);
    }

    /// Records a heartbeat.
    pub fn seen(&self, node_id: &str, now: Instant) {
        self.last_seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(node_id.to_string(), now);
    }

    /// Snapshot of last-seen times, and the leadership start.
    pub fn snapshot(&self) -> (HashMap<String, Instant>, Instant) {
        let seen = self.last_seen.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let since = self
            .since
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .unwrap_or_else(Instant::now);
        (seen, since)
    }
}

/// The heartbeat period the cluster spec asks of nodes.
pub fn heartbeat_period(state: &State) -> Duration {
    let nanos = state
        .cluster()
        .map(|c| c.spec.dispatcher_heartbeat_period)
        .filter(|n| *n > 0)
        .unwrap_or(types::cluster::DEFAULT_HEARTBEAT_PERIOD_NANOS);
    Duration::from_nanos(nanos as u64)
}

/// Pure: the ops that mark as down every ready (or unknown) node silent for longer than
/// `MISSED_HEARTBEATS` periods at `now`.
pub fn mark_down(
    state: &State,
    last_seen: &HashMap<String, Instant>,
    leader_since: Instant,
    now: Instant,
    period: Duration,
) -> Vec<Op> {
    let grace = period * MISSED_HEARTBEATS;
    state
        .nodes()
        .filter(|n| matches!(n.status.state, NodeState::Ready | NodeState::Unknown))
        .filter(|n| {
            let last = last_seen
                .get(&n.id)
                .copied()
                .unwrap_or(leader_since)
                .max(leader_since);
            now.saturating_duration_since(last) > grace
        })
        .map(|n| {
            let mut next = (**n).clone();
            next.status.state = NodeState::Down;
            next.status.message = "heartbeat failure".into();
            Op::Update {
                object: Object::Node(next),
                expect_version: Some(n.meta.version),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use store::Txn;
    use types::{Meta, Node, NodeDescription, NodeSpec, NodeStatus, Role, Timestamp};

    fn state(nodes: &[(&str, NodeState)]) -> State {
        let ops = nodes
            .iter()
            .map(|(id, s)| {
                Op::Create(Object::Node(Node {
                    id: id.to_string(),
                    meta: Meta::default(),
                    spec: NodeSpec::default(),
                    description: NodeDescription::default(),
                    status: NodeStatus {
                        state: *s,
                        ..Default::default()
                    },
                    manager_status: None,
                    role: Role::Worker,
                }))
            })
            .collect();
        State::default()
            .apply(
                &Txn {
                    id: 0,
                    ops,
                    now: Timestamp(0),
                },
                1,
            )
            .unwrap()
            .0
    }

    #[test]
    fn quiet_nodes_go_down_after_the_grace_period() {
        let t0 = Instant::now();
        let period = Duration::from_secs(2);
        let s = state(&[
            ("a", NodeState::Ready),
            ("b", NodeState::Ready),
            ("c", NodeState::Down),
        ]);
        let seen: HashMap<_, _> = [("a".to_string(), t0 + Duration::from_secs(5))].into();
        // At 6.5 s: b was never seen since the leader started at t0 → 6.5 > 6 → down.
        let ops = mark_down(&s, &seen, t0, t0 + Duration::from_millis(6500), period);
        let ids: Vec<_> = ops
            .iter()
            .map(|op| match op {
                Op::Update { object, .. } => object.id().to_string(),
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(ids, ["b"]);
        // Nobody is marked down inside the new leader's grace period.
        assert!(mark_down(&s, &HashMap::new(), t0, t0 + Duration::from_secs(5), period).is_empty());
    }
}
