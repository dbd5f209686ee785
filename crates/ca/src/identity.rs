//! Reading a node's identity out of its certificate.

use types::Role;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::{Error, Result};

/// Who is on the other end of a mutual-TLS connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerIdentity {
    /// Node ID (CN).
    pub node_id: String,
    /// Role (OU).
    pub role: Role,
    /// Cluster ID (O).
    pub cluster_id: String,
    /// Expiry, Unix seconds.
    pub not_after: i64,
}

impl PeerIdentity {
    /// Parses a DER certificate.
    pub fn from_der(der: &[u8]) -> Result<PeerIdentity> {
        let (_, cert) = X509Certificate::from_der(der).map_err(|e| Error::Cert(e.to_string()))?;
        let subject = cert.subject();
        let first = |it: &mut dyn Iterator<Item = &x509_parser::x509::AttributeTypeAndValue>| {
            it.next().and_then(|a| a.as_str().ok()).map(str::to_string)
        };
        let node_id = first(&mut subject.iter_common_name())
            .ok_or_else(|| Error::Cert("certificate has no CN".into()))?;
        let ou = first(&mut subject.iter_organizational_unit())
            .ok_or_else(|| Error::Cert("certificate has no OU".into()))?;
        let cluster_id = first(&mut subject.iter_organization())
            .ok_or_else(|| Error::Cert("certificate has no O".into()))?;
        let role = Role::from_cert_ou(&ou).ok_or_else(|| Error::Cert(format!("unknown role OU {ou:?}")))?;
        Ok(PeerIdentity {
            node_id,
            role,
            cluster_id,
            not_after: cert.validity().not_after.timestamp(),
        })
    }

    /// Parses the first certificate of a PEM.
    pub fn from_pem(pem: &str) -> Result<PeerIdentity> {
        let der = crate::tls::certs_from_pem(pem)?
            .into_iter()
            .next()
            .ok_or_else(|| Error::Cert("no certificate in PEM".into()))?;
        PeerIdentity::from_der(der.as_ref())
    }
}
