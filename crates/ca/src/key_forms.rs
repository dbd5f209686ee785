//! Private keys in the forms operators' tools write, turned into the PKCS#8 that rcgen (on
//! ring) signs with: `openssl ecparam -genkey` and cfssl write SEC1 (`EC PRIVATE KEY`),
//! `openssl genrsa` (1.x) PKCS#1 (`RSA PRIVATE KEY`); `openssl genpkey`/`req` write PKCS#8.
//!
//! ```text
//! PKCS#8 = SEQUENCE { INTEGER 0, SEQUENCE { algorithm OID, parameters }, OCTET STRING key }
//!   SEC1:   algorithm id-ecPublicKey, parameters = the curve OID from the key's own [0]
//!   PKCS#1: algorithm rsaEncryption,  parameters = NULL
//! ```
//! Only the DER is rewrapped; the key is not parsed beyond finding the curve.

use rustls::pki_types::PrivateKeyDer;
use rustls::pki_types::pem::PemObject;

use rcgen::KeyPair;

use crate::{Error, Result};

/// DER of id-ecPublicKey (1.2.840.10045.2.1).
const EC_PUBLIC_KEY: &[u8] = &[0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
/// DER of rsaEncryption (1.2.840.113549.1.1.1) followed by NULL parameters.
const RSA_ENCRYPTION: &[u8] = &[
    0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
];

/// `key_pem` as a PKCS#8 PEM (`PRIVATE KEY`): unchanged when it already is one, rewrapped from
/// SEC1 or PKCS#1, an error for anything else (encrypted keys included).
pub fn to_pkcs8_pem(key_pem: &str) -> Result<String> {
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .map_err(|e| Error::Cert(format!("private key: {e}")))?;
    let der = match &key {
        PrivateKeyDer::Pkcs8(der) => der.secret_pkcs8_der().to_vec(),
        PrivateKeyDer::Sec1(der) => {
            let curve = sec1_curve(der.secret_sec1_der())
                .ok_or_else(|| Error::Cert("EC private key without its curve".into()))?;
            pkcs8(&[EC_PUBLIC_KEY, curve].concat(), der.secret_sec1_der())
        }
        PrivateKeyDer::Pkcs1(der) => pkcs8(RSA_ENCRYPTION, der.secret_pkcs1_der()),
        _ => return Err(Error::Cert("unsupported private key form".into())),
    };
    // rcgen writes the PEM; a key it cannot sign with is refused here too.
    Ok(KeyPair::try_from(der.as_slice())?.serialize_pem())
}

fn pkcs8(algorithm: &[u8], key: &[u8]) -> Vec<u8> {
    let body = [&[0x02, 0x01, 0x00][..], &tlv(0x30, algorithm), &tlv(0x04, key)].concat();
    tlv(0x30, &body)
}

/// The curve OID (whole TLV) in a SEC1 ECPrivateKey's `[0] parameters`.
fn sec1_curve(der: &[u8]) -> Option<&[u8]> {
    let (tag, mut body, _) = read_tlv(der)?;
    if tag != 0x30 {
        return None;
    }
    while !body.is_empty() {
        let (tag, content, rest) = read_tlv(body)?;
        if tag == 0xa0 {
            let (oid_tag, _, after) = read_tlv(content)?;
            return (oid_tag == 0x06 && after.is_empty()).then_some(content);
        }
        body = rest;
    }
    None
}

/// One DER element: (tag, content, what follows). Single-byte tags, definite lengths.
fn read_tlv(der: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = der.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let (bytes, after) = rest.split_at(n);
        rest = after;
        bytes.iter().fold(0usize, |acc, &b| (acc << 8) | usize::from(b))
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    match u8::try_from(content.len()) {
        Ok(len) if len < 0x80 => out.push(len),
        _ => {
            let bytes: Vec<u8> = content
                .len()
                .to_be_bytes()
                .into_iter()
                .skip_while(|&b| b == 0)
                .collect();
            // At most size_of::<usize>() bytes: the count fits in the low 7 bits.
            out.push(0x80 | (bytes.len() & 0x7f) as u8);
            out.extend(bytes);
        }
    }
    out.extend_from_slice(content);
    out
}

#[cfg(test)]
#[path = "key_forms_tests.rs"]
mod tests;
