//! `service logs` and `task logs` for the API: subscribes to the logs of the chosen tasks
//! through the manager's log broker, and when a service's logs are followed, keeps watching
//! the store so that tasks started later (replacements, scale-ups) join the stream, as
//! Swarm's follow does.
//!
//! ```text
//! tasks now ──► subscription ──┐
//! store watch ─► task RUNNING ─► subscription ─┼─► lines ─► API stream (until the caller goes)
//!              ─► task RUNNING ─► subscription ─┘
//! ```

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use api::{LogLine, LogStream};
use manager::{Error, Manager};
use rpc::messages::{LogBatch, LogSelection};
use tokio::sync::mpsc;
use types::{Task, TaskState};

type Result<T> = std::result::Result<T, Error>;

/// Node and service of each task whose lines may arrive.
type Owners = HashMap<String, (String, String)>;

/// Batches of lines in flight between the subscriptions and the API stream.
const BUFFER: usize = 64;

/// Streams the logs of `tasks`; with `follow_service`, also of that service's tasks that
/// start later. The stream ends when every node is done (not following) or when the caller
/// drops it.
pub async fn stream(
    m: &Manager,
    tasks: Vec<Arc<Task>>,
    selection: LogSelection,
    follow_service: Option<String>,
) -> Result<mpsc::Receiver<Vec<LogLine>>> {
    // A follower asks for the tasks that already run; one still starting may not be known to
    // its node yet, so it joins when it runs (below) instead of being asked for too early.
    let ready = if follow_service.is_some() {
        TaskState::Running
    } else {
        TaskState::Assigned
    };
    let initial: Vec<&Arc<Task>> = tasks
        .iter()
        .filter(|t| !t.node_id.is_empty() && t.status.state >= ready)
        .collect();
    let (tx, rx) = mpsc::channel(BUFFER);
    let batches = m.logs(by_node(&initial), selection.clone()).await?;
    tokio::spawn(forward(batches, owners(&initial), tx.clone()));
    if let Some(service_id) = follow_service {
        let seen = initial.iter().map(|t| t.id.clone()).collect();
        tokio::spawn(follow_new_tasks(m.clone(), service_id, seen, selection, tx));
    }
    Ok(rx)
}

fn by_node(tasks: &[&Arc<Task>]) -> Vec<(String, Vec<String>)> {
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for t in tasks {
        map.entry(t.node_id.clone()).or_default().push(t.id.clone());
    }
    map.into_iter().collect()
}

fn owners(tasks: &[&Arc<Task>]) -> Owners {
    tasks
        .iter()
        .map(|t| (t.id.clone(), (t.node_id.clone(), t.service_id.clone())))
        .collect()
}

/// Turns one subscription's batches into lines for the API stream.
async fn forward(mut batches: mpsc::Receiver<LogBatch>, owners: Owners, tx: mpsc::Sender<Vec<LogLine>>) {
    loop {
        // A followed task may stay quiet for ever: notice the caller leaving without a line.
        let batch = tokio::select! {
            _ = tx.closed() => return,
            batch = batches.recv() => match batch {
                Some(batch) => batch,
                None => return,
            },
        };
        let lines = batch
            .records
            .into_iter()
            .map(|r| {
                let (node_id, service_id) = owners.get(&r.task_id).cloned().unwrap_or_default();
                LogLine {
                    timestamp: r.timestamp,
                    stream: if r.stderr {
                        LogStream::Stderr
                    } else {
                        LogStream::Stdout
                    },
                    line: r.line.into(),
                    task_id: r.task_id,
                    node_id,
                    service_id,
                }
            })
            .collect();
        if tx.send(lines).await.is_err() {
            // The caller went away; dropping `batches` ends the subscription.
            return;
        }
    }
}

/// Subscribes to each task of `service_id` once it runs, until the caller goes away.
async fn follow_new_tasks(
    m: Manager,
    service_id: String,
    mut seen: HashSet<String>,
    selection: LogSelection,
    tx: mpsc::Sender<Vec<LogLine>>,
) {
    // A task that starts later is shown whole: the tail applied to what ran before.
    let selection = LogSelection {
        tail: None,
        ..selection
    };
    let (mut view, mut watch) = m.store().view_and_watch();
    loop {
        let fresh: Vec<&Arc<Task>> = view
            .tasks_of_service(&service_id)
            .filter(|t| {
                !t.node_id.is_empty() && t.status.state >= TaskState::Running && !seen.contains(&t.id)
            })
            .collect();
        if !fresh.is_empty() {
            seen.extend(fresh.iter().map(|t| t.id.clone()));
            match m.logs(by_node(&fresh), selection.clone()).await {
                Ok(batches) => {
                    tokio::spawn(forward(batches, owners(&fresh), tx.clone()));
                }
                // No leader for now: these tasks' lines are lost, later ones still come.
                Err(e) => tracing::debug!("following logs of {service_id}: {e}"),
            }
        }
        tokio::select! {
            _ = tx.closed() => return,
            event = watch.next() => {
                if event.is_none() {
                    return;
                }
            }
        }
        view = m.store().view();
    }
}
