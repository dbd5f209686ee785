//! A container in the agent's network sandbox ([`Sandbox`]): the runtime spec names the
//! sandbox's network namespace by path, so libcontainer joins it instead of making a new one,
//! and the sandbox's resolv.conf and hosts are bind-mounted read-only at `/etc/resolv.conf`
//! and `/etc/hosts` (dockerd mounts files of its own read-write; these are the agent's, shared
//! by its view of the networks, so the task only reads them). The UTS namespace stays the
//! container's own: the hostname is the task's.
//!
//! The spec is written to the bundle at prepare, so a task started after an agent restart, its
//! health checks and `docker exec` (which join `/proc/<pid>/ns/net`) all see the same sandbox.

use std::path::Path;

use oci_spec::runtime::{LinuxNamespace, LinuxNamespaceType, Spec};

use super::mounts;
use crate::executor::{Error, Result, Sandbox};

/// Puts the container of `spec` in `sandbox`. A mount the task's own spec places at
/// `/etc/resolv.conf` or `/etc/hosts` wins over the sandbox's, as a user's mount does in Docker.
pub fn apply(spec: &mut Spec, sandbox: &Sandbox) -> Result<()> {
    if let Some(netns) = &sandbox.netns {
        let mut linux = spec.linux().clone().unwrap_or_default();
        let mut namespaces = linux.namespaces().clone().unwrap_or_default();
        namespaces.retain(|ns| ns.typ() != LinuxNamespaceType::Network);
        let mut ns = LinuxNamespace::default();
        ns.set_typ(LinuxNamespaceType::Network);
        ns.set_path(Some(netns.clone()));
        namespaces.push(ns);
        linux.set_namespaces(Some(namespaces));
        spec.set_linux(Some(linux));
    }
    let mut all = spec.mounts().clone().unwrap_or_default();
    let payloads = sandbox
        .payload_files
        .iter()
        .map(|f| (f.source.as_path(), f.target.as_str()));
    for (source, target) in sandbox.files().into_iter().chain(payloads) {
        if all.iter().any(|m| m.destination() == Path::new(target)) {
            continue;
        }
        let source = source
            .to_str()
            .ok_or_else(|| Error::Invalid(format!("sandbox file {} is not UTF-8", source.display())))?;
        all.push(mounts::mount(
            target,
            "bind",
            source,
            &["rbind", "ro", "nosuid", "nodev", "noexec", "rprivate"],
        )?);
    }
    spec.set_mounts(Some(all));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn network_paths(spec: &Spec) -> Vec<Option<std::path::PathBuf>> {
        spec.linux()
            .as_ref()
            .and_then(|l| l.namespaces().clone())
            .unwrap_or_default()
            .into_iter()
            .filter(|ns| ns.typ() == LinuxNamespaceType::Network)
            .map(|ns| ns.path().clone())
            .collect()
    }

    #[test]
    fn joins_the_namespace_by_path_and_mounts_the_files_unless_the_task_does() {
        let mut spec = Spec::default();
        assert_eq!(
            network_paths(&spec),
            [None],
            "the default spec makes a new namespace"
        );
        let user = mounts::mount("/etc/hosts", "bind", "/srv/my-hosts", &["rbind", "ro"]).unwrap();
        let mut existing = spec.mounts().clone().unwrap_or_default();
        existing.push(user);
        spec.set_mounts(Some(existing));
        let before = spec.mounts().as_ref().map_or(0, Vec::len);
        let sandbox = Sandbox {
            netns: Some("/run/netns/t1".into()),
            resolv_conf: Some("/sb/resolv.conf".into()),
            hosts: Some("/sb/hosts".into()),
            ..Default::default()
        };
        apply(&mut spec, &sandbox).unwrap();
        assert_eq!(network_paths(&spec), [Some("/run/netns/t1".into())]);
        let mounts = spec.mounts().clone().unwrap();
        assert_eq!(mounts.len(), before + 1, "only resolv.conf is added");
        let resolv = mounts
            .iter()
            .find(|m| m.destination() == Path::new("/etc/resolv.conf"))
            .unwrap();
        assert_eq!(resolv.source().as_deref(), Some(Path::new("/sb/resolv.conf")));
        assert!(resolv.options().iter().flatten().any(|o| o == "ro"));
        let hosts: Vec<_> = mounts
            .iter()
            .filter(|m| m.destination() == Path::new("/etc/hosts"))
            .collect();
        assert_eq!(hosts.len(), 1);
        assert_eq!(hosts[0].source().as_deref(), Some(Path::new("/srv/my-hosts")));
    }

    #[test]
    fn secrets_and_configs_are_bind_mounted_read_only() {
        let mut spec = Spec::default();
        let sandbox = Sandbox {
            payload_files: vec![crate::executor::sandbox::PayloadFile {
                source: "/data/payloads/t1/configs/etc/app.conf".into(),
                target: "/etc/app.conf".into(),
            }],
            ..Sandbox::default()
        };
        apply(&mut spec, &sandbox).unwrap();
        let mounts = spec.mounts().clone().unwrap();
        let m = mounts
            .iter()
            .find(|m| m.destination() == Path::new("/etc/app.conf"))
            .unwrap();
        assert_eq!(
            m.source().as_deref(),
            Some(Path::new("/data/payloads/t1/configs/etc/app.conf"))
        );
        assert!(m.options().iter().flatten().any(|o| o == "ro"));
        assert_eq!(network_paths(&spec), [None], "no namespace is joined");
    }

    #[test]
    fn an_empty_sandbox_changes_nothing() {
        let mut spec = Spec::default();
        let before = spec.clone();
        apply(&mut spec, &Sandbox::default()).unwrap();
        assert_eq!(spec, before);
    }
}
