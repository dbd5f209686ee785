//! Cluster listen and remote addresses, completed the way dockerd completes them: a missing
//! host becomes `0.0.0.0`, a missing port becomes 2377.

/// Docker's default cluster listen address.
pub const DEFAULT_LISTEN_ADDR: &str = "0.0.0.0:2377";

/// Docker's default cluster port.
pub const DEFAULT_CLUSTER_PORT: u16 = 2377;

/// Completes `addr` to `host:port`. Text that is not of that form (a bare IPv6 address, say)
/// passes through unchanged for the daemon to judge, as dockerd lets it through.
pub fn complete(addr: &str) -> String {
    let addr = addr.strip_prefix("tcp://").unwrap_or(addr);
    if addr.is_empty() {
        return DEFAULT_LISTEN_ADDR.to_string();
    }
    if let Some(rest) = addr.strip_prefix('[') {
        // [v6] or [v6]:port
        return match rest.split_once(']') {
            Some((_, "")) => format!("{addr}:{DEFAULT_CLUSTER_PORT}"),
            Some((host, ":")) => format!("[{host}]:{DEFAULT_CLUSTER_PORT}"),
            _ => addr.to_string(),
        };
    }
    match addr.split_once(':') {
        None => format!("{addr}:{DEFAULT_CLUSTER_PORT}"),
        Some((_, port)) if port.contains(':') => addr.to_string(),
        Some(("", port)) => format!("0.0.0.0:{}", if port.is_empty() { "2377" } else { port }),
        Some((host, "")) => format!("{host}:{DEFAULT_CLUSTER_PORT}"),
        Some(_) => addr.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completes_like_dockerd() {
        assert_eq!(complete(""), "0.0.0.0:2377");
        assert_eq!(complete("10.0.0.1"), "10.0.0.1:2377");
        assert_eq!(complete("10.0.0.1:4000"), "10.0.0.1:4000");
        assert_eq!(complete(":4000"), "0.0.0.0:4000");
        assert_eq!(complete("eth0"), "eth0:2377");
        assert_eq!(complete("host:"), "host:2377");
        assert_eq!(complete("tcp://10.0.0.1:1"), "10.0.0.1:1");
        assert_eq!(complete("[::1]"), "[::1]:2377");
        assert_eq!(complete("[::1]:9"), "[::1]:9");
        assert_eq!(complete("::1"), "::1");
    }
}
