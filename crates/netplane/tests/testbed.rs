//! The multi-host test bed itself: hosts reach each other over the switch, a command run for a
//! host sees that host's network, and dropping the bed removes every namespace it made. Needs root.

mod common;

use std::net::SocketAddrV4;
use std::time::Duration;

use common::{EchoServer, ask};
use netplane::testbed::{self, Testbed};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_reach_each_other_and_the_bed_leaves_nothing_behind() {
    let bed = Testbed::new("nptb", 3, "192.168.77.0/24".parse().expect("subnet"))
        .await
        .expect("test bed");
    let addresses: Vec<_> = bed.hosts().iter().map(|host| host.address).collect();
    assert_eq!(
        addresses,
        ["192.168.77.1", "192.168.77.2", "192.168.77.3"]
            .map(|a| a.parse::<std::net::Ipv4Addr>().expect("ip"))
    );
    let mut servers = Vec::new();
    for host in bed.hosts() {
        servers.push(EchoServer::start(&host.netns, host.address, 7100, &host.name).await);
    }
    for from in bed.hosts() {
        for to in bed.hosts().iter().filter(|to| to.name != from.name) {
            let answer = ask(
                &from.netns,
                SocketAddrV4::new(to.address, 7100),
                Duration::from_secs(3),
            )
            .await
            .unwrap_or_else(|error| panic!("{} -> {}: {error}", from.name, to.name));
            assert_eq!(answer, to.name);
        }
    }
    drop(servers);

    // A program started for host 1 sees host 1's links and address, and nothing of the root's.
    let output = bed
        .command(1, "ip")
        .args(["-o", "-4", "addr", "show"])
        .output()
        .expect("nsenter ip");
    assert!(output.status.success(), "{output:?}");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("192.168.77.2/24"), "{text}");
    assert_eq!(text.lines().count(), 2, "only lo and eth0: {text}");
    assert_eq!(
        testbed::link_names(&bed.host(1).netns).await.expect("links"),
        ["lo", "eth0"]
    );

    let extra = bed.netns("extra").await.expect("extra namespace");
    assert!(extra.exists());
    drop(bed);
    assert!(testbed::netns_names("nptb-").expect("list").is_empty());
}
