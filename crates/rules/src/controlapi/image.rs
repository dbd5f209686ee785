//! Image references in the reference grammar's normal form, as the Docker client library
//! writes them before it sends a spec: `busybox` → `busybox:latest`,
//! `docker.io/library/busybox` → `busybox:latest`, a digest kept, a digest alone left
//! untagged. Storing that form means a service created by one client is not "changed" (its
//! tasks replaced) by the next client that sends the same image spelled canonically.
//! The grammar itself is `types::reference`.

use types::ServiceSpec;
use types::reference::{self, ReferenceError};

use crate::{Error, Result};

/// The registry a name without a domain lives on.
const DEFAULT_DOMAIN: &str = "docker.io";
/// The namespace of one-component names on the default registry.
const OFFICIAL_PREFIX: &str = "library/";

/// Normalises the image of `spec`'s container, refusing what is not a reference (as
/// SwarmKit's `ContainerSpec: "…" is not a valid repository/tag`). An empty image is left for
/// the spec's validation to refuse.
pub fn normalise_spec(spec: &mut ServiceSpec) -> Result<()> {
    let image = &spec.task.container.image;
    if image.trim().is_empty() {
        return Ok(());
    }
    let normal = normalised(image).map_err(|e| {
        Error::InvalidArgument(format!(
            "ContainerSpec: {:?} is not a valid repository/tag: {e}",
            types::excerpt(image)
        ))
    })?;
    if normal != *image {
        std::sync::Arc::make_mut(&mut spec.task).container.image = normal;
    }
    Ok(())
}

/// The familiar, tagged form of `text`, or `None` if it is not a reference.
pub fn normalise(text: &str) -> Option<String> {
    normalised(text).ok()
}

fn normalised(text: &str) -> std::result::Result<String, ReferenceError> {
    let r = reference::parse(text)?;
    let domain = match r.domain {
        None | Some("index.docker.io") => DEFAULT_DOMAIN,
        Some(d) => d,
    };
    // The short form Docker shows: no default registry, no `library/` for official images.
    let mut out = if domain != DEFAULT_DOMAIN {
        format!("{domain}/{}", r.path)
    } else {
        match r.path.strip_prefix(OFFICIAL_PREFIX) {
            Some(short) if !short.contains('/') => short.to_string(),
            _ => r.path.to_string(),
        }
    };
    match (r.tag, r.digest) {
        (Some(t), _) => {
            out.push(':');
            out.push_str(t);
        }
        // Only a bare name gets the default tag; a digest pins the image by itself.
        (None, None) => out.push_str(":latest"),
        (None, Some(_)) => {}
    }
    if let Some(d) = r.digest {
        out.push('@');
        out.push_str(d);
    }
    Ok(out)
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
