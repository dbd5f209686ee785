//! Mounts of a task's container (Docker's `Mount`), and the rules dockerd and SwarmKit apply
//! to them when a service is created or updated.

use std::collections::BTreeMap;

use thiserror::Error;

use crate::excerpt;

/// What is mounted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountType {
    /// A host path.
    Bind,
    /// A named (or anonymous) volume.
    Volume,
    /// A memory file system.
    Tmpfs,
    /// A Windows named pipe.
    Npipe,
}

impl MountType {
    /// Docker's name (`bind`, `volume`, `tmpfs`, `npipe`).
    pub fn as_str(self) -> &'static str {
        match self {
            MountType::Bind => "bind",
            MountType::Volume => "volume",
            MountType::Tmpfs => "tmpfs",
            MountType::Npipe => "npipe",
        }
    }

    /// Parses Docker's name, case-insensitively as dockerd does.
    pub fn parse(text: &str) -> Result<MountType, MountError> {
        match text.to_ascii_lowercase().as_str() {
            "bind" => Ok(MountType::Bind),
            "volume" => Ok(MountType::Volume),
            "tmpfs" => Ok(MountType::Tmpfs),
            "npipe" => Ok(MountType::Npipe),
            "cluster" | "image" => Err(MountError::Unsupported(text.to_ascii_lowercase())),
            _ => Err(MountError::Type(excerpt(text))),
        }
    }
}

/// One mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// What is mounted.
    pub kind: MountType,
    /// Host path (bind), volume name (volume), empty (tmpfs).
    pub source: String,
    /// Absolute path in the container.
    pub target: String,
    /// Mounted read-only.
    pub read_only: bool,
    /// `default`, `consistent`, `cached` or `delegated` (empty: default).
    pub consistency: String,
    /// Bind options (bind mounts only).
    pub bind: Option<BindOptions>,
    /// Volume options (volumes only).
    pub volume: Option<VolumeOptions>,
    /// Tmpfs options (tmpfs only).
    pub tmpfs: Option<TmpfsOptions>,
}

/// Docker's BindOptions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BindOptions {
    /// Mount propagation (`private`, `rprivate`, `shared`, `rshared`, `slave`, `rslave`).
    pub propagation: String,
    /// Do not bind sub-mounts.
    pub non_recursive: bool,
    /// Create the source path if missing.
    pub create_mountpoint: bool,
}

/// Docker's VolumeOptions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VolumeOptions {
    /// Do not copy the image's data into a new volume.
    pub no_copy: bool,
    /// Labels of a created volume.
    pub labels: BTreeMap<String, String>,
    /// Volume driver name (empty: local).
    pub driver: String,
    /// Path inside the volume to mount instead of its root.
    pub subpath: String,
}

/// Docker's TmpfsOptions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TmpfsOptions {
    /// Size in bytes (0: unlimited).
    pub size_bytes: i64,
    /// Permission bits of the root.
    pub mode: u32,
}

/// Why a mount is refused (every message quotes at most an excerpt of the input).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MountError {
    /// Unknown type.
    #[error("invalid mount type: {0:?} (expected bind, volume or tmpfs)")]
    Type(String),
    /// A type shoal does not run.
    #[error("mount type {0} is not supported by shoal")]
    Unsupported(String),
    /// Target not absolute.
    #[error("invalid mount target, must be an absolute path: {0}")]
    Target(String),
    /// Bind source not absolute.
    #[error("invalid bind mount source, must be an absolute path: {0}")]
    BindSource(String),
    /// Volume source absolute.
    #[error("invalid volume mount source, must not be an absolute path: {0}")]
    VolumeSource(String),
    /// Volume subpath leaving the volume.
    #[error("invalid volume subpath, must be a relative path inside the volume: {0}")]
    Subpath(String),
    /// Tmpfs with a source.
    #[error("invalid tmpfs source, source must be empty")]
    TmpfsSource,
    /// Negative tmpfs size or mode beyond the permission bits.
    #[error("invalid tmpfs options: {0}")]
    TmpfsOptions(String),
    /// Named pipes exist on Windows only.
    #[error("npipe mounts are only supported on Windows nodes")]
    Npipe,
    /// Options for another type.
    #[error("field {field} must not be specified for a {kind} mount")]
    ExtraField {
        /// The options field.
        field: &'static str,
        /// The mount's type.
        kind: &'static str,
    },
    /// Unknown propagation mode.
    #[error("invalid propagation mode: {0:?}")]
    Propagation(String),
    /// Unknown consistency.
    #[error("invalid consistency: {0:?}")]
    Consistency(String),
    /// Two mounts on one target.
    #[error("invalid Mounts: Duplicate mount point '{0}'")]
    Duplicate(String),
}

const PROPAGATIONS: &[&str] = &["", "private", "rprivate", "shared", "rshared", "slave", "rslave"];
const CONSISTENCIES: &[&str] = &["", "default", "consistent", "cached", "delegated"];

/// Checks every mount and that no two share a target.
pub fn validate(mounts: &[Mount]) -> Result<(), MountError> {
    let mut targets = std::collections::BTreeSet::new();
    for m in mounts {
        check(m)?;
        let target = m.target.trim_end_matches('/');
        if !targets.insert(target) {
            return Err(MountError::Duplicate(excerpt(&m.target)));
        }
    }
    Ok(())
}

/// One mount's rules.
fn check(m: &Mount) -> Result<(), MountError> {
    if !m.target.starts_with('/') {
        return Err(MountError::Target(excerpt(&m.target)));
    }
    if !CONSISTENCIES.contains(&m.consistency.as_str()) {
        return Err(MountError::Consistency(excerpt(&m.consistency)));
    }
    let kind = m.kind.as_str();
    let extra = |field| Err(MountError::ExtraField { field, kind });
    if m.bind.is_some() && m.kind != MountType::Bind {
        return extra("BindOptions");
    }
    if m.volume.is_some() && m.kind != MountType::Volume {
        return extra("VolumeOptions");
    }
    if m.tmpfs.is_some() && m.kind != MountType::Tmpfs {
        return extra("TmpfsOptions");
    }
    match m.kind {
        MountType::Bind => {
            if !m.source.starts_with('/') {
                return Err(MountError::BindSource(excerpt(&m.source)));
            }
            if let Some(b) = &m.bind
                && !PROPAGATIONS.contains(&b.propagation.as_str())
            {
                return Err(MountError::Propagation(excerpt(&b.propagation)));
            }
        }
        MountType::Volume => {
            if m.source.starts_with('/') {
                return Err(MountError::VolumeSource(excerpt(&m.source)));
            }
            if let Some(v) = &m.volume
                && (v.subpath.starts_with('/') || v.subpath.split('/').any(|part| part == ".."))
            {
                return Err(MountError::Subpath(excerpt(&v.subpath)));
            }
        }
        MountType::Tmpfs => {
            if !m.source.is_empty() {
                return Err(MountError::TmpfsSource);
            }
            if let Some(t) = &m.tmpfs {
                if t.size_bytes < 0 {
                    return Err(MountError::TmpfsOptions("size must not be negative".into()));
                }
                if t.mode > 0o7777 {
                    return Err(MountError::TmpfsOptions(format!(
                        "mode {:o} is beyond the permission bits",
                        t.mode
                    )));
                }
            }
        }
        MountType::Npipe => return Err(MountError::Npipe),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mount(kind: MountType, source: &str, target: &str) -> Mount {
        Mount {
            kind,
            source: source.into(),
            target: target.into(),
            read_only: false,
            consistency: String::new(),
            bind: None,
            volume: None,
            tmpfs: None,
        }
    }

    fn err(m: Mount) -> String {
        validate(&[m]).unwrap_err().to_string()
    }

    #[test]
    fn accepts_the_usual_mounts() {
        let mut bind = mount(MountType::Bind, "/srv/data", "/data");
        bind.bind = Some(BindOptions {
            propagation: "rslave".into(),
            ..Default::default()
        });
        let mut tmp = mount(MountType::Tmpfs, "", "/tmp");
        tmp.tmpfs = Some(TmpfsOptions {
            size_bytes: 1 << 20,
            mode: 0o1777,
        });
        let all = [
            bind,
            mount(MountType::Volume, "cache", "/cache"),
            mount(MountType::Volume, "", "/anon"),
            tmp,
        ];
        assert_eq!(validate(&all), Ok(()));
        assert_eq!(MountType::parse("BIND"), Ok(MountType::Bind));
    }

    #[test]
    fn refuses_what_dockerd_refuses() {
        assert!(err(mount(MountType::Bind, "/a", "rel")).starts_with("invalid mount target"));
        assert!(err(mount(MountType::Bind, "/a", "")).starts_with("invalid mount target"));
        assert!(err(mount(MountType::Bind, "rel", "/b")).starts_with("invalid bind mount source"));
        assert!(err(mount(MountType::Volume, "/abs", "/b")).starts_with("invalid volume mount source"));
        assert_eq!(
            err(mount(MountType::Tmpfs, "x", "/b")),
            "invalid tmpfs source, source must be empty"
        );
        assert!(err(mount(MountType::Npipe, r"\\.\pipe\x", "/b")).contains("Windows"));
        let mut wrong = mount(MountType::Volume, "v", "/b");
        wrong.bind = Some(BindOptions::default());
        assert_eq!(
            err(wrong),
            "field BindOptions must not be specified for a volume mount"
        );
        let mut prop = mount(MountType::Bind, "/a", "/b");
        prop.bind = Some(BindOptions {
            propagation: "sideways".into(),
            ..Default::default()
        });
        assert!(err(prop).starts_with("invalid propagation mode"));
        let mut sub = mount(MountType::Volume, "v", "/b");
        sub.volume = Some(VolumeOptions {
            subpath: "../etc".into(),
            ..Default::default()
        });
        assert!(err(sub).starts_with("invalid volume subpath"));
        let dup = [
            mount(MountType::Volume, "a", "/x"),
            mount(MountType::Tmpfs, "", "/x/"),
        ];
        assert_eq!(
            validate(&dup).unwrap_err().to_string(),
            "invalid Mounts: Duplicate mount point '/x/'"
        );
        assert!(
            MountType::parse("cluster")
                .unwrap_err()
                .to_string()
                .contains("not supported")
        );
        assert!(MountType::parse("").is_err());
    }

    #[test]
    fn messages_quote_only_an_excerpt() {
        let long = format!("/{}", "x".repeat(1 << 20));
        let message = err(mount(MountType::Volume, &long, "/b"));
        assert!(message.len() < 200, "{} bytes", message.len());
    }
}
