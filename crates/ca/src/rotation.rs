//! Root CA rotation: the cross-signed certificate that bridges the old root and the new one,
//! and the checks a node and the managers make while the cluster moves to the new root.
//!
//! ```text
//! old root ──signs──► cross-signed cert (subject and key of the new root)
//!                            │
//! new root key ──signs──► node certificate, presented as  leaf ‖ cross-signed cert
//!
//! a node trusting only the old root:  leaf → cross-signed → old root   ✓
//! a node trusting the new root:       leaf → new root                  ✓
//! ```

use rcgen::{
    BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, KeyUsagePurpose, SubjectPublicKeyInfo,
};
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::authority::at;
use crate::{Error, Result, RootCa};

impl RootCa {
    /// A certificate for `next`'s root (same subject, same public key, same validity) signed
    /// by this root, so that certificates `next` issues chain up to this root too. The subject
    /// is copied attribute by attribute, so it matches the issuer of `next`'s leaves exactly
    /// (an operator's root names itself as it likes).
    pub fn cross_sign(&self, next: &RootCa) -> Result<String> {
        self.cross_sign_certificate(next.cert_pem())
    }

    /// [`RootCa::cross_sign`] for a root whose key is not here (an external CA's): the
    /// public key is taken from its certificate.
    pub fn cross_sign_certificate(&self, next_cert_pem: &str) -> Result<String> {
        let (subject, not_before, not_after) = crate::signing_root::subject_of(next_cert_pem)?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name = subject;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.not_before = at(not_before)?;
        params.not_after = at(not_after)?;
        let der = first_der(next_cert_pem)?;
        let (_, cert) = X509Certificate::from_der(der.as_ref())
            .map_err(|e| Error::Cert(format!("root certificate: {e}")))?;
        let next_key = SubjectPublicKeyInfo::from_der(cert.public_key().raw)?;
        let issuer = Issuer::from_ca_cert_pem(self.cert_pem(), KeyPair::from_pem(self.key_pem())?)?;
        Ok(params.signed_by(&next_key, &issuer)?.pem())
    }
}

fn first_der(pem: &str) -> Result<rustls::pki_types::CertificateDer<'static>> {
    crate::tls::certs_from_pem(pem)?
        .into_iter()
        .next()
        .ok_or_else(|| Error::Cert("no certificate in PEM".into()))
}

/// Whether the first certificate of `cert_pem` carries a signature by the key of the first
/// certificate of `root_pem`: false for anything that does not parse.
pub fn issued_by(cert_pem: &str, root_pem: &str) -> bool {
    let (Ok(leaf), Ok(root)) = (first_der(cert_pem), first_der(root_pem)) else {
        return false;
    };
    let (Ok((_, leaf)), Ok((_, root))) = (
        X509Certificate::from_der(leaf.as_ref()),
        X509Certificate::from_der(root.as_ref()),
    ) else {
        return false;
    };
    leaf.verify_signature(Some(root.public_key())).is_ok()
}

/// The roots a node trusts while `next` replaces `current`: both, so that a certificate
/// from either side verifies whatever chain its holder presents.
pub fn trust_bundle(current_pem: &str, next_pem: &str) -> String {
    let mut out = current_pem.trim_end().to_string();
    out.push('\n');
    out.push_str(next_pem.trim_end());
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{NodeKey, PeerIdentity};
    use types::Role;

    const NOW: i64 = 1_700_000_000;

    fn at_now() -> rustls::pki_types::UnixTime {
        rustls::pki_types::UnixTime::since_unix_epoch(std::time::Duration::from_secs(NOW as u64 + 60))
    }

    fn leaf(ca: &RootCa, node: &NodeKey) -> String {
        ca.issue(&node.csr_pem, "n1", Role::Worker, "c1", NOW, 3600)
            .unwrap()
    }

    #[test]
    fn a_cross_signed_root_is_the_new_key_under_the_old_signature() {
        let old = RootCa::generate(NOW).unwrap();
        let new = RootCa::generate(NOW).unwrap();
        let cross = old.cross_sign(&new).unwrap();
        assert!(issued_by(&cross, old.cert_pem()));
        assert!(!issued_by(&cross, new.cert_pem()));
        let node = NodeKey::generate().unwrap();
        let cert = leaf(&new, &node);
        assert!(issued_by(&cert, new.cert_pem()));
        assert!(!issued_by(&cert, old.cert_pem()));
        assert!(!issued_by("garbage", new.cert_pem()));
        assert!(!issued_by(&cert, "garbage"));
    }

    /// The chain a node presents during a rotation verifies against the old root alone, the
    /// new root alone and both: mutual TLS between nodes on either side of the rotation.
    #[test]
    fn the_rotation_chain_verifies_against_either_root() {
        let old = RootCa::generate(NOW).unwrap();
        let new = RootCa::generate(NOW).unwrap();
        let cross = old.cross_sign(&new).unwrap();
        let node = NodeKey::generate().unwrap();
        let chain = format!("{}{}", leaf(&new, &node), cross);
        let old_leaf = leaf(&old, &node);
        let both = trust_bundle(old.cert_pem(), new.cert_pem());
        for roots in [old.cert_pem(), new.cert_pem(), both.as_str()] {
            assert!(
                crate::tls::verify_chain(&chain, roots, at_now()).is_ok(),
                "{roots}"
            );
        }
        assert!(crate::tls::verify_chain(&old_leaf, &both, at_now()).is_ok());
        assert!(crate::tls::verify_chain(&old_leaf, new.cert_pem(), at_now()).is_err());
        assert_eq!(PeerIdentity::from_pem(&chain).unwrap().node_id, "n1");
    }
}
