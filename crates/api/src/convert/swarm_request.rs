//! `POST /swarm/init` and `POST /swarm/join` bodies into the backend's requests, with
//! dockerd's defaults (listen address, spec name) and messages.

use super::addr;
use super::cluster::spec_from_docker;
use super::node::parse_availability;
use crate::backend::{InitRequest, JoinRequest};
use crate::error::{Error, Result};
use crate::model;

/// The backend's init request; an empty listen address means `0.0.0.0:2377`.
pub fn init_request(req: &model::InitRequest) -> Result<InitRequest> {
    if !req.spec.name.is_empty() && req.spec.name != "default" {
        return Err(Error::BadRequest(r#"swarm spec must be named "default""#.into()));
    }
    let mut spec = spec_from_docker(&req.spec)?;
    // Docker sends autolock both at the top level and in the spec; either turns it on.
    spec.auto_lock_managers |= req.auto_lock_managers;
    Ok(InitRequest {
        listen_addr: addr::complete(&req.listen_addr),
        advertise_addr: req.advertise_addr.clone(),
        data_path_addr: req.data_path_addr.clone(),
        data_path_port: req.data_path_port,
        force_new_cluster: req.force_new_cluster,
        spec,
        availability: optional_availability(&req.availability)?,
        default_addr_pool: req.default_addr_pool.clone(),
        subnet_size: req.subnet_size,
        external_cas: super::cluster::external_cas_from_docker(&req.spec)?,
    })
}

/// The backend's join request; at least one remote address is required.
pub fn join_request(req: &model::JoinRequest) -> Result<JoinRequest> {
    if req.remote_addrs.is_empty() {
        return Err(Error::BadRequest(
            "at least 1 RemoteAddr is required to join".into(),
        ));
    }
    let remote_addrs = req
        .remote_addrs
        .iter()
        .map(|remote| {
            if remote.is_empty() {
                Err(Error::BadRequest(
                    r#"invalid remoteAddr "": invalid empty address"#.into(),
                ))
            } else {
                Ok(addr::complete(remote))
            }
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(JoinRequest {
        listen_addr: addr::complete(&req.listen_addr),
        advertise_addr: req.advertise_addr.clone(),
        data_path_addr: req.data_path_addr.clone(),
        remote_addrs,
        join_token: req.join_token.clone(),
        availability: optional_availability(&req.availability)?,
    })
}

/// Empty means "not given".
fn optional_availability(text: &str) -> Result<Option<types::Availability>> {
    if text.is_empty() {
        Ok(None)
    } else {
        parse_availability(text).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use types::{Availability, ClusterSpec};

    use super::*;

    #[test]
    fn init_defaults() {
        let req = init_request(&model::InitRequest::default()).unwrap();
        assert_eq!(req.listen_addr, "0.0.0.0:2377");
        assert_eq!(req.spec, ClusterSpec::default());
        assert_eq!(req.availability, None);
        let json: model::InitRequest = serde_json::from_str(
            r#"{"ListenAddr":"10.1.2.3","AutoLockManagers":true,"Availability":"drain",
                "Spec":{"Labels":null,"Raft":{"SnapshotInterval":42}},"DefaultAddrPool":null}"#,
        )
        .unwrap();
        let req = init_request(&json).unwrap();
        assert_eq!(req.listen_addr, "10.1.2.3:2377");
        assert!(req.spec.auto_lock_managers);
        assert_eq!(req.spec.raft.snapshot_interval, 42);
        assert_eq!(req.availability, Some(Availability::Drain));
    }

    #[test]
    fn init_refusals() {
        let named = model::InitRequest {
            spec: model::SwarmSpec {
                name: "prod".into(),
                ..Default::default()
            },
            ..Default::default()
        };
        assert_eq!(
            init_request(&named).unwrap_err().to_string(),
            r#"swarm spec must be named "default""#
        );
        let bad = model::InitRequest {
            availability: "sleepy".into(),
            ..Default::default()
        };
        assert_eq!(
            init_request(&bad).unwrap_err().to_string(),
            r#"invalid Availability: "sleepy""#
        );
    }

    #[test]
    fn join_needs_a_remote() {
        let none = model::JoinRequest {
            join_token: "t".into(),
            ..Default::default()
        };
        assert_eq!(
            join_request(&none).unwrap_err().to_string(),
            "at least 1 RemoteAddr is required to join"
        );
        let one = model::JoinRequest {
            remote_addrs: vec!["10.0.0.1".into()],
            ..Default::default()
        };
        let req = join_request(&one).unwrap();
        assert_eq!(req.remote_addrs, vec!["10.0.0.1:2377"]);
        assert_eq!(req.listen_addr, "0.0.0.0:2377");
        let empty = model::JoinRequest {
            remote_addrs: vec![String::new()],
            ..Default::default()
        };
        assert!(join_request(&empty).is_err());
    }
}
