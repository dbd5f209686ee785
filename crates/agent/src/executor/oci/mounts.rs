//! Docker's mounts (bind, volume, tmpfs) as OCI mounts. Named volumes are the node's
//! (`crate::volumes`): created on first use with the mount's `VolumeOptions.Labels`, filled
//! from the image unless `NoCopy` when empty, and kept after the task.

use std::collections::BTreeMap;
use std::path::Path;

use oci_spec::runtime::{Mount, MountBuilder};
use serde_json::Value;

use super::extras::DockerMount;
use super::spec::spec_error;
use crate::executor::{Error, Result};
use crate::volumes::{VolumeStore, copy};

/// An OCI mount.
pub fn mount(dest: &str, typ: &str, source: &str, options: &[&str]) -> Result<Mount> {
    MountBuilder::default()
        .destination(dest)
        .typ(typ)
        .source(source)
        .options(options.iter().map(|o| o.to_string()).collect::<Vec<_>>())
        .build()
        .map_err(spec_error)
}

/// What a volume mount's `VolumeOptions` ask of the volume.
struct VolumeMount {
    /// Labels of the volume if this mount creates it.
    labels: BTreeMap<String, String>,
    /// No copy-up of the image's content.
    no_copy: bool,
}

impl VolumeMount {
    /// Reads `VolumeOptions` (its driver was checked by `extras::parse`).
    fn of(m: &DockerMount) -> Result<VolumeMount> {
        let Some(v) = m.volume_options.as_ref().filter(|v| !v.is_null()) else {
            return Ok(VolumeMount {
                labels: BTreeMap::new(),
                no_copy: false,
            });
        };
        let labels = match v.get("Labels") {
            None | Some(Value::Null) => BTreeMap::new(),
            Some(l) => serde_json::from_value(l.clone())
                .map_err(|e| Error::Invalid(format!("mount {}: VolumeOptions.Labels: {e}", m.target)))?,
        };
        if v.get("Subpath")
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty())
        {
            return Err(Error::Invalid(format!(
                "mount {}: VolumeOptions.Subpath is not supported by the oci executor",
                m.target
            )));
        }
        Ok(VolumeMount {
            labels,
            no_copy: v.get("NoCopy").and_then(Value::as_bool).unwrap_or(false),
        })
    }
}

/// One Docker mount as an OCI mount. A volume is made on first use in `volumes` and, empty,
/// gets what `rootfs` (the container's root, not running yet) holds at its target.
pub fn docker_mount(m: &DockerMount, volumes: &VolumeStore, rootfs: &Path) -> Result<Mount> {
    if !m.target.starts_with('/') {
        return Err(Error::Invalid(format!(
            "mount target {:?} is not absolute",
            m.target
        )));
    }
    let ro = if m.read_only { "ro" } else { "rw" };
    match m.r#type.as_str() {
        "bind" => {
            if !Path::new(&m.source).is_absolute() {
                return Err(Error::Invalid(format!(
                    "bind source {:?} is not absolute",
                    m.source
                )));
            }
            if !Path::new(&m.source).exists() {
                return Err(Error::Invalid(format!(
                    "invalid mount config for type \"bind\": bind source path does not exist: {}",
                    m.source
                )));
            }
            let propagation = match m.bind_options.as_ref().map(|b| b.propagation.as_str()) {
                None | Some("") => "rprivate",
                Some(p @ ("rprivate" | "private" | "rshared" | "shared" | "rslave" | "slave")) => p,
                Some(p) => return Err(Error::Invalid(format!("invalid bind propagation {p:?}"))),
            };
            mount(&m.target, "bind", &m.source, &["rbind", ro, propagation])
        }
        "volume" => {
            let options = VolumeMount::of(m)?;
            let made = volumes
                .create(&m.source, options.labels, None)
                .map_err(|e| Error::Invalid(format!("mount {}: {e}", m.target)))?;
            let data = std::path::PathBuf::from(&made.volume.mountpoint);
            if !options.no_copy {
                copy::copy_up(rootfs, &m.target, &data).map_err(|e| {
                    Error::io(
                        format!("copying the image's {} into volume {}", m.target, m.source),
                        e,
                    )
                })?;
            }
            mount(
                &m.target,
                "bind",
                &data.to_string_lossy(),
                &["rbind", ro, "rprivate"],
            )
        }
        "tmpfs" => {
            let t = m.tmpfs_options.clone().unwrap_or_default();
            let mode = if t.mode == 0 { 0o1777 } else { t.mode };
            let mut options = vec![
                "nosuid".to_string(),
                "nodev".into(),
                ro.into(),
                format!("mode={mode:o}"),
            ];
            if t.size_bytes > 0 {
                options.push(format!("size={}", t.size_bytes));
            }
            MountBuilder::default()
                .destination(&m.target)
                .typ("tmpfs")
                .source("tmpfs")
                .options(options)
                .build()
                .map_err(spec_error)
        }
        other => Err(Error::Invalid(format!(
            "mount type {other:?} is not supported by the oci executor (bind, volume or tmpfs)"
        ))),
    }
}
