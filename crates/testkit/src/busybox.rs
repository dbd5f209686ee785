//! A minimal root filesystem from Debian's busybox-static: `bin/busybox` and `bin/sh`, enough
//! for shell scripts run as tasks.

/// The tar of `bin/busybox` (from the host's `/bin/busybox`) with `bin/sh` linked to it.
pub fn rootfs_tar() -> Result<Vec<u8>, String> {
    let busybox = std::fs::read("/bin/busybox")
        .map_err(|e| format!("/bin/busybox: {e} (install Debian's busybox-static; scripts/test.sh does)"))?;
    let mut tar = tar::Builder::new(Vec::new());
    let mut dir = tar::Header::new_gnu();
    dir.set_entry_type(tar::EntryType::Directory);
    dir.set_mode(0o755);
    dir.set_size(0);
    for d in ["bin", "tmp", "etc"] {
        tar.append_data(&mut dir.clone(), d, std::io::empty())
            .map_err(|e| e.to_string())?;
    }
    let mut file = tar::Header::new_gnu();
    file.set_entry_type(tar::EntryType::Regular);
    file.set_mode(0o755);
    file.set_size(busybox.len() as u64);
    tar.append_data(&mut file, "bin/busybox", busybox.as_slice())
        .map_err(|e| e.to_string())?;
    let mut link = tar::Header::new_gnu();
    link.set_entry_type(tar::EntryType::Symlink);
    link.set_mode(0o777);
    link.set_size(0);
    for name in ["sh", "sleep", "touch", "test", "rm", "echo", "pwd", "ls", "true"] {
        tar.append_link(&mut link.clone(), format!("bin/{name}"), "busybox")
            .map_err(|e| e.to_string())?;
    }
    tar.into_inner().map_err(|e| e.to_string())
}
