//! Compose files for stacks: the step before the Docker API when `shoal stack deploy` runs
//! on a machine without the docker CLI.
//!
//! ```text
//! file.yml ─► YAML (serde-saphyr) ─► interpolate ($VAR, .env) ─► merge (later `-c` files)
//!   ─► model (our serde types, ignored keys collected) ─► convert ─► Stack { networks, secrets, configs, services
//!   (types::ServiceSpec, in depends_on order) } ─► the CLI creates them through the API
//! ```
//!
//! Pure: no async runtime; files are read with `std::fs` (the file's `.env`, `env_file`s
//! and secret/config files), each bounded in size.

mod bundle;
mod convert;
mod deploy;
mod env_file;
mod error;
mod interpolate;
mod merge;
pub mod model;
mod order;
mod ports;
mod sections;
mod service;
mod stack;
pub mod values;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

pub use bundle::{load_bundle, load_bundle_file};
pub use error::{Error, Result};
pub use interpolate::Interpolator;
pub use order::dependency_order;
pub use stack::{Condition, Dependency, Stack, StackService};

/// The stack label docker puts on everything a stack makes.
pub const NAMESPACE_LABEL: &str = "com.docker.stack.namespace";
/// The service label holding the image as the file names it.
pub const IMAGE_LABEL: &str = "com.docker.stack.image";
/// Largest compose file read (the parser also keeps its own budget of nodes and aliases).
pub const MAX_FILE_LEN: usize = 16 << 20;

/// How to load a file.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The stack's name (`docker stack deploy … NAME`).
    pub namespace: String,
    /// Directory relative paths are resolved in (the compose file's).
    pub dir: PathBuf,
    /// The process environment; it wins over `.env`.
    pub env: BTreeMap<String, String>,
}

/// Loads a compose file from disk: its `.env` (if any) beside it.
pub fn load_file(path: &Path, namespace: &str, env: BTreeMap<String, String>) -> Result<Stack> {
    let text = read_bounded(path, MAX_FILE_LEN)?;
    let text = String::from_utf8(text).map_err(|_| Error::Read {
        path: path.display().to_string(),
        message: "not UTF-8 text".into(),
    })?;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let options = Options {
        namespace: namespace.to_string(),
        dir,
        env,
    };
    load(&text, &path.display().to_string(), &options)
}

/// Loads compose text; `file` names it in errors.
pub fn load(text: &str, file: &str, options: &Options) -> Result<Stack> {
    load_all(&[(text, file)], options)
}

/// Loads several compose files as one stack (`-c a.yml -c b.yml`), later files merged into
/// earlier ones as docker merges them (`merge.rs`). Relative paths in every file, and the
/// `.env` read, are the first file's directory's, as docker resolves them.
pub fn load_files(paths: &[PathBuf], namespace: &str, env: BTreeMap<String, String>) -> Result<Stack> {
    let Some(first) = paths.first() else {
        return Err(error::invalid("compose files", "no compose file given"));
    };
    let mut texts = Vec::with_capacity(paths.len());
    for path in paths {
        let text = read_bounded(path, MAX_FILE_LEN)?;
        let text = String::from_utf8(text).map_err(|_| Error::Read {
            path: path.display().to_string(),
            message: "not UTF-8 text".into(),
        })?;
        texts.push((text, path.display().to_string()));
    }
    let dir = first
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let options = Options {
        namespace: namespace.to_string(),
        dir,
        env,
    };
    let texts: Vec<(&str, &str)> = texts.iter().map(|(t, f)| (t.as_str(), f.as_str())).collect();
    load_all(&texts, &options)
}

/// Loads (text, file name) pairs, each interpolated on its own, merged in order.
fn load_all(files: &[(&str, &str)], options: &Options) -> Result<Stack> {
    validate_namespace(&options.namespace)?;
    let vars = variables(options)?;
    let mut warnings: Vec<String> = Vec::new();
    let mut merged: Option<serde_json::Map<String, Value>> = None;
    for (text, file) in files {
        let doc = read_doc(text, file, &vars, &mut warnings)?;
        match &mut merged {
            None => merged = Some(doc),
            Some(base) => merge::files(base, doc),
        }
    }
    let doc = Value::Object(merged.unwrap_or_default());
    let mut ignored = Vec::new();
    let parsed = sections::parse(doc, &mut ignored)?;
    warnings.extend(ignored.iter().map(|p| ignored_warning(p)));
    convert::stack(parsed, options, &vars, warnings)
}

/// One file's YAML, interpolated; the variables it used unset are warned about once.
fn read_doc(
    text: &str,
    file: &str,
    vars: &BTreeMap<String, String>,
    warnings: &mut Vec<String>,
) -> Result<serde_json::Map<String, Value>> {
    if text.len() > MAX_FILE_LEN {
        return Err(Error::Read {
            path: file.into(),
            message: format!("larger than {MAX_FILE_LEN} bytes"),
        });
    }
    let mut yaml = serde_saphyr::Options::default();
    // Go's YAML reader (docker's) takes `mode: 0440` as octal; so must this.
    yaml.legacy_octal_numbers = true;
    yaml.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::Error;
    let mut doc: Value = serde_saphyr::from_str_with_options(text, yaml).map_err(|e| Error::Yaml {
        file: file.into(),
        message: e.to_string(),
    })?;
    if !doc.is_object() {
        return Err(error::invalid(file, "top-level object must be a mapping"));
    }
    let mut interpolator = Interpolator::new(vars);
    interpolator.file(&mut doc)?;
    for name in &interpolator.unset {
        let warning = format!("the {name} variable is not set; defaulting to a blank string");
        if !warnings.contains(&warning) {
            warnings.push(warning);
        }
    }
    match doc {
        Value::Object(map) => Ok(map),
        _ => Err(error::invalid(file, "top-level object must be a mapping")),
    }
}

/// The warning for a key that has no effect.
pub(crate) fn ignored_warning(path: &str) -> String {
    format!("{path} is not supported by stacks and is ignored")
}

/// `.env` under the process environment.
fn variables(options: &Options) -> Result<BTreeMap<String, String>> {
    let dot_env = options.dir.join(".env");
    let mut vars = if dot_env.is_file() {
        let text = read_bounded(&dot_env, env_file::MAX_LEN)?;
        env_file::parse(&String::from_utf8_lossy(&text), &dot_env.display().to_string())?
    } else {
        BTreeMap::new()
    };
    vars.extend(options.env.iter().map(|(k, v)| (k.clone(), v.clone())));
    Ok(vars)
}

/// Docker's rule for a stack name: what may prefix an object name.
pub(crate) fn validate_namespace(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
        && name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(error::invalid(
            "stack name",
            format!(
                "invalid stack name {name:?}: letters, digits, '_', '-' and '.', starting with a letter or digit"
            ),
        ))
    }
}

/// Reads at most `limit` bytes of `path`, refusing a larger file.
pub(crate) fn read_bounded(path: &Path, limit: usize) -> Result<Vec<u8>> {
    use std::io::Read as _;
    let read_err = |e: std::io::Error| Error::Read {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    let file = std::fs::File::open(path).map_err(read_err)?;
    let mut buf = Vec::new();
    file.take(limit as u64 + 1)
        .read_to_end(&mut buf)
        .map_err(read_err)?;
    if buf.len() > limit {
        return Err(Error::Read {
            path: path.display().to_string(),
            message: format!("larger than {limit} bytes"),
        });
    }
    Ok(buf)
}

#[cfg(test)]
mod tests;
