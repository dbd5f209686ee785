//! Service DNS for the overlays: one resolver per network per node, listening on the network's
//! gateway address inside its overlay namespace, answering each task by its source address
//! (aardvark-dns's model: no listener per task).
//!
//! - `records`: what it answers, plain data from the caller, swapped in atomically;
//! - `answer`: one query → a reply, a refusal or "forward" (pure);
//! - `forward`: names outside the networks, sent to the host's resolvers from the host namespace;
//! - `server`: the UDP and TCP loops, their sockets opened inside the overlay namespace;
//! - `resolv_conf`: the host's `/etc/resolv.conf` read, and a task's written.

mod answer;
mod forward;
mod records;
mod resolv_conf;
mod server;

pub use forward::Upstreams;
pub use records::{DnsRecords, NetworkRecords, ServiceRecord, TaskRecord};
pub use resolv_conf::{HostResolvConf, task_resolv_conf, write_task_resolv_conf};
pub use server::{DNS_PORT, Resolver, ResolverConfig};
