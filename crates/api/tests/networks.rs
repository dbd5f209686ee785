//! The networks routes in process over the fake backend (which runs the real network rules):
//! Docker's shapes, filters, name/ID/prefix resolution, the predefined local networks, and
//! the statuses dockerd answers with.

#![allow(clippy::unwrap_used)]

mod common;
mod support;

use common::FakeBackend;
use http::{Method, StatusCode};
use serde_json::json;
use support::router::{get, post, send};

#[tokio::test]
async fn networks_are_created_listed_inspected_and_removed_in_dockers_shapes() {
    let b = FakeBackend::new();
    let created = post(
        &b,
        "/v1.45/networks/create",
        r#"{"Name":"front","Driver":"overlay","CheckDuplicate":true,"Attachable":true,
            "IPAM":{"Driver":"default","Config":[{"Subnet":"10.20.0.0/24","Gateway":"10.20.0.254"}]},
            "Labels":{"tier":"web"},"Options":{"com.docker.network.driver.mtu":"1450"}}"#,
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    let id = created.json()["Id"].as_str().unwrap().to_string();
    assert_eq!(created.json()["Warning"], "");

    let n = get(&b, "/networks/front").await;
    assert_eq!(n.status, StatusCode::OK, "{}", n.text());
    let n = n.json();
    assert_eq!(n["Id"], id.as_str());
    assert_eq!(n["Scope"], "swarm");
    assert_eq!(n["Attachable"], true);
    assert_eq!(
        n["IPAM"],
        json!({"Driver": "default", "Config": [{"Subnet": "10.20.0.0/24", "Gateway": "10.20.0.254"}], "Options": {}})
    );
    assert_eq!(n["Options"]["com.docker.network.driver.mtu"], "1450");
    assert_eq!(
        n["Options"]["com.docker.network.driver.overlay.vxlanid_list"],
        // The cluster's first VNI (`ipam::vni_base`: clusters sharing a host stay apart).
        rules::allocator::ipam::vni_base(Some(common::CLUSTER_ID)).to_string()
    );
    assert_eq!(
        get(&b, &format!("/networks/{}", &id[..5])).await.json()["Name"],
        "front"
    );
    assert_eq!(get(&b, "/networks/bridge").await.json()["Scope"], "local");
    assert_eq!(
        get(&b, "/networks/bridge?scope=swarm").await.status,
        StatusCode::NOT_FOUND
    );
    let missing = get(&b, "/networks/nope").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.message(), "network nope not found");

    let names = |list: serde_json::Value| -> Vec<String> {
        list.as_array()
            .unwrap()
            .iter()
            .map(|n| n["Name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        names(get(&b, "/networks").await.json()),
        ["bridge", "host", "none", "front"]
    );
    let by_driver = get(
        &b,
        "/networks?filters=%7B%22driver%22%3A%7B%22overlay%22%3Atrue%7D%7D",
    )
    .await;
    assert_eq!(names(by_driver.json()), ["front"]);
    let bad = get(&b, "/networks?filters=%7B%22type%22%3A%7B%22x%22%3Atrue%7D%7D").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);

    let dup = post(&b, "/networks/create", r#"{"Name":"front","Driver":"overlay"}"#).await;
    assert_eq!(dup.status, StatusCode::CONFLICT);
    let bridge = post(&b, "/networks/create", r#"{"Name":"b","Driver":"bridge"}"#).await;
    assert_eq!(bridge.status, StatusCode::BAD_REQUEST);
    assert!(
        bridge.message().contains("overlay networks only"),
        "{}",
        bridge.message()
    );
    let predefined = post(&b, "/networks/create", r#"{"Name":"host","Driver":"overlay"}"#).await;
    assert_eq!(predefined.status, StatusCode::FORBIDDEN);
    let overlap = post(
        &b,
        "/networks/create",
        r#"{"Name":"o","Driver":"overlay","IPAM":{"Config":[{"Subnet":"10.20.0.128/25"}]}}"#,
    )
    .await;
    assert_eq!(overlap.status, StatusCode::FORBIDDEN, "{}", overlap.text());
    let v6 = post(
        &b,
        "/networks/create",
        r#"{"Name":"six","Driver":"overlay","EnableIPv6":true}"#,
    )
    .await;
    assert_eq!(v6.status, StatusCode::BAD_REQUEST);

    let connect = post(&b, "/networks/front/connect", r#"{"Container":"c1"}"#).await;
    assert_eq!(connect.status, StatusCode::NOT_IMPLEMENTED);
    let rm_bridge = send(&b, Method::DELETE, "/networks/bridge", None).await;
    assert_eq!(rm_bridge.status, StatusCode::FORBIDDEN);
    let rm = send(&b, Method::DELETE, "/networks/front", None).await;
    assert_eq!(rm.status, StatusCode::NO_CONTENT, "{}", rm.text());
    assert_eq!(
        names(get(&b, "/networks").await.json()),
        ["bridge", "host", "none"]
    );
}

#[tokio::test]
async fn prune_removes_unused_networks_with_matching_labels() {
    let b = FakeBackend::new();
    for body in [
        r#"{"Name":"keep","Driver":"overlay","Labels":{"keep":"1"}}"#,
        r#"{"Name":"spare","Driver":"overlay"}"#,
    ] {
        assert_eq!(
            post(&b, "/networks/create", body).await.status,
            StatusCode::CREATED
        );
    }
    let pruned = post(
        &b,
        "/networks/prune?filters=%7B%22label%21%22%3A%7B%22keep%22%3Atrue%7D%7D",
        "",
    )
    .await;
    assert_eq!(pruned.status, StatusCode::OK, "{}", pruned.text());
    assert_eq!(pruned.json(), json!({"NetworksDeleted": ["spare"]}));
    let until = post(
        &b,
        "/networks/prune?filters=%7B%22until%22%3A%7B%221h%22%3Atrue%7D%7D",
        "",
    )
    .await;
    assert_eq!(until.status, StatusCode::BAD_REQUEST);
}
