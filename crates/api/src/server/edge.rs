//! What every request passes before and after routing:
//!
//! ```text
//! /v1.47/nodes?x ─► check 1.24 ≤ version ≤ 1.47 ─► /nodes?x ─► router ─► + Server, Api-Version,
//!                   (else 400, like dockerd)                              Ostype, Docker-Experimental
//! ```

use std::str::FromStr;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::uri::PathAndQuery;
use http::{HeaderName, HeaderValue, Uri};

use crate::error::Error;
use crate::version::{self, API_VERSION, MIN_API_VERSION, SERVER_VERSION};

/// The API version a request asked for in its path (absent: it used no prefix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestedVersion(pub String);

/// Strips and checks the version prefix, then stamps dockerd's headers on the response.
pub async fn edge(mut request: Request, next: Next) -> Response {
    let mut response = match strip_version(request.uri()) {
        Ok(None) => next.run(request).await,
        Ok(Some((requested, uri))) => {
            *request.uri_mut() = uri;
            request.extensions_mut().insert(RequestedVersion(requested));
            next.run(request).await
        }
        Err(e) => e.into_response(),
    };
    let headers = response.headers_mut();
    let server = format!("shoal/{SERVER_VERSION} (linux)");
    if let Ok(value) = HeaderValue::from_str(&server) {
        headers.insert(http::header::SERVER, value);
    }
    headers.insert(
        HeaderName::from_static("api-version"),
        HeaderValue::from_static(API_VERSION),
    );
    headers.insert(
        HeaderName::from_static("ostype"),
        HeaderValue::from_static("linux"),
    );
    headers.insert(
        HeaderName::from_static("docker-experimental"),
        HeaderValue::from_static("false"),
    );
    response
}

/// `/v1.47/rest?q` → (`1.47`, `/rest?q`); `None` when the path has no version prefix.
fn strip_version(uri: &Uri) -> Result<Option<(String, Uri)>, Error> {
    let path = uri.path();
    let Some(after_v) = path.strip_prefix("/v") else {
        return Ok(None);
    };
    let end = after_v.find('/').unwrap_or(after_v.len());
    let requested = &after_v[..end];
    if requested.is_empty() || !requested.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Ok(None);
    }
    if version::compare(requested, MIN_API_VERSION).is_lt() {
        return Err(Error::VersionTooOld(requested.to_string()));
    }
    if version::compare(requested, API_VERSION).is_gt() {
        return Err(Error::VersionTooNew(requested.to_string()));
    }
    let rest = if end == after_v.len() {
        "/"
    } else {
        &after_v[end..]
    };
    let rewritten = match uri.query() {
        Some(query) => format!("{rest}?{query}"),
        None => rest.to_string(),
    };
    let mut parts = uri.clone().into_parts();
    // The rest of a valid path and its query are a valid path-and-query, so this cannot fail;
    // a failure still answers 404 rather than panicking.
    parts.path_and_query = Some(PathAndQuery::from_str(&rewritten).map_err(|_| Error::PageNotFound)?);
    let uri = Uri::from_parts(parts).map_err(|_| Error::PageNotFound)?;
    Ok(Some((requested.to_string(), uri)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strip(text: &str) -> Result<Option<(String, String)>, String> {
        let uri: Uri = text.parse().unwrap();
        strip_version(&uri)
            .map(|o| o.map(|(v, u)| (v, u.to_string())))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn strips_valid_prefixes() {
        assert_eq!(
            strip("/v1.47/nodes?filters=x"),
            Ok(Some(("1.47".into(), "/nodes?filters=x".into())))
        );
        assert_eq!(strip("/v1.24/_ping"), Ok(Some(("1.24".into(), "/_ping".into()))));
        assert_eq!(strip("/v1.47"), Ok(Some(("1.47".into(), "/".into()))));
        assert_eq!(strip("/nodes"), Ok(None));
        assert_eq!(strip("/volumes"), Ok(None));
        assert_eq!(strip("/v/nodes"), Ok(None));
    }

    #[test]
    fn refuses_unsupported_versions() {
        assert_eq!(
            strip("/v1.99/nodes"),
            Err("client version 1.99 is too new. Maximum supported API version is 1.47".into())
        );
        assert!(strip("/v1.12/nodes").unwrap_err().contains("is too old"));
    }
}
