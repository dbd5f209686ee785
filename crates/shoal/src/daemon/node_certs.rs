//! The running node's certificate material and its key file, kept in step: each change is
//! written to disk while the lock is held, so two writers (a role change renewing the
//! certificate, autolock re-wrapping the key file) can never leave the file older than memory.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use store::crypto::UnlockKey;

use super::datadir::{Certs, DataDir};

/// The node's certificates and keys, in memory and on disk.
pub struct NodeCerts {
    dir: DataDir,
    certs: Mutex<Certs>,
    /// The unlock key the key file is wrapped with now, for callers that wait for a re-wrap.
    wrapped: tokio::sync::watch::Sender<Option<UnlockKey>>,
}

impl NodeCerts {
    /// Material already saved in `dir`.
    pub fn new(dir: DataDir, certs: Certs) -> Arc<NodeCerts> {
        let wrapped = tokio::sync::watch::Sender::new(certs.unlock_key.clone());
        Arc::new(NodeCerts {
            dir,
            certs: Mutex::new(certs),
            wrapped,
        })
    }

    /// A copy of the current material.
    pub fn get(&self) -> Certs {
        self.certs.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Changes the material and saves it; memory changes only once the file is written.
    pub fn update(&self, change: impl FnOnce(&mut Certs)) -> anyhow::Result<Certs> {
        let mut certs = self.certs.lock().unwrap_or_else(|e| e.into_inner());
        let mut next = certs.clone();
        change(&mut next);
        // A small file, written under the lock on purpose (see the module comment).
        self.dir.save_certs(&next)?;
        *certs = next.clone();
        self.wrapped.send_replace(next.unlock_key.clone());
        Ok(next)
    }

    /// Waits until the key file is wrapped with `want` (none: plain), at most `limit`;
    /// false if it was not in time.
    pub async fn wait_wrapped(&self, want: Option<&UnlockKey>, limit: Duration) -> bool {
        let mut rx = self.wrapped.subscribe();
        tokio::time::timeout(limit, rx.wait_for(|k| k.as_ref() == want))
            .await
            .is_ok_and(|r| r.is_ok())
    }
}
