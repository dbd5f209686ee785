//! Secrets and configs: names unique per kind, and neither removed while a service's spec
//! references it (re-checked when the entry applies, so a service created meanwhile is not
//! left pointing at nothing). Both are written to snapshots as `Extra` records.

use std::sync::Arc;

use types::{Config, Kind, Secret, Service};

use super::{Key, State, lookup::LookupError};
use crate::TxnError;

impl State {
    /// A secret by exact ID.
    pub fn secret(&self, id: &str) -> Option<&Arc<Secret>> {
        self.secrets.get(id)
    }

    /// A secret by exact name.
    pub fn secret_by_name(&self, name: &str) -> Option<&Arc<Secret>> {
        self.secret_names
            .get(name)
            .and_then(|id| self.secrets.get(id.as_ref()))
    }

    /// All secrets, ordered by ID.
    pub fn secrets(&self) -> impl Iterator<Item = &Arc<Secret>> {
        self.secrets.values()
    }

    /// A secret by ID, name or unique ID prefix (dockerd's order).
    pub fn lookup_secret(&self, key: &str) -> Result<Arc<Secret>, LookupError> {
        if let Some(s) = self.secrets.get(key).or_else(|| self.secret_by_name(key)) {
            return Ok(s.clone());
        }
        super::lookup::by_prefix(&self.secrets, "secret", key)?.ok_or_else(|| LookupError::NotFound {
            kind: "secret",
            key: key.to_string(),
        })
    }

    /// A config by exact ID.
    pub fn config(&self, id: &str) -> Option<&Arc<Config>> {
        self.configs.get(id)
    }

    /// A config by exact name.
    pub fn config_by_name(&self, name: &str) -> Option<&Arc<Config>> {
        self.config_names
            .get(name)
            .and_then(|id| self.configs.get(id.as_ref()))
    }

    /// All configs, ordered by ID.
    pub fn configs(&self) -> impl Iterator<Item = &Arc<Config>> {
        self.configs.values()
    }

    /// A config by ID, name or unique ID prefix (dockerd's order).
    pub fn lookup_config(&self, key: &str) -> Result<Arc<Config>, LookupError> {
        if let Some(c) = self.configs.get(key).or_else(|| self.config_by_name(key)) {
            return Ok(c.clone());
        }
        super::lookup::by_prefix(&self.configs, "config", key)?.ok_or_else(|| LookupError::NotFound {
            kind: "config",
            key: key.to_string(),
        })
    }

    /// The services whose current spec references secret (`Kind::Secret`) or config `id`.
    pub fn services_using(&self, kind: Kind, id: &str) -> Vec<Arc<Service>> {
        self.services
            .values()
            .filter(|s| {
                // A spec whose references do not parse was refused at create; it holds none.
                let refs = types::secret::references(&s.spec.task.container.extra).unwrap_or_default();
                match kind {
                    Kind::Secret => refs.secrets.iter().any(|r| r.secret_id == id),
                    Kind::Config => refs.configs.iter().any(|r| r.config_id == id),
                    _ => false,
                }
            })
            .cloned()
            .collect()
    }

    /// True when the store holds any secret or config (most clusters hold none, and then no
    /// node needs any: the dispatcher skips the per-message scan of a node's tasks).
    pub fn holds_payloads(&self) -> bool {
        !self.secrets.is_empty() || !self.configs.is_empty()
    }

    /// The secrets and configs the tasks on `node_id` that should run (desired state up to
    /// running, not yet finished) reference: what the dispatcher is to send that node, and
    /// nothing more (Swarm's rule: a node holds only what its tasks use). Ordered by ID.
    pub fn payloads_for_node(&self, node_id: &str) -> (Vec<Arc<Secret>>, Vec<Arc<Config>>) {
        let mut secrets = std::collections::BTreeMap::new();
        let mut configs = std::collections::BTreeMap::new();
        for t in self.tasks_on_node(node_id) {
            if t.desired_state > types::TaskState::Running || t.status.state.is_terminal() {
                continue;
            }
            let refs = types::secret::references(&t.spec.container.extra).unwrap_or_default();
            for r in refs.secrets {
                if let Some(s) = self.secrets.get(r.secret_id.as_str()) {
                    secrets.insert(s.id.clone(), s.clone());
                }
            }
            for r in refs.configs {
                if let Some(c) = self.configs.get(r.config_id.as_str()) {
                    configs.insert(c.id.clone(), c.clone());
                }
            }
        }
        (secrets.into_values().collect(), configs.into_values().collect())
    }

    /// Refuses removing a secret or config a service references.
    pub(super) fn check_unreferenced(&self, kind: Kind, id: &str) -> Result<(), TxnError> {
        match self.services_using(kind, id).first() {
            Some(s) => Err(TxnError::InUse {
                kind,
                id: id.to_string(),
                by: format!("service {}", s.spec.name),
            }),
            None => Ok(()),
        }
    }

    /// Secret and config names are unique per kind.
    pub(super) fn check_secret_name(&self, kind: Kind, id: &str, name: &str) -> Result<(), TxnError> {
        let names = if kind == Kind::Secret {
            &self.secret_names
        } else {
            &self.config_names
        };
        match names.get(name) {
            Some(owner) if **owner != *id => Err(TxnError::NameConflict {
                kind,
                name: name.to_string(),
            }),
            _ => Ok(()),
        }
    }

    pub(super) fn put_secret(&mut self, s: Arc<Secret>) {
        if let Some(old) = self.secrets.get(s.id.as_str())
            && old.spec.name != s.spec.name
        {
            self.secret_names.remove(&old.spec.name);
        }
        let id = super::key_in(&self.secrets, &s.id);
        self.secret_names.insert(s.spec.name.clone(), id.clone());
        self.secrets.insert(id, s);
    }

    pub(super) fn put_config(&mut self, c: Arc<Config>) {
        if let Some(old) = self.configs.get(c.id.as_str())
            && old.spec.name != c.spec.name
        {
            self.config_names.remove(&old.spec.name);
        }
        let id = super::key_in(&self.configs, &c.id);
        self.config_names.insert(c.spec.name.clone(), id.clone());
        self.configs.insert(id, c);
    }

    pub(super) fn remove_secret(&mut self, id: &str) {
        if let Some(old) = self.secrets.remove(id) {
            self.secret_names.remove(&old.spec.name);
        }
    }

    pub(super) fn remove_config(&mut self, id: &str) {
        if let Some(old) = self.configs.remove(id) {
            self.config_names.remove(&old.spec.name);
        }
    }

    /// Rebuilds the name indexes (after loading a snapshot).
    pub(super) fn index_secrets(&mut self) {
        self.secret_names = self
            .secrets
            .iter()
            .map(|(id, s)| (s.spec.name.clone(), Key::clone(id)))
            .collect();
        self.config_names = self
            .configs
            .iter()
            .map(|(id, c)| (c.spec.name.clone(), Key::clone(id)))
            .collect();
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use types::{ConfigSpec, Meta, Object, SecretData, SecretSpec, Timestamp};

    use super::*;
    use crate::{Op, Txn};

    fn secret(id: &str, name: &str) -> Object {
        Object::Secret(Secret {
            id: id.into(),
            meta: Meta::default(),
            spec: SecretSpec {
                name: name.into(),
                labels: BTreeMap::new(),
                data: SecretData(b"pw".to_vec()),
            },
        })
    }

    fn config(id: &str, name: &str) -> Object {
        Object::Config(Config {
            id: id.into(),
            meta: Meta::default(),
            spec: ConfigSpec {
                name: name.into(),
                labels: BTreeMap::new(),
                data: SecretData(b"conf".to_vec()),
            },
        })
    }

    fn service_using(id: &str, secret_id: &str) -> Object {
        let mut task = types::TaskSpec::default();
        task.container.extra = format!(r#"{{"Secrets":[{{"SecretID":"{secret_id}","SecretName":"x"}}]}}"#);
        Object::Service(types::testing::service(id).task(task).build())
    }

    fn apply(s: &State, ops: Vec<Op>) -> Result<State, TxnError> {
        let txn = Txn {
            id: 0,
            ops,
            now: Timestamp(1),
        };
        s.apply(&txn, s.index + 1).map(|(s, _)| s)
    }

    fn delete(kind: Kind, id: &str) -> Op {
        Op::Delete {
            kind,
            id: id.into(),
            expect_version: None,
        }
    }

    #[test]
    fn names_are_unique_per_kind_and_a_referenced_secret_stays() {
        let s = apply(
            &State::default(),
            vec![
                Op::Create(secret("s1", "pw")),
                Op::Create(config("c1", "pw")),
                Op::Create(service_using("svc", "s1")),
            ],
        )
        .unwrap();
        assert_eq!(s.lookup_secret("pw").unwrap().id, "s1");
        assert_eq!(s.lookup_config("c").unwrap().id, "c1");
        let dup = apply(&s, vec![Op::Create(secret("s2", "pw"))]);
        assert!(matches!(dup, Err(TxnError::NameConflict { .. })));
        let rm = apply(&s, vec![delete(Kind::Secret, "s1")]);
        assert!(matches!(rm, Err(TxnError::InUse { .. })), "{rm:?}");
        let s = apply(&s, vec![delete(Kind::Service, "svc"), delete(Kind::Secret, "s1")]).unwrap();
        assert!(s.secret("s1").is_none() && s.secret_by_name("pw").is_none());
        let s = apply(&s, vec![delete(Kind::Config, "c1")]).unwrap();
        assert_eq!(s.configs().count(), 0);
    }

    #[test]
    fn a_node_gets_only_what_its_live_tasks_reference() {
        let new_task = |id: &str, node: &str| crate::NewTask {
            id: id.into(),
            slot: 1,
            node_id: node.into(),
            desired_state: types::TaskState::Running,
            job_iteration: None,
        };
        let s = apply(
            &State::default(),
            vec![
                Op::Create(secret("s1", "pw")),
                Op::Create(secret("s2", "other")),
                Op::Create(service_using("svc", "s1")),
                Op::CreateTasks {
                    service_id: "svc".into(),
                    spec_version: 1,
                    tasks: vec![new_task("t1", "n1")],
                },
            ],
        )
        .unwrap();
        let (secrets, configs) = s.payloads_for_node("n1");
        assert_eq!(secrets.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(), ["s1"]);
        assert!(configs.is_empty());
        assert!(s.payloads_for_node("n2").0.is_empty());
        // Once the task is to stop, the node is told to drop the secret.
        let stop = Op::UpdateTasks(vec![crate::TaskUpdate {
            id: "t1".into(),
            change: crate::TaskChange::Desired(types::TaskState::Shutdown),
        }]);
        let s = apply(&s, vec![stop]).unwrap();
        assert!(s.payloads_for_node("n1").0.is_empty());
    }

    #[test]
    fn secrets_and_configs_survive_a_snapshot_after_the_old_tables() {
        let s = apply(
            &State::default(),
            vec![Op::Create(secret("s1", "pw")), Op::Create(config("c1", "app"))],
        )
        .unwrap();
        let bytes = s.encode().unwrap();
        assert!(bytes.starts_with(&postcard::to_stdvec(&s).unwrap()));
        let back = State::decode(&bytes).unwrap();
        assert_eq!(back.secret("s1"), s.secret("s1"));
        assert_eq!(back.secret_by_name("pw").unwrap().spec.data.0, b"pw");
        assert_eq!(back.config_by_name("app").unwrap().id, "c1");
        // Appended variants: the tags before them did not move.
        assert_eq!(postcard::to_stdvec(&secret("s", "s")).unwrap()[0], 5);
        assert_eq!(postcard::to_stdvec(&config("c", "c")).unwrap()[0], 6);
        assert_eq!(postcard::to_stdvec(&Kind::Secret).unwrap()[0], 5);
        assert_eq!(postcard::to_stdvec(&Kind::Config).unwrap()[0], 6);
    }
}
