//! Distributed Application Bundles (`.dab`, the JSON the book's `docker deploy` took) → a
//! [`Stack`], as docker's bundle deploy converted them: each service `<stack>_<name>`,
//! replicated with one replica, on the stack's networks named in the bundle (`default`
//! when none), its name an alias there, its ports published by the routing mesh on ports the
//! cluster picks.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use types::NetworkSpec;
use types::service::{
    ContainerSpec, EndpointSpec, NetworkAttachment, PortConfig, ServiceMode, ServiceSpec, TaskSpec,
};

use crate::convert::labels;
use crate::error::{Error, Result, invalid};
use crate::stack::{Stack, StackService};
use crate::{MAX_FILE_LEN, read_bounded};

/// The bundle file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Bundle {
    #[serde(rename = "Version")]
    version: String,
    #[serde(rename = "Services", default)]
    services: BTreeMap<String, BundleService>,
}

/// One service of a bundle.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct BundleService {
    #[serde(rename = "Image")]
    image: String,
    #[serde(rename = "Command")]
    command: Vec<String>,
    #[serde(rename = "Args")]
    args: Vec<String>,
    #[serde(rename = "Env")]
    env: Vec<String>,
    #[serde(rename = "Labels")]
    labels: BTreeMap<String, String>,
    #[serde(rename = "Ports")]
    ports: Vec<BundlePort>,
    #[serde(rename = "WorkingDir")]
    working_dir: Option<String>,
    #[serde(rename = "User")]
    user: Option<String>,
    #[serde(rename = "Networks")]
    networks: Vec<String>,
}

/// A port a bundle service exposes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BundlePort {
    #[serde(rename = "Protocol", default)]
    protocol: String,
    #[serde(rename = "Port")]
    port: u16,
}

/// Loads a bundle file as stack `namespace`.
pub fn load_bundle_file(path: &Path, namespace: &str) -> Result<Stack> {
    let text = read_bounded(path, MAX_FILE_LEN)?;
    load_bundle(&text, &path.display().to_string(), namespace)
}

/// Loads bundle JSON; `file` names it in errors.
pub fn load_bundle(text: &[u8], file: &str, namespace: &str) -> Result<Stack> {
    crate::validate_namespace(namespace)?;
    let bundle: Bundle =
        serde_json::from_slice(text).map_err(|e| invalid(file, format!("not a bundle: {e}")))?;
    if bundle.version != "0.1" {
        return Err(invalid(
            file,
            format!("bundle version {:?} is not supported (0.1)", bundle.version),
        ));
    }
    let ns = namespace;
    let mut stack = Stack {
        namespace: ns.into(),
        ..Default::default()
    };
    let mut networks = std::collections::BTreeSet::new();
    for (name, svc) in bundle.services {
        if svc.image.is_empty() {
            return Err(Error::Invalid {
                path: format!("{file}: Services.{name}"),
                message: "an image is needed".into(),
            });
        }
        let nets = if svc.networks.is_empty() {
            vec!["default".to_string()]
        } else {
            svc.networks.clone()
        };
        networks.extend(nets.iter().cloned());
        let ports = svc
            .ports
            .iter()
            .map(|p| PortConfig {
                name: String::new(),
                protocol: if p.protocol.is_empty() {
                    "tcp".into()
                } else {
                    p.protocol.to_lowercase()
                },
                target_port: u32::from(p.port),
                published_port: 0,
                publish_mode: "ingress".into(),
            })
            .collect::<Vec<_>>();
        let none = BTreeMap::new();
        let task = TaskSpec {
            container: ContainerSpec {
                image: svc.image.clone(),
                labels: labels(&none, ns),
                command: svc.command,
                args: svc.args,
                env: svc.env,
                dir: svc.working_dir.unwrap_or_default(),
                user: svc.user.unwrap_or_default(),
                ..Default::default()
            },
            networks: nets
                .iter()
                .map(|n| NetworkAttachment {
                    target: format!("{ns}_{n}"),
                    aliases: vec![name.clone()],
                    driver_opts: BTreeMap::new(),
                })
                .collect(),
            ..Default::default()
        };
        let given: BTreeMap<String, Option<String>> =
            svc.labels.into_iter().map(|(k, v)| (k, Some(v))).collect();
        let mut service_labels = labels(&given, ns);
        service_labels.insert(crate::IMAGE_LABEL.into(), svc.image);
        stack.services.push(StackService {
            key: name.clone(),
            spec: ServiceSpec {
                name: format!("{ns}_{name}"),
                labels: service_labels,
                task: task.into(),
                mode: ServiceMode::Replicated { replicas: 1 },
                update: None,
                rollback: None,
                endpoint: (!ports.is_empty()).then(|| EndpointSpec {
                    mode: "vip".into(),
                    ports,
                }),
            },
            depends_on: Vec::new(),
        });
    }
    let none = BTreeMap::new();
    stack.networks = networks
        .into_iter()
        .map(|n| NetworkSpec {
            name: format!("{ns}_{n}"),
            labels: labels(&none, ns),
            driver: "overlay".into(),
            ..Default::default()
        })
        .collect();
    Ok(stack)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_bundle_becomes_services_on_the_stacks_networks() {
        let text = br#"{"Version": "0.1", "Services": {
            "web": {"Image": "nginx@sha256:abc", "Args": ["-g", "daemon off;"], "Env": ["A=1"],
                    "Labels": {"tier": "front"}, "Ports": [{"Protocol": "tcp", "Port": 80}],
                    "Networks": ["front"], "WorkingDir": "/srv"},
            "cache": {"Image": "redis"}}}"#;
        let stack = load_bundle(text, "app.dab", "app").unwrap();
        let nets: Vec<&str> = stack.networks.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(nets, ["app_default", "app_front"]);
        let web = &stack.services[1].spec;
        assert_eq!(web.name, "app_web");
        assert_eq!(web.labels["tier"], "front");
        assert_eq!(web.labels[crate::NAMESPACE_LABEL], "app");
        assert_eq!(web.task.container.args, ["-g", "daemon off;"]);
        assert_eq!(web.task.container.dir, "/srv");
        assert_eq!(web.task.networks[0].target, "app_front");
        assert_eq!(web.task.networks[0].aliases, ["web"]);
        let port = &web.endpoint.as_ref().unwrap().ports[0];
        assert_eq!((port.target_port, port.published_port), (80, 0));
        assert_eq!(stack.services[0].spec.task.networks[0].target, "app_default");
    }

    #[test]
    fn bad_bundles_are_refused_clearly() {
        let err = |t: &[u8]| load_bundle(t, "b.dab", "app").unwrap_err().to_string();
        assert!(err(b"{").contains("b.dab: not a bundle"));
        assert!(err(br#"{"Version": "0.2", "Services": {}}"#).contains("version \"0.2\""));
        assert!(
            err(br#"{"Version": "0.1", "Services": {"a": {"Image": "x", "Bogus": 1}}}"#)
                .contains("unknown field")
        );
        assert!(err(br#"{"Version": "0.1", "Services": {"a": {}}}"#).contains("an image is needed"));
    }
}
