//! rustls configurations for the cluster port.
//!
//! Servers ask for a client certificate but do not require one, because a joining node has
//! none yet (it fetches the CA and asks for a certificate); every other RPC checks the peer's
//! certificate itself. Clients verify the server against the cluster CA under the name
//! `swarm-manager`, which every manager certificate carries.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, ring};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};

use crate::{Error, Result};

/// The name clients expect in a manager's certificate.
pub const MANAGER_NAME: &str = "swarm-manager";

fn provider() -> Arc<CryptoProvider> {
    Arc::new(ring::default_provider())
}

/// All certificates in a PEM string.
pub fn certs_from_pem(pem: &str) -> Result<Vec<CertificateDer<'static>>> {
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::Cert(e.to_string()))
}

fn key_from_pem(pem: &str) -> Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|e| Error::Cert(e.to_string()))
}

fn roots(ca_pem: &str) -> Result<Arc<RootCertStore>> {
    let mut store = RootCertStore::empty();
    for cert in certs_from_pem(ca_pem)? {
        store.add(cert)?;
    }
    Ok(Arc::new(store))
}

/// Server side of the cluster port: our certificate, client certificates optional but, when
/// present, verified against the CA.
pub fn server_config(cert_pem: &str, key_pem: &str, ca_pem: &str) -> Result<Arc<ServerConfig>> {
    let verifier = WebPkiClientVerifier::builder_with_provider(roots(ca_pem)?, provider())
        .allow_unauthenticated()
        .build()
        .map_err(|e| Error::Tls(e.to_string()))?;
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs_from_pem(cert_pem)?, key_from_pem(key_pem)?)?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}

/// Checks a chain as presented in a handshake (leaf first, then intermediates) against the
/// roots in `ca_pem`, as the cluster port's servers check client certificates, at `now`.
pub fn verify_chain(chain_pem: &str, ca_pem: &str, now: UnixTime) -> Result<()> {
    let chain = certs_from_pem(chain_pem)?;
    let (leaf, intermediates) = chain
        .split_first()
        .ok_or_else(|| Error::Cert("no certificate in PEM".into()))?;
    WebPkiClientVerifier::builder_with_provider(roots(ca_pem)?, provider())
        .build()
        .map_err(|e| Error::Tls(e.to_string()))?
        .verify_client_cert(leaf, intermediates, now)?;
    Ok(())
}

/// Client side towards an external CA's HTTPS signer: its server certificate verified
/// against the roots in `trust_pem` under the URL's host name; `identity` (the manager's
/// own node certificate, as SwarmKit presents it) for a signer that asks for one.
pub fn external_ca_client_config(
    trust_pem: &str,
    identity: Arc<dyn rustls::client::ResolvesClientCert>,
) -> Result<ClientConfig> {
    Ok(ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots(trust_pem)?)
        .with_client_cert_resolver(identity))
}

/// Client side with our certificate: used by every node once it has one.
pub fn client_config(cert_pem: &str, key_pem: &str, ca_pem: &str) -> Result<Arc<ClientConfig>> {
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots(ca_pem)?)
        .with_client_auth_cert(certs_from_pem(cert_pem)?, key_from_pem(key_pem)?)?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}

/// Client side for a joiner that knows the CA (checked against the token's digest) but has
/// no certificate yet.
pub fn anonymous_client_config(ca_pem: &str) -> Result<Arc<ClientConfig>> {
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots(ca_pem)?)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}

/// Client side for the very first call of a join: fetch the CA certificate without trusting
/// anyone. Nothing secret is sent on this connection; the joiner then checks the returned
/// CA against the digest in its token before it sends the token's secret.
pub fn bootstrap_client_config() -> Result<Arc<ClientConfig>> {
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAnyServer(provider())))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}

#[derive(Debug)]
struct AcceptAnyServer(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyServer {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
