//! How `RestartPolicy` is stored: its `window: Option<i64>` and `given: bool` kept in the
//! encoding of the `i64` window it used to have, so the Raft log and snapshots written before
//! need no migration.
//!
//! ```text
//! in memory (window, given)   stored i64
//! (None, false)          ◄─►   0     (what every older entry holds when no window was given)
//! (None, true)           ◄─►  -2     (a policy given without a window, e.g. `RestartPolicy: {}`)
//! (Some(0), _)           ◄─►  -1     (a given zero; negative windows are refused at the API)
//! (Some(n>0), _)         ◄─►   n
//! ```
//!
//! postcard is not self-describing, so adding an `Option` tag or a field would change the
//! bytes of every stored task spec; a negative window never passed validation, which leaves
//! room to spell a given zero and a given policy without a new format. An older entry's 0 reads
//! as "not given", which is what the API showed for it before. A window implies a given
//! policy, so `given` reads back true with any window.

use serde::{Deserialize, Serialize};

use crate::{RestartCondition, RestartPolicy};

/// The stored spelling of a window given as zero.
const GIVEN_ZERO: i64 = -1;
/// The stored spelling of a policy given without a window.
const GIVEN_NO_WINDOW: i64 = -2;

/// `RestartPolicy` as every format stores it (postcard and JSON records alike).
#[derive(Serialize, Deserialize)]
#[serde(rename = "RestartPolicy")]
pub struct StoredPolicy {
    condition: RestartCondition,
    delay: Option<i64>,
    max_attempts: u64,
    window: i64,
}

impl From<RestartPolicy> for StoredPolicy {
    fn from(p: RestartPolicy) -> StoredPolicy {
        let window = match p.window {
            None if p.given => GIVEN_NO_WINDOW,
            None => 0,
            Some(0) => GIVEN_ZERO,
            // Negative windows are refused before they reach the store; one that slipped
            // through counts forever, as a given zero does.
            Some(n) if n < 0 => GIVEN_ZERO,
            Some(n) => n,
        };
        StoredPolicy {
            condition: p.condition,
            delay: p.delay,
            max_attempts: p.max_attempts,
            window,
        }
    }
}

impl From<StoredPolicy> for RestartPolicy {
    fn from(s: StoredPolicy) -> RestartPolicy {
        let (window, given) = match s.window {
            0 => (None, false),
            GIVEN_NO_WINDOW => (None, true),
            // -1 is a given zero; no other negative was ever written, and one would count
            // forever.
            n if n < 0 => (Some(0), true),
            n => (Some(n), true),
        };
        RestartPolicy {
            condition: s.condition,
            delay: s.delay,
            max_attempts: s.max_attempts,
            window,
            given,
        }
    }
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
        for (window, given, stored) in [
            (None, false, 0),
            (None, true, -2),
            (Some(0), true, -1),
            (Some(9), true, 9),
        ] {
            let policy = RestartPolicy {
                condition: RestartCondition::OnFailure,
                delay: Some(5),
                max_attempts: 3,
                window,
                given,
            };
            let bytes = postcard::to_stdvec(&policy).unwrap();
            assert_eq!(bytes, postcard::to_stdvec(&old(stored)).unwrap());
            let back: RestartPolicy = postcard::from_bytes(&bytes).unwrap();
            assert_eq!(back, policy, "round trip of {window:?}");
        }
        let json = serde_json::to_string(&RestartPolicy {
            window: Some(0),
            given: true,
            ..RestartPolicy::default()
        })
        .unwrap();
        let back: RestartPolicy = serde_json::from_str(&json).unwrap();
        assert_eq!(back.window, Some(0), "JSON records round-trip too: {json}");
        let given_empty = RestartPolicy {
            given: true,
            ..RestartPolicy::default()
        };
        let json = serde_json::to_string(&given_empty).unwrap();
        assert_eq!(
            json, r#"{"condition":"Any","delay":null,"max_attempts":0,"window":-2}"#,
            "the JSON records' shape is unchanged"
        );
        assert_eq!(serde_json::from_str::<RestartPolicy>(&json).unwrap(), given_empty);
    }
}
