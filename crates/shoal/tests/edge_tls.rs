//! The TCP API over TLS with the stock docker CLI: `--tlsverify` serves clients whose
//! certificate our CA signed and refuses the rest in the handshake; `--tls` alone serves
//! clients without one. Certificates are made in the test (rcgen).

#![allow(clippy::unwrap_used)]
#![allow(clippy::disallowed_methods)]

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use common::http::{docker_tcp, over_tcp, request};
use common::{Agent, eventually, free_port, stderr, stdout};

/// PEM files of a CA, a server certificate for loopback and a client certificate.
struct Pki {
    ca: std::path::PathBuf,
    server_cert: std::path::PathBuf,
    server_key: std::path::PathBuf,
    client_cert: std::path::PathBuf,
    client_key: std::path::PathBuf,
}

fn pki(dir: &Path, name: &str) -> Pki {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
        KeyUsagePurpose,
    };
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca_params
        .distinguished_name
        .push(DnType::CommonName, format!("{name} test CA"));
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf = |sans: Vec<String>, usage: ExtendedKeyUsagePurpose| {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(sans).unwrap();
        params.extended_key_usages = vec![usage];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params
            .distinguished_name
            .push(DnType::CommonName, format!("{name} leaf"));
        let cert = params.signed_by(&key, &issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    };
    let (server_cert, server_key) = leaf(
        vec!["127.0.0.1".into(), "localhost".into()],
        ExtendedKeyUsagePurpose::ServerAuth,
    );
    let (client_cert, client_key) = leaf(Vec::new(), ExtendedKeyUsagePurpose::ClientAuth);
    let write = |file: &str, text: &str| {
        let path = dir.join(format!("{name}-{file}"));
        std::fs::write(&path, text).unwrap();
        path
    };
    Pki {
        ca: write("ca.pem", &ca_cert.pem()),
        server_cert: write("server.pem", &server_cert),
        server_key: write("server-key.pem", &server_key),
        client_cert: write("client.pem", &client_cert),
        client_key: write("client-key.pem", &client_key),
    }
}

#[test]
fn tls_api_serves_the_docker_cli_with_client_certificates_only() {
    let root = tempfile::tempdir().unwrap();
    let ours = pki(root.path(), "ours");
    let foreign = pki(root.path(), "foreign");
    let addr = format!("127.0.0.1:{}", free_port());
    let path = |p: &Path| p.display().to_string();
    let agent = Agent::start_with(
        root.path(),
        "edge-tls",
        &[
            "--api-addr".into(),
            addr.clone(),
            "--tlsverify".into(),
            "--tlscacert".into(),
            path(&ours.ca),
            "--tlscert".into(),
            path(&ours.server_cert),
            "--tlskey".into(),
            path(&ours.server_key),
        ],
    );
    eventually("TLS API port", Duration::from_secs(30), || {
        std::net::TcpStream::connect(&addr).ok()
    });
    let config = root.path().join("docker-config");
    std::fs::create_dir_all(&config).unwrap();
    let host = format!("tcp://{addr}");
    let tls = |pki: &Pki, rest: &[&str]| -> Output {
        let (ca, cert, key) = (path(&ours.ca), path(&pki.client_cert), path(&pki.client_key));
        let mut args = vec![
            "--tlsverify",
            "--tlscacert",
            &ca,
            "--tlscert",
            &cert,
            "--tlskey",
            &key,
            "-H",
            &host,
        ];
        args.extend_from_slice(rest);
        docker_tcp(&config, &args)
    };
    let out = tls(
        &ours,
        &[
            "swarm",
            "init",
            "--advertise-addr",
            &agent.addr,
            "--listen-addr",
            &agent.addr,
        ],
    );
    assert!(
        out.status.success(),
        "swarm init over TLS: {}\n{}",
        stderr(&out),
        agent.log_tail()
    );
    let out = tls(&ours, &["node", "ls", "--format", "{{.Hostname}}"]);
    assert_eq!(stdout(&out).trim(), "edge-tls", "{}", stderr(&out));

    // A client certificate from another CA is refused in the handshake.
    let out = tls(&foreign, &["node", "ls"]);
    assert!(
        !out.status.success(),
        "foreign certificate accepted: {}",
        stdout(&out)
    );
    // So is a client without a certificate.
    let (ca, empty) = (path(&ours.ca), root.path().join("no-certs"));
    std::fs::create_dir_all(&empty).unwrap();
    let out = Command::new("docker")
        .args(["--tlsverify", "--tlscacert", &ca, "-H", &host, "node", "ls"])
        .env("DOCKER_CONFIG", &config)
        .env("DOCKER_CERT_PATH", &empty)
        .env_remove("DOCKER_CONTEXT")
        .env_remove("DOCKER_HOST")
        .output()
        .unwrap();
    assert!(!out.status.success(), "no certificate accepted: {}", stdout(&out));
    let refused = eventually("handshake refusals logged", Duration::from_secs(30), || {
        let tail = agent.log_tail();
        (tail.matches("API TLS handshake refused").count() >= 2).then_some(tail)
    });
    assert!(refused.contains("handshake refused"), "{refused}");
    // Plain HTTP on the TLS port gets no API answer.
    let (status, body) = over_tcp(&addr, &request("GET", "/v1.47/swarm", "localhost", &[], None));
    assert_ne!(status, 200, "{body}");
    assert!(!body.contains("SWMTKN"), "{body}");
}

#[test]
fn tls_without_verify_needs_no_client_certificate() {
    let root = tempfile::tempdir().unwrap();
    let ours = pki(root.path(), "plain-tls");
    let addr = format!("127.0.0.1:{}", free_port());
    let path = |p: &Path| p.display().to_string();
    let agent = Agent::start_with(
        root.path(),
        "edge-tls-only",
        &[
            "--api-addr".into(),
            addr.clone(),
            "--tls".into(),
            "--tlscert".into(),
            path(&ours.server_cert),
            "--tlskey".into(),
            path(&ours.server_key),
        ],
    );
    eventually("TLS API port", Duration::from_secs(30), || {
        std::net::TcpStream::connect(&addr).ok()
    });
    let (config, empty) = (root.path().join("docker-config"), root.path().join("no-certs"));
    std::fs::create_dir_all(&config).unwrap();
    std::fs::create_dir_all(&empty).unwrap();
    // The client checks the server against our CA but presents no certificate of its own.
    let ca = path(&ours.ca);
    let out = Command::new("docker")
        .args([
            "--tlsverify",
            "--tlscacert",
            &ca,
            "-H",
            &format!("tcp://{addr}"),
            "info",
            "--format",
            "{{.Name}}",
        ])
        .env("DOCKER_CONFIG", &config)
        .env("DOCKER_CERT_PATH", &empty)
        .env_remove("DOCKER_CONTEXT")
        .env_remove("DOCKER_HOST")
        .output()
        .unwrap();
    assert_eq!(
        stdout(&out).trim(),
        "edge-tls-only",
        "{}\n{}",
        stderr(&out),
        agent.log_tail()
    );
}
