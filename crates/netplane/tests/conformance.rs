//! The `DataPlane` conformance suite against the kernel (root, on a one-host test bed) and
//! against the fake.

mod common;

use netplane::testbed::{self, Testbed};
use netplane::{FakePlane, conformance};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kernel_plane_conforms() {
    let bed = Testbed::new("npcf", 1, "192.168.77.0/24".parse().expect("subnet"))
        .await
        .expect("test bed");
    let plane = common::plane(&bed, "cfx", 0);
    let task = bed.netns("task").await.expect("task netns");
    conformance::run(&plane, 4501, 78, &task).await;
    conformance::run_encrypted(&plane, 4502, 79).await;
    conformance::run_ingress(&plane, 4503, 80).await;
    assert!(testbed::netns_names("shoal-cfx0-").expect("list").is_empty());
    assert!(
        !testbed::link_names(&bed.host(0).netns)
            .await
            .expect("links")
            .iter()
            .any(|name| name.starts_with("shi") || name.starts_with("shoal-")),
        "no host link or VXLAN device is left"
    );
    // The tunnels' drop table went with them.
    assert!(
        testbed::nft_tables(&bed.host(0).netns)
            .await
            .expect("tables")
            .is_empty()
    );
    assert_eq!(testbed::link_names(&task).await.expect("links"), ["lo"]);
    assert!(testbed::nft_tables(&task).await.expect("tables").is_empty());
}

#[tokio::test]
async fn the_fake_plane_conforms() {
    let fake = FakePlane::new("fake", 1500);
    conformance::run(&fake, 4501, 78, std::path::Path::new("/nonexistent/task")).await;
    conformance::run_encrypted(&fake, 4502, 79).await;
    conformance::run_ingress(&fake, 4503, 80).await;
    assert_eq!(fake.state(), netplane::FakeState::default());
    assert_eq!(fake.tunnels(), netplane::FakeTunnels::default());
}
