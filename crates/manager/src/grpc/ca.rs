//! `Ca` service: the root certificate for joiners, node certificates for a valid join
//! token, and renewals (role changes, root CA rotations: `rules::root_rotation`) for nodes
//! that hold a certificate already.

use std::sync::Arc;

use rpc::Call;
use rpc::calls::{GetRootCa, IssueNodeCertificate, RenewNodeCertificate};
use rpc::messages::{IssueResponse, RootCaResponse};
use rpc::pb::Msg;
use store::{Op, RootCaOp, Store};
use tonic::{Request, Status};
use types::{Clock, Node, NodeSpec, NodeStatus, Object, Role};

use super::{Gate, Reply};
use crate::authz::{Denied, Family};
use crate::error::to_status;
use crate::ids::Ids;
use crate::propose::Proposer;

/// Swarm's wording for a missing or wrong token.
pub const INVALID_TOKEN: &str = "A valid join token is necessary to join this cluster";

/// Server side of the certificate authority.
pub struct CaService {
    gate: Gate,
    store: Store,
    clock: Arc<dyn Clock>,
    ids: Arc<Ids>,
    proposer: Proposer,
    /// This manager's connections, whose certificate it presents to external CAs too.
    pool: rpc::Pool,
}

/// Compares without an early exit, so timing does not reveal how much of a secret matched.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl CaService {
    /// Issues certificates from the root CA in `store`, valid from `clock`'s now; new nodes
    /// get IDs from `ids` and are created through `proposer`.
    pub fn new(
        gate: Gate,
        store: Store,
        clock: Arc<dyn Clock>,
        ids: Arc<Ids>,
        proposer: Proposer,
        pool: rpc::Pool,
    ) -> CaService {
        CaService {
            gate,
            store,
            clock,
            ids,
            proposer,
            pool,
        }
    }

    /// Signs a certificate for `node_id` with the root that signs now (a rotation's new
    /// root, the leaf then followed by the cross-signed certificate): here when the cluster
    /// holds that root's key, else by an external CA for it (SwarmKit's external signing),
    /// whose answer is checked before it is used. Returns the chain, the roots the node
    /// should trust, and the op recording a renewal under a new root.
    async fn issue(&self, csr_pem: &str, node_id: &str, role: Role) -> Result<Issued, Status> {
        let view = self.store.view();
        let cluster = view
            .cluster()
            .ok_or_else(|| Status::unavailable("cluster not initialised"))?;
        let signer = rules::root_rotation::signer(view.ca_state(), cluster);
        let now_secs = self.clock.now().0 / 1_000_000_000;
        let validity = cluster.spec.node_cert_expiry / 1_000_000_000;
        let mut cert_pem = if signer.is_external() {
            let signers =
                rules::root_rotation::external_signers(view.ca_state(), cluster, view.external_cas());
            let body = ca::external::sign_request(csr_pem, node_id, role, &cluster.id)
                .map_err(|e| Status::invalid_argument(e.to_string()))?;
            let identity = self.pool.client_certificate();
            let returned = crate::external_ca::sign(&signers, &cluster.root_ca.ca_cert_pem, &identity, &body)
                .await
                .map_err(|e| {
                    Status::unavailable(format!("the external CA did not sign the node certificate: {e}"))
                })?;
            ca::external::check_issued(
                &returned,
                csr_pem,
                &signer.cert_pem,
                node_id,
                role,
                &cluster.id,
                now_secs,
            )
            .map_err(|e| Status::unavailable(format!("the external CA's certificate is refused: {e}")))?
        } else {
            let root = ca::RootCa::from_pem(&signer.cert_pem, &signer.key_pem)
                .map_err(|e| Status::internal(e.to_string()))?;
            root.issue(csr_pem, node_id, role, &cluster.id, now_secs, validity)
                .map_err(|e| Status::invalid_argument(e.to_string()))?
        };
        cert_pem.push_str(&signer.chain_pem);
        let renewed = signer.rotating.then(|| {
            Op::RootCa(RootCaOp::Renewed {
                node_id: node_id.to_string(),
                ca_cert_pem: signer.cert_pem.clone(),
            })
        });
        Ok(Issued {
            cert_pem,
            trust_pem: rules::root_rotation::trust_pem(view.ca_state(), cluster),
            renewed,
        })
    }
}

/// A signed certificate and what goes with it.
struct Issued {
    cert_pem: String,
    trust_pem: String,
    renewed: Option<Op>,
}

#[tonic::async_trait]
impl rpc::pb::ca_server::Ca for CaService {
    async fn get_root_ca(&self, _req: Request<Msg>) -> Reply {
        let view = self.store.view();
        let cluster = view
            .cluster()
            .ok_or_else(|| Status::unavailable("cluster not initialised"))?;
        GetRootCa::reply(&RootCaResponse {
            ca_cert_pem: cluster.root_ca.ca_cert_pem.clone(),
        })
    }

    async fn issue_node_certificate(&self, req: Request<Msg>) -> Reply {
        let remote_ip = rpc::server::remote_addr(&req)
            .map(|a| a.ip().to_string())
            .unwrap_or_default();
        let issue = IssueNodeCertificate::request(&req)?;
        let role = {
            let view = self.store.view();
            let tokens = &view
                .cluster()
                .ok_or_else(|| Status::unavailable("cluster not initialised"))?
                .root_ca
                .join_tokens;
            if same(&issue.token, &tokens.manager) {
                Role::Manager
            } else if same(&issue.token, &tokens.worker) {
                Role::Worker
            } else {
                return Err(Status::invalid_argument(INVALID_TOKEN));
            }
        };
        let node_id = self.ids.new_id();
        let issued = self.issue(&issue.csr_pem, &node_id, role).await?;
        let node = Node {
            id: node_id.clone(),
            meta: Default::default(),
            spec: NodeSpec {
                role,
                availability: issue.availability.unwrap_or_default(),
                ..Default::default()
            },
            description: issue.description,
            status: NodeStatus {
                addr: remote_ip,
                ..Default::default()
            },
            manager_status: None,
            role,
        };
        // The node exists in the store before its certificate is handed out, so its first
        // session is recognised.
        let mut ops = vec![Op::Create(Object::Node(node))];
        ops.extend(issued.renewed);
        self.proposer.propose(ops).await.map_err(to_status)?;
        IssueNodeCertificate::reply(&IssueResponse {
            node_id,
            cluster_id: self.gate.cluster_id().to_string(),
            role,
            cert_pem: issued.cert_pem,
            ca_cert_pem: issued.trust_pem,
        })
    }

    async fn renew_node_certificate(&self, req: Request<Msg>) -> Reply {
        let caller = self.gate.admit(&req, Family::CaRenew)?;
        let renew = RenewNodeCertificate::request(&req)?;
        let node = self
            .store
            .view()
            .node(&caller.node_id)
            .cloned()
            .ok_or_else(|| Status::from(Denied::Removed(caller.node_id.clone())))?;
        // A demoted manager gets its worker certificate only once it is out of Raft: until
        // then its vote may be needed to remove it (two managers), so it keeps serving.
        let raft_member = node.manager_status.is_some() || self.gate.membership(&node.id).raft_member;
        let role = crate::roles::role_now(node.spec.role, raft_member);
        let issued = self.issue(&renew.csr_pem, &node.id, role).await?;
        if let Some(op) = issued.renewed {
            // Recorded before the answer: the rotation ends only after every node has
            // received its certificate from the new root.
            self.proposer.propose(vec![op]).await.map_err(to_status)?;
        }
        if node.role != role && role == Role::Worker {
            // A demoted node's observed role follows its new certificate.
            self.proposer
                .update_node(&node.id, |n| n.role = Role::Worker)
                .await
                .map_err(to_status)?;
        }
        RenewNodeCertificate::reply(&IssueResponse {
            node_id: node.id.clone(),
            cluster_id: self.gate.cluster_id().to_string(),
            role,
            cert_pem: issued.cert_pem,
            ca_cert_pem: issued.trust_pem,
        })
    }
}
