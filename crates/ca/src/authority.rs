//! The root CA: generation, and signing node certificates from CSRs.

use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, DnType, ExtendedKeyUsagePurpose,
    IsCa, Issuer, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, SanType,
};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use types::Role;

use crate::{Error, Result};

/// Validity of the root certificate: 20 years, as Swarm.
pub(crate) const ROOT_VALIDITY_SECS: i64 = 20 * 365 * 24 * 3600;
/// Certificates are valid from a little before "now" to tolerate clock skew between nodes.
pub(crate) const BACKDATE_SECS: i64 = 3600;

/// The root CA's certificate and key.
#[derive(Clone)]
pub struct RootCa {
    cert_pem: String,
    key_pem: String,
}

/// SHA-256 of the root certificate's PEM, the digest a join token pins.
pub fn ca_digest(ca_cert_pem: &str) -> [u8; 32] {
    Sha256::digest(ca_cert_pem.as_bytes()).into()
}

pub(crate) fn at(unix_secs: i64) -> Result<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp(unix_secs).map_err(|e| Error::Cert(e.to_string()))
}

impl RootCa {
    /// A new root CA (`CN=swarm-ca`, P-256), valid from `now_secs`.
    pub fn generate(now_secs: i64) -> Result<RootCa> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name.push(DnType::CommonName, "swarm-ca");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.not_before = at(now_secs - BACKDATE_SECS)?;
        params.not_after = at(now_secs + ROOT_VALIDITY_SECS)?;
        let cert = params.self_signed(&key)?;
        Ok(RootCa {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }

    /// The CA from stored PEMs (the cluster object).
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<RootCa> {
        // Parse both now so a bad cluster object fails here, not at first signing.
        let key = KeyPair::from_pem(key_pem)?;
        Issuer::from_ca_cert_pem(cert_pem, key)?;
        Ok(RootCa {
            cert_pem: cert_pem.to_string(),
            key_pem: key_pem.to_string(),
        })
    }

    /// PEM of the root certificate.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// PEM of the root key.
    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }

    /// Signs a node certificate for the public key in `csr_pem`. Only the key is taken from
    /// the CSR: subject, names and validity are ours, so a joiner cannot pick its identity.
    pub fn issue(
        &self,
        csr_pem: &str,
        node_id: &str,
        role: Role,
        cluster_id: &str,
        now_secs: i64,
        validity_secs: i64,
    ) -> Result<String> {
        let csr = CertificateSigningRequestParams::from_pem(csr_pem)?;
        let mut params = CertificateParams::new(vec![role.cert_ou().to_string(), node_id.to_string()])?;
        params.distinguished_name.push(DnType::CommonName, node_id);
        params
            .distinguished_name
            .push(DnType::OrganizationalUnitName, role.cert_ou());
        params
            .distinguished_name
            .push(DnType::OrganizationName, cluster_id);
        params.subject_alt_names = vec![
            SanType::DnsName(role.cert_ou().try_into()?),
            SanType::DnsName(node_id.try_into()?),
        ];
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.not_before = at(now_secs - BACKDATE_SECS)?;
        params.not_after = at(now_secs + validity_secs)?;
        let key = KeyPair::from_pem(&self.key_pem)?;
        let issuer = Issuer::from_ca_cert_pem(&self.cert_pem, key)?;
        let signed = CertificateSigningRequestParams {
            params,
            public_key: csr.public_key,
        }
        .signed_by(&issuer)?;
        Ok(signed.pem())
    }
}

/// A node's private key and the CSR it sends to the CA.
pub struct NodeKey {
    /// PKCS#8 PEM of the private key; never leaves the node.
    pub key_pem: String,
    /// PEM of the certificate signing request.
    pub csr_pem: String,
}

impl NodeKey {
    /// A fresh P-256 key and its CSR.
    pub fn generate() -> Result<NodeKey> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let params = CertificateParams::new(Vec::<String>::new())?;
        let csr = params.serialize_request(&key)?;
        Ok(NodeKey {
            key_pem: key.serialize_pem(),
            csr_pem: csr.pem()?,
        })
    }

    /// The CSR for an existing key (certificate renewal keeps the key).
    pub fn csr_for(key_pem: &str) -> Result<String> {
        let key = KeyPair::from_pem(key_pem)?;
        Ok(CertificateParams::new(Vec::<String>::new())?
            .serialize_request(&key)?
            .pem()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PeerIdentity;

    #[test]
    fn issued_certificates_carry_the_identity_we_chose() {
        let ca = RootCa::generate(1_700_000_000).unwrap();
        let node = NodeKey::generate().unwrap();
        let pem = ca
            .issue(
                &node.csr_pem,
                "nodeid1",
                Role::Manager,
                "cluster9",
                1_700_000_000,
                3600,
            )
            .unwrap();
        let id = PeerIdentity::from_pem(&pem).unwrap();
        assert_eq!(id.node_id, "nodeid1");
        assert_eq!(id.role, Role::Manager);
        assert_eq!(id.cluster_id, "cluster9");
        assert_eq!(id.not_after, 1_700_000_000 + 3600);
        let again = RootCa::from_pem(ca.cert_pem(), ca.key_pem()).unwrap();
        assert_eq!(ca_digest(again.cert_pem()), ca_digest(ca.cert_pem()));
    }

    #[test]
    fn garbage_csr_is_an_error_not_a_panic() {
        let ca = RootCa::generate(1_700_000_000).unwrap();
        assert!(
            ca.issue(
                "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
                "n",
                Role::Worker,
                "c",
                0,
                10
            )
            .is_err()
        );
        assert!(ca.issue("hello", "n", Role::Worker, "c", 0, 10).is_err());
        assert!(RootCa::from_pem("x", "y").is_err());
    }
}
