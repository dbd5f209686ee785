//! The session loop: connect to the leader, follow its session stream, heartbeat.

use std::time::Duration;

use std::sync::Arc;

use rpc::calls::{Assignments, Heartbeat, Leave, Session};
use rpc::messages::{
    AssignmentsMessage, AssignmentsRequest, HeartbeatRequest, LeaveRequest, SessionMessage, SessionRequest,
};
use rpc::{Incoming, Pool};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use types::{NodeDescription, Role};

use crate::log_publisher::LogPublisher;
use crate::runner::StatusUpdate;
use crate::tasks::{Tasks, report_statuses};

/// What the cluster tells this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentEvent {
    /// A session message arrived (managers, desired role, period).
    Session(SessionMessage),
    /// The node was removed from the swarm; the session will not come back.
    Removed(String),
    /// The session to the leader is up.
    Connected,
    /// The session dropped; the agent keeps retrying.
    Disconnected(String),
}

/// A running agent; dropping it does not stop it, [`Agent::stop`] does.
pub struct Agent {
    shutdown: CancellationToken,
    pool: Pool,
    leader: watch::Receiver<Option<String>>,
}

/// The node's task side, as the session drives it.
pub struct TaskLink {
    /// Receives assignments and serves logs.
    pub tasks: Arc<dyn Tasks>,
    /// Observed statuses to report.
    pub statuses: mpsc::UnboundedReceiver<StatusUpdate>,
}

impl Agent {
    /// Starts the session loop against `managers` (any of them; it finds the leader). With a
    /// worker, the node also receives task assignments and reports task statuses.
    pub fn start(
        pool: Pool,
        managers: Vec<String>,
        description: NodeDescription,
        events: mpsc::Sender<AgentEvent>,
        worker: Option<TaskLink>,
    ) -> Agent {
        let shutdown = CancellationToken::new();
        let (leader_tx, leader_rx) = watch::channel(None);
        let leader = leader_tx.subscribe();
        let agent_pool = pool.clone();
        let tasks = worker.map(|w| {
            tokio::spawn(report_statuses(
                pool.clone(),
                leader_rx,
                w.statuses,
                shutdown.clone(),
            ));
            w.tasks
        });
        let logs = tasks.clone().map(|t| LogPublisher::new(t, pool.clone()));
        let link = Link {
            pool,
            description,
            events,
            leader: leader_tx,
            tasks,
            logs,
        };
        tokio::spawn(run(link, managers, shutdown.clone()));
        Agent {
            shutdown,
            pool: agent_pool,
            leader,
        }
    }

    /// Stops the session and heartbeats.
    pub fn stop(&self) {
        self.shutdown.cancel();
    }

    /// Stops the session, then tells the leader this node is leaving the swarm, so it shows
    /// as down at once instead of ready until its heartbeats are missed. Best effort: if no
    /// leader answers within a few seconds, the missed heartbeats still mark it down.
    pub async fn leave(&self) {
        self.stop();
        let Some(mut addr) = self.leader.borrow().clone() else {
            return;
        };
        // A leader that just lost its post names the new one; follow a couple of hints.
        for _ in 0..3 {
            match self
                .pool
                .call_within::<Leave>(&addr, &LeaveRequest {}, LEAVE_TIMEOUT)
                .await
            {
                Ok(_) => return,
                Err(status) => match leader_hint(&status) {
                    Some(next) if next != addr => addr = next,
                    _ => {
                        tracing::warn!(%addr, "could not tell the leader this node leaves: {}", status.message());
                        return;
                    }
                },
            }
        }
    }

    /// A handle for calls to the leader beside the session.
    pub fn leader_link(&self) -> LeaderLink {
        LeaderLink {
            pool: self.pool.clone(),
            leader: self.leader.clone(),
        }
    }
}

/// Calls to the leader over the node's identity, beside its session (e.g. a worker's
/// standalone containers joining networks).
#[derive(Clone)]
pub struct LeaderLink {
    pool: Pool,
    leader: watch::Receiver<Option<String>>,
}

impl LeaderLink {
    /// Sends the leader one unary dispatcher call, following a couple of leader hints (a
    /// leader that just lost its post names the next).
    pub async fn call_leader<C: rpc::calls::Unary>(
        &self,
        req: &C::Request,
        timeout: Duration,
    ) -> Result<C::Response, tonic::Status> {
        let Some(mut addr) = self.leader.borrow().clone() else {
            return Err(tonic::Status::unavailable("no leader is known yet; try again"));
        };
        let mut tries = 0;
        loop {
            match self.pool.call_within::<C>(&addr, req, timeout).await {
                Err(status) if tries < 3 => match leader_hint(&status) {
                    Some(next) if next != addr => {
                        addr = next;
                        tries += 1;
                    }
                    _ => return Err(status),
                },
                other => return other,
            }
        }
    }
}

/// How long a leaving node waits for the leader to record it.
const LEAVE_TIMEOUT: Duration = Duration::from_secs(3);

/// Retry backoff after a failed session, doubling up to the cap (Swarm: 100 ms to 8 s; we
/// cap lower so a failover is followed quickly).
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(2);

enum Ended {
    Removed(String),
    Retry { reason: String, leader: Option<String> },
}

/// What one session needs; shared across reconnects.
struct Link {
    pool: Pool,
    description: NodeDescription,
    events: mpsc::Sender<AgentEvent>,
    leader: watch::Sender<Option<String>>,
    tasks: Option<Arc<dyn Tasks>>,
    logs: Option<LogPublisher>,
}

async fn run(link: Link, mut managers: Vec<String>, shutdown: CancellationToken) {
    let Link { pool, events, .. } = &link;
    let mut backoff = BACKOFF_MIN;
    let mut next = 0usize;
    let mut hint: Option<String> = None;
    loop {
        if managers.is_empty() {
            let _ = events
                .send(AgentEvent::Disconnected("no managers known".into()))
                .await;
            return;
        }
        let addr = hint
            .take()
            .unwrap_or_else(|| managers[next % managers.len()].clone());
        next += 1;
        let ended = tokio::select! {
            _ = shutdown.cancelled() => return,
            e = session(&link, &addr, &mut managers) => e,
        };
        if let Some(logs) = &link.logs {
            logs.stop_all();
        }
        match ended {
            Ended::Removed(reason) => {
                let _ = events.send(AgentEvent::Removed(reason)).await;
                return;
            }
            Ended::Retry { reason, leader } => {
                tracing::debug!(%addr, %reason, "session ended");
                let _ = events.send(AgentEvent::Disconnected(reason)).await;
                if let Some(leader) = leader {
                    // Straight to the leader, no backoff: a follower told us where to go.
                    hint = Some(leader);
                    continue;
                }
                pool.forget(&addr);
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

fn leader_hint(status: &tonic::Status) -> Option<String> {
    status
        .metadata()
        .get("x-leader")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn classify(status: tonic::Status) -> Ended {
    if rpc::Reason::of(&status) == Some(rpc::Reason::NodeRemoved) {
        return Ended::Removed(status.message().to_string());
    }
    Ended::Retry {
        leader: leader_hint(&status),
        reason: status.message().to_string(),
    }
}

/// One session: open the session (and assignments) stream, heartbeat beside it, return when
/// any of them fails.
async fn session(link: &Link, addr: &str, managers: &mut Vec<String>) -> Ended {
    let Link {
        pool,
        description,
        events,
        ..
    } = link;
    // The network layer holds the node's tunnel key pair (encrypted overlays).
    let network = match &link.tasks {
        Some(tasks) => tasks.node_network().await,
        None => None,
    };
    let open = SessionRequest {
        description: description.clone(),
        tunnel_key: tunnel_key(&network).await,
    };
    let mut stream = match pool.open::<Session>(addr, &open).await {
        Ok(s) => s,
        Err(status) => return classify(status),
    };
    let mut assignments = match &link.tasks {
        Some(_) => match pool.open::<Assignments>(addr, &AssignmentsRequest {}).await {
            Ok(s) => Some(s),
            Err(status) => return classify(status),
        },
        None => None,
    };
    let _ = link.leader.send(Some(addr.to_string()));
    let _ = events.send(AgentEvent::Connected).await;
    let mut period = Duration::from_secs(2);
    let mut beat = tokio::time::interval(period);
    let mut rotation: Option<Duration> = None;
    loop {
        tokio::select! {
            msg = stream.message() => match msg {
                Ok(Some(m)) => {
                    if !m.managers.is_empty() {
                        *managers = m.managers.clone();
                    }
                    let new_period = Duration::from_millis(m.heartbeat_period_ms.max(100));
                    if new_period != period {
                        period = new_period;
                        beat = tokio::time::interval(period);
                    }
                    if let Some(logs) = &link.logs {
                        logs.apply(addr, &m.log_subscriptions);
                    }
                    rotation = (m.tunnel_key_rotation_ms > 0).then(|| Duration::from_millis(m.tunnel_key_rotation_ms));
                    let _ = events.send(AgentEvent::Session(m)).await;
                }
                Ok(None) => return Ended::Retry { reason: "session closed by manager".into(), leader: None },
                Err(status) => return classify(status),
            },
            msg = next_assignment(&mut assignments) => match msg {
                Ok(Some(m)) => {
                    if let Some(network) = &network {
                        network.take_peer_keys(m.peer_keys).await;
                    }
                    if let Some(tasks) = &link.tasks {
                        tasks.assign_payloads(m.full, m.payloads, m.payloads_removed).await;
                        tasks.assign_networks(m.full, m.networks, m.networks_removed, m.network_deltas).await;
                        tasks.assign(m.full, m.tasks, m.removed).await;
                    }
                }
                Ok(None) => return Ended::Retry { reason: "assignments closed by manager".into(), leader: None },
                Err(status) => return classify(status),
            },
            _ = rotation_due(&network, rotation) => {
                // The leader's period: a new pair, the tunnels moved onto it, and a heartbeat
                // at once so the peers hear the new public key without waiting for the next.
                if let Some(network) = &network {
                    let tunnel_key = network.renew_tunnel_key().await;
                    if let Err(status) = pool.call_within::<Heartbeat>(addr, &HeartbeatRequest { tunnel_key }, period).await {
                        return classify(status);
                    }
                }
            }
            _ = beat.tick() => {
                let request = HeartbeatRequest { tunnel_key: tunnel_key(&network).await };
                match pool.call_within::<Heartbeat>(addr, &request, period).await {
                    Ok(r) => {
                        let p = Duration::from_millis(r.period_ms.max(100));
                        if p != period {
                            period = p;
                            beat = tokio::time::interval(period);
                        }
                    }
                    Err(status) => return classify(status),
                }
            }
        }
    }
}

/// The node's current tunnel public key, when it has a network layer with a data plane.
async fn tunnel_key(network: &Option<Arc<crate::network::NodeNetwork>>) -> Option<[u8; 32]> {
    match network {
        Some(network) => network.tunnel_key().await,
        None => None,
    }
}

/// Resolves when the node's tunnel key pair is `rotation` old; never without a period or a
/// network layer.
async fn rotation_due(network: &Option<Arc<crate::network::NodeNetwork>>, rotation: Option<Duration>) {
    match (network, rotation) {
        (Some(network), Some(period)) if network.tunnel_key().await.is_some() => {
            tokio::time::sleep_until(network.tunnel_key_made_at().await + period).await
        }
        _ => std::future::pending().await,
    }
}

/// The next assignments message, or never when this node runs no tasks.
async fn next_assignment(
    stream: &mut Option<Incoming<Assignments>>,
) -> Result<Option<AssignmentsMessage>, tonic::Status> {
    match stream {
        Some(s) => s.message().await,
        None => std::future::pending().await,
    }
}

/// The role a session message asks for, if any.
pub fn desired_role(event: &AgentEvent) -> Option<Role> {
    match event {
        AgentEvent::Session(m) => Some(m.desired_role),
        _ => None,
    }
}
