//! Published ingress ports have one owner per (protocol, port) cluster-wide. The rules pick
//! ports from their view; this check, run as the entry applies, refuses a service whose
//! ingress port another service took since that view (two creates planned at once).

use types::{PortConfig, Service};

use super::State;
use crate::TxnError;

fn protocol(p: &PortConfig) -> &str {
    if p.protocol.is_empty() { "tcp" } else { &p.protocol }
}

fn ingress(p: &PortConfig) -> bool {
    p.published_port != 0 && !p.publish_mode.eq_ignore_ascii_case("host")
}

impl State {
    /// Refuses `s` if another service holds one of its ingress ports.
    pub(super) fn check_ports(&self, s: &Service) -> Result<(), TxnError> {
        let wanted: Vec<&PortConfig> = s.endpoint.ports.iter().filter(|p| ingress(p)).collect();
        if wanted.is_empty() {
            return Ok(());
        }
        for other in self.services.values().filter(|o| o.id != s.id) {
            for held in other.endpoint.ports.iter().filter(|p| ingress(p)) {
                if wanted
                    .iter()
                    .any(|p| p.published_port == held.published_port && protocol(p) == protocol(held))
                {
                    return Err(TxnError::Unavailable(format!(
                        "port '{}' is already in use by service '{}' ({}) as an ingress port",
                        held.published_port, other.spec.name, other.id
                    )));
                }
            }
        }
        Ok(())
    }
}
