//! Container events of this node's task containers, read off the task runner: the
//! assignments say what each task is (service, slot, image, labels), its status updates say
//! what happened to it.
//!
//! ```text
//! READY ─► create      RUNNING ─► start (then health_status: healthy with a health check)
//! COMPLETE / FAILED after running ─► die {exitCode} (health_status: unhealthy first when the
//!                                     health check failed it)
//! SHUTDOWN after running ─► kill, die, stop      left the assignment after create ─► destroy
//! ```
//!
//! A task container is named and labelled as Swarm names it: `<service>.<slot>.<task ID>`
//! (`<service>.<node ID>.<task ID>` for global services) with `com.docker.swarm.*` labels.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use agent::Tasks;
use agent::logs::{LogLines, LogOptions};
use agent::runner::StatusUpdate;
use tokio::sync::mpsc;
use types::{Task, TaskState};

use super::events::{EventBus, Subject};

/// The container name and attributes of a task, as Swarm names and labels its containers.
pub fn container_subject(task: &Task) -> Subject {
    let c = &task.spec.container;
    let mut attributes: BTreeMap<String, String> = c.labels.clone();
    let name = task.name();
    for (k, v) in [
        ("com.docker.swarm.service.id", task.service_id.as_str()),
        ("com.docker.swarm.service.name", task.service_name.as_str()),
        ("com.docker.swarm.task", ""),
        ("com.docker.swarm.task.id", task.id.as_str()),
        ("com.docker.swarm.task.name", name.as_str()),
        ("com.docker.swarm.node.id", task.node_id.as_str()),
        ("image", c.image.as_str()),
        ("name", name.as_str()),
    ] {
        attributes.insert(k.to_string(), v.to_string());
    }
    Subject {
        kind: "container",
        id: api::containers::container_id(&task.id),
        attributes,
        from: c.image.clone(),
    }
}

/// What the events need to remember of one task.
struct Seen {
    task: Arc<Task>,
    state: TaskState,
    created: bool,
    started: bool,
}

/// The tasks this node holds, and the container events their changes make.
struct Tracker {
    bus: Arc<EventBus>,
    seen: Mutex<HashMap<String, Seen>>,
}

impl Tracker {
    fn assigned(&self, full: bool, tasks: &[Task], removed: &[String]) {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let mut gone: Vec<String> = removed.to_vec();
        if full {
            gone.extend(
                seen.keys()
                    .filter(|id| !tasks.iter().any(|t| &t.id == *id))
                    .cloned(),
            );
        }
        for id in gone {
            if let Some(s) = seen.remove(&id)
                && s.created
            {
                self.bus.publish(&container_subject(&s.task), "destroy");
            }
        }
        for t in tasks {
            let task = Arc::new(t.clone());
            match seen.get_mut(&t.id) {
                Some(s) => s.task = task,
                None => {
                    seen.insert(
                        t.id.clone(),
                        Seen {
                            state: t.status.state,
                            created: t.status.state >= TaskState::Ready
                                && t.status.state <= TaskState::Running,
                            started: t.status.state == TaskState::Running,
                            task,
                        },
                    );
                }
            }
        }
    }

    fn status(&self, update: &StatusUpdate) {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        // A status before the task's assignment (a re-attached task) has no name to report.
        let Some(s) = seen.get_mut(&update.task_id) else {
            return;
        };
        let state = update.status.state;
        if state == s.state {
            return;
        }
        s.state = state;
        let subject = container_subject(&s.task);
        let publish = |action: &str| self.bus.publish(&subject, action);
        let exit = |subject: &Subject, action: &str| {
            let mut with_code = Subject {
                kind: subject.kind,
                id: subject.id.clone(),
                attributes: subject.attributes.clone(),
                from: subject.from.clone(),
            };
            let code = update.status.container.as_ref().and_then(|c| c.exit_code);
            with_code
                .attributes
                .insert("exitCode".into(), code.unwrap_or(0).to_string());
            self.bus.publish(&with_code, action);
        };
        if (TaskState::Ready..=TaskState::Running).contains(&state) && !s.created {
            s.created = true;
            publish("create");
        }
        match state {
            TaskState::Running if !s.started => {
                s.started = true;
                super::volume_events::mounted(&self.bus, &s.task);
                publish("start");
                if s.task
                    .spec
                    .container
                    .healthcheck
                    .as_ref()
                    .is_some_and(|h| h.test.first().is_some_and(|t| t != "NONE"))
                {
                    publish("health_status: healthy");
                }
            }
            TaskState::Complete | TaskState::Failed if s.started => {
                s.started = false;
                if update.status.err.contains("unhealthy") {
                    publish("health_status: unhealthy");
                }
                super::volume_events::unmounted(&self.bus, &s.task);
                exit(&subject, "die");
            }
            TaskState::Shutdown if s.started => {
                s.started = false;
                let signal = if s.task.spec.container.stop_signal.is_empty() {
                    "15".to_string()
                } else {
                    s.task.spec.container.stop_signal.clone()
                };
                let mut kill = Subject {
                    kind: subject.kind,
                    id: subject.id.clone(),
                    attributes: subject.attributes.clone(),
                    from: subject.from.clone(),
                };
                kill.attributes.insert("signal".into(), signal);
                self.bus.publish(&kill, "kill");
                super::volume_events::unmounted(&self.bus, &s.task);
                exit(&subject, "die");
                publish("stop");
            }
            _ => {}
        }
    }
}

/// [`Tasks`] that reports what happens to the tasks it passes on.
struct Reporting {
    inner: Arc<dyn Tasks>,
    tracker: Arc<Tracker>,
}

#[async_trait::async_trait]
impl Tasks for Reporting {
    async fn assign(&self, full: bool, tasks: Vec<Task>, removed: Vec<String>) {
        self.tracker.assigned(full, &tasks, &removed);
        self.inner.assign(full, tasks, removed).await
    }

    async fn assign_networks(
        &self,
        full: bool,
        networks: Vec<types::NetworkView>,
        removed: Vec<String>,
        deltas: Vec<types::NetworkDelta>,
    ) {
        self.inner.assign_networks(full, networks, removed, deltas).await
    }

    async fn assign_payloads(
        &self,
        full: bool,
        payloads: Vec<types::Payload>,
        removed: Vec<(types::PayloadKind, String)>,
    ) {
        self.inner.assign_payloads(full, payloads, removed).await
    }

    async fn logs(&self, task_id: &str, options: LogOptions) -> Option<LogLines> {
        self.inner.logs(task_id, options).await
    }

    async fn stop(&self, remove: bool) {
        self.inner.stop(remove).await
    }

    // Everything else passes straight through: a method left to the trait's default here
    // would answer for the node as if it held no containers.

    async fn containers(&self) -> Vec<(Arc<Task>, agent::executor::details::Details)> {
        self.inner.containers().await
    }

    async fn signal(&self, task_id: &str, signal: i32) -> agent::executor::Result<()> {
        self.inner.signal(task_id, signal).await
    }

    async fn wait(&self, task_id: &str) -> agent::executor::Result<agent::executor::Exit> {
        self.inner.wait(task_id).await
    }

    async fn held(&self) -> Vec<Arc<Task>> {
        self.inner.held().await
    }

    async fn node_network(&self) -> Option<Arc<agent::network::NodeNetwork>> {
        self.inner.node_network().await
    }

    async fn exec(
        &self,
        task_id: &str,
        spec: &agent::executor::exec::ExecSpec,
    ) -> agent::executor::Result<agent::executor::exec::ExecProcess> {
        self.inner.exec(task_id, spec).await
    }

    async fn stdin(
        &self,
        task_id: &str,
    ) -> agent::executor::Result<Box<dyn tokio::io::AsyncWrite + Send + Unpin>> {
        self.inner.stdin(task_id).await
    }

    async fn terminal_attach(
        &self,
        task_id: &str,
        want: agent::executor::oci::terminal::Want,
    ) -> agent::executor::Result<agent::executor::oci::terminal::Console> {
        self.inner.terminal_attach(task_id, want).await
    }

    async fn terminal_resize(&self, task_id: &str, height: u16, width: u16) -> agent::executor::Result<()> {
        self.inner.terminal_resize(task_id, height, width).await
    }
}

/// Wraps a worker's tasks and status updates so that each change publishes its container
/// events on `bus`; the updates go on unchanged (the channel stays unbounded, as the runner's
/// contract says, and this forwarder adds no buffering of its own).
pub fn report(
    bus: Arc<EventBus>,
    tasks: Arc<dyn Tasks>,
    mut statuses: mpsc::UnboundedReceiver<StatusUpdate>,
) -> (Arc<dyn Tasks>, mpsc::UnboundedReceiver<StatusUpdate>) {
    let tracker = Arc::new(Tracker {
        bus,
        seen: Mutex::new(HashMap::new()),
    });
    let (tx, rx) = mpsc::unbounded_channel();
    let forward = tracker.clone();
    tokio::spawn(async move {
        while let Some(update) = statuses.recv().await {
            forward.status(&update);
            if tx.send(update).is_err() {
                return;
            }
        }
    });
    (
        Arc::new(Reporting {
            inner: tasks,
            tracker,
        }),
        rx,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use types::clock::FixedClock;
    use types::{ContainerStatus, TaskStatus, Timestamp};

    fn task(id: &str) -> Task {
        types::testing::task(id)
            .service("svc1", "web")
            .slot(2)
            .node("node1")
            .state(TaskState::Assigned)
            .container(types::ContainerSpec {
                image: "bb:1".into(),
                ..Default::default()
            })
            .build()
    }

    fn update(id: &str, state: TaskState, exit: Option<i64>) -> StatusUpdate {
        StatusUpdate {
            task_id: id.into(),
            status: TaskStatus {
                state,
                container: exit.map(|c| ContainerStatus {
                    exit_code: Some(c),
                    ..Default::default()
                }),
                ..Default::default()
            },
        }
    }

    #[test]
    fn a_task_life_reads_as_container_events() {
        let bus = EventBus::new(Arc::new(FixedClock(Timestamp(1))));
        let tracker = Tracker {
            bus: bus.clone(),
            seen: Mutex::new(HashMap::new()),
        };
        tracker.assigned(true, &[task("t1"), task("t2")], &[]);
        for s in [
            TaskState::Accepted,
            TaskState::Preparing,
            TaskState::Ready,
            TaskState::Starting,
            TaskState::Running,
        ] {
            tracker.status(&update("t1", s, None));
            tracker.status(&update("t2", s, None));
        }
        tracker.status(&update("t1", TaskState::Failed, Some(3)));
        tracker.status(&update("t2", TaskState::Shutdown, Some(143)));
        tracker.assigned(false, &[], &["t1".into()]);
        let events: Vec<(String, String)> = bus
            .feed()
            .past
            .iter()
            .map(|e| (e.actor.id.clone(), e.action.clone()))
            .collect();
        // Events name the container by its ID, the SHA-256 of the task ID.
        let of = |task: &str| -> Vec<&str> {
            let id = api::containers::container_id(task);
            events
                .iter()
                .filter(|(i, _)| *i == id)
                .map(|(_, a)| a.as_str())
                .collect()
        };
        assert_eq!(of("t1"), ["create", "start", "die", "destroy"]);
        assert_eq!(of("t2"), ["create", "start", "kill", "die", "stop"]);
        let feed = bus.feed();
        let die = feed
            .past
            .iter()
            .find(|e| e.action == "die" && e.actor.id == api::containers::container_id("t1"))
            .unwrap();
        assert_eq!(die.actor.attributes["exitCode"], "3");
        assert_eq!(die.actor.attributes["name"], "web.2.t1");
        assert_eq!(die.actor.attributes["image"], "bb:1");
        assert_eq!(die.actor.attributes["com.docker.swarm.service.name"], "web");
        assert_eq!(die.actor.attributes["com.docker.swarm.node.id"], "node1");
        assert_eq!(die.from, "bb:1");
    }
}
