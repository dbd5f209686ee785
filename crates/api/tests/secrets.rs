//! The secrets and configs routes in process over the fake backend (which runs the real
//! rules): Docker's shapes, filters, the labels-only update, in-use refusals, service
//! references, and a secret's data never coming back out.

#![allow(clippy::unwrap_used)]

mod common;
mod support;

use common::FakeBackend;
use http::{Method, StatusCode};
use serde_json::json;
use support::router::{get, post, send};

/// base64 of "s3cr3t-pa55".
const DATA: &str = "czNjcjN0LXBhNTU=";

fn names(list: serde_json::Value) -> Vec<String> {
    let mut out: Vec<String> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["Spec"]["Name"].as_str().unwrap().to_string())
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn secrets_are_created_listed_inspected_updated_and_removed_without_showing_data() {
    let b = FakeBackend::new();
    let created = post(
        &b,
        "/v1.45/secrets/create",
        &json!({"Name": "db.pw", "Labels": {"env": "prod"}, "Data": DATA}).to_string(),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    let id = created.json()["ID"].as_str().unwrap().to_string();
    post(
        &b,
        "/secrets/create",
        &json!({"Name": "api.key", "Data": DATA}).to_string(),
    )
    .await;

    let s = get(&b, "/secrets/db.pw").await;
    assert_eq!(s.status, StatusCode::OK);
    assert!(
        !s.text().contains(DATA) && !s.text().contains("s3cr3t"),
        "{}",
        s.text()
    );
    let s = s.json();
    assert_eq!(s["ID"], id.as_str());
    assert_eq!(s["Spec"]["Labels"]["env"], "prod");
    assert!(s["Spec"].get("Data").is_none());
    assert!(s["Version"]["Index"].as_u64().unwrap() > 0);
    assert_eq!(
        get(&b, &format!("/secrets/{}", &id[..6])).await.json()["ID"],
        id.as_str()
    );
    assert!(!get(&b, "/secrets").await.text().contains(DATA));

    let list = |f: serde_json::Value| {
        let b = b.clone();
        async move {
            let q = urlencoding(&f.to_string());
            names(get(&b, &format!("/secrets?filters={q}")).await.json())
        }
    };
    assert_eq!(list(json!({})).await, ["api.key", "db.pw"]);
    assert_eq!(list(json!({"name": {"db": true}})).await, ["db.pw"]);
    assert_eq!(list(json!({"names": {"db": true}})).await, Vec::<String>::new());
    assert_eq!(list(json!({"names": {"api.key": true}})).await, ["api.key"]);
    assert_eq!(list(json!({"label": {"env=prod": true}})).await, ["db.pw"]);
    assert_eq!(list(json!({"id": {&id[..8]: true}})).await, ["db.pw"]);
    let bad = get(
        &b,
        &format!("/secrets?filters={}", urlencoding(r#"{"driver":{"x":true}}"#)),
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.message(), "invalid filter 'driver'");

    // Errors as dockerd answers them.
    let dup = post(
        &b,
        "/secrets/create",
        &json!({"Name": "db.pw", "Data": DATA}).to_string(),
    )
    .await;
    assert_eq!(dup.status, StatusCode::CONFLICT);
    let badname = post(
        &b,
        "/secrets/create",
        &json!({"Name": "-x", "Data": DATA}).to_string(),
    )
    .await;
    assert_eq!(badname.status, StatusCode::BAD_REQUEST);
    let empty = post(&b, "/secrets/create", &json!({"Name": "e"}).to_string()).await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST);
    let big = base64_of(&vec![b'x'; 500 * 1024]);
    let big = post(
        &b,
        "/secrets/create",
        &json!({"Name": "big", "Data": big}).to_string(),
    )
    .await;
    assert_eq!(big.status, StatusCode::BAD_REQUEST, "{}", big.text());
    let tmpl = post(
        &b,
        "/secrets/create",
        &json!({"Name": "t", "Data": DATA, "Templating": {"Name": "golang"}}).to_string(),
    )
    .await;
    assert_eq!(tmpl.status, StatusCode::NOT_IMPLEMENTED);
    assert!(tmpl.message().contains("templating"), "{}", tmpl.message());
    assert_eq!(get(&b, "/secrets/nope").await.status, StatusCode::NOT_FOUND);

    // Update: labels only, at the version read.
    let version = s["Version"]["Index"].as_u64().unwrap();
    let up = post(
        &b,
        &format!("/secrets/{id}/update?version={version}"),
        &json!({"Name": "db.pw", "Labels": {"env": "dev"}}).to_string(),
    )
    .await;
    assert_eq!(up.status, StatusCode::OK, "{}", up.text());
    assert_eq!(
        get(&b, "/secrets/db.pw").await.json()["Spec"]["Labels"]["env"],
        "dev"
    );
    let rename = post(
        &b,
        &format!("/secrets/{id}/update?version={}", version + 1),
        &json!({"Name": "other"}).to_string(),
    )
    .await;
    assert_eq!(rename.status, StatusCode::BAD_REQUEST);
    assert_eq!(rename.message(), "only updates to Labels are allowed");

    assert_eq!(
        send(&b, Method::DELETE, "/secrets/api.key", None).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(names(get(&b, "/secrets").await.json()), ["db.pw"]);
}

#[tokio::test]
async fn configs_show_their_data_and_services_reference_both_by_id() {
    let b = FakeBackend::new();
    let c = post(
        &b,
        "/configs/create",
        &json!({"Name": "app.conf", "Data": DATA}).to_string(),
    )
    .await;
    assert_eq!(c.status, StatusCode::CREATED, "{}", c.text());
    let config_id = c.json()["ID"].as_str().unwrap().to_string();
    assert_eq!(get(&b, "/configs/app.conf").await.json()["Spec"]["Data"], DATA);
    let s = post(
        &b,
        "/secrets/create",
        &json!({"Name": "pw", "Data": DATA}).to_string(),
    )
    .await;
    let secret_id = s.json()["ID"].as_str().unwrap().to_string();

    let mut spec: serde_json::Value = serde_json::from_str(&support::router::spec("web", 1)).unwrap();
    spec["TaskTemplate"]["ContainerSpec"]["Secrets"] = json!([
        {"File": {"Name": "pw", "UID": "0", "GID": "0", "Mode": 292}, "SecretID": secret_id, "SecretName": "pw"}
    ]);
    spec["TaskTemplate"]["ContainerSpec"]["Configs"] = json!([
        {"File": {"Name": "/etc/app.conf", "UID": "0", "GID": "0", "Mode": 292}, "ConfigName": "app.conf"}
    ]);
    let created = post(&b, "/services/create", &spec.to_string()).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    let svc = get(&b, "/services/web").await.json();
    let cs = &svc["Spec"]["TaskTemplate"]["ContainerSpec"];
    assert_eq!(cs["Secrets"][0]["SecretID"], secret_id.as_str());
    assert_eq!(cs["Configs"][0]["ConfigID"], config_id.as_str(), "{cs}");

    let rm = send(&b, Method::DELETE, "/secrets/pw", None).await;
    assert_eq!(rm.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        rm.message(),
        "secret 'pw' is in use by the following service: web"
    );
    let rm = send(&b, Method::DELETE, "/configs/app.conf", None).await;
    assert_eq!(rm.status, StatusCode::BAD_REQUEST);

    let mut unknown = spec.clone();
    unknown["Name"] = json!("api");
    unknown["TaskTemplate"]["ContainerSpec"]["Secrets"] = json!([{"SecretName": "nope", "SecretID": "nope"}]);
    let refused = post(&b, "/services/create", &unknown.to_string()).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(
        refused.message().contains("secret not found: nope"),
        "{}",
        refused.message()
    );

    // shoal's rotation: the next version, and the service moved to it.
    let bad = post(
        &b,
        "/secrets/pw/rotate",
        &json!({"Data": "not base64!"}).to_string(),
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.text());
    let missing = post(&b, "/secrets/nope/rotate", &json!({"Data": DATA}).to_string()).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND, "{}", missing.text());
    let rotated = post(&b, "/secrets/pw/rotate", &json!({"Data": "bmV3"}).to_string()).await;
    assert_eq!(rotated.status, StatusCode::CREATED, "{}", rotated.text());
    let answer = rotated.json();
    assert_eq!(answer["Name"], "pw.v2");
    assert_eq!(answer["Services"], json!(["web"]));
    let svc = get(&b, "/services/web").await.json();
    let cs = &svc["Spec"]["TaskTemplate"]["ContainerSpec"];
    assert_eq!(cs["Secrets"][0]["SecretID"], answer["ID"], "{cs}");
    assert_eq!(cs["Secrets"][0]["File"]["Name"], "pw");
    let v2 = get(&b, "/secrets/pw.v2").await.json();
    assert_eq!(v2["Spec"]["Labels"]["com.shoal.secret.version"], "2");
    assert!(v2["Spec"].get("Data").is_none(), "{v2}");

    // A config rotates the same way, beside it; the secret reference stays.
    let rotated = post(
        &b,
        "/configs/app.conf/rotate",
        &json!({"Data": "bmV3"}).to_string(),
    )
    .await;
    assert_eq!(rotated.status, StatusCode::CREATED, "{}", rotated.text());
    let answer = rotated.json();
    assert_eq!(answer["Name"], "app.conf.v2");
    assert_eq!(answer["Services"], json!(["web"]));
    let svc = get(&b, "/services/web").await.json();
    let cs = &svc["Spec"]["TaskTemplate"]["ContainerSpec"];
    assert_eq!(cs["Configs"][0]["ConfigID"], answer["ID"], "{cs}");
    assert_eq!(cs["Configs"][0]["ConfigName"], "app.conf.v2");
    assert_eq!(cs["Configs"][0]["File"]["Name"], "/etc/app.conf");
    assert_eq!(cs["Secrets"][0]["SecretName"], "pw.v2");
    let v2 = get(&b, "/configs/app.conf.v2").await.json();
    assert_eq!(v2["Spec"]["Labels"]["com.shoal.config.version"], "2");
    assert_eq!(v2["Spec"]["Data"], "bmV3");
    let missing = post(&b, "/configs/nope/rotate", &json!({"Data": DATA}).to_string()).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND, "{}", missing.text());

    assert_eq!(
        send(&b, Method::DELETE, "/services/web", None).await.status,
        StatusCode::OK
    );
    assert_eq!(
        send(&b, Method::DELETE, "/secrets/pw", None).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        send(&b, Method::DELETE, "/secrets/pw.v2", None).await.status,
        StatusCode::NO_CONTENT
    );
    for config in ["app.conf", "app.conf.v2"] {
        assert_eq!(
            send(&b, Method::DELETE, &format!("/configs/{config}"), None)
                .await
                .status,
            StatusCode::NO_CONTENT
        );
    }
}

fn urlencoding(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn base64_of(data: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(data)
}
