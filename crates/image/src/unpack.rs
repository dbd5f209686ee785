//! Applying one layer tar to a directory, safely.
//!
//! ```text
//! blob ─► gzip | zstd | plain (by magic bytes) ─► hash (diff ID) ─► tar headers (bounded)
//!      ─► clean path ─► parents are real dirs ─► whiteout? ─► create entry ─► owner, mode, xattrs
//! ```
//!
//! Whiteouts follow the layout: with overlayfs a `.wh.<name>` becomes a 0/0 character device
//! and `.wh..wh..opq` the `trusted.overlay.opaque=y` xattr (what overlayfs reads from a lower
//! directory); in the flattened layout the directory starts as a copy of the parent layer and
//! whiteouts delete from it.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use tar::EntryType;

use crate::digest::{Digest, HashingReader};
use crate::error::{Error, Result};
use crate::tree::{self, Refusal};

/// Longest PAX or GNU long-name header accepted; real ones hold a path or a few xattrs.
const MAX_EXTENSION_HEADER: u64 = 1024 * 1024;

/// How unpacked layers are laid out on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// One directory per layer holding only its changes; stacked with overlayfs.
    Overlay,
    /// One directory per layer holding the whole root filesystem up to it (no overlayfs).
    Flat,
}

impl Layout {
    /// Overlay when the kernel lists overlayfs and we may write `trusted.*` xattrs and device
    /// nodes (root); the flattened copy otherwise.
    pub fn detect() -> Self {
        let overlay = std::fs::read_to_string("/proc/filesystems")
            .is_ok_and(|s| s.lines().any(|l| l.split_whitespace().last() == Some("overlay")));
        if overlay && rustix::process::geteuid().is_root() {
            Layout::Overlay
        } else {
            Layout::Flat
        }
    }

    /// The name persisted in `layers/layout`.
    pub fn name(self) -> &'static str {
        match self {
            Layout::Overlay => "overlay",
            Layout::Flat => "flat",
        }
    }
}

/// Opens a layer blob and undoes its compression, detected by magic bytes as dockerd does.
pub(crate) fn decompressed(blob: &Path) -> std::io::Result<Box<dyn Read>> {
    let mut file = BufReader::new(std::fs::File::open(blob)?);
    let head = file.fill_buf()?;
    Ok(if head.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::read::MultiGzDecoder::new(file))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        let decoder = ruzstd::decoding::StreamingDecoder::new(file)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?;
        Box::new(decoder)
    } else {
        Box::new(file)
    })
}

/// Unpacks the layer blob at `blob` into `dest` (an existing directory; in the flat layout,
/// already a copy of the parent layer) and returns the digest of the uncompressed tar.
pub(crate) fn unpack(blob: &Path, layer: &Digest, dest: &Path, layout: Layout) -> Result<Digest> {
    let hostile = |reason: String| Error::HostileLayer {
        layer: layer.to_string(),
        reason,
    };
    let input = decompressed(blob).map_err(|e| hostile(format!("cannot decompress: {e}")))?;
    let mut archive = tar::Archive::new(HashingReader::new(input));
    let mut state = Applier {
        root: dest,
        layout,
        created: HashSet::new(),
        dirs: Vec::new(),
        is_root: rustix::process::geteuid().is_root(),
    };
    let mut pending = Pending::default();
    let entries = archive.entries().map_err(|e| hostile(e.to_string()))?.raw(true);
    for entry in entries {
        let mut entry = entry.map_err(|e| hostile(format!("bad tar: {e}")))?;
        let kind = entry.header().entry_type();
        if matches!(
            kind,
            EntryType::GNULongName | EntryType::GNULongLink | EntryType::XHeader | EntryType::XGlobalHeader
        ) {
            let size = entry.header().size().map_err(|e| hostile(e.to_string()))?;
            if size > MAX_EXTENSION_HEADER {
                return Err(hostile(format!("extension header of {size} bytes")));
            }
            let mut body = Vec::with_capacity(size as usize);
            entry.read_to_end(&mut body).map_err(|e| hostile(e.to_string()))?;
            match kind {
                EntryType::GNULongName => pending.long_name = Some(trim_nul(body)),
                EntryType::GNULongLink => pending.long_link = Some(trim_nul(body)),
                EntryType::XHeader => pending.pax = Some(body),
                _ => {} // global PAX headers carry nothing a layer needs
            }
            continue;
        }
        let fields = pending.take(&entry);
        state.apply(&mut entry, kind, fields).map_err(hostile)?;
    }
    state.finish().map_err(hostile)?;
    let (diff_id, _) = archive
        .into_inner()
        .finish()
        .map_err(|e| hostile(format!("reading the end of the layer: {e}")))?;
    Ok(diff_id)
}

/// An overlayfs whiteout: a character device 0/0.
fn is_whiteout(m: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    m.file_type().is_char_device() && m.rdev() == 0
}

/// Marks a directory opaque for overlayfs.
fn mark_opaque(dir: &Path) -> std::io::Result<()> {
    rustix::fs::lsetxattr(
        dir,
        "trusted.overlay.opaque",
        b"y",
        rustix::fs::XattrFlags::empty(),
    )
    .map_err(Into::into)
}

fn trim_nul(mut v: Vec<u8>) -> Vec<u8> {
    while v.last() == Some(&0) {
        v.pop();
    }
    v
}

/// Extension headers seen before the entry they describe.
#[derive(Default)]
struct Pending {
    long_name: Option<Vec<u8>>,
    long_link: Option<Vec<u8>>,
    pax: Option<Vec<u8>>,
}

/// An entry's path, link target and xattrs after extension headers are applied.
struct Fields {
    path: Vec<u8>,
    link: Option<Vec<u8>>,
    xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Pending {
    fn take<R: Read>(&mut self, entry: &tar::Entry<'_, R>) -> Fields {
        let pax = self.pax.take();
        let mut pax_path = None;
        let mut pax_link = None;
        let mut xattrs = Vec::new();
        if let Some(pax) = &pax {
            for ext in tar::PaxExtensions::new(pax).flatten() {
                match ext.key_bytes() {
                    b"path" => pax_path = Some(ext.value_bytes().to_vec()),
                    b"linkpath" => pax_link = Some(ext.value_bytes().to_vec()),
                    key => {
                        if let Some(name) = key.strip_prefix(b"SCHILY.xattr.") {
                            xattrs.push((name.to_vec(), ext.value_bytes().to_vec()));
                        }
                    }
                }
            }
        }
        let header = entry.header();
        let path = self
            .long_name
            .take()
            .or(pax_path)
            .unwrap_or_else(|| header.path_bytes().into_owned());
        let link = self
            .long_link
            .take()
            .or(pax_link)
            .or_else(|| header.link_name_bytes().map(|l| l.into_owned()));
        Fields { path, link, xattrs }
    }
}

struct Applier<'a> {
    root: &'a Path,
    layout: Layout,
    /// Paths this layer wrote: an opaque directory in the flat layout keeps only these.
    created: HashSet<PathBuf>,
    /// Directories and their times, set last (creating children moves them).
    dirs: Vec<(PathBuf, filetime::FileTime)>,
    is_root: bool,
}

impl Applier<'_> {
    fn apply<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        kind: EntryType,
        f: Fields,
    ) -> std::result::Result<(), Refusal> {
        let rel = tree::clean(&f.path)?;
        let Some(name) = rel.file_name().map(|n| n.as_bytes().to_vec()) else {
            return Ok(()); // the layer's root directory itself
        };
        if self.layout == Layout::Overlay {
            self.reopen_whiteouts(&rel)?;
        }
        tree::ensure_parents(self.root, &rel)?;
        if let Some(hidden) = name.strip_prefix(b".wh.") {
            return self.whiteout(&rel, hidden);
        }
        let path = self.root.join(&rel);
        let header = entry.header();
        let existing = std::fs::symlink_metadata(&path).ok();
        let keep_dir = kind == EntryType::Directory && existing.as_ref().is_some_and(|m| m.is_dir());
        let over_whiteout = existing.as_ref().is_some_and(is_whiteout);
        if existing.is_some() && !keep_dir {
            tree::remove_any(&path).map_err(|e| format!("replace {}: {e}", rel.display()))?;
        }
        let mode = header.mode().map_err(|e| e.to_string())? & 0o7777;
        let io = |what: &str, e: std::io::Error| format!("{what} {}: {e}", rel.display());
        match kind {
            EntryType::Regular | EntryType::Continuous => {
                let mut file = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&path)
                    .map_err(|e| io("create", e))?;
                std::io::copy(entry, &mut file).map_err(|e| io("write", e))?;
            }
            EntryType::Directory => {
                if !keep_dir {
                    std::fs::create_dir(&path).map_err(|e| io("mkdir", e))?;
                }
                if over_whiteout {
                    // The lower directory was deleted by this layer: nothing of it shows through.
                    mark_opaque(&path).map_err(|e| io("mark opaque", e))?;
                }
            }
            EntryType::Symlink => {
                let target = f
                    .link
                    .ok_or_else(|| format!("symlink {} has no target", rel.display()))?;
                std::os::unix::fs::symlink(std::ffi::OsStr::from_bytes(&target), &path)
                    .map_err(|e| io("symlink", e))?;
            }
            EntryType::Link => {
                let target = f
                    .link
                    .ok_or_else(|| format!("hardlink {} has no target", rel.display()))?;
                let target_rel = tree::clean(&target)?;
                let target_path = self.root.join(&target_rel);
                let target_ok = tree::parents_are_dirs(self.root, &target_rel)
                    && std::fs::symlink_metadata(&target_path).is_ok_and(|m| !m.is_dir());
                if !target_ok {
                    return Err(format!(
                        "hardlink {} to {} which is not a file of this layer",
                        rel.display(),
                        target_rel.display()
                    ));
                }
                std::fs::hard_link(&target_path, &path).map_err(|e| io("link", e))?;
                // A hardlink shares the target's inode: owner and mode came with it.
                self.created.insert(rel);
                return Ok(());
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                let file_type = match kind {
                    EntryType::Char => rustix::fs::FileType::CharacterDevice,
                    EntryType::Block => rustix::fs::FileType::BlockDevice,
                    _ => rustix::fs::FileType::Fifo,
                };
                let major = header.device_major().ok().flatten().unwrap_or(0);
                let minor = header.device_minor().ok().flatten().unwrap_or(0);
                let made = rustix::fs::mknodat(
                    rustix::fs::CWD,
                    &path,
                    file_type,
                    rustix::fs::Mode::from_raw_mode(mode),
                    rustix::fs::makedev(major, minor),
                );
                match made {
                    Ok(()) => {}
                    // Without root a device cannot be made; the runtime supplies /dev anyway.
                    Err(rustix::io::Errno::PERM) if !self.is_root && kind != EntryType::Fifo => {
                        tracing::warn!(path = %rel.display(), "device node skipped: not running as root");
                        return Ok(());
                    }
                    Err(e) => return Err(io("mknod", e.into())),
                }
            }
            other => {
                return Err(format!(
                    "unsupported tar entry type {other:?} at {}",
                    rel.display()
                ));
            }
        }
        self.metadata(entry.header(), &path, &rel, kind, mode, &f.xattrs)?;
        self.created.insert(rel);
        Ok(())
    }

    fn metadata(
        &mut self,
        header: &tar::Header,
        path: &Path,
        rel: &Path,
        kind: EntryType,
        mode: u32,
        xattrs: &[(Vec<u8>, Vec<u8>)],
    ) -> std::result::Result<(), Refusal> {
        let io = |what: &str, e: std::io::Error| format!("{what} {}: {e}", rel.display());
        let uid = header.uid().map_err(|e| e.to_string())?;
        let gid = header.gid().map_err(|e| e.to_string())?;
        let (uid, gid) = (
            u32::try_from(uid).map_err(|_| format!("uid {uid} out of range"))?,
            u32::try_from(gid).map_err(|_| format!("gid {gid} out of range"))?,
        );
        if self.is_root {
            std::os::unix::fs::lchown(path, Some(uid), Some(gid)).map_err(|e| io("chown", e))?;
        }
        // chmod after chown: chown clears set-id bits.
        if kind != EntryType::Symlink {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
                .map_err(|e| io("chmod", e))?;
        }
        for (name, value) in xattrs {
            // trusted.overlay.* would steer overlayfs (redirects, opaque dirs) from inside an
            // image; only our own whiteout handling writes those.
            if name.starts_with(b"trusted.") {
                tracing::warn!(path = %rel.display(), name = %String::from_utf8_lossy(name), "trusted xattr in a layer ignored");
                continue;
            }
            rustix::fs::lsetxattr(
                path,
                std::ffi::OsStr::from_bytes(name),
                value,
                rustix::fs::XattrFlags::empty(),
            )
            .map_err(|e| io("setxattr", e.into()))?;
        }
        let mtime = filetime::FileTime::from_unix_time(header.mtime().unwrap_or(0) as i64, 0);
        if kind == EntryType::Directory {
            self.dirs.push((path.to_path_buf(), mtime));
        } else {
            filetime::set_symlink_file_times(path, mtime, mtime).map_err(|e| io("utimes", e))?;
        }
        Ok(())
    }

    /// A path under a name this layer whited out (`.wh.d` then `d/x`) turns the whiteout
    /// device back into a directory, opaque so the deleted lower one stays hidden.
    fn reopen_whiteouts(&mut self, rel: &Path) -> std::result::Result<(), Refusal> {
        let mut here = self.root.to_path_buf();
        let Some(parent) = rel.parent() else { return Ok(()) };
        for part in parent.components() {
            here.push(part);
            if std::fs::symlink_metadata(&here).is_ok_and(|m| is_whiteout(&m)) {
                let io = |e: std::io::Error| format!("reopen {}: {e}", here.display());
                std::fs::remove_file(&here).map_err(io)?;
                std::fs::create_dir(&here).map_err(io)?;
                std::fs::set_permissions(&here, std::fs::Permissions::from_mode(0o755)).map_err(io)?;
                mark_opaque(&here).map_err(io)?;
            }
        }
        Ok(())
    }

    fn whiteout(&mut self, rel: &Path, hidden: &[u8]) -> std::result::Result<(), Refusal> {
        let parent_rel = rel.parent().unwrap_or(Path::new(""));
        let parent = self.root.join(parent_rel);
        let io = |what: &str, e: std::io::Error| format!("{what} {}: {e}", rel.display());
        if hidden == b".wh..opq" {
            match self.layout {
                Layout::Overlay => {
                    rustix::fs::lsetxattr(
                        &parent,
                        "trusted.overlay.opaque",
                        b"y",
                        rustix::fs::XattrFlags::empty(),
                    )
                    .map_err(|e| io("mark opaque", e.into()))?;
                }
                Layout::Flat => {
                    let children = std::fs::read_dir(&parent).map_err(|e| io("list", e))?;
                    for child in children {
                        let child = child.map_err(|e| io("list", e))?;
                        if !self.created.contains(&parent_rel.join(child.file_name())) {
                            tree::remove_any(&child.path()).map_err(|e| io("clear", e))?;
                        }
                    }
                }
            }
            return Ok(());
        }
        if hidden == b"." || hidden == b".." {
            return Err(format!("whiteout {} names no entry", rel.display()));
        }
        if hidden.starts_with(b".wh.") || hidden.is_empty() {
            // `.wh..wh.*` other than the opaque marker are aufs bookkeeping (hardlink dirs).
            return Ok(());
        }
        let target_rel = parent_rel.join(std::ffi::OsStr::from_bytes(hidden));
        let target = self.root.join(&target_rel);
        tree::remove_any(&target).map_err(|e| io("whiteout", e))?;
        if self.layout == Layout::Overlay {
            rustix::fs::mknodat(
                rustix::fs::CWD,
                &target,
                rustix::fs::FileType::CharacterDevice,
                rustix::fs::Mode::empty(),
                rustix::fs::makedev(0, 0),
            )
            .map_err(|e| io("whiteout device", e.into()))?;
        }
        Ok(())
    }

    fn finish(&mut self) -> std::result::Result<(), Refusal> {
        for (path, mtime) in self.dirs.iter().rev() {
            filetime::set_file_times(path, *mtime, *mtime)
                .map_err(|e| format!("utimes {}: {e}", path.display()))?;
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "unpack_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "unpack_hostile_tests.rs"]
mod hostile_tests;
