//! The manager's modules depend only "downward": this test reads every source file, collects
//! its `crate::` and `super::` references, and fails on any import cycle between modules. On
//! success it prints the modules in layers (each depends only on layers above it), the map
//! ARCHITECTURE.md describes. The pure rules (controlapi, orchestrator, allocator, scheduler,
//! constraint, roles, error) count as one unit: they are leaving for a crate of their own.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top-level modules that hold the pure rules.
const RULES: &[&str] = &[
    "allocator",
    "constraint",
    "controlapi",
    "error",
    "orchestrator",
    "roles",
    "scheduler",
];

/// Items `lib.rs` re-exports, and the module each comes from.
const REEXPORTS: &[(&str, &str)] = &[
    ("Error", "error"),
    ("Result", "error"),
    ("Manager", "manager"),
    ("ManagerConfig", "manager"),
    ("Start", "manager"),
    ("WorkerState", "workers"),
    ("WorkerStatus", "workers"),
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `grpc/ca.rs` → `["grpc", "ca"]`, `grpc/mod.rs` → `["grpc"]`, `lib.rs` → `[]`.
fn module_path(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts
}

/// The unit a module path belongs to: the rules as one, every other module by itself.
fn unit(path: &[String]) -> String {
    match path.first() {
        Some(top) if RULES.contains(&top.as_str()) => "rules".into(),
        _ => path.join("::"),
    }
}

/// Paths (as segments) named after `crate::` or `super::` in `code`, with `{a, b::c}`
/// groups expanded to their first segments.
fn references(code: &str, prefix: &str) -> Vec<Vec<String>> {
    let ident = |s: &str| -> Vec<String> {
        let mut segs = Vec::new();
        let mut rest = s;
        loop {
            let end = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            if end == 0 {
                break;
            }
            segs.push(rest[..end].to_string());
            rest = &rest[end..];
            match rest.strip_prefix("::") {
                Some(r) if !r.starts_with('{') => rest = r,
                _ => break,
            }
        }
        segs
    };
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find(prefix) {
        let preceded_by_ident = rest[..at]
            .chars()
            .last()
            .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':');
        rest = &rest[at + prefix.len()..];
        if preceded_by_ident {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let segs = ident(item.trim());
                if !segs.is_empty() {
                    out.push(segs);
                }
            }
        } else {
            let segs = ident(rest);
            if !segs.is_empty() {
                out.push(segs);
            }
        }
    }
    out
}

/// The longest known module that `path` starts with (an item's module), re-exports mapped.
fn resolve(path: &[String], modules: &BTreeSet<Vec<String>>) -> Option<Vec<String>> {
    if let [item] = path
        && let Some((_, module)) = REEXPORTS.iter().find(|(name, _)| name == item)
    {
        return Some(vec![module.to_string()]);
    }
    (1..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|prefix| modules.contains(prefix))
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let modules: BTreeSet<Vec<String>> = files.iter().map(|f| module_path(&src, f)).collect();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let me = module_path(&src, file);
        if me.is_empty() {
            continue; // lib.rs only declares the modules.
        }
        // Comments may name modules without depending on them.
        let code: String = std::fs::read_to_string(file)
            .unwrap()
            .lines()
            .map(|l| l.split("//").next().unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n");
        // `super` of module `a::b` (in `a/b.rs` or `a/b/mod.rs`) is `a`.
        let parent: Vec<String> = me[..me.len() - 1].to_vec();
        let mut targets = Vec::new();
        for path in references(&code, "crate::") {
            targets.extend(resolve(&path, &modules));
        }
        for path in references(&code, "super::") {
            let mut abs = parent.clone();
            abs.extend(path);
            targets.extend(resolve(&abs, &modules));
        }
        let from = unit(&me);
        let entry = edges.entry(from.clone()).or_default();
        for target in targets {
            let to = unit(&target);
            if to != from {
                entry.insert(to);
            }
        }
    }
    edges
}

/// Layers of a dependency graph without cycles (leaves first), or a cycle found.
fn layers(edges: &BTreeMap<String, BTreeSet<String>>) -> Result<Vec<Vec<String>>, Vec<String>> {
    let mut placed: BTreeMap<String, usize> = BTreeMap::new();
    let mut out: Vec<Vec<String>> = Vec::new();
    while placed.len() < edges.len() {
        let layer: Vec<String> = edges
            .iter()
            .filter(|(m, _)| !placed.contains_key(*m))
            .filter(|(_, deps)| {
                deps.iter()
                    .all(|d| placed.contains_key(d) || !edges.contains_key(d))
            })
            .map(|(m, _)| m.clone())
            .collect();
        if layer.is_empty() {
            let stuck: Vec<String> = edges
                .iter()
                .filter(|(m, _)| !placed.contains_key(*m))
                .map(|(m, deps)| {
                    let open: Vec<&String> = deps.iter().filter(|d| !placed.contains_key(*d)).collect();
                    format!("{m} -> {open:?}")
                })
                .collect();
            return Err(stuck);
        }
        for m in &layer {
            placed.insert(m.clone(), out.len());
        }
        out.push(layer);
    }
    Ok(out)
}

#[test]
fn manager_modules_have_no_import_cycles() {
    let edges = graph();
    for (module, deps) in &edges {
        println!("{module} -> {deps:?}");
    }
    match layers(&edges) {
        Ok(layers) => {
            for (i, layer) in layers.iter().enumerate() {
                println!("layer {i}: {}", layer.join(", "));
            }
        }
        Err(cycle) => panic!("import cycle among:\n{}", cycle.join("\n")),
    }
}

#[test]
fn the_rules_depend_on_nothing_of_the_runtime() {
    let edges = graph();
    assert_eq!(edges.get("rules").cloned().unwrap_or_default(), BTreeSet::new());
}

#[test]
fn the_cycle_check_finds_a_cycle() {
    let edges: BTreeMap<String, BTreeSet<String>> = [
        ("a".to_string(), BTreeSet::from(["b".to_string()])),
        ("b".to_string(), BTreeSet::from(["a".to_string()])),
        ("c".to_string(), BTreeSet::new()),
    ]
    .into();
    let stuck = layers(&edges).unwrap_err();
    assert_eq!(stuck.len(), 2, "{stuck:?}");
    assert_eq!(
        references(
            "use crate::{Error, grpc::Gate};\nlet x = super::liveness::seen;",
            "crate::"
        ),
        vec![
            vec!["Error".to_string()],
            vec!["grpc".to_string(), "Gate".to_string()]
        ]
    );
}
