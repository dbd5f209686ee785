//! Two planes in one host namespace (two swarms' agents on one host, as in dev mode and the
//! tests that run agents in the root namespace): the kernel keys VXLAN traffic by (port, VNI)
//! there, so they work side by side on different VNIs, a second overlay of a taken VNI is
//! refused by name rather than as "File exists", and neither plane's removal or sweep touches
//! the other's devices. Needs root.

mod common;

use common::{network, plane};
use netplane::Error;
use netplane::testbed::{self, Testbed};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_planes_share_a_host_on_different_vnis_and_a_taken_vni_is_named() {
    let bed = Testbed::new("npsh", 1, "192.168.79.0/24".parse().expect("subnet"))
        .await
        .expect("test bed");
    let first = plane(&bed, "sha", 0);
    let second = plane(&bed, "shb", 0);
    first
        .ensure_network(&network(4601, 31, false))
        .await
        .expect("the first plane's overlay");
    second
        .ensure_network(&network(4602, 32, false))
        .await
        .expect("another VNI beside it");

    let taken = second.ensure_network(&network(4601, 33, false)).await;
    match taken {
        Err(Error::VniTaken {
            vni: 4601,
            port: 4789,
        }) => {}
        other => panic!("a VNI the other plane holds: {other:?}"),
    }
    assert!(
        taken_message(&second)
            .await
            .contains("another swarm's agent on this host"),
        "the refusal says why"
    );

    // The refused plane's removal and sweep leave the other plane's overlay alone.
    second
        .remove_network(4601)
        .await
        .expect("remove what was refused");
    second.sweep(&[4602]).await.expect("sweep");
    let first_links = testbed::link_names(&first.overlay_netns(4601))
        .await
        .expect("first overlay's links");
    assert!(
        first_links.iter().any(|l| l == &netplane::names::vxlan(4601)),
        "the first plane keeps its VXLAN device: {first_links:?}"
    );
    first.remove_network(4601).await.expect("remove");
    second.remove_network(4602).await.expect("remove");
    second
        .ensure_network(&network(4601, 33, false))
        .await
        .expect("the VNI is free once its owner removed it");
    second.remove_network(4601).await.expect("remove");
    assert!(testbed::netns_names("shoal-sha0-").expect("list").is_empty());
    assert!(testbed::netns_names("shoal-shb0-").expect("list").is_empty());
}

async fn taken_message(plane: &netplane::Plane) -> String {
    match plane.ensure_network(&network(4601, 33, false)).await {
        Err(error) => error.to_string(),
        Ok(overlay) => panic!("made {overlay:?}"),
    }
}
