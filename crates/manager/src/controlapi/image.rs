//! Image references in the reference grammar's normal form, as the Docker client library
//! writes them before it sends a spec: `busybox` → `busybox:latest`,
//! `docker.io/library/busybox` → `busybox:latest`, a digest kept, a digest alone left
//! untagged. Storing that form means a service created by one client is not "changed" (its
//! tasks replaced) by the next client that sends the same image spelled canonically.
//!
//! ```text
//! reference := name [ ":" tag ] [ "@" digest ]
//! name      := [ domain "/" ] path          domain := host [ ":" port ]
//! path      := component ( "/" component )* component := [a-z0-9]+ ( ( [_.] | __ | -+ ) [a-z0-9]+ )*
//! tag       := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
//! digest    := algorithm ":" hex (32 or more)
//! ```

use types::ServiceSpec;

use crate::{Error, Result};

/// The registry a name without a domain lives on.
const DEFAULT_DOMAIN: &str = "docker.io";
/// The namespace of one-component names on the default registry.
const OFFICIAL_PREFIX: &str = "library/";
/// Longest name (domain and path) the grammar allows.
const NAME_MAX: usize = 255;

/// Normalises the image of `spec`'s container, refusing what is not a reference (as
/// SwarmKit's `ContainerSpec: "…" is not a valid repository/tag`). An empty image is left for
/// the spec's validation to refuse.
pub fn normalise_spec(spec: &mut ServiceSpec) -> Result<()> {
    let image = &spec.task.container.image;
    if image.trim().is_empty() {
        return Ok(());
    }
    let normal = normalise(image).ok_or_else(|| {
        Error::InvalidArgument(format!("ContainerSpec: {image:?} is not a valid repository/tag"))
    })?;
    if normal != *image {
        std::sync::Arc::make_mut(&mut spec.task).container.image = normal;
    }
    Ok(())
}

/// The familiar, tagged form of `reference`, or `None` if it is not one.
pub fn normalise(reference: &str) -> Option<String> {
    let (rest, digest) = match reference.split_once('@') {
        Some((rest, digest)) => (rest, Some(digest)),
        None => (reference, None),
    };
    if digest.is_some_and(|d| !valid_digest(d)) {
        return None;
    }
    // A tag follows the last ':' after the last '/' (an earlier ':' is a registry port).
    let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match rest[last_slash..].rfind(':') {
        Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
        None => (rest, None),
    };
    if tag.is_some_and(|t| !valid_tag(t)) {
        return None;
    }
    // A bare 64-hex name would read as an image ID.
    if name.len() == 64 && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    let (domain, path) = split_domain(name);
    if domain.len() + 1 + path.len() > NAME_MAX || !valid_domain(domain) || !valid_path(&path) {
        return None;
    }
    let mut out = familiar(domain, &path);
    match (tag, digest) {
        (Some(t), _) => {
            out.push(':');
            out.push_str(t);
        }
        // Only a bare name gets the default tag; a digest pins the image by itself.
        (None, None) => out.push_str(":latest"),
        (None, Some(_)) => {}
    }
    if let Some(d) = digest {
        out.push('@');
        out.push_str(d);
    }
    Some(out)
}

/// Splits the registry off a name: the first component is one only if it looks like a host
/// (has a '.' or ':', is `localhost`, or has upper-case letters, which paths may not).
fn split_domain(name: &str) -> (&str, String) {
    let (domain, path) = match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':']) || first == "localhost" || first.to_lowercase() != first =>
        {
            (first, rest.to_string())
        }
        _ => (DEFAULT_DOMAIN, name.to_string()),
    };
    let domain = if domain == "index.docker.io" {
        DEFAULT_DOMAIN
    } else {
        domain
    };
    let path = if domain == DEFAULT_DOMAIN && !path.contains('/') {
        format!("{OFFICIAL_PREFIX}{path}")
    } else {
        path
    };
    (domain, path)
}

/// The short form Docker shows: no default registry, no `library/` for official images.
fn familiar(domain: &str, path: &str) -> String {
    if domain != DEFAULT_DOMAIN {
        return format!("{domain}/{path}");
    }
    match path.strip_prefix(OFFICIAL_PREFIX) {
        Some(short) if !short.contains('/') => short.to_string(),
        _ => path.to_string(),
    }
}

fn valid_domain(domain: &str) -> bool {
    let (host, port) = match domain.rsplit_once(':') {
        // An IPv6 host keeps its colons inside brackets.
        Some((h, p)) if !p.contains(']') => (h, Some(p)),
        _ => (domain, None),
    };
    if port.is_some_and(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit())) {
        return false;
    }
    if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return !v6.is_empty() && v6.bytes().all(|b| b.is_ascii_hexdigit() || b == b':');
    }
    !host.is_empty()
        && host.split('.').all(|label| {
            let b = label.as_bytes();
            !b.is_empty()
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        })
}

fn valid_path(path: &str) -> bool {
    path.split('/').all(valid_component)
}

/// `[a-z0-9]+ ( ( [_.] | __ | -+ ) [a-z0-9]+ )*`.
fn valid_component(c: &str) -> bool {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let b = c.as_bytes();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = matches!(sep, "_" | "." | "__") || sep.bytes().all(|s| s == b'-');
        if !ok {
            return false;
        }
    }
    true
}

fn valid_tag(tag: &str) -> bool {
    let b = tag.as_bytes();
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    !b.is_empty() && b.len() <= 128 && word(b[0]) && b.iter().all(|c| word(*c) || matches!(c, b'.' | b'-'))
}

/// `algorithm ":" hex`, the algorithm `[A-Za-z][A-Za-z0-9]*` parts joined by `+._-`.
fn valid_digest(digest: &str) -> bool {
    let Some((algorithm, hex)) = digest.split_once(':') else {
        return false;
    };
    let algorithm_ok = algorithm.split(['+', '.', '_', '-']).all(|part| {
        let b = part.as_bytes();
        !b.is_empty() && b[0].is_ascii_alphabetic() && b.iter().all(|c| c.is_ascii_alphanumeric())
    });
    algorithm_ok && hex.len() >= 32 && hex.bytes().all(|c| c.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::normalise;

    const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn names_get_the_default_tag_in_familiar_form() {
        for (given, want) in [
            ("busybox", "busybox:latest"),
            ("busybox:1.36", "busybox:1.36"),
            ("library/busybox", "busybox:latest"),
            ("docker.io/library/busybox", "busybox:latest"),
            ("index.docker.io/library/busybox:1", "busybox:1"),
            ("docker.io/me/app", "me/app:latest"),
            ("me/app:v2", "me/app:v2"),
            ("localhost:5000/app", "localhost:5000/app:latest"),
            ("localhost/app:x", "localhost/app:x"),
            ("registry.example:443/a/b/c", "registry.example:443/a/b/c:latest"),
            ("[::1]:5000/app", "[::1]:5000/app:latest"),
            ("a__b.c-d---e", "a__b.c-d---e:latest"),
            ("Registry/app", "Registry/app:latest"),
        ] {
            assert_eq!(normalise(given).as_deref(), Some(want), "{given}");
        }
    }

    #[test]
    fn digests_are_kept_and_not_tagged() {
        assert_eq!(
            normalise(&format!("busybox@{DIGEST}")).unwrap(),
            format!("busybox@{DIGEST}")
        );
        assert_eq!(
            normalise(&format!("docker.io/library/busybox:latest@{DIGEST}")).unwrap(),
            format!("busybox:latest@{DIGEST}")
        );
    }

    #[test]
    fn what_is_not_a_reference_is_refused() {
        for bad in [
            "Busybox",
            "busybox:",
            "busybox:-x",
            "bus box",
            "a//b",
            "/a",
            "a/",
            "busybox@sha256:12",
            "busybox@md5",
            "a_-b",
            ":tag",
            "localhost:port/app",
            "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ] {
            assert_eq!(normalise(bad), None, "{bad}");
        }
        assert_eq!(normalise(&format!("{}x", "a".repeat(255))), None, "name too long");
    }
}
