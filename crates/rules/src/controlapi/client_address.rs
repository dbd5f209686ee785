//! The routing mesh's client-address opt-in: the service label
//! `com.shoal.mesh.client-address` (the stock CLI passes labels, not new publish options).
//! `snat` (the default): a task on another node than the receiving one sees that node's
//! ingress sandbox address; `route-return`: it sees the client's own address, and its replies
//! go back through the receiving node (netplane's `mesh_return`).

use std::collections::BTreeMap;

use crate::error::{Error, Result};

/// The service label choosing how mesh connections reach tasks on other nodes.
pub const LABEL: &str = "com.shoal.mesh.client-address";
/// The default: SNAT to the receiving node's ingress sandbox address.
pub const SNAT: &str = "snat";
/// The client's address kept; replies routed back through the receiving node.
pub const ROUTE_RETURN: &str = "route-return";

/// Whether `labels` ask for route-return; an unknown value is refused.
pub fn route_return(labels: &BTreeMap<String, String>) -> Result<bool> {
    match labels.get(LABEL).map(String::as_str) {
        None | Some(SNAT) => Ok(false),
        Some(ROUTE_RETURN) => Ok(true),
        Some(other) => Err(Error::InvalidArgument(format!(
            "invalid label {LABEL}={}: expected {ROUTE_RETURN} or {SNAT}",
            types::excerpt(other)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values_parse_and_others_are_refused() {
        let with = |v: &str| BTreeMap::from([(LABEL.to_string(), v.to_string())]);
        assert!(!route_return(&BTreeMap::new()).unwrap());
        assert!(!route_return(&with("snat")).unwrap());
        assert!(route_return(&with("route-return")).unwrap());
        let err = route_return(&with("proxy-v2")).unwrap_err().to_string();
        assert!(err.contains("expected route-return or snat"), "{err}");
    }
}
