//! The image's /etc/passwd and /etc/group are image input: read only inside the rootfs and
//! only up to a size, with a clear refusal past it.

use super::*;

fn rootfs() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("etc")).unwrap();
    dir
}

#[test]
fn users_resolve_from_the_images_own_files() {
    let root = rootfs();
    std::fs::write(
        root.path().join("etc/passwd"),
        "app:x:1000:1000::/home/app:/bin/sh\n",
    )
    .unwrap();
    std::fs::write(root.path().join("etc/group"), "staff:x:50:\n").unwrap();
    let user = resolve_user("app", root.path()).unwrap();
    assert_eq!(
        (user.uid, user.gid, user.home.as_str()),
        (1000, 1000, "/home/app")
    );
    assert_eq!(resolve_group("staff", root.path()).unwrap(), 50);
}

#[test]
fn an_oversized_passwd_is_refused_not_read_whole() {
    let root = rootfs();
    // Sparse: 1 GiB on paper, nothing on disk; reading it whole would take 1 GiB of memory.
    let file = std::fs::File::create(root.path().join("etc/passwd")).unwrap();
    file.set_len(1 << 30).unwrap();
    let err = resolve_user("app", root.path()).unwrap_err();
    assert!(err.to_string().contains("larger than"), "{err}");
    assert!(resolve_user("", root.path()).is_err());
}

#[test]
fn a_symlinked_etc_does_not_reach_the_hosts_files() {
    let host = tempfile::tempdir().unwrap();
    std::fs::write(
        host.path().join("passwd"),
        "hostonly:x:4242:4242::/secret:/bin/sh\n",
    )
    .unwrap();
    let root = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(host.path(), root.path().join("etc")).unwrap();
    let err = resolve_user("hostonly", root.path()).unwrap_err();
    assert!(err.to_string().contains("unable to find user"), "{err}");
    // A symlink to a device is not a regular file either.
    let root = rootfs();
    std::os::unix::fs::symlink("/dev/zero", root.path().join("etc/group")).unwrap();
    assert!(resolve_group("staff", root.path()).is_err());
}
