//! How `RestartPolicy.window` is stored: an `Option<i64>` kept in the encoding of the `i64` it
//! used to be, so the Raft log and snapshots written before need no migration.
//!
//! ```text
//! in memory      stored i64
//! None       ◄─►  0          (what every older entry holds when no window was given)
//! Some(0)    ◄─►  -1         (a given zero; negative windows are refused at the API)
//! Some(n>0)  ◄─►  n
//! ```
//!
//! postcard is not self-describing, so adding an `Option` tag would change the bytes of every
//! stored task spec; a negative window never passed validation, which leaves room to spell a
//! given zero without a new format. An older entry's 0 reads as "not given", which is what
//! the API showed for it before.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The stored spelling of a window given as zero.
const GIVEN_ZERO: i64 = -1;

/// Writes the window as the `i64` older formats hold.
pub fn serialize<S: Serializer>(window: &Option<i64>, serializer: S) -> Result<S::Ok, S::Error> {
    let stored = match *window {
        None => 0,
        Some(0) => GIVEN_ZERO,
        // Negative windows are refused before they reach the store; one that slipped through
        // counts forever, as a given zero does.
        Some(n) if n < 0 => GIVEN_ZERO,
        Some(n) => n,
    };
    stored.serialize(serializer)
}

/// Reads the `i64` older and current formats hold.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    let stored = i64::deserialize(deserializer)?;
    Ok(match stored {
        0 => None,
        // -1 is a given zero; no other negative was ever written, and one would count forever.
        n if n < 0 => Some(0),
        n => Some(n),
    })
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    use crate::{RestartCondition, RestartPolicy};

    /// `RestartPolicy` as every format before this module stored it.
    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct OldRestartPolicy {
        condition: RestartCondition,
        delay: Option<i64>,
        max_attempts: u64,
        window: i64,
    }

    fn old(window: i64) -> OldRestartPolicy {
        OldRestartPolicy {
            condition: RestartCondition::OnFailure,
            delay: Some(5),
            max_attempts: 3,
            window,
        }
    }

    #[test]
    fn old_bytes_decode_with_their_meaning() {
        let unset: RestartPolicy = postcard::from_bytes(&postcard::to_stdvec(&old(0)).unwrap()).unwrap();
        assert_eq!(unset.window, None, "an older 0 is a window not given");
        assert_eq!(unset.max_attempts, 3);
        assert_eq!(unset.delay, Some(5));
        let given: RestartPolicy =
            postcard::from_bytes(&postcard::to_stdvec(&old(7_000_000_000)).unwrap()).unwrap();
        assert_eq!(given.window, Some(7_000_000_000));
    }

    #[test]
    fn the_encoding_is_the_old_one() {
        for (window, stored) in [(None, 0), (Some(0), -1), (Some(9), 9)] {
            let policy = RestartPolicy {
                condition: RestartCondition::OnFailure,
                delay: Some(5),
                max_attempts: 3,
                window,
            };
            let bytes = postcard::to_stdvec(&policy).unwrap();
            assert_eq!(bytes, postcard::to_stdvec(&old(stored)).unwrap());
            let back: RestartPolicy = postcard::from_bytes(&bytes).unwrap();
            assert_eq!(back, policy, "round trip of {window:?}");
        }
        let json = serde_json::to_string(&RestartPolicy {
            window: Some(0),
            ..RestartPolicy::default()
        })
        .unwrap();
        let back: RestartPolicy = serde_json::from_str(&json).unwrap();
        assert_eq!(back.window, Some(0), "JSON records round-trip too: {json}");
    }
}
