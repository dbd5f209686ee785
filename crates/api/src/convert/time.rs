//! Timestamps as Docker writes them: RFC 3339 in UTC with up to nine fractional digits and
//! trailing zeros dropped (Go's `time.RFC3339Nano`).

use chrono::DateTime;
use types::Timestamp;

/// Go's zero time, used when a timestamp is out of chrono's range.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// `2026-11-27T05:01:02.123456789Z`, `2026-11-27T05:01:02.5Z`, `2026-11-27T05:01:02Z`.
pub fn rfc3339(ts: Timestamp) -> String {
    let (secs, nanos) = ts.parts();
    let Some(when) = DateTime::from_timestamp(secs, nanos) else {
        return ZERO_TIME.to_string();
    };
    let mut text = when.format("%Y-%m-%dT%H:%M:%S").to_string();
    if nanos != 0 {
        let fraction = format!("{nanos:09}");
        text.push('.');
        text.push_str(fraction.trim_end_matches('0'));
    }
    text.push('Z');
    text
}

/// Log timestamps: always nine fractional digits (Go's `2006-01-02T15:04:05.000000000Z07:00`),
/// so every line's prefix has the same width.
pub fn rfc3339_fixed(ts: Timestamp) -> String {
    let (secs, nanos) = ts.parts();
    match DateTime::from_timestamp(secs, nanos) {
        Some(when) => format!("{}.{nanos:09}Z", when.format("%Y-%m-%dT%H:%M:%S")),
        None => "0001-01-01T00:00:00.000000000Z".to_string(),
    }
}

/// Docker's `since`/`until` query form: `seconds[.nanoseconds]` since the epoch, as the docker
/// CLI sends it after resolving `10m` or an RFC 3339 date itself.
pub fn parse_unix(text: &str) -> Option<Timestamp> {
    let (secs, fraction) = match text.split_once('.') {
        Some((secs, fraction)) => (secs, fraction),
        None => (text, ""),
    };
    let secs: i64 = secs.parse().ok()?;
    if fraction.len() > 9 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let nanos: i64 = if fraction.is_empty() {
        0
    } else {
        format!("{fraction:0<9}").parse().ok()?
    };
    let nanos = if secs < 0 || text.starts_with('-') {
        -nanos
    } else {
        nanos
    };
    Some(Timestamp(secs.checked_mul(1_000_000_000)?.checked_add(nanos)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_go_rfc3339_nano() {
        let base = 1_795_755_662; // 2026-11-27T05:01:02Z
        assert_eq!(
            rfc3339(Timestamp(base * 1_000_000_000 + 123_456_789)),
            "2026-11-27T05:01:02.123456789Z"
        );
        assert_eq!(
            rfc3339(Timestamp(base * 1_000_000_000 + 500_000_000)),
            "2026-11-27T05:01:02.5Z"
        );
        assert_eq!(rfc3339(Timestamp(base * 1_000_000_000)), "2026-11-27T05:01:02Z");
        assert_eq!(rfc3339(Timestamp(0)), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(Timestamp(-1)), "1969-12-31T23:59:59.999999999Z");
    }

    #[test]
    fn log_timestamps_have_fixed_width() {
        let base = 1_795_755_662_000_000_000;
        assert_eq!(rfc3339_fixed(Timestamp(base)), "2026-11-27T05:01:02.000000000Z");
        assert_eq!(
            rfc3339_fixed(Timestamp(base + 5_000)),
            "2026-11-27T05:01:02.000005000Z"
        );
    }

    #[test]
    fn parses_unix_timestamps() {
        assert_eq!(parse_unix("12"), Some(Timestamp(12_000_000_000)));
        assert_eq!(parse_unix("12.5"), Some(Timestamp(12_500_000_000)));
        assert_eq!(parse_unix("12.000000001"), Some(Timestamp(12_000_000_001)));
        assert_eq!(parse_unix("x"), None);
        assert_eq!(parse_unix("1.2.3"), None);
        assert_eq!(parse_unix("1.1234567890"), None);
    }
}
