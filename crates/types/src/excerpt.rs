//! Quoting user input in error messages: a client that sends a megabyte of garbage gets a
//! message of a hundred characters back, not its megabyte echoed (and logged) in full.

/// Characters of the offending input an error message quotes.
pub const EXCERPT_CHARS: usize = 100;

/// `text` if it is short, else its first [`EXCERPT_CHARS`] characters followed by
/// `…(N bytes)` so the reader knows it was cut.
pub fn excerpt(text: &str) -> String {
    match text.char_indices().nth(EXCERPT_CHARS) {
        None => text.to_string(),
        Some((cut, _)) => format!("{}…({} bytes)", &text[..cut], text.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_kept_and_long_text_cut_on_a_char_boundary() {
        assert_eq!(excerpt("busybox"), "busybox");
        let exact = "a".repeat(EXCERPT_CHARS);
        assert_eq!(excerpt(&exact), exact);
        let long = "é".repeat(5000);
        let shown = excerpt(&long);
        assert!(shown.starts_with(&"é".repeat(EXCERPT_CHARS)), "{shown}");
        assert!(shown.ends_with("…(10000 bytes)"), "{shown}");
        assert_eq!(
            shown.chars().count(),
            EXCERPT_CHARS + "…(10000 bytes)".chars().count()
        );
    }
}
