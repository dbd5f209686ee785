//! `GET /services/{id}/logs` and `GET /tasks/{id}/logs`: the tasks chosen here, their lines
//! gathered from their nodes by `daemon/task_logs.rs`.

use std::sync::Arc;

use api::{LogLine, LogOptions, LogTarget};
use futures::stream::BoxStream;
use manager::Error;
use types::Task;

use super::Result;
use crate::daemon::swarm::Swarm;

/// The lines of a service's tasks or of one task.
pub(super) async fn logs(
    s: &Swarm,
    target: LogTarget,
    options: LogOptions,
) -> Result<BoxStream<'static, LogLine>> {
    use futures::StreamExt;
    let m = s.require_manager().await?;
    let view = m.synced_view().await;
    let (tasks, follow_service): (Vec<Arc<Task>>, Option<String>) = match &target {
        LogTarget::Service(key) => {
            let s = view
                .lookup_service(key)
                .map_err(|e| Error::NotFound(e.to_string()))?;
            let tasks = view.tasks_of_service(&s.id).cloned().collect();
            (tasks, options.follow.then(|| s.id.clone()))
        }
        LogTarget::Task(key) => (
            vec![
                view.lookup_task(key)
                    .map_err(|e| Error::NotFound(e.to_string()))?,
            ],
            None,
        ),
    };
    let selection = rpc::messages::LogSelection {
        follow: options.follow,
        tail: options.tail.map(|n| n as u64),
        since: options.since,
        until: options.until,
        stdout: options.stdout,
        stderr: options.stderr,
    };
    let rx = crate::daemon::task_logs::stream(&m, tasks, selection, follow_service).await?;
    Ok(tokio_stream::wrappers::ReceiverStream::new(rx)
        .flat_map(futures::stream::iter)
        .boxed())
}
