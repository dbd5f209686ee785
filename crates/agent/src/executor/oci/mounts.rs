//! Docker's mounts (bind, volume, tmpfs) as OCI mounts. Named volumes are directories under
//! the node's volume directory, created on first use and kept after the task.

use std::path::Path;

use oci_spec::runtime::{Mount, MountBuilder};

use super::extras::DockerMount;
use super::spec::spec_error;
use crate::executor::{Error, Result};

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

/// One Docker mount as an OCI mount.
pub fn docker_mount(m: &DockerMount, volumes: &Path) -> Result<Mount> {
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
            let name = &m.source;
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
                || name.starts_with('.')
            {
                return Err(Error::Invalid(format!(
                    "volume name {name:?}: want a named volume of [a-zA-Z0-9][a-zA-Z0-9_.-]*"
                )));
            }
            let data = volumes.join(name).join("_data");
            if !data.is_dir() {
                use std::os::unix::fs::PermissionsExt;
                // 0755 as Docker's local driver makes it, whatever the agent's umask.
                std::fs::create_dir_all(&data)
                    .and_then(|()| std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)))
                    .map_err(|e| Error::io(format!("creating volume {}", data.display()), e))?;
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
