//! The manager's seeded randomness: object IDs, proposal IDs, join tokens. Seeded by the
//! caller, so tests and benchmarks replay.

use std::sync::Mutex;

use rand::RngCore;
use rand::rngs::StdRng;

/// A shared, seeded random source.
pub struct Ids {
    rng: Mutex<StdRng>,
}

impl Ids {
    /// IDs drawn from `rng`.
    pub fn new(rng: StdRng) -> Ids {
        Ids { rng: Mutex::new(rng) }
    }

    /// A new object ID.
    pub fn new_id(&self) -> String {
        self.with_rng(|mut rng| types::id::new_id(&mut rng))
    }

    /// A proposal ID (never 0, which marks "no ID").
    pub fn proposal_id(&self) -> u128 {
        self.with_rng(|rng| (u128::from(rng.next_u64()) << 64 | u128::from(rng.next_u64())).max(1))
    }

    /// Runs `f` with the source (tokens and other random bytes).
    pub fn with_rng<T>(&self, f: impl FnOnce(&mut dyn RngCore) -> T) -> T {
        let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut *rng)
    }
}
