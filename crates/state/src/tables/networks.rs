//! Networks and the addresses held on them: the network table (with a name index), the
//! address lists of tasks and services, and an index of every held address by network.
//!
//! ```text
//! networks:   id → Network            (controlapi creates and removes)
//! addresses:  Owner → [NetAddr]       (allocator: task attachments, service VIPs)
//! held:       (network, ip) → Owner   (index, rebuilt from `addresses`)
//! ```
//! The apply-time checks make double allocation impossible whatever the allocator does: an
//! address is handed to one owner at a time and only from its network's assignable range, a
//! network holding addresses cannot be removed, and a task's or service's addresses go
//! with it.

use std::net::Ipv4Addr;
use std::sync::Arc;

use types::{Kind, NetAddr, Network};

use super::{Key, State, lookup::LookupError};
use crate::{AddressUpdate, Change, Owner, TxnError};

impl State {
    /// A network by exact ID.
    pub fn network(&self, id: &str) -> Option<&Arc<Network>> {
        self.networks.get(id)
    }

    /// A network by exact name.
    pub fn network_by_name(&self, name: &str) -> Option<&Arc<Network>> {
        self.network_names
            .get(name)
            .and_then(|id| self.networks.get(id.as_ref()))
    }

    /// All networks, ordered by ID.
    pub fn networks(&self) -> impl Iterator<Item = &Arc<Network>> {
        self.networks.values()
    }

    /// A network by ID, name, or unique ID prefix (dockerd's order).
    pub fn lookup_network(&self, key: &str) -> Result<Arc<Network>, LookupError> {
        if let Some(n) = self.networks.get(key).or_else(|| self.network_by_name(key)) {
            return Ok(n.clone());
        }
        super::lookup::by_prefix(&self.networks, "network", key)?.ok_or_else(|| LookupError::NotFound {
            kind: "network",
            key: key.to_string(),
        })
    }

    /// The addresses `owner` holds (none when it holds nothing).
    pub fn addresses(&self, owner: &Owner) -> &[NetAddr] {
        self.addresses.get(owner).map(|a| &a[..]).unwrap_or(&[])
    }

    /// Every owner holding addresses, with them.
    pub fn address_holders(&self) -> impl Iterator<Item = (&Owner, &[NetAddr])> {
        self.addresses.iter().map(|(o, a)| (o, &a[..]))
    }

    /// Who holds `ip` on network `network_id`.
    pub fn holder(&self, network_id: &str, ip: Ipv4Addr) -> Option<&Owner> {
        self.held.get(&(Key::from(network_id), u32::from(ip)))
    }

    /// The addresses held on a network, in order, with their holders.
    pub fn held_on<'a>(&'a self, network_id: &str) -> impl Iterator<Item = (Ipv4Addr, &'a Owner)> + 'a {
        let net = Key::from(network_id);
        self.held
            .range((net.clone(), 0)..)
            .take_while(move |((n, _), _)| *n == net)
            .map(|((_, ip), owner)| (Ipv4Addr::from(*ip), owner))
    }

    /// The highest address held on a network (where serial allocation continues).
    pub fn last_held_on(&self, network_id: &str) -> Option<Ipv4Addr> {
        let net = Key::from(network_id);
        self.held
            .range((net.clone(), 0)..=(net, u32::MAX))
            .next_back()
            .map(|((_, ip), _)| Ipv4Addr::from(*ip))
    }

    /// Checks a network about to be created: a free name, VNI and subnets.
    pub(super) fn check_new_network(&self, n: &Network) -> Result<(), TxnError> {
        for other in self.networks.values() {
            if other.vni == n.vni {
                return Err(TxnError::Unavailable(format!(
                    "VNI {} is already used by network {}",
                    n.vni, other.spec.name
                )));
            }
            for p in &n.pools {
                if let Some(q) = other.pools.iter().find(|q| q.subnet.overlaps(p.subnet)) {
                    return Err(TxnError::Unavailable(format!(
                        "subnet {} overlaps subnet {} of network {}",
                        p.subnet, q.subnet, other.spec.name
                    )));
                }
            }
        }
        Ok(())
    }

    /// Network names are unique.
    pub(super) fn check_network_name(&self, n: &Network) -> Result<(), TxnError> {
        match self.network_names.get(&n.spec.name) {
            Some(owner) if **owner != *n.id => Err(TxnError::NameConflict {
                kind: Kind::Network,
                name: n.spec.name.clone(),
            }),
            _ => Ok(()),
        }
    }

    /// Refuses removing a network that still holds addresses of tasks or services (nodes'
    /// ingress sandbox addresses go with the network).
    pub(super) fn check_network_unused(&self, id: &str) -> Result<(), TxnError> {
        match self
            .held_on(id)
            .find(|(_, owner)| !matches!(owner, Owner::Node(_)))
        {
            Some((_, owner)) => Err(TxnError::InUse {
                kind: Kind::Network,
                id: id.to_string(),
                by: owner.to_string(),
            }),
            None => Ok(()),
        }
    }

    pub(super) fn put_network(&mut self, n: Arc<Network>) {
        if let Some(old) = self.networks.get(n.id.as_str())
            && old.spec.name != n.spec.name
        {
            self.network_names.remove(&old.spec.name);
        }
        let id = super::key_in(&self.networks, &n.id);
        self.network_names.insert(n.spec.name.clone(), id.clone());
        self.networks.insert(id, n);
    }

    pub(super) fn remove_network(&mut self, id: &str) {
        // Only nodes' sandbox addresses can be left here (`check_network_unused`); a node holds
        // none elsewhere, so all of theirs go.
        let nodes: Vec<Owner> = self
            .held_on(id)
            .filter(|(_, owner)| matches!(owner, Owner::Node(_)))
            .map(|(_, owner)| owner.clone())
            .collect();
        for owner in nodes {
            self.drop_addresses(&owner);
        }
        if let Some(old) = self.networks.remove(id) {
            self.network_names.remove(&old.spec.name);
        }
    }

    /// Applies one [`AddressUpdate`]: frees the owner's old addresses, checks and takes the
    /// new ones. Owners that are gone are skipped.
    pub(super) fn set_addresses(
        &mut self,
        update: &AddressUpdate,
        changes: &mut Vec<Change>,
    ) -> Result<(), TxnError> {
        let AddressUpdate { owner, addresses } = update;
        let exists = match owner {
            Owner::Task(id) => self.tasks.contains_key(id.as_str()),
            Owner::Service(id) => self.services.contains_key(id.as_str()),
            Owner::Node(id) => self.nodes.contains_key(id.as_str()),
        };
        if !exists && !addresses.is_empty() {
            return Ok(());
        }
        if self.addresses(owner) == &addresses[..] {
            return Ok(());
        }
        self.drop_addresses(owner);
        for (i, a) in addresses.iter().enumerate() {
            let Some(network) = self.networks.get(a.network_id.as_str()) else {
                return Err(TxnError::NotFound {
                    kind: Kind::Network,
                    id: a.network_id.clone(),
                });
            };
            if addresses[..i].iter().any(|b| b.network_id == a.network_id) {
                return Err(TxnError::Unavailable(format!(
                    "{owner} holds two addresses on network {}",
                    network.spec.name
                )));
            }
            if !network.pool_of(a.addr).is_some_and(|p| p.assignable(a.addr)) {
                return Err(TxnError::Unavailable(format!(
                    "address {} cannot be handed out on network {}",
                    a.addr, network.spec.name
                )));
            }
            let key = (super::key_in(&self.networks, &a.network_id), u32::from(a.addr));
            if let Some(holder) = self.held.get(&key) {
                return Err(TxnError::Unavailable(format!(
                    "address {} on network {} is held by {holder}",
                    a.addr, network.spec.name
                )));
            }
            self.held.insert(key, owner.clone());
        }
        if !addresses.is_empty() {
            self.addresses.insert(owner.clone(), Arc::new(addresses.clone()));
        }
        changes.push(Change::Addresses(owner.clone()));
        Ok(())
    }

    /// Frees everything `owner` holds; true when it held anything.
    pub(super) fn drop_addresses(&mut self, owner: &Owner) -> bool {
        let Some(old) = self.addresses.remove(owner) else {
            return false;
        };
        for a in old.iter() {
            self.held
                .remove(&(Key::from(a.network_id.as_str()), u32::from(a.addr)));
        }
        true
    }

    /// Rebuilds the name and address indexes (after loading a snapshot).
    pub(super) fn index_networks(&mut self) {
        self.network_names = self
            .networks
            .iter()
            .map(|(id, n)| (n.spec.name.clone(), id.clone()))
            .collect();
        self.held = imbl::OrdMap::new();
        for (owner, addrs) in self.addresses.iter() {
            for a in addrs.iter() {
                let net = super::key_in(&self.networks, &a.network_id);
                self.held.insert((net, u32::from(a.addr)), owner.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use types::{Meta, NetworkSpec, Object, Pool, Subnet, Timestamp};

    use super::*;
    use crate::{NewTask, Op, Txn};

    fn network(id: &str, name: &str, subnet: &str, vni: u32) -> Network {
        let subnet = Subnet::parse(subnet).unwrap();
        Network {
            id: id.into(),
            meta: Meta::default(),
            spec: NetworkSpec {
                name: name.into(),
                driver: "overlay".into(),
                ..Default::default()
            },
            vni,
            pools: vec![Pool {
                subnet,
                range: subnet,
                gateway: Ipv4Addr::from(subnet.first() + 1),
                aux: BTreeMap::new(),
            }],
        }
    }

    fn service(id: &str) -> Object {
        Object::Service(types::testing::service(id).build())
    }

    fn apply(s: &State, ops: Vec<Op>) -> Result<State, TxnError> {
        let txn = Txn {
            id: 0,
            ops,
            now: Timestamp(1),
        };
        s.apply(&txn, s.index + 1).map(|(s, _)| s)
    }

    fn addr(net: &str, ip: [u8; 4]) -> NetAddr {
        NetAddr {
            network_id: net.into(),
            addr: Ipv4Addr::from(ip),
        }
    }

    fn set(owner: Owner, addresses: Vec<NetAddr>) -> Op {
        Op::SetAddresses(vec![AddressUpdate { owner, addresses }])
    }

    fn world() -> State {
        let s = apply(
            &State::default(),
            vec![
                Op::Create(Object::Network(network("n1", "front", "10.0.1.0/24", 4096))),
                Op::Create(service("s1")),
                Op::CreateTasks {
                    service_id: "s1".into(),
                    spec_version: 1,
                    tasks: vec![NewTask {
                        id: "t1".into(),
                        slot: 1,
                        node_id: String::new(),
                        desired_state: types::TaskState::Running,
                        job_iteration: None,
                    }],
                },
            ],
        )
        .unwrap();
        assert_eq!(s.lookup_network("front").unwrap().id, "n1");
        assert_eq!(s.lookup_network("n").unwrap().id, "n1");
        s
    }

    #[test]
    fn names_vnis_and_subnets_are_unique() {
        let s = world();
        let dup = |n| apply(&s, vec![Op::Create(Object::Network(n))]).unwrap_err();
        assert!(matches!(
            dup(network("n2", "front", "10.0.2.0/24", 4097)),
            TxnError::NameConflict { .. }
        ));
        assert!(matches!(
            dup(network("n2", "back", "10.0.2.0/24", 4096)),
            TxnError::Unavailable(_)
        ));
        assert!(matches!(
            dup(network("n2", "back", "10.0.0.0/16", 4097)),
            TxnError::Unavailable(_)
        ));
        apply(
            &s,
            vec![Op::Create(Object::Network(network(
                "n2",
                "back",
                "10.0.2.0/24",
                4097,
            )))],
        )
        .unwrap();
    }

    #[test]
    fn an_address_has_one_holder_and_only_assignable_ones_are_taken() {
        let s = world();
        let s = apply(
            &s,
            vec![set(Owner::Service("s1".into()), vec![addr("n1", [10, 0, 1, 2])])],
        )
        .unwrap();
        assert_eq!(
            s.holder("n1", Ipv4Addr::new(10, 0, 1, 2)),
            Some(&Owner::Service("s1".into()))
        );
        let taken = apply(
            &s,
            vec![set(Owner::Task("t1".into()), vec![addr("n1", [10, 0, 1, 2])])],
        );
        assert!(matches!(taken, Err(TxnError::Unavailable(_))));
        for bad in [[10, 0, 1, 1], [10, 0, 1, 0], [10, 0, 1, 255], [10, 0, 2, 3]] {
            let r = apply(&s, vec![set(Owner::Task("t1".into()), vec![addr("n1", bad)])]);
            assert!(matches!(r, Err(TxnError::Unavailable(_))), "{bad:?}");
        }
        let missing = apply(
            &s,
            vec![set(Owner::Task("t1".into()), vec![addr("zz", [10, 0, 1, 3])])],
        );
        assert!(matches!(missing, Err(TxnError::NotFound { .. })));
        // A gone owner is skipped, not an error.
        let gone = apply(
            &s,
            vec![set(Owner::Task("nope".into()), vec![addr("n1", [10, 0, 1, 9])])],
        )
        .unwrap();
        assert_eq!(gone.held_on("n1").count(), 1);
    }

    #[test]
    fn a_nodes_sandbox_address_does_not_keep_its_network_and_goes_with_it_or_the_node() {
        let node = Object::Node(types::Node {
            id: "nd1".into(),
            meta: Meta::default(),
            spec: types::NodeSpec::default(),
            description: types::NodeDescription::default(),
            status: types::NodeStatus::default(),
            manager_status: None,
            role: types::Role::Worker,
        });
        let s = apply(&world(), vec![Op::Create(node)]).unwrap();
        let s = apply(
            &s,
            vec![set(Owner::Node("nd1".into()), vec![addr("n1", [10, 0, 1, 7])])],
        )
        .unwrap();
        assert_eq!(
            s.holder("n1", [10, 0, 1, 7].into()),
            Some(&Owner::Node("nd1".into()))
        );
        let node_gone = apply(
            &s,
            vec![Op::Delete {
                kind: Kind::Node,
                id: "nd1".into(),
                expect_version: None,
            }],
        )
        .unwrap();
        assert_eq!(node_gone.held_on("n1").count(), 0);
        let net_gone = apply(
            &s,
            vec![Op::Delete {
                kind: Kind::Network,
                id: "n1".into(),
                expect_version: None,
            }],
        )
        .unwrap();
        assert!(net_gone.network("n1").is_none());
        assert!(net_gone.addresses(&Owner::Node("nd1".into())).is_empty());
    }

    #[test]
    fn a_network_in_use_stays_and_owners_take_their_addresses_with_them() {
        let s = world();
        let s = apply(
            &s,
            vec![set(Owner::Task("t1".into()), vec![addr("n1", [10, 0, 1, 3])])],
        )
        .unwrap();
        let rm = Op::Delete {
            kind: Kind::Network,
            id: "n1".into(),
            expect_version: None,
        };
        assert!(matches!(apply(&s, vec![rm.clone()]), Err(TxnError::InUse { .. })));
        let s2 = apply(&s, vec![Op::DeleteTasks(vec!["t1".into()])]).unwrap();
        assert_eq!(s2.held_on("n1").count(), 0);
        assert!(apply(&s2, vec![rm.clone()]).unwrap().network("n1").is_none());
        let s3 = apply(&s, vec![set(Owner::Task("t1".into()), vec![])]).unwrap();
        assert_eq!(s3.address_holders().count(), 0);
        let s4 = apply(
            &s,
            vec![Op::Delete {
                kind: Kind::Service,
                id: "s1".into(),
                expect_version: None,
            }],
        )
        .unwrap();
        assert_eq!(
            s4.addresses(&Owner::Task("t1".into())).len(),
            1,
            "tasks outlive their service"
        );
    }

    #[test]
    fn networks_and_addresses_survive_a_snapshot_after_the_old_tables() {
        let s = world();
        let s = apply(
            &s,
            vec![set(Owner::Task("t1".into()), vec![addr("n1", [10, 0, 1, 3])])],
        )
        .unwrap();
        let bytes = s.encode().unwrap();
        assert!(bytes.starts_with(&postcard::to_stdvec(&s).unwrap()));
        let back = State::decode(&bytes).unwrap();
        assert_eq!(back.network("n1"), s.network("n1"));
        assert_eq!(back.network_by_name("front").unwrap().id, "n1");
        assert_eq!(
            back.holder("n1", Ipv4Addr::new(10, 0, 1, 3)),
            Some(&Owner::Task("t1".into()))
        );
        // The new op is appended: the unlock key's tag did not move.
        let bytes = postcard::to_stdvec(&Op::SetAddresses(vec![])).unwrap();
        assert_eq!(bytes[0], 8);
        let bytes = postcard::to_stdvec(&Object::Network(network("n", "n", "10.0.0.0/24", 1))).unwrap();
        assert_eq!(bytes[0], 4, "Network is the last object kind");
    }
}
