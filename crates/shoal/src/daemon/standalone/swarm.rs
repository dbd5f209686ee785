//! The daemon's side of standalone containers: opened at start on an `oci` node, refused
//! with the reason elsewhere.

use std::sync::Arc;

use rules::Error;

use super::Standalone;
use crate::daemon::swarm::{Local, Swarm};

impl Swarm {
    /// Opens the standalone containers on an `oci` node (re-attaching running ones); on other
    /// executors, or when opening fails, the container routes refuse and say why.
    pub async fn open_standalone(self: &Arc<Self>) {
        let super::super::ExecutorChoice::Oci(store) = &self.executor else {
            return;
        };
        match Standalone::open(
            self.dir.root(),
            store.clone(),
            self.events.clone(),
            self.clock.clone(),
        )
        .await
        {
            Ok(s) => {
                s.set_swarm(Arc::downgrade(self));
                let _ = self.standalone.set(s);
            }
            Err(e) => tracing::warn!("standalone containers are unavailable: {e:#}"),
        }
    }

    /// The standalone containers, or why this node has none.
    pub(crate) fn standalone(&self) -> Result<&Arc<Standalone>, Error> {
        self.standalone.get().ok_or_else(|| {
            Error::Unimplemented(format!(
                "standalone containers (docker run/create) run on the oci executor only; this node runs {}",
                self.executor.kind()
            ))
        })
    }

    /// This node's ID while in a swarm (standalone containers carry it), else empty.
    pub(crate) fn local_node_id(&self) -> String {
        match self.local() {
            Local::Active(node) => node.state().node_id,
            _ => String::new(),
        }
    }
}
