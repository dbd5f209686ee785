//! Variable interpolation as the docker CLI's `stack deploy` does it, on every string value
//! of the file's `services`, `networks`, `volumes`, `secrets` and `configs` (keys and `x-`
//! sections are left alone):
//!
//! ```text
//! $$            a literal $
//! $VAR ${VAR}   VAR's value, "" (with a warning) when unset
//! ${VAR:-d}     d when VAR is unset or empty      ${VAR-d}  d when VAR is unset
//! ${VAR:?e}     error e when VAR is unset or empty ${VAR?e}  error e when VAR is unset
//! ```
//!
//! Names are `[_a-zA-Z][_a-zA-Z0-9]*`. Any other `$` (a lone one at the end, `${}`,
//! `${VAR:+x}`, an unclosed brace) is an error, as docker's pattern leaves it unmatched. The
//! operator is found as docker's substitution functions find it: the first of `:-`, `-`,
//! `:?`, `?` (tried in that order) contained in the braces, the name before it; a default is
//! not itself interpolated.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::error::{Error, Result};

/// The top-level sections whose values are interpolated.
const SECTIONS: [&str; 5] = ["services", "networks", "volumes", "secrets", "configs"];

/// Most bytes the variables may add to one file: a large variable referenced many times
/// (directly or through YAML aliases) would otherwise multiply into gigabytes.
pub const MAX_EXPANSION: usize = 64 << 20;

/// Variables to interpolate from, and the names found unset (for the warnings).
pub struct Interpolator<'a> {
    vars: &'a BTreeMap<String, String>,
    /// Variables used but not set, in the order first met.
    pub unset: Vec<String>,
    /// Bytes the variables have added so far (bounded by [`MAX_EXPANSION`]).
    expanded: usize,
}

impl<'a> Interpolator<'a> {
    /// An interpolator over `vars`.
    pub fn new(vars: &'a BTreeMap<String, String>) -> Self {
        Interpolator {
            vars,
            unset: Vec::new(),
            expanded: 0,
        }
    }

    /// Interpolates every string value of the file's sections in place.
    pub fn file(&mut self, doc: &mut Value) -> Result<()> {
        let Value::Object(top) = doc else {
            return Ok(());
        };
        for (key, value) in top.iter_mut() {
            if SECTIONS.contains(&key.as_str()) {
                self.tree(value, key)?;
            }
        }
        Ok(())
    }

    fn tree(&mut self, value: &mut Value, path: &str) -> Result<()> {
        match value {
            Value::String(s) if s.contains('$') => *s = self.string(s, path)?,
            Value::Array(items) => {
                for (i, item) in items.iter_mut().enumerate() {
                    self.tree(item, &format!("{path}[{i}]"))?;
                }
            }
            Value::Object(map) => {
                for (k, v) in map.iter_mut() {
                    self.tree(v, &format!("{path}.{k}"))?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// One string, `path` naming it in errors.
    pub fn string(&mut self, template: &str, path: &str) -> Result<String> {
        let invalid = || Error::Interpolation {
            path: path.to_string(),
            template: template.to_string(),
        };
        let mut out = String::with_capacity(template.len());
        let mut rest = template;
        while let Some(at) = rest.find('$') {
            out.push_str(&rest[..at]);
            let after = &rest[at + 1..];
            let first = after.chars().next();
            match first {
                Some('$') => {
                    out.push('$');
                    rest = &after[1..];
                }
                Some('{') => {
                    let inner = &after[1..];
                    let name_len = name_length(inner);
                    if name_len == 0 {
                        return Err(invalid());
                    }
                    let close = inner.find('}').ok_or_else(invalid)?;
                    let body = &inner[..close];
                    // docker's pattern: the name, then nothing or an operator and anything
                    // but a brace.
                    let tail = &body[name_len..];
                    let operator_ok =
                        tail.is_empty() || ["-", "?", ":-", ":?"].iter().any(|op| tail.starts_with(op));
                    if !operator_ok {
                        return Err(invalid());
                    }
                    let value = self.braced(body)?;
                    self.spend(value.len(), path)?;
                    out.push_str(&value);
                    rest = &inner[close + 1..];
                }
                Some(c) if c == '_' || c.is_ascii_alphabetic() => {
                    let len = name_length(after);
                    let value = self.lookup_or_blank(&after[..len]);
                    self.spend(value.len(), path)?;
                    out.push_str(&value);
                    rest = &after[len..];
                }
                _ => return Err(invalid()),
            }
        }
        out.push_str(rest);
        Ok(out)
    }

    /// Counts `bytes` more of variable text against the file's [`MAX_EXPANSION`].
    fn spend(&mut self, bytes: usize, path: &str) -> Result<()> {
        self.expanded = self.expanded.saturating_add(bytes);
        if self.expanded > MAX_EXPANSION {
            return Err(crate::error::invalid(
                path,
                format!("interpolation adds more than {MAX_EXPANSION} bytes of variable values to the file"),
            ));
        }
        Ok(())
    }

    /// The inside of `${…}`, matched to docker's functions in their order.
    fn braced(&mut self, body: &str) -> Result<String> {
        if let Some((name, default)) = body.split_once(":-") {
            return Ok(match self.vars.get(name) {
                Some(v) if !v.is_empty() => v.clone(),
                _ => default.to_string(),
            });
        }
        if let Some((name, default)) = body.split_once('-') {
            return Ok(match self.vars.get(name) {
                Some(v) => v.clone(),
                None => default.to_string(),
            });
        }
        if let Some((name, message)) = body.split_once(":?") {
            return match self.vars.get(name) {
                Some(v) if !v.is_empty() => Ok(v.clone()),
                _ => Err(required(name, message)),
            };
        }
        if let Some((name, message)) = body.split_once('?') {
            return self
                .vars
                .get(name)
                .cloned()
                .ok_or_else(|| required(name, message));
        }
        Ok(self.lookup_or_blank(body))
    }

    fn lookup_or_blank(&mut self, name: &str) -> String {
        match self.vars.get(name) {
            Some(v) => v.clone(),
            None => {
                if !self.unset.iter().any(|n| n == name) {
                    self.unset.push(name.to_string());
                }
                String::new()
            }
        }
    }
}

fn required(name: &str, message: &str) -> Error {
    Error::Required {
        name: name.to_string(),
        message: message.to_string(),
    }
}

/// Length in bytes of the variable name at the start of `s` (0 if none).
fn name_length(s: &str) -> usize {
    let mut chars = s.char_indices();
    match chars.next() {
        Some((_, c)) if c == '_' || c.is_ascii_alphabetic() => {}
        _ => return 0,
    }
    chars
        .find(|(_, c)| !(*c == '_' || c.is_ascii_alphanumeric()))
        .map_or(s.len(), |(i, _)| i)
}

#[cfg(test)]
#[path = "interpolate_tests.rs"]
mod tests;
