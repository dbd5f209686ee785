//! postcard bodies inside the proto `Msg` envelope. Private: outside this crate a body is
//! encoded or decoded only as the type a `calls::Call` binds.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::pb::Msg;

/// Wraps a value as a `Msg`.
pub fn encode<T: Serialize>(value: &T) -> Msg {
    // postcard only fails on types serde cannot describe (none of ours) or on I/O, which a
    // Vec never reports; an empty body then decodes as an error at the receiver.
    Msg {
        body: postcard::to_stdvec(value).unwrap_or_default(),
    }
}

/// Unwraps a `Msg`; a malformed body becomes `InvalidArgument`, never a panic.
pub fn decode<T: DeserializeOwned>(msg: &Msg) -> Result<T, tonic::Status> {
    postcard::from_bytes(&msg.body)
        .map_err(|e| tonic::Status::invalid_argument(format!("malformed message: {e}")))
}
