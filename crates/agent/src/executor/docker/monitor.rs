//! Watches one started container: its exit (dockerd's wait) and, when it has a health check,
//! its health (dockerd's `health_status` events). A container that turns unhealthy is stopped
//! here, as Swarm's executor does, and its exit says so.
//!
//! ```text
//!  events(container, health_status, since created) ─► health: starting → healthy | unhealthy ─► stop
//!  wait(not-running) ─► inspect (exit code, OOM) ─► exit
//! ```
//!
//! The events are asked for since the container's creation, so a `healthy` that came before
//! the watch began (or while no agent ran) is replayed rather than missed.

use std::sync::Arc;
use std::time::Duration;

use bollard::Docker;
use bollard::query_parameters::{EventsOptions, StopContainerOptions, WaitContainerOptions};
use futures::StreamExt;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::engine_error;
use crate::executor::{Error, Exit, Result};

/// Health as the events report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// No check, or no result yet.
    Starting,
    /// The last result passed.
    Healthy,
    /// The check failed its retries; the container is being stopped.
    Unhealthy,
}

/// The watch of one container.
pub struct Monitor {
    has_check: bool,
    exit: watch::Receiver<Option<Exit>>,
    health: watch::Receiver<Health>,
    cancel: CancellationToken,
}

impl Drop for Monitor {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// What the monitor needs to know about its container.
pub struct Watched {
    /// Container ID.
    pub id: String,
    /// Whether it has a health check to follow.
    pub has_check: bool,
    /// Its creation time in Unix seconds (where the events replay starts).
    pub created: i64,
    /// Stop grace in seconds, for stopping it when unhealthy.
    pub grace: i64,
}

impl Monitor {
    /// Starts watching; the watch ends with the container's exit or with `cancel`.
    pub fn spawn(docker: Docker, watched: Watched, cancel: CancellationToken) -> Arc<Monitor> {
        let (exit_tx, exit) = watch::channel(None);
        let (health_tx, health) = watch::channel(Health::Starting);
        let has_check = watched.has_check;
        tokio::spawn(run(docker, watched, exit_tx, health_tx, cancel.clone()));
        Arc::new(Monitor {
            has_check,
            exit,
            health,
            cancel,
        })
    }

    /// Whether the container has a health check this monitor follows.
    pub fn has_check(&self) -> bool {
        self.has_check
    }

    /// Resolves with the container's exit.
    pub async fn wait(&self) -> Exit {
        let mut exit = self.exit.clone();
        match exit.wait_for(Option::is_some).await {
            Ok(e) => e.clone().unwrap_or_default(),
            Err(_) => Exit {
                code: -1,
                lost: Some("the agent stopped watching the container".into()),
                ..Exit::default()
            },
        }
    }

    /// Resolves once the container is healthy; an unhealthy container or an exit before the
    /// first pass is an error.
    pub async fn healthy(&self) -> Result<()> {
        let mut health = self.health.clone();
        let mut exit = self.exit.clone();
        let exited = |e: Option<Exit>| match e {
            Some(e) if e.unhealthy => Error::Unhealthy,
            Some(e) => Error::ExitedWhileStarting(e.failure().unwrap_or_else(|| "exit 0".into())),
            None => Error::Engine("the container watch ended".into()),
        };
        tokio::select! {
            h = health.wait_for(|h| *h != Health::Starting) => match h.map(|h| *h) {
                Ok(Health::Healthy) => Ok(()),
                Ok(_) => Err(Error::Unhealthy),
                // The watch ended with the container: its exit says why.
                Err(_) => Err(exited(self.exit.borrow().clone())),
            },
            e = exit.wait_for(Option::is_some) => Err(exited(e.ok().and_then(|e| e.clone()))),
        }
    }
}

async fn run(
    docker: Docker,
    w: Watched,
    exit_tx: watch::Sender<Option<Exit>>,
    health_tx: watch::Sender<Health>,
    cancel: CancellationToken,
) {
    let mut events = if w.has_check {
        let filters = [
            ("container".to_string(), vec![w.id.clone()]),
            ("event".to_string(), vec!["health_status".to_string()]),
        ]
        .into();
        docker
            .events(Some(EventsOptions {
                since: Some(w.created.to_string()),
                until: None,
                filters: Some(filters),
            }))
            .boxed()
    } else {
        futures::stream::pending().boxed()
    };
    let mut unhealthy = false;
    let waited = wait_exit(&docker, &w.id);
    tokio::pin!(waited);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            event = events.next() => match event {
                Some(Ok(message)) => {
                    let action = message.action.unwrap_or_default();
                    match action.trim_start_matches("health_status:").trim() {
                        "healthy" if !unhealthy => { let _ = health_tx.send(Health::Healthy); }
                        "unhealthy" if !unhealthy => {
                            unhealthy = true;
                            let _ = health_tx.send(Health::Unhealthy);
                            let (docker, id, grace) = (docker.clone(), w.id.clone(), w.grace);
                            tokio::spawn(async move {
                                let stop = StopContainerOptions { signal: None, t: Some(grace as i32) };
                                if let Err(e) = docker.stop_container(&id, Some(stop)).await {
                                    tracing::warn!(container = %id, error = %e, "stopping an unhealthy container");
                                }
                            });
                        }
                        _ => {}
                    }
                }
                Some(Err(e)) => {
                    tracing::warn!(container = %w.id, error = %e, "health events ended; health is no longer followed");
                    events = futures::stream::pending().boxed();
                }
                None => events = futures::stream::pending().boxed(),
            },
            exit = &mut waited => {
                let _ = exit_tx.send(Some(Exit { unhealthy, ..exit }));
                return;
            }
        }
    }
}

/// Waits for the container to stop running and reads how it ended. dockerd going away for a
/// moment is retried; a container removed under us, or an engine gone for good, is a lost exit.
async fn wait_exit(docker: &Docker, id: &str) -> Exit {
    let mut delay = Duration::from_millis(200);
    let mut last = String::new();
    for _ in 0..6 {
        let options = WaitContainerOptions {
            condition: "not-running".into(),
        };
        match docker.wait_container(id, Some(options)).next().await {
            Some(Ok(_)) | Some(Err(bollard::errors::Error::DockerContainerWaitError { .. })) => {
                return match super::inspect_exit(docker, id).await {
                    Ok(Some(exit)) => exit,
                    Ok(None) => lost("the container is running again".into()),
                    Err(e) => lost(e.to_string()),
                };
            }
            Some(Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. })) => {
                return lost("the container was removed".into());
            }
            Some(Err(e)) => last = engine_error("waiting for the container", e).to_string(),
            None => last = "dockerd closed the wait".into(),
        }
        // A retry delay, not synchronisation: dockerd may be restarting.
        tokio::time::sleep(delay).await;
        delay *= 2;
    }
    lost(last)
}

fn lost(why: String) -> Exit {
    Exit {
        code: -1,
        lost: Some(why),
        ..Exit::default()
    }
}
