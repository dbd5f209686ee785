//! Every request body a manager decodes from a node or a peer, fed damaged bytes: valid
//! encodings with bytes flipped, cut short, or with huge length prefixes spliced in. The
//! answer is the value or `InvalidArgument` — never a panic, never an allocation sized by
//! the claimed length.

#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use rpc::Call;
use rpc::calls::{
    Heartbeat, InstallSnapshot, IssueNodeCertificate, JoinRaft, Leave, Propose, PublishLogs,
    RenewNodeCertificate, Session, SubscribeLogs, UpdateTaskStatus,
};
use rpc::messages::{
    HeartbeatRequest, IssueRequest, JoinRaftRequest, LeaveRequest, LogBatch, LogRecord, LogRequest,
    LogSelection, RenewRequest, SessionRequest, SnapshotChunk, TaskStatusBatch,
};
use rpc::pb::Msg;
use store::{Op, Txn};
use types::{Object, TaskStatus, Timestamp};

/// Decodes bytes as one call's request.
type Decoder = fn(&Msg) -> Result<(), tonic::Status>;

fn decoder<C: Call>() -> Decoder {
    |msg| C::request_item(msg).map(drop)
}

/// A request's body as the client sends it (the bound type's postcard bytes).
fn encoded<C: Call>(value: &C::Request) -> Vec<u8> {
    postcard::to_stdvec(value).unwrap()
}

fn seeds() -> Vec<(&'static str, Vec<u8>, Decoder)> {
    let node = types::testing::node("n1").build();
    let task = types::testing::task("t1").service("s1", "web").node("n1").build();
    vec![
        (
            "issue",
            encoded::<IssueNodeCertificate>(&IssueRequest {
                token: "SWMTKN-1-x".into(),
                csr_pem: "-----BEGIN CERTIFICATE REQUEST-----".into(),
                description: node.description.clone(),
                advertise_addr: "10.0.0.1:2377".into(),
                availability: None,
            }),
            decoder::<IssueNodeCertificate>(),
        ),
        (
            "renew",
            encoded::<RenewNodeCertificate>(&RenewRequest {
                csr_pem: "csr".into(),
            }),
            decoder::<RenewNodeCertificate>(),
        ),
        (
            "propose",
            encoded::<Propose>(&Txn {
                id: 7,
                now: Timestamp(1),
                ops: vec![
                    Op::Create(Object::Node(node.clone())),
                    Op::Create(Object::Task(task)),
                ],
            }),
            decoder::<Propose>(),
        ),
        (
            "join",
            encoded::<JoinRaft>(&JoinRaftRequest {
                node_id: "n1".into(),
                raft_id: 3,
                addr: "10.0.0.1:2377".into(),
            }),
            decoder::<JoinRaft>(),
        ),
        (
            "session",
            encoded::<Session>(&SessionRequest {
                description: node.description.clone(),
                tunnel_key: Some([7; 32]),
            }),
            decoder::<Session>(),
        ),
        (
            "heartbeat",
            encoded::<Heartbeat>(&HeartbeatRequest {
                tunnel_key: Some([1; 32]),
            }),
            decoder::<Heartbeat>(),
        ),
        (
            "status",
            encoded::<UpdateTaskStatus>(&TaskStatusBatch {
                updates: vec![
                    ("t1".into(), TaskStatus::default()),
                    ("t2".into(), TaskStatus::default()),
                ],
            }),
            decoder::<UpdateTaskStatus>(),
        ),
        (
            "logs",
            encoded::<PublishLogs>(&LogBatch {
                subscription: 1,
                records: vec![LogRecord {
                    task_id: "t1".into(),
                    stderr: true,
                    timestamp: Timestamp(1),
                    line: b"hello".to_vec(),
                }],
                done: false,
            }),
            decoder::<PublishLogs>(),
        ),
        (
            "subscribe",
            encoded::<SubscribeLogs>(&LogRequest {
                tasks_by_node: vec![("n1".into(), vec!["t1".into()])],
                options: LogSelection::default(),
            }),
            decoder::<SubscribeLogs>(),
        ),
        (
            "snapshot",
            encoded::<InstallSnapshot>(&SnapshotChunk {
                header: None,
                data: vec![1, 2, 3],
            }),
            decoder::<InstallSnapshot>(),
        ),
        ("leave", encoded::<Leave>(&LeaveRequest {}), decoder::<Leave>()),
    ]
}

/// A varint claiming `n`.
fn varint(mut n: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

#[derive(Debug, Clone)]
enum Damage {
    Flip { at: usize, byte: u8 },
    Truncate { at: usize },
    Splice { at: usize, claim: u64 },
    Append { bytes: Vec<u8> },
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Damage::Flip { at, byte }),
        any::<usize>().prop_map(|at| Damage::Truncate { at }),
        (
            any::<usize>(),
            prop_oneof![
                Just(u64::MAX),
                Just(u32::MAX as u64),
                Just(1u64 << 40),
                any::<u64>()
            ]
        )
            .prop_map(|(at, claim)| Damage::Splice { at, claim }),
        prop::collection::vec(any::<u8>(), 0..16).prop_map(|bytes| Damage::Append { bytes }),
    ]
}

fn apply(body: &mut Vec<u8>, damage: &Damage) {
    let at = |i: usize, len: usize| if len == 0 { 0 } else { i % (len + 1) };
    match damage {
        Damage::Flip { at: i, byte } if !body.is_empty() => {
            let i = i % body.len();
            body[i] ^= byte | 1;
        }
        Damage::Flip { .. } => {}
        Damage::Truncate { at: i } => body.truncate(at(*i, body.len())),
        Damage::Splice { at: i, claim } => {
            let i = at(*i, body.len());
            let tail = body.split_off(i);
            body.extend(varint(*claim));
            body.extend(tail);
        }
        Damage::Append { bytes } => body.extend_from_slice(bytes),
    }
}

#[test]
fn the_seeds_decode() {
    for (what, body, decode) in seeds() {
        decode(&Msg { body }).unwrap_or_else(|e| panic!("{what}: {e}"));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn damaged_bodies_decode_or_are_invalid_argument(
        which in any::<usize>(),
        damages in prop::collection::vec(damage(), 1..4),
    ) {
        let seeds = seeds();
        let (what, mut body, decode) = seeds[which % seeds.len()].clone();
        for d in &damages {
            apply(&mut body, d);
        }
        if let Err(status) = decode(&Msg { body }) {
            prop_assert_eq!(status.code(), tonic::Code::InvalidArgument, "{}: {}", what, status);
        }
    }

    #[test]
    fn random_bytes_decode_or_are_invalid_argument(
        which in any::<usize>(),
        body in prop::collection::vec(any::<u8>(), 0..256),
    ) {
        let seeds = seeds();
        let (what, _, decode) = &seeds[which % seeds.len()];
        if let Err(status) = decode(&Msg { body }) {
            prop_assert_eq!(status.code(), tonic::Code::InvalidArgument, "{}: {}", what, status);
        }
    }
}
