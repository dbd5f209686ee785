//! Every cluster RPC bound to its request and response types, in one place.
//!
//! ```text
//!  client: pool.call::<Heartbeat>(addr, &HeartbeatRequest {..}) ──► HeartbeatResponse
//!                     │ encode(Request)              decode(Response) ▲
//!                     ▼                                                │
//!  wire:   gRPC `/shoal.v1.Dispatcher/Heartbeat`, body = Msg { postcard bytes }
//!                     │                                                ▲
//!  server: Heartbeat::request(&req)? ──► handler ──► Heartbeat::reply(&HeartbeatResponse {..})
//! ```
//!
//! The proto keeps one opaque `Msg` envelope (so the bytes on the wire are what they were
//! before the types were bound here); the Rust types are attached to each path by a [`Call`]
//! impl, so sending or answering the wrong type is a compile error. `tests::every_rpc_of_the_proto_is_bound`
//! checks the paths and stream shapes against `proto/shoal.proto`.

use serde::Serialize;
use serde::de::DeserializeOwned;
use store::Txn;
use store::consensus::TypeConfig;
use store::consensus::wire::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, TransferLeaderRequest,
    TransferLeaderResponse, VoteRequest, VoteResponse,
};

use crate::codec::{decode, encode};
use crate::messages::*;
use crate::pb::Msg;

/// Whether requests and responses are single messages or streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Shape {
    /// One request, one response.
    Unary,
    /// One request, a stream of responses.
    ServerStreaming,
    /// A stream of requests, one response.
    ClientStreaming,
}

/// One RPC: its gRPC path and the Rust types its `Msg` bodies carry. For a streamed side,
/// the type is that of each message of the stream.
pub trait Call {
    /// The gRPC path, `/shoal.v1.<Service>/<Method>`.
    const PATH: &'static str;
    /// Whether either side streams.
    const SHAPE: Shape;
    /// What the caller sends (each message, when streamed).
    type Request: Serialize + DeserializeOwned + Send + Sync + 'static;
    /// What the callee answers (each message, when streamed).
    type Response: Serialize + DeserializeOwned + Send + Sync + 'static;

    /// Server side: the request body; a malformed one is `InvalidArgument`, never a panic.
    fn request(req: &tonic::Request<Msg>) -> Result<Self::Request, tonic::Status> {
        decode(req.get_ref())
    }

    /// Server side: one message of a streamed request.
    fn request_item(msg: &Msg) -> Result<Self::Request, tonic::Status> {
        decode(msg)
    }

    /// Server side: the reply to a unary or client-streaming call.
    fn reply(value: &Self::Response) -> Result<tonic::Response<Msg>, tonic::Status> {
        Ok(tonic::Response::new(encode(value)))
    }

    /// Server side: one message of a streamed response.
    fn response_item(value: &Self::Response) -> Msg {
        encode(value)
    }
}

/// A call with one request and one response.
pub trait Unary: Call {}
/// A call with one request and a stream of responses.
pub trait ServerStreaming: Call {}
/// A call with a stream of requests and one response.
pub trait ClientStreaming: Call {}

/// Declares one call: its marker type, shape, path and types.
macro_rules! calls {
    ($( $(#[$doc:meta])* $shape:ident $name:ident = $path:literal : $req:ty => $resp:ty; )*) => {
        $(
            $(#[$doc])*
            #[derive(Debug, Clone, Copy)]
            pub enum $name {}
            impl Call for $name {
                const PATH: &'static str = $path;
                const SHAPE: Shape = Shape::$shape;
                type Request = $req;
                type Response = $resp;
            }
            impl $shape for $name {}
        )*
        /// Every call's path and shape, for checks against the proto.
        pub const ALL: &[(&str, Shape)] = &[$(($path, Shape::$shape)),*];
    };
}

/// A Raft reply: openraft's answer, or its error as text (openraft's errors do not all
/// cross a process boundary as values).
pub type RaftReply<T> = Result<T, String>;

calls! {
    /// `Raft.AppendEntries`: log replication and heartbeats.
    Unary AppendEntries = "/shoal.v1.Raft/AppendEntries":
        AppendEntriesRequest<TypeConfig> => RaftReply<AppendEntriesResponse<TypeConfig>>;
    /// `Raft.Vote`: an election.
    Unary Vote = "/shoal.v1.Raft/Vote": VoteRequest<TypeConfig> => RaftReply<VoteResponse<TypeConfig>>;
    /// `Raft.PreVote`: would the callee vote (no term change).
    Unary PreVote = "/shoal.v1.Raft/PreVote": VoteRequest<TypeConfig> => RaftReply<VoteResponse<TypeConfig>>;
    /// `Raft.InstallSnapshot`: a snapshot in chunks, the first with the header.
    ClientStreaming InstallSnapshot = "/shoal.v1.Raft/InstallSnapshot":
        SnapshotChunk => RaftReply<SnapshotResponse<TypeConfig>>;
    /// `Raft.TransferLeader`: the leader hands over.
    Unary TransferLeader = "/shoal.v1.Raft/TransferLeader":
        TransferLeaderRequest<TypeConfig> => RaftReply<TransferLeaderResponse<TypeConfig>>;

    /// `Ca.GetRootCa`: the root certificate (no client certificate needed).
    Unary GetRootCa = "/shoal.v1.Ca/GetRootCa": () => RootCaResponse;
    /// `Ca.IssueNodeCertificate`: a joiner's token and CSR for a certificate.
    Unary IssueNodeCertificate = "/shoal.v1.Ca/IssueNodeCertificate": IssueRequest => IssueResponse;
    /// `Ca.RenewNodeCertificate`: a certificate for the node's current desired role.
    Unary RenewNodeCertificate = "/shoal.v1.Ca/RenewNodeCertificate": RenewRequest => IssueResponse;

    /// `Control.Propose`: a write forwarded to the leader.
    Unary Propose = "/shoal.v1.Control/Propose": Txn => ProposeResponse;
    /// `Control.JoinRaft`: add a manager to the Raft group.
    Unary JoinRaft = "/shoal.v1.Control/JoinRaft": JoinRaftRequest => JoinRaftResponse;
    /// `Control.ReadIndex`: the leader's applied index, for fresh reads.
    Unary ReadIndex = "/shoal.v1.Control/ReadIndex": () => u64;
    /// `Control.ReadState`: the leader's state encoded as in snapshots (for a stopped replica).
    Unary ReadState = "/shoal.v1.Control/ReadState": () => Vec<u8>;
    /// `Control.RaftMembers`: node IDs in the callee's Raft membership.
    Unary RaftMembers = "/shoal.v1.Control/RaftMembers": () => Vec<String>;
    /// `Control.SubscribeLogs`: task logs through the leader's broker.
    ServerStreaming SubscribeLogs = "/shoal.v1.Control/SubscribeLogs": LogRequest => LogBatch;

    /// `Dispatcher.Session`: a node's session, one message per change of its view.
    ServerStreaming Session = "/shoal.v1.Dispatcher/Session": SessionRequest => SessionMessage;
    /// `Dispatcher.Heartbeat`: the node is alive.
    Unary Heartbeat = "/shoal.v1.Dispatcher/Heartbeat": HeartbeatRequest => HeartbeatResponse;
    /// `Dispatcher.Assignments`: the node's tasks, the full set first, then changes.
    ServerStreaming Assignments = "/shoal.v1.Dispatcher/Assignments": AssignmentsRequest => AssignmentsMessage;
    /// `Dispatcher.UpdateTaskStatus`: observed task states.
    Unary UpdateTaskStatus = "/shoal.v1.Dispatcher/UpdateTaskStatus": TaskStatusBatch => ();
    /// `Dispatcher.PublishLogs`: log lines for the node's subscriptions.
    ClientStreaming PublishLogs = "/shoal.v1.Dispatcher/PublishLogs": LogBatch => ();
    /// `Dispatcher.Leave`: the node leaves the swarm.
    Unary Leave = "/shoal.v1.Dispatcher/Leave": LeaveRequest => ();
    /// `Dispatcher.AttachNetwork`: an attachment task for one of the caller's containers.
    Unary AttachNetwork = "/shoal.v1.Dispatcher/AttachNetwork": AttachNetworkRequest => AttachNetworkResponse;
    /// `Dispatcher.DetachNetwork`: the caller gives one of its attachment tasks up.
    Unary DetachNetwork = "/shoal.v1.Dispatcher/DetachNetwork": DetachNetworkRequest => ();
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// (path, shape) of every rpc line in the proto.
    fn proto_calls() -> BTreeSet<(String, Shape)> {
        let proto = include_str!("../proto/shoal.proto");
        let mut service = "";
        let mut out = BTreeSet::new();
        for line in proto.lines().map(str::trim) {
            if let Some(rest) = line.strip_prefix("service ") {
                service = rest.trim_end_matches('{').trim();
            } else if let Some(rest) = line.strip_prefix("rpc ") {
                let (name, rest) = rest.split_once('(').unwrap();
                let (input, rest) = rest.split_once(')').unwrap();
                let output = rest.split_once('(').unwrap().1.split_once(')').unwrap().0;
                let shape = match (input.starts_with("stream "), output.starts_with("stream ")) {
                    (false, false) => Shape::Unary,
                    (false, true) => Shape::ServerStreaming,
                    (true, false) => Shape::ClientStreaming,
                    (true, true) => panic!("bidirectional streams are not bound: {line}"),
                };
                out.insert((format!("/shoal.v1.{service}/{}", name.trim()), shape));
            }
        }
        out
    }

    #[test]
    fn every_rpc_of_the_proto_is_bound() {
        let bound: BTreeSet<(String, Shape)> = ALL.iter().map(|(p, s)| (p.to_string(), *s)).collect();
        assert_eq!(bound.len(), ALL.len(), "a path is bound twice");
        assert_eq!(bound, proto_calls());
    }

    /// The bytes on the wire are plain postcard of the bound types, as before the binding, so
    /// nodes of the previous version still understand these.
    #[test]
    fn bodies_are_the_postcard_bytes_of_the_bound_types() {
        let reply = Heartbeat::reply(&HeartbeatResponse { period_ms: 5000 }).unwrap();
        assert_eq!(reply.get_ref().body, vec![0x88, 0x27]);
        assert_eq!(
            Heartbeat::response_item(&HeartbeatResponse { period_ms: 1 }).body,
            vec![1]
        );
        // Unit requests are empty bodies; an absent key is one byte.
        assert!(encode(&()).body.is_empty());
        assert_eq!(encode(&HeartbeatRequest { tunnel_key: None }).body, vec![0]);
        let req = tonic::Request::new(encode(&RenewRequest { csr_pem: "ab".into() }));
        assert_eq!(req.get_ref().body, vec![2, b'a', b'b']);
        assert_eq!(RenewNodeCertificate::request(&req).unwrap().csr_pem, "ab");
        let index: Msg = encode(&300u64);
        assert_eq!(index.body, vec![0xac, 0x02]);
    }

    #[test]
    fn a_malformed_body_is_invalid_argument() {
        let req = tonic::Request::new(Msg { body: vec![0xff] });
        let err = IssueNodeCertificate::request(&req).unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
        let err = PublishLogs::request_item(&Msg { body: vec![0xff] }).unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
    }
}
