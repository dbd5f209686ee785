//! The api crate's error type, for the server (what status to answer with) and the client
//! (what the daemon answered, or why it could not be asked).

use http::StatusCode;

/// Errors of the API edge.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The backend refused or failed; the status follows the variant (see `rules::Error`).
    #[error(transparent)]
    Backend(#[from] rules::Error),
    /// The request itself is malformed (bad JSON, query or value): 400, nothing was done.
    #[error("{0}")]
    BadRequest(String),
    /// The client speaks an API version older than we serve: 400 in plain text, as dockerd.
    #[error("client version {0} is too old. Minimum supported API version is {min}, please upgrade your client to a newer version", min = crate::version::MIN_API_VERSION)]
    VersionTooOld(String),
    /// The client speaks an API version newer than we serve: 400.
    #[error("client version {0} is too new. Maximum supported API version is {max}", max = crate::version::API_VERSION)]
    VersionTooNew(String),
    /// The request is refused whatever its content (browser origin, wrong content type,
    /// foreign Host): 403.
    #[error("{0}")]
    Forbidden(String),
    /// The request body is larger than the API reads: 413.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// No route for this method and path: 404, as dockerd answers for both.
    #[error("page not found")]
    PageNotFound,
    /// A method and path shoal does not serve (yet): 404 as dockerd's "page not found", with the
    /// endpoint named.
    #[error("page not found: shoal does not serve {method} {path}")]
    NotServed {
        /// The request's method.
        method: String,
        /// The request's path (after the `/vX.Y` prefix), shortened if long.
        path: String,
    },
    /// The daemon answered with an error status (client side).
    #[error("{message}")]
    Status {
        /// HTTP status code.
        status: u16,
        /// The daemon's `message`, or the raw body when it was not JSON.
        message: String,
    },
    /// A `DOCKER_HOST`-style address we cannot use (client side).
    #[error("invalid host {0}")]
    InvalidHost(String),
    /// Could not reach the daemon (client side); retrying helps once it runs.
    #[error("cannot connect to the daemon at {addr}: {error}. Is the daemon running?")]
    Connect {
        /// The address tried.
        addr: String,
        /// Why it failed (in the message, not chained, so it is shown once).
        error: std::io::Error,
    },
    /// The HTTP exchange broke (client side).
    #[error("http: {0}")]
    Http(String),
    /// The daemon's answer did not decode (client side).
    #[error("cannot decode the daemon's answer to {path}: {reason}")]
    Decode {
        /// Request path.
        path: String,
        /// Decoder message.
        reason: String,
    },
    /// Binding or serving a socket failed (server side).
    #[error("{context}: {error}")]
    Io {
        /// What was being done.
        context: String,
        /// The OS error (in the message, not chained, so it is shown once).
        error: std::io::Error,
    },
}

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// The HTTP status dockerd would answer this error with.
    pub fn status(&self) -> StatusCode {
        match self {
            Error::Backend(e) => backend_status(e),
            Error::BadRequest(_) | Error::VersionTooOld(_) | Error::VersionTooNew(_) => {
                StatusCode::BAD_REQUEST
            }
            Error::PageNotFound | Error::NotServed { .. } => StatusCode::NOT_FOUND,
            Error::Forbidden(_) => StatusCode::FORBIDDEN,
            Error::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Error::Status { status, .. } => {
                StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            }
            Error::InvalidHost(_)
            | Error::Connect { .. }
            | Error::Http(_)
            | Error::Decode { .. }
            | Error::Io { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// True when the daemon answered 404 (client side), e.g. to tell "no such node" apart.
    pub fn is_not_found(&self) -> bool {
        match self {
            Error::Status { status, .. } => *status == 404,
            Error::Backend(rules::Error::NotFound(_)) | Error::PageNotFound | Error::NotServed { .. } => true,
            _ => false,
        }
    }
}

/// The status for each `rules::Error` variant, as documented there.
fn backend_status(e: &rules::Error) -> StatusCode {
    use rules::Error as M;
    match e {
        M::NotFound(_) => StatusCode::NOT_FOUND,
        M::InvalidArgument(_) | M::FailedPrecondition(_) => StatusCode::BAD_REQUEST,
        M::Conflict(_) => StatusCode::CONFLICT,
        M::OutOfSequence | M::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        M::Forbidden(_) => StatusCode::FORBIDDEN,
        M::Unauthorized(_) => StatusCode::UNAUTHORIZED,
        M::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        M::Unimplemented(_) => StatusCode::NOT_IMPLEMENTED,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_errors_map_to_dockerd_statuses() {
        use rules::Error as M;
        let cases = [
            (M::NotFound("x".into()), 404),
            (M::InvalidArgument("x".into()), 400),
            (M::FailedPrecondition("x".into()), 400),
            (M::Conflict("x".into()), 409),
            (M::OutOfSequence, 500),
            (M::Forbidden("x".into()), 403),
            (M::Unauthorized("x".into()), 401),
            (M::Unavailable("x".into()), 503),
            (M::Internal("x".into()), 500),
        ];
        for (e, status) in cases {
            assert_eq!(Error::from(e.clone()).status().as_u16(), status, "{e:?}");
        }
    }

    #[test]
    fn version_messages_match_dockerd() {
        assert_eq!(
            Error::VersionTooNew("1.99".into()).to_string(),
            "client version 1.99 is too new. Maximum supported API version is 1.47"
        );
        assert!(
            Error::VersionTooOld("1.12".into())
                .to_string()
                .starts_with("client version 1.12 is too old.")
        );
    }
}
