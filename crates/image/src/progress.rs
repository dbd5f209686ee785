//! Progress of a pull, in the shape of the Engine API's `/images/create` JSON stream.

use serde::Serialize;

/// One line of the pull's JSON stream: `{"status":…,"id":…,"progressDetail":{…}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Progress {
    /// What is happening (`Pulling fs layer`, `Downloading`, `Pull complete`, …).
    pub status: String,
    /// The tag or short layer ID the line is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Bytes done and expected, for `Downloading` and `Extracting`.
    #[serde(rename = "progressDetail")]
    pub detail: ProgressDetail,
}

/// `progressDetail`: empty unless bytes are being counted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ProgressDetail {
    /// Bytes done.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current: Option<u64>,
    /// Bytes expected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
}

impl Progress {
    /// A status line with no ID.
    pub fn status(status: impl Into<String>) -> Self {
        Progress {
            status: status.into(),
            id: None,
            detail: ProgressDetail::default(),
        }
    }

    /// A status line about `id`.
    pub fn about(id: impl Into<String>, status: impl Into<String>) -> Self {
        Progress {
            status: status.into(),
            id: Some(id.into()),
            detail: ProgressDetail::default(),
        }
    }

    /// A byte count about `id`.
    pub fn bytes(id: impl Into<String>, status: impl Into<String>, current: u64, total: u64) -> Self {
        Progress {
            status: status.into(),
            id: Some(id.into()),
            detail: ProgressDetail {
                current: Some(current),
                total: Some(total),
            },
        }
    }
}

/// Receives progress lines; the Engine API handler forwards them as JSON.
pub type ProgressFn<'a> = dyn FnMut(Progress) + Send + 'a;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_as_the_engine_does() {
        let p = Progress::bytes("a1b2c3", "Downloading", 10, 20);
        assert_eq!(
            serde_json::to_string(&p).unwrap(),
            r#"{"status":"Downloading","id":"a1b2c3","progressDetail":{"current":10,"total":20}}"#
        );
        assert_eq!(
            serde_json::to_string(&Progress::status("Digest: x")).unwrap(),
            r#"{"status":"Digest: x","progressDetail":{}}"#
        );
    }
}
