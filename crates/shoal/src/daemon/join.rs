//! The joining half of `swarm join`: fetch the CA, check it against the token, ask for a
//! certificate. Shared by real joins and hollow nodes.

use manager::error::from_status;
use rpc::calls::{GetRootCa, IssueNodeCertificate};
use rpc::client::call_once;
use rpc::messages::{IssueRequest, IssueResponse};
use rules::Error;
use types::{Availability, NodeDescription};

/// Joins through the manager at `remote` with `token`; returns the issued certificate and the
/// private key it belongs to.
pub async fn request_certificate(
    remote: &str,
    token: &ca::JoinToken,
    token_text: &str,
    description: NodeDescription,
    advertise: &str,
    availability: Option<Availability>,
) -> Result<(IssueResponse, String), Error> {
    // 1. Fetch the CA without trusting anyone, and check it against the token's digest
    //    before the token's secret leaves this node.
    let bootstrap = ca::tls::bootstrap_client_config().map_err(|e| Error::Internal(e.to_string()))?;
    let root = call_once::<GetRootCa>(remote, bootstrap, &())
        .await
        .map_err(|s| match s.code() {
            // The manager answered, with something that is not a root certificate.
            tonic::Code::InvalidArgument => from_status(s),
            _ => Error::Unavailable(format!("could not reach a manager at {remote}: {}", s.message())),
        })?;
    if ca::ca_digest(&root.ca_cert_pem) != token.ca_digest {
        return Err(Error::InvalidArgument(
            "remote CA does not match fingerprint in the join token; check the token and the manager address"
                .into(),
        ));
    }
    // 2. Ask for a certificate, over TLS verified against that CA.
    let verified =
        ca::tls::anonymous_client_config(&root.ca_cert_pem).map_err(|e| Error::Internal(e.to_string()))?;
    let key = ca::NodeKey::generate().map_err(|e| Error::Internal(e.to_string()))?;
    let issue = IssueRequest {
        token: token_text.to_string(),
        csr_pem: key.csr_pem.clone(),
        description,
        advertise_addr: advertise.to_string(),
        availability,
    };
    let issued = call_once::<IssueNodeCertificate>(remote, verified, &issue)
        .await
        .map_err(from_status)?;
    Ok((issued, key.key_pem))
}
