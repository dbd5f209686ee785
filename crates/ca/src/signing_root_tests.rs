//! The operator's root: what is refused, and that a good one chains as a generated one does.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, DnValue, IsCa, KeyPair, KeyUsagePurpose,
    PKCS_ECDSA_P256_SHA256,
};
use types::Role;

use super::*;
use crate::authority::at;
use crate::{NodeKey, PeerIdentity};

const NOW: i64 = 1_700_000_000;
const YEAR: i64 = 365 * 24 * 3600;

/// An operator's root as `openssl req -x509` makes one: a PrintableString subject of several
/// attributes, valid from `from` to `until`.
fn root_with(ca: bool, usages: Vec<KeyUsagePurpose>, from: i64, until: i64) -> (String, String) {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(
        DnType::CountryName,
        DnValue::PrintableString("DE".try_into().unwrap()),
    );
    params
        .distinguished_name
        .push(DnType::OrganizationName, "Operators Inc");
    params.distinguished_name.push(
        DnType::CommonName,
        DnValue::PrintableString("Operator Root".try_into().unwrap()),
    );
    params.is_ca = if ca {
        IsCa::Ca(BasicConstraints::Unconstrained)
    } else {
        IsCa::ExplicitNoCa
    };
    params.key_usages = usages;
    params.not_before = at(from).unwrap();
    params.not_after = at(until).unwrap();
    let cert = params.self_signed(&key).unwrap();
    (cert.pem(), key.serialize_pem())
}

fn good_root() -> (String, String) {
    root_with(
        true,
        vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign],
        NOW - 60,
        NOW + 10 * YEAR,
    )
}

fn refusal(cert: &str, key: &str) -> String {
    match RootCa::from_operator(cert, key, NOW) {
        Err(Error::InvalidRoot(m)) => m,
        Err(other) => panic!("not InvalidRoot: {other}"),
        Ok(_) => panic!("accepted"),
    }
}

#[test]
fn a_good_root_of_the_operators_own_signs_and_chains_through_the_cross_signed_certificate() {
    let (cert, key) = good_root();
    let operator = RootCa::from_operator(&cert, &key, NOW).unwrap();
    let old = RootCa::generate(NOW).unwrap();
    let cross = old.cross_sign(&operator).unwrap();
    assert!(crate::issued_by(&cross, old.cert_pem()));
    let (subject, _, not_after) = subject_of(&cross).unwrap();
    assert_eq!(subject_of(&cert).unwrap().0, subject);
    assert_eq!(not_after, NOW + 10 * YEAR);

    let node = NodeKey::generate().unwrap();
    let leaf = operator
        .issue(&node.csr_pem, "n1", Role::Worker, "c1", NOW, 3600)
        .unwrap();
    assert!(crate::issued_by(&leaf, &cert));
    let chain = format!("{leaf}{cross}");
    let when = rustls::pki_types::UnixTime::since_unix_epoch(std::time::Duration::from_secs(NOW as u64 + 60));
    let both = crate::trust_bundle(old.cert_pem(), &cert);
    for roots in [old.cert_pem(), cert.as_str(), both.as_str()] {
        crate::tls::verify_chain(&chain, roots, when).unwrap_or_else(|e| panic!("{e}: {roots}"));
    }
    // Without the cross-signed certificate the leaf reaches only the operator's root.
    assert!(crate::tls::verify_chain(&leaf, old.cert_pem(), when).is_err());
    assert_eq!(PeerIdentity::from_pem(&chain).unwrap().node_id, "n1");
}

#[test]
fn the_certificate_is_kept_as_plain_pem() {
    let (cert, key) = good_root();
    let messy = format!("Subject: Operator Root\r\n{}", cert.replace('\n', "\r\n"));
    let root = RootCa::from_operator(&messy, &key, NOW).unwrap();
    assert_eq!(root.cert_pem(), cert);
    assert!(same_certificate(&messy, &cert) && same_public_key(&messy, &cert));
    let (other, _) = good_root();
    assert!(!same_certificate(&other, &cert) && !same_public_key(&other, &cert));
    assert!(!same_certificate("garbage", "garbage"));
}

#[test]
fn the_key_must_belong_to_the_certificate() {
    let (cert, _) = good_root();
    let (_, other_key) = good_root();
    assert_eq!(refusal(&cert, &other_key), "certificate key mismatch");
    assert!(
        refusal(
            &cert,
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
        )
        .contains("CA key")
    );
    assert!(refusal(&cert, "not a key").contains("CA key"));
}

#[test]
fn a_certificate_that_is_no_signing_ca_is_refused() {
    let (leaf, key) = root_with(false, vec![], NOW - 60, NOW + 10 * YEAR);
    assert!(
        refusal(&leaf, &key).contains("is not a CA certificate"),
        "{}",
        refusal(&leaf, &key)
    );
    let (no_sign, key) = root_with(
        true,
        vec![KeyUsagePurpose::DigitalSignature],
        NOW - 60,
        NOW + 10 * YEAR,
    );
    assert!(refusal(&no_sign, &key).contains("keyCertSign"));
}

#[test]
fn validity_is_checked_now_and_a_year_ahead() {
    let (expired, key) = root_with(true, vec![], NOW - 2 * YEAR, NOW - YEAR);
    let m = refusal(&expired, &key);
    assert!(m.contains("(Operator Root) not valid after 2022-11-14"), "{m}");
    let (future, key) = root_with(true, vec![], NOW + 3600, NOW + 10 * YEAR);
    assert!(refusal(&future, &key).contains("not valid before"));
    let (short, key) = root_with(true, vec![], NOW - 60, NOW + YEAR - 60);
    assert_eq!(refusal(&short, &key), "CA certificate expires too soon");
}

#[test]
fn garbage_and_bundles_are_refused() {
    let (cert, key) = good_root();
    assert_eq!(refusal("garbage", &key), "no valid root CA certificates found");
    assert_eq!(
        refusal(
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            &key
        ),
        "could not parse the desired CA certificate"
    );
    let (second, _) = good_root();
    assert_eq!(
        refusal(&format!("{cert}{second}"), &key),
        "the desired CA certificate cannot contain multiple certificates"
    );
}

/// `openssl req -x509 -subj "/O=Ops/OU=a/OU=b/CN=Two OUs"`, valid for ten years from when it
/// was made, and its SEC1 key: a subject with two attributes of one type.
const TWO_OUS: (&str, &str) = (
    "-----BEGIN CERTIFICATE-----\nMIIBxTCCAWugAwIBAgIUGg3TgO5sxSeqBcZpPKDgWU4Rd+wwCgYIKoZIzj0EAwIw\nODEMMAoGA1UECgwDT3BzMQowCAYDVQQLDAFhMQowCAYDVQQLDAFiMRAwDgYDVQQD\nDAdUd28gT1VzMB4XDTI2MTIwNzAwMzE1OVoXDTM2MTIwNDAwMzE1OVowODEMMAoG\nA1UECgwDT3BzMQowCAYDVQQLDAFhMQowCAYDVQQLDAFiMRAwDgYDVQQDDAdUd28g\nT1VzMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEa64KcYH8wGzX9qPAJWJsx8Jf\nrLit2EW2nnDpVufJAPYYpD4OYptOS7/Dwv9vQcPsMkjghNpIb6CQYilvMRZ08aNT\nMFEwHQYDVR0OBBYEFEwG0SqfEpompweAR9Vuesm7+tkoMB8GA1UdIwQYMBaAFEwG\n0SqfEpompweAR9Vuesm7+tkoMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwID\nSAAwRQIgf8urhri6Ieh5pxSyWm1eMDH7v08p7GtW2rIj7Yhe6TYCIQC+QMqtLeju\nxzBOclY4ryTfW6PAg4MGF2eTZ/Wiubefbg==\n-----END CERTIFICATE-----\n",
    "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEICzh2StYYjW02vdC+07eJrUCD6J8ry60QpaBKZw2i1rKoAoGCCqGSM49\nAwEHoUQDQgAEa64KcYH8wGzX9qPAJWJsx8JfrLit2EW2nnDpVufJAPYYpD4OYptO\nS7/Dwv9vQcPsMkjghNpIb6CQYilvMRZ08Q==\n-----END EC PRIVATE KEY-----\n",
);

#[test]
fn a_subject_that_cannot_be_written_back_exactly_is_refused() {
    let (cert, key) = TWO_OUS;
    let (_, not_before, _) = subject_of(cert).unwrap();
    let m = match RootCa::from_operator(cert, key, not_before + 60) {
        Err(Error::InvalidRoot(m)) => m,
        other => panic!("{:?}", other.map(|r| r.cert_pem().to_string())),
    };
    assert!(
        m.contains("(Two OUs) cannot sign certificates that chain to it"),
        "{m}"
    );
}
