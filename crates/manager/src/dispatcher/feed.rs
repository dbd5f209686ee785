//! A node stream's inbox: what its assignment stream must look at next (tasks touched, a
//! resync, a newer network view). Its own module so that the task router (`assignments.rs`)
//! and the network feed (`netfeed.rs`) both wake streams without depending on each other.

use std::collections::HashSet;
use std::sync::Mutex;

use tokio::sync::Notify;

/// What a node's stream has to look at next.
#[derive(Debug, Default)]
pub struct Touched {
    /// Task IDs that changed (their current value decides: send or remove).
    pub tasks: HashSet<String>,
    /// Changes were lost (lagged watch, snapshot install): send the full set.
    pub resync: bool,
    /// A network view the stream holds has a newer version.
    pub networks: bool,
    /// Tasks of the node whose addresses changed (the networks the node needs may have).
    pub readdressed: HashSet<String>,
}

/// One node stream's inbox.
#[derive(Default)]
pub struct Feed {
    touched: Mutex<Touched>,
    notify: Notify,
}

impl Feed {
    /// Waits until something was touched, then takes it.
    pub async fn next(&self) -> Touched {
        loop {
            {
                let mut t = self.touched.lock().unwrap_or_else(|e| e.into_inner());
                if t.resync || t.networks || !t.tasks.is_empty() || !t.readdressed.is_empty() {
                    return std::mem::take(&mut *t);
                }
            }
            self.notify.notified().await;
        }
    }

    /// Wakes the stream for a newer network view.
    pub fn touch_nets(&self) {
        self.touched.lock().unwrap_or_else(|e| e.into_inner()).networks = true;
        self.notify.notify_one();
    }

    /// Notes that task `id`'s addresses changed (allocated or freed).
    pub(super) fn touch_addresses(&self, id: &str) {
        self.touched
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .readdressed
            .insert(id.to_string());
        self.notify.notify_one();
    }

    /// Notes task `id` as changed (`None`: changes were lost, resend everything).
    pub(super) fn touch(&self, id: Option<&str>) {
        {
            let mut t = self.touched.lock().unwrap_or_else(|e| e.into_inner());
            match id {
                Some(id) => {
                    t.tasks.insert(id.to_string());
                }
                None => t.resync = true,
            }
        }
        self.notify.notify_one();
    }
}
