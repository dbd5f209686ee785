//! Image names normalised as dockerd does: `busybox` → `docker.io/library/busybox:latest`.

use std::fmt;
use std::net::IpAddr;

use crate::digest::Digest;
use crate::error::Result;

/// Docker Hub's name in references.
pub const DEFAULT_REGISTRY: &str = "docker.io";

/// A fully qualified image name: registry, repository and a tag or digest (or both).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Name {
    /// Registry host[:port], `docker.io` when the reference had none.
    pub registry: String,
    /// Repository path, with `library/` for Docker Hub's official images.
    pub repository: String,
    /// Tag; `latest` when the reference had neither tag nor digest.
    pub tag: Option<String>,
    /// Digest, when the reference pins one.
    pub digest: Option<Digest>,
}

impl Name {
    /// Parses and normalises `text` by the distribution reference grammar.
    pub fn parse(text: &str) -> Result<Self> {
        let r = types::reference::parse(text)?;
        let mut registry = r.domain.unwrap_or(DEFAULT_REGISTRY).to_owned();
        if registry == "index.docker.io" {
            registry = DEFAULT_REGISTRY.to_owned();
        }
        let repository = if registry == DEFAULT_REGISTRY && !r.path.contains('/') {
            format!("library/{}", r.path)
        } else {
            r.path.to_owned()
        };
        let digest = r.digest.map(Digest::parse).transpose()?;
        let tag = match (r.tag, &digest) {
            (Some(t), _) => Some(t.to_owned()),
            (None, Some(_)) => None,
            (None, None) => Some("latest".to_owned()),
        };
        Ok(Name {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// `registry/repository`, the name images are grouped under.
    pub fn repo(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// `registry/repository:tag`, if tagged.
    pub fn tagged(&self) -> Option<String> {
        self.tag.as_ref().map(|t| format!("{}:{t}", self.repo()))
    }

    /// `registry/repository@digest` for `digest`.
    pub fn with_digest(&self, digest: &Digest) -> String {
        format!("{}@{digest}", self.repo())
    }

    /// The short form dockerd prints (`busybox:latest`, `127.0.0.1:5000/bb:1`).
    pub fn familiar(&self) -> String {
        let repo = match self.registry.as_str() {
            DEFAULT_REGISTRY => self
                .repository
                .strip_prefix("library/")
                .unwrap_or(&self.repository)
                .to_owned(),
            _ => self.repo(),
        };
        match (&self.tag, &self.digest) {
            (_, Some(d)) => format!("{repo}@{d}"),
            (Some(t), None) => format!("{repo}:{t}"),
            (None, None) => repo,
        }
    }

    /// Whether the registry is on loopback, where dockerd allows plain HTTP by default
    /// (its insecure-registry default covers 127.0.0.0/8).
    pub fn registry_is_loopback(&self) -> bool {
        is_loopback_host(&self.registry)
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.repo())?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// `host[:port]` names a loopback address (`localhost`, 127.0.0.0/8, `[::1]`).
fn is_loopback_host(domain: &str) -> bool {
    let host = if let Some(rest) = domain.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        domain.split(':').next().unwrap_or("")
    };
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_as_docker_does() {
        let n = Name::parse("busybox").unwrap();
        assert_eq!(n.to_string(), "docker.io/library/busybox:latest");
        assert_eq!(n.familiar(), "busybox:latest");
        let n = Name::parse("team/app:v1").unwrap();
        assert_eq!(n.to_string(), "docker.io/team/app:v1");
        let n = Name::parse("index.docker.io/library/busybox:1").unwrap();
        assert_eq!(n.tagged().unwrap(), "docker.io/library/busybox:1");
        let n = Name::parse("127.0.0.1:5000/bb:1").unwrap();
        assert_eq!(n.repo(), "127.0.0.1:5000/bb");
        assert_eq!(n.familiar(), "127.0.0.1:5000/bb:1");
        let sha = format!("sha256:{}", "a".repeat(64));
        let n = Name::parse(&format!("localhost:5000/bb@{sha}")).unwrap();
        assert_eq!(n.tag, None);
        assert_eq!(n.digest.as_ref().unwrap().as_str(), sha);
        assert!(Name::parse("Busybox").is_err());
    }

    #[test]
    fn loopback_registries_are_recognised() {
        for (text, want) in [
            ("127.0.0.1:5000/a", true),
            ("127.8.9.10:1/a", true),
            ("localhost:5000/a", true),
            ("[::1]:5000/a", true),
            ("busybox", false),
            ("registry.example:5000/a", false),
            ("10.0.0.1:5000/a", false),
        ] {
            assert_eq!(Name::parse(text).unwrap().registry_is_loopback(), want, "{text}");
        }
    }
}
