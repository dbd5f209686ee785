//! Join tokens in Swarm's format: `SWMTKN-1-<CA digest, base 36, 50 chars>-<secret, base 36,
//! 25 chars>`. The digest lets a joiner check it talks to the right cluster before it sends
//! the secret; the secret decides the role.

use rand::RngCore;
use types::id::{base36_padded, parse_base36};

use crate::{Error, Result};

const PREFIX: &str = "SWMTKN-1-";
const DIGEST_CHARS: usize = 50;
const SECRET_CHARS: usize = 25;

/// A parsed join token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinToken {
    /// SHA-256 of the root CA certificate PEM.
    pub ca_digest: [u8; 32],
    /// 128-bit secret.
    pub secret: [u8; 16],
}

impl JoinToken {
    /// A new token for the CA with `ca_digest`, with a secret from `rng`.
    pub fn generate(ca_digest: [u8; 32], rng: &mut impl RngCore) -> JoinToken {
        let mut secret = [0u8; 16];
        rng.fill_bytes(&mut secret);
        JoinToken { ca_digest, secret }
    }

    /// Parses a token; the error says which part is wrong.
    pub fn parse(text: &str) -> Result<JoinToken> {
        let rest = text
            .strip_prefix(PREFIX)
            .ok_or_else(|| Error::Token("must start with SWMTKN-1-".into()))?;
        let (digest, secret) = rest
            .split_once('-')
            .ok_or_else(|| Error::Token("missing secret part".into()))?;
        if digest.len() != DIGEST_CHARS || secret.len() != SECRET_CHARS {
            return Err(Error::Token(format!(
                "expected {DIGEST_CHARS}-character digest and {SECRET_CHARS}-character secret"
            )));
        }
        let digest = parse_base36(digest, 32).ok_or_else(|| Error::Token("digest is not base 36".into()))?;
        let secret = parse_base36(secret, 16).ok_or_else(|| Error::Token("secret is not base 36".into()))?;
        let mut out = JoinToken {
            ca_digest: [0; 32],
            secret: [0; 16],
        };
        out.ca_digest.copy_from_slice(&digest);
        out.secret.copy_from_slice(&secret);
        Ok(out)
    }
}

impl std::fmt::Display for JoinToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{PREFIX}{}-{}",
            base36_padded(&self.ca_digest, DIGEST_CHARS),
            base36_padded(&self.secret, SECRET_CHARS)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn format_and_parse_round_trip() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let token = JoinToken::generate([0xab; 32], &mut rng);
        let text = token.to_string();
        assert!(text.starts_with("SWMTKN-1-"));
        assert_eq!(text.len(), 9 + 50 + 1 + 25);
        assert_eq!(JoinToken::parse(&text).unwrap(), token);
    }

    #[test]
    fn malformed_tokens_say_what_is_wrong() {
        for bad in [
            "",
            "SWMTKN-2-abc",
            "SWMTKN-1-abc",
            "SWMTKN-1-abc-def",
            &format!("SWMTKN-1-{}-{}", "!".repeat(50), "0".repeat(25)),
        ] {
            let err = JoinToken::parse(bad).unwrap_err().to_string();
            assert!(err.starts_with("invalid join token"), "{bad}: {err}");
        }
    }
}
