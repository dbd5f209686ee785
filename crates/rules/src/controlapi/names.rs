//! Names for services created without one. dockerd gives such a service a random
//! `adjective_noun` name; ours are drawn from the service's (random) ID, so planning stays a
//! pure function of its inputs.

const ADJECTIVES: &[&str] = &[
    "agile", "amber", "azure", "bold", "brave", "bright", "brisk", "calm", "clever", "coral", "crisp",
    "deep", "eager", "fair", "fleet", "gentle", "glad", "golden", "keen", "kind", "lively", "lucid", "merry",
    "misty", "nimble", "noble", "quick", "quiet", "rapid", "silver", "sleek", "steady", "still", "sunny",
    "swift", "tidal", "vivid", "warm", "wild", "wise",
];

const NOUNS: &[&str] = &[
    "anchovy",
    "barracuda",
    "bass",
    "bream",
    "carp",
    "cod",
    "dolphin",
    "eel",
    "flounder",
    "grouper",
    "haddock",
    "halibut",
    "herring",
    "kelp",
    "krill",
    "mackerel",
    "manta",
    "marlin",
    "minnow",
    "mullet",
    "narwhal",
    "octopus",
    "orca",
    "otter",
    "perch",
    "pike",
    "pollock",
    "reef",
    "salmon",
    "sardine",
    "seal",
    "shrimp",
    "snapper",
    "sole",
    "sprat",
    "squid",
    "sturgeon",
    "trout",
    "tuna",
    "wrasse",
];

/// The `n`th name for `id` (`n` = 0, 1, … to step past names already taken).
pub fn generated(id: &str, n: usize) -> String {
    let seed = id
        .bytes()
        .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)))
        .wrapping_add(n as u64);
    let adjective = ADJECTIVES[(seed % ADJECTIVES.len() as u64) as usize];
    let noun = NOUNS[((seed / ADJECTIVES.len() as u64) % NOUNS.len() as u64) as usize];
    if n < ADJECTIVES.len() * NOUNS.len() {
        format!("{adjective}_{noun}")
    } else {
        format!("{adjective}_{noun}{n}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_id_and_step_to_new_ones() {
        let a = generated("4qbda55l6jpy0wynmzx9pnts1", 0);
        assert_eq!(a, generated("4qbda55l6jpy0wynmzx9pnts1", 0));
        assert_ne!(a, generated("4qbda55l6jpy0wynmzx9pnts1", 1));
        let (adjective, noun) = a.split_once('_').unwrap();
        assert!(ADJECTIVES.contains(&adjective) && NOUNS.contains(&noun), "{a}");
        // Past every combination, a number keeps names distinct.
        let many = ADJECTIVES.len() * NOUNS.len();
        assert_ne!(generated("x", many), generated("x", 0));
    }
}
