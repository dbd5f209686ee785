//! What the resolvers answer from: per network, its services, tasks and aliases as plain data
//! (the agent fills them from the store), compiled into lookup tables and swapped in at once.
//!
//! Every resolver of a node reads the same `DnsRecords`: a task attached to several networks
//! asks the resolver of one of them and still sees the names of all its networks, as a container
//! with Docker's embedded DNS does.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::Arc;

use arc_swap::ArcSwap;

/// A service as seen on one network.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceRecord {
    /// The service's name.
    pub name: String,
    /// Its network aliases on this network (also answered as `tasks.<alias>`).
    pub aliases: Vec<String>,
    /// Its VIP on this network; `None` for `--endpoint-mode dnsrr` (the name then gives the task IPs).
    pub vip: Option<Ipv4Addr>,
}

/// A task attached to one network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskRecord {
    /// The task's ID: it links the task's attachments on different networks.
    pub id: String,
    /// The service it belongs to (empty for a container on an attachable network).
    pub service: String,
    /// Its name, `<service>.<slot>.<task id>` (or `<service>.<node id>.<task id>` for global services).
    pub name: String,
    /// Its address on this network.
    pub address: Ipv4Addr,
    /// Whether its address belongs in `<service>` (dnsrr) and `tasks.<service>` answers: the caller
    /// sets it for running and healthy tasks only. A task not listed still resolves by its own name
    /// and may still ask.
    pub listed: bool,
    /// Extra names for this task alone (a container's `--network-alias`).
    pub aliases: Vec<String>,
}

/// Everything one overlay network's resolvers answer for it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NetworkRecords {
    /// The network's ID.
    pub network: String,
    /// The services attached to it.
    pub services: Vec<ServiceRecord>,
    /// The tasks attached to it (on every node, not only this one).
    pub tasks: Vec<TaskRecord>,
}

/// One network's compiled names.
#[derive(Debug, Default)]
pub(crate) struct Zone {
    /// Lower-case name without the final dot → addresses, in the order given.
    names: HashMap<String, Vec<Ipv4Addr>>,
    /// Address → the name a PTR query answers.
    reverse: HashMap<Ipv4Addr, String>,
    /// Task address → task ID: who is asking.
    sources: HashMap<Ipv4Addr, String>,
}

/// All networks' compiled names on one node.
#[derive(Debug, Default)]
pub(crate) struct Directory {
    zones: HashMap<String, Zone>,
    /// Task ID → the networks it is attached to, in the order given.
    task_networks: HashMap<String, Vec<String>>,
}

/// What a name lookup found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Found {
    /// The source address is no task of this network: it may not ask.
    Stranger,
    /// The name is one of the asker's networks' (possibly with no address, e.g. an empty dnsrr service).
    Addresses(Vec<Ipv4Addr>),
    /// The name is in none of the asker's networks.
    Unknown,
}

fn key(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

impl Zone {
    fn compile(records: &NetworkRecords) -> Zone {
        let mut zone = Zone::default();
        let add = |zone: &mut Zone, name: &str, address: Option<Ipv4Addr>| {
            if name.is_empty() {
                return;
            }
            let entry = zone.names.entry(key(name)).or_default();
            if let Some(address) = address
                && !entry.contains(&address)
            {
                entry.push(address);
            }
        };
        for service in &records.services {
            let listed: Vec<Ipv4Addr> = records
                .tasks
                .iter()
                .filter(|task| task.listed && task.service == service.name)
                .map(|task| task.address)
                .collect();
            for name in std::iter::once(&service.name).chain(&service.aliases) {
                // Declared even with no address: the name exists, so it is not forwarded.
                add(&mut zone, name, None);
                add(&mut zone, &format!("tasks.{name}"), None);
                match service.vip {
                    Some(vip) => add(&mut zone, name, Some(vip)),
                    None => listed.iter().for_each(|ip| add(&mut zone, name, Some(*ip))),
                }
                for ip in &listed {
                    add(&mut zone, &format!("tasks.{name}"), Some(*ip));
                }
            }
            if let Some(vip) = service.vip {
                zone.reverse.insert(vip, service.name.clone());
            }
        }
        for task in &records.tasks {
            add(&mut zone, &task.name, Some(task.address));
            for alias in &task.aliases {
                add(&mut zone, alias, Some(task.address));
            }
            zone.reverse.insert(task.address, task.name.clone());
            zone.sources.insert(task.address, task.id.clone());
        }
        zone
    }
}

impl Directory {
    /// Compiles `networks`; a network listed twice keeps its last entry.
    pub(crate) fn compile(networks: &[NetworkRecords]) -> Directory {
        let mut directory = Directory::default();
        for records in networks {
            directory
                .zones
                .insert(records.network.clone(), Zone::compile(records));
            for task in &records.tasks {
                let attached = directory.task_networks.entry(task.id.clone()).or_default();
                if !attached.contains(&records.network) {
                    attached.push(records.network.clone());
                }
            }
        }
        directory
    }

    /// The zones a task at `source` on `network` sees: that network's first, then its others.
    fn visible<'a>(&'a self, network: &str, source: Ipv4Addr) -> Option<Vec<&'a Zone>> {
        let zone = self.zones.get(network)?;
        let task = zone.sources.get(&source)?;
        let mut zones = vec![zone];
        for other in self.task_networks.get(task).into_iter().flatten() {
            if other != network
                && let Some(zone) = self.zones.get(other)
            {
                zones.push(zone);
            }
        }
        Some(zones)
    }

    /// The addresses of `name` for the task at `source` asking on `network`.
    pub(crate) fn lookup(&self, network: &str, source: Ipv4Addr, name: &str) -> Found {
        let Some(zones) = self.visible(network, source) else {
            return Found::Stranger;
        };
        let name = key(name);
        zones
            .iter()
            .find_map(|zone| zone.names.get(&name))
            .map_or(Found::Unknown, |addresses| Found::Addresses(addresses.clone()))
    }

    /// The name of `address` for the task at `source` on `network`: `None` when not one of its
    /// networks' (or the source is a stranger: `Stranger` is reported by `lookup`).
    pub(crate) fn reverse(&self, network: &str, source: Ipv4Addr, address: Ipv4Addr) -> Option<String> {
        self.visible(network, source)?
            .iter()
            .find_map(|zone| zone.reverse.get(&address).cloned())
    }

    /// Whether `source` is a task of `network`.
    pub(crate) fn knows(&self, network: &str, source: Ipv4Addr) -> bool {
        self.visible(network, source).is_some()
    }
}

/// The names of every network on this node, shared by its resolvers; cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct DnsRecords {
    current: Arc<ArcSwap<Directory>>,
}

impl DnsRecords {
    /// Empty records: every resolver refuses until the first `replace`.
    pub fn new() -> Self {
        DnsRecords::default()
    }

    /// Replaces all networks' records at once: the next query sees only the new ones.
    pub fn replace(&self, networks: &[NetworkRecords]) {
        self.current.store(Arc::new(Directory::compile(networks)));
    }

    pub(crate) fn load(&self) -> Arc<Directory> {
        self.current.load_full()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> Ipv4Addr {
        Ipv4Addr::new(10, 0, 1, last)
    }

    fn task(id: &str, service: &str, address: Ipv4Addr, listed: bool) -> TaskRecord {
        TaskRecord {
            id: id.into(),
            service: service.into(),
            name: format!("{service}.1.{id}"),
            address,
            listed,
            aliases: vec![],
        }
    }

    fn front() -> NetworkRecords {
        NetworkRecords {
            network: "front".into(),
            services: vec![
                ServiceRecord {
                    name: "web".into(),
                    aliases: vec!["www".into()],
                    vip: Some(ip(2)),
                },
                ServiceRecord {
                    name: "db".into(),
                    aliases: vec![],
                    vip: None,
                },
            ],
            tasks: vec![
                task("t1", "web", ip(10), true),
                task("t2", "web", ip(11), false),
                task("t3", "db", ip(12), true),
                task("c1", "client", ip(20), true),
            ],
        }
    }

    #[test]
    fn services_tasks_and_aliases_resolve_for_a_task_of_the_network() {
        let directory = Directory::compile(&[front()]);
        let ask = |name| directory.lookup("front", ip(20), name);
        assert_eq!(ask("web"), Found::Addresses(vec![ip(2)]));
        assert_eq!(ask("WWW."), Found::Addresses(vec![ip(2)]));
        assert_eq!(
            ask("tasks.web"),
            Found::Addresses(vec![ip(10)]),
            "t2 is not listed"
        );
        assert_eq!(ask("tasks.www"), Found::Addresses(vec![ip(10)]));
        assert_eq!(ask("db"), Found::Addresses(vec![ip(12)]), "dnsrr gives task IPs");
        assert_eq!(ask("web.1.t2"), Found::Addresses(vec![ip(11)]));
        assert_eq!(ask("example.org"), Found::Unknown);
        assert_eq!(directory.reverse("front", ip(20), ip(2)).as_deref(), Some("web"));
        assert_eq!(
            directory.reverse("front", ip(20), ip(10)).as_deref(),
            Some("web.1.t1")
        );
    }

    #[test]
    fn a_source_outside_the_network_sees_nothing_and_a_task_on_two_networks_sees_both() {
        let mut back = NetworkRecords {
            network: "back".into(),
            services: vec![ServiceRecord {
                name: "cache".into(),
                aliases: vec![],
                vip: Some(Ipv4Addr::new(10, 0, 2, 2)),
            }],
            tasks: vec![task("c1", "client", Ipv4Addr::new(10, 0, 2, 20), true)],
        };
        let directory = Directory::compile(&[front(), back.clone()]);
        assert_eq!(
            directory.lookup("back", Ipv4Addr::new(10, 0, 2, 20), "web"),
            Found::Addresses(vec![ip(2)]),
            "c1 is on front too"
        );
        assert_eq!(
            directory.lookup("front", Ipv4Addr::new(10, 0, 2, 20), "web"),
            Found::Stranger
        );
        back.tasks[0].id = "other".into();
        let directory = Directory::compile(&[front(), back]);
        assert_eq!(
            directory.lookup("back", Ipv4Addr::new(10, 0, 2, 20), "web"),
            Found::Unknown
        );
        assert!(!directory.knows("nowhere", ip(20)));
    }
}
