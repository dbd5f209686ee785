//! Where the API socket lives by default; shared by the daemon (to bind) and the CLI (to dial).

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The socket root uses, like dockerd's `/run/docker.sock`.
pub const ROOT_SOCKET: &str = "/run/shoal/shoal.sock";

/// The default API socket: `/run/shoal/shoal.sock` for root, else
/// `$XDG_RUNTIME_DIR/shoal/shoal.sock` (rootless dockerd's convention), else
/// `/run/user/<uid>/shoal/shoal.sock`.
pub fn default_socket_path() -> PathBuf {
    // /proc/self belongs to the process's effective user; reading it needs no unsafe geteuid.
    let uid = std::fs::metadata("/proc/self").map(|m| m.uid()).ok();
    let runtime_dir = std::env::var("XDG_RUNTIME_DIR").ok();
    socket_path_for(uid, runtime_dir.as_deref())
}

/// The rule behind [`default_socket_path`], with its inputs passed in.
fn socket_path_for(uid: Option<u32>, runtime_dir: Option<&str>) -> PathBuf {
    match (uid, runtime_dir) {
        (Some(0), _) | (None, None) => PathBuf::from(ROOT_SOCKET),
        (_, Some(dir)) if !dir.is_empty() => Path::new(dir).join("shoal").join("shoal.sock"),
        (Some(uid), _) => PathBuf::from(format!("/run/user/{uid}/shoal/shoal.sock")),
        (None, Some(_)) => PathBuf::from(ROOT_SOCKET),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_and_rootless_paths() {
        assert_eq!(
            socket_path_for(Some(0), Some("/run/user/0")),
            PathBuf::from(ROOT_SOCKET)
        );
        assert_eq!(
            socket_path_for(Some(1000), Some("/run/user/1000")),
            PathBuf::from("/run/user/1000/shoal/shoal.sock")
        );
        assert_eq!(
            socket_path_for(Some(1000), None),
            PathBuf::from("/run/user/1000/shoal/shoal.sock")
        );
        assert_eq!(
            socket_path_for(Some(1000), Some("")),
            PathBuf::from("/run/user/1000/shoal/shoal.sock")
        );
        assert_eq!(socket_path_for(None, None), PathBuf::from(ROOT_SOCKET));
    }
}
