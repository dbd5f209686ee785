//! A task's sandbox files under the data dir: `<data-dir>/sandboxes/<task id>/resolv.conf`
//! (its network's resolver, the host's search domains and options) and `hosts` (localhost, the
//! task's address and hostname). No secrets: 0644 files in a tree only root may enter (0700).

use std::io;
use std::net::Ipv4Addr;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use netplane::dns::HostResolvConf;

/// The files made for one task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxFiles {
    /// The task's `/etc/resolv.conf`.
    pub resolv_conf: PathBuf,
    /// The task's `/etc/hosts`.
    pub hosts: PathBuf,
}

/// The text of a task's `/etc/hosts`.
pub fn hosts_text(address: Ipv4Addr, hostname: &str) -> String {
    format!(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n\
         fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n\
         {address}\t{hostname}\n"
    )
}

/// Whether `task_id` can name a directory (store IDs are letters and digits).
fn valid_id(task_id: &str) -> bool {
    !task_id.is_empty() && task_id.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Writes task `task_id`'s files under `root` (made 0700 if missing).
pub fn write(
    root: &Path,
    task_id: &str,
    resolver: Ipv4Addr,
    host: &HostResolvConf,
    address: Ipv4Addr,
    hostname: &str,
) -> io::Result<SandboxFiles> {
    if !valid_id(task_id) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("task ID {task_id:?} cannot name a sandbox directory"),
        ));
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(root)?;
    let dir = root.join(task_id);
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(&dir)?;
    let resolv_conf = dir.join("resolv.conf");
    let text = netplane::dns::task_resolv_conf(resolver, &host.search, &host.options)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
    replace(&resolv_conf, &text)?;
    let hosts = dir.join("hosts");
    replace(&hosts, &hosts_text(address, hostname))?;
    Ok(SandboxFiles { resolv_conf, hosts })
}

/// Writes `path` through a rename, so a reader never sees half a file.
fn replace(path: &Path, text: &str) -> io::Result<()> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    std::fs::write(&temporary, text)?;
    std::fs::rename(&temporary, path)
}

/// Removes task `task_id`'s files; missing ones are not an error.
pub fn remove(root: &Path, task_id: &str) -> io::Result<()> {
    if !valid_id(task_id) {
        return Ok(());
    }
    match std::fs::remove_dir_all(root.join(task_id)) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// The task IDs that have files under `root`.
pub fn listed(root: &Path) -> io::Result<Vec<String>> {
    let entries = match std::fs::read_dir(root) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut ids = Vec::new();
    for entry in entries {
        if let Some(name) = entry?.file_name().to_str() {
            ids.push(name.to_owned());
        }
    }
    ids.sort();
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn files_are_written_listed_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("sandboxes");
        let host = HostResolvConf::parse("nameserver 1.1.1.1\nsearch corp.example\noptions edns0\n");
        let files = write(
            &root,
            "abc123",
            Ipv4Addr::new(10, 0, 1, 1),
            &host,
            Ipv4Addr::new(10, 0, 1, 5),
            "abc123",
        )
        .unwrap();
        let resolv = std::fs::read_to_string(&files.resolv_conf).unwrap();
        assert!(resolv.contains("nameserver 10.0.1.1\n") && resolv.contains("search corp.example\n"));
        assert!(!resolv.contains("1.1.1.1"));
        let hosts = std::fs::read_to_string(&files.hosts).unwrap();
        assert!(hosts.starts_with("127.0.0.1\tlocalhost\n") && hosts.ends_with("10.0.1.5\tabc123\n"));
        let mode = std::fs::metadata(&root).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        assert_eq!(listed(&root).unwrap(), ["abc123"]);
        assert!(
            write(
                &root,
                "../x",
                Ipv4Addr::LOCALHOST,
                &host,
                Ipv4Addr::LOCALHOST,
                "x"
            )
            .is_err()
        );
        remove(&root, "abc123").unwrap();
        remove(&root, "abc123").unwrap();
        assert!(listed(&root).unwrap().is_empty());
    }
}
