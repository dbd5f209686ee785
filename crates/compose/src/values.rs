//! The value shapes compose files allow beside plain ones: a number written as a string
//! (what interpolation leaves: `replicas: ${N}`), a command as a string or a list, a map
//! or a `KEY=VALUE` list, Go durations (`1m30s`) and byte sizes (`512M`).

use std::collections::BTreeMap;

use serde::de::{Deserialize, Deserializer, Error as _};
use serde_json::Value;

/// A scalar as text (numbers and booleans as YAML wrote them), or `None` for null.
fn scalar_text(v: &Value) -> Option<Option<String>> {
    match v {
        Value::Null => Some(None),
        Value::String(s) => Some(Some(s.clone())),
        Value::Number(n) => Some(Some(n.to_string())),
        Value::Bool(b) => Some(Some(b.to_string())),
        _ => None,
    }
}

/// A count: a non-negative integer or a string of one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Count(pub u64);

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        let n = match &v {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        };
        n.map(Count)
            .ok_or_else(|| D::Error::custom(format!("expected a non-negative integer, found {v}")))
    }
}

/// A boolean, or a string `true`/`false`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flag(pub bool);

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        match &v {
            Value::Bool(b) => Ok(Flag(*b)),
            Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(Flag(true)),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(Flag(false)),
            _ => Err(D::Error::custom(format!("expected true or false, found {v}"))),
        }
    }
}

/// A number of CPUs (`0.5`, `"2"`), kept as nano-CPUs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cpus(pub i64);

impl<'de> Deserialize<'de> for Cpus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        let f = match &v {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse::<f64>().ok(),
            _ => None,
        };
        match f {
            Some(f) if f.is_finite() && (0.0..=1e9).contains(&f) => Ok(Cpus((f * 1e9).round() as i64)),
            _ => Err(D::Error::custom(format!("expected a number of CPUs, found {v}"))),
        }
    }
}

/// A duration in nanoseconds, written as Go writes one (`10s`, `1m30s`, `250ms`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Nanos(pub i64);

impl<'de> Deserialize<'de> for Nanos {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        let text = match &v {
            Value::String(s) => s.clone(),
            // Go's parser takes "0" without a unit; so does this.
            Value::Number(n) if n.as_u64() == Some(0) => "0".into(),
            _ => String::new(),
        };
        go_duration(&text)
            .map(Nanos)
            .ok_or_else(|| D::Error::custom(format!("expected a duration like 10s or 1m30s, found {v}")))
    }
}

/// Go's `time.ParseDuration` for non-negative values: a sequence of decimal numbers with
/// units `ns us µs ms s m h`.
pub fn go_duration(text: &str) -> Option<i64> {
    let mut rest = text.trim();
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += number * scale;
    }
    (total <= i64::MAX as f64).then_some(total.round() as i64)
}

/// A size in bytes: an integer, or a number with a unit (`512M`, `1.5g`, `64kb`), as
/// docker's `RAMInBytes` reads it (units of 1024).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Bytes(pub i64);

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        let n = match &v {
            Value::Number(n) => n.as_i64().filter(|n| *n >= 0),
            Value::String(s) => ram_in_bytes(s),
            _ => None,
        };
        n.map(Bytes)
            .ok_or_else(|| D::Error::custom(format!("expected a size like 512M, found {v}")))
    }
}

/// docker's `RAMInBytes`: a decimal number, then an optional unit `b k m g t p`, optionally
/// followed by `b` or `ib`; case-insensitive.
pub fn ram_in_bytes(text: &str) -> Option<i64> {
    let t = text.trim().to_ascii_lowercase();
    let num_len = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let number: f64 = t[..num_len].parse().ok()?;
    let unit = t[num_len..].trim();
    let unit = unit
        .strip_suffix("ib")
        .or_else(|| unit.strip_suffix('b').filter(|u| !u.is_empty()))
        .unwrap_or(unit);
    let scale: f64 = match unit {
        "" | "b" => 1.0,
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => 1024.0 * 1024.0 * 1024.0,
        "t" => 1024.0f64.powi(4),
        "p" => 1024.0f64.powi(5),
        _ => return None,
    };
    let bytes = number * scale;
    (bytes.is_finite() && bytes <= i64::MAX as f64).then_some(bytes as i64)
}

/// A command: a list of words, or a string split as a shell splits it (quotes and
/// backslashes, no expansion).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Words(pub Vec<String>);

impl<'de> Deserialize<'de> for Words {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        match &v {
            Value::Null => Ok(Words(Vec::new())),
            Value::String(s) => shell_words(s).map(Words).map_err(D::Error::custom),
            Value::Array(items) => items
                .iter()
                .map(|i| scalar_text(i).flatten())
                .collect::<Option<Vec<_>>>()
                .map(Words)
                .ok_or_else(|| D::Error::custom(format!("expected a list of strings, found {v}"))),
            _ => Err(D::Error::custom(format!(
                "expected a string or a list, found {v}"
            ))),
        }
    }
}

/// Splits `s` into words as a POSIX shell would (no expansion).
pub fn shell_words(s: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if let Some(w) = word.take() {
                    words.push(w);
                }
            }
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => w.push(c),
                        None => return Err(format!("unterminated single quote in {s:?}")),
                    }
                }
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => w.push(c),
                            Some(c) => {
                                w.push('\\');
                                w.push(c);
                            }
                            None => return Err(format!("unterminated double quote in {s:?}")),
                        },
                        Some(c) => w.push(c),
                        None => return Err(format!("unterminated double quote in {s:?}")),
                    }
                }
            }
            '\\' => {
                let w = word.get_or_insert_with(String::new);
                if let Some(c) = chars.next() {
                    w.push(c);
                }
            }
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    Ok(words)
}

/// One string or a list of them (`dns`, `env_file`, `constraints` written alone).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Strings(pub Vec<String>);

impl<'de> Deserialize<'de> for Strings {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        match &v {
            Value::Null => Ok(Strings(Vec::new())),
            Value::Array(items) => items
                .iter()
                .map(|i| scalar_text(i).flatten())
                .collect::<Option<Vec<_>>>()
                .map(Strings)
                .ok_or_else(|| D::Error::custom(format!("expected a list of strings, found {v}"))),
            other => scalar_text(other)
                .flatten()
                .map(|s| Strings(vec![s]))
                .ok_or_else(|| D::Error::custom(format!("expected a string or a list, found {v}"))),
        }
    }
}

/// `KEY: value` map or `KEY=value` list (environment, labels, sysctls); a key without a
/// value is `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pairs(pub BTreeMap<String, Option<String>>);

impl<'de> Deserialize<'de> for Pairs {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        let mut out = BTreeMap::new();
        match &v {
            Value::Null => {}
            Value::Object(map) => {
                for (k, val) in map {
                    let text = scalar_text(val).ok_or_else(|| {
                        D::Error::custom(format!("{k}: expected a string, number or boolean, found {val}"))
                    })?;
                    out.insert(k.clone(), text);
                }
            }
            Value::Array(items) => {
                for item in items {
                    let Some(Some(text)) = scalar_text(item) else {
                        return Err(D::Error::custom(format!("expected KEY=VALUE, found {item}")));
                    };
                    match text.split_once('=') {
                        Some((k, val)) => out.insert(k.to_string(), Some(val.to_string())),
                        None => out.insert(text, None),
                    };
                }
            }
            _ => return Err(D::Error::custom(format!("expected a map or a list, found {v}"))),
        }
        Ok(Pairs(out))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn durations_as_go_reads_them() {
        assert_eq!(go_duration("10s"), Some(10_000_000_000));
        assert_eq!(go_duration("1m30s"), Some(90_000_000_000));
        assert_eq!(go_duration("1.5h"), Some(5_400_000_000_000));
        assert_eq!(go_duration("250ms"), Some(250_000_000));
        assert_eq!(go_duration("0"), Some(0));
        for bad in ["", "10", "s", "10x", "-1s", "1e3s"] {
            assert_eq!(go_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn sizes_as_docker_reads_them() {
        assert_eq!(ram_in_bytes("512M"), Some(512 << 20));
        assert_eq!(ram_in_bytes("1g"), Some(1 << 30));
        assert_eq!(ram_in_bytes("1.5GiB"), Some(3 << 29));
        assert_eq!(ram_in_bytes("64kb"), Some(64 << 10));
        assert_eq!(ram_in_bytes("100"), Some(100));
        assert_eq!(ram_in_bytes("100b"), Some(100));
        assert_eq!(ram_in_bytes("12x"), None);
        assert_eq!(ram_in_bytes("M"), None);
    }

    #[test]
    fn commands_split_as_a_shell_does() {
        assert_eq!(
            shell_words(r#"sh -c 'echo "a b"' x\ y "q\"z""#).unwrap(),
            ["sh", "-c", "echo \"a b\"", "x y", "q\"z"]
        );
        assert!(shell_words("echo 'open").is_err());
        assert_eq!(shell_words("  ").unwrap(), Vec::<String>::new());
        assert_eq!(shell_words("''").unwrap(), [""]);
    }

    #[test]
    fn lenient_scalars() {
        let c: Count = serde_json::from_value(serde_json::json!("3")).unwrap();
        assert_eq!(c, Count(3));
        assert!(serde_json::from_value::<Count>(serde_json::json!(-1)).is_err());
        let p: Pairs = serde_json::from_value(serde_json::json!(["A=1", "B", "C=x=y"])).unwrap();
        assert_eq!(p.0["A"].as_deref(), Some("1"));
        assert_eq!(p.0["B"], None);
        assert_eq!(p.0["C"].as_deref(), Some("x=y"));
        let p: Pairs = serde_json::from_value(serde_json::json!({"A": 1, "B": null, "C": true})).unwrap();
        assert_eq!(p.0["A"].as_deref(), Some("1"));
        assert_eq!(p.0["C"].as_deref(), Some("true"));
        let cpus: Cpus = serde_json::from_value(serde_json::json!("0.5")).unwrap();
        assert_eq!(cpus, Cpus(500_000_000));
    }
}
