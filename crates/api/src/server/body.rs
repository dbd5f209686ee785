//! Request bodies: JSON decoded before anything reaches the backend, with dockerd's rules (an
//! empty body is the zero value; a wrong content type, bad JSON or trailing data is a 400).

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use http::{HeaderMap, header};
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// Decodes a JSON request body into `T`, keys matched to fields as Go's decoder matches them
/// (exact spelling first, then ignoring case; `model::fold`).
pub fn decode<T: DeserializeOwned + Default>(
    headers: &HeaderMap,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<T> {
    let body = body.map_err(|rejection| {
        if rejection.status() == http::StatusCode::PAYLOAD_TOO_LARGE {
            super::guard::too_large()
        } else {
            Error::BadRequest(rejection.body_text())
        }
    })?;
    if body.is_empty() {
        return Ok(T::default());
    }
    check_content_type(headers)?;
    // Every request body is a JSON object; serde would also take a struct from an array.
    if body
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|&b| b != b'{')
    {
        return Err(Error::BadRequest(
            "invalid JSON: the request body must be a JSON object".into(),
        ));
    }
    let mut stream = serde_json::Deserializer::from_slice(&body).into_iter::<serde_json::Value>();
    let value = match stream.next() {
        Some(Ok(value)) => value,
        Some(Err(e)) if !e.is_eof() => {
            return Err(Error::BadRequest(format!(
                "invalid JSON: {}",
                types::excerpt(&e.to_string())
            )));
        }
        // Only whitespace, or a truncated value.
        Some(Err(_)) | None => {
            return Err(Error::BadRequest(
                "invalid JSON: got EOF while reading request body".into(),
            ));
        }
    };
    let rest = &body[stream.byte_offset()..];
    if rest.iter().any(|b| !b.is_ascii_whitespace()) {
        return Err(Error::BadRequest("unexpected content after JSON".into()));
    }
    crate::model::fold::from_value(value)
        .map_err(|e| Error::BadRequest(format!("invalid JSON: {}", types::excerpt(&e.to_string()))))
}

/// A body must be JSON when a content type is given at all.
fn check_content_type(headers: &HeaderMap) -> Result<()> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let text = value.to_str().unwrap_or("");
    let media = text.split(';').next().unwrap_or("").trim();
    if media.eq_ignore_ascii_case("application/json") {
        Ok(())
    } else {
        Err(Error::BadRequest(format!(
            "unsupported Content-Type header ({text}): must be 'application/json'"
        )))
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;
    use crate::model::NodeSpec;

    fn json_headers() -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        headers
    }

    fn decode_text(text: &'static str) -> Result<NodeSpec> {
        decode(&json_headers(), Ok(Bytes::from_static(text.as_bytes())))
    }

    #[test]
    fn accepts_json_and_empty_bodies() {
        assert_eq!(decode_text("").unwrap(), NodeSpec::default());
        assert_eq!(
            decode_text(r#"{"Role":"worker","Labels":null} "#).unwrap().role,
            "worker"
        );
    }

    #[test]
    fn refuses_bad_bodies() {
        let message = |text| decode_text(text).unwrap_err().to_string();
        assert!(message("{").starts_with("invalid JSON"), "{}", message("{"));
        assert!(message(r#"{"Role": 5}"#).starts_with("invalid JSON: invalid type"));
        assert_eq!(message("{} {}"), "unexpected content after JSON");
        assert!(message("[]").starts_with("invalid JSON"));
        let mut text = HeaderMap::new();
        text.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        let err = decode::<NodeSpec>(&text, Ok(Bytes::from_static(b"{}"))).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("unsupported Content-Type header (text/plain)")
        );
    }

    mod key_case {
        use proptest::prelude::*;
        use serde_json::{Value, json};

        use super::*;
        use crate::model::ServiceSpec;

        /// Maps whose keys are the user's: their case is kept.
        const FREE_FORM: &[&str] = &["Labels", "Sysctls", "Options", "DriverOpts"];

        fn spec() -> Value {
            json!({
                "Name": "web", "Labels": {"Tier": "front"},
                "TaskTemplate": {
                    "ContainerSpec": {"Image": "nginx", "Args": ["a"], "Env": ["A=1"], "TTY": true,
                        "StopGracePeriod": 20, "Healthcheck": {"Test": ["NONE"], "Retries": 3},
                        "Mounts": [{"Type": "volume", "Source": "d", "Target": "/d", "VolumeOptions": {"NoCopy": true}}],
                        "Privileges": {"NoNewPrivileges": true}, "Sysctls": {"Net.Core": "1"},
                        "DNSConfig": {"Nameservers": ["8.8.8.8"]}, "Ulimits": [{"Name": "nofile", "Soft": 1, "Hard": 2}]},
                    "Resources": {"Limits": {"NanoCPUs": 5, "MemoryBytes": 6, "Pids": 7},
                                  "Reservations": {"NanoCPUs": 1, "MemoryBytes": 2}},
                    "RestartPolicy": {"Condition": "on-failure", "Delay": 3, "MaxAttempts": 4, "Window": 0},
                    "Placement": {"Constraints": ["node.role==worker"], "MaxReplicas": 2,
                                  "Preferences": [{"Spread": {"SpreadDescriptor": "node.labels.zone"}}],
                                  "Platforms": [{"Architecture": "amd64", "OS": "linux"}]},
                    "Networks": [{"Target": "backend", "Aliases": ["www"], "DriverOpts": {"Key": "v"}}],
                    "LogDriver": {"Name": "json-file", "Options": {"Max-Size": "10m"}},
                    "ForceUpdate": 2
                },
                "Mode": {"ReplicatedJob": {"MaxConcurrent": 2, "TotalCompletions": 4}},
                "UpdateConfig": {"Parallelism": 2, "Delay": 1, "FailureAction": "rollback", "Monitor": 1,
                                 "MaxFailureRatio": 0.25, "Order": "start-first"},
                "RollbackConfig": {"Parallelism": 1, "Order": "stop-first"},
                "EndpointSpec": {"Mode": "vip", "Ports": [{"Name": "http", "Protocol": "tcp", "TargetPort": 80,
                                 "PublishedPort": 8080, "PublishMode": "ingress"}]}
            })
        }

        /// `value` with each letter of each field key upper- or lower-cased by the next flip.
        fn recase(value: &Value, flips: &mut impl Iterator<Item = bool>) -> Value {
            match value {
                Value::Object(map) => Value::Object(
                    map.iter()
                        .map(|(key, v)| {
                            let cased = key
                                .chars()
                                .map(|c| {
                                    if flips.next().unwrap_or(false) {
                                        c.to_ascii_lowercase()
                                    } else {
                                        c.to_ascii_uppercase()
                                    }
                                })
                                .collect();
                            let v = if FREE_FORM.contains(&key.as_str()) {
                                v.clone()
                            } else {
                                recase(v, flips)
                            };
                            (cased, v)
                        })
                        .collect(),
                ),
                Value::Array(items) => Value::Array(items.iter().map(|v| recase(v, flips)).collect()),
                other => other.clone(),
            }
        }

        fn decode_value(value: &Value) -> ServiceSpec {
            let text = value.to_string();
            decode(&json_headers(), Ok(Bytes::from(text))).unwrap()
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            #[test]
            fn any_key_casing_decodes_identically(flips in proptest::collection::vec(any::<bool>(), 0..1200)) {
                let original = spec();
                let cased = recase(&original, &mut flips.into_iter().cycle());
                prop_assert_eq!(decode_value(&cased), decode_value(&original));
            }
        }
    }
}
