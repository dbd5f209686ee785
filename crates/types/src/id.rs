//! Object IDs: 128 random bits written as 25 lower-case base-36 digits, as Swarm writes them.

use rand::RngCore;

/// Number of characters in an ID (base 36 of a 128-bit number, zero padded).
pub const ID_LEN: usize = 25;

/// A new random ID drawn from `rng` (the caller decides where randomness comes from).
pub fn new_id(rng: &mut impl RngCore) -> String {
    let mut bytes = [0u8; 16];
    rng.fill_bytes(&mut bytes);
    base36_padded(&bytes, ID_LEN)
}

/// Writes a big-endian unsigned number in base 36, left-padded with zeros to `width`.
///
/// Used for IDs and for both parts of a join token, whose widths Swarm fixes (25 and 50).
pub fn base36_padded(big_endian: &[u8], width: usize) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut num: Vec<u8> = big_endian.to_vec();
    let mut out = Vec::new();
    // Repeated division of the whole number by 36; fine for the 16- and 32-byte inputs we use.
    while num.iter().any(|&b| b != 0) {
        let mut rem: u32 = 0;
        for byte in num.iter_mut() {
            let cur = (rem << 8) | u32::from(*byte);
            *byte = (cur / 36) as u8;
            rem = cur % 36;
        }
        out.push(DIGITS[rem as usize]);
    }
    while out.len() < width {
        out.push(b'0');
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// Parses base-36 digits into a big-endian number of exactly `len` bytes.
///
/// Returns `None` for a non-digit character or a value that does not fit.
pub fn parse_base36(text: &str, len: usize) -> Option<Vec<u8>> {
    let mut num = vec![0u8; len];
    for ch in text.chars() {
        let digit = ch.to_digit(36)?;
        let mut carry = digit;
        for byte in num.iter_mut().rev() {
            let cur = u32::from(*byte) * 36 + carry;
            *byte = (cur & 0xff) as u8;
            carry = cur >> 8;
        }
        if carry != 0 {
            return None;
        }
    }
    Some(num)
}

/// True when `text` has the shape of an ID (used to tell IDs from names in lookups).
pub fn looks_like_id(text: &str) -> bool {
    text.len() == ID_LEN && text.chars().all(|c| c.is_ascii_digit() || c.is_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn ids_are_25_base36_chars() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for _ in 0..100 {
            let id = new_id(&mut rng);
            assert!(looks_like_id(&id), "{id}");
        }
    }

    #[test]
    fn base36_round_trips() {
        let value = [0xffu8; 16];
        let text = base36_padded(&value, 25);
        assert_eq!(text, "f5lxx1zz5pnorynqglhzmsp33");
        assert_eq!(parse_base36(&text, 16).as_deref(), Some(&value[..]));
        assert_eq!(base36_padded(&[0, 0, 1], 4), "0001");
        assert_eq!(parse_base36("zz", 1), None, "1295 does not fit in one byte");
        assert_eq!(parse_base36("a!", 4), None);
    }
}
