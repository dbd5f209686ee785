use super::*;
use crate::{NodeKey, RootCa};

const NOW: i64 = 1_700_000_000;

#[test]
fn the_sign_request_names_the_node_its_role_and_the_cluster_as_swarmkit_does() {
    let node = NodeKey::generate().unwrap();
    let body = sign_request(&node.csr_pem, "node1", Role::Manager, "cluster9").unwrap();
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "hosts": ["swarm-manager", "node1", "swarm-ca"],
            "certificate_request": node.csr_pem,
            "subject": {"CN": "node1", "names": [{"O": "cluster9", "OU": "swarm-manager"}]},
        })
    );
    let body = sign_request(&node.csr_pem, "node2", Role::Worker, "cluster9").unwrap();
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["hosts"], serde_json::json!(["swarm-worker", "node2"]));
    assert_eq!(json["subject"]["names"][0]["OU"], "swarm-worker");
    // A CSR that does not parse is never sent.
    assert!(sign_request("garbage", "n", Role::Worker, "c").is_err());
    let broken = "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n";
    assert!(sign_request(broken, "n", Role::Worker, "c").is_err());
}

#[test]
fn a_cfssl_answer_gives_its_certificate_or_says_what_went_wrong() {
    let ok = br#"{"success":true,"result":{"certificate":"-----BEGIN CERTIFICATE-----\nX\n-----END CERTIFICATE-----\n"},"errors":[],"messages":[]}"#;
    assert!(
        certificate_from_response(200, ok)
            .unwrap()
            .starts_with("-----BEGIN CERTIFICATE-----")
    );
    let message = |status, body: &[u8]| certificate_from_response(status, body).unwrap_err().to_string();
    assert_eq!(
        message(500, b"{\"success\":false}"),
        "external CA: unexpected status code in CSR response: 500 - {\"success\":false}"
    );
    assert!(message(200, b"<html>").starts_with("external CA: unable to parse JSON response"));
    let failed = br#"{"success":false,"result":null,"errors":[{"code":1000,"message":"bad CSR"}]}"#;
    assert_eq!(
        message(200, failed),
        "external CA: response errors: bad CSR (1000)"
    );
    assert_eq!(
        message(200, br#"{"success":false}"#),
        "external CA: certificate signing request failed"
    );
    assert_eq!(
        message(200, br#"{"success":true,"result":{}}"#),
        "external CA: the result has no certificate"
    );
    assert!(message(200, br#"{"success":true,"result":{"certificate":7}}"#).contains("not a PEM string"));
    // A long or hostile body is cut and stripped of control characters.
    let long = format!("\u{1b}[31m{}", "x".repeat(10_000));
    let m = message(502, long.as_bytes());
    assert!(m.len() < 400 && !m.contains('\u{1b}'), "{m}");
}

#[test]
fn a_returned_certificate_must_chain_to_the_root_and_carry_the_subject_and_key_asked_for() {
    let root = RootCa::generate(NOW).unwrap();
    let node = NodeKey::generate().unwrap();
    let issued = |ca: &RootCa, node_id: &str, role: Role, csr: &str| {
        ca.issue(csr, node_id, role, "cluster9", NOW, 3600).unwrap()
    };
    let check = |pem: &str, csr: &str, now: i64| {
        check_issued(pem, csr, root.cert_pem(), "node1", Role::Worker, "cluster9", now)
    };
    let good = issued(&root, "node1", Role::Worker, &node.csr_pem);
    let leaf = check(&good, &node.csr_pem, NOW).unwrap();
    assert!(crate::issued_by(&leaf, root.cert_pem()));
    // The chain after the leaf is dropped: the CA appends its own.
    let with_chain = format!("{good}{}", root.cert_pem());
    assert_eq!(check(&with_chain, &node.csr_pem, NOW).unwrap(), leaf);

    let message = |pem: &str, csr: &str, now: i64| check(pem, csr, now).unwrap_err().to_string();
    let other = RootCa::generate(NOW).unwrap();
    assert!(
        message(
            &issued(&other, "node1", Role::Worker, &node.csr_pem),
            &node.csr_pem,
            NOW
        )
        .contains("does not chain to the expected root CA")
    );
    assert!(
        message(
            &issued(&root, "node2", Role::Worker, &node.csr_pem),
            &node.csr_pem,
            NOW
        )
        .contains("instead of CN=node1, OU=swarm-worker, O=cluster9")
    );
    assert!(
        message(
            &issued(&root, "node1", Role::Manager, &node.csr_pem),
            &node.csr_pem,
            NOW
        )
        .contains("instead of")
    );
    let stranger = NodeKey::generate().unwrap();
    assert!(
        message(
            &issued(&root, "node1", Role::Worker, &stranger.csr_pem),
            &node.csr_pem,
            NOW
        )
        .contains("not for the node's key")
    );
    assert!(message(&good, &node.csr_pem, NOW + 7200).contains("not valid now"));
    assert!(message("garbage", &node.csr_pem, NOW).contains("holds no certificate"));
}
