//! `ContainerSpec.Mounts`: decoded into typed mounts and checked by dockerd's rules before a
//! spec is stored (the JSON itself stays in the spec's extra fields for `inspect`).

use serde_json::{Map, Value};
use types::mount::{self, BindOptions, Mount, MountType, TmpfsOptions, VolumeOptions};

use crate::error::{Error, Result};
use crate::model;

/// The typed, checked mounts of a ContainerSpec's extra fields (none when absent).
pub fn from_docker(extra: &Map<String, Value>) -> Result<Vec<Mount>> {
    let Some(value) = extra.get("Mounts").filter(|v| !v.is_null()) else {
        return Ok(Vec::new());
    };
    let shapes: Vec<model::mount::Mount> = model::fold::from_value(value.clone())
        .map_err(|e| Error::BadRequest(format!("invalid Mounts: {}", types::excerpt(&e.to_string()))))?;
    let mounts = shapes.iter().map(typed).collect::<Result<Vec<_>>>()?;
    mount::validate(&mounts).map_err(|e| Error::BadRequest(e.to_string()))?;
    Ok(mounts)
}

fn typed(m: &model::mount::Mount) -> Result<Mount> {
    let kind = MountType::parse(&m.kind).map_err(|e| Error::BadRequest(e.to_string()))?;
    Ok(Mount {
        kind,
        source: m.source.clone(),
        target: m.target.clone(),
        read_only: m.read_only,
        consistency: m.consistency.clone(),
        bind: m.bind_options.as_ref().map(|b| BindOptions {
            propagation: b.propagation.clone(),
            non_recursive: b.non_recursive,
            create_mountpoint: b.create_mountpoint,
        }),
        volume: m.volume_options.as_ref().map(|v| VolumeOptions {
            no_copy: v.no_copy,
            labels: v.labels.clone(),
            driver: v
                .driver_config
                .as_ref()
                .map(|d| d.name.clone())
                .unwrap_or_default(),
            subpath: v.subpath.clone(),
        }),
        tmpfs: m.tmpfs_options.as_ref().map(|t| TmpfsOptions {
            size_bytes: t.size_bytes,
            mode: t.mode,
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(json: &str) -> Result<Vec<Mount>> {
        let extra: Map<String, Value> = serde_json::from_str(json).unwrap();
        from_docker(&extra)
    }

    #[test]
    fn docker_cli_mounts_decode_and_bad_ones_are_400() {
        let ok = check(
            r#"{"Mounts":[{"Type":"volume","Source":"data","Target":"/data","VolumeOptions":{"NoCopy":true,"Labels":null}},
                          {"Type":"bind","Source":"/srv","Target":"/srv","BindOptions":{"Propagation":"rprivate"}},
                          {"Type":"tmpfs","Target":"/run","TmpfsOptions":{"SizeBytes":1048576}}]}"#,
        )
        .unwrap();
        assert_eq!(ok.len(), 3);
        assert_eq!(ok[0].volume.as_ref().map(|v| v.no_copy), Some(true));
        assert!(check("{}").unwrap().is_empty());
        let refused = |json: &str| {
            let err = check(json).unwrap_err();
            assert_eq!(err.status().as_u16(), 400, "{json}");
            err.to_string()
        };
        assert!(
            refused(r#"{"Mounts":[{"Type":"bind","Source":"rel","Target":"/x"}]}"#)
                .contains("bind mount source")
        );
        assert!(refused(r#"{"Mounts":[{"Type":"weird","Target":"/x"}]}"#).starts_with("invalid mount type"));
        assert!(
            refused(r#"{"Mounts":[{"Type":"tmpfs","Target":"/x","TmpfsOptions":{"SizeBytes":"big"}}]}"#)
                .starts_with("invalid Mounts")
        );
        assert!(refused(r#"{"Mounts":{"Type":"bind"}}"#).starts_with("invalid Mounts"));
        // A volume driver is the cluster's to judge (`rules::controlapi::supported`): a
        // docker-executor node's dockerd has drivers.
        assert_eq!(
            check(r#"{"Mounts":[{"Type":"volume","Source":"v1","Target":"/v","VolumeOptions":{"DriverConfig":{"Name":"local"}}}]}"#)
                .unwrap()
                .len(),
            1
        );
    }
}
