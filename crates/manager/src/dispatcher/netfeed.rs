//! Network views on the assignment streams: each network's view is built once (not once per
//! node) and kept with a short log of deltas; each node stream remembers the version of each
//! network it was sent and catches up with the composed deltas, or the whole view when it is
//! new to the network or too far behind.
//!
//! ```text
//! router (store watch) ── note(change) ─► dirty networks (only those some stream holds)
//!        └─ at most every COALESCE ── flush ─► rebuild each dirty view once, diff → version+1
//!                                               └─► wake the streams holding it
//! node stream ── full / update(tasks sent) ─► NetworkView (new to it) | NetworkDelta | removed
//! ```
//! A task's network reaches its node with the task or before it: a stream sending a task whose
//! endpoint the published view lacks rebuilds that view first (once per store index).

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use rules::netview;
use store::{Change, Owner, State};
use types::{NetworkDelta, NetworkView, Object, Task};

use super::feed::Feed;

/// Deltas kept per network; a stream further behind gets the whole view again.
const LOG_LEN: usize = 64;

/// The shortest time between two rebuilds of the views while changes stream in, so a burst
/// (a 100-replica scale) reaches each node as a few messages rather than one per task.
pub const COALESCE: Duration = Duration::from_millis(50);

/// One network's published view.
struct Published {
    view: Arc<NetworkView>,
    version: u64,
    /// Store index of the state it was built from.
    built_at: u64,
    /// (from version, to version, delta), oldest first, contiguous up to `version`.
    log: VecDeque<(u64, u64, Arc<NetworkDelta>)>,
}

#[derive(Default)]
struct Inner {
    nets: HashMap<String, Published>,
    /// Published networks whose view may have changed since it was built.
    dirty: BTreeSet<String>,
    /// Task ID → the published networks listing its endpoint (to find them once the task's
    /// addresses are gone).
    task_nets: HashMap<String, Vec<String>>,
    /// Network → stream → its feed, for the streams that hold the network.
    holders: HashMap<String, HashMap<u64, Weak<Feed>>>,
    /// Versions are unique across networks and leadership terms.
    next_version: u64,
    next_stream: u64,
}

/// The leader's published network views (see the module doc).
#[derive(Default)]
pub struct NetFeed {
    inner: Mutex<Inner>,
}

/// What a stream tells its node about networks in one message.
#[derive(Debug, Default)]
pub struct NetUpdate {
    /// Views new to the node (or replacing one it holds), complete.
    pub networks: Vec<NetworkView>,
    /// Networks the node no longer has tasks on.
    pub removed: Vec<String>,
    /// Changes to views the node holds.
    pub deltas: Vec<NetworkDelta>,
}

impl NetUpdate {
    /// True when there is nothing to send.
    pub fn is_empty(&self) -> bool {
        self.networks.is_empty() && self.removed.is_empty() && self.deltas.is_empty()
    }
}

/// How a stream catches up on one network.
enum CatchUp {
    Same,
    Full(Arc<NetworkView>),
    Deltas(Vec<Arc<NetworkDelta>>),
    Gone,
}

impl Inner {
    fn version(&mut self) -> u64 {
        self.next_version += 1;
        self.next_version
    }

    fn index_endpoints(&mut self, net: &str, view: &NetworkView, add: bool) {
        for e in &view.endpoints {
            self.index_task(net, &e.task_id, add);
        }
    }

    fn index_task(&mut self, net: &str, task: &str, add: bool) {
        if add {
            let list = self.task_nets.entry(task.to_string()).or_default();
            if !list.iter().any(|n| n == net) {
                list.push(net.to_string());
            }
        } else if let Some(list) = self.task_nets.get_mut(task) {
            list.retain(|n| n != net);
            if list.is_empty() {
                self.task_nets.remove(task);
            }
        }
    }

    /// Rebuilds `net`'s view from `state`; true when it changed (its holders must hear).
    fn publish(&mut self, state: &State, net: &str) -> bool {
        self.dirty.remove(net);
        let Some(new) = netview::network_view(state, net) else {
            let Some(old) = self.nets.remove(net) else {
                return false;
            };
            self.index_endpoints(net, &old.view, false);
            return true;
        };
        NETFEED_STATS.views_built.fetch_add(1, Ordering::Relaxed);
        let version = self.version();
        let Some(p) = self.nets.get_mut(net) else {
            self.index_endpoints(net, &new, true);
            self.nets.insert(
                net.to_string(),
                Published {
                    view: Arc::new(new),
                    version,
                    built_at: state.index,
                    log: VecDeque::new(),
                },
            );
            return true;
        };
        p.built_at = p.built_at.max(state.index);
        if netview::same_network(&p.view, &new) {
            let delta = netview::diff(&p.view, &new);
            if netview::is_empty(&delta) {
                return false;
            }
            p.log.push_back((p.version, version, Arc::new(delta.clone())));
            if p.log.len() > LOG_LEN {
                p.log.pop_front();
            }
            p.version = version;
            p.view = Arc::new(new);
            for e in &delta.endpoints {
                self.index_task(net, &e.task_id, true);
            }
            for id in &delta.endpoints_removed {
                self.index_task(net, id, false);
            }
        } else {
            let old = std::mem::replace(&mut p.view, Arc::new(new));
            p.log.clear();
            p.version = version;
            let new = p.view.clone();
            self.index_endpoints(net, &old, false);
            self.index_endpoints(net, &new, true);
        }
        true
    }

    /// Marks the published networks `task`'s endpoint is (or was) on.
    fn dirty_task(&mut self, state: &State, task: &str) {
        for a in state.addresses(&Owner::Task(task.to_string())) {
            if self.nets.contains_key(&a.network_id) {
                self.dirty.insert(a.network_id.clone());
            }
        }
        if let Some(list) = self.task_nets.get(task) {
            self.dirty.extend(list.iter().cloned());
        }
    }

    /// Marks the published networks a service has a VIP on or is listed on (few services
    /// per network: a scan of the published views is cheap).
    fn dirty_service(&mut self, state: &State, service: &str) {
        for a in state.addresses(&Owner::Service(service.to_string())) {
            if self.nets.contains_key(&a.network_id) {
                self.dirty.insert(a.network_id.clone());
            }
        }
        for (id, p) in &self.nets {
            if p.view.services.iter().any(|s| s.service_id == service) {
                self.dirty.insert(id.clone());
            }
        }
    }

    /// Marks the ingress network, if published (node sandboxes are listed there).
    fn dirty_ingress(&mut self, state: &State) {
        if let Some(ingress) = netview::ingress_network(state)
            && self.nets.contains_key(&ingress.id)
        {
            self.dirty.insert(ingress.id.clone());
        }
    }

    /// Marks the published networks with endpoints on `node` (its VTEP changed).
    fn dirty_node(&mut self, state: &State, node: &str) {
        for t in state.tasks_on_node(node) {
            self.dirty_task(state, &t.id);
        }
    }

    /// Wakes the streams holding `net`.
    fn wake(&mut self, net: &str) {
        if let Some(holders) = self.holders.get_mut(net) {
            holders.retain(|_, feed| match feed.upgrade() {
                Some(feed) => {
                    feed.touch_nets();
                    true
                }
                None => false,
            });
        }
    }

    /// How stream `stream` that was sent `sent` of `net` catches up, rebuilding first when the
    /// view lacks an endpoint of `need` and `state` is newer than it. Registers the stream as
    /// a holder in the same critical section, so no later change can pass it by.
    fn catch_up(
        &mut self,
        state: &State,
        net: &str,
        sent: Option<u64>,
        need: &[&str],
        stream: u64,
        feed: &Weak<Feed>,
    ) -> (CatchUp, u64) {
        let stale = match self.nets.get(net) {
            None => true,
            Some(p) => p.built_at < state.index && need.iter().any(|t| p.view.endpoint(t).is_none()),
        };
        if stale && self.publish(state, net) {
            self.wake(net);
        }
        let Some(p) = self.nets.get(net) else {
            return (CatchUp::Gone, 0);
        };
        let version = p.version;
        let how = match sent {
            Some(v) if v == version => CatchUp::Same,
            Some(v) => match p.log.iter().position(|(from, _, _)| *from == v) {
                Some(at) => CatchUp::Deltas(p.log.iter().skip(at).map(|(_, _, d)| d.clone()).collect()),
                None => CatchUp::Full(p.view.clone()),
            },
            None => CatchUp::Full(p.view.clone()),
        };
        self.holders
            .entry(net.to_string())
            .or_default()
            .insert(stream, feed.clone());
        (how, version)
    }

    fn drop_holder(&mut self, net: &str, stream: u64) {
        if let Some(h) = self.holders.get_mut(net) {
            h.remove(&stream);
            if h.is_empty() {
                self.holders.remove(net);
            }
        }
    }
}

impl NetFeed {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The maps stay consistent between statements; a panic elsewhere cannot leave them
        // half-written in a way that matters more than a resync.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Notes what `change` (read against `state`, the view after it) may change in the
    /// published views.
    pub fn note(&self, state: &State, change: &Change) {
        let mut inner = self.lock();
        if inner.nets.is_empty() {
            return;
        }
        match change {
            Change::Task { old, new, .. } => {
                for t in old.iter().chain(new.iter()) {
                    inner.dirty_task(state, &t.id);
                }
            }
            Change::Addresses(Owner::Task(id)) => inner.dirty_task(state, id),
            Change::Addresses(Owner::Service(id)) => inner.dirty_service(state, id),
            Change::Addresses(Owner::Node(_)) => inner.dirty_ingress(state),
            Change::Created(o) | Change::Deleted(o) => inner.note_object(state, o, None),
            Change::Updated { old, new } => inner.note_object(state, new, Some(old)),
        }
    }

    /// True while some published view waits for a rebuild.
    pub fn is_dirty(&self) -> bool {
        !self.lock().dirty.is_empty()
    }

    /// Rebuilds every dirty view from `state` and wakes the streams holding those that
    /// changed.
    pub fn flush(&self, state: &State) {
        let mut inner = self.lock();
        let dirty = std::mem::take(&mut inner.dirty);
        for net in dirty {
            if inner.publish(state, &net) {
                inner.wake(&net);
            }
        }
    }

    /// Forgets every published view (a new term, a lagged watch): they are rebuilt on demand,
    /// and streams behind them get whole views.
    pub fn reset(&self) {
        let mut inner = self.lock();
        inner.nets.clear();
        inner.dirty.clear();
        inner.task_nets.clear();
    }

    /// Wakes the streams holding an encrypted network with an endpoint on `node`: that node's
    /// key changed, and they hand it to their nodes.
    pub fn wake_sharing(&self, node: &str) {
        let mut inner = self.lock();
        let nets: Vec<String> = inner
            .nets
            .iter()
            .filter(|(_, p)| p.view.encrypted && p.view.endpoints.iter().any(|e| e.node_id == node))
            .map(|(id, _)| id.clone())
            .collect();
        for net in nets {
            inner.wake(&net);
        }
    }

    /// The per-stream memory of a new assignment stream woken through `feed`.
    pub fn stream(self: &Arc<Self>, feed: &Arc<Feed>) -> StreamNets {
        let id = {
            let mut inner = self.lock();
            inner.next_stream += 1;
            inner.next_stream
        };
        StreamNets {
            netfeed: self.clone(),
            id,
            feed: Arc::downgrade(feed),
            sent: BTreeMap::new(),
        }
    }
}

impl Inner {
    fn note_object(&mut self, state: &State, o: &Object, old: Option<&Object>) {
        match o {
            Object::Task(t) => self.dirty_task(state, &t.id),
            Object::Service(s) => self.dirty_service(state, &s.id),
            Object::Network(n) => {
                if self.nets.contains_key(&n.id) {
                    self.dirty.insert(n.id.clone());
                }
            }
            Object::Node(n) => {
                let moved = match old {
                    Some(Object::Node(before)) => before.status.addr != n.status.addr,
                    _ => true,
                };
                if moved {
                    self.dirty_node(state, &n.id);
                    // Its ingress sandbox's VTEP, or the sandbox itself, changed.
                    self.dirty_ingress(state);
                }
            }
            // Secrets and configs do not change what a network view holds.
            Object::Cluster(_) | Object::Secret(_) | Object::Config(_) => {}
        }
    }
}

/// One assignment stream's memory: the version of each network view it sent its node.
pub struct StreamNets {
    netfeed: Arc<NetFeed>,
    id: u64,
    feed: Weak<Feed>,
    sent: BTreeMap<String, u64>,
}

impl StreamNets {
    /// The complete views of `want` (the node's networks, `NodeTasks::networks`) for a full
    /// assignment message carrying `tasks` (the node drops every network not listed).
    pub fn full(
        &mut self,
        state: &State,
        node: &str,
        tasks: &[Task],
        want: &BTreeSet<String>,
    ) -> Vec<NetworkView> {
        let mut inner = self.netfeed.lock();
        for net in std::mem::take(&mut self.sent).keys() {
            inner.drop_holder(net, self.id);
        }
        drop(inner);
        let update = self.update(state, node, tasks, want);
        // Nothing was held, so there are neither deltas nor removals.
        update.networks
    }

    /// What the node must hear about networks in a message carrying `tasks`, its networks
    /// now being `want` (kept by the stream's `NodeTasks`, not rescanned per message): views
    /// of networks new to it (so each task's network arrives with it), deltas of those it
    /// holds, and those it no longer needs.
    pub fn update(
        &mut self,
        state: &State,
        node: &str,
        tasks: &[Task],
        want: &BTreeSet<String>,
    ) -> NetUpdate {
        // Endpoints the node must find in the views it holds after this message.
        let mut need: HashMap<String, Vec<&str>> = HashMap::new();
        for t in tasks {
            if netview::assigned_to(t, node) && !t.status.state.is_terminal() {
                for a in state.addresses(&Owner::Task(t.id.clone())) {
                    need.entry(a.network_id.clone()).or_default().push(&t.id);
                }
            }
        }
        let mut out = NetUpdate::default();
        let mut caught = Vec::new();
        {
            let mut inner = self.netfeed.lock();
            for net in self.sent.keys().filter(|n| !want.contains(*n)) {
                inner.drop_holder(net, self.id);
                out.removed.push(net.clone());
            }
            for net in want {
                let need = need.get(net).map(|v| &v[..]).unwrap_or(&[]);
                let sent = self.sent.get(net).copied();
                let (how, version) = inner.catch_up(state, net, sent, need, self.id, &self.feed);
                caught.push((net.clone(), how, version));
            }
        }
        for net in &out.removed {
            self.sent.remove(net);
        }
        // Composing and cloning happen outside the lock: every stream does its own.
        for (net, how, version) in caught {
            match how {
                CatchUp::Same => {}
                CatchUp::Gone => {
                    if self.sent.remove(&net).is_some() {
                        out.removed.push(net);
                    }
                }
                CatchUp::Full(view) => {
                    NETFEED_STATS.full_views.fetch_add(1, Ordering::Relaxed);
                    out.networks.push((*view).clone());
                    self.sent.insert(net, version);
                }
                CatchUp::Deltas(deltas) => {
                    let mut iter = deltas.iter();
                    let first = iter.next().map(|d| (**d).clone()).unwrap_or_default();
                    let delta = iter.fold(first, |acc, d| netview::compose(&acc, d));
                    if !netview::is_empty(&delta) {
                        NETFEED_STATS.deltas.fetch_add(1, Ordering::Relaxed);
                        out.deltas.push(delta);
                    }
                    self.sent.insert(net, version);
                }
            }
        }
        out
    }
}

impl StreamNets {
    /// The nodes other than `node` with endpoints on the encrypted networks this stream sent
    /// its node: the peers whose keys it needs.
    pub fn encrypted_peers(&self, node: &str) -> BTreeSet<String> {
        let inner = self.netfeed.lock();
        self.sent
            .keys()
            .filter_map(|net| inner.nets.get(net))
            .filter(|p| p.view.encrypted)
            .flat_map(|p| p.view.endpoints.iter())
            .filter(|e| e.node_id != node)
            .map(|e| e.node_id.clone())
            .collect()
    }
}

impl Drop for StreamNets {
    fn drop(&mut self) {
        let mut inner = self.netfeed.lock();
        for net in self.sent.keys() {
            inner.drop_holder(net, self.id);
        }
    }
}

/// Counters of what the dispatchers of this process sent on assignment streams.
#[derive(Debug, Default)]
pub struct NetFeedStats {
    messages: AtomicU64,
    bytes: AtomicU64,
    network_messages: AtomicU64,
    network_bytes: AtomicU64,
    views_built: AtomicU64,
    full_views: AtomicU64,
    deltas: AtomicU64,
}

/// A reading of [`NetFeedStats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetFeedCounts {
    /// Assignment messages sent.
    pub messages: u64,
    /// Their encoded bytes.
    pub bytes: u64,
    /// Messages that carried network views, deltas or removals.
    pub network_messages: u64,
    /// Encoded bytes of those messages.
    pub network_bytes: u64,
    /// Network views built (once per network per change, not per node).
    pub views_built: u64,
    /// Whole views sent.
    pub full_views: u64,
    /// Deltas sent.
    pub deltas: u64,
}

static NETFEED_STATS: NetFeedStats = NetFeedStats {
    messages: AtomicU64::new(0),
    bytes: AtomicU64::new(0),
    network_messages: AtomicU64::new(0),
    network_bytes: AtomicU64::new(0),
    views_built: AtomicU64::new(0),
    full_views: AtomicU64::new(0),
    deltas: AtomicU64::new(0),
};

/// Counts one assignment message of `bytes` encoded bytes.
pub fn count_sent(carries_networks: bool, bytes: usize) {
    let s = &NETFEED_STATS;
    s.messages.fetch_add(1, Ordering::Relaxed);
    s.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
    if carries_networks {
        s.network_messages.fetch_add(1, Ordering::Relaxed);
        s.network_bytes.fetch_add(bytes as u64, Ordering::Relaxed);
    }
}

/// What this process's dispatchers sent so far (for benchmarks and tests).
pub fn counts() -> NetFeedCounts {
    let s = &NETFEED_STATS;
    NetFeedCounts {
        messages: s.messages.load(Ordering::Relaxed),
        bytes: s.bytes.load(Ordering::Relaxed),
        network_messages: s.network_messages.load(Ordering::Relaxed),
        network_bytes: s.network_bytes.load(Ordering::Relaxed),
        views_built: s.views_built.load(Ordering::Relaxed),
        full_views: s.full_views.load(Ordering::Relaxed),
        deltas: s.deltas.load(Ordering::Relaxed),
    }
}
