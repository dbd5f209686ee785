//! Daemon addresses in `DOCKER_HOST` form: `unix:///path`, `tcp://host:port`, `host:port`.

use std::path::PathBuf;

use crate::error::{Error, Result};

/// Docker's port for plain-text TCP.
const DEFAULT_TCP_PORT: u16 = 2375;

/// Where the daemon listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// A unix socket.
    Unix(PathBuf),
    /// `host:port` over TCP.
    Tcp(String),
}

impl Endpoint {
    /// Parses `unix:///path`, `tcp://host[:port]`, `http://host[:port]`, `host:port` or an
    /// absolute socket path.
    pub fn parse(text: &str) -> Result<Endpoint> {
        let invalid = |why: &str| Error::InvalidHost(format!("{text:?}: {why}"));
        let text_trimmed = text.trim();
        if text_trimmed.is_empty() {
            return Err(invalid("empty address"));
        }
        if let Some(path) = text_trimmed.strip_prefix("unix://") {
            if path.is_empty() {
                return Err(invalid("no socket path"));
            }
            return Ok(Endpoint::Unix(PathBuf::from(path)));
        }
        if text_trimmed.starts_with('/') {
            return Ok(Endpoint::Unix(PathBuf::from(text_trimmed)));
        }
        let rest = match text_trimmed.split_once("://") {
            Some(("tcp" | "http", rest)) => rest,
            Some((scheme, _)) => return Err(invalid(&format!("the {scheme} scheme is not supported"))),
            None => text_trimmed,
        };
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.is_empty() || authority.contains('/') {
            return Err(invalid("expected host:port"));
        }
        let has_port = match authority.rsplit_once(':') {
            Some((host, port)) => {
                // `[v6]` alone has a colon inside the brackets, not a port.
                if host.starts_with('[') && !host.ends_with(']') {
                    false
                } else if port.parse::<u16>().is_ok() {
                    true
                } else {
                    return Err(invalid("bad port"));
                }
            }
            None => false,
        };
        if has_port {
            Ok(Endpoint::Tcp(authority.to_string()))
        } else {
            Ok(Endpoint::Tcp(format!("{authority}:{DEFAULT_TCP_PORT}")))
        }
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Unix(path) => write!(f, "unix://{}", path.display()),
            Endpoint::Tcp(addr) => write!(f, "tcp://{addr}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_docker_host_forms() {
        assert_eq!(
            Endpoint::parse("unix:///run/shoal/shoal.sock").unwrap(),
            Endpoint::Unix("/run/shoal/shoal.sock".into())
        );
        assert_eq!(
            Endpoint::parse("/tmp/x.sock").unwrap(),
            Endpoint::Unix("/tmp/x.sock".into())
        );
        assert_eq!(
            Endpoint::parse("tcp://127.0.0.1:2375").unwrap(),
            Endpoint::Tcp("127.0.0.1:2375".into())
        );
        assert_eq!(
            Endpoint::parse("tcp://localhost").unwrap(),
            Endpoint::Tcp("localhost:2375".into())
        );
        assert_eq!(
            Endpoint::parse("127.0.0.1:9").unwrap(),
            Endpoint::Tcp("127.0.0.1:9".into())
        );
        assert_eq!(
            Endpoint::parse("http://[::1]:80/").unwrap(),
            Endpoint::Tcp("[::1]:80".into())
        );
        assert_eq!(
            Endpoint::parse("[::1]").unwrap(),
            Endpoint::Tcp("[::1]:2375".into())
        );
        assert!(Endpoint::parse("ssh://me@host").is_err());
        assert!(Endpoint::parse("unix://").is_err());
        assert!(Endpoint::parse("").is_err());
        assert!(Endpoint::parse("host:port").is_err());
        assert!(Endpoint::parse("tcp://host:1/base").is_err());
        assert_eq!(Endpoint::parse("unix:///a").unwrap().to_string(), "unix:///a");
    }
}
