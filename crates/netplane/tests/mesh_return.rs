//! Route-return routing in a task's namespace, on the kernel: set, changed (a sandbox gone, one
//! new) and cleared leave exactly the wanted policy rules, routes and nft table. Needs root.

mod common;

use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command;

use common::{network, plane};
use netplane::EndpointSpec;
use netplane::mesh_return::{MeshReturn, RULE_PRIORITY, TABLE, mark_of};
use netplane::testbed::{self, Testbed};

/// The fwmarks of the namespace's rules at the return rules' priority, as `ip -4 rule` shows them.
fn return_marks(netns: &Path) -> Vec<String> {
    let out = Command::new("nsenter")
        .arg(format!("--net={}", netns.display()))
        .args(["ip", "-4", "rule", "show"])
        .output()
        .expect("ip rule");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with(&format!("{RULE_PRIORITY}:")))
        .map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            let at = words.iter().position(|w| *w == "fwmark").expect("fwmark");
            words[at + 1].to_owned()
        })
        .collect()
}

fn hex(address: Ipv4Addr) -> String {
    format!("{:#x}", mark_of(address))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn return_rules_follow_the_sandboxes_and_go_when_cleared() {
    let bed = Testbed::new("npret", 1, "192.168.78.0/24".parse().expect("subnet"))
        .await
        .expect("test bed");
    let plane = plane(&bed, "retx", 0);
    let net = network(4202, 6, false);
    plane.ensure_network(&net).await.expect("overlay");
    let task = bed.netns("task").await.expect("netns");
    let endpoint = EndpointSpec {
        netns: task.clone(),
        ifname: "eth0".into(),
        address: Ipv4Addr::new(10, 77, 6, 10),
    };
    plane.attach(&net, &endpoint).await.expect("attach");
    let (a, b, c) = (
        Ipv4Addr::new(10, 77, 6, 200),
        Ipv4Addr::new(10, 77, 6, 201),
        Ipv4Addr::new(10, 77, 6, 202),
    );
    let mut route = MeshReturn {
        ifname: "eth0".into(),
        subnet: net.subnet,
        sandboxes: vec![a, b],
    };
    plane.set_mesh_return(&task, &route).await.expect("set");
    // Twice: nothing doubles.
    plane.set_mesh_return(&task, &route).await.expect("set again");
    assert_eq!(return_marks(&task), [hex(a), hex(b)]);
    assert!(
        testbed::nft_tables(&task)
            .await
            .expect("tables")
            .contains(&TABLE.to_owned())
    );

    route.sandboxes = vec![b, c];
    plane.set_mesh_return(&task, &route).await.expect("change");
    let mut marks = return_marks(&task);
    marks.sort();
    assert_eq!(marks, [hex(b), hex(c)]);

    route.sandboxes.clear();
    plane.set_mesh_return(&task, &route).await.expect("clear");
    assert!(return_marks(&task).is_empty());
    assert!(
        !testbed::nft_tables(&task)
            .await
            .expect("tables")
            .contains(&TABLE.to_owned())
    );
}
