//! The newest entries of the Raft log, kept decoded in memory beside redb.
//!
//! openraft reads every entry back right after appending it (once per follower to replicate
//! it, once to apply it); serving those reads from here spares decoding a large `Txn` again
//! each time. The tail is a cache: always a suffix of what redb holds, bounded in entries
//! and bytes, and emptied from the front once every reader has an entry.

use std::collections::VecDeque;

use super::types::Entry;

/// Most entries, and most encoded bytes, the tail keeps. Entries leave it as soon as they
/// are applied and every follower has them (`release`), so these only bound what slow
/// followers cost: a reader further behind falls back to redb.
const TAIL_ENTRIES: usize = 16 * 1024;
const TAIL_BYTES: usize = 32 << 20;

/// The newest entries of the log, decoded: always a suffix of what redb holds (possibly
/// empty), each with its encoded size.
#[derive(Default)]
pub(super) struct Tail {
    entries: VecDeque<(Entry, usize)>,
    bytes: usize,
}

impl Tail {
    pub(super) fn first_index(&self) -> Option<u64> {
        self.entries.front().map(|(e, _)| e.log_id.index())
    }

    pub(super) fn next_index(&self) -> Option<u64> {
        self.entries.back().map(|(e, _)| e.log_id.index() + 1)
    }

    /// Adds an entry just made durable, then drops the oldest beyond the limits (the newest
    /// always stays). An entry that does not continue the tail starts it afresh.
    pub(super) fn push(&mut self, entry: Entry, size: usize) {
        if self.next_index().is_some_and(|next| next != entry.log_id.index()) {
            self.entries.clear();
            self.bytes = 0;
        }
        self.entries.push_back((entry, size));
        self.bytes += size;
        while self.entries.len() > 1 && (self.entries.len() > TAIL_ENTRIES || self.bytes > TAIL_BYTES) {
            if let Some((_, size)) = self.entries.pop_front() {
                self.bytes -= size;
            }
        }
    }

    /// Entries from `start` (which the tail holds) up to `end` or `budget` encoded bytes,
    /// whichever comes first, and at least one.
    pub(super) fn take_from(&self, start: u64, end: u64, budget: usize) -> Vec<Entry> {
        let Some(first) = self.first_index() else {
            return Vec::new();
        };
        let mut bytes = 0;
        let mut out = Vec::new();
        for (entry, size) in self.entries.iter().skip(start.saturating_sub(first) as usize) {
            if entry.log_id.index() >= end || (!out.is_empty() && bytes + size > budget) {
                break;
            }
            bytes += size;
            out.push(entry.clone());
        }
        out
    }

    /// Drops entries with index ≥ `from` (the log was truncated there).
    pub(super) fn truncate(&mut self, from: u64) {
        while self.next_index().is_some_and(|next| next > from) {
            if let Some((_, size)) = self.entries.pop_back() {
                self.bytes -= size;
            }
        }
    }

    /// Drops entries with index ≤ `upto` (the log was purged up to there).
    pub(super) fn purge(&mut self, upto: u64) {
        while self.first_index().is_some_and(|first| first <= upto) {
            if let Some((_, size)) = self.entries.pop_front() {
                self.bytes -= size;
            }
        }
    }

    /// The part of `start..end` the tail holds, with its first index, when the tail holds
    /// everything from there to `end` (only a prefix is then left to read from redb).
    pub(super) fn get(&self, start: u64, end: u64) -> Option<(u64, Vec<Entry>)> {
        let first = self.first_index()?;
        let from = start.max(first);
        if from >= end || end > self.next_index()? {
            return None;
        }
        Some((from, self.take_from(from, end, usize::MAX)))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use openraft::entry::RaftEntry;
    use openraft::testing::log_id;

    use super::*;
    use crate::Txn;
    use crate::consensus::types::TypeConfig;

    fn entry(index: u64) -> Entry {
        let txn = Txn {
            id: u128::from(index),
            ops: Vec::new(),
            now: Default::default(),
        };
        Entry::new_normal(log_id::<TypeConfig>(1, 1, index), Arc::new(txn))
    }

    fn indexes(entries: &[Entry]) -> Vec<u64> {
        entries.iter().map(|e| e.log_id.index()).collect()
    }

    #[test]
    fn the_tail_is_a_bounded_suffix_of_the_log() {
        let mut tail = Tail::default();
        for i in 1..=10 {
            tail.push(entry(i), 10);
        }
        let got = |t: &Tail, s, e| t.get(s, e).map(|(from, es)| (from, indexes(&es)));
        assert_eq!(got(&tail, 3, 6), Some((3, vec![3, 4, 5])));
        assert_eq!(got(&tail, 0, 3), Some((1, vec![1, 2])), "the part the tail holds");
        assert_eq!(got(&tail, 9, 12), None, "past the end");
        tail.truncate(8);
        assert_eq!(tail.next_index(), Some(8));
        tail.purge(2);
        assert_eq!(tail.first_index(), Some(3));
        assert_eq!(tail.bytes, 50);
        // A gap (the log went on without the tail) starts it afresh.
        tail.push(entry(20), 10);
        assert_eq!((tail.first_index(), tail.bytes), (Some(20), 10));
        // Bounded by bytes, but the newest entry always stays.
        tail.push(entry(21), TAIL_BYTES);
        assert_eq!((tail.first_index(), tail.entries.len()), (Some(21), 1));
        // Limited reads stop at the byte budget, but return at least one entry.
        let limited = |t: &Tail, s, e, b| indexes(&t.take_from(s, e, b));
        assert_eq!(limited(&tail, 21, 22, 1), vec![21]);
        // Bounded by count.
        for i in 22..22 + TAIL_ENTRIES as u64 {
            tail.push(entry(i), 1);
        }
        assert_eq!(tail.entries.len(), TAIL_ENTRIES);
    }
}
