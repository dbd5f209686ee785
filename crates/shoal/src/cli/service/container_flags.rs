//! The docker CLI's container flags that shoal keeps in the spec verbatim (Docker API field
//! names, in the container spec's `extra` fields): mounts, groups, ulimits, sysctls,
//! capabilities, DNS, hosts, `--init`, `--read-only`; `create` sets them, `update` adds and
//! removes. Flags for objects shoal does not have yet (secrets, configs, networks) are refused
//! with a message instead of being dropped; generic resources go to the task's reservations
//! (`generic.rs`).

use api::model::ContainerSpec;
use serde_json::Value;

use super::mount;
use crate::cli::exit::go_bool;

mod extra;

use extra::{
    add_sysctl, add_ulimit, capability, edit_dns, edit_list, env_file, host_entry, list, set_list, sort_list,
};

/// Container flags of `service create`.
#[derive(clap::Args, Debug, Default, PartialEq)]
pub struct CreateContainerFlags {
    /// Read in a file of environment variables (KEY=value lines; # comments).
    #[arg(long = "env-file", value_name = "FILE")]
    env_files: Vec<std::path::PathBuf>,
    /// Attach a filesystem mount to the service (type=bind,source=…,target=…).
    #[arg(long = "mount", value_name = "MOUNT", value_parser = mount::parse)]
    mounts: Vec<Value>,
    /// Set one or more supplementary user groups for the container.
    #[arg(long = "group", value_name = "GROUP")]
    groups: Vec<String>,
    /// Ulimit options (name=soft[:hard]).
    #[arg(long = "ulimit", value_name = "ULIMIT")]
    ulimits: Vec<String>,
    /// Sysctl options (key=value).
    #[arg(long = "sysctl", value_name = "KEY=VALUE")]
    sysctls: Vec<String>,
    /// Set custom DNS servers.
    #[arg(long = "dns", value_name = "IP")]
    dns: Vec<String>,
    /// Set DNS options.
    #[arg(long = "dns-option", value_name = "OPTION")]
    dns_options: Vec<String>,
    /// Set custom DNS search domains.
    #[arg(long = "dns-search", value_name = "DOMAIN")]
    dns_search: Vec<String>,
    /// Set one or more custom host-to-IP mappings (host:ip).
    #[arg(long = "host", value_name = "HOST:IP")]
    hosts: Vec<String>,
    /// Specify secrets to expose to the service (not supported yet).
    #[arg(long = "secret", value_name = "SECRET")]
    secrets: Vec<String>,
    /// Specify configurations to expose to the service (not supported yet).
    #[arg(long = "config", value_name = "CONFIG")]
    configs: Vec<String>,
    /// User defined resources (KIND=COUNT).
    #[arg(long = "generic-resource", value_name = "RESOURCE")]
    generic_resources: Vec<String>,
    #[command(flatten)]
    shared: SharedFlags,
}

/// Container flags of `service update`.
#[derive(clap::Args, Debug, Default, PartialEq)]
pub struct UpdateContainerFlags {
    /// Add or update a mount on a service.
    #[arg(long = "mount-add", value_name = "MOUNT", value_parser = mount::parse)]
    mount_add: Vec<Value>,
    /// Remove a mount by its target path.
    #[arg(long = "mount-rm", value_name = "PATH")]
    mount_rm: Vec<String>,
    /// Add an additional supplementary user group to the container.
    #[arg(long = "group-add", value_name = "GROUP")]
    group_add: Vec<String>,
    /// Remove a previously added supplementary user group from the container.
    #[arg(long = "group-rm", value_name = "GROUP")]
    group_rm: Vec<String>,
    /// Add or update a ulimit option (name=soft[:hard]).
    #[arg(long = "ulimit-add", value_name = "ULIMIT")]
    ulimit_add: Vec<String>,
    /// Remove a ulimit option by name.
    #[arg(long = "ulimit-rm", value_name = "NAME")]
    ulimit_rm: Vec<String>,
    /// Add or update a Sysctl option.
    #[arg(long = "sysctl-add", value_name = "KEY=VALUE")]
    sysctl_add: Vec<String>,
    /// Remove a Sysctl option.
    #[arg(long = "sysctl-rm", value_name = "KEY")]
    sysctl_rm: Vec<String>,
    /// Add or update a custom DNS server.
    #[arg(long = "dns-add", value_name = "IP")]
    dns_add: Vec<String>,
    /// Remove a custom DNS server.
    #[arg(long = "dns-rm", value_name = "IP")]
    dns_rm: Vec<String>,
    /// Add or update a DNS option.
    #[arg(long = "dns-option-add", value_name = "OPTION")]
    dns_option_add: Vec<String>,
    /// Remove a DNS option.
    #[arg(long = "dns-option-rm", value_name = "OPTION")]
    dns_option_rm: Vec<String>,
    /// Add or update a custom DNS search domain.
    #[arg(long = "dns-search-add", value_name = "DOMAIN")]
    dns_search_add: Vec<String>,
    /// Remove a DNS search domain.
    #[arg(long = "dns-search-rm", value_name = "DOMAIN")]
    dns_search_rm: Vec<String>,
    /// Add a custom host-to-IP mapping (host:ip).
    #[arg(long = "host-add", value_name = "HOST:IP")]
    host_add: Vec<String>,
    /// Remove a custom host-to-IP mapping (host:ip or host).
    #[arg(long = "host-rm", value_name = "HOST")]
    host_rm: Vec<String>,
    /// Add or update a secret on a service (not supported yet).
    #[arg(long = "secret-add", value_name = "SECRET")]
    secret_add: Vec<String>,
    /// Remove a secret (not supported yet).
    #[arg(long = "secret-rm", value_name = "SECRET")]
    secret_rm: Vec<String>,
    /// Add or update a config file on a service (not supported yet).
    #[arg(long = "config-add", value_name = "CONFIG")]
    config_add: Vec<String>,
    /// Remove a configuration file (not supported yet).
    #[arg(long = "config-rm", value_name = "CONFIG")]
    config_rm: Vec<String>,
    /// Add a network (not supported yet).
    #[arg(long = "network-add", value_name = "NETWORK")]
    network_add: Vec<String>,
    /// Remove a network (not supported yet).
    #[arg(long = "network-rm", value_name = "NETWORK")]
    network_rm: Vec<String>,
    /// Add a Generic resource (KIND=COUNT).
    #[arg(long = "generic-resource-add", value_name = "RESOURCE")]
    generic_resource_add: Vec<String>,
    /// Remove a Generic resource (its KIND).
    #[arg(long = "generic-resource-rm", value_name = "RESOURCE")]
    generic_resource_rm: Vec<String>,
    #[command(flatten)]
    shared: SharedFlags,
}

/// Flags `create` and `update` spell the same way.
#[derive(clap::Args, Debug, Default, PartialEq)]
pub struct SharedFlags {
    /// Use an init inside each service container to forward signals and reap processes.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = go_bool)]
    init: Option<bool>,
    /// Mount the container's root filesystem as read only.
    #[arg(long = "read-only", value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = go_bool)]
    read_only: Option<bool>,
    /// Add Linux capabilities.
    #[arg(long = "cap-add", value_name = "CAP")]
    cap_add: Vec<String>,
    /// Drop Linux capabilities.
    #[arg(long = "cap-drop", value_name = "CAP")]
    cap_drop: Vec<String>,
    /// Send registry authentication details to swarm agents (shoal pulls no images: nothing to send).
    #[arg(long = "with-registry-auth", value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = go_bool)]
    with_registry_auth: Option<bool>,
    /// Do not query the registry to resolve image digest (shoal never does).
    #[arg(long = "no-resolve-image", value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = go_bool)]
    no_resolve_image: Option<bool>,
}

/// The refusal for flags naming objects shoal does not have yet.
fn refuse(given: &[(&str, bool)]) -> anyhow::Result<()> {
    if let Some((flag, _)) = given.iter().find(|(_, used)| *used) {
        anyhow::bail!("{flag} is not supported: shoal has no secrets, configs or networks yet");
    }
    Ok(())
}

impl SharedFlags {
    fn apply(&self, container: &mut ContainerSpec, warnings: &mut Vec<String>) {
        if let Some(init) = self.init {
            container.extra.insert("Init".into(), init.into());
        }
        if let Some(read_only) = self.read_only {
            container.extra.insert("ReadOnly".into(), read_only.into());
        }
        let add: Vec<String> = self.cap_add.iter().map(|c| capability(c)).collect();
        let drop: Vec<String> = self.cap_drop.iter().map(|c| capability(c)).collect();
        edit_list(&mut container.extra, "CapabilityAdd", &add, &drop, |a, b| a == b);
        edit_list(&mut container.extra, "CapabilityDrop", &drop, &add, |a, b| a == b);
        if self.with_registry_auth == Some(true) {
            warnings
                .push("--with-registry-auth: shoal does not pull images, so no credentials are sent".into());
        }
    }
}

impl CreateContainerFlags {
    /// Writes `--generic-resource` into the task's reservations.
    pub fn apply_generic(&self, task: &mut api::model::TaskSpec) -> anyhow::Result<()> {
        super::generic::create(task, &self.generic_resources)
    }

    /// Writes the flags into a new service's container spec; returns warnings to print.
    pub fn apply(&self, container: &mut ContainerSpec) -> anyhow::Result<Vec<String>> {
        refuse(&[
            ("--secret", !self.secrets.is_empty()),
            ("--config", !self.configs.is_empty()),
        ])?;
        let mut env = Vec::new();
        for file in &self.env_files {
            env.extend(env_file(file)?);
        }
        // Files first, then `-e`; a later value of a key replaces the earlier one in place, as
        // docker merges them.
        env.append(&mut container.env);
        let key = |entry: &str| entry.split_once('=').map_or(entry, |(k, _)| k).to_string();
        for entry in env {
            match container.env.iter_mut().find(|e| key(e) == key(&entry)) {
                Some(existing) => *existing = entry,
                None => container.env.push(entry),
            }
        }
        let extra = &mut container.extra;
        if !self.mounts.is_empty() {
            extra.insert("Mounts".into(), Value::Array(self.mounts.clone()));
        }
        edit_list(extra, "Groups", &self.groups, &[], |a, b| a == b);
        for ulimit in &self.ulimits {
            add_ulimit(extra, ulimit)?;
        }
        for sysctl in &self.sysctls {
            add_sysctl(extra, sysctl);
        }
        edit_dns(extra, "Nameservers", &self.dns, &[]);
        edit_dns(extra, "Options", &self.dns_options, &[]);
        edit_dns(extra, "Search", &self.dns_search, &[]);
        let hosts = self
            .hosts
            .iter()
            .map(|h| host_entry(h))
            .collect::<anyhow::Result<Vec<_>>>()?;
        edit_list(extra, "Hosts", &hosts, &[], |a, b| a == b);
        let mut warnings = Vec::new();
        self.shared.apply(container, &mut warnings);
        Ok(warnings)
    }
}

impl UpdateContainerFlags {
    /// Applies `--generic-resource-rm|-add` to the task's reservations.
    pub fn apply_generic(&self, task: &mut api::model::TaskSpec) -> anyhow::Result<()> {
        super::generic::update(task, &self.generic_resource_add, &self.generic_resource_rm)
    }

    /// Applies the additions and removals to the container spec read from the daemon.
    pub fn apply(&self, container: &mut ContainerSpec) -> anyhow::Result<Vec<String>> {
        refuse(&[
            ("--secret-add", !self.secret_add.is_empty()),
            ("--secret-rm", !self.secret_rm.is_empty()),
            ("--config-add", !self.config_add.is_empty()),
            ("--config-rm", !self.config_rm.is_empty()),
            ("--network-add", !self.network_add.is_empty()),
            ("--network-rm", !self.network_rm.is_empty()),
        ])?;
        let extra = &mut container.extra;
        // Mounts are keyed by target: an added one replaces a mount at the same path.
        let target = |m: &Value| {
            m.get("Target")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let removed: Vec<String> = self
            .mount_rm
            .iter()
            .chain(self.mount_add.iter().map(target).collect::<Vec<_>>().iter())
            .cloned()
            .collect();
        if !removed.is_empty() {
            let mut mounts = list(extra, "Mounts");
            mounts.retain(|m| !removed.contains(&target(m)));
            mounts.extend(self.mount_add.iter().cloned());
            set_list(extra, "Mounts", mounts);
        }
        edit_list(extra, "Groups", &self.group_add, &self.group_rm, |a, b| a == b);
        if !self.ulimit_rm.is_empty() {
            let mut ulimits = list(extra, "Ulimits");
            ulimits.retain(|u| {
                !self
                    .ulimit_rm
                    .iter()
                    .any(|name| u.get("Name").and_then(Value::as_str) == Some(name))
            });
            set_list(extra, "Ulimits", ulimits);
        }
        for ulimit in &self.ulimit_add {
            add_ulimit(extra, ulimit)?;
        }
        if !self.sysctl_rm.is_empty()
            && let Some(Value::Object(sysctls)) = extra.get_mut("Sysctls")
        {
            for key in &self.sysctl_rm {
                sysctls.remove(key);
            }
        }
        for sysctl in &self.sysctl_add {
            add_sysctl(extra, sysctl);
        }
        edit_dns(extra, "Nameservers", &self.dns_add, &self.dns_rm);
        edit_dns(extra, "Options", &self.dns_option_add, &self.dns_option_rm);
        edit_dns(extra, "Search", &self.dns_search_add, &self.dns_search_rm);
        // Hosts are stored as docker stores them, "IP host"; removal matches the host name
        // (and the IP when given as host:ip).
        let mut added = Vec::new();
        for mapping in &self.host_add {
            added.push(host_entry(mapping)?);
        }
        let removes_host = |entry: &str| {
            let mut words = entry.split_whitespace();
            let (ip, host) = (words.next().unwrap_or_default(), words.next().unwrap_or_default());
            self.host_rm.iter().any(|rm| match rm.split_once(':') {
                Some((h, i)) => h == host && i == ip,
                None => rm == host,
            })
        };
        edit_list(extra, "Hosts", &added, &[], |a, b| a == b);
        if !self.host_rm.is_empty() {
            let mut hosts = list(extra, "Hosts");
            hosts.retain(|h| !removes_host(h.as_str().unwrap_or_default()));
            set_list(extra, "Hosts", hosts);
        }
        let mut warnings = Vec::new();
        self.shared.apply(container, &mut warnings);
        // Docker's update writes these lists back sorted.
        let extra = &mut container.extra;
        if !self.group_add.is_empty() || !self.group_rm.is_empty() {
            sort_list(extra, "Groups");
        }
        if !self.shared.cap_add.is_empty() || !self.shared.cap_drop.is_empty() {
            sort_list(extra, "CapabilityAdd");
            sort_list(extra, "CapabilityDrop");
        }
        if let Some(Value::Object(dns)) = extra.get_mut("DNSConfig") {
            for field in ["Nameservers", "Options", "Search"] {
                sort_list(dns, field);
            }
        }
        if let Some(Value::Array(ulimits)) = extra.get_mut("Ulimits") {
            ulimits.sort_by(|a, b| {
                a.get("Name")
                    .and_then(Value::as_str)
                    .cmp(&b.get("Name").and_then(Value::as_str))
            });
        }
        Ok(warnings)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use clap::Parser;
    use serde_json::json;

    use super::*;

    #[derive(Parser)]
    struct Create {
        #[command(flatten)]
        flags: CreateContainerFlags,
    }

    #[derive(Parser)]
    struct Update {
        #[command(flatten)]
        flags: UpdateContainerFlags,
    }

    #[test]
    fn create_flags_land_in_the_spec() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("env");
        std::fs::write(&file, "# comment\nA=1\n\nB=from file\n").unwrap();
        let create = Create::try_parse_from([
            "x",
            "--env-file",
            file.to_str().unwrap(),
            "--mount",
            "type=bind,src=/a,dst=/b",
            "--group",
            "wheel",
            "--ulimit",
            "nofile=10:20",
            "--sysctl",
            "net.core.somaxconn=1024",
            "--dns",
            "1.1.1.1",
            "--dns-search",
            "example.org",
            "--cap-add",
            "NET_ADMIN",
            "--init",
            "--read-only=false",
        ])
        .unwrap();
        let mut container = ContainerSpec {
            env: vec!["B=cli".into()],
            ..Default::default()
        };
        let warnings = create.flags.apply(&mut container).unwrap();
        assert!(warnings.is_empty());
        assert_eq!(container.env, ["A=1", "B=cli"]);
        assert_eq!(
            Value::Object(container.extra),
            json!({
                "Mounts": [{"Type": "bind", "Source": "/a", "Target": "/b"}],
                "Groups": ["wheel"],
                "Ulimits": [{"Name": "nofile", "Soft": 10, "Hard": 20}],
                "Sysctls": {"net.core.somaxconn": "1024"},
                "DNSConfig": {"Nameservers": ["1.1.1.1"], "Search": ["example.org"]},
                "CapabilityAdd": ["CAP_NET_ADMIN"],
                "Init": true,
                "ReadOnly": false,
            })
        );
        let secret = Create::try_parse_from(["x", "--secret", "s"]).unwrap();
        let refused = secret
            .flags
            .apply(&mut ContainerSpec::default())
            .unwrap_err()
            .to_string();
        assert!(refused.starts_with("--secret is not supported"), "{refused}");
    }

    #[test]
    fn update_flags_add_and_remove() {
        let mut container = ContainerSpec {
            extra: json!({
            "Mounts": [{"Type": "bind", "Source": "/a", "Target": "/b"}, {"Type": "tmpfs", "Target": "/t"}],
            "Groups": ["wheel", "audio"],
            "Ulimits": [{"Name": "nofile", "Soft": 1, "Hard": 1}],
            "Hosts": ["10.0.0.1 db", "10.0.0.2 cache"],
            "Sysctls": {"a": "1", "b": "2"},
            })
            .as_object()
            .unwrap()
            .clone(),
            ..Default::default()
        };
        let update = Update::try_parse_from([
            "x",
            "--mount-rm",
            "/t",
            "--mount-add",
            "type=bind,src=/c,dst=/b",
            "--group-rm",
            "audio",
            "--group-add",
            "video",
            "--ulimit-add",
            "nofile=5:6",
            "--host-add",
            "web:10.0.0.3",
            "--host-rm",
            "db",
            "--sysctl-rm",
            "a",
            "--dns-add",
            "9.9.9.9",
            "--init=false",
        ])
        .unwrap();
        update.flags.apply(&mut container).unwrap();
        assert_eq!(
            Value::Object(container.extra),
            json!({
                "Mounts": [{"Type": "bind", "Source": "/c", "Target": "/b"}],
                "Groups": ["video", "wheel"],
                "Ulimits": [{"Name": "nofile", "Soft": 5, "Hard": 6}],
                "Hosts": ["10.0.0.2 cache", "10.0.0.3 web"],
                "Sysctls": {"b": "2"},
                "DNSConfig": {"Nameservers": ["9.9.9.9"]},
                "Init": false,
            })
        );
        let network = Update::try_parse_from(["x", "--network-add", "n"]).unwrap();
        assert!(network.flags.apply(&mut ContainerSpec::default()).is_err());
        assert!(
            Update::try_parse_from(["x", "--host-add", "nonsense"])
                .unwrap()
                .flags
                .apply(&mut ContainerSpec::default())
                .is_err()
        );
    }
}
