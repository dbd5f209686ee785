//! An in-memory, bounded task log for executors without files (the simulated executor):
//! the newest `capacity` lines, with followers woken on every append.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, watch};

use super::{LogLines, LogMessage, LogOptions};

/// A bounded ring of log lines that readers can follow.
pub struct MemoryLog {
    lines: Mutex<Ring>,
    /// (sequence number of the next line, task ended): followers wait on it.
    progress: watch::Sender<(u64, bool)>,
}

struct Ring {
    capacity: usize,
    /// Lines with their sequence numbers, oldest first.
    lines: VecDeque<(u64, LogMessage)>,
    next: u64,
}

impl MemoryLog {
    /// An empty log keeping at most `capacity` lines.
    pub fn new(capacity: usize) -> Arc<MemoryLog> {
        let (progress, _) = watch::channel((0, false));
        Arc::new(MemoryLog {
            lines: Mutex::new(Ring {
                capacity: capacity.max(1),
                lines: VecDeque::new(),
                next: 0,
            }),
            progress,
        })
    }

    /// Appends a line, dropping the oldest past capacity.
    pub fn push(&self, message: LogMessage) {
        let next = {
            let mut ring = self.lock();
            let seq = ring.next;
            ring.next += 1;
            ring.lines.push_back((seq, message));
            if ring.lines.len() > ring.capacity {
                ring.lines.pop_front();
            }
            ring.next
        };
        self.progress.send_modify(|p| p.0 = next);
    }

    /// Marks the task as ended: followers stop once they have read everything.
    pub fn end(&self) {
        self.progress.send_modify(|p| p.1 = true);
    }

    /// Reads the backlog and, when following, new lines until the task ends.
    pub fn read(self: &Arc<Self>, options: LogOptions) -> LogLines {
        let mut progress = self.progress.subscribe();
        let (backlog, mut next) = self.since(0);
        let backlog = options.select(backlog);
        if !options.follow {
            return super::from_vec(backlog);
        }
        let (tx, mut rx) = mpsc::channel(256);
        let log = Arc::clone(self);
        tokio::spawn(async move {
            for m in backlog {
                if tx.send(Ok(m)).await.is_err() {
                    return;
                }
            }
            loop {
                let ended = progress.borrow_and_update().1;
                let (lines, after) = log.since(next);
                next = after;
                for m in lines.into_iter().filter(|m| options.admits(m)) {
                    if tx.send(Ok(m)).await.is_err() {
                        return;
                    }
                }
                if ended {
                    return;
                }
                tokio::select! {
                    changed = progress.changed() => if changed.is_err() { return },
                    _ = tx.closed() => return,
                }
            }
        });
        Box::pin(futures::stream::poll_fn(move |cx| rx.poll_recv(cx)))
    }

    /// Lines with sequence numbers from `from` on, and the next sequence number.
    fn since(&self, from: u64) -> (Vec<LogMessage>, u64) {
        let ring = self.lock();
        let lines = ring
            .lines
            .iter()
            .filter(|(seq, _)| *seq >= from)
            .map(|(_, m)| m.clone())
            .collect();
        (lines, ring.next)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Ring> {
        // A panic while holding this lock leaves a consistent ring (every mutation is a
        // single push/pop), so a poisoned lock is still safe to use.
        self.lines.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::LogStream;
    use futures::StreamExt;
    use types::Timestamp;

    fn line(i: i64) -> LogMessage {
        LogMessage {
            timestamp: Timestamp(i),
            stream: LogStream::Stdout,
            line: i.to_string().into_bytes(),
        }
    }

    #[tokio::test]
    async fn keeps_the_newest_lines_and_follows_until_the_end() {
        let log = MemoryLog::new(3);
        for i in 0..5 {
            log.push(line(i));
        }
        let all: Vec<_> = log
            .read(LogOptions::default())
            .map(|m| m.unwrap().text())
            .collect()
            .await;
        assert_eq!(all, ["2", "3", "4"]);

        let mut follow = log.read(LogOptions {
            tail: Some(1),
            follow: true,
            ..LogOptions::default()
        });
        assert_eq!(follow.next().await.unwrap().unwrap().text(), "4");
        log.push(line(5));
        assert_eq!(follow.next().await.unwrap().unwrap().text(), "5");
        log.push(line(6));
        log.end();
        assert_eq!(follow.next().await.unwrap().unwrap().text(), "6");
        assert!(follow.next().await.is_none(), "the stream ends with the task");
    }
}
