//! Choosing listen and advertise addresses the way dockerd does.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};

use rules::Error;

/// Default cluster port.
pub const DEFAULT_PORT: u16 = 2377;

/// Parses `host:port`, `host` or `:port` for the cluster listener.
pub fn parse_listen(text: &str) -> Result<SocketAddr, Error> {
    let text = text.trim();
    let (host, port) = split_host_port(text)?;
    let ip = if host.is_empty() {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    } else {
        host.parse::<IpAddr>().map_err(|_| {
            Error::InvalidArgument(format!(
                "invalid listen address {text:?}: use an IP address (interface names are not supported)"
            ))
        })?
    };
    Ok(SocketAddr::new(ip, port.unwrap_or(DEFAULT_PORT)))
}

fn split_host_port(text: &str) -> Result<(&str, Option<u16>), Error> {
    let bad = || Error::InvalidArgument(format!("invalid address {text:?}: expected host[:port]"));
    if text.is_empty() {
        return Err(bad());
    }
    if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(bad)?;
        return match after.strip_prefix(':') {
            Some(p) => Ok((host, Some(p.parse().map_err(|_| bad())?))),
            None if after.is_empty() => Ok((host, None)),
            None => Err(bad()),
        };
    }
    match text.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => Ok((host, Some(port.parse().map_err(|_| bad())?))),
        _ => Ok((text, None)),
    }
}

/// The `host:port` other nodes should use: the advertise address if given (port defaults
/// to the listen port), else the listen IP if specific, else the IP of the interface that
/// routes outwards (found with an unconnected-UDP `connect`, which sends nothing).
pub fn advertise(advertise: &str, listen: SocketAddr) -> Result<String, Error> {
    if !advertise.trim().is_empty() {
        let (host, port) = split_host_port(advertise.trim())?;
        let ip: IpAddr = host.parse().map_err(|_| {
            Error::InvalidArgument(format!("invalid advertise address {advertise:?}: use an IP address (interface names are not supported)"))
        })?;
        if ip.is_unspecified() {
            return Err(Error::InvalidArgument(format!(
                "advertise address must be a non-zero IP address, not {ip}"
            )));
        }
        return Ok(SocketAddr::new(ip, port.unwrap_or(listen.port())).to_string());
    }
    if !listen.ip().is_unspecified() {
        return Ok(listen.to_string());
    }
    let probe = UdpSocket::bind("0.0.0.0:0")
        .and_then(|s| s.connect("10.255.255.255:9").map(|_| s))
        .and_then(|s| s.local_addr())
        .map_err(|_| {
            Error::InvalidArgument(
                "could not choose an IP address to advertise - specify one with --advertise-addr".into(),
            )
        })?;
    Ok(SocketAddr::new(probe.ip(), listen.port()).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_and_advertise() {
        assert_eq!(
            parse_listen("127.0.0.1:4001").unwrap().to_string(),
            "127.0.0.1:4001"
        );
        assert_eq!(parse_listen("0.0.0.0").unwrap().port(), 2377);
        assert_eq!(parse_listen(":4000").unwrap().to_string(), "0.0.0.0:4000");
        assert!(parse_listen("eth0:2377").is_err());
        assert!(parse_listen("1.2.3.4:notaport").is_err());
        let l = parse_listen("127.0.0.1:4001").unwrap();
        assert_eq!(advertise("127.0.0.2", l).unwrap(), "127.0.0.2:4001");
        assert_eq!(advertise("127.0.0.2:5000", l).unwrap(), "127.0.0.2:5000");
        assert_eq!(advertise("", l).unwrap(), "127.0.0.1:4001");
        assert!(advertise("0.0.0.0", l).is_err());
        assert!(advertise("[::1]:7", l).is_ok());
    }
}
