//! A multi-host test bed made of network namespaces, for tests of anything that crosses hosts:
//!
//! ```text
//!   <prefix>-h0 (eth0 192.168.77.1) ─┐
//!   <prefix>-h1 (eth0 192.168.77.2) ─┼─ h0/h1/h2 ── bridge sw0 in <prefix>-sw
//!   <prefix>-h2 (eth0 192.168.77.3) ─┘
//! ```
//!
//! Each "host" is a named namespace with one link, `eth0`, whose peer is a port of a bridge in a
//! "switch" namespace of its own, so no traffic and no link ever touches the root namespace. The
//! bed removes every namespace it made when dropped, panics included. Daemons that need the host's
//! cgroups run with `nsenter --net=…` (`Testbed::command`): `ip netns exec` remounts /sys.

use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ipnet::Ipv4Net;
use rtnetlink::packet_route::link::{InfoData, InfoKind, InfoVeth};
use rtnetlink::{LinkBridge, LinkMessageBuilder, LinkUnspec, LinkVeth};

use crate::error::{Error, Result};
use crate::links;
use crate::netns::{self, Netlink};

/// The bridge of the switch namespace.
const SWITCH_BRIDGE: &str = "sw0";

/// One simulated host.
#[derive(Clone, Debug)]
pub struct Host {
    /// The host's namespace name.
    pub name: String,
    /// The host's namespace path.
    pub netns: PathBuf,
    /// The host's address on the switch.
    pub address: Ipv4Addr,
}

/// N hosts on one switch, all namespaces; removed on drop.
#[derive(Debug)]
pub struct Testbed {
    dir: PathBuf,
    prefix: String,
    subnet: Ipv4Net,
    switch: PathBuf,
    hosts: Vec<Host>,
    /// Every namespace made through the bed (hosts, switch, extra ones), for the teardown.
    made: Mutex<Vec<PathBuf>>,
    /// Prefixes of namespaces made by the code under test, removed on drop too.
    adopted: Mutex<Vec<String>>,
}

impl Testbed {
    /// Builds `count` hosts on `subnet` (host i gets the subnet's i+1-th address) with names
    /// starting with `prefix` (unique per test: tests run in parallel), pinned in `/run/netns`.
    pub async fn new(prefix: &str, count: usize, subnet: Ipv4Net) -> Result<Self> {
        let dir = PathBuf::from(crate::DEFAULT_NETNS_DIR);
        let switch_name = format!("{prefix}-sw");
        let mut bed = Testbed {
            dir: dir.clone(),
            prefix: prefix.to_owned(),
            subnet,
            switch: dir.join(&switch_name),
            hosts: Vec::new(),
            made: Mutex::new(Vec::new()),
            adopted: Mutex::new(Vec::new()),
        };
        // Leftovers of an earlier run that was killed before its teardown.
        for name in netns::list(&dir, &format!("{prefix}-"))? {
            netns::delete(&dir.join(name))?;
        }
        bed.track(netns::create(&dir, &switch_name).await?);
        let switch = Netlink::open(&bed.switch).await?;
        switch
            .handle
            .link()
            .add(LinkBridge::new(SWITCH_BRIDGE).up().build())
            .execute()
            .await
            .map_err(|source| Error::netlink("create the switch bridge", source))?;
        let bridge = links::index(&switch.handle, SWITCH_BRIDGE)
            .await?
            .ok_or_else(|| Error::Invalid("the switch bridge vanished".into()))?;
        let mut addresses = subnet.hosts();
        for i in 0..count {
            let address = addresses
                .next()
                .ok_or_else(|| Error::Invalid(format!("{subnet} has no room for {count} hosts")))?;
            let host = bed.add_host(&switch.handle, bridge, i, address).await?;
            bed.hosts.push(host);
        }
        Ok(bed)
    }

    async fn add_host(
        &self,
        switch: &rtnetlink::Handle,
        bridge: u32,
        i: usize,
        address: Ipv4Addr,
    ) -> Result<Host> {
        let name = format!("{}-h{i}", self.prefix);
        let path = netns::create(&self.dir, &name).await?;
        self.track(path.clone());
        let target = std::fs::File::open(&path).map_err(|source| Error::Namespace {
            path: path.clone(),
            source,
        })?;
        let peer = LinkMessageBuilder::<LinkUnspec>::new()
            .name("eth0")
            .setns_by_fd(target.as_raw_fd())
            .build();
        let port = LinkMessageBuilder::<LinkVeth>::new_with_info_kind(InfoKind::Veth)
            .name(format!("h{i}"))
            .controller(bridge)
            .set_info_data(InfoData::Veth(InfoVeth::Peer(peer)))
            .up()
            .build();
        switch
            .link()
            .add(port)
            .execute()
            .await
            .map_err(|source| Error::netlink(format!("connect host {i} to the switch"), source))?;
        let host = Netlink::open(&path).await?;
        for link in ["lo", "eth0"] {
            let index = links::index(&host.handle, link)
                .await?
                .ok_or_else(|| Error::Invalid(format!("host {i} has no {link}")))?;
            links::up(&host.handle, index, link).await?;
            if link == "eth0" {
                host.handle
                    .address()
                    .add(index, address.into(), self.subnet.prefix_len())
                    .execute()
                    .await
                    .map_err(|source| Error::netlink(format!("address host {i}"), source))?;
            }
        }
        Ok(Host {
            name,
            netns: path,
            address,
        })
    }

    fn track(&self, path: PathBuf) {
        self.made
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(path);
    }

    /// Has the teardown also remove namespaces in `/run/netns` whose names start with `prefix`
    /// (those the code under test makes, e.g. a plane's overlays), so a failed test leaves none.
    pub fn adopt(&self, prefix: &str) {
        self.adopted
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(prefix.to_owned());
    }

    /// The hosts, in order.
    pub fn hosts(&self) -> &[Host] {
        &self.hosts
    }

    /// Host `i`.
    pub fn host(&self, i: usize) -> &Host {
        &self.hosts[i]
    }

    /// Makes one more namespace `<prefix>-<name>` (e.g. a task's), removed with the bed.
    pub async fn netns(&self, name: &str) -> Result<PathBuf> {
        let path = netns::create(&self.dir, &format!("{}-{name}", self.prefix)).await?;
        self.track(path.clone());
        Ok(path)
    }

    /// A command that runs `program` in host `i`'s network namespace (and nothing else of it).
    pub fn command(&self, i: usize, program: impl AsRef<Path>) -> std::process::Command {
        in_netns(&self.hosts[i].netns, program)
    }
}

/// `program` to run inside the network namespace at `netns` (and nothing else of it).
pub fn in_netns(netns: &Path, program: impl AsRef<Path>) -> std::process::Command {
    let mut command = std::process::Command::new("nsenter");
    command
        .arg(format!("--net={}", netns.display()))
        .arg("--")
        .arg(program.as_ref());
    command
}

/// Runs `program` with `args` inside the network namespace at `netns`; panics unless it
/// succeeds (a test's set-up step). Returns its output.
#[allow(clippy::expect_used)]
pub fn in_netns_ok(netns: &Path, program: &str, args: &[&str]) -> String {
    let out = in_netns(netns, program).args(args).output().expect(program);
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl Drop for Testbed {
    fn drop(&mut self) {
        let mut made =
            std::mem::take(&mut *self.made.lock().unwrap_or_else(|poisoned| poisoned.into_inner()));
        let adopted = std::mem::take(
            &mut *self
                .adopted
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        );
        for prefix in adopted {
            let names = netns::list(&self.dir, &prefix).unwrap_or_default();
            made.extend(names.into_iter().map(|name| self.dir.join(name)));
        }
        for path in made.iter().rev() {
            if let Err(error) = netns::delete(path) {
                tracing::warn!(%error, path = %path.display(), "test bed teardown");
            }
        }
    }
}

/// The names of the links in the namespace at `netns`.
pub async fn link_names(netns: &Path) -> Result<Vec<String>> {
    let handle = Netlink::open(netns).await?;
    Ok(links::all(&handle.handle)
        .await?
        .iter()
        .filter_map(|link| links::name(link).map(str::to_owned))
        .collect())
}

/// The names of the `ip` family nft tables in the namespace at `netns`.
pub async fn nft_tables(netns: &Path) -> Result<Vec<String>> {
    crate::vip::nft_tables(netns).await
}

/// The names of the namespaces pinned in `/run/netns` that start with `prefix`.
pub fn netns_names(prefix: &str) -> Result<Vec<String>> {
    netns::list(Path::new(crate::DEFAULT_NETNS_DIR), prefix)
}

/// A UDP datagram seen in a capture.
#[derive(Debug)]
pub struct UdpPacket {
    /// Its destination port.
    pub destination_port: u16,
    /// Its payload.
    pub payload: Vec<u8>,
}

/// The IPv4 UDP packets of a pcap file with Ethernet frames (tcpdump's default on eth0).
pub fn udp_packets(pcap: &[u8]) -> Vec<UdpPacket> {
    if pcap.len() < 24 {
        return Vec::new();
    }
    let little = pcap[..4] == [0xd4, 0xc3, 0xb2, 0xa1];
    let word = |bytes: &[u8]| {
        let array = [bytes[0], bytes[1], bytes[2], bytes[3]];
        if little {
            u32::from_le_bytes(array)
        } else {
            u32::from_be_bytes(array)
        }
    };
    let mut packets = Vec::new();
    let mut at = 24;
    while at + 16 <= pcap.len() {
        let length = word(&pcap[at + 8..]) as usize;
        let frame = &pcap[at + 16..(at + 16 + length).min(pcap.len())];
        at += 16 + length;
        if frame.len() < 14 + 20 || frame[12..14] != [0x08, 0x00] || frame[14 + 9] != 17 {
            continue;
        }
        let ip = &frame[14..];
        let header = usize::from(ip[0] & 0x0f) * 4;
        if ip.len() < header + 8 {
            continue;
        }
        let udp = &ip[header..];
        packets.push(UdpPacket {
            destination_port: u16::from_be_bytes([udp[2], udp[3]]),
            payload: udp[8..].to_vec(),
        });
    }
    packets
}
