//! A root CA of the operator's own (`docker swarm ca --rotate --ca-cert root.pem --ca-key
//! root-key.pem`): the checks SwarmKit makes before rotating to it, with its kind of messages.
//!
//! ```text
//! cert PEM ─► exactly one certificate ─► a CA (basic constraints), may sign certificates
//!          ─► valid now and for at least a year more ─► kept as plain PEM (the digest joins pin)
//! key PEM  ─► PKCS#8 (`key_forms.rs`) rcgen signs with (P-256, P-384, Ed25519, RSA) ─► the cert's key
//! ```
//! Every refusal is [`Error::InvalidRoot`]: the request was wrong, a retry does not help.

use rcgen::{DistinguishedName, DnType, DnValue, KeyPair, PublicKeyData};
use time::OffsetDateTime;
use x509_parser::der_parser::asn1_rs::Tag;
use x509_parser::prelude::{FromDer, X509Certificate, X509Name};

use crate::{Error, Result, RootCa};

/// The shortest remaining validity SwarmKit accepts of a new root: one year.
pub const MIN_ROOT_VALIDITY_SECS: i64 = 365 * 24 * 3600;

fn invalid(message: impl Into<String>) -> Error {
    Error::InvalidRoot(message.into())
}

fn rfc3339(unix_secs: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix_secs)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| unix_secs.to_string())
}

impl RootCa {
    /// The operator's root, checked as SwarmKit checks `CAConfig.SigningCACert`/`SigningCAKey`:
    /// one CA certificate that may sign, valid at `now_secs` and for a year after, and the key
    /// that belongs to it.
    pub fn from_operator(cert_pem: &str, key_pem: &str, now_secs: i64) -> Result<RootCa> {
        let der = checked_certificate(cert_pem, now_secs)?;
        let (_, cert) = X509Certificate::from_der(&der)
            .map_err(|_| invalid("could not parse the desired CA certificate"))?;
        let name = common_name(cert.subject());
        let key_pem = crate::key_forms::to_pkcs8_pem(key_pem).map_err(|_| {
            invalid("could not parse the desired CA key: a PEM key (P-256, P-384, Ed25519 or RSA; PKCS#8, SEC1 or PKCS#1, unencrypted) is required")
        })?;
        let key = KeyPair::from_pem(&key_pem).map_err(|_| invalid("could not parse the desired CA key"))?;
        if key.der_bytes() != cert.public_key().subject_public_key.data.as_ref() {
            return Err(invalid("certificate key mismatch"));
        }
        let root = RootCa::from_pem(&certificate_pem(&der), &key_pem)
            .map_err(|e| invalid(format!("the desired CA cannot sign certificates: {e}")))?;
        probe(&root, &cert, now_secs).map_err(|why| {
            invalid(format!(
                "certificate ({name}) cannot sign certificates that chain to it: {why}"
            ))
        })?;
        Ok(root)
    }
}

/// An operator's root certificate without its key (`--ca-cert` with `--external-ca`), checked
/// as [`RootCa::from_operator`] checks the certificate; the same certificate as plain PEM.
pub fn operator_certificate(cert_pem: &str, now_secs: i64) -> Result<String> {
    Ok(certificate_pem(&checked_certificate(cert_pem, now_secs)?))
}

/// SwarmKit's checks of a desired root certificate: one CA certificate that may sign, valid
/// at `now_secs` and for a year after. Its DER.
fn checked_certificate(cert_pem: &str, now_secs: i64) -> Result<Vec<u8>> {
    let ders = crate::tls::certs_from_pem(cert_pem)
        .map_err(|_| invalid("could not parse the desired CA certificate"))?;
    let der = match ders.as_slice() {
        [] => return Err(invalid("no valid root CA certificates found")),
        [one] => one,
        _ => {
            return Err(invalid(
                "the desired CA certificate cannot contain multiple certificates",
            ));
        }
    };
    let (_, cert) = X509Certificate::from_der(der.as_ref())
        .map_err(|_| invalid("could not parse the desired CA certificate"))?;
    let name = common_name(cert.subject());
    if !cert.is_ca() {
        return Err(invalid(format!("certificate ({name}) is not a CA certificate")));
    }
    if let Ok(Some(usage)) = cert.key_usage()
        && !usage.value.key_cert_sign()
    {
        return Err(invalid(format!(
            "certificate ({name}) may not sign certificates: its key usage lacks keyCertSign"
        )));
    }
    let (not_before, not_after) = (
        cert.validity().not_before.timestamp(),
        cert.validity().not_after.timestamp(),
    );
    if now_secs < not_before {
        return Err(invalid(format!(
            "certificate ({name}) not valid before {}, and it is currently {}",
            rfc3339(not_before),
            rfc3339(now_secs)
        )));
    }
    if now_secs > not_after {
        return Err(invalid(format!(
            "certificate ({name}) not valid after {}, and it is currently {}",
            rfc3339(not_after),
            rfc3339(now_secs)
        )));
    }
    if not_after < now_secs.saturating_add(MIN_ROOT_VALIDITY_SECS) {
        return Err(invalid("CA certificate expires too soon"));
    }
    Ok(der.as_ref().to_vec())
}

/// Signs what the rotation will sign with `root` — a node certificate, and its own subject
/// as a cross-signed certificate carries it — and checks both name the root exactly as its
/// certificate names itself (a subject rcgen cannot write back byte for byte, such as two
/// attributes of one type, would break every chain) and that the signature verifies.
fn probe(root: &RootCa, cert: &X509Certificate<'_>, now_secs: i64) -> std::result::Result<(), String> {
    let node = crate::NodeKey::generate().map_err(|e| e.to_string())?;
    let leaf = root
        .issue(&node.csr_pem, "probe", types::Role::Worker, "probe", now_secs, 60)
        .map_err(|e| e.to_string())?;
    let cross = root.cross_sign(root).map_err(|e| e.to_string())?;
    let subject = cert.subject().as_raw();
    for (what, pem, name_of) in [
        ("issuer of a node certificate", &leaf, IssuerOrSubject::Issuer),
        (
            "subject of the cross-signed certificate",
            &cross,
            IssuerOrSubject::Subject,
        ),
    ] {
        let der = first_certificate(pem).ok_or("a certificate it signed does not parse")?;
        let (_, signed) = X509Certificate::from_der(&der).map_err(|e| e.to_string())?;
        let name = match name_of {
            IssuerOrSubject::Issuer => signed.issuer().as_raw(),
            IssuerOrSubject::Subject => signed.subject().as_raw(),
        };
        if name != subject {
            return Err(format!(
                "its subject cannot be written back exactly ({what} differs)"
            ));
        }
        if signed.verify_signature(Some(cert.public_key())).is_err() {
            return Err("a signature it made does not verify".into());
        }
    }
    Ok(())
}

enum IssuerOrSubject {
    Issuer,
    Subject,
}

/// One certificate as PEM the way the CA writes its own (64-column base64, LF): what the
/// operator's file held around or inside it (text, CRLF) is not kept, and the join tokens'
/// digest is of this text.
pub(crate) fn certificate_pem(der: &[u8]) -> String {
    use base64::Engine;
    let text = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in text.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

fn first_certificate(pem: &str) -> Option<Vec<u8>> {
    crate::tls::certs_from_pem(pem)
        .ok()?
        .into_iter()
        .next()
        .map(|der| der.as_ref().to_vec())
}

/// Whether `pem` holds exactly one certificate, and it parses as X.509.
pub fn is_one_certificate(pem: &str) -> bool {
    match crate::tls::certs_from_pem(pem).as_deref() {
        Ok([one]) => X509Certificate::from_der(one.as_ref()).is_ok(),
        _ => false,
    }
}

/// Whether two PEMs hold the same first certificate (byte for byte in DER, whatever the PEM
/// line breaks or surrounding text); false when either does not parse.
pub fn same_certificate(a_pem: &str, b_pem: &str) -> bool {
    match (first_certificate(a_pem), first_certificate(b_pem)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// Whether the first certificates of two PEMs carry the same public key; false when either
/// does not parse.
pub fn same_public_key(a_pem: &str, b_pem: &str) -> bool {
    let (Some(a), Some(b)) = (first_certificate(a_pem), first_certificate(b_pem)) else {
        return false;
    };
    match (X509Certificate::from_der(&a), X509Certificate::from_der(&b)) {
        (Ok((_, a)), Ok((_, b))) => a.public_key().raw == b.public_key().raw,
        _ => false,
    }
}

/// The subject's common name, for messages; the whole subject when it has none.
fn common_name(name: &X509Name<'_>) -> String {
    name.iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map_or_else(|| name.to_string(), str::to_string)
}

/// The subject of the first certificate in `cert_pem`, each attribute in the string type the
/// certificate uses: issuer names must equal the root's subject byte for byte to chain.
pub(crate) fn subject_of(cert_pem: &str) -> Result<(DistinguishedName, i64, i64)> {
    let der = crate::tls::certs_from_pem(cert_pem)?
        .into_iter()
        .next()
        .ok_or_else(|| Error::Cert("no certificate in PEM".into()))?;
    let (_, cert) =
        X509Certificate::from_der(der.as_ref()).map_err(|e| Error::Cert(format!("root certificate: {e}")))?;
    let mut dn = DistinguishedName::new();
    for rdn in cert.subject().iter() {
        for attr in rdn.iter() {
            let oid: Vec<u64> = attr
                .attr_type()
                .iter()
                .ok_or_else(|| Error::Cert("root subject: attribute type too long".into()))?
                .collect();
            let value = attr.attr_value();
            let text = std::str::from_utf8(value.data)
                .map_err(|_| Error::Cert("root subject: a name that is not text".into()))?;
            let unsupported = || {
                Error::Cert(format!(
                    "root subject: unsupported string type {}",
                    value.header.tag()
                ))
            };
            let value = match value.header.tag() {
                Tag::PrintableString => DnValue::PrintableString(text.try_into().map_err(|_| unsupported())?),
                Tag::Ia5String => DnValue::Ia5String(text.try_into().map_err(|_| unsupported())?),
                Tag::Utf8String => DnValue::Utf8String(text.to_string()),
                _ => return Err(unsupported()),
            };
            dn.push(DnType::from_oid(&oid), value);
        }
    }
    Ok((
        dn,
        cert.validity().not_before.timestamp(),
        cert.validity().not_after.timestamp(),
    ))
}

#[cfg(test)]
#[path = "signing_root_tests.rs"]
mod tests;
