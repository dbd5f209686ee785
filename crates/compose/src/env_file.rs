//! `.env` beside the compose file: `KEY=VALUE` lines for interpolation. Blank lines and
//! `#` comments are skipped, `export ` is allowed before a key, a value may be quoted with
//! `'…'` (taken as is) or `"…"` (`\n`, `\"`, `\\` unescaped); an unquoted value ends at ` #`
//! and is trimmed. The process environment wins over the file, as compose has it.

use std::collections::BTreeMap;

use crate::error::{Result, invalid};

/// Largest `.env` read: a file of variables, not data.
pub const MAX_LEN: usize = 1 << 20;

/// The variables of an env file's text; `name` names the file in errors.
pub fn parse(text: &str, name: &str) -> Result<BTreeMap<String, String>> {
    let mut vars = BTreeMap::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").map_or(line, str::trim_start);
        let at = || format!("{name} line {}", n + 1);
        let Some((key, value)) = line.split_once('=') else {
            return Err(invalid(at(), format!("expected KEY=VALUE, found {line:?}")));
        };
        let key = key.trim();
        let valid = key
            .chars()
            .next()
            .is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
            && key
                .chars()
                .all(|c| c == '_' || c == '.' || c.is_ascii_alphanumeric());
        if !valid {
            return Err(invalid(at(), format!("invalid variable name {key:?}")));
        }
        vars.insert(key.to_string(), value_of(value.trim(), &at)?);
    }
    Ok(vars)
}

fn value_of(value: &str, at: &dyn Fn() -> String) -> Result<String> {
    if let Some(inner) = value.strip_prefix('\'') {
        let end = inner
            .find('\'')
            .ok_or_else(|| invalid(at(), "unterminated single quote"))?;
        return Ok(inner[..end].to_string());
    }
    if let Some(inner) = value.strip_prefix('"') {
        let mut out = String::new();
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            match c {
                '"' => return Ok(out),
                '\\' => match chars.next() {
                    Some('n') => out.push('\n'),
                    Some(other) => out.push(other),
                    None => break,
                },
                c => out.push(c),
            }
        }
        return Err(invalid(at(), "unterminated double quote"));
    }
    let value = value.split_once(" #").map_or(value, |(v, _)| v);
    Ok(value.trim().to_string())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn reads_the_forms_people_write() {
        let text = "# settings\n\nTAG=1.25\nexport DB = mysql \nQ='a $b # c'\nD=\"x\\ny \\\"q\\\"\"\nC=v # note\nE=\n";
        let vars = parse(text, ".env").unwrap();
        assert_eq!(vars["TAG"], "1.25");
        assert_eq!(vars["DB"], "mysql");
        assert_eq!(vars["Q"], "a $b # c");
        assert_eq!(vars["D"], "x\ny \"q\"");
        assert_eq!(vars["C"], "v");
        assert_eq!(vars["E"], "");
    }

    #[test]
    fn bad_lines_are_named() {
        let err = parse("A=1\nnot a pair\n", ".env").unwrap_err();
        assert_eq!(
            err.to_string(),
            ".env line 2: expected KEY=VALUE, found \"not a pair\""
        );
        assert!(parse("1X=2", ".env").is_err());
        assert!(parse("A='open", ".env").is_err());
        assert!(parse("A=\"open", ".env").is_err());
    }
}
