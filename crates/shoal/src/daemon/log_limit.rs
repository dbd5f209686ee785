//! Rate-limited logging: at most [`BURST`] events (info and above) per call site in each
//! [`WINDOW`], so a fault that repeats every few milliseconds (a replica whose disk is full, a
//! peer that keeps refusing) cannot fill the disk or drown the one line that explains it.
//! What was dropped is counted and said once the site may log again.
//!
//! ```text
//!  event ─► EnvFilter ─► RateLimit::admit(call site, now) ─┬─ Pass{suppressed: 0} ─► logged
//!                                                          ├─ Pass{suppressed: n} ─► "n suppressed" + logged
//!                                                          └─ Drop ─► counted
//! ```

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tracing::subscriber::Interest;
use tracing::{Level, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Filter};

/// Events one call site may log per window.
pub const BURST: u32 = 10;

/// The window.
pub const WINDOW: Duration = Duration::from_secs(10);

/// What to do with one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Log it; `suppressed` events of this site were dropped since it last logged.
    Pass {
        /// Events dropped before this one.
        suppressed: u64,
    },
    /// Drop it (counted).
    Drop,
}

#[derive(Debug, Clone, Copy)]
struct Site {
    window_start: Instant,
    passed: u32,
    suppressed: u64,
}

/// Per-site budgets. Pure: the time is an argument.
#[derive(Debug, Default)]
pub struct Limiter {
    sites: HashMap<usize, Site>,
}

impl Limiter {
    /// Decides on one event of call site `site` at `now`. Memory is bounded by the number
    /// of call sites, which is fixed at compile time.
    pub fn admit(&mut self, site: usize, now: Instant) -> Verdict {
        let s = self.sites.entry(site).or_insert(Site {
            window_start: now,
            passed: 0,
            suppressed: 0,
        });
        if now.saturating_duration_since(s.window_start) >= WINDOW {
            s.window_start = now;
            s.passed = 0;
        }
        if s.passed >= BURST {
            s.suppressed += 1;
            return Verdict::Drop;
        }
        s.passed += 1;
        let suppressed = std::mem::take(&mut s.suppressed);
        Verdict::Pass { suppressed }
    }
}

/// Whether events of `level` are rate-limited: the levels a daemon logs by default are;
/// debug and trace are not, as an operator turns them on for one target to see every event
/// (a per-pass debug line limited to 10 per 10 s hides most passes).
pub fn limited(level: &Level) -> bool {
    *level <= Level::INFO
}

/// The per-layer filter for the daemon's log output.
#[derive(Debug, Default)]
pub struct RateLimit {
    limiter: Mutex<Limiter>,
}

impl<S: Subscriber> Filter<S> for RateLimit {
    fn enabled(&self, meta: &Metadata<'_>, _cx: &Context<'_, S>) -> bool {
        if !meta.is_event() || !limited(meta.level()) {
            return true;
        }
        // The call site's metadata is 'static and unique: its address names the site.
        let site = meta as *const Metadata<'_> as usize;
        #[allow(clippy::disallowed_methods)] // the daemon's log throttle runs on the real clock
        let now = Instant::now();
        let verdict = self
            .limiter
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .admit(site, now);
        match verdict {
            Verdict::Drop => false,
            Verdict::Pass { suppressed: 0 } => true,
            Verdict::Pass { suppressed } => {
                // Not through tracing: this runs inside the dispatcher.
                eprintln!(
                    "{} log_limit: {suppressed} more messages from {}:{} were suppressed (at most {BURST} per {}s)",
                    meta.level(),
                    meta.file().unwrap_or(meta.target()),
                    meta.line().unwrap_or(0),
                    WINDOW.as_secs()
                );
                true
            }
        }
    }

    fn callsite_enabled(&self, meta: &'static Metadata<'static>) -> Interest {
        // Events are decided one by one; spans are never limited.
        if meta.is_event() {
            Interest::sometimes()
        } else {
            Interest::always()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_default_levels_are_limited() {
        assert!(limited(&Level::ERROR) && limited(&Level::WARN) && limited(&Level::INFO));
        assert!(!limited(&Level::DEBUG) && !limited(&Level::TRACE));
    }

    #[test]
    #[allow(clippy::disallowed_methods)] // a fixed origin; every other time is derived from it
    fn limits_each_site_per_window_and_reports_what_it_dropped() {
        let t0 = Instant::now();
        let mut l = Limiter::default();
        for i in 0..BURST {
            assert_eq!(l.admit(1, t0), Verdict::Pass { suppressed: 0 }, "event {i}");
        }
        assert_eq!(l.admit(1, t0 + Duration::from_secs(1)), Verdict::Drop);
        assert_eq!(l.admit(1, t0 + Duration::from_secs(9)), Verdict::Drop);
        // Another site has its own budget.
        assert_eq!(l.admit(2, t0), Verdict::Pass { suppressed: 0 });
        // A new window: the first event carries the count of what was dropped.
        assert_eq!(l.admit(1, t0 + WINDOW), Verdict::Pass { suppressed: 2 });
        assert_eq!(l.admit(1, t0 + WINDOW), Verdict::Pass { suppressed: 0 });
        // A flood of a million events a window logs BURST of them.
        let passed = (0..1_000_000u32)
            .filter(|i| {
                matches!(
                    l.admit(3, t0 + Duration::from_micros(u64::from(*i))),
                    Verdict::Pass { .. }
                )
            })
            .count();
        assert_eq!(passed, BURST as usize);
    }

    /// A writer that keeps what the fmt layer writes.
    #[derive(Clone, Default)]
    struct Captured(std::sync::Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_flood_from_one_call_site_is_cut_to_the_burst_in_a_real_subscriber() {
        use tracing_subscriber::Layer;
        use tracing_subscriber::layer::SubscriberExt;
        let out = Captured::default();
        let writer = out.clone();
        let layer = tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .with_filter(RateLimit::default());
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            for i in 0..10_000 {
                tracing::error!(i, "storage failed");
            }
            tracing::info!("another site");
        });
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let floods = text.lines().filter(|l| l.contains("storage failed")).count();
        assert_eq!(floods, BURST as usize, "{text}");
        assert_eq!(text.lines().filter(|l| l.contains("another site")).count(), 1);
    }
}
