//! The one place the daemon reads the wall clock; everything below takes a [`Clock`].

use types::{Clock, Timestamp};

/// The system's wall clock.
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)]
    fn now(&self) -> Timestamp {
        let since = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp(since.as_nanos() as i64)
    }
}
