//! `/images/*` at the edge, in process over the fake backend (which has no image store):
//! uploads pass the guard at any size, refusals carry dockerd's status and a message.

#![allow(clippy::unwrap_used)]

mod common;

use axum::body::Body;
use common::FakeBackend;
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;

async fn send(method: Method, uri: &str, content_type: Option<&str>, body: Body) -> (StatusCode, String) {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(ct) = content_type {
        request = request.header("content-type", ct);
    }
    let router = api::server::router_with_host(FakeBackend::new(), api::host::HostFacts::default());
    let response = router.oneshot(request.body(body).unwrap()).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

fn five_mib() -> Body {
    let chunks = (0..80).map(|_| Ok::<_, std::io::Error>(axum::body::Bytes::from(vec![0u8; 64 << 10])));
    Body::from_stream(futures::stream::iter(chunks))
}

#[tokio::test]
async fn uploads_over_4_mib_reach_the_backend() {
    for uri in ["/v1.47/images/load", "/v1.47/images/create?fromSrc=-&repo=x"] {
        for ct in [Some("application/x-tar"), None] {
            let (status, body) = send(Method::POST, uri, ct, five_mib()).await;
            // The fake has no store: 501 from the backend, not 413 or 403 from the guard.
            assert_eq!(status, StatusCode::NOT_IMPLEMENTED, "{uri} {ct:?}: {body}");
            assert!(body.contains("no image store"), "{body}");
        }
    }
}

#[tokio::test]
async fn a_form_body_is_still_refused() {
    let (status, body) = send(
        Method::POST,
        "/images/load",
        Some("application/x-www-form-urlencoded"),
        Body::from("a=b"),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    // Elsewhere the JSON rule and the limit stand.
    let request = Request::builder()
        .method(Method::POST)
        .uri("/images/prune")
        .header("content-type", "application/x-tar")
        .header("content-length", "1")
        .body(Body::from("x"))
        .unwrap();
    let router = api::server::router_with_host(FakeBackend::new(), api::host::HostFacts::default());
    let response = router.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn refusals_name_what_is_not_served() {
    let cases = [
        (
            Method::POST,
            "/images/create?fromImage=busybox",
            StatusCode::NOT_IMPLEMENTED,
            "--all-tags",
        ),
        (
            Method::POST,
            "/images/create",
            StatusCode::BAD_REQUEST,
            "fromImage or fromSrc is required",
        ),
        (
            Method::POST,
            "/images/create?fromSrc=http://x/y.tar",
            StatusCode::NOT_IMPLEMENTED,
            "URL",
        ),
        (
            Method::POST,
            "/images/create?fromImage=Bad%20Name&tag=1",
            StatusCode::NOT_IMPLEMENTED,
            "no image store",
        ),
        (
            Method::GET,
            "/images/busybox/history",
            StatusCode::NOT_IMPLEMENTED,
            "not supported",
        ),
        (
            Method::POST,
            "/images/a/b/push",
            StatusCode::NOT_IMPLEMENTED,
            "docker push",
        ),
        (
            Method::POST,
            "/images/busybox/tag",
            StatusCode::BAD_REQUEST,
            "repository name is required",
        ),
        (
            Method::GET,
            "/images/json?filters=%7B%22colour%22%3A%7B%22x%22%3Atrue%7D%7D",
            StatusCode::BAD_REQUEST,
            "invalid filter 'colour'",
        ),
        (
            Method::POST,
            "/images/prune?filters=%7B%22until%22%3A%7B%221h%22%3Atrue%7D%7D",
            StatusCode::NOT_IMPLEMENTED,
            "until",
        ),
        (
            Method::GET,
            "/images/127.0.0.1:5000/bb:1/json",
            StatusCode::NOT_IMPLEMENTED,
            "no image store",
        ),
        (
            Method::DELETE,
            "/images/127.0.0.1:5000/bb:1",
            StatusCode::NOT_IMPLEMENTED,
            "no image store",
        ),
        (
            Method::GET,
            "/images/busybox/nonsense",
            StatusCode::NOT_FOUND,
            "page not found",
        ),
    ];
    for (method, uri, want, text) in cases {
        let (status, body) = send(method.clone(), uri, None, Body::empty()).await;
        assert_eq!(status, want, "{method} {uri}: {body}");
        assert!(body.contains(text), "{method} {uri}: {body}");
        assert!(body.starts_with("{\"message\":"), "{body}");
    }
}

#[test]
fn store_errors_keep_dockerds_status_and_words() {
    use api::convert::image::error;
    let e = error(image::Error::NotFound("nosuch:1".into()));
    assert_eq!(
        (e.status(), e.to_string().as_str()),
        (StatusCode::NOT_FOUND, "No such image: nosuch:1")
    );
    let e = error(image::Error::InUse { image: "bb:1".into() });
    assert_eq!(e.status(), StatusCode::CONFLICT);
    assert!(e.to_string().starts_with("conflict: unable to remove image bb:1"));
    let e = error(image::Error::ManifestUnknown("bb:2".into()));
    assert_eq!(e.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        error(image::Error::InvalidArgument("x".into())).status(),
        StatusCode::BAD_REQUEST
    );
}
