//! Random layers, built from hostile entries (`..`, absolute paths, links out, whiteouts of
//! parents, devices, names and sizes past the limits) or cut and flipped: unpacking returns,
//! never panics, and writes nothing outside its destination.

use proptest::prelude::*;

use super::*;

/// Names an entry or a link target may take.
const NAMES: &[&str] = &[
    "a",
    "b",
    "dir",
    "dir/a",
    "dir/sub/x",
    "..",
    "../x",
    "../../etc/passwd",
    "/",
    "/etc/shadow",
    ".",
    "./a",
    "a/../../x",
    "dir/../..",
    ".wh.a",
    ".wh.dir",
    "dir/.wh..wh..opq",
    ".wh..wh..opq",
    ".wh...",
    "link",
    "link/x",
    "loop",
    "loop/x",
    "",
    "a//b",
    "x\u{7f}y",
];

const KINDS: &[EntryType] = &[
    EntryType::Regular,
    EntryType::Directory,
    EntryType::Symlink,
    EntryType::Link,
    EntryType::Char,
    EntryType::Block,
    EntryType::Fifo,
    EntryType::GNULongName,
    EntryType::GNULongLink,
    EntryType::XHeader,
    EntryType::GNUSparse,
];

#[derive(Debug, Clone)]
struct Entry {
    kind: usize,
    name: usize,
    link: usize,
    long: bool,
    data: Vec<u8>,
}

fn entry() -> impl Strategy<Value = Entry> {
    (
        0..KINDS.len(),
        0..NAMES.len(),
        0..NAMES.len(),
        prop::bool::weighted(0.1),
        prop::collection::vec(any::<u8>(), 0..64),
    )
        .prop_map(|(kind, name, link, long, data)| Entry {
            kind,
            name,
            link,
            long,
            data,
        })
}

/// A tar with each entry's name and link written into the header as raw bytes, so names
/// the `tar` builder would refuse (`..`, absolute) reach the unpacker.
fn tar_of(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        let kind = KINDS[e.kind];
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(0o755);
        h.set_mtime(1_600_000_000);
        h.set_size(e.data.len() as u64);
        let name: Vec<u8> = if e.long {
            NAMES[e.name].repeat(200).into_bytes()
        } else {
            NAMES[e.name].as_bytes().to_vec()
        };
        let old = h.as_old_mut();
        let n = name.len().min(old.name.len());
        old.name[..n].copy_from_slice(&name[..n]);
        let link = NAMES[e.link].as_bytes();
        let l = link.len().min(old.linkname.len());
        old.linkname[..l].copy_from_slice(&link[..l]);
        h.set_cksum();
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(&e.data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.resize(out.len() + 1024, 0);
    out
}

/// Everything under `dir`, as paths relative to it (symlinks not followed).
fn listing(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            out.push(p.strip_prefix(dir).unwrap_or(&p).to_path_buf());
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(p);
            }
        }
    }
    out.sort();
    out
}

fn check(
    tar: &[u8],
    flip: Option<(usize, u8)>,
    cut: Option<usize>,
) -> std::result::Result<(), TestCaseError> {
    let mut tar = tar.to_vec();
    if let Some((at, byte)) = flip {
        let at = at % tar.len();
        tar[at] ^= byte | 1;
    }
    if let Some(at) = cut {
        tar.truncate(at % (tar.len() + 1));
    }
    let tmp = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
    let blob = tmp.path().join("layer.tar");
    std::fs::write(&blob, &tar).map_err(|e| TestCaseError::fail(e.to_string()))?;
    for layout in [Layout::Flat, Layout::Overlay] {
        let root = tmp.path().join(format!("{layout:?}"));
        let dest = root.join("dest");
        std::fs::create_dir_all(&dest).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let _ = unpack(&blob, &Digest::of(b"layer"), &dest, layout);
        // Whatever came of it, the destination's siblings and parents are untouched.
        prop_assert_eq!(listing(&root).first().cloned(), Some(PathBuf::from("dest")));
        prop_assert!(
            listing(&root).iter().all(|p| p.starts_with("dest")),
            "{:?}",
            listing(&root)
        );
    }
    let mut top = names_in(tmp.path());
    top.sort();
    prop_assert_eq!(top, vec!["Flat", "Overlay", "layer.tar"]);
    Ok(())
}

fn names_in(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn hostile_layers_never_panic_or_escape(
        entries in prop::collection::vec(entry(), 1..12),
        flip in prop::option::weighted(0.3, (any::<usize>(), any::<u8>())),
        cut in prop::option::weighted(0.2, any::<usize>()),
    ) {
        check(&tar_of(&entries), flip, cut)?;
    }
}
