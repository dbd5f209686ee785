//! Responses as dockerd writes them: JSON with a trailing newline, and errors as
//! `{"message": "..."}` with the status the error maps to.

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;

use crate::error::Error;
use crate::model::ErrorResponse;

/// A 200 response with `value` as JSON.
pub fn json<T: Serialize>(value: &T) -> Response {
    json_with_status(StatusCode::OK, value)
}

/// A response with `value` as JSON (Go's `json.Encoder` adds the newline; so do we).
pub(super) fn json_with_status<T: Serialize>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(mut body) => {
            body.push(b'\n');
            let mut response = Response::new(Body::from(body));
            *response.status_mut() = status;
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            response
        }
        Err(e) => {
            Error::Backend(rules::Error::Internal(format!("encoding the response: {e}"))).into_response()
        }
    }
}

/// Longest error message sent: messages quote excerpts of input, so only a bug makes one
/// longer, and then the client still does not get its megabyte echoed back.
const MAX_MESSAGE_CHARS: usize = 1024;

fn capped(message: String) -> String {
    match message.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((cut, _)) => format!("{}…", &message[..cut]),
        None => message,
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = capped(self.to_string());
        // Only a daemon fault is an error in its log. What the caller can fix (a stale
        // version, a node not in a swarm or not a manager: 500 and 503 for dockerd's sake)
        // is routine, and a plain refusal is debugging detail.
        match &self {
            Error::Backend(rules::Error::Internal(_)) => {
                tracing::error!(status = status.as_u16(), %message, "api request failed");
            }
            _ if status.is_server_error() => {
                tracing::info!(status = status.as_u16(), %message, "api request refused");
            }
            _ => tracing::debug!(status = status.as_u16(), %message, "api request refused"),
        }
        if let Error::VersionTooOld(_) = self {
            // dockerd answers clients older than its minimum in plain text, which they can read.
            let mut response = Response::new(Body::from(format!("{message}\n")));
            *response.status_mut() = status;
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            return response;
        }
        json_with_status(status, &ErrorResponse { message })
    }
}
