//! Docker's mounts (bind, volume, tmpfs) as OCI mounts. Named volumes are the node's
//! (`crate::volumes`): created on first use with the mount's `VolumeOptions.Labels`, filled
//! from the image unless `NoCopy` when empty, and kept after the task. A volume mount without
//! a `Source` gets an anonymous volume of its own (`types::volume::anonymous_name`, labelled
//! `com.docker.volume.anonymous` as dockerd labels them), which goes with the container when
//! it is removed with its volumes. `VolumeOptions.Subpath` mounts a part of the volume
//! (`subpath.rs`).

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
    /// The part of the volume to mount (empty: all of it).
    subpath: String,
}

/// What mounting needs besides the mount itself.
pub struct MountContext<'a> {
    /// The node's volumes.
    pub volumes: &'a VolumeStore,
    /// The container's root filesystem, not running yet (the copy-up's source).
    pub rootfs: &'a Path,
    /// The task: its ID names its anonymous volumes.
    pub task_id: &'a str,
    /// The task's directory (subpath pins live there).
    pub task_dir: &'a Path,
    /// The anonymous volumes these mounts created (not found): a prepare that fails removes
    /// them again.
    pub created: &'a std::sync::Mutex<Vec<String>>,
}

/// One Docker mount made ready: the OCI mount and the volume behind it.
pub struct Prepared {
    /// The OCI mount.
    pub mount: Mount,
    /// The volume it mounts (named or anonymous), if it is a volume mount.
    pub volume: Option<String>,
    /// The anonymous volume behind it, if any.
    pub anonymous: Option<String>,
}

impl VolumeMount {
    /// Reads `VolumeOptions` (its driver was checked by `extras::parse`).
    fn of(m: &DockerMount) -> Result<VolumeMount> {
        let Some(v) = m.volume_options.as_ref().filter(|v| !v.is_null()) else {
            return Ok(VolumeMount {
                labels: BTreeMap::new(),
                no_copy: false,
                subpath: String::new(),
            });
        };
        let labels = match v.get("Labels") {
            None | Some(Value::Null) => BTreeMap::new(),
            Some(l) => serde_json::from_value(l.clone())
                .map_err(|e| Error::Invalid(format!("mount {}: VolumeOptions.Labels: {e}", m.target)))?,
        };
        let subpath = match v.get("Subpath") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(_) => {
                return Err(Error::Invalid(format!(
                    "mount {}: VolumeOptions.Subpath must be a string",
                    m.target
                )));
            }
        };
        if !subpath.is_empty() {
            if m.source.is_empty() {
                return Err(Error::Invalid(
                    "invalid mount config for type \"volume\": must not set Subpath when using anonymous volumes"
                        .into(),
                ));
            }
            super::subpath::check(&subpath)?;
        }
        Ok(VolumeMount {
            labels,
            no_copy: v.get("NoCopy").and_then(Value::as_bool).unwrap_or(false),
            subpath,
        })
    }
}

/// One Docker mount (the `index`th of the task's) as an OCI mount. A volume is made on first
/// use in the node's volumes and, empty, gets what the container's root holds at its target.
pub fn docker_mount(m: &DockerMount, index: usize, cx: &MountContext<'_>) -> Result<Prepared> {
    let mut anonymous = None;
    let mut volume = None;
    let mount = match m.r#type.as_str() {
        "volume" => {
            let name = if m.source.is_empty() {
                let name = types::volume::anonymous_name(cx.task_id, &m.target);
                anonymous = Some(name.clone());
                name
            } else {
                m.source.clone()
            };
            let mount = volume_mount(m, &name, index, cx)?;
            volume = Some(name);
            mount
        }
        _ => other_mount(m)?,
    };
    Ok(Prepared {
        mount,
        volume,
        anonymous,
    })
}

/// A volume mount of volume `name`.
fn volume_mount(m: &DockerMount, name: &str, index: usize, cx: &MountContext<'_>) -> Result<Mount> {
    check_target(m)?;
    let ro = if m.read_only { "ro" } else { "rw" };
    let options = VolumeMount::of(m)?;
    let mut labels = options.labels;
    if m.source.is_empty() {
        labels.insert(types::volume::ANONYMOUS_LABEL.into(), String::new());
    }
    let made = cx
        .volumes
        .create(name, labels, None)
        .map_err(|e| Error::Invalid(format!("mount {}: {e}", m.target)))?;
    if made.created && m.source.is_empty() {
        // Only pushes: a poisoned list is still whole.
        cx.created
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(name.to_string());
    }
    let mut data = std::path::PathBuf::from(&made.volume.mountpoint);
    if !options.subpath.is_empty() {
        data = super::subpath::pin(&data, &options.subpath, cx.task_dir, index)?;
    }
    if !options.no_copy && data.is_dir() {
        copy::copy_up(cx.rootfs, &m.target, &data)
            .map_err(|e| Error::io(format!("copying the image's {} into volume {name}", m.target), e))?;
    }
    mount(
        &m.target,
        "bind",
        &data.to_string_lossy(),
        &["rbind", ro, "rprivate"],
    )
}

/// A mount target as dockerd compares them (`filepath.Clean`): no trailing, doubled or `.`
/// parts; relative paths stay relative (and are refused as targets).
pub fn clean_target(target: &str) -> String {
    let parts: Vec<&str> = target.split('/').filter(|p| !p.is_empty() && *p != ".").collect();
    if target.starts_with('/') {
        format!("/{}", parts.join("/"))
    } else {
        parts.join("/")
    }
}

fn check_target(m: &DockerMount) -> Result<()> {
    if !m.target.starts_with('/') {
        return Err(Error::Invalid(format!(
            "mount target {:?} is not absolute",
            m.target
        )));
    }
    Ok(())
}

/// A bind or tmpfs mount.
fn other_mount(m: &DockerMount) -> Result<Mount> {
    check_target(m)?;
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
