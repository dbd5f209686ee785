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
