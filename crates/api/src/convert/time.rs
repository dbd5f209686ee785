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
}
