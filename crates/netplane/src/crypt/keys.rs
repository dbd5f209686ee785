//! A node's WireGuard key pair: Curve25519, 32 bytes each half. The private half never leaves the
//! node (it is made here, from the kernel's randomness); the public half goes to the managers,
//! which hand it to the node's peers with the network views.

use std::fmt;

use boringtun::x25519;

use crate::error::{Error, Result};

/// A node's static private key; `Debug` never shows it.
#[derive(Clone)]
pub struct PrivateKey([u8; 32]);

/// A node's static public key, as peers name it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PublicKey(pub [u8; 32]);

impl PrivateKey {
    /// A fresh key from the operating system's random source.
    pub fn generate() -> Result<Self> {
        let mut bytes = [0u8; 32];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
            .map_err(|_| Error::Invalid("the system random source failed".into()))?;
        // Clamped as X25519 uses it, so the stored bytes are the key actually in use.
        Ok(PrivateKey(x25519::StaticSecret::from(bytes).to_bytes()))
    }

    /// A key from its 32 bytes (as stored by the node).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        PrivateKey(x25519::StaticSecret::from(bytes).to_bytes())
    }

    /// The key's 32 bytes, for the node's own key file.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0
    }

    /// The public half.
    pub fn public(&self) -> PublicKey {
        PublicKey(x25519::PublicKey::from(&self.secret()).to_bytes())
    }

    pub(crate) fn secret(&self) -> x25519::StaticSecret {
        x25519::StaticSecret::from(self.0)
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PrivateKey(<redacted>, public {:?})", self.public())
    }
}

impl PublicKey {
    pub(crate) fn key(&self) -> x25519::PublicKey {
        x25519::PublicKey::from(self.0)
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The first bytes are enough to tell keys apart in logs.
        write!(f, "PublicKey(")?;
        for byte in &self.0[..6] {
            write!(f, "{byte:02x}")?;
        }
        write!(f, "…)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_fresh_and_their_public_half_is_stable() {
        let a = PrivateKey::generate().expect("key");
        let b = PrivateKey::generate().expect("key");
        assert_ne!(a.public(), b.public());
        assert_eq!(PrivateKey::from_bytes(a.to_bytes()).public(), a.public());
        assert!(!format!("{a:?}").contains(&format!("{:?}", a.0)));
    }
}
