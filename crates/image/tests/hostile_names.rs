//! Strings from requests that the image crate parses — references, digests, platforms,
//! `X-Registry-Auth` headers — never panic, and what parses prints back as it parses.

#![allow(clippy::unwrap_used)]

use image::{Credentials, Digest, Name, Platform};
use proptest::prelude::*;

/// Pieces of the reference grammar, glued at random: separators next to each other, ports,
/// digests of the wrong length, non-ASCII where ASCII is expected.
const PIECES: &[&str] = &[
    "busybox",
    "library",
    "docker.io",
    "index.docker.io",
    "localhost",
    "127.0.0.1",
    "[::1]",
    ":5000",
    ":",
    "/",
    "@",
    "sha256:",
    "sha512:",
    "0123456789abcdef",
    "ABCDEF",
    "_",
    "__",
    "-",
    ".",
    "..",
    "latest",
    "é",
    "🐳",
    " ",
    "\u{0}",
    "%2F",
    "v1.0",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn references_never_panic(text in "\\PC{0,80}") {
        let _ = Name::parse(&text);
        let _ = Digest::parse(&text);
        let _ = Platform::parse(&text);
    }

    #[test]
    fn grammar_soups_never_panic_and_round_trip(picks in prop::collection::vec(0..PIECES.len(), 0..12)) {
        let text: String = picks.iter().map(|&i| PIECES[i]).collect();
        if let Ok(name) = Name::parse(&text) {
            // Its full form parses to itself.
            let full = match (&name.tag, &name.digest) {
                (Some(t), Some(d)) => format!("{}/{}:{t}@{d}", name.registry, name.repository),
                (Some(t), None) => format!("{}/{}:{t}", name.registry, name.repository),
                (None, Some(d)) => format!("{}/{}@{d}", name.registry, name.repository),
                (None, None) => format!("{}/{}", name.registry, name.repository),
            };
            let again = Name::parse(&full);
            prop_assert_eq!(again.as_ref().ok(), Some(&name), "{} -> {}", text, full);
        }
    }

    #[test]
    fn registry_auth_headers_never_panic(text in "[A-Za-z0-9+/=_-]{0,200}", raw in "\\PC{0,60}") {
        let _ = Credentials::from_header(&text);
        let _ = Credentials::from_header(&raw);
    }
}

#[test]
fn an_oversized_auth_header_is_refused() {
    let header = "A".repeat(1 << 20);
    assert!(Credentials::from_header(&header).is_err());
}
