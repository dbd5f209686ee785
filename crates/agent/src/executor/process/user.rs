//! Resolves ContainerSpec.User (`name`, `uid`, `name:group`, `uid:gid`) against the host's
//! /etc/passwd and /etc/group, as Docker resolves it against the image's.

use crate::executor::{Error, Result};

/// A resolved user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// User ID.
    pub uid: u32,
    /// Primary group ID.
    pub gid: u32,
    /// Home directory ("/" when unknown).
    pub home: String,
}

/// Resolves `spec` using the contents of passwd and group files.
pub fn resolve(spec: &str, passwd: &str, group: &str) -> Result<User> {
    let (user_part, group_part) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let entry = passwd_entries(passwd).find(|e| e.name == user_part || e.uid.to_string() == user_part);
    let (uid, mut gid, home) = match (entry, user_part.parse::<u32>()) {
        (Some(e), _) => (e.uid, e.gid, e.home),
        // A numeric user need not exist, as in Docker; its group defaults to the same number.
        (None, Ok(uid)) => (uid, uid, "/".to_string()),
        (None, Err(_)) => {
            return Err(Error::Invalid(format!(
                "unable to find user {user_part}: no matching entries in passwd file"
            )));
        }
    };
    if let Some(g) = group_part {
        gid = match group_entries(group).find(|(name, _)| *name == g) {
            Some((_, gid)) => gid,
            None => g.parse().map_err(|_| {
                Error::Invalid(format!(
                    "unable to find group {g}: no matching entries in group file"
                ))
            })?,
        };
    }
    Ok(User { uid, gid, home })
}

/// Resolves `spec` against this host's files.
pub fn resolve_on_host(spec: &str) -> Result<User> {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    resolve(spec, &read("/etc/passwd"), &read("/etc/group"))
}

/// Largest passwd or group file read.
pub const MAX_ACCOUNT_FILE: u64 = 16 << 20;

/// An account file's text, read only when it is a regular file of at most
/// [`MAX_ACCOUNT_FILE`] bytes: inside a container, /etc/passwd may be a FIFO (which would
/// block), a device (endless) or huge; "" when it does not exist, as before.
pub fn read_account_file(path: &str) -> std::result::Result<String, String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    // Non-blocking open: opening a FIFO for reading would otherwise wait for a writer.
    let file = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(String::new()),
        Err(e) => return Err(format!("reading {path}: {e}")),
    };
    let regular = file.metadata().is_ok_and(|m| m.is_file());
    if !regular {
        return Err(format!("{path} is not a regular file"));
    }
    let mut bytes = Vec::new();
    file.take(MAX_ACCOUNT_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("reading {path}: {e}"))?;
    if bytes.len() as u64 > MAX_ACCOUNT_FILE {
        return Err(format!("{path} is larger than {MAX_ACCOUNT_FILE} bytes"));
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

struct PasswdEntry<'a> {
    name: &'a str,
    uid: u32,
    gid: u32,
    home: String,
}

fn passwd_entries(passwd: &str) -> impl Iterator<Item = PasswdEntry<'_>> {
    passwd.lines().filter_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 6 || line.starts_with('#') {
            return None;
        }
        Some(PasswdEntry {
            name: f[0],
            uid: f[2].parse().ok()?,
            gid: f[3].parse().ok()?,
            home: f[5].to_string(),
        })
    })
}

fn group_entries(group: &str) -> impl Iterator<Item = (&str, u32)> {
    group.lines().filter_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 3 || line.starts_with('#') {
            return None;
        }
        Some((f[0], f[2].parse().ok()?))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_files_are_read_only_when_regular_and_small() {
        let dir = tempfile::tempdir().unwrap();
        let path = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
        std::fs::write(path("passwd"), "a:x:1:1::/:/bin/sh\n").unwrap();
        assert_eq!(
            read_account_file(&path("passwd")).unwrap(),
            "a:x:1:1::/:/bin/sh\n"
        );
        assert_eq!(read_account_file(&path("missing")).unwrap(), "");
        // A FIFO: refused at once rather than waiting for a writer.
        let made = std::process::Command::new("mkfifo")
            .arg(path("fifo"))
            .status()
            .unwrap();
        assert!(made.success());
        assert!(
            read_account_file(&path("fifo"))
                .unwrap_err()
                .contains("not a regular file")
        );
        // A device: endless.
        std::os::unix::fs::symlink("/dev/zero", path("zero")).unwrap();
        assert!(
            read_account_file(&path("zero"))
                .unwrap_err()
                .contains("not a regular file")
        );
        // Huge (sparse, so the test needs no disk).
        std::fs::File::create(path("huge"))
            .unwrap()
            .set_len(1 << 30)
            .unwrap();
        assert!(
            read_account_file(&path("huge"))
                .unwrap_err()
                .contains("larger than")
        );
    }

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\nbroken\n";
    const GROUP: &str = "root:x:0:\nstaff:x:50:\n";

    #[test]
    fn resolves_names_numbers_and_groups() {
        assert_eq!(
            resolve("nobody", PASSWD, GROUP).unwrap(),
            User {
                uid: 65534,
                gid: 65534,
                home: "/nonexistent".into()
            }
        );
        assert_eq!(resolve("0", PASSWD, GROUP).unwrap().home, "/root");
        assert_eq!(
            resolve("1234", PASSWD, GROUP).unwrap(),
            User {
                uid: 1234,
                gid: 1234,
                home: "/".into()
            }
        );
        assert_eq!(resolve("nobody:staff", PASSWD, GROUP).unwrap().gid, 50);
        assert_eq!(resolve("root:77", PASSWD, GROUP).unwrap().gid, 77);
        assert!(
            resolve("ghost", PASSWD, GROUP)
                .unwrap_err()
                .to_string()
                .contains("unable to find user ghost")
        );
        assert!(resolve("root:ghosts", PASSWD, GROUP).is_err());
    }
}
