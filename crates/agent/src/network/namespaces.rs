//! Task network namespaces behind a small trait: the kernel's (named namespaces pinned in a
//! directory, netplane's helpers) and a recording one for tests without root.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Makes, lists and removes named network namespaces in one directory.
#[async_trait::async_trait]
pub trait TaskNamespaces: Send + Sync {
    /// Creates namespace `name` (kept if it exists) and returns its path.
    async fn create(&self, name: &str) -> netplane::Result<PathBuf>;
    /// Removes namespace `name`; a missing one is not an error.
    fn delete(&self, name: &str) -> netplane::Result<()>;
    /// The names that start with `prefix`.
    fn list(&self, prefix: &str) -> netplane::Result<Vec<String>>;
    /// The path namespace `name` has (or would have).
    fn path(&self, name: &str) -> PathBuf;
}

/// Named namespaces in `dir`, as `ip netns` keeps them.
#[derive(Debug, Clone)]
pub struct KernelNamespaces {
    dir: PathBuf,
}

impl KernelNamespaces {
    /// Namespaces pinned in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        KernelNamespaces { dir: dir.into() }
    }
}

#[async_trait::async_trait]
impl TaskNamespaces for KernelNamespaces {
    async fn create(&self, name: &str) -> netplane::Result<PathBuf> {
        netplane::create_netns(&self.dir, name).await
    }
    fn delete(&self, name: &str) -> netplane::Result<()> {
        netplane::delete_netns(&self.dir.join(name))
    }
    fn list(&self, prefix: &str) -> netplane::Result<Vec<String>> {
        netplane::list_netns(&self.dir, prefix)
    }
    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

/// Namespaces that exist only as names, for tests with a `FakePlane`.
#[derive(Debug, Default)]
pub struct RecordedNamespaces {
    names: Mutex<BTreeSet<String>>,
}

impl RecordedNamespaces {
    fn names(&self) -> std::sync::MutexGuard<'_, BTreeSet<String>> {
        // Each change is one insert or remove: the set stays consistent across a panic.
        self.names.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[async_trait::async_trait]
impl TaskNamespaces for RecordedNamespaces {
    async fn create(&self, name: &str) -> netplane::Result<PathBuf> {
        self.names().insert(name.to_owned());
        Ok(self.path(name))
    }
    fn delete(&self, name: &str) -> netplane::Result<()> {
        self.names().remove(name);
        Ok(())
    }
    fn list(&self, prefix: &str) -> netplane::Result<Vec<String>> {
        Ok(self
            .names()
            .iter()
            .filter(|n| n.starts_with(prefix))
            .cloned()
            .collect())
    }
    fn path(&self, name: &str) -> PathBuf {
        Path::new("/recorded").join(name)
    }
}
