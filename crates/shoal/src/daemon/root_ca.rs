//! A node following a root CA rotation: what its session asks of its certificate material.
//!
//! ```text
//! session: renew under the new root ─► RenewNodeCertificate ─► leaf ‖ cross-signed, both roots
//! session: trust these roots         ─► ca_pem replaced, TLS configurations swapped
//! ```

use rpc::messages::SessionMessage;

use super::datadir::Certs;

/// What a session message asks of the node's certificate material.
#[derive(Debug, PartialEq, Eq)]
pub enum CaStep {
    /// Nothing to do.
    Keep,
    /// Get a certificate from the rotation's new root.
    Renew,
    /// Trust these roots from now on.
    Trust(String),
}

/// The step for `certs` given `msg`. A renewal comes first: its answer carries the roots.
pub fn step(certs: &Certs, msg: &SessionMessage) -> CaStep {
    if !msg.ca_renew_under_pem.is_empty() && !ca::issued_by(&certs.cert_pem, &msg.ca_renew_under_pem) {
        return CaStep::Renew;
    }
    if !msg.ca_trust_pem.is_empty() && msg.ca_trust_pem != certs.ca_pem {
        return CaStep::Trust(msg.ca_trust_pem.clone());
    }
    CaStep::Keep
}

#[cfg(test)]
mod tests {
    use super::*;
    use types::Role;

    fn message(trust: &str, renew_under: &str) -> SessionMessage {
        SessionMessage {
            managers: vec![],
            desired_role: Role::Worker,
            heartbeat_period_ms: 1000,
            log_subscriptions: vec![],
            ca_trust_pem: trust.into(),
            ca_renew_under_pem: renew_under.into(),
            tunnel_key_rotation_ms: 0,
        }
    }

    #[test]
    fn a_node_renews_under_the_new_root_then_trusts_what_it_is_told() {
        let old = ca::RootCa::generate(1_700_000_000).unwrap();
        let new = ca::RootCa::generate(1_700_000_000).unwrap();
        let key = ca::NodeKey::generate().unwrap();
        let issue = |root: &ca::RootCa| {
            root.issue(&key.csr_pem, "n", Role::Worker, "c", 1_700_000_000, 3600)
                .unwrap()
        };
        let mut certs = Certs {
            ca_pem: old.cert_pem().into(),
            cert_pem: issue(&old),
            key_pem: key.key_pem.clone(),
            data_key: store::crypto::DataKey::generate().unwrap(),
            unlock_key: None,
        };
        let both = ca::trust_bundle(old.cert_pem(), new.cert_pem());
        // An older manager says nothing: nothing changes.
        assert_eq!(step(&certs, &message("", "")), CaStep::Keep);
        assert_eq!(step(&certs, &message(&both, new.cert_pem())), CaStep::Renew);
        certs.cert_pem = issue(&new) + &old.cross_sign(&new).unwrap();
        certs.ca_pem = both.clone();
        assert_eq!(step(&certs, &message(&both, new.cert_pem())), CaStep::Keep);
        assert_eq!(
            step(&certs, &message(new.cert_pem(), "")),
            CaStep::Trust(new.cert_pem().into())
        );
    }
}
