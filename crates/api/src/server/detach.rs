//! Detach keys (`docker attach --detach-keys`, dockerd's default ctrl-p ctrl-q): on a
//! container with a terminal, the sequence typed into the attach stream ends the attach and
//! leaves the container running. Bytes that begin the sequence are held back until it is
//! complete (detach) or broken (they go on to the terminal), as dockerd's escape proxy does.

/// dockerd's default sequence: ctrl-p, ctrl-q.
pub const DEFAULT: [u8; 2] = [0x10, 0x11];

/// Parses dockerd's spelling (`ctrl-p,ctrl-q`, `a`, `ctrl-@`…); empty means the default.
pub fn parse(spec: &str) -> Result<Vec<u8>, String> {
    if spec.is_empty() {
        return Ok(DEFAULT.to_vec());
    }
    spec.split(',')
        .map(|key| {
            let key = key.trim();
            match key.strip_prefix("ctrl-") {
                Some(c) if c.len() == 1 => {
                    let c = c.as_bytes()[0];
                    match c {
                        b'a'..=b'z' => Ok(c - b'a' + 1),
                        b'@' | b'[' | b'\\' | b']' | b'^' | b'_' => Ok(c - b'@'),
                        _ => Err(format!("invalid detach key {key:?}")),
                    }
                }
                None if key.len() == 1 && key.is_ascii() => Ok(key.as_bytes()[0]),
                _ => Err(format!("invalid detach key {key:?}")),
            }
        })
        .collect()
}

/// Watches input for the sequence.
#[derive(Debug, Clone)]
pub struct Escape {
    keys: Vec<u8>,
    held: usize,
}

impl Escape {
    /// A watcher for `keys` (not empty).
    pub fn new(keys: Vec<u8>) -> Escape {
        Escape { keys, held: 0 }
    }

    /// Filters `input`: the bytes to pass on, and whether the sequence completed (the bytes
    /// after it are dropped with the attach).
    pub fn filter(&mut self, input: &[u8]) -> (Vec<u8>, bool) {
        let mut out = Vec::with_capacity(input.len());
        for &b in input {
            if b == self.keys[self.held] {
                self.held += 1;
                if self.held == self.keys.len() {
                    return (out, true);
                }
            } else {
                out.extend_from_slice(&self.keys[..self.held]);
                self.held = 0;
                if b == self.keys[0] {
                    self.held = 1;
                } else {
                    out.push(b);
                }
            }
        }
        (out, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dockerd_spellings() {
        assert_eq!(parse("").unwrap(), DEFAULT);
        assert_eq!(parse("ctrl-p,ctrl-q").unwrap(), DEFAULT);
        assert_eq!(parse("ctrl-@,a,ctrl-_").unwrap(), [0, b'a', 31]);
        assert!(parse("ctrl-1").is_err());
        assert!(parse("ab").is_err());
    }

    #[test]
    fn holds_a_partial_sequence_and_detaches_on_the_whole() {
        let mut e = Escape::new(DEFAULT.to_vec());
        assert_eq!(e.filter(b"ab\x10"), (b"ab".to_vec(), false));
        // Broken: the held key goes on with the byte that broke it.
        assert_eq!(e.filter(b"c"), (b"\x10c".to_vec(), false));
        assert_eq!(e.filter(b"\x10\x10"), (b"\x10".to_vec(), false));
        assert_eq!(e.filter(b"\x11tail"), (Vec::new(), true));
    }
}
