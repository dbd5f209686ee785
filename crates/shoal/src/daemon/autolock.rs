//! Autolock on a manager: its key file follows the swarm's unlock key in the replicated store.
//!
//! ```text
//! store commit / reset ─► wanted(view) ─ same as the file? ─yes─► nothing
//!                                          │no
//!                                          ▼
//!                    re-write keys.json: wrapped by the new key's KEK, or plain (autolock off)
//! ```
//! Every manager runs this beside its replica, so `swarm update --autolock` and
//! `swarm unlock-key --rotate` reach each manager's file without a restart; the data key
//! itself never changes. A manager that was down during a rotation still opens with the key
//! its file was last wrapped with, and re-wraps as soon as it has caught up (Docker documents
//! the same: keep the old key until every manager has the new one).
//!
//! The loop acts only once the replica has applied what its own log held at start: replaying
//! older entries passes through past settings (autolock off, an earlier key), and acting on
//! those would briefly write the keys plain or under a stale key.

use std::sync::Arc;

use manager::Manager;
use store::State;
use store::crypto::UnlockKey;

use super::node_certs::NodeCerts;

/// How the key file should be stored for `view`: `Some(None)` plain, `Some(Some(k))` wrapped
/// by `k`; `None` when the view cannot say (no cluster object yet, or autolock on without a
/// key, which no update produces), and the file is left as it is.
pub fn wanted(view: &State) -> Option<Option<UnlockKey>> {
    let cluster = view.cluster()?;
    match (cluster.spec.auto_lock_managers, view.unlock_key()) {
        (false, _) => Some(None),
        (true, Some(key)) => Some(Some(key.clone())),
        (true, None) => None,
    }
}

/// Keeps `certs`' key file in step with `m`'s store until the manager stops.
pub async fn follow(m: Manager, certs: Arc<NodeCerts>) {
    let stop = m.stopping();
    let start_log = m.consensus().metrics().last_log_index.unwrap_or(0);
    let caught_up = m.consensus().wait_for(move |metrics| {
        metrics
            .last_applied
            .as_ref()
            .is_some_and(|l| l.index() >= start_log)
            || start_log == 0
    });
    tokio::select! {
        _ = stop.cancelled() => return,
        r = caught_up => if r.is_err() { return },
    }
    let (_, mut watch) = m.store().view_and_watch();
    // What the file was last brought to: most commits change neither the flag nor the key,
    // and are passed over without touching the key file's lock.
    let mut settled: Option<Option<UnlockKey>> = None;
    loop {
        if let Some(want) = wanted(&m.view())
            && settled.as_ref() != Some(&want)
        {
            if certs.get().unlock_key == want {
                settled = Some(want);
            } else {
                // Checked under the file's lock: once the manager stopped (demotion unwraps
                // the file right after), this loop must not write again.
                let change = |c: &mut super::datadir::Certs| {
                    if !stop.is_cancelled() {
                        c.unlock_key = want.clone();
                    }
                };
                match certs.update(change) {
                    Ok(_) => {
                        if want.is_some() {
                            tracing::info!("key file wrapped by the swarm's unlock key");
                        } else {
                            tracing::info!("autolock is off: key file stored unwrapped");
                        }
                        settled = Some(want);
                    }
                    // Tried again on the next commit; the file keeps its previous, valid form.
                    Err(e) => tracing::warn!("re-writing the key file for autolock: {e:#}"),
                }
            }
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            event = watch.next() => if event.is_none() { return },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use store::{Op, Txn};
    use types::{Cluster, ClusterSpec, JoinTokens, Meta, Object, RootCa, Timestamp};

    fn apply(state: &State, ops: Vec<Op>) -> State {
        let txn = Txn {
            id: 0,
            ops,
            now: Timestamp(0),
        };
        state.apply(&txn, state.index + 1).unwrap().0
    }

    fn cluster(autolock: bool) -> Object {
        Object::Cluster(Cluster {
            id: "c".into(),
            meta: Meta::default(),
            spec: ClusterSpec {
                auto_lock_managers: autolock,
                ..Default::default()
            },
            root_ca: RootCa {
                ca_cert_pem: String::new(),
                ca_key_pem: String::new(),
                join_tokens: JoinTokens::default(),
            },
            default_addr_pool: vec![],
            subnet_size: 24,
            data_path_port: 4789,
        })
    }

    #[test]
    fn the_file_follows_the_flag_and_the_key() {
        assert_eq!(wanted(&State::default()), None, "no cluster yet: leave the file");
        let off = apply(&State::default(), vec![Op::Create(cluster(false))]);
        assert_eq!(wanted(&off), Some(None));
        let key = UnlockKey::generate().unwrap();
        let on = apply(&off, vec![Op::SetUnlockKey(Some(key.clone()))]);
        assert_eq!(wanted(&on), Some(None), "a key without the flag does not lock");
        let mut c = cluster(true);
        c.meta_mut().version = on.cluster().unwrap().meta.version;
        let on = apply(
            &on,
            vec![Op::Update {
                object: c,
                expect_version: None,
            }],
        );
        assert_eq!(wanted(&on), Some(Some(key)));
        let keyless = apply(&on, vec![Op::SetUnlockKey(None)]);
        assert_eq!(wanted(&keyless), None, "inconsistent: leave the file as it is");
    }
}
