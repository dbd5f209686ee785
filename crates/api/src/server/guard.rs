//! Checks every request passes before anything reads its body, against what a web page in a
//! browser on the same host could send (cross-site requests, DNS rebinding) and against
//! bodies too large to buffer:
//!
//! ```text
//! request ─► Origin header?                         ─► 403 (browsers send it; docker never does)
//!        ─► POST/PUT/PATCH/DELETE with a body that
//!           is not application/json?                ─► 403 (a form or text/plain "simple request")
//!        ─► Content-Length > 4 MiB?                 ─► 413 (image uploads: any size, tar)
//!        ─► loopback listener, Host not loopback?   ─► 403 (DNS rebinding)
//!        ─► routes
//! ```
//!
//! A bodiless POST (`docker swarm leave --force`) passes: it carries no content type, and
//! a browser cannot send one cross-site without an `Origin` header.

use std::net::IpAddr;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, Method, header};

use crate::error::Error;

/// Largest request body the API reads: service specs are kilobytes; 4 MiB leaves room for
/// large env lists without letting a client make the daemon buffer gigabytes.
pub const MAX_BODY_BYTES: usize = 4 << 20;

/// What a listener checks besides the rules every listener applies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Policy {
    /// Refuse requests whose `Host` is not a loopback name or address (plain TCP on loopback,
    /// where a rebinding DNS name is the way a web page reaches the API).
    pub loopback_host_only: bool,
}

/// The middleware: refuses with the first rule a request breaks.
pub async fn guard(State(policy): State<Policy>, request: Request, next: Next) -> Response {
    let checked = if is_upload(request.method(), request.uri()) {
        check_upload(request.headers(), policy)
    } else {
        check(request.method(), request.headers(), policy)
    };
    match checked {
        Ok(()) => next.run(request).await,
        Err(e) => e.into_response(),
    }
}

/// The rules, on the request line and headers alone.
pub fn check(method: &Method, headers: &HeaderMap, policy: Policy) -> Result<(), Error> {
    if headers.contains_key(header::ORIGIN) {
        return Err(Error::Forbidden(
            "requests with an Origin header come from a web page and are refused".into(),
        ));
    }
    let length = match headers.get(header::CONTENT_LENGTH) {
        None => None,
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .ok_or_else(|| Error::BadRequest("invalid Content-Length header".into()))?,
        ),
    };
    let has_body = length.is_some_and(|n| n > 0) || headers.contains_key(header::TRANSFER_ENCODING);
    let changes_state = matches!(
        *method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    );
    if changes_state && has_body && !is_json(headers) {
        let sent = headers
            .get(header::CONTENT_TYPE)
            .map(|v| types::excerpt(&String::from_utf8_lossy(v.as_bytes())))
            .unwrap_or_else(|| "none".into());
        return Err(Error::Forbidden(format!(
            "a request body must be sent as application/json (Content-Type: {sent})"
        )));
    }
    if let Some(n) = length
        && n > MAX_BODY_BYTES as u64
    {
        return Err(too_large());
    }
    if policy.loopback_host_only
        && let Some(host) = headers.get(header::HOST)
    {
        let host = host.to_str().unwrap_or("");
        if !is_loopback_host(host) {
            return Err(Error::Forbidden(format!(
                "Host {:?} is not a loopback name: this API listens on loopback only",
                types::excerpt(host)
            )));
        }
    }
    Ok(())
}

/// `docker import` (`POST /images/create?fromSrc=-`) and `docker load` (`POST /images/load`)
/// send tars that the image store streams to disk, so neither the JSON rule nor the size
/// limit applies to them.
fn is_upload(method: &Method, uri: &http::Uri) -> bool {
    *method == Method::POST
        && (uri.path() == "/images/load"
            || (uri.path() == "/images/create"
                && uri
                    .query()
                    .is_some_and(|q| q.split('&').any(|p| p.starts_with("fromSrc=")))))
}

/// An upload's rules: a tar, untyped or `text/plain` body (the docker CLI's `import` labels its
/// tar so), never a browser form; then the rules every request passes (the Origin rule is what
/// stops a page's cross-site `text/plain` post).
fn check_upload(headers: &HeaderMap, policy: Policy) -> Result<(), Error> {
    let media = headers.get(header::CONTENT_TYPE).map(|v| {
        String::from_utf8_lossy(v.as_bytes())
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    });
    match media.as_deref() {
        None
        | Some(
            "application/x-tar"
            | "application/tar"
            | "application/octet-stream"
            | "application/gzip"
            | "application/x-gzip"
            | "application/x-xz"
            | "application/zstd"
            | "application/json"
            | "text/plain",
        ) => {}
        Some(other) => {
            return Err(Error::Forbidden(format!(
                "an image upload must be sent as application/x-tar (Content-Type: {})",
                types::excerpt(other)
            )));
        }
    }
    let mut rest = headers.clone();
    for name in [
        header::CONTENT_TYPE,
        header::CONTENT_LENGTH,
        header::TRANSFER_ENCODING,
    ] {
        rest.remove(name);
    }
    check(&Method::POST, &rest, policy)
}

/// The refusal of a body over [`MAX_BODY_BYTES`].
pub fn too_large() -> Error {
    Error::PayloadTooLarge(format!(
        "request body too large: the limit is {MAX_BODY_BYTES} bytes"
    ))
}

/// True when the content type is JSON (`application/json`, any parameters).
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim())
        .is_some_and(|media| media.eq_ignore_ascii_case("application/json"))
}

/// The `Host` rule alone, for requests passed on to the local dockerd (`proxy.rs`), whose
/// bodies (build contexts, archives) are not JSON.
pub(crate) fn check_host(headers: &HeaderMap, policy: Policy) -> Result<(), Error> {
    if policy.loopback_host_only
        && let Some(host) = headers.get(header::HOST)
    {
        let host = host.to_str().unwrap_or("");
        if !is_loopback_host(host) {
            return Err(Error::Forbidden(format!(
                "Host {:?} is not a loopback name: this API listens on loopback only",
                types::excerpt(host)
            )));
        }
    }
    Ok(())
}

/// `localhost`, a `*.localhost` name (docker's own `api.moby.localhost`), or a loopback IP,
/// each with an optional port.
fn is_loopback_host(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        // [v6]:port
        match rest.split_once(']') {
            Some((ip, tail)) if tail.is_empty() || tail.starts_with(':') => ip,
            _ => return false,
        }
    } else {
        host.rsplit_once(':').map_or(host, |(name, _)| name)
    };
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    if name == "localhost" || name.ends_with(".localhost") {
        return true;
    }
    name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, HeaderValue::from_static(v));
        }
        map
    }

    fn status(method: Method, pairs: &[(&'static str, &'static str)], policy: Policy) -> u16 {
        match check(&method, &headers(pairs), policy) {
            Ok(()) => 200,
            Err(e) => e.status().as_u16(),
        }
    }

    #[test]
    fn browser_requests_are_refused() {
        let any = Policy::default();
        assert_eq!(
            status(Method::GET, &[("origin", "http://evil.example")], any),
            403
        );
        assert_eq!(status(Method::POST, &[("origin", "null")], any), 403);
        // A form post or text/plain fetch, with a body.
        for ct in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
        ] {
            let pairs = [("content-type", ct), ("content-length", "2")];
            assert_eq!(status(Method::POST, &pairs, any), 403, "{ct}");
        }
        assert_eq!(
            status(Method::POST, &[("content-length", "2")], any),
            403,
            "no type"
        );
        assert_eq!(status(Method::PUT, &[("transfer-encoding", "chunked")], any), 403);
    }

    #[test]
    fn docker_cli_requests_pass() {
        let any = Policy::default();
        // Bodiless POSTs and DELETEs (`swarm leave --force`, `node rm`).
        assert_eq!(status(Method::POST, &[], any), 200);
        assert_eq!(status(Method::POST, &[("content-length", "0")], any), 200);
        assert_eq!(
            status(Method::DELETE, &[("content-type", "text/plain")], any),
            200
        );
        let json = [
            ("content-type", "application/json; charset=utf-8"),
            ("content-length", "20"),
        ];
        assert_eq!(status(Method::POST, &json, any), 200);
        // GET bodies are not state-changing requests.
        assert_eq!(status(Method::GET, &[("content-length", "3")], any), 200);
    }

    #[test]
    fn oversize_bodies_are_413_before_reading() {
        let big = [
            ("content-type", "application/json"),
            ("content-length", "4194305"),
        ];
        assert_eq!(status(Method::POST, &big, Policy::default()), 413);
        let fits = [
            ("content-type", "application/json"),
            ("content-length", "4194304"),
        ];
        assert_eq!(status(Method::POST, &fits, Policy::default()), 200);
        let bad = [("content-type", "application/json"), ("content-length", "lots")];
        assert_eq!(status(Method::POST, &bad, Policy::default()), 400);
    }

    #[test]
    fn loopback_listeners_refuse_foreign_host_names() {
        let lo = Policy {
            loopback_host_only: true,
        };
        for host in [
            "127.0.0.1:2375",
            "127.1.2.3",
            "localhost:2375",
            "LOCALHOST.",
            "api.moby.localhost",
            "[::1]:2375",
            "[::1]",
        ] {
            let pairs = [("host", host)];
            assert_eq!(status(Method::GET, &pairs, lo), 200, "{host}");
        }
        for host in [
            "evil.example:2375",
            "localhost.evil.example",
            "10.0.0.1:2375",
            "[::1]x",
            "[fe80::1]:2375",
            "",
        ] {
            let pairs = [("host", host)];
            assert_eq!(status(Method::GET, &pairs, lo), 403, "{host}");
        }
        // Other listeners take any host.
        assert_eq!(
            status(Method::GET, &[("host", "evil.example")], Policy::default()),
            200
        );
    }
}
