//! Sealing of what a manager keeps on disk: AES-256-GCM under a per-manager data key (DEK),
//! and the wrapping of that key by a key-encryption key (KEK) derived from the swarm's unlock
//! key when autolock is on (SwarmKit's scheme).
//!
//! ```text
//!   SWMKEY-1-<base64>  ──HKDF-SHA256──►  KEK  ──wraps──►  DEK (+ node TLS key)   keys.json
//!                                                          │
//!                       log entry / snapshot ──seal(purpose, index)──► nonce ‖ ciphertext ‖ tag
//! ```
//!
//! The additional data binds each sealed blob to what it is and where it sits (purpose and
//! Raft index), so a blob copied to another index or from a snapshot into the log fails to
//! open instead of being replayed. Nonces are random (96 bits): an index can be rewritten
//! with other content after a leader change, so a nonce derived from it would repeat.

use std::fmt;
use std::sync::Arc;

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};

/// Bytes of a data key or key-encryption key.
pub const KEY_LEN: usize = 32;
/// First byte of every sealed blob (the scheme's version).
const SEALED_V1: u8 = 1;
/// Prefix of a human-readable unlock key, as Swarm prints it.
pub const UNLOCK_KEY_PREFIX: &str = "SWMKEY-1-";
/// HKDF info string for the KEK (a fixed label; the unlock key carries the entropy).
const KEK_INFO: &[u8] = b"shoal kek v1";

/// Why sealing or opening failed.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// The blob is not ours, is damaged, or was sealed under another key or place.
    #[error("sealed data does not open: wrong key, or damaged data")]
    Open,
    /// The system random source failed (retrying may help).
    #[error("no randomness available for a nonce or key")]
    Random,
    /// An unlock key that is not `SWMKEY-1-<base64 of 32 bytes>`.
    #[error("invalid unlock key: expected SWMKEY-1- followed by base64")]
    UnlockKeyFormat,
    /// A key of the wrong length.
    #[error("a key must be {KEY_LEN} bytes")]
    KeyLength,
}

/// What a sealed blob holds; part of its additional data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// One Raft log entry (index = its log index).
    LogEntry,
    /// A snapshot file (index = its last included log index).
    Snapshot,
    /// The key file's secret part (index 0).
    KeyFile,
}

impl Purpose {
    fn tag(self) -> &'static [u8; 4] {
        match self {
            Purpose::LogEntry => b"log\0",
            Purpose::Snapshot => b"snap",
            Purpose::KeyFile => b"keys",
        }
    }
}

fn aad(purpose: Purpose, index: u64) -> [u8; 12] {
    let mut out = [0u8; 12];
    out[..4].copy_from_slice(purpose.tag());
    out[4..].copy_from_slice(&index.to_be_bytes());
    out
}

/// A symmetric AES-256-GCM key (a DEK or a KEK); cheap to clone, never printed.
#[derive(Clone)]
pub struct SealKey {
    key: Arc<LessSafeKey>,
    bytes: Arc<[u8; KEY_LEN]>,
}

/// The key a manager seals its log and snapshots with.
pub type DataKey = SealKey;

impl fmt::Debug for SealKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SealKey(..)")
    }
}

impl PartialEq for SealKey {
    fn eq(&self, other: &SealKey) -> bool {
        // Every byte compared, whatever differs first: no early exit to time.
        self.bytes
            .iter()
            .zip(other.bytes.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}

impl SealKey {
    /// A fresh random key.
    pub fn generate() -> Result<SealKey, CryptoError> {
        let mut bytes = [0u8; KEY_LEN];
        SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| CryptoError::Random)?;
        SealKey::from_bytes(&bytes)
    }

    /// The key with these bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<SealKey, CryptoError> {
        let bytes: [u8; KEY_LEN] = bytes.try_into().map_err(|_| CryptoError::KeyLength)?;
        let unbound = UnboundKey::new(&AES_256_GCM, &bytes).map_err(|_| CryptoError::KeyLength)?;
        Ok(SealKey {
            key: Arc::new(LessSafeKey::new(unbound)),
            bytes: Arc::new(bytes),
        })
    }

    /// The raw key (to store it wrapped, or unwrapped without autolock).
    pub fn bytes(&self) -> &[u8; KEY_LEN] {
        &self.bytes
    }

    /// `plain` sealed for `purpose` at `index`: version ‖ nonce ‖ ciphertext ‖ tag.
    pub fn seal(&self, purpose: Purpose, index: u64, plain: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| CryptoError::Random)?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + plain.len() + AES_256_GCM.tag_len());
        out.push(SEALED_V1);
        out.extend_from_slice(&nonce);
        let mut body = plain.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad(purpose, index)),
                &mut body,
            )
            .map_err(|_| CryptoError::Open)?;
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// Opens what [`SealKey::seal`] made for the same purpose and index.
    pub fn open(&self, purpose: Purpose, index: u64, sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if sealed.len() < 1 + NONCE_LEN + AES_256_GCM.tag_len() || sealed[0] != SEALED_V1 {
            return Err(CryptoError::Open);
        }
        let nonce: [u8; NONCE_LEN] = sealed[1..1 + NONCE_LEN]
            .try_into()
            .map_err(|_| CryptoError::Open)?;
        let mut body = sealed[1 + NONCE_LEN..].to_vec();
        let plain = self
            .key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad(purpose, index)),
                &mut body,
            )
            .map_err(|_| CryptoError::Open)?;
        let len = plain.len();
        body.truncate(len);
        Ok(body)
    }
}

/// The swarm's unlock key (`SWMKEY-1-…`); only its KEK is ever used to wrap anything.
/// Serialised as its 32 raw bytes: the replicated store keeps it (in sealed Raft entries and
/// snapshots), so that every manager can re-wrap its key file when it changes.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UnlockKey {
    raw: [u8; KEY_LEN],
}

impl fmt::Debug for UnlockKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("UnlockKey(..)")
    }
}

impl UnlockKey {
    /// A fresh random unlock key.
    pub fn generate() -> Result<UnlockKey, CryptoError> {
        let mut raw = [0u8; KEY_LEN];
        SystemRandom::new()
            .fill(&mut raw)
            .map_err(|_| CryptoError::Random)?;
        Ok(UnlockKey { raw })
    }

    /// The unlock key with these bytes (from a seeded source in the control API).
    pub fn from_raw(raw: [u8; KEY_LEN]) -> UnlockKey {
        UnlockKey { raw }
    }

    /// Parses Swarm's human-readable form (surrounding whitespace ignored).
    pub fn parse(text: &str) -> Result<UnlockKey, CryptoError> {
        use base64::Engine;
        let body = text
            .trim()
            .strip_prefix(UNLOCK_KEY_PREFIX)
            .ok_or(CryptoError::UnlockKeyFormat)?;
        let raw = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(body.trim_end_matches('='))
            .map_err(|_| CryptoError::UnlockKeyFormat)?;
        let raw: [u8; KEY_LEN] = raw.try_into().map_err(|_| CryptoError::UnlockKeyFormat)?;
        Ok(UnlockKey { raw })
    }

    /// Swarm's human-readable form, `SWMKEY-1-<base64>`.
    pub fn to_text(&self) -> String {
        use base64::Engine;
        format!(
            "{UNLOCK_KEY_PREFIX}{}",
            base64::engine::general_purpose::STANDARD_NO_PAD.encode(self.raw)
        )
    }

    /// The key-encryption key derived from this unlock key (HKDF-SHA256).
    pub fn kek(&self) -> Result<SealKey, CryptoError> {
        struct Len;
        impl ring::hkdf::KeyType for Len {
            fn len(&self) -> usize {
                KEY_LEN
            }
        }
        let prk = ring::hkdf::Salt::new(ring::hkdf::HKDF_SHA256, &[]).extract(&self.raw);
        let mut out = [0u8; KEY_LEN];
        prk.expand(&[KEK_INFO], Len)
            .and_then(|okm| okm.fill(&mut out))
            .map_err(|_| CryptoError::KeyLength)?;
        SealKey::from_bytes(&out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_data_opens_only_with_its_key_purpose_and_index() {
        let key = SealKey::generate().unwrap();
        let other = SealKey::generate().unwrap();
        let plain = b"ca key and join tokens";
        let sealed = key.seal(Purpose::LogEntry, 7, plain).unwrap();
        assert!(
            !sealed.windows(plain.len()).any(|w| w == plain),
            "plaintext visible"
        );
        assert_eq!(key.open(Purpose::LogEntry, 7, &sealed).unwrap(), plain);
        assert!(key.open(Purpose::LogEntry, 8, &sealed).is_err(), "other index");
        assert!(key.open(Purpose::Snapshot, 7, &sealed).is_err(), "other purpose");
        assert!(other.open(Purpose::LogEntry, 7, &sealed).is_err(), "other key");
        let mut flipped = sealed.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert!(key.open(Purpose::LogEntry, 7, &flipped).is_err(), "tampered");
        assert!(key.open(Purpose::LogEntry, 7, &sealed[..5]).is_err(), "short");
        // Random nonces: the same plaintext at the same place seals differently.
        assert_ne!(sealed, key.seal(Purpose::LogEntry, 7, plain).unwrap());
    }

    #[test]
    fn unlock_keys_round_trip_and_derive_a_stable_kek() {
        let key = UnlockKey::generate().unwrap();
        let text = key.to_text();
        assert!(text.starts_with("SWMKEY-1-"), "{text}");
        let parsed = UnlockKey::parse(&format!("  {text}\n")).unwrap();
        assert_eq!(parsed, key);
        assert_eq!(parsed.kek().unwrap(), key.kek().unwrap());
        assert_ne!(UnlockKey::generate().unwrap().kek().unwrap(), key.kek().unwrap());
        for bad in ["", "SWMKEY-1-", "SWMKEY-2-AAAA", "SWMKEY-1-!!!!", "SWMKEY-1-AAAA"] {
            assert!(UnlockKey::parse(bad).is_err(), "{bad:?}");
        }
    }

    /// Prints sealing throughput (`cargo test --release -p store seal_throughput -- --ignored
    /// --nocapture`); a measurement, not a check.
    #[test]
    #[ignore]
    #[allow(clippy::disallowed_methods)]
    fn seal_throughput() {
        let key = SealKey::generate().unwrap();
        for (size, rounds) in [(128usize, 200_000u64), (4 << 10, 50_000), (1 << 20, 300)] {
            let plain = vec![7u8; size];
            let start = std::time::Instant::now();
            let mut sealed = Vec::new();
            for i in 0..rounds {
                sealed = key.seal(Purpose::LogEntry, i, &plain).unwrap();
            }
            let seal = start.elapsed();
            let start = std::time::Instant::now();
            for _ in 0..rounds {
                key.open(Purpose::LogEntry, rounds - 1, &sealed).unwrap();
            }
            let open = start.elapsed();
            let mb = (size as f64 * rounds as f64) / (1 << 20) as f64;
            println!(
                "{size} B: seal {:.2} us/op {:.0} MiB/s, open {:.2} us/op {:.0} MiB/s",
                seal.as_secs_f64() * 1e6 / rounds as f64,
                mb / seal.as_secs_f64(),
                open.as_secs_f64() * 1e6 / rounds as f64,
                mb / open.as_secs_f64(),
            );
        }
    }
}
