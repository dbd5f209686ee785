//! Cluster: shoal's `Cluster` to Docker's ClusterInfo / Swarm JSON, and Docker's SwarmSpec to
//! shoal's `ClusterSpec`. The CA key never leaves this file: only the certificate is read.
//!
//! A spec from a request is merged onto `ClusterSpec::default()`: a zero or missing field keeps
//! the default, as dockerd merges init and update specs onto swarmkit's defaults.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use types::{CaState, Cluster, ClusterSpec};
use x509_parser::pem::parse_x509_pem;

use super::time::rfc3339;
use crate::error::{Error, Result};
use crate::model;

/// `/info`'s view of the cluster (no join tokens).
pub fn cluster_info(cluster: &Cluster) -> model::ClusterInfo {
    model::ClusterInfo {
        id: cluster.id.clone(),
        version: model::ObjectVersion {
            index: cluster.meta.version,
        },
        created_at: rfc3339(cluster.meta.created_at),
        updated_at: rfc3339(cluster.meta.updated_at),
        spec: spec_to_docker(&cluster.spec),
        tls_info: tls_info(&cluster.root_ca.ca_cert_pem),
        root_rotation_in_progress: false,
        default_addr_pool: cluster.default_addr_pool.clone(),
        subnet_size: cluster.subnet_size,
        data_path_port: cluster.data_path_port,
    }
}

/// `GET /swarm`: the cluster with its join tokens and root CA rotation (`ca`): the issuer
/// nodes' certificates should have (the new root during a rotation, as dockerd shows it),
/// the `ForceRotate` counter last acted on, and whether a rotation is under way.
///
/// The spec shows the cluster's external CAs (`external_cas`, kept beside the spec).
pub fn swarm(cluster: &Cluster, ca: &CaState, external_cas: &[types::ExternalCa]) -> model::Swarm {
    let mut info = cluster_info(cluster);
    info.spec.ca_config.external_cas = external_cas.iter().map(external_ca_to_docker).collect();
    let issuer = tls_info(rules::root_rotation::wanted_issuer_pem(ca, cluster));
    info.tls_info.cert_issuer_subject = issuer.cert_issuer_subject;
    info.tls_info.cert_issuer_public_key = issuer.cert_issuer_public_key;
    info.root_rotation_in_progress = ca.rotation.is_some();
    info.spec.ca_config.force_rotate = ca.force_rotate;
    model::Swarm {
        cluster: info,
        join_tokens: model::JoinTokens {
            worker: cluster.root_ca.join_tokens.worker.clone(),
            manager: cluster.root_ca.join_tokens.manager.clone(),
        },
    }
}

/// Issuer facts of the root CA certificate. The subject and public key stay empty if the PEM
/// does not parse; the trust root is still shown.
pub fn tls_info(ca_cert_pem: &str) -> model::TlsInfo {
    let mut info = model::TlsInfo {
        trust_root: ca_cert_pem.to_string(),
        ..Default::default()
    };
    if let Ok((_, pem)) = parse_x509_pem(ca_cert_pem.as_bytes())
        && let Ok(cert) = pem.parse_x509()
    {
        info.cert_issuer_subject = STANDARD.encode(cert.tbs_certificate.subject.as_raw());
        info.cert_issuer_public_key = STANDARD.encode(cert.tbs_certificate.subject_pki.raw);
    }
    info
}

/// The root CA rotation a spec asks for (`ForceRotate`, or a root of the operator's own:
/// `SigningCACert`/`SigningCAKey`, checked by the rules); the backend fills in the time.
pub fn rotate_request(spec: &model::SwarmSpec) -> rules::root_rotation::RotateRequest {
    let ca = &spec.ca_config;
    let signing = (!ca.signing_ca_cert.is_empty() || !ca.signing_ca_key.is_empty()).then(|| {
        rules::root_rotation::SigningRoot {
            cert_pem: ca.signing_ca_cert.clone(),
            key_pem: ca.signing_ca_key.clone(),
        }
    });
    rules::root_rotation::RotateRequest {
        force_rotate: ca.force_rotate,
        signing,
        now_secs: 0,
    }
}

/// Docker's JSON for one external CA (`Protocol` in lower case, as dockerd shows it).
pub fn external_ca_to_docker(ca: &types::ExternalCa) -> model::ExternalCa {
    model::ExternalCa {
        protocol: match ca.protocol {
            types::ExternalCaProtocol::Cfssl => "cfssl".into(),
        },
        url: ca.url.clone(),
        options: ca.options.clone(),
        ca_cert: ca.ca_cert_pem.clone(),
    }
}

/// The spec's external CAs (`CAConfig.ExternalCAs`), refused as dockerd refuses them: a
/// protocol other than cfssl (any case) is an invalid protocol; then the rules' checks
/// (an `https://` URL, a `CACert` that is one certificate).
pub fn external_cas_from_docker(spec: &model::SwarmSpec) -> Result<Vec<types::ExternalCa>> {
    let cas = spec
        .ca_config
        .external_cas
        .iter()
        .map(|ca| {
            if !ca.protocol.eq_ignore_ascii_case("cfssl") {
                return Err(Error::BadRequest(format!(
                    "invalid protocol: {:?}",
                    types::excerpt(&ca.protocol)
                )));
            }
            Ok(types::ExternalCa {
                protocol: types::ExternalCaProtocol::Cfssl,
                url: ca.url.clone(),
                options: ca.options.clone(),
                ca_cert_pem: ca.ca_cert.clone(),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    rules::controlapi::cluster::validate_external_cas(&cas)?;
    Ok(cas)
}

/// Docker's spec JSON for a cluster spec.
pub fn spec_to_docker(spec: &ClusterSpec) -> model::SwarmSpec {
    model::SwarmSpec {
        name: spec.name.clone(),
        labels: spec.labels.clone(),
        orchestration: model::OrchestrationConfig {
            task_history_retention_limit: Some(spec.task_history_retention_limit),
            max_tasks: (spec.max_tasks != 0).then_some(spec.max_tasks),
        },
        raft: model::RaftConfig {
            snapshot_interval: spec.raft.snapshot_interval,
            keep_old_snapshots: Some(spec.raft.keep_old_snapshots),
            log_entries_for_slow_followers: spec.raft.log_entries_for_slow_followers,
            election_tick: i64::from(spec.raft.election_tick),
            heartbeat_tick: i64::from(spec.raft.heartbeat_tick),
        },
        dispatcher: model::DispatcherConfig {
            heartbeat_period: spec.dispatcher_heartbeat_period,
        },
        ca_config: model::CaConfig {
            node_cert_expiry: spec.node_cert_expiry,
            ..Default::default()
        },
        task_defaults: model::TaskDefaults::default(),
        encryption_config: model::EncryptionConfig {
            auto_lock_managers: spec.auto_lock_managers,
        },
    }
}

/// Shoal's cluster spec from Docker's, merged onto the defaults. Refuses settings shoal does
/// not implement (a task log driver) rather than dropping them. `ForceRotate` and a given
/// signing root are not part of the stored spec: see [`rotate_request`]; nor are the
/// external CAs: see [`external_cas_from_docker`].
pub fn spec_from_docker(spec: &model::SwarmSpec) -> Result<ClusterSpec> {
    let unsupported = |what: &str| Err(Error::BadRequest(format!("{what} is not supported by shoal")));
    let ca = &spec.ca_config;
    if spec.task_defaults.log_driver.is_some() {
        return unsupported("a default task log driver");
    }

    let mut out = ClusterSpec::default();
    if !spec.name.is_empty() {
        out.name = spec.name.clone();
    }
    out.labels = spec.labels.clone();
    if let Some(limit) = spec.orchestration.task_history_retention_limit {
        out.task_history_retention_limit = limit;
    }
    out.max_tasks = spec.orchestration.max_tasks.unwrap_or(0);
    let raft = &spec.raft;
    if raft.snapshot_interval != 0 {
        out.raft.snapshot_interval = raft.snapshot_interval;
    }
    if let Some(keep) = raft.keep_old_snapshots {
        out.raft.keep_old_snapshots = keep;
    }
    if raft.log_entries_for_slow_followers != 0 {
        out.raft.log_entries_for_slow_followers = raft.log_entries_for_slow_followers;
    }
    if raft.election_tick != 0 {
        out.raft.election_tick = ticks("ElectionTick", raft.election_tick)?;
    }
    if raft.heartbeat_tick != 0 {
        out.raft.heartbeat_tick = ticks("HeartbeatTick", raft.heartbeat_tick)?;
    }
    if spec.dispatcher.heartbeat_period != 0 {
        out.dispatcher_heartbeat_period = spec.dispatcher.heartbeat_period;
    }
    if ca.node_cert_expiry != 0 {
        out.node_cert_expiry = ca.node_cert_expiry;
    }
    out.auto_lock_managers = spec.encryption_config.auto_lock_managers;
    Ok(out)
}

/// A tick count that must fit Raft's u32.
fn ticks(field: &str, value: i64) -> Result<u32> {
    u32::try_from(value)
        .map_err(|_| Error::BadRequest(format!("invalid {field} {value}: must be a positive count")))
}

#[cfg(test)]
mod tests {
    use types::{JoinTokens, Meta, RootCa, Timestamp};

    use super::*;

    fn cluster() -> Cluster {
        Cluster {
            id: "c1".into(),
            meta: Meta {
                version: 3,
                created_at: Timestamp(1),
                updated_at: Timestamp(2),
            },
            spec: ClusterSpec::default(),
            root_ca: RootCa {
                ca_cert_pem: "not a pem".into(),
                ca_key_pem: "-----BEGIN PRIVATE KEY-----SECRET".into(),
                join_tokens: JoinTokens {
                    worker: "SWMTKN-1-w".into(),
                    manager: "SWMTKN-1-m".into(),
                },
            },
            default_addr_pool: vec!["10.0.0.0/8".into()],
            subnet_size: 24,
            data_path_port: 4789,
        }
    }

    #[test]
    fn swarm_json_has_dockers_shape_and_no_key() {
        let json = serde_json::to_value(swarm(&cluster(), &CaState::default(), &[])).unwrap();
        assert_eq!(json["ID"], "c1");
        assert_eq!(json["Version"]["Index"], 3);
        assert_eq!(
            json["JoinTokens"],
            serde_json::json!({"Worker": "SWMTKN-1-w", "Manager": "SWMTKN-1-m"})
        );
        assert_eq!(json["Spec"]["Name"], "default");
        assert_eq!(json["Spec"]["Orchestration"]["TaskHistoryRetentionLimit"], 5);
        assert_eq!(json["Spec"]["Raft"]["SnapshotInterval"], 10_000);
        assert_eq!(json["Spec"]["Raft"]["KeepOldSnapshots"], 0);
        assert_eq!(json["Spec"]["Raft"]["ElectionTick"], 10);
        assert_eq!(json["Spec"]["Raft"]["HeartbeatTick"], 1);
        assert_eq!(json["Spec"]["Dispatcher"]["HeartbeatPeriod"], 2_000_000_000i64);
        assert_eq!(
            json["Spec"]["CAConfig"]["NodeCertExpiry"],
            90 * 24 * 3600 * 1_000_000_000i64
        );
        assert_eq!(json["Spec"]["EncryptionConfig"]["AutoLockManagers"], false);
        assert_eq!(json["Spec"]["TaskDefaults"], serde_json::json!({}));
        assert_eq!(json["TLSInfo"]["TrustRoot"], "not a pem");
        assert_eq!(json["DefaultAddrPool"], serde_json::json!(["10.0.0.0/8"]));
        assert_eq!(
            (json["SubnetSize"].as_u64(), json["DataPathPort"].as_u64()),
            (Some(24), Some(4789))
        );
        assert_eq!(json["RootRotationInProgress"], false);
        let text = json.to_string();
        assert!(!text.contains("SECRET") && !text.contains("PRIVATE"), "{text}");
    }

    #[test]
    fn empty_spec_keeps_defaults_and_set_fields_win() {
        assert_eq!(
            spec_from_docker(&model::SwarmSpec::default()).unwrap(),
            ClusterSpec::default()
        );
        let round = spec_from_docker(&spec_to_docker(&ClusterSpec::default())).unwrap();
        assert_eq!(round, ClusterSpec::default());
        let mut spec = model::SwarmSpec::default();
        spec.raft.snapshot_interval = 500;
        spec.orchestration.task_history_retention_limit = Some(-1);
        spec.dispatcher.heartbeat_period = 7;
        spec.encryption_config.auto_lock_managers = true;
        let merged = spec_from_docker(&spec).unwrap();
        assert_eq!(merged.raft.snapshot_interval, 500);
        assert_eq!(merged.raft.election_tick, 10);
        assert_eq!(merged.task_history_retention_limit, -1);
        assert_eq!(merged.dispatcher_heartbeat_period, 7);
        assert!(merged.auto_lock_managers);
    }

    #[test]
    fn unsupported_or_bad_fields_are_refused() {
        // A root of the operator's own goes to the rules with the rotation, not into the spec.
        let mut spec = model::SwarmSpec::default();
        spec.ca_config.signing_ca_cert = "cert".into();
        spec.ca_config.signing_ca_key = "key".into();
        assert_eq!(spec_from_docker(&spec).unwrap(), ClusterSpec::default());
        let signing = rotate_request(&spec).signing.unwrap();
        assert_eq!(
            (signing.cert_pem.as_str(), signing.key_pem.as_str()),
            ("cert", "key")
        );
        assert!(!format!("{:?} {:?}", signing, spec.ca_config).contains("key\""));
        assert!(rotate_request(&model::SwarmSpec::default()).signing.is_none());
        let mut spec = model::SwarmSpec::default();
        spec.ca_config.force_rotate = 4;
        assert!(spec_from_docker(&spec).is_ok());
        assert_eq!(rotate_request(&spec).force_rotate, 4);
        let mut spec = model::SwarmSpec::default();
        spec.raft.election_tick = -3;
        assert!(matches!(spec_from_docker(&spec), Err(Error::BadRequest(m)) if m.contains("ElectionTick")));
    }

    #[test]
    fn during_a_rotation_the_swarm_shows_the_new_issuer_and_the_old_trust_root() {
        let old = ca::RootCa::generate(1_700_000_000).unwrap();
        let new = ca::RootCa::generate(1_700_000_000).unwrap();
        let mut cluster = cluster();
        cluster.root_ca.ca_cert_pem = old.cert_pem().into();
        let ca = CaState {
            force_rotate: 2,
            rotation: Some(types::RootRotation {
                ca_cert_pem: new.cert_pem().into(),
                ca_key_pem: new.key_pem().into(),
                cross_signed_pem: old.cross_sign(&new).unwrap(),
                renewed: Default::default(),
            }),
        };
        let json = serde_json::to_value(swarm(&cluster, &ca, &[])).unwrap();
        assert_eq!(json["RootRotationInProgress"], true);
        assert_eq!(json["Spec"]["CAConfig"]["ForceRotate"], 2);
        assert_eq!(json["TLSInfo"]["TrustRoot"], old.cert_pem());
        let issuer = tls_info(new.cert_pem());
        assert_eq!(
            json["TLSInfo"]["CertIssuerPublicKey"],
            issuer.cert_issuer_public_key
        );
        assert!(!json.to_string().contains("PRIVATE KEY"));
    }

    #[test]
    fn external_cas_are_read_and_shown_as_dockerd_does_and_bad_ones_refused() {
        let root = ca::RootCa::generate(1_700_000_000).unwrap();
        let body = serde_json::json!({"CAConfig": {"ExternalCAs": [
            {"Protocol": "CFSSL", "URL": "https://127.0.0.1:8888/api/v1/cfssl/sign",
             "Options": {"profile": "node"}, "CACert": root.cert_pem()}
        ]}});
        let spec: model::SwarmSpec = serde_json::from_value(body).unwrap();
        let cas = external_cas_from_docker(&spec).unwrap();
        assert_eq!(cas.len(), 1);
        assert_eq!(cas[0].protocol, types::ExternalCaProtocol::Cfssl);
        assert_eq!(cas[0].ca_cert_pem, root.cert_pem());
        assert_eq!(spec_from_docker(&spec).unwrap(), ClusterSpec::default());
        let json = serde_json::to_value(swarm(&cluster(), &CaState::default(), &cas)).unwrap();
        assert_eq!(
            json["Spec"]["CAConfig"]["ExternalCAs"],
            serde_json::json!([{"Protocol": "cfssl", "URL": "https://127.0.0.1:8888/api/v1/cfssl/sign",
                "Options": {"profile": "node"}, "CACert": root.cert_pem()}])
        );
        let none = serde_json::to_value(swarm(&cluster(), &CaState::default(), &[])).unwrap();
        assert!(none["Spec"]["CAConfig"].get("ExternalCAs").is_none());

        let refused = |ca: serde_json::Value| {
            let spec: model::SwarmSpec =
                serde_json::from_value(serde_json::json!({"CAConfig": {"ExternalCAs": [ca]}})).unwrap();
            match external_cas_from_docker(&spec) {
                Err(Error::BadRequest(m)) => m,
                Err(Error::Backend(rules::Error::InvalidArgument(m))) => m,
                other => panic!("not refused: {other:?}"),
            }
        };
        assert_eq!(
            refused(serde_json::json!({"Protocol": "acme", "URL": "https://ca/sign"})),
            r#"invalid protocol: "acme""#
        );
        assert!(
            refused(serde_json::json!({"Protocol": "cfssl", "URL": "http://ca/sign"})).contains("https://")
        );
        assert!(
            refused(serde_json::json!({"Protocol": "cfssl", "URL": "https://ca/sign", "CACert": "garbage"}))
                .contains("one PEM certificate")
        );
    }

    #[test]
    fn tls_info_reads_a_real_certificate() {
        let ca = ca::RootCa::generate(1_700_000_000).unwrap();
        let info = tls_info(ca.cert_pem());
        assert_eq!(info.trust_root, ca.cert_pem());
        assert!(!info.cert_issuer_subject.is_empty());
        assert!(STANDARD.decode(&info.cert_issuer_public_key).unwrap().len() > 20);
    }
}
