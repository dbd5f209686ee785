//! External CAs (Swarm's `--external-ca protocol=cfssl,url=…`): the pure half. The request
//! a manager sends to a cfssl signer, the reading of its answer, and the checks the
//! certificate must pass before a node gets it. The HTTPS call itself is the manager's
//! (`manager/src/external_ca.rs`).
//!
//! ```text
//! node CSR ─► sign_request (CN = node ID, OU = role, O = cluster ID, hosts)   JSON
//!                 │ POST <url> (HTTPS, the signer verified against its root)
//!                 ▼
//! {"success":true,"result":{"certificate":"PEM"}} ─► certificate_from_response
//!                 │
//!                 ▼ check_issued: signed by the expected root, the subject asked for,
//!                   the CSR's key, valid now ─► the node's certificate
//! ```

use serde::{Deserialize, Serialize};
use types::Role;
use x509_parser::prelude::{FromDer, X509Certificate, X509CertificationRequest};

use crate::{Error, Result};

/// Largest answer read from a signer (SwarmKit's `CertificateMaxSize`): a certificate
/// chain is a few KiB.
pub const MAX_RESPONSE_BYTES: usize = 256 * 1024;

/// How long one signer may take to answer (SwarmKit's), connection included.
pub const SIGN_TIMEOUT_SECS: u64 = 5;

/// The SAN SwarmKit adds to managers' certificates, so they can serve the CA.
const CA_ROLE: &str = "swarm-ca";

fn external(message: impl Into<String>) -> Error {
    Error::ExternalCa(message.into())
}

/// cfssl's `signer.SignRequest`, the fields SwarmKit fills.
#[derive(Serialize)]
struct SignRequest<'a> {
    hosts: Vec<&'a str>,
    certificate_request: &'a str,
    subject: Subject<'a>,
}

#[derive(Serialize)]
struct Subject<'a> {
    #[serde(rename = "CN")]
    cn: &'a str,
    names: [Name<'a>; 1],
}

#[derive(Serialize)]
struct Name<'a> {
    #[serde(rename = "O")]
    o: &'a str,
    #[serde(rename = "OU")]
    ou: &'a str,
}

/// The JSON body of a cfssl sign request for `node_id`'s CSR, as SwarmKit's `PrepareCSR`
/// makes it: the subject names the node (CN), its role (OU) and the cluster (O); the hosts
/// (SANs) are the role and the node ID, and `swarm-ca` for managers. A CSR that does not
/// parse is refused here, never forwarded.
pub fn sign_request(csr_pem: &str, node_id: &str, role: Role, cluster_id: &str) -> Result<Vec<u8>> {
    csr_public_key(csr_pem)?;
    let ou = role.cert_ou();
    let mut hosts = vec![ou, node_id];
    if role == Role::Manager {
        hosts.push(CA_ROLE);
    }
    let request = SignRequest {
        hosts,
        certificate_request: csr_pem,
        subject: Subject {
            cn: node_id,
            names: [Name { o: cluster_id, ou }],
        },
    };
    serde_json::to_vec(&request).map_err(|e| external(format!("unable to encode the sign request: {e}")))
}

/// cfssl's API envelope (`api.Response`).
#[derive(Deserialize)]
struct Response {
    #[serde(default)]
    success: bool,
    #[serde(default)]
    result: Option<serde_json::Value>,
    #[serde(default)]
    errors: Vec<ResponseMessage>,
}

#[derive(Deserialize)]
struct ResponseMessage {
    #[serde(default)]
    code: i64,
    #[serde(default)]
    message: String,
}

/// At most this many characters of a signer's text go into an error message.
const EXCERPT_CHARS: usize = 200;

/// `text` cut to [`EXCERPT_CHARS`] with control characters dropped, for messages.
fn excerpt(text: &str) -> String {
    let mut out: String = text
        .chars()
        .filter(|c| !c.is_control())
        .take(EXCERPT_CHARS)
        .collect();
    if text.chars().count() > EXCERPT_CHARS {
        out.push('…');
    }
    out
}

/// The certificate PEM in a signer's answer (HTTP `status`, `body` already bounded by the
/// caller), or why there is none: another status, a body that is not cfssl's JSON, an
/// answer that reports failure (with its errors), or a result without a certificate.
pub fn certificate_from_response(status: u16, body: &[u8]) -> Result<String> {
    let text = String::from_utf8_lossy(body);
    if status != 200 {
        return Err(external(format!(
            "unexpected status code in CSR response: {status} - {}",
            excerpt(&text)
        )));
    }
    let response: Response = serde_json::from_slice(body)
        .map_err(|e| external(format!("unable to parse JSON response: {e}: {}", excerpt(&text))))?;
    if !response.success || response.result.is_none() {
        if response.errors.is_empty() {
            return Err(external("certificate signing request failed"));
        }
        let errors: Vec<String> = response
            .errors
            .iter()
            .take(4)
            .map(|m| format!("{} ({})", excerpt(&m.message), m.code))
            .collect();
        return Err(external(format!("response errors: {}", errors.join("; "))));
    }
    match response.result.as_ref().and_then(|r| r.get("certificate")) {
        Some(serde_json::Value::String(pem)) if !pem.trim().is_empty() => Ok(pem.clone()),
        Some(_) => Err(external("invalid result certificate field: not a PEM string")),
        None => Err(external("the result has no certificate")),
    }
}

/// The raw SubjectPublicKeyInfo of a CSR, whose signature must verify.
fn csr_public_key(csr_pem: &str) -> Result<Vec<u8>> {
    let (_, pem) =
        x509_parser::pem::parse_x509_pem(csr_pem.as_bytes()).map_err(|e| Error::Cert(format!("CSR: {e}")))?;
    let (_, csr) =
        X509CertificationRequest::from_der(&pem.contents).map_err(|e| Error::Cert(format!("CSR: {e}")))?;
    csr.verify_signature()
        .map_err(|e| Error::Cert(format!("CSR signature: {e}")))?;
    Ok(csr.certification_request_info.subject_pki.raw.to_vec())
}

/// Checks the certificate a signer returned for `node_id`'s CSR before anyone uses it: the
/// first certificate of `cert_pem` must be signed by `root_pem`'s key under its subject,
/// carry the subject asked for (exactly one CN, OU and O: the node, its role, the cluster)
/// and the CSR's public key, and be valid at `now_secs`. Returns that certificate alone, as
/// PEM; the chain after it (the cross-signed root during a rotation) is the CA's to append.
pub fn check_issued(
    cert_pem: &str,
    csr_pem: &str,
    root_pem: &str,
    node_id: &str,
    role: Role,
    cluster_id: &str,
    now_secs: i64,
) -> Result<String> {
    let ders = crate::tls::certs_from_pem(cert_pem)
        .map_err(|e| external(format!("the returned certificate does not parse: {e}")))?;
    let leaf_der = ders
        .first()
        .ok_or_else(|| external("the answer holds no certificate"))?;
    let (_, leaf) = X509Certificate::from_der(leaf_der.as_ref())
        .map_err(|e| external(format!("the returned certificate does not parse: {e}")))?;
    let root_der = crate::tls::certs_from_pem(root_pem)?
        .into_iter()
        .next()
        .ok_or_else(|| Error::Cert("no root certificate".into()))?;
    let (_, root) = X509Certificate::from_der(root_der.as_ref())
        .map_err(|e| Error::Cert(format!("root certificate: {e}")))?;
    if leaf.issuer().as_raw() != root.subject().as_raw()
        || leaf.verify_signature(Some(root.public_key())).is_err()
    {
        return Err(external(
            "the returned certificate does not chain to the expected root CA",
        ));
    }
    let names = |it: &mut dyn Iterator<Item = &x509_parser::x509::AttributeTypeAndValue>| {
        it.map(|a| a.as_str().unwrap_or("").to_string())
            .collect::<Vec<_>>()
    };
    let subject = leaf.subject();
    let got = (
        names(&mut subject.iter_common_name()),
        names(&mut subject.iter_organizational_unit()),
        names(&mut subject.iter_organization()),
    );
    let want = (
        vec![node_id.to_string()],
        vec![role.cert_ou().to_string()],
        vec![cluster_id.to_string()],
    );
    if got != want {
        return Err(external(format!(
            "the returned certificate has subject {} instead of CN={node_id}, OU={}, O={cluster_id}",
            excerpt(&subject.to_string()),
            role.cert_ou()
        )));
    }
    if leaf.tbs_certificate.subject_pki.raw != csr_public_key(csr_pem)?.as_slice() {
        return Err(external("the returned certificate is not for the node's key"));
    }
    let validity = leaf.validity();
    if now_secs < validity.not_before.timestamp() || now_secs > validity.not_after.timestamp() {
        return Err(external("the returned certificate is not valid now"));
    }
    Ok(crate::signing_root::certificate_pem(leaf_der.as_ref()))
}

#[cfg(test)]
#[path = "external_tests.rs"]
mod tests;
