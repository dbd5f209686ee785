//! API versions: which we serve, and how dotted versions compare (as moby's `versions` does).

use std::cmp::Ordering;

/// The API version we speak and report (`API-Version` header, `/version`).
pub const API_VERSION: &str = "1.47";

/// The oldest API version we accept in a path prefix.
pub const MIN_API_VERSION: &str = "1.24";

/// The daemon's own version, for `Server`, `/version` and `/info`.
pub const SERVER_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Compares dotted versions segment by segment as numbers; a segment that is not a number
/// counts as 0 and a missing one as 0, so `1.40` > `1.4` and `1.47.0` == `1.47`.
pub fn compare(a: &str, b: &str) -> Ordering {
    let mut left = a.split('.');
    let mut right = b.split('.');
    loop {
        match (left.next(), right.next()) {
            (None, None) => return Ordering::Equal,
            (l, r) => {
                let l: u64 = l.and_then(|s| s.parse().ok()).unwrap_or(0);
                let r: u64 = r.and_then(|s| s.parse().ok()).unwrap_or(0);
                match l.cmp(&r) {
                    Ordering::Equal => continue,
                    other => return other,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compares_numerically() {
        assert_eq!(compare("1.47", "1.47"), Ordering::Equal);
        assert_eq!(compare("1.99", "1.47"), Ordering::Greater);
        assert_eq!(compare("1.4", "1.40"), Ordering::Less);
        assert_eq!(compare("1.47.0", "1.47"), Ordering::Equal);
        assert_eq!(compare("2", "1.99"), Ordering::Greater);
        assert_eq!(compare("", "1.24"), Ordering::Less);
    }
}
