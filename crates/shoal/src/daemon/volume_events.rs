//! Volume events of an `oci` node, as dockerd sends them (`Type: volume`, the volume's name as
//! the actor's ID, `Scope: local`):
//!
//! ```text
//! a volume made (POST /volumes/create, a mount's first use)  ─► create  {driver}
//! a container's start, per volume it mounts                   ─► mount   {driver, container,
//!                                                                 destination, read/write, propagation}
//! its exit (before its die)                                   ─► unmount {driver, container}
//! a volume removed (rm, prune, an anonymous one with its container) ─► destroy {driver}
//! POST /volumes/prune done                                    ─► prune   {reclaimed} (no ID)
//! ```
//!
//! `create` and `destroy` come from the volume stores (`agent::volumes::Observer`), `mount` and
//! `unmount` from the container events of task and standalone containers.

use std::collections::BTreeMap;
use std::sync::Arc;

use agent::volumes::{Change, Observer};
use types::Task;
use types::volume::{LOCAL_DRIVER, anonymous_name};

use super::events::{EventBus, Subject};

/// Publishes `create` and `destroy` for what a volume store makes and removes.
pub fn observer(bus: Arc<EventBus>) -> Observer {
    Arc::new(move |name: &str, change: Change| {
        let action = match change {
            Change::Created => "create",
            Change::Removed => "destroy",
        };
        bus.publish(&subject(name, BTreeMap::new()), action);
    })
}

/// `mount` for each volume `task`'s container mounts, as it starts.
pub fn mounted(bus: &EventBus, task: &Task) {
    for m in volume_mounts(task) {
        let attributes = BTreeMap::from([
            ("container".to_string(), api::containers::container_id(&task.id)),
            ("destination".to_string(), m.destination),
            ("read/write".to_string(), (!m.read_only).to_string()),
            // Volumes mount without propagation of their own, as dockerd reports them.
            ("propagation".to_string(), String::new()),
        ]);
        bus.publish(&subject(&m.name, attributes), "mount");
    }
}

/// `unmount` for each volume `task`'s container mounted, as it exits.
pub fn unmounted(bus: &EventBus, task: &Task) {
    for m in volume_mounts(task) {
        let attributes = BTreeMap::from([("container".to_string(), api::containers::container_id(&task.id))]);
        bus.publish(&subject(&m.name, attributes), "unmount");
    }
}

/// `prune` once `POST /volumes/prune` is done: no volume named, the bytes it freed.
pub fn pruned(bus: &EventBus, reclaimed: u64) {
    bus.publish(
        &Subject {
            kind: "volume",
            id: String::new(),
            attributes: BTreeMap::from([("reclaimed".to_string(), reclaimed.to_string())]),
            from: String::new(),
        },
        "prune",
    );
}

fn subject(name: &str, mut attributes: BTreeMap<String, String>) -> Subject {
    attributes.insert("driver".into(), LOCAL_DRIVER.into());
    Subject {
        kind: "volume",
        id: name.to_string(),
        attributes,
        from: String::new(),
    }
}

/// One volume mount of a container.
#[derive(Debug, PartialEq, Eq)]
struct VolumeMount {
    name: String,
    destination: String,
    read_only: bool,
}

/// The volume mounts of `task`'s spec (`ContainerSpec.Mounts` in its extra fields), each with
/// its volume (named, or the task's anonymous one).
fn volume_mounts(task: &Task) -> Vec<VolumeMount> {
    let extra = &task.spec.container.extra;
    if !extra.contains("Mounts") {
        return Vec::new();
    }
    let Ok(fields) = serde_json::from_str::<serde_json::Value>(extra) else {
        return Vec::new();
    };
    let Some(list) = fields.get("Mounts").and_then(|m| m.as_array()) else {
        return Vec::new();
    };
    list.iter()
        .filter(|m| {
            m.get("Type")
                .and_then(|t| t.as_str())
                .is_some_and(|t| t.eq_ignore_ascii_case("volume"))
        })
        .filter_map(|m| {
            let target = m.get("Target").and_then(|t| t.as_str())?;
            let source = m.get("Source").and_then(|t| t.as_str()).unwrap_or("");
            Some(VolumeMount {
                name: if source.is_empty() {
                    anonymous_name(&task.id, target)
                } else {
                    source.to_string()
                },
                destination: target.to_string(),
                read_only: m.get("ReadOnly").and_then(|r| r.as_bool()).unwrap_or(false),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tasks_volume_mounts_name_their_volumes() {
        let with_extra = |extra: &str| {
            types::testing::task("t1")
                .container(types::ContainerSpec {
                    extra: extra.into(),
                    ..Default::default()
                })
                .build()
        };
        let task = with_extra(
            r#"{"Mounts":[
            {"Type":"volume","Source":"db","Target":"/d","ReadOnly":true},
            {"Type":"bind","Source":"/x","Target":"/x"},
            {"Type":"volume","Target":"/anon"}]}"#,
        );
        assert_eq!(
            volume_mounts(&task),
            vec![
                VolumeMount {
                    name: "db".into(),
                    destination: "/d".into(),
                    read_only: true
                },
                VolumeMount {
                    name: anonymous_name("t1", "/anon"),
                    destination: "/anon".into(),
                    read_only: false
                },
            ]
        );
        assert!(volume_mounts(&with_extra("")).is_empty());
    }
}
