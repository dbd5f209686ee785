//! Query strings, read the way dockerd's handlers read them: first value wins, `+` is a
//! space, bad percent escapes pass through as text (nothing here can fail or panic).

use crate::error::{Error, Result};

/// Decoded `key=value` pairs of a query string, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    /// Parses a raw query string (without the `?`).
    pub fn parse(raw: &str) -> Query {
        let pairs = raw
            .split('&')
            .filter(|part| !part.is_empty())
            .map(|part| {
                let (key, value) = part.split_once('=').unwrap_or((part, ""));
                (decode(key), decode(value))
            })
            .collect();
        Query { pairs }
    }

    /// The first value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// Every `(key, value)` pair with `key`.
    pub fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        self.pairs
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// dockerd's `BoolValue`: absent, empty, `0`, `no`, `false` and `none` are false; anything
    /// else is true.
    pub fn flag(&self, key: &str) -> bool {
        let value = self.get(key).unwrap_or("").trim().to_ascii_lowercase();
        !matches!(value.as_str(), "" | "0" | "no" | "false" | "none")
    }

    /// A strict boolean (Go's `strconv.ParseBool`); absent or empty is false.
    pub fn strict_bool(&self, key: &str) -> Result<bool> {
        match self.get(key).unwrap_or("") {
            "" | "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
            "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
            other => Err(Error::BadRequest(format!("invalid value for {key}: {other}"))),
        }
    }

    /// The `version` parameter of an update, with dockerd's message naming `object`.
    pub fn object_version(&self, object: &str) -> Result<u64> {
        let raw = self.get("version").unwrap_or("");
        parse_uint(raw).map_err(|reason| {
            Error::BadRequest(format!(
                "invalid {object} version '{raw}': strconv.ParseUint: parsing {raw:?}: {reason}"
            ))
        })
    }
}

/// Go's `strconv.ParseUint(raw, 10, 64)`, with its reasons.
fn parse_uint(raw: &str) -> std::result::Result<u64, &'static str> {
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err("invalid syntax");
    }
    raw.parse().map_err(|_| "value out of range")
}

/// Percent-decoding with `+` as space; an invalid escape is kept literally.
fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(hi), Some(lo)) => {
                    out.push(hi << 4 | lo);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One hex digit's value.
fn hex(digit: u8) -> Option<u8> {
    (digit as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_and_reads_like_dockerd() {
        let q = Query::parse(
            "filters=%7B%22role%22%3A%7B%22manager%22%3Atrue%7D%7D&force=1&x=a+b&bad=%zz&end=%4",
        );
        assert_eq!(q.get("filters"), Some(r#"{"role":{"manager":true}}"#));
        assert!(q.flag("force"));
        assert!(!q.flag("missing"));
        assert_eq!(q.get("x"), Some("a b"));
        assert_eq!(q.get("bad"), Some("%zz"));
        assert_eq!(q.get("end"), Some("%4"));
        assert!(!Query::parse("force=false").flag("force"));
        assert!(!Query::parse("force=None").flag("force"));
        assert!(Query::parse("force=yes").flag("force"));
    }

    #[test]
    fn versions_and_bools_fail_like_dockerd() {
        assert_eq!(Query::parse("version=12").object_version("node").unwrap(), 12);
        assert_eq!(
            Query::parse("").object_version("node").unwrap_err().to_string(),
            r#"invalid node version '': strconv.ParseUint: parsing "": invalid syntax"#
        );
        assert_eq!(
            Query::parse("version=-1")
                .object_version("swarm")
                .unwrap_err()
                .to_string(),
            r#"invalid swarm version '-1': strconv.ParseUint: parsing "-1": invalid syntax"#
        );
        assert!(
            Query::parse("version=99999999999999999999999")
                .object_version("swarm")
                .is_err()
        );
        assert!(
            Query::parse("rotateWorkerToken=true")
                .strict_bool("rotateWorkerToken")
                .unwrap()
        );
        assert_eq!(
            Query::parse("rotateWorkerToken=maybe")
                .strict_bool("rotateWorkerToken")
                .unwrap_err()
                .to_string(),
            "invalid value for rotateWorkerToken: maybe"
        );
    }
}
