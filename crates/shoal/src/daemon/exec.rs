//! `docker exec` on this node: exec instances in memory, beside the tasks they run in.
//!
//! ```text
//!  create(container) ─► resolve the task among this node's (ID, ID prefix, Swarm name)
//!                    ─► Instance { Created }                       (IDs: 64 hex, as dockerd's)
//!  start(id)         ─► agent Tasks::exec ─► Running { pid, pty } ─► waiter records the exit
//!                    ─► streams to the API (attached) or drained (detached; and once
//!                       the client detaches or leaves)
//!  inspect / resize  ─► the instance; resize sets the pty's window size
//! ```
//!
//! dockerd keeps exec instances until their container goes; here they are bounded instead:
//! finished (or never started) instances go after [`KEEP`], and at most [`MAX_INSTANCES`]
//! exist, the oldest finished one making room for a new one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agent::executor::exec::{ExecSpec, Terminal, exit_code};
use api::{ExecCreate, ExecStreams, ExecView};
use manager::Error;
use tokio::sync::watch;
use tokio::time::Instant;
use types::{Task, TaskState};

use super::swarm::Swarm;

type Result<T> = std::result::Result<T, Error>;

/// How long a finished or never started exec instance stays inspectable.
pub const KEEP: Duration = Duration::from_secs(10 * 60);

/// Most exec instances kept at once.
pub const MAX_INSTANCES: usize = 1024;

/// The exec instances of this daemon.
#[derive(Default)]
pub struct Execs {
    instances: Mutex<HashMap<String, Arc<Instance>>>,
}

struct Instance {
    id: String,
    task_id: String,
    config: ExecCreate,
    created: Instant,
    state: Mutex<Phase>,
    /// The exit code, once the process exited.
    exit: watch::Sender<Option<i64>>,
}

enum Phase {
    Created,
    Running { pid: i64, terminal: Option<Terminal> },
    Exited { at: Instant },
}

impl Instance {
    fn phase(&self) -> std::sync::MutexGuard<'_, Phase> {
        // Every change is one assignment, so a poisoned lock still holds a whole phase.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Finished, or created and never started, for longer than [`KEEP`] by `now`.
    fn stale(&self, now: Instant) -> bool {
        match &*self.phase() {
            Phase::Created => now.duration_since(self.created) > KEEP,
            Phase::Running { .. } => false,
            Phase::Exited { at } => now.duration_since(*at) > KEEP,
        }
    }

    fn view(&self) -> ExecView {
        let (running, pid) = match &*self.phase() {
            Phase::Running { pid, .. } => (true, *pid),
            _ => (false, 0),
        };
        ExecView {
            id: self.id.clone(),
            container_id: api::containers::container_id(&self.task_id),
            running,
            exit_code: *self.exit.borrow(),
            pid,
            config: self.config.clone(),
        }
    }
}

impl Execs {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Instance>>> {
        // Every change is one insert or remove, so a poisoned map is still consistent.
        self.instances.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn get(&self, id: &str) -> Result<Arc<Instance>> {
        self.lock()
            .get(id)
            .cloned()
            .ok_or_else(|| Error::NotFound(format!("No such exec instance: {id}")))
    }

    /// Adds an instance, dropping stale ones; refuses when every kept one is still live.
    fn insert(&self, instance: Instance) -> Result<String> {
        let now = instance.created;
        let mut map = self.lock();
        map.retain(|_, i| !i.stale(now));
        if map.len() >= MAX_INSTANCES {
            let oldest_done = map
                .values()
                .filter_map(|i| match &*i.phase() {
                    Phase::Exited { at } => Some((*at, i.id.clone())),
                    _ => None,
                })
                .min();
            match oldest_done {
                Some((_, id)) => {
                    map.remove(&id);
                }
                None => {
                    return Err(Error::Unavailable(format!(
                        "too many exec instances ({MAX_INSTANCES} created or running); try again when some end"
                    )));
                }
            }
        }
        let id = instance.id.clone();
        map.insert(id.clone(), Arc::new(instance));
        Ok(id)
    }
}

/// Finds the task `key` names among `tasks`: its ID, its Swarm container name
/// (`<service>.<slot>.<task id>`, `<service>.<node id>.<task id>` for global tasks) or a
/// prefix of one task's ID. A `/` in front (docker's container names) is ignored.
pub fn resolve<'a>(tasks: &'a [Arc<Task>], key: &str) -> Result<&'a Arc<Task>> {
    let key = key.strip_prefix('/').unwrap_or(key);
    let no_such = || Error::NotFound(format!("No such container: {key}"));
    if key.is_empty() {
        return Err(no_such());
    }
    if let Some(t) = tasks.iter().find(|t| t.id == key || t.name() == key) {
        return Ok(t);
    }
    let mut prefixed = tasks.iter().filter(|t| t.id.starts_with(key));
    match (prefixed.next(), prefixed.next()) {
        (Some(t), None) => Ok(t),
        (Some(_), Some(_)) => Err(Error::InvalidArgument(format!(
            "multiple containers found with provided prefix: {key}"
        ))),
        (None, _) => Err(no_such()),
    }
}

/// An executor's refusal in dockerd's words and statuses.
pub(super) fn exec_error(task_id: &str, e: agent::executor::Error) -> Error {
    use agent::executor::Error as E;
    match e {
        E::NotFound(_) => Error::NotFound(format!("No such container: {task_id}")),
        E::State { .. } => Error::Conflict(format!("Container {task_id} is not running")),
        E::Invalid(m) => Error::InvalidArgument(m),
        E::Unsupported(m) => Error::Unimplemented(m),
        other => Error::Internal(format!("exec in {task_id}: {other}")),
    }
}

fn new_id() -> String {
    rand::random::<[u8; 32]>()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Swarm {
    /// The task `key` names on this node, with the node's task side.
    async fn exec_task(&self, key: &str) -> Result<(Arc<dyn agent::Tasks>, Arc<Task>)> {
        let no_such = || Error::NotFound(format!("No such container: {key}"));
        let tasks = self.node_tasks().ok_or_else(no_such)?;
        let held = tasks.held().await;
        let task = resolve(&held, key)?.clone();
        Ok((tasks, task))
    }

    /// `POST /containers/{id}/exec`.
    pub(crate) async fn exec_create_in(&self, key: &str, config: ExecCreate) -> Result<String> {
        let (_, task) = self.exec_task(key).await?;
        if task.status.state > TaskState::Running {
            return Err(Error::Conflict(format!("Container {} is not running", task.id)));
        }
        self.execs.insert(Instance {
            id: new_id(),
            task_id: task.id.clone(),
            config,
            created: Instant::now(),
            state: Mutex::new(Phase::Created),
            exit: watch::Sender::new(None),
        })
    }

    /// `POST /exec/{id}/start`.
    pub(crate) async fn exec_start_of(
        &self,
        id: &str,
        detach: bool,
        size: Option<(u16, u16)>,
    ) -> Result<Option<ExecStreams>> {
        let instance = self.execs.get(id)?;
        match &mut *instance.phase() {
            phase @ Phase::Created => {
                *phase = Phase::Running {
                    pid: 0,
                    terminal: None,
                }
            }
            Phase::Running { .. } => {
                return Err(Error::Conflict(format!("Exec command {id} is already running")));
            }
            Phase::Exited { .. } => {
                return Err(Error::Conflict(format!("Exec command {id} has already run")));
            }
        }
        let c = &instance.config;
        let spec = ExecSpec {
            argv: c.cmd.clone(),
            env: c.env.clone(),
            user: c.user.clone(),
            workdir: c.working_dir.clone(),
            tty: c.tty,
            stdin: c.attach_stdin && !detach,
        };
        let started = match self.node_tasks() {
            Some(tasks) => tasks.exec(&instance.task_id, &spec).await,
            None => Err(agent::executor::Error::NotFound(instance.task_id.clone())),
        };
        let process = match started {
            Ok(p) => p,
            Err(e) => {
                // A start that failed leaves an exited instance, as dockerd's does.
                *instance.phase() = Phase::Exited { at: Instant::now() };
                instance.exit.send_replace(Some(126));
                return Err(exec_error(&instance.task_id, e));
            }
        };
        if let (Some(t), Some((h, w))) = (&process.terminal, size)
            && let Err(e) = t.resize(h, w)
        {
            tracing::debug!(exec = %id, "initial exec tty size: {e}");
        }
        *instance.phase() = Phase::Running {
            pid: process.child.id().map_or(0, i64::from),
            terminal: process.terminal.clone(),
        };
        let mut child = process.child;
        let waiter = instance.clone();
        tokio::spawn(async move {
            let code = match child.wait().await {
                Ok(status) => exit_code(status),
                Err(e) => {
                    tracing::warn!(exec = %waiter.id, "waiting for an exec process: {e}");
                    -1
                }
            };
            *waiter.phase() = Phase::Exited { at: Instant::now() };
            waiter.exit.send_replace(Some(code));
        });
        let stdout = keep_or_drain(process.stdout, !detach && c.attach_stdout);
        let stderr = process
            .stderr
            .and_then(|s| keep_or_drain(s, !detach && c.attach_stderr));
        if detach {
            return Ok(None);
        }
        let mut exited = instance.exit.subscribe();
        Ok(Some(ExecStreams {
            tty: c.tty,
            stdin: process.stdin,
            stdout,
            stderr,
            exited: Box::pin(async move {
                let _ = exited.wait_for(Option::is_some).await;
            }),
        }))
    }

    /// `GET /exec/{id}/json`.
    pub(crate) fn exec_inspect_of(&self, id: &str) -> Result<ExecView> {
        Ok(self.execs.get(id)?.view())
    }

    /// `POST /exec/{id}/resize`.
    pub(crate) fn exec_resize_of(&self, id: &str, height: u16, width: u16) -> Result<()> {
        let instance = self.execs.get(id)?;
        let phase = instance.phase();
        match &*phase {
            Phase::Running {
                terminal: Some(t), ..
            } => t
                .resize(height, width)
                .map_err(|e| Error::Internal(format!("resizing the exec's tty: {e}"))),
            Phase::Running { terminal: None, .. } if !instance.config.tty => {
                Err(Error::Conflict(format!("exec {id} has no TTY to resize")))
            }
            // Not started yet or already gone: nothing to size (the client races the exit).
            _ => Ok(()),
        }
    }
}

/// The stream, when the client wants it; else it is read and dropped here, so the process
/// never blocks on a full pipe nobody reads.
fn keep_or_drain(stream: agent::executor::exec::Reader, keep: bool) -> Option<agent::executor::exec::Reader> {
    if keep {
        return Some(outlive_client(stream));
    }
    let mut stream = stream;
    tokio::spawn(async move {
        let _ = tokio::io::copy(&mut stream, &mut tokio::io::sink()).await;
    });
    None
}

/// Largest piece of output between the process and its client.
const CHUNK: usize = 32 * 1024;

/// `stream` handed on to the client for as long as the client reads it; once the client
/// is gone (detached with the detach keys, or disconnected) it is read and dropped, so the
/// process goes on as dockerd's execs do instead of stalling on a full terminal or pipe.
/// While the client reads, a slow client still slows the process (bounded buffer).
fn outlive_client(mut stream: agent::executor::exec::Reader) -> agent::executor::exec::Reader {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (client, mut to_client) = tokio::io::duplex(CHUNK);
    tokio::spawn(async move {
        let mut buf = vec![0u8; CHUNK];
        let mut attached = true;
        loop {
            let n = match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            // The client's end dropped: every later write fails; keep reading.
            if attached && to_client.write_all(&buf[..n]).await.is_err() {
                attached = false;
            }
        }
    });
    Box::new(client)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(id: &str, service: &str, slot: u64) -> Arc<Task> {
        Arc::new(
            types::testing::task(id)
                .service("s", service)
                .slot(slot)
                .node("node1")
                .spec_version(0)
                .build(),
        )
    }

    #[test]
    fn resolves_ids_prefixes_and_swarm_names() {
        let tasks = vec![
            task("abc123", "web", 1),
            task("abd456", "web", 2),
            task("xyz789", "db", 0),
        ];
        assert_eq!(resolve(&tasks, "abc123").unwrap().id, "abc123");
        assert_eq!(resolve(&tasks, "web.2.abd456").unwrap().id, "abd456");
        assert_eq!(resolve(&tasks, "/web.2.abd456").unwrap().id, "abd456");
        assert_eq!(resolve(&tasks, "db.node1.xyz789").unwrap().id, "xyz789");
        assert_eq!(resolve(&tasks, "xy").unwrap().id, "xyz789");
        assert!(matches!(resolve(&tasks, "ab"), Err(Error::InvalidArgument(_))));
        let missing = resolve(&tasks, "nope").unwrap_err();
        assert_eq!(missing.to_string(), "No such container: nope");
        assert!(matches!(missing, Error::NotFound(_)));
        assert!(resolve(&tasks, "").is_err());
    }

    fn instance(id: &str, phase: Phase, created: Instant) -> Instance {
        Instance {
            id: id.into(),
            task_id: "t".into(),
            config: ExecCreate::default(),
            created,
            state: Mutex::new(phase),
            exit: watch::Sender::new(None),
        }
    }

    #[tokio::test]
    async fn output_is_drained_once_the_client_is_gone() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (mut process, out) = tokio::io::duplex(1024);
        let mut client = outlive_client(Box::new(out));
        process.write_all(b"hello").await.unwrap();
        let mut got = [0u8; 5];
        client.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"hello");
        drop(client);
        // Far more than every buffer on the way: written only if the output is still read.
        let more = vec![b'x'; 4 << 20];
        tokio::time::timeout(Duration::from_secs(20), process.write_all(&more))
            .await
            .expect("the process's output stalled after the client left")
            .unwrap();
    }

    #[tokio::test]
    async fn instances_are_bounded_and_finished_ones_expire() {
        let execs = Execs::default();
        let t0 = Instant::now();
        execs
            .insert(instance("done", Phase::Exited { at: t0 }, t0))
            .unwrap();
        execs
            .insert(instance(
                "live",
                Phase::Running {
                    pid: 1,
                    terminal: None,
                },
                t0,
            ))
            .unwrap();
        let later = t0 + KEEP + Duration::from_secs(1);
        execs.insert(instance("new", Phase::Created, later)).unwrap();
        assert!(execs.get("done").is_err(), "expired");
        assert!(execs.get("live").is_ok() && execs.get("new").is_ok());
        for n in 0..MAX_INSTANCES - 2 {
            execs
                .insert(instance(
                    &format!("r{n}"),
                    Phase::Running {
                        pid: 1,
                        terminal: None,
                    },
                    later,
                ))
                .unwrap();
        }
        assert!(matches!(
            execs.insert(instance("one-too-many", Phase::Created, later)),
            Err(Error::Unavailable(_))
        ));
        *execs.get("r0").unwrap().phase() = Phase::Exited { at: later };
        execs.insert(instance("fits", Phase::Created, later)).unwrap();
        assert!(execs.get("r0").is_err() && execs.get("fits").is_ok());
    }
}
