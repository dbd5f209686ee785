//! Network namespaces: named ones made by unshare + bind mount (as `ip netns add` does, without the
//! subprocess), and work done inside any namespace given as a path.
//!
//! A thread's network namespace is its own (`setns(CLONE_NEWNET)` affects only the calling
//! thread), and a socket belongs for good to the namespace its creator was in. So every operation
//! "in" a namespace runs on a short-lived thread of its own that enters the namespace, makes the
//! socket or starts the child process, and ends: no runtime thread ever changes namespace.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags};
use nix::sched::CloneFlags;
use tokio::task::JoinHandle;

use crate::error::{Error, Result};

/// Runs `work` on a thread of its own that has first entered the network namespace at `netns`.
pub(crate) async fn run_in<T, F>(netns: &Path, work: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T> + Send + 'static,
{
    let path = netns.to_owned();
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("netns".into())
        .spawn(move || {
            let result = enter(&path).and_then(|()| work());
            // The receiver is gone only when the caller was cancelled; nothing is left to report to.
            let _ = tx.send(result);
        })
        .map_err(|source| Error::io("spawn a thread to enter a namespace", source))?;
    rx.await.map_err(|_| Error::Thread)?
}

/// Moves the calling thread into the network namespace at `netns`.
fn enter(netns: &Path) -> Result<()> {
    let file = File::open(netns).map_err(|source| Error::Namespace {
        path: netns.to_owned(),
        source,
    })?;
    nix::sched::setns(&file, CloneFlags::CLONE_NEWNET).map_err(|errno| Error::Namespace {
        path: netns.to_owned(),
        source: errno.into(),
    })
}

/// An rtnetlink handle whose socket lives in one network namespace; its connection task ends with it.
pub(crate) struct Netlink {
    /// The request handle.
    pub(crate) handle: rtnetlink::Handle,
    task: JoinHandle<()>,
}

impl Drop for Netlink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Netlink {
    /// Opens a netlink socket inside the namespace at `netns`.
    pub(crate) async fn open(netns: &Path) -> Result<Self> {
        let runtime = tokio::runtime::Handle::current();
        let (connection, handle) = run_in(netns, move || {
            // The socket registers with the runtime's reactor, which needs the runtime's context.
            let _context = runtime.enter();
            let (connection, handle, _) =
                rtnetlink::new_connection().map_err(|source| Error::io("open a netlink socket", source))?;
            Ok((connection, handle))
        })
        .await?;
        let task = tokio::spawn(connection);
        Ok(Netlink { handle, task })
    }
}

/// The directory of named namespaces (`ip netns`'s), made a shared mount of its own as `ip` makes it,
/// so namespaces mounted there later are seen from mount namespaces made after them.
fn prepare_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|source| Error::io("create the namespace directory", source))?;
    let shared = MsFlags::MS_SHARED | MsFlags::MS_REC;
    match nix::mount::mount(None::<&str>, dir, None::<&str>, shared, None::<&str>) {
        Ok(()) => Ok(()),
        // EINVAL: not a mount point yet; bind it onto itself, then make that shared.
        Err(nix::errno::Errno::EINVAL) => {
            let bind = MsFlags::MS_BIND | MsFlags::MS_REC;
            nix::mount::mount(Some(dir), dir, None::<&str>, bind, None::<&str>)
                .and_then(|()| nix::mount::mount(None::<&str>, dir, None::<&str>, shared, None::<&str>))
                .map_err(|errno| Error::io("make the namespace directory a shared mount", errno.into()))
        }
        Err(errno) => Err(Error::io(
            "make the namespace directory a shared mount",
            errno.into(),
        )),
    }
}

/// Serialises creations in this process: two racing creates of one name would stack two mounts.
static CREATING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Creates the named namespace `dir/name` (a bind mount of a fresh namespace); an existing one is kept.
pub(crate) async fn create(dir: &Path, name: &str) -> Result<PathBuf> {
    let _serialised = CREATING.lock().await;
    let path = dir.join(name);
    if is_mounted_namespace(&path) {
        return Ok(path);
    }
    let dir = dir.to_owned();
    let target = path.clone();
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("netns-create".into())
        .spawn(move || {
            let _ = tx.send(create_on_this_thread(&dir, &target));
        })
        .map_err(|source| Error::io("spawn a thread to create a namespace", source))?;
    rx.await.map_err(|_| Error::Thread)??;
    Ok(path)
}

/// Unshares this thread's network namespace and pins the new one at `target`; the thread must end after.
fn create_on_this_thread(dir: &Path, target: &Path) -> Result<()> {
    prepare_dir(dir)?;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(target)
        .map_err(|source| Error::io("create the namespace file", source))?;
    let made = nix::sched::unshare(CloneFlags::CLONE_NEWNET)
        .and_then(|()| {
            nix::mount::mount(
                Some("/proc/thread-self/ns/net"),
                target,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
        })
        .map_err(|errno| Error::io("unshare and pin a network namespace", errno.into()));
    if made.is_err() {
        // A half-made name would look like a namespace to the next caller.
        let _ = std::fs::remove_file(target);
    }
    made
}

/// Unmounts and removes the named namespace at `path`; a missing one is not an error.
pub(crate) fn delete(path: &Path) -> Result<()> {
    // More than one mount can be stacked on the name (another tool's create raced ours): peel all.
    loop {
        match nix::mount::umount2(path, MntFlags::MNT_DETACH) {
            Ok(()) => continue,
            Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => break,
            Err(errno) => return Err(Error::io("unmount a network namespace", errno.into())),
        }
    }
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(Error::io("remove a network namespace file", source)),
    }
}

/// The names in `dir` that start with `prefix` (mounted or left half-made by a crash).
pub(crate) fn list(dir: &Path, prefix: &str) -> Result<Vec<String>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(Error::io("list the namespace directory", source)),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| Error::io("list the namespace directory", source))?;
        if let Some(name) = entry.file_name().to_str()
            && name.starts_with(prefix)
        {
            names.push(name.to_owned());
        }
    }
    names.sort();
    Ok(names)
}

/// Whether `path` is a pinned network namespace (a bind mount of an nsfs inode), not a plain file.
pub(crate) fn is_mounted_namespace(path: &Path) -> bool {
    // A plain file left by a crash sits on the directory's own filesystem, not on nsfs.
    nix::sys::statfs::statfs(path)
        .map(|fs| fs.filesystem_type() == nix::sys::statfs::NSFS_MAGIC)
        .unwrap_or(false)
}
