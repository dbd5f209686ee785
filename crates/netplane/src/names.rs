//! How the data plane names what it creates, so a restarted agent finds (and sweeps) its own.
//!
//! Everything starts with `shoal-`; what is global to the machine (named namespaces, nft tables)
//! also carries the plane's owner tag, so two agents, or two tests, never touch each other's.

use std::net::Ipv4Addr;

/// The prefix of every name the data plane gives.
pub const PREFIX: &str = "shoal-";

/// The bridge in each overlay namespace.
pub const BRIDGE: &str = "br0";

/// The longest owner tag: namespace names stay short and link names fit IFNAMSIZ without it.
pub const MAX_TAG: usize = 12;

/// Where the data plane pins its named namespaces (overlays, ingress and task sandboxes).
pub const NETNS_DIR: &str = "/run/shoal/netns";

/// The data plane's owner tag for node `node_id`: its last 12 letters and digits (its most
/// random ones), lower-cased.
pub fn tag_of(node_id: &str) -> String {
    let clean: Vec<char> = node_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let tag: String = clean[clean.len().saturating_sub(MAX_TAG)..].iter().collect();
    if tag.is_empty() { "node".into() } else { tag }
}

/// Whether `tag` can name a plane's owner: 1 to 12 lower-case letters or digits.
pub fn valid_tag(tag: &str) -> bool {
    !tag.is_empty()
        && tag.len() <= MAX_TAG
        && tag.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// The prefix of the overlay namespaces of the plane tagged `tag`.
pub fn overlay_prefix(tag: &str) -> String {
    format!("{PREFIX}{tag}-ov-")
}

/// The named namespace of network `vni` for the plane tagged `tag`.
pub fn overlay_netns(tag: &str, vni: u32) -> String {
    format!("{}{vni}", overlay_prefix(tag))
}

/// The prefix of the task namespaces the agent names for the plane tagged `tag`.
pub fn task_prefix(tag: &str) -> String {
    format!("{PREFIX}{tag}-t-")
}

/// The named namespace of task `task_id` (a store ID: letters and digits) for the plane tagged `tag`.
pub fn task_netns(tag: &str, task_id: &str) -> String {
    format!("{}{task_id}", task_prefix(tag))
}

/// The VXLAN device of `vni`: 14 characters at most (a VNI is 24 bits, 6 hex digits).
pub fn vxlan(vni: u32) -> String {
    format!("{PREFIX}vx{vni:06x}")
}

/// The prefix of VXLAN device names, for the sweep of the host namespace.
pub fn vxlan_prefix() -> String {
    format!("{PREFIX}vx")
}

/// The alias set on the VXLAN devices of the plane tagged `tag`: device names carry no tag
/// (IFNAMSIZ), and while a device sits in the host namespace, between its creation and its
/// move, another agent there must not take it for its own.
pub fn vxlan_alias(tag: &str) -> String {
    format!("{PREFIX}{tag}:vxlan")
}

/// The bridge-side veth of the endpoint with address `ip`, unique in its overlay namespace.
pub fn endpoint_veth(ip: Ipv4Addr) -> String {
    format!("{PREFIX}{:08x}", u32::from(ip))
}

/// The alias set on a task-side interface, which marks it as this plane's.
pub fn endpoint_alias(tag: &str, vni: u32) -> String {
    format!("{PREFIX}{tag}:{vni}")
}

/// The nft table the plane keeps in a task's namespace.
pub fn nft_table(tag: &str) -> String {
    format!("{PREFIX}{tag}")
}

/// The MAC of an endpoint, derived from its address as Docker does (02:42 and the 4 address bytes),
/// so a peer can compute it and a re-created endpoint keeps it.
pub fn mac_for(ip: Ipv4Addr) -> [u8; 6] {
    let [a, b, c, d] = ip.octets();
    [0x02, 0x42, a, b, c, d]
}

/// [`mac_for`] as text, `02:42:0a:00:00:05`: how dockerd shows it and nft's sets key it.
pub fn mac_text(ip: Ipv4Addr) -> String {
    mac_for(ip)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_ifnamsiz_and_macs_follow_docker() {
        assert_eq!(vxlan(0xff_ffff), "shoal-vxffffff");
        assert!(vxlan(0xff_ffff).len() < 16);
        assert_eq!(endpoint_veth(Ipv4Addr::new(10, 0, 0, 5)), "shoal-0a000005");
        assert_eq!(mac_for(Ipv4Addr::new(10, 0, 1, 7)), [0x02, 0x42, 10, 0, 1, 7]);
        assert_eq!(mac_text(Ipv4Addr::new(10, 0, 1, 7)), "02:42:0a:00:01:07");
        assert!(valid_tag("n1abc"));
        assert!(!valid_tag("N1"));
        assert!(!valid_tag(""));
        assert!(!valid_tag("abcdefghijklm"));
        assert_eq!(overlay_netns("n1", 4097), "shoal-n1-ov-4097");
    }
}
