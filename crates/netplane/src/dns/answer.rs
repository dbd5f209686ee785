//! One query in, one decision out: an answer from the records, a refusal, or "forward it".
//! Pure: the socket loops in `server` call it with the bytes they read and the asker's address.

use std::net::Ipv4Addr;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, PTR};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

use super::records::{Directory, Found};

/// TTL of every answer: zero, so an answer changes as soon as the records do (a scale or a
/// failure) even behind a caching stub.
const TTL: u32 = 0;

/// The largest UDP answer offered to an EDNS client (the DNS flag day's figure: no fragments).
pub(crate) const EDNS_PAYLOAD: u16 = 1232;

/// The classic UDP answer limit without EDNS.
const PLAIN_UDP: usize = 512;

/// How the query came, which bounds the answer's size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Transport {
    /// A datagram: answers past the client's limit are truncated (TC) so it retries over TCP.
    Udp,
    /// A TCP stream: up to 65535 bytes.
    Tcp,
}

/// What to do with one query.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Send these bytes back.
    Reply(Vec<u8>),
    /// Not a name of the asker's networks: send the query as it is to the upstream resolvers.
    Forward {
        /// The query's ID, which the upstream's answer must carry.
        id: u16,
    },
    /// Nothing to send (not a DNS query, or a response sent to us): answering could feed a loop.
    Ignore,
}

/// Decides what the resolver of `network` does with `packet` from `source`; a name with several
/// addresses lists them rotated by `rotation` (the caller's query count), so clients that take
/// the first address spread over all of them, as dockerd's shuffle does.
pub(crate) fn answer(
    directory: &Directory,
    network: &str,
    source: Ipv4Addr,
    packet: &[u8],
    forwarding: bool,
    transport: Transport,
    rotation: usize,
) -> Outcome {
    let query = match Message::from_vec(packet) {
        Ok(query) => query,
        Err(_) => return format_error(packet),
    };
    if query.metadata.message_type != MessageType::Query {
        return Outcome::Ignore;
    }
    let id = query.metadata.id;
    let mut response = Message::response(id, query.metadata.op_code);
    response.metadata.recursion_desired = query.metadata.recursion_desired;
    response.metadata.recursion_available = true;
    response.add_queries(query.queries.iter().cloned());
    if query.edns.is_some() {
        let mut edns = Edns::new();
        edns.set_max_payload(EDNS_PAYLOAD);
        response.set_edns(edns);
    }
    let limit = match transport {
        Transport::Tcp => usize::from(u16::MAX),
        Transport::Udp => query.edns.as_ref().map_or(PLAIN_UDP, |edns| {
            usize::from(edns.max_payload().clamp(512, EDNS_PAYLOAD))
        }),
    };
    let code = decide(
        directory,
        network,
        source,
        &query,
        forwarding,
        rotation,
        &mut response,
    );
    match code {
        Decision::Forward => Outcome::Forward { id },
        Decision::Code(code) => {
            response.metadata.response_code = code;
            encode(&response, limit)
        }
    }
}

enum Decision {
    Forward,
    Code(ResponseCode),
}

fn decide(
    directory: &Directory,
    network: &str,
    source: Ipv4Addr,
    query: &Message,
    forwarding: bool,
    rotation: usize,
    response: &mut Message,
) -> Decision {
    if query.metadata.op_code != OpCode::Query {
        return Decision::Code(ResponseCode::NotImp);
    }
    let [question] = query.queries.as_slice() else {
        return Decision::Code(ResponseCode::FormErr);
    };
    // A source that is no task of this network learns nothing, not even by forwarding.
    if !directory.knows(network, source) {
        return Decision::Code(ResponseCode::Refused);
    }
    let name = question.name();
    if question.query_class() != DNSClass::IN {
        return unknown(forwarding);
    }
    if question.query_type() == RecordType::PTR {
        return match reverse_address(name).and_then(|ip| directory.reverse(network, source, ip)) {
            Some(target) => match Name::from_ascii(format!("{target}.")) {
                Ok(target) => {
                    response.add_answer(Record::from_rdata(name.clone(), TTL, RData::PTR(PTR(target))));
                    Decision::Code(ResponseCode::NoError)
                }
                Err(_) => Decision::Code(ResponseCode::ServFail),
            },
            None => unknown(forwarding),
        };
    }
    match directory.lookup(network, source, &name.to_ascii()) {
        Found::Stranger => Decision::Code(ResponseCode::Refused),
        Found::Unknown => unknown(forwarding),
        Found::Addresses(mut addresses) => {
            if !addresses.is_empty() {
                let by = rotation % addresses.len();
                addresses.rotate_left(by);
            }
            // The records hold IPv4 only: AAAA and every other type of a known name get an empty
            // NOERROR, so the client does not go looking elsewhere.
            if question.query_type() == RecordType::A {
                for address in addresses {
                    response.add_answer(Record::from_rdata(name.clone(), TTL, RData::A(A(address))));
                }
            }
            Decision::Code(ResponseCode::NoError)
        }
    }
}

/// A name not in the asker's networks: forwarded, or on an internal network SERVFAIL (what
/// dockerd's embedded resolver answers when it may not forward).
fn unknown(forwarding: bool) -> Decision {
    if forwarding {
        Decision::Forward
    } else {
        Decision::Code(ResponseCode::ServFail)
    }
}

/// The IPv4 address of an `in-addr.arpa` name with all four labels.
fn reverse_address(name: &Name) -> Option<Ipv4Addr> {
    match name.parse_arpa_name().ok()? {
        ipnet::IpNet::V4(net) if net.prefix_len() == 32 => Some(net.addr()),
        _ => None,
    }
}

fn encode(response: &Message, limit: usize) -> Outcome {
    match response.to_vec() {
        Ok(bytes) if bytes.len() <= limit => Outcome::Reply(bytes),
        // Too big for this transport: the question alone, flagged truncated, sends the client to TCP.
        Ok(_) => response
            .truncate()
            .to_vec()
            .map_or(Outcome::Ignore, Outcome::Reply),
        Err(_) => Outcome::Ignore,
    }
}

/// SERVFAIL for a query that could not be forwarded (no upstream answered, or too many forwards).
pub(crate) fn server_failure(packet: &[u8]) -> Option<Vec<u8>> {
    let query = Message::from_vec(packet).ok()?;
    let mut response = Message::error_msg(query.metadata.id, query.metadata.op_code, ResponseCode::ServFail);
    response.metadata.recursion_desired = query.metadata.recursion_desired;
    response.metadata.recursion_available = true;
    response.add_queries(query.queries);
    response.to_vec().ok()
}

/// FORMERR for a packet with a query's header that does not parse; anything shorter, or a
/// response, is ignored.
fn format_error(packet: &[u8]) -> Outcome {
    let Some(header) = packet.get(..12) else {
        return Outcome::Ignore;
    };
    if header[2] & 0x80 != 0 {
        return Outcome::Ignore;
    }
    // ID, then QR=1 with the query's opcode kept, RCODE=1 (format error), all counts zero.
    let mut reply = vec![0u8; 12];
    reply[..2].copy_from_slice(&header[..2]);
    reply[2] = 0x80 | (header[2] & 0x78);
    reply[3] = 0x01;
    Outcome::Reply(reply)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::records::{NetworkRecords, ServiceRecord, TaskRecord};
    use hickory_proto::op::Query;

    const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 20);

    fn directory(replicas: u8) -> Directory {
        let mut tasks: Vec<_> = (0..replicas)
            .map(|i| TaskRecord {
                id: format!("w{i}"),
                service: "web".into(),
                name: format!("web.{i}.w{i}"),
                address: Ipv4Addr::new(10, 0, 1, 100 + i),
                listed: true,
                aliases: vec![],
            })
            .collect();
        tasks.push(TaskRecord {
            id: "c".into(),
            service: "client".into(),
            name: "client.1.c".into(),
            address: CLIENT,
            listed: true,
            aliases: vec![],
        });
        Directory::compile(&[NetworkRecords {
            network: "n".into(),
            services: vec![ServiceRecord {
                name: "web".into(),
                aliases: vec![],
                vip: Some(Ipv4Addr::new(10, 0, 1, 2)),
            }],
            tasks,
        }])
    }

    fn query(name: &str, kind: RecordType) -> Vec<u8> {
        let mut message = Message::new(7, MessageType::Query, OpCode::Query);
        message.metadata.recursion_desired = true;
        message.add_query(Query::query(Name::from_ascii(name).expect("name"), kind));
        message.to_vec().expect("encode")
    }

    fn reply(outcome: Outcome) -> Message {
        match outcome {
            Outcome::Reply(bytes) => Message::from_vec(&bytes).expect("a parseable reply"),
            other => panic!("expected a reply, got {other:?}"),
        }
    }

    fn ask(directory: &Directory, source: Ipv4Addr, packet: &[u8], forwarding: bool) -> Outcome {
        answer(directory, "n", source, packet, forwarding, Transport::Udp, 0)
    }

    #[test]
    fn a_aaaa_ptr_and_unknown_names() {
        let directory = directory(2);
        let web = reply(ask(&directory, CLIENT, &query("web.", RecordType::A), true));
        assert_eq!(web.metadata.id, 7);
        assert_eq!(web.answers.len(), 1);
        let aaaa = reply(ask(&directory, CLIENT, &query("web", RecordType::AAAA), true));
        assert_eq!(aaaa.metadata.response_code, ResponseCode::NoError);
        assert!(aaaa.answers.is_empty());
        let ptr = reply(ask(
            &directory,
            CLIENT,
            &query("100.1.0.10.in-addr.arpa.", RecordType::PTR),
            true,
        ));
        assert_eq!(ptr.answers.len(), 1);
        assert_eq!(
            ask(&directory, CLIENT, &query("example.org.", RecordType::A), true),
            Outcome::Forward { id: 7 }
        );
        let internal = reply(ask(
            &directory,
            CLIENT,
            &query("example.org.", RecordType::A),
            false,
        ));
        assert_eq!(internal.metadata.response_code, ResponseCode::ServFail);
        let stranger = reply(ask(
            &directory,
            Ipv4Addr::new(10, 0, 9, 9),
            &query("web", RecordType::A),
            true,
        ));
        assert_eq!(stranger.metadata.response_code, ResponseCode::Refused);
    }

    #[test]
    fn several_addresses_are_rotated_by_the_query_count() {
        let directory = directory(3);
        let first = |rotation| {
            let outcome = answer(
                &directory,
                "n",
                CLIENT,
                &query("tasks.web", RecordType::A),
                true,
                Transport::Udp,
                rotation,
            );
            match &reply(outcome).answers[0].data {
                RData::A(A(ip)) => *ip,
                other => panic!("not an A record: {other:?}"),
            }
        };
        let firsts: std::collections::BTreeSet<_> = (0..3).map(first).collect();
        assert_eq!(firsts.len(), 3, "each task comes first once in 3 queries");
    }

    #[test]
    fn big_answers_are_truncated_over_udp_and_whole_over_tcp() {
        let directory = directory(100);
        let udp = reply(ask(&directory, CLIENT, &query("tasks.web", RecordType::A), true));
        assert!(udp.metadata.truncation);
        assert!(udp.answers.is_empty());
        let tcp = reply(answer(
            &directory,
            "n",
            CLIENT,
            &query("tasks.web", RecordType::A),
            true,
            Transport::Tcp,
            0,
        ));
        assert!(!tcp.metadata.truncation);
        assert_eq!(tcp.answers.len(), 100);
    }

    #[test]
    fn malformed_packets_get_formerr_or_nothing() {
        let directory = directory(1);
        assert_eq!(ask(&directory, CLIENT, b"", true), Outcome::Ignore);
        assert_eq!(ask(&directory, CLIENT, &[0xff; 5], true), Outcome::Ignore);
        // A header claiming 1000 questions and nothing after it.
        let mut lying = vec![0x12, 0x34, 0x01, 0x00, 0x03, 0xe8, 0, 0, 0, 0, 0, 0];
        let formerr = reply(ask(&directory, CLIENT, &lying, true));
        assert_eq!(formerr.metadata.id, 0x1234);
        assert_eq!(formerr.metadata.response_code, ResponseCode::FormErr);
        // A response sent to the resolver is not answered.
        lying[2] |= 0x80;
        assert_eq!(ask(&directory, CLIENT, &lying, true), Outcome::Ignore);
        // A compression pointer that points at itself.
        let mut looped = query("web", RecordType::A);
        looped.truncate(12);
        looped.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1]);
        assert!(matches!(
            ask(&directory, CLIENT, &looped, true),
            Outcome::Reply(_)
        ));
        // Every single-byte corruption of a good query: no panic.
        let good = query("tasks.web", RecordType::A);
        for at in 0..good.len() {
            for value in [0u8, 0x3f, 0xc0, 0xff] {
                let mut bad = good.clone();
                bad[at] = value;
                let _ = ask(&directory, CLIENT, &bad, true);
            }
        }
    }
}
