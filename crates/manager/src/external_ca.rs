//! The HTTPS edge of external CAs: one cfssl sign request posted to each signer in turn
//! until one answers with a certificate. What is sent and what the answer must be are
//! `ca::external`'s (pure); this file only moves the bytes.
//!
//! Each signer's server certificate is verified against the root it names (its `CACert`)
//! and the cluster's root; the answer is read up to `ca::external::MAX_RESPONSE_BYTES`
//! within `ca::external::SIGN_TIMEOUT_SECS`, so a slow or hostile signer costs a join
//! neither unbounded time nor memory.

use std::sync::Arc;
use std::time::Duration;

use ca::external::{MAX_RESPONSE_BYTES, SIGN_TIMEOUT_SECS};
use rustls::client::ResolvesClientCert;
use types::ExternalCa;

/// Why no external CA signed: each signer's failure, in the order they were asked.
#[derive(Debug, thiserror::Error)]
#[error("{}", .0.join("; "))]
pub struct SignError(pub Vec<String>);

/// Posts `body` (a cfssl sign request) to each of `signers` in turn; the first certificate
/// PEM returned wins. `cluster_root_pem` is trusted for every signer's TLS besides the root
/// it names; `identity` is the client certificate offered (a cfssl run with mutual TLS asks
/// for one).
pub async fn sign(
    signers: &[ExternalCa],
    cluster_root_pem: &str,
    identity: &Arc<dyn ResolvesClientCert>,
    body: &[u8],
) -> Result<String, SignError> {
    if signers.is_empty() {
        return Err(SignError(vec![
            "no external CA is configured for the root that signs now (docker swarm update --external-ca)"
                .into(),
        ]));
    }
    let mut failures = Vec::new();
    for signer in signers {
        match sign_one(signer, cluster_root_pem, identity.clone(), body).await {
            Ok(pem) => return Ok(pem),
            Err(e) => {
                tracing::warn!(url = %signer.url, "external CA did not sign: {e}");
                failures.push(format!("{}: {e}", signer.url));
            }
        }
    }
    Err(SignError(failures))
}

async fn sign_one(
    signer: &ExternalCa,
    cluster_root_pem: &str,
    identity: Arc<dyn ResolvesClientCert>,
    body: &[u8],
) -> Result<String, String> {
    let trust = if signer.ca_cert_pem.trim().is_empty() {
        cluster_root_pem.to_string()
    } else {
        ca::trust_bundle(&signer.ca_cert_pem, cluster_root_pem)
    };
    let client = client(&trust, identity)?;
    let mut response = client
        .post(&signer.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body.to_vec())
        .send()
        .await
        .map_err(|e| format!("unable to perform certificate signing request: {}", chain(&e)))?;
    let status = response.status().as_u16();
    let mut answer = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| format!("unable to read CSR response body: {}", chain(&e)))?
    {
        if answer.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(format!("the answer is larger than {MAX_RESPONSE_BYTES} bytes"));
        }
        answer.extend_from_slice(&chunk);
    }
    ca::external::certificate_from_response(status, &answer).map_err(|e| e.to_string())
}

/// An HTTPS-only client trusting the roots in `trust_pem` and presenting `identity`: no
/// redirects, no proxies, the whole exchange within `SIGN_TIMEOUT_SECS`.
fn client(trust_pem: &str, identity: Arc<dyn ResolvesClientCert>) -> Result<reqwest::Client, String> {
    let tls = ca::tls::external_ca_client_config(trust_pem, identity).map_err(|e| e.to_string())?;
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .https_only(true)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(Duration::from_secs(SIGN_TIMEOUT_SECS))
        .build()
        .map_err(|e| format!("unable to set up the HTTPS client: {e}"))
}

/// An error with its causes (reqwest's own message omits them: "error sending request").
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

/// Whether at least one of `signers` answers HTTPS at its URL with a server certificate
/// that verifies against the root it names (`CACert`, else `cluster_root_pem`): SwarmKit's
/// check before rotating to a root whose key only an external CA holds. Any HTTP answer
/// counts (cfssl answers a `GET` of its sign endpoint with 405).
pub async fn any_reachable(
    signers: &[ExternalCa],
    cluster_root_pem: &str,
    identity: &Arc<dyn ResolvesClientCert>,
) -> bool {
    for signer in signers {
        let trust = if signer.ca_cert_pem.trim().is_empty() {
            cluster_root_pem
        } else {
            &signer.ca_cert_pem
        };
        let client = match client(trust, identity.clone()) {
            Ok(client) => client,
            Err(e) => {
                tracing::warn!(url = %signer.url, "external CA: {e}");
                continue;
            }
        };
        match client.get(&signer.url).send().await {
            Ok(_) => return true,
            Err(e) => {
                tracing::warn!(url = %signer.url, "external CA is unreachable or invalid: {}", chain(&e))
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    /// No client certificate (what a config without client auth presents).
    fn no_identity() -> Arc<dyn ResolvesClientCert> {
        let root = ca::RootCa::generate(1_700_000_000).unwrap();
        ca::tls::anonymous_client_config(root.cert_pem())
            .unwrap()
            .client_auth_cert_resolver
            .clone()
    }

    fn signer(url: &str) -> ExternalCa {
        ExternalCa {
            url: url.into(),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn without_a_signer_that_answers_the_error_names_each_one() {
        let root = ca::RootCa::generate(1_700_000_000).unwrap();
        let err = sign(&[], root.cert_pem(), &no_identity(), b"{}")
            .await
            .unwrap_err();
        assert!(err.to_string().contains("no external CA is configured"), "{err}");
        // Port 1 on loopback: nothing listens, the connection is refused at once.
        let signers = [signer("https://127.0.0.1:1/a"), signer("https://127.0.0.1:1/b")];
        let err = sign(&signers, root.cert_pem(), &no_identity(), b"{}")
            .await
            .unwrap_err();
        assert_eq!(err.0.len(), 2, "{err}");
        assert!(err.0[0].starts_with("https://127.0.0.1:1/a: unable to perform certificate signing request"));
        assert!(err.0[1].starts_with("https://127.0.0.1:1/b: "));
        // A plain http URL is never called.
        let err = sign(
            &[signer("http://127.0.0.1:1/a")],
            root.cert_pem(),
            &no_identity(),
            b"{}",
        )
        .await
        .unwrap_err();
        assert!(err.to_string().contains("http://127.0.0.1:1/a"), "{err}");
        assert!(!any_reachable(&signers, root.cert_pem(), &no_identity()).await);
    }
}
