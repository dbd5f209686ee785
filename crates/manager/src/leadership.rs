//! Leadership: the loops that run only while this replica leads start the moment Raft says it
//! became leader and stop the moment it says otherwise. Driven by Raft's server metrics (a
//! watch that changes with the state, term, leader or membership), so there is no polling
//! delay between an election and the new leader's loops.
//!
//! ```text
//! raft server metrics ─ changed ─► leading? ─ yes, no term ─► start(child token) ─► loops
//!                                            └ no, a term ───► cancel token ───────► loops end
//! ```

use std::future::Future;

use openraft::ServerState;
use openraft::async_runtime::WatchReceiver;
use openraft::metrics::RaftServerMetrics;
use openraft::type_config::alias::WatchReceiverOf;
use store::consensus::{Consensus, TypeConfig};
use tokio_util::sync::CancellationToken;

use crate::workers::Worker;

/// A source of leadership changes.
pub trait LeadershipSignal: Send + 'static {
    /// True while this replica leads.
    fn leading(&self) -> bool;
    /// Waits for the next change; false once the source ended (Raft stopped).
    fn changed(&mut self) -> impl Future<Output = bool> + Send;
}

/// Leadership as a replica's Raft reports it.
pub struct RaftLeadership {
    rx: WatchReceiverOf<TypeConfig, RaftServerMetrics<TypeConfig>>,
    id: u64,
}

impl RaftLeadership {
    /// Leadership of `consensus`'s replica.
    pub fn new(consensus: &Consensus) -> RaftLeadership {
        RaftLeadership {
            rx: consensus.raft().server_metrics(),
            id: consensus.id(),
        }
    }
}

impl LeadershipSignal for RaftLeadership {
    fn leading(&self) -> bool {
        let m = self.rx.borrow_watched();
        m.state == ServerState::Leader && m.current_leader == Some(self.id)
    }

    async fn changed(&mut self) -> bool {
        self.rx.changed().await.is_ok()
    }
}

/// Calls `start` each time this replica becomes leader, with a token that is cancelled when
/// it stops leading, when `signal` ends, or at `shutdown`. Each change acted on is one
/// iteration of `worker`.
pub async fn supervise(
    mut signal: impl LeadershipSignal,
    shutdown: CancellationToken,
    worker: Worker,
    mut start: impl FnMut(CancellationToken) + Send,
) {
    let mut term: Option<CancellationToken> = None;
    loop {
        match (signal.leading(), &term) {
            (true, None) => {
                worker.busy();
                let token = shutdown.child_token();
                start(token.clone());
                term = Some(token);
                worker.done(Ok::<(), String>(()));
            }
            (false, Some(token)) => {
                worker.busy();
                token.cancel();
                term = None;
                worker.done(Ok::<(), String>(()));
            }
            _ => {}
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            more = signal.changed() => if !more { break },
        }
    }
    if let Some(token) = term {
        token.cancel();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workers::Workers;
    use tokio::sync::{mpsc, watch};
    use tokio::time::Instant;

    impl LeadershipSignal for watch::Receiver<bool> {
        fn leading(&self) -> bool {
            *self.borrow()
        }

        async fn changed(&mut self) -> bool {
            watch::Receiver::changed(self).await.is_ok()
        }
    }

    /// With the clock paused, tokio advances it only when every task waits on a timer; so a
    /// supervisor that polled would show up as time passing between a change and its effect.
    #[tokio::test(start_paused = true)]
    async fn leadership_changes_are_acted_on_without_a_timer() {
        let (tx, rx) = watch::channel(false);
        let workers = Workers::default();
        let (started_tx, mut started) = mpsc::unbounded_channel();
        let shutdown = CancellationToken::new();
        let supervisor = tokio::spawn(supervise(
            rx,
            shutdown.clone(),
            workers.register("leadership"),
            move |token| {
                let _ = started_tx.send(token);
            },
        ));
        let t0 = Instant::now();

        tx.send(true).unwrap();
        let first = started.recv().await.unwrap();
        assert_eq!(Instant::now(), t0, "became leader: loops started at once");

        tx.send(false).unwrap();
        first.cancelled().await;
        assert_eq!(Instant::now(), t0, "lost leadership: loops told at once");

        tx.send(true).unwrap();
        let second = started.recv().await.unwrap();
        assert_eq!(Instant::now(), t0);
        assert!(!second.is_cancelled());

        shutdown.cancel();
        supervisor.await.unwrap();
        assert!(second.is_cancelled(), "shutdown ends the term");
        assert_eq!(workers.get("leadership").unwrap().iterations, 3);
    }

    #[tokio::test(start_paused = true)]
    async fn raft_stopping_ends_the_term() {
        let (tx, rx) = watch::channel(true);
        let (started_tx, mut started) = mpsc::unbounded_channel();
        let supervisor = tokio::spawn(supervise(
            rx,
            CancellationToken::new(),
            Workers::default().register("leadership"),
            move |token| {
                let _ = started_tx.send(token);
            },
        ));
        let term = started.recv().await.unwrap();
        drop(tx);
        supervisor.await.unwrap();
        assert!(term.is_cancelled());
    }
}
