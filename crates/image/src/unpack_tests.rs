//! Unit tests of layer unpacking: whiteouts in both layouts, xattrs, compression.

use std::os::unix::fs::{FileTypeExt, MetadataExt};

use super::*;

fn header(kind: EntryType, mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_mtime(1_600_000_000);
    h.set_uid(0);
    h.set_gid(0);
    h
}

/// `dir/{a,b}`, `keep`, `gone`, then a second layer hiding `gone` and making `dir` opaque.
fn layers() -> (Vec<u8>, Vec<u8>) {
    let mut lower = tar::Builder::new(Vec::new());
    for (path, kind) in [
        ("dir", EntryType::Directory),
        ("dir/a", EntryType::Regular),
        ("dir/b", EntryType::Regular),
        ("keep", EntryType::Regular),
        ("gone", EntryType::Regular),
    ] {
        lower
            .append_data(&mut header(kind, 0o755, 0), path, std::io::empty())
            .unwrap();
    }
    let mut upper = tar::Builder::new(Vec::new());
    for path in [".wh.gone", "dir/.wh..wh..opq", "dir/c", ".wh.re", "re/new"] {
        upper
            .append_data(&mut header(EntryType::Regular, 0o644, 0), path, std::io::empty())
            .unwrap();
    }
    // A PAX xattr: user.* is kept, trusted.* is never taken from an image.
    let mut h = header(EntryType::Regular, 0o644, 1);
    upper
        .append_pax_extensions([
            ("SCHILY.xattr.user.note", &b"hi"[..]),
            ("SCHILY.xattr.trusted.overlay.redirect", &b"/x"[..]),
        ])
        .unwrap();
    upper.append_data(&mut h, "tagged", &b"x"[..]).unwrap();
    (lower.into_inner().unwrap(), upper.into_inner().unwrap())
}

fn blob(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn flat_whiteouts_delete_from_the_copy() {
    let tmp = tempfile::tempdir().unwrap();
    let (lower, upper) = layers();
    // zstd and gzip are recognised by their magic bytes.
    let lower_blob = blob(
        tmp.path(),
        "lower",
        &ruzstd::encoding::compress_to_vec(&lower[..], ruzstd::encoding::CompressionLevel::Fastest),
    );
    let upper_blob = blob(tmp.path(), "upper", &upper);
    let d = Digest::of(b"x");
    let base = tmp.path().join("base");
    std::fs::create_dir(&base).unwrap();
    assert_eq!(
        unpack(&lower_blob, &d, &base, Layout::Flat).unwrap(),
        Digest::of(&lower)
    );
    let top = tmp.path().join("top");
    tree::copy_tree(&base, &top).unwrap();
    assert_eq!(
        unpack(&upper_blob, &d, &top, Layout::Flat).unwrap(),
        Digest::of(&upper)
    );
    assert_eq!(names(&top), vec!["dir", "keep", "re", "tagged"]);
    assert_eq!(names(&top.join("dir")), vec!["c"]);
    assert_eq!(names(&top.join("re")), vec!["new"], "deleted, then made anew");
    assert_eq!(
        names(&base.join("dir")),
        vec!["a", "b"],
        "the parent layer is untouched"
    );
    let mut v = [0u8; 4];
    let n = rustix::fs::lgetxattr(top.join("tagged"), "user.note", &mut v[..]);
    // tmpfs and most filesystems take user xattrs; where one does not, setxattr would
    // have failed the unpack above.
    assert_eq!(&v[..n.unwrap()], b"hi");
    assert!(rustix::fs::lgetxattr(top.join("tagged"), "trusted.overlay.redirect", &mut v[..]).is_err());
}

#[test]
fn overlay_whiteouts_are_devices_and_opaque_xattrs() {
    if !rustix::process::geteuid().is_root() {
        // trusted.* xattrs and device nodes need root; Layout::detect picks Flat then.
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (_, upper) = layers();
    let gz = {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(&upper).unwrap();
        e.finish().unwrap()
    };
    let upper_blob = blob(tmp.path(), "upper", &gz);
    let top = tmp.path().join("top");
    std::fs::create_dir(&top).unwrap();
    assert_eq!(
        unpack(&upper_blob, &Digest::of(b"x"), &top, Layout::Overlay).unwrap(),
        Digest::of(&upper)
    );
    let gone = std::fs::symlink_metadata(top.join("gone")).unwrap();
    assert!(gone.file_type().is_char_device() && gone.rdev() == 0);
    let mut v = [0u8; 4];
    let n = rustix::fs::lgetxattr(top.join("dir"), "trusted.overlay.opaque", &mut v[..]).unwrap();
    assert_eq!(&v[..n], b"y");
    assert_eq!(names(&top.join("dir")), vec!["c"]);
    // Whited out and then written under: a directory again, opaque over the lower one.
    let n = rustix::fs::lgetxattr(top.join("re"), "trusted.overlay.opaque", &mut v[..]).unwrap();
    assert_eq!(&v[..n], b"y");
    assert_eq!(names(&top.join("re")), vec!["new"]);
}

#[test]
fn truncated_layers_are_errors() {
    // unpack returns the digest of what it read; layers::ensure compares it with the
    // config's. Truncated input is an error, never a silently short layer.
    let tmp = tempfile::tempdir().unwrap();
    let (lower, _) = layers();
    let cut = blob(tmp.path(), "cut", &lower[..700]);
    let dest = tmp.path().join("d");
    std::fs::create_dir(&dest).unwrap();
    assert!(unpack(&cut, &Digest::of(b"x"), &dest, Layout::Flat).is_err());
}
