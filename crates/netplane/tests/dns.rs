//! Service DNS on real overlays: a task asks its network's resolver (on the gateway address, in
//! the overlay namespace) for services, task lists and outside names; the outside is a fake
//! upstream in another test host, so no query leaves the test's namespaces. Needs root.

mod common;

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{network, plane};
use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use netplane::dns::{
    DnsRecords, NetworkRecords, Resolver, ResolverConfig, ServiceRecord, TaskRecord, Upstreams,
};
use netplane::testbed::Testbed;
use netplane::{EndpointSpec, Plane};

/// The one outside name the fake upstream knows, and its (never contacted) address.
const OUTSIDE: &str = "outside.test.";
const OUTSIDE_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 7);

fn io(what: &'static str) -> impl Fn(std::io::Error) -> netplane::Error {
    move |source| netplane::Error::Io { what, source }
}

/// A DNS server in `netns` that answers `OUTSIDE` with `OUTSIDE_IP` and anything else NXDOMAIN.
struct FakeUpstream {
    socket: UdpSocket,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeUpstream {
    async fn start(netns: &Path, address: SocketAddrV4) -> FakeUpstream {
        let socket = netplane::run_in_netns(netns, move || {
            UdpSocket::bind(address).map_err(io("bind the upstream"))
        })
        .await
        .expect("fake upstream binds");
        let serving = socket.try_clone().expect("clone");
        let thread = std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            // Ends when the socket is shut down.
            while let Ok((n, from)) = serving.recv_from(&mut buffer) {
                if n == 0 {
                    return;
                }
                let Ok(query) = Message::from_vec(&buffer[..n]) else {
                    continue;
                };
                let mut reply = Message::response(query.metadata.id, OpCode::Query);
                reply.add_queries(query.queries.clone());
                match query.queries.first() {
                    Some(question) if question.name().to_ascii() == OUTSIDE => {
                        reply.add_answer(Record::from_rdata(
                            question.name().clone(),
                            60,
                            RData::A(A(OUTSIDE_IP)),
                        ));
                    }
                    _ => reply.metadata.response_code = ResponseCode::NXDomain,
                }
                let _ = serving.send_to(&reply.to_vec().expect("encode"), from);
            }
        });
        FakeUpstream {
            socket,
            thread: Some(thread),
        }
    }
}

impl Drop for FakeUpstream {
    fn drop(&mut self) {
        use std::os::fd::AsRawFd;
        let _ = nix::sys::socket::shutdown(self.socket.as_raw_fd(), nix::sys::socket::Shutdown::Both);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn query_bytes(name: &str, kind: RecordType, id: u16) -> Vec<u8> {
    let mut message = Message::new(id, MessageType::Query, OpCode::Query);
    message.metadata.recursion_desired = true;
    message.add_query(Query::query(Name::from_ascii(name).expect("name"), kind));
    message.to_vec().expect("encode")
}

/// One UDP exchange from inside `netns`; `None` on timeout.
fn exchange(socket: &UdpSocket, packet: &[u8]) -> Option<Vec<u8>> {
    socket.send(packet).ok()?;
    let mut buffer = vec![0u8; 65535];
    let n = socket.recv(&mut buffer).ok()?;
    buffer.truncate(n);
    Some(buffer)
}

fn client_socket(server: SocketAddrV4) -> netplane::Result<UdpSocket> {
    let socket = UdpSocket::bind("0.0.0.0:0").map_err(io("client socket"))?;
    socket
        .set_read_timeout(Some(Duration::from_secs(3)))
        .map_err(io("client timeout"))?;
    socket.connect(server).map_err(io("client connect"))?;
    Ok(socket)
}

/// Asks `server` from inside `netns` over UDP.
async fn ask(netns: &Path, server: SocketAddrV4, name: &str, kind: RecordType) -> Message {
    let packet = query_bytes(name, kind, 0x5a5a);
    let reply = netplane::run_in_netns(netns, move || Ok(exchange(&client_socket(server)?, &packet)))
        .await
        .expect("client")
        .unwrap_or_else(|| panic!("no answer to {name} from {server}"));
    let message = Message::from_vec(&reply).expect("parseable answer");
    assert_eq!(message.metadata.id, 0x5a5a);
    message
}

/// Asks `server` from inside `netns` over TCP.
async fn ask_tcp(netns: &Path, server: SocketAddrV4, name: &str) -> Message {
    use std::io::{Read, Write};
    let packet = query_bytes(name, RecordType::A, 0x7777);
    let reply = netplane::run_in_netns(netns, move || {
        let mut stream =
            std::net::TcpStream::connect_timeout(&SocketAddr::V4(server), Duration::from_secs(3))
                .map_err(io("tcp connect"))?;
        stream
            .set_read_timeout(Some(Duration::from_secs(3)))
            .map_err(io("tcp timeout"))?;
        let mut framed = (packet.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(&packet);
        stream.write_all(&framed).map_err(io("tcp write"))?;
        let mut length = [0u8; 2];
        stream.read_exact(&mut length).map_err(io("tcp read"))?;
        let mut reply = vec![0u8; usize::from(u16::from_be_bytes(length))];
        stream.read_exact(&mut reply).map_err(io("tcp read"))?;
        Ok(reply)
    })
    .await
    .expect("TCP exchange");
    Message::from_vec(&reply).expect("parseable answer")
}

fn addresses(message: &Message) -> Vec<Ipv4Addr> {
    let mut found: Vec<_> = message
        .answers
        .iter()
        .filter_map(|record| match &record.data {
            RData::A(A(ip)) => Some(*ip),
            _ => None,
        })
        .collect();
    found.sort();
    found
}

fn task(id: &str, service: &str, address: Ipv4Addr) -> TaskRecord {
    TaskRecord {
        id: id.into(),
        service: service.into(),
        name: format!("{service}.1.{id}"),
        address,
        listed: true,
        aliases: vec![],
    }
}

/// A task namespace attached to `net` at `address`.
async fn task_netns(
    bed: &Testbed,
    plane: &Plane,
    net: &netplane::NetworkSpec,
    name: &str,
    address: Ipv4Addr,
) -> PathBuf {
    let netns = bed.netns(name).await.expect("task netns");
    let endpoint = EndpointSpec {
        netns: netns.clone(),
        ifname: "eth0".into(),
        address,
    };
    plane.attach(net, &endpoint).await.expect("attach");
    netns
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_resolve_services_task_lists_and_outside_names_on_their_network_only() {
    let bed = Testbed::new("npdns", 2, "192.168.77.0/24".parse().expect("subnet"))
        .await
        .expect("test bed");
    let plane = plane(&bed, "dnsx", 0);
    let front = network(4301, 31, false);
    let back = network(4302, 32, true);
    plane.ensure_network(&front).await.expect("front overlay");
    plane.ensure_network(&back).await.expect("back overlay");
    let ip = |net: u8, last: u8| Ipv4Addr::new(10, 77, net, last);
    let client = task_netns(&bed, &plane, &front, "client", ip(31, 100)).await;
    let lonely = task_netns(&bed, &plane, &back, "lonely", ip(32, 100)).await;
    // A task on both networks: eth0 on front, eth1 on back.
    let both = task_netns(&bed, &plane, &front, "both", ip(31, 101)).await;
    let second = EndpointSpec {
        netns: both.clone(),
        ifname: "eth1".into(),
        address: ip(32, 101),
    };
    plane.attach(&back, &second).await.expect("attach to back");

    // The fake upstream lives on host 1; the resolver forwards from host 0's namespace.
    let upstream_address = SocketAddrV4::new(bed.host(1).address, 53);
    let _upstream = FakeUpstream::start(&bed.host(1).netns, upstream_address).await;
    let upstreams = Upstreams::new(vec![SocketAddr::V4(upstream_address)], bed.host(0).netns.clone());

    let records = DnsRecords::new();
    let web_tasks = [ip(31, 10), ip(31, 11), ip(31, 12)];
    let front_records = |tasks: &[Ipv4Addr]| NetworkRecords {
        network: "front".into(),
        services: vec![ServiceRecord {
            name: "web".into(),
            aliases: vec!["www".into()],
            vip: Some(ip(31, 2)),
        }],
        tasks: tasks
            .iter()
            .enumerate()
            .map(|(i, address)| task(&format!("w{i}"), "web", *address))
            .chain([task("c", "client", ip(31, 100)), task("b", "both", ip(31, 101))])
            .collect(),
    };
    let back_records = NetworkRecords {
        network: "back".into(),
        services: vec![],
        tasks: vec![task("l", "lonely", ip(32, 100)), task("b", "both", ip(32, 101))],
    };
    records.replace(&[front_records(&web_tasks), back_records.clone()]);
    let start =
        |network: &str, net: &netplane::NetworkSpec| ResolverConfig::for_network(&plane, network, net);
    let front_resolver = Resolver::start(start("front", &front), records.clone(), upstreams.clone())
        .await
        .expect("front resolver");
    let back_resolver = Resolver::start(start("back", &back), records.clone(), upstreams.clone())
        .await
        .expect("back resolver");
    let server = front_resolver.address();

    // Services, task lists, task names, aliases; AAAA empty; PTR; TCP.
    assert_eq!(
        addresses(&ask(&client, server, "web", RecordType::A).await),
        [ip(31, 2)]
    );
    assert_eq!(
        addresses(&ask(&client, server, "www.", RecordType::A).await),
        [ip(31, 2)]
    );
    assert_eq!(
        addresses(&ask(&client, server, "tasks.web", RecordType::A).await),
        web_tasks
    );
    assert_eq!(
        addresses(&ask(&client, server, "web.1.w1", RecordType::A).await),
        [ip(31, 11)]
    );
    let aaaa = ask(&client, server, "web", RecordType::AAAA).await;
    assert_eq!(
        (aaaa.metadata.response_code, aaaa.answers.len()),
        (ResponseCode::NoError, 0)
    );
    let ptr = ask(&client, server, "10.31.77.10.in-addr.arpa.", RecordType::PTR).await;
    assert_eq!(ptr.answers.len(), 1, "PTR of a task: {ptr:?}");
    assert_eq!(addresses(&ask_tcp(&client, server, "tasks.web").await), web_tasks);

    // An outside name goes to the upstream (and its NXDOMAIN comes back as it is).
    assert_eq!(
        addresses(&ask(&client, server, OUTSIDE, RecordType::A).await),
        [OUTSIDE_IP]
    );
    let missing = ask(&client, server, "nowhere.test.", RecordType::A).await;
    assert_eq!(missing.metadata.response_code, ResponseCode::NXDomain);

    // The internal network's task: front's names are not its own, and nothing is forwarded.
    let back_server = back_resolver.address();
    for name in ["web", "tasks.web", OUTSIDE] {
        let reply = ask(&lonely, back_server, name, RecordType::A).await;
        assert_eq!(
            reply.metadata.response_code,
            ResponseCode::ServFail,
            "{name} on back: {reply:?}"
        );
        assert!(reply.answers.is_empty());
    }
    assert_eq!(
        addresses(&ask(&lonely, back_server, "lonely.1.l", RecordType::A).await),
        [ip(32, 100)]
    );
    // The same resolver answers the task on both networks with front's names too: what a task
    // sees depends on who asks (its source address), not on which resolver it asked.
    assert_eq!(
        addresses(&ask(&both, back_server, "web", RecordType::A).await),
        [ip(31, 2)]
    );
    assert_eq!(
        addresses(&ask(&both, back_server, "lonely.1.l", RecordType::A).await),
        [ip(32, 100)]
    );

    // A scale to one: the very next answer has one task.
    records.replace(&[front_records(&web_tasks[..1]), back_records]);
    assert_eq!(
        addresses(&ask(&client, server, "tasks.web", RecordType::A).await),
        [ip(31, 10)]
    );

    // The resolver still answers after malformed input on both transports.
    let junk: Vec<Vec<u8>> = vec![
        vec![],
        vec![0xff; 3],
        vec![0; 12],
        vec![0x12, 0x34, 1, 0, 0xff, 0xff],
        vec![0xc0; 600],
    ];
    netplane::run_in_netns(&client, move || {
        let socket = UdpSocket::bind("0.0.0.0:0").map_err(io("junk socket"))?;
        for packet in &junk {
            socket.send_to(packet, server).map_err(io("send junk"))?;
        }
        use std::io::Write;
        let mut stream = std::net::TcpStream::connect(server).map_err(io("junk tcp"))?;
        // A length prefix promising more than is sent, then a close.
        let _ = stream.write_all(&[0xff, 0xff, 1, 2, 3]);
        Ok(())
    })
    .await
    .expect("junk sent");
    assert_eq!(
        addresses(&ask(&client, server, "web", RecordType::A).await),
        [ip(31, 2)]
    );
    assert_eq!(addresses(&ask_tcp(&client, server, "web").await), [ip(31, 2)]);

    // Latency: 1,000 sequential queries answered from the records, then 1,000 forwarded (each
    // forward's socket opened by a thread that enters the test host's namespace).
    report("local", &latencies(&client, server, "tasks.web").await);
    report(
        "forwarded, through another namespace",
        &latencies(&client, server, OUTSIDE).await,
    );
    // Stopped, not dropped: a drop only asks the loops to end, and the next resolver binds the
    // same address at once.
    front_resolver.stop().await;

    // The agent's usual case: the host namespace is the process's own, so forwards open their
    // sockets in place. The upstream is then on this namespace's loopback.
    let loopback_upstream = netplane::run_in_netns(Path::new("/proc/self/ns/net"), || {
        UdpSocket::bind("127.0.0.1:0")
            .map_err(io("bind"))?
            .local_addr()
            .map_err(io("addr"))
    })
    .await
    .expect("a free loopback port");
    let SocketAddr::V4(loopback_upstream) = loopback_upstream else {
        unreachable!("bound IPv4")
    };
    let _upstream_here = FakeUpstream::start(Path::new("/proc/self/ns/net"), loopback_upstream).await;
    let upstreams_here = Upstreams::new(vec![SocketAddr::V4(loopback_upstream)], "/proc/self/ns/net");
    let front_resolver = Resolver::start(start("front", &front), records.clone(), upstreams_here)
        .await
        .expect("front resolver forwarding from this namespace");
    let times = latencies(&client, front_resolver.address(), OUTSIDE).await;
    report("forwarded, host namespace is the agent's", &times);
    front_resolver.stop().await;
    back_resolver.stop().await;
}

/// 1,000 sequential UDP queries for `name` from inside `netns`, each timed, sorted.
async fn latencies(netns: &Path, server: SocketAddrV4, name: &'static str) -> Vec<Duration> {
    let mut times = netplane::run_in_netns(netns, move || {
        let socket = client_socket(server)?;
        let mut times = Vec::with_capacity(1000);
        for id in 0..1000u16 {
            let packet = query_bytes(name, RecordType::A, id);
            #[allow(clippy::disallowed_methods)] // a wall-clock measurement is this loop's point
            let start = std::time::Instant::now();
            exchange(&socket, &packet).ok_or_else(|| io("latency")(std::io::Error::other("no answer")))?;
            times.push(start.elapsed());
        }
        Ok(times)
    })
    .await
    .expect("1,000 queries");
    times.sort();
    times
}

fn report(label: &str, times: &[Duration]) {
    println!(
        "dns latency {label}: p50 {:?} p99 {:?} max {:?} over {} queries",
        percentile(times, 50),
        percentile(times, 99),
        times[times.len() - 1],
        times.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_outside_names_to_a_silent_upstream_gets_servfail_not_a_queue() {
    let bed = Testbed::new("npdnsf", 2, "192.168.77.0/24".parse().expect("subnet"))
        .await
        .expect("test bed");
    let plane = plane(&bed, "dnsf", 0);
    let net = network(4303, 33, false);
    plane.ensure_network(&net).await.expect("overlay");
    let client_ip = Ipv4Addr::new(10, 77, 33, 100);
    let client = task_netns(&bed, &plane, &net, "client", client_ip).await;
    // An upstream that reads nothing and never answers: every forward waits out its timeout.
    let silent_address = SocketAddrV4::new(bed.host(1).address, 53);
    let _silent = netplane::run_in_netns(&bed.host(1).netns, move || {
        UdpSocket::bind(silent_address).map_err(io("bind"))
    })
    .await
    .expect("silent upstream");
    let upstreams = Upstreams::new(vec![SocketAddr::V4(silent_address)], bed.host(0).netns.clone())
        .with_timeout(Duration::from_millis(300));
    let records = DnsRecords::new();
    records.replace(&[NetworkRecords {
        network: "n".into(),
        services: vec![],
        tasks: vec![task("c", "client", client_ip)],
    }]);
    let resolver = Resolver::start(ResolverConfig::for_network(&plane, "n", &net), records, upstreams)
        .await
        .expect("resolver");
    let server = resolver.address();

    // 200 queries at once, more than the 128 forwards allowed in flight: every one is answered
    // SERVFAIL (at once past the limit, after the timeout within it), none is left hanging.
    const FLOOD: u16 = 200;
    let codes = netplane::run_in_netns(&client, move || {
        let socket = client_socket(server)?;
        // Room for every reply: the default buffer holds fewer small datagrams than the flood.
        nix::sys::socket::setsockopt(&socket, nix::sys::socket::sockopt::RcvBufForce, &(1 << 20))
            .map_err(|errno| io("client buffer")(errno.into()))?;
        for id in 0..FLOOD {
            socket
                .send(&query_bytes(&format!("n{id}.outside.test."), RecordType::A, id))
                .map_err(io("send"))?;
        }
        let mut codes = Vec::new();
        let mut buffer = vec![0u8; 4096];
        while codes.len() < usize::from(FLOOD) {
            let Ok(n) = socket.recv(&mut buffer) else {
                eprintln!("answered {} of {FLOOD}", codes.len());
                return Err(io("a query was never answered")(std::io::Error::other("timeout")));
            };
            let reply = Message::from_vec(&buffer[..n])
                .map_err(|_| io("parse")(std::io::Error::other("bad reply")))?;
            codes.push(reply.metadata.response_code);
        }
        Ok(codes)
    })
    .await
    .expect("every query answered");
    assert!(
        codes.iter().all(|code| *code == ResponseCode::ServFail),
        "{codes:?}"
    );

    // And once the flood has drained, the resolver still answers.
    let reply = ask(&client, server, "client.1.c", RecordType::A).await;
    assert_eq!(addresses(&reply), [client_ip]);
}
