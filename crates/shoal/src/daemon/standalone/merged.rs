//! The node's containers for the Engine API: the swarm worker's task containers and the
//! standalone ones side by side, each call going to the side that holds the task.

use std::sync::Arc;

use agent::Tasks;
use agent::executor::details::Details;
use agent::executor::exec::{ExecProcess, ExecSpec};
use agent::executor::{Executor, Exit};
use agent::logs::{LogLines, LogOptions};
use types::Task;

use super::Standalone;

/// Task containers (while in a swarm) and standalone containers as one [`Tasks`].
pub struct Merged {
    /// The swarm worker's tasks, while the node is in a swarm.
    pub swarm: Option<Arc<dyn Tasks>>,
    /// The standalone containers, where the node can run them.
    pub standalone: Option<Arc<Standalone>>,
}

impl Merged {
    fn standalone_of(&self, task_id: &str) -> Option<&Arc<Standalone>> {
        self.standalone.as_ref().filter(|s| s.holds(task_id))
    }

    fn no_such(task_id: &str) -> agent::executor::Error {
        agent::executor::Error::NotFound(task_id.to_owned())
    }
}

#[async_trait::async_trait]
impl Tasks for Merged {
    async fn assign(&self, full: bool, tasks: Vec<Task>, removed: Vec<String>) {
        if let Some(swarm) = &self.swarm {
            swarm.assign(full, tasks, removed).await;
        }
    }

    async fn logs(&self, task_id: &str, options: LogOptions) -> Option<LogLines> {
        if let Some(s) = self.standalone_of(task_id) {
            return s.executor().logs(task_id, options).await.ok();
        }
        self.swarm.as_ref()?.logs(task_id, options).await
    }

    async fn stop(&self, remove: bool) {
        if let Some(swarm) = &self.swarm {
            swarm.stop(remove).await;
        }
    }

    async fn containers(&self) -> Vec<(Arc<Task>, Details)> {
        let mut out = match &self.swarm {
            Some(swarm) => swarm.containers().await,
            None => Vec::new(),
        };
        if let Some(s) = &self.standalone {
            out.extend(s.containers().await);
        }
        out
    }

    async fn signal(&self, task_id: &str, signal: i32) -> agent::executor::Result<()> {
        if let Some(s) = self.standalone_of(task_id) {
            return s.executor().signal(task_id, signal).await;
        }
        match &self.swarm {
            Some(swarm) => swarm.signal(task_id, signal).await,
            None => Err(Self::no_such(task_id)),
        }
    }

    async fn wait(&self, task_id: &str) -> agent::executor::Result<Exit> {
        if let Some(s) = self.standalone_of(task_id) {
            return s.wait(task_id).await;
        }
        match &self.swarm {
            Some(swarm) => swarm.wait(task_id).await,
            None => Err(Self::no_such(task_id)),
        }
    }

    async fn held(&self) -> Vec<Arc<Task>> {
        let mut out = match &self.swarm {
            Some(swarm) => swarm.held().await,
            None => Vec::new(),
        };
        if let Some(s) = &self.standalone {
            out.extend(s.held());
        }
        out
    }

    async fn exec(&self, task_id: &str, spec: &ExecSpec) -> agent::executor::Result<ExecProcess> {
        if let Some(s) = self.standalone_of(task_id) {
            return s.executor().exec(task_id, spec).await;
        }
        match &self.swarm {
            Some(swarm) => swarm.exec(task_id, spec).await,
            None => Err(Self::no_such(task_id)),
        }
    }

    async fn stdin(
        &self,
        task_id: &str,
    ) -> agent::executor::Result<Box<dyn tokio::io::AsyncWrite + Send + Unpin>> {
        if let Some(s) = self.standalone_of(task_id) {
            return s.executor().stdin(task_id);
        }
        match &self.swarm {
            Some(swarm) => swarm.stdin(task_id).await,
            None => Err(Self::no_such(task_id)),
        }
    }

    async fn terminal_attach(
        &self,
        task_id: &str,
        want: agent::executor::oci::terminal::Want,
    ) -> agent::executor::Result<agent::executor::oci::terminal::Console> {
        if let Some(s) = self.standalone_of(task_id) {
            return s.executor().console(task_id, want).await;
        }
        match &self.swarm {
            Some(swarm) => swarm.terminal_attach(task_id, want).await,
            None => Err(Self::no_such(task_id)),
        }
    }

    async fn terminal_resize(&self, task_id: &str, height: u16, width: u16) -> agent::executor::Result<()> {
        if let Some(s) = self.standalone_of(task_id) {
            return s.executor().resize(task_id, height, width).await;
        }
        match &self.swarm {
            Some(swarm) => swarm.terminal_resize(task_id, height, width).await,
            None => Err(Self::no_such(task_id)),
        }
    }
}
