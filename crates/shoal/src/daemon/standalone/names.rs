//! Generated container names, `adjective_fish` like dockerd's `adjective_surname`: short,
//! readable, and retried on a clash with a name this node already has.

/// Adjectives of the first half.
const ADJECTIVES: &[&str] = &[
    "agile", "amber", "bold", "brisk", "calm", "clever", "cool", "curious", "deep", "eager", "fancy",
    "fleet", "gentle", "glad", "golden", "happy", "jolly", "keen", "kind", "lively", "lucid", "merry",
    "nimble", "noble", "patient", "plucky", "proud", "quick", "quiet", "rapid", "serene", "sharp", "shiny",
    "silent", "silver", "sleek", "steady", "sunny", "swift", "tidy", "vivid", "wise", "witty", "zesty",
];

/// Fish of the second half (a shoal has many).
const FISH: &[&str] = &[
    "anchovy",
    "barracuda",
    "bass",
    "bream",
    "carp",
    "catfish",
    "char",
    "cod",
    "dace",
    "dory",
    "eel",
    "flounder",
    "goby",
    "grouper",
    "gudgeon",
    "haddock",
    "hake",
    "halibut",
    "herring",
    "ide",
    "koi",
    "ling",
    "mackerel",
    "marlin",
    "minnow",
    "mullet",
    "perch",
    "pike",
    "plaice",
    "pollock",
    "roach",
    "rudd",
    "salmon",
    "sardine",
    "shad",
    "smelt",
    "snapper",
    "sole",
    "sprat",
    "sturgeon",
    "tench",
    "trout",
    "tuna",
    "turbot",
    "wrasse",
];

/// A name not `taken`; after many clashes a number is added, as dockerd does.
pub fn generate(taken: impl Fn(&str) -> bool) -> String {
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let adjective = ADJECTIVES[rand::random_range(0..ADJECTIVES.len())];
        let fish = FISH[rand::random_range(0..FISH.len())];
        let name = if attempt <= 10 {
            format!("{adjective}_{fish}")
        } else {
            format!("{adjective}_{fish}{}", rand::random_range(0..100u32))
        };
        if !taken(&name) {
            return name;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_names_avoid_taken_ones_and_are_valid() {
        let first = generate(|_| false);
        assert!(first.contains('_'));
        assert!(api::convert::standalone::check_name(&first).is_ok());
        let other = generate(|n| n == first);
        assert_ne!(other, first);
    }
}
