//! `resolv.conf`: the host's, read once to find the upstream resolvers and search domains, and
//! each task's, pointing at its network's resolver.
//!
//! A task's file follows what dockerd writes for a container behind its embedded resolver: the
//! one nameserver is the resolver, the search domains are the host's (or the service's own
//! `DNSConfig.Search`), the options are kept and `ndots:0` is added unless an `ndots` is given,
//! so a bare `web` is asked as it is before any search domain is tried.

use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;

use crate::error::{Error, Result};

/// The longest `resolv.conf` read: the real ones are a few hundred bytes.
const MAX_SIZE: u64 = 64 * 1024;

/// What matters of the host's `resolv.conf`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostResolvConf {
    /// `nameserver` lines, in order.
    pub nameservers: Vec<IpAddr>,
    /// The last `search` (or `domain`) line's domains.
    pub search: Vec<String>,
    /// Every `options` word, in order.
    pub options: Vec<String>,
}

impl HostResolvConf {
    /// Parses `resolv.conf` text; lines it does not know (and bad addresses) are skipped, as libc does.
    pub fn parse(text: &str) -> Self {
        let mut conf = HostResolvConf::default();
        for line in text.lines() {
            let line = line.split(['#', ';']).next().unwrap_or("");
            let mut words = line.split_whitespace();
            match words.next() {
                Some("nameserver") => {
                    // A scoped IPv6 address (`fe80::1%eth0`) cannot be reached from elsewhere: skipped.
                    if let Some(Ok(ip)) = words.next().map(str::parse::<IpAddr>) {
                        conf.nameservers.push(ip);
                    }
                }
                Some("search") | Some("domain") => conf.search = words.map(str::to_owned).collect(),
                Some("options") => conf.options.extend(words.map(str::to_owned)),
                _ => {}
            }
        }
        conf
    }

    /// Reads and parses the file at `path` (at most 64 KiB of it).
    pub fn read(path: &Path) -> Result<Self> {
        let file = std::fs::File::open(path).map_err(|source| Error::io("open resolv.conf", source))?;
        let mut text = String::new();
        file.take(MAX_SIZE)
            .read_to_string(&mut text)
            .map_err(|source| Error::io("read resolv.conf", source))?;
        Ok(HostResolvConf::parse(&text))
    }

    /// The nameservers as port-53 socket addresses, for `Upstreams`.
    pub fn upstreams(&self) -> Vec<SocketAddr> {
        self.nameservers
            .iter()
            .map(|ip| SocketAddr::new(*ip, super::DNS_PORT))
            .collect()
    }
}

/// The text of a task's `resolv.conf`: `resolver` as its one nameserver, `search` and `options`
/// as given plus `ndots:0` unless an `ndots` option is there. A word with whitespace is refused
/// (it would add a line of its own).
pub fn task_resolv_conf(resolver: Ipv4Addr, search: &[String], options: &[String]) -> Result<String> {
    for word in search.iter().chain(options) {
        if word.is_empty() || word.chars().any(char::is_whitespace) {
            return Err(Error::Invalid(format!(
                "resolv.conf entry {word:?} must be one word"
            )));
        }
    }
    let mut text = String::from("# Written by shoal: the overlay network's resolver.\n");
    if !search.is_empty() {
        text.push_str(&format!("search {}\n", search.join(" ")));
    }
    text.push_str(&format!("nameserver {resolver}\n"));
    let mut options = options.to_vec();
    if !options.iter().any(|option| option.starts_with("ndots:")) {
        options.push("ndots:0".into());
    }
    text.push_str(&format!("options {}\n", options.join(" ")));
    Ok(text)
}

/// Writes a task's `resolv.conf` (see `task_resolv_conf`) to `path` through a rename, so a reader
/// never sees half a file.
pub fn write_task_resolv_conf(
    path: &Path,
    resolver: Ipv4Addr,
    search: &[String],
    options: &[String],
) -> Result<()> {
    let text = task_resolv_conf(resolver, search, options)?;
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    std::fs::write(&temporary, text).map_err(|source| Error::io("write resolv.conf", source))?;
    std::fs::rename(&temporary, path).map_err(|source| Error::io("rename resolv.conf into place", source))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_file_is_parsed_as_libc_reads_it() {
        let conf = HostResolvConf::parse(
            "# comment\nnameserver 127.0.0.53\nnameserver fe80::1%eth0\nnameserver 10.0.0.2 # x\n\
             domain old.example\nsearch corp.example lab.example\noptions edns0 trust-ad\nbogus line\n",
        );
        assert_eq!(
            conf.nameservers,
            vec![IpAddr::from([127, 0, 0, 53]), IpAddr::from([10, 0, 0, 2])]
        );
        assert_eq!(conf.search, ["corp.example", "lab.example"]);
        assert_eq!(conf.options, ["edns0", "trust-ad"]);
        assert_eq!(conf.upstreams()[1], "10.0.0.2:53".parse().expect("addr"));
    }

    #[test]
    fn a_task_file_names_the_resolver_and_adds_ndots_0() {
        let text = task_resolv_conf(
            Ipv4Addr::new(10, 0, 1, 1),
            &["corp.example".into()],
            &["edns0".into()],
        )
        .expect("text");
        assert!(text.contains("search corp.example\n"));
        assert!(text.contains("nameserver 10.0.1.1\n"));
        assert!(text.ends_with("options edns0 ndots:0\n"));
        let kept = task_resolv_conf(Ipv4Addr::new(10, 0, 1, 1), &[], &["ndots:2".into()]).expect("text");
        assert!(kept.ends_with("options ndots:2\n"));
        assert!(!kept.contains("search"));
        assert!(
            task_resolv_conf(Ipv4Addr::new(10, 0, 1, 1), &["a\nnameserver 1.1.1.1".into()], &[]).is_err()
        );
    }
}
