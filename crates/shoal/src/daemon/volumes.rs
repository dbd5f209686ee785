//! The node's named volumes behind `/volumes` (`agent::volumes` under `<data-dir>/volumes`,
//! the store the oci executor mounts from): listed with the containers of this node that
//! mount them (task containers and standalone ones, stopped ones too, as dockerd counts
//! them), created, removed unless in use. Other executors keep no volumes here (a `docker`
//! node's `/volumes` goes to dockerd before reaching this).

use std::collections::BTreeMap;

use agent::volumes::{Error as StoreError, VolumeStore};
use api::{VolumeCreate, VolumeUsage, VolumeView};
use rules::Error;
use types::volume::{self, VolumeError};

use super::ExecutorChoice;
use super::swarm::Swarm;

type Result<T> = std::result::Result<T, Error>;

impl Swarm {
    /// The volume store, or why this node has none.
    fn volume_store(&self) -> Result<VolumeStore> {
        if !matches!(self.executor, ExecutorChoice::Oci(_)) {
            return Err(Error::Unimplemented(format!(
                "volumes: named volumes are served on nodes with the oci executor; this node runs {}",
                self.executor.kind()
            )));
        }
        VolumeStore::open(&self.dir.root().join("volumes"))
            .map(|store| store.observed(Some(super::volume_events::observer(self.events.clone()))))
            .map_err(store_error)
    }

    /// Volume name → the IDs of this node's containers that mount it.
    async fn volume_refs(&self) -> BTreeMap<String, Vec<String>> {
        let mut refs: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let Some(tasks) = self.node_tasks() else {
            return refs;
        };
        for (task, details) in tasks.containers().await {
            let mut names = names_of(&task.id, &task.spec.container.extra);
            // Its image's `VOLUME`s too, which only the executor knows of.
            names.extend(details.anonymous_volumes);
            names.sort();
            names.dedup();
            for name in names {
                refs.entry(name)
                    .or_default()
                    .push(api::containers::container_id(&task.id));
            }
        }
        refs
    }

    /// `GET /volumes`.
    pub(crate) async fn volume_list(&self) -> Result<Vec<VolumeView>> {
        let store = self.volume_store()?;
        let mut refs = self.volume_refs().await;
        let list = store.list().map_err(store_error)?;
        Ok(list
            .into_iter()
            .map(|v| VolumeView {
                refs: refs.remove(&v.name).unwrap_or_default(),
                volume: v,
            })
            .collect())
    }

    /// `GET /system/df`'s volumes: each with its size (walked off the async threads, one
    /// volume at a time, `agent::volumes::usage`); none on a node without the volume store.
    pub(crate) async fn volume_usage(&self) -> Result<Vec<VolumeUsage>> {
        let Ok(store) = self.volume_store() else {
            return Ok(Vec::new());
        };
        let mut refs = self.volume_refs().await;
        let list = store.list().map_err(store_error)?;
        let mut out = Vec::with_capacity(list.len());
        for v in list {
            let dir = std::path::PathBuf::from(&v.mountpoint);
            let size = tokio::task::spawn_blocking(move || agent::volumes::usage::size(&dir))
                .await
                .ok()
                .flatten()
                .map_or(-1, |s| i64::try_from(s).unwrap_or(i64::MAX));
            out.push(VolumeUsage {
                view: VolumeView {
                    refs: refs.remove(&v.name).unwrap_or_default(),
                    volume: v,
                },
                size,
            });
        }
        Ok(out)
    }

    /// `GET /volumes/{name}`.
    pub(crate) async fn volume_get(&self, name: &str) -> Result<VolumeView> {
        let volume = self.volume_store()?.get(name).map_err(store_error)?;
        let refs = self.volume_refs().await.remove(name).unwrap_or_default();
        Ok(VolumeView { volume, refs })
    }

    /// `POST /volumes/create`.
    pub(crate) async fn volume_make(&self, create: VolumeCreate) -> Result<VolumeView> {
        let store = self.volume_store()?;
        volume::check_driver(&create.driver, &create.options).map_err(rule_error)?;
        let named = !create.name.is_empty();
        let name = if named {
            create.name
        } else {
            volume::generated_name(&rand::random::<[u8; 32]>())
        };
        volume::check_name(&name).map_err(rule_error)?;
        let existing = match store.get(&name) {
            Ok(v) => Some(v),
            Err(StoreError::Rule(VolumeError::NotFound(_))) => None,
            Err(e) => return Err(store_error(e)),
        };
        volume::create_over(existing.as_ref(), &name, &create.driver).map_err(rule_error)?;
        let labels = volume::create_labels(named, create.labels);
        let made = store
            .create(&name, labels, Some(self.clock.now()))
            .map_err(store_error)?;
        let refs = self.volume_refs().await.remove(&name).unwrap_or_default();
        Ok(VolumeView {
            volume: made.volume,
            refs,
        })
    }

    /// `DELETE /volumes/{name}`: the bytes freed.
    pub(crate) async fn volume_delete(&self, name: &str, force: bool) -> Result<u64> {
        let store = self.volume_store()?;
        if let Err(e) = store.get(name) {
            return match e {
                StoreError::Rule(VolumeError::NotFound(_)) if force => Ok(0),
                e => Err(store_error(e)),
            };
        }
        let refs = self.volume_refs().await.remove(name).unwrap_or_default();
        volume::check_remove(name, &refs).map_err(rule_error)?;
        match store.remove(name) {
            Ok(bytes) => Ok(bytes),
            Err(StoreError::Rule(VolumeError::NotFound(_))) if force => Ok(0),
            Err(e) => Err(store_error(e)),
        }
    }
}

/// The volumes task `task_id`'s container mounts (`ContainerSpec.Mounts` in its extra
/// fields): named ones and its anonymous ones.
fn names_of(task_id: &str, extra: &str) -> Vec<String> {
    if extra.trim().is_empty() {
        return Vec::new();
    }
    serde_json::from_str::<serde_json::Value>(extra)
        .ok()
        .and_then(|v| v.get("Mounts").map(|m| volume::names_in_task_mounts(task_id, m)))
        .unwrap_or_default()
}

/// dockerd's status for each refusal.
fn rule_error(e: VolumeError) -> Error {
    match e {
        VolumeError::NotFound(_) => Error::NotFound(e.to_string()),
        VolumeError::InUse { .. } | VolumeError::OtherDriver(..) => Error::Conflict(e.to_string()),
        VolumeError::Name(_) | VolumeError::Driver(_) | VolumeError::Option(_) => {
            Error::InvalidArgument(e.to_string())
        }
    }
}

fn store_error(e: StoreError) -> Error {
    match e {
        StoreError::Rule(r) => rule_error(r),
        StoreError::Io { .. } => Error::Internal(format!("volumes: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_containers_volumes_come_from_its_mounts() {
        let extra = r#"{"Mounts":[{"Type":"volume","Source":"db","Target":"/d"},{"Type":"bind","Source":"/x","Target":"/x"},{"Type":"volume","Target":"/a"}]}"#;
        assert_eq!(
            names_of("t1", extra),
            vec!["db".to_string(), volume::anonymous_name("t1", "/a")]
        );
        assert!(names_of("t1", "").is_empty());
        assert!(names_of("t1", "not json").is_empty());
    }

    #[test]
    fn refusals_carry_dockerds_statuses() {
        assert!(matches!(
            rule_error(VolumeError::NotFound("v".into())),
            Error::NotFound(_)
        ));
        assert!(matches!(
            rule_error(VolumeError::InUse {
                name: "v".into(),
                refs: vec!["c".into()]
            }),
            Error::Conflict(_)
        ));
        assert!(matches!(
            rule_error(VolumeError::Driver("nfs".into())),
            Error::InvalidArgument(_)
        ));
    }
}
