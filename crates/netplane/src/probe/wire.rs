//! The probe's two messages on the wire: 14 bytes, a magic, a version, the kind and a nonce.
//!
//! ```text
//!  0      4   5   6               14
//!  "SHLP" | 1 | k | nonce (8, BE) |     k = 1 ping, 2 pong (the ping's nonce echoed)
//! ```
//!
//! A pong is the same size as its ping, so a forged source address gets a stranger no more
//! bytes than it sent (no amplification).

/// Leading bytes of every probe message.
const MAGIC: &[u8; 4] = b"SHLP";

/// The format's version.
const VERSION: u8 = 1;

/// The length of every probe message.
pub const MESSAGE_LEN: usize = 14;

/// One probe message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Message {
    /// "Are you there?", with a nonce the answer must echo.
    Ping(u64),
    /// The answer to the ping that carried this nonce.
    Pong(u64),
}

impl Message {
    /// The message's bytes.
    pub fn encode(self) -> [u8; MESSAGE_LEN] {
        let (kind, nonce) = match self {
            Message::Ping(n) => (1, n),
            Message::Pong(n) => (2, n),
        };
        let mut out = [0u8; MESSAGE_LEN];
        out[..4].copy_from_slice(MAGIC);
        out[4] = VERSION;
        out[5] = kind;
        out[6..].copy_from_slice(&nonce.to_be_bytes());
        out
    }

    /// The message in `bytes`; anything else (other length, magic, version or kind) is none.
    pub fn decode(bytes: &[u8]) -> Option<Message> {
        if bytes.len() != MESSAGE_LEN || &bytes[..4] != MAGIC || bytes[4] != VERSION {
            return None;
        }
        let mut nonce = [0u8; 8];
        nonce.copy_from_slice(&bytes[6..]);
        let nonce = u64::from_be_bytes(nonce);
        match bytes[5] {
            1 => Some(Message::Ping(nonce)),
            2 => Some(Message::Pong(nonce)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_and_strangers_are_refused() {
        for m in [
            Message::Ping(0),
            Message::Pong(u64::MAX),
            Message::Ping(0x0102_0304_0506_0708),
        ] {
            assert_eq!(Message::decode(&m.encode()), Some(m));
        }
        let ping = Message::Ping(7).encode();
        assert_eq!(Message::decode(&ping[..13]), None, "short");
        let mut long = ping.to_vec();
        long.push(0);
        assert_eq!(Message::decode(&long), None, "long");
        for (at, value) in [(0, b'X'), (4, 2), (5, 3)] {
            let mut bad = ping;
            bad[at] = value;
            assert_eq!(Message::decode(&bad), None, "byte {at} = {value}");
        }
    }
}
