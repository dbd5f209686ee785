//! Typed reasons on error statuses: the conditions a caller acts on, carried beside the gRPC
//! code so that no caller has to match the message text (which stays what users read).
//!
//! ```text
//! handler: Reason::NodeRemoved.attach(Status::permission_denied(msg)) ──► x-shoal-reason: node-removed
//! caller:  Reason::of(&status) == Some(Reason::NodeRemoved)           ◄──┘
//! ```

use tonic::metadata::MetadataValue;

/// The metadata key a reason travels under.
const KEY: &str = "x-shoal-reason";

/// A failure a caller acts on by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The object changed since the caller read it; re-read and retry.
    OutOfSequence,
    /// The calling node is no longer in the swarm; its session will not come back.
    NodeRemoved,
}

impl Reason {
    /// The value on the wire.
    fn as_str(self) -> &'static str {
        match self {
            Reason::OutOfSequence => "out-of-sequence",
            Reason::NodeRemoved => "node-removed",
        }
    }

    /// `status` marked with this reason.
    pub fn attach(self, mut status: tonic::Status) -> tonic::Status {
        status
            .metadata_mut()
            .insert(KEY, MetadataValue::from_static(self.as_str()));
        status
    }

    /// The reason `status` was marked with, if any (unknown values from a newer peer: none).
    pub fn of(status: &tonic::Status) -> Option<Reason> {
        let value = status.metadata().get(KEY)?.to_str().ok()?;
        [Reason::OutOfSequence, Reason::NodeRemoved]
            .into_iter()
            .find(|r| r.as_str() == value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reason_survives_the_status_and_the_message_is_untouched() {
        for r in [Reason::OutOfSequence, Reason::NodeRemoved] {
            let s = r.attach(tonic::Status::unknown("update out of sequence"));
            assert_eq!(Reason::of(&s), Some(r));
            assert_eq!(s.message(), "update out of sequence");
        }
    }

    #[test]
    fn message_text_alone_carries_no_reason() {
        let s = tonic::Status::permission_denied("node abc was removed from the swarm");
        assert_eq!(Reason::of(&s), None);
        let mut s = tonic::Status::unknown("x");
        s.metadata_mut()
            .insert(KEY, MetadataValue::from_static("from-a-newer-peer"));
        assert_eq!(Reason::of(&s), None);
    }
}
