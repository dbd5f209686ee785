//! Image references by the distribution reference grammar that dockerd and SwarmKit apply:
//!
//! ```text
//! reference := name [ ":" tag ] [ "@" digest ]
//! name      := [ domain "/" ] path-component { "/" path-component }      (≤ 255 chars)
//! domain    := host [ ":" port ]      host: dns labels joined by "." or "[" IPv6 "]"
//! path-comp := [a-z0-9]+ { ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ }
//! tag       := [A-Za-z0-9_] [A-Za-z0-9_.-]{0,127}
//! digest    := algorithm ":" hex{32,}   (sha256: exactly 64 lowercase hex)
//! ```
//!
//! The first component is a domain when it contains `.` or `:`, is `localhost`, or has an
//! upper-case letter (docker's normalisation rule).

use thiserror::Error;

/// Longest repository name.
pub const NAME_MAX: usize = 255;

/// Why a reference does not parse.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ReferenceError {
    /// Empty reference.
    #[error("repository name must have at least one component")]
    Empty,
    /// Name over [`NAME_MAX`].
    #[error("repository name must not be more than 255 characters")]
    NameTooLong,
    /// A path component with upper-case letters.
    #[error("repository name must be lowercase")]
    Uppercase,
    /// A bare 64-hex name is an image ID, not a name.
    #[error("cannot specify 64-byte hexadecimal strings")]
    HexName,
    /// The domain part is malformed.
    #[error("invalid domain")]
    Domain,
    /// A path component is malformed.
    #[error("invalid reference format")]
    Format,
    /// The tag is malformed.
    #[error("invalid tag format")]
    Tag,
    /// The digest is malformed.
    #[error("invalid digest format")]
    Digest,
}

/// A parsed reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference<'a> {
    /// Registry host[:port], if the name has one.
    pub domain: Option<&'a str>,
    /// Repository path.
    pub path: &'a str,
    /// Tag, if any.
    pub tag: Option<&'a str>,
    /// Digest, if any.
    pub digest: Option<&'a str>,
}

/// Parses `text` by the grammar above.
pub fn parse(text: &str) -> Result<Reference<'_>, ReferenceError> {
    if text.is_empty() {
        return Err(ReferenceError::Empty);
    }
    let (rest, digest) = match text.split_once('@') {
        Some((rest, digest)) => (rest, Some(digest)),
        None => (text, None),
    };
    if let Some(d) = digest {
        check_digest(d)?;
    }
    let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match rest[last_slash..].rfind(':') {
        Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
        None => (rest, None),
    };
    if let Some(t) = tag {
        check_tag(t)?;
    }
    if name.is_empty() {
        return Err(ReferenceError::Empty);
    }
    if name.len() > NAME_MAX {
        return Err(ReferenceError::NameTooLong);
    }
    let (domain, path) = match name.split_once('/') {
        Some((first, path))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.bytes().any(|b| b.is_ascii_uppercase()) =>
        {
            check_domain(first)?;
            (Some(first), path)
        }
        _ => (None, name),
    };
    if domain.is_none()
        && path.len() == 64
        && path
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    {
        return Err(ReferenceError::HexName);
    }
    for component in path.split('/') {
        check_component(component)?;
    }
    Ok(Reference {
        domain,
        path,
        tag,
        digest,
    })
}

fn alnum_lower(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// `[a-z0-9]+ ((. | _ | __ | -+) [a-z0-9]+)*`
fn check_component(c: &str) -> Result<(), ReferenceError> {
    if c.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(ReferenceError::Uppercase);
    }
    let bytes = c.as_bytes();
    if bytes.is_empty() || !alnum_lower(bytes[0]) || !alnum_lower(bytes[bytes.len() - 1]) {
        return Err(ReferenceError::Format);
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum_lower(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum_lower(bytes[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|b| b == b'-');
        if !ok {
            return Err(ReferenceError::Format);
        }
    }
    Ok(())
}

/// `host[:port]`: DNS labels or a bracketed IPv6 address.
fn check_domain(d: &str) -> Result<(), ReferenceError> {
    let (host, port) = if let Some(rest) = d.strip_prefix('[') {
        let (ip, tail) = rest.split_once(']').ok_or(ReferenceError::Domain)?;
        ip.parse::<std::net::Ipv6Addr>()
            .map_err(|_| ReferenceError::Domain)?;
        match tail {
            "" => return Ok(()),
            t => ("", t.strip_prefix(':').ok_or(ReferenceError::Domain)?),
        }
    } else {
        match d.split_once(':') {
            Some((h, p)) => (h, p),
            None => (d, ""),
        }
    };
    if d.contains(':')
        && !d.starts_with('[')
        && (port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(ReferenceError::Domain);
    }
    if !d.starts_with('[') {
        for label in host.split('.') {
            let b = label.as_bytes();
            let ok = !b.is_empty()
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-');
            if !ok {
                return Err(ReferenceError::Domain);
            }
        }
    } else if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ReferenceError::Domain);
    }
    Ok(())
}

/// `[\w][\w.-]{0,127}`
fn check_tag(t: &str) -> Result<(), ReferenceError> {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let b = t.as_bytes();
    if b.is_empty() || b.len() > 128 || !word(b[0]) || !b.iter().all(|&c| word(c) || c == b'.' || c == b'-') {
        return Err(ReferenceError::Tag);
    }
    Ok(())
}

/// `algorithm:hex`, with sha256's exact length.
fn check_digest(d: &str) -> Result<(), ReferenceError> {
    let (algorithm, encoded) = d.split_once(':').ok_or(ReferenceError::Digest)?;
    let alg_ok = !algorithm.is_empty()
        && algorithm.split(['+', '.', '_', '-']).all(|part| {
            let b = part.as_bytes();
            !b.is_empty() && b[0].is_ascii_alphabetic() && b.iter().all(u8::is_ascii_alphanumeric)
        });
    let hex_ok = encoded.len() >= 32 && encoded.bytes().all(|b| b.is_ascii_hexdigit());
    let length_ok =
        algorithm != "sha256" || (encoded.len() == 64 && encoded.bytes().all(|b| !b.is_ascii_uppercase()));
    if alg_ok && hex_ok && length_ok {
        Ok(())
    } else {
        Err(ReferenceError::Digest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

    #[test]
    fn accepts_what_docker_accepts() {
        for ok in [
            "busybox",
            "busybox:1.36",
            "library/busybox:latest",
            "docker.io/library/busybox",
            "localhost/app",
            "localhost:5000/team/app:v1.2-rc_3",
            "registry.example.com:443/a/b/c",
            "[::1]:5000/app",
            "my-app__x.y---z",
            "Registry.Example/app",
            "a:_tag",
        ] {
            assert!(parse(ok).is_ok(), "{ok}: {:?}", parse(ok));
        }
        let with_digest = format!("busybox:1@{SHA}");
        let r = parse(&with_digest).unwrap();
        assert_eq!((r.domain, r.path, r.tag), (None, "busybox", Some("1")));
        assert_eq!(r.digest, Some(SHA));
        let r = parse("localhost:5000/app:v1").unwrap();
        assert_eq!(
            (r.domain, r.path, r.tag),
            (Some("localhost:5000"), "app", Some("v1"))
        );
    }

    #[test]
    fn refuses_what_docker_refuses() {
        use ReferenceError as E;
        let cases: &[(&str, E)] = &[
            ("", E::Empty),
            ("Busybox", E::Uppercase),
            ("library/Busybox", E::Uppercase),
            ("busy box", E::Format),
            ("-busybox", E::Format),
            ("busybox-", E::Format),
            ("a...b", E::Format),
            ("a//b", E::Format),
            ("busybox:", E::Tag),
            ("busybox:-x", E::Tag),
            ("busybox@sha256:abc", E::Digest),
            ("busybox@md5", E::Digest),
            ("-bad.example/app", E::Domain),
            ("host.example:port/app", E::Domain),
            ("[::1/app", E::Domain),
            (
                "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
                E::HexName,
            ),
        ];
        for (text, want) in cases {
            assert_eq!(parse(text).as_ref().err(), Some(want), "{text:?}");
        }
        let long = "a".repeat(256);
        assert_eq!(parse(&long).unwrap_err(), E::NameTooLong);
        let long_tag = format!("busybox:{}", "t".repeat(129));
        assert_eq!(parse(&long_tag).unwrap_err(), E::Tag);
    }
}
