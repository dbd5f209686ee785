//! Tables added to snapshots after format `shoal-raft-2`, kept out of `State`'s derived
//! encoding so that every snapshot written before them still decodes.
//!
//! ```text
//! snapshot data = postcard(State's format-2 tables) ‖ postcard(Vec<Extra>)   (absent before)
//! ```
//! postcard is not self-describing: a field appended to `State` would make every older
//! snapshot fail to decode. A record list after the tables does not, and a new table is one
//! more [`Extra`] variant at the end. (A version without this module stops reading after the
//! tables and ignores the records.)

use serde::{Deserialize, Serialize};

use std::sync::Arc;

use types::{Config, NetAddr, Network, Secret};

use super::State;
use crate::Owner;
use crate::crypto::UnlockKey;

/// One record after the tables.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) enum Extra {
    /// The managers' unlock key (present only while autolock is on).
    UnlockKey(UnlockKey),
    /// One network.
    Network(Network),
    /// The addresses one task or service holds.
    Addresses(Owner, Vec<NetAddr>),
    /// One secret (its data sealed with the rest of the snapshot).
    Secret(Secret),
    /// One config.
    Config(Config),
    /// The root CA rotation state (only when it is not the default).
    RootCa(types::CaState),
    /// The generic resources one task was given.
    Generic(String, Vec<types::generic::GenericResource>),
    /// The cluster spec's external CAs (only when there are any).
    ExternalCas(Vec<types::ExternalCa>),
    /// The index of the write that last changed one node's spec.
    NodeSpecChanged(String, u64),
}

/// The records in `rest` (what follows the tables); none when it is empty.
pub(super) fn decode(rest: &[u8]) -> Result<Vec<Extra>, postcard::Error> {
    if rest.is_empty() {
        return Ok(Vec::new());
    }
    postcard::from_bytes(rest)
}

/// Appends `records` to `out` (nothing at all when there are none, so a state without
/// extras encodes exactly as format 2 did).
pub(super) fn encode(records: Vec<Extra>, out: &mut Vec<u8>) -> Result<(), postcard::Error> {
    if records.is_empty() {
        return Ok(());
    }
    out.extend(postcard::to_stdvec(&records)?);
    Ok(())
}

impl State {
    /// This state's extra records.
    pub(super) fn extras(&self) -> Vec<Extra> {
        let mut out: Vec<Extra> = self.unlock_key.iter().cloned().map(Extra::UnlockKey).collect();
        out.extend(self.networks.values().map(|n| Extra::Network((**n).clone())));
        out.extend(
            self.addresses
                .iter()
                .map(|(owner, a)| Extra::Addresses(owner.clone(), (**a).clone())),
        );
        out.extend(self.secrets.values().map(|s| Extra::Secret((**s).clone())));
        out.extend(self.configs.values().map(|c| Extra::Config((**c).clone())));
        if self.ca_state != types::CaState::default() {
            out.push(Extra::RootCa(self.ca_state.clone()));
        }
        out.extend(
            self.generic
                .iter()
                .map(|(id, given)| Extra::Generic(id.to_string(), (**given).clone())),
        );
        if !self.external_cas.is_empty() {
            out.push(Extra::ExternalCas(self.external_cas.clone()));
        }
        out.extend(
            self.node_spec_changed
                .iter()
                .map(|(id, index)| Extra::NodeSpecChanged(id.to_string(), *index)),
        );
        out
    }

    /// Puts one decoded record back in place.
    pub(super) fn restore(&mut self, record: Extra) {
        match record {
            Extra::UnlockKey(key) => self.unlock_key = Some(key),
            Extra::Network(n) => {
                self.networks.insert(n.id.as_str().into(), Arc::new(n));
            }
            Extra::Addresses(owner, a) => {
                self.addresses.insert(owner, Arc::new(a));
            }
            Extra::Secret(s) => {
                self.secrets.insert(s.id.as_str().into(), Arc::new(s));
            }
            Extra::Config(c) => {
                self.configs.insert(c.id.as_str().into(), Arc::new(c));
            }
            Extra::RootCa(state) => self.ca_state = state,
            Extra::Generic(id, given) => {
                self.generic.insert(id.as_str().into(), Arc::new(given));
            }
            Extra::ExternalCas(cas) => self.external_cas = cas,
            Extra::NodeSpecChanged(id, index) => {
                self.node_spec_changed.insert(id.as_str().into(), index);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Op, Txn};
    use types::Timestamp;

    fn with_key(key: Option<UnlockKey>) -> State {
        let txn = Txn {
            id: 0,
            ops: vec![Op::SetUnlockKey(key)],
            now: Timestamp(0),
        };
        State::default().apply(&txn, 3).unwrap().0
    }

    #[test]
    fn a_state_without_extras_encodes_as_format_2_did() {
        let state = with_key(None);
        // Format 2 is exactly the derived encoding of the tables.
        assert_eq!(state.encode().unwrap(), postcard::to_stdvec(&state).unwrap());
        assert_eq!(
            State::decode(&state.encode().unwrap()).unwrap().unlock_key(),
            None
        );
    }

    #[test]
    fn the_unlock_key_survives_a_snapshot_and_old_snapshots_still_decode() {
        let key = UnlockKey::generate().unwrap();
        let state = with_key(Some(key.clone()));
        assert_eq!(state.unlock_key(), Some(&key));
        let bytes = state.encode().unwrap();
        let back = State::decode(&bytes).unwrap();
        assert_eq!(back.unlock_key(), Some(&key));
        assert_eq!(back.index, 3);

        // What a format-2 writer (before the records) made of the same tables.
        let old = postcard::to_stdvec(&state).unwrap();
        assert!(bytes.starts_with(&old) && bytes.len() > old.len());
        let back = State::decode(&old).unwrap();
        assert_eq!(back.unlock_key(), None);
        assert_eq!(back.index, 3);

        // Damaged records are an error, not a silently lost key.
        let mut bad = old.clone();
        bad.push(0x05);
        assert!(State::decode(&bad).is_err());

        // Clearing it in a later entry removes the record.
        let txn = Txn {
            id: 0,
            ops: vec![Op::SetUnlockKey(None)],
            now: Timestamp(0),
        };
        let cleared = state.apply(&txn, 4).unwrap().0;
        assert_eq!(cleared.extras(), Vec::new());
    }

    #[test]
    fn external_cas_survive_a_snapshot_and_none_write_no_record() {
        let ca = types::ExternalCa {
            protocol: types::ExternalCaProtocol::Cfssl,
            url: "https://ca.example:8888/api/v1/cfssl/sign".into(),
            options: [("profile".to_string(), "node".to_string())].into(),
            ca_cert_pem: "pem".into(),
        };
        let txn = Txn {
            id: 0,
            ops: vec![Op::SetExternalCas(vec![ca.clone()])],
            now: Timestamp(0),
        };
        let state = State::default().apply(&txn, 3).unwrap().0;
        assert_eq!(state.external_cas(), [ca]);
        let back = State::decode(&state.encode().unwrap()).unwrap();
        assert_eq!(back.external_cas(), state.external_cas());
        let txn = Txn {
            id: 0,
            ops: vec![Op::SetExternalCas(Vec::new())],
            now: Timestamp(0),
        };
        let cleared = state.apply(&txn, 4).unwrap().0;
        assert_eq!(cleared.extras(), Vec::new());
    }

    #[test]
    fn entries_written_before_the_new_op_still_decode() {
        // The new op is the last variant: the tags of the older ones did not move.
        let old = Op::DeleteTasks(vec!["t".into()]);
        let bytes = postcard::to_stdvec(&old).unwrap();
        assert_eq!(bytes[0], 6, "DeleteTasks keeps tag 6");
        assert_eq!(postcard::from_bytes::<Op>(&bytes).unwrap(), old);
        let set = Op::SetUnlockKey(Some(UnlockKey::from_raw([9; 32])));
        let bytes = postcard::to_stdvec(&set).unwrap();
        assert_eq!(bytes[0], 7);
        assert_eq!(postcard::from_bytes::<Op>(&bytes).unwrap(), set);
    }
}
