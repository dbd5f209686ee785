//! Output helpers that reproduce the docker CLI's formatting: tab-aligned tables, natural
//! sort, capitalised states, binary byte sizes and four-space indented JSON.

use std::cmp::Ordering;

use serde::Serialize;

/// The docker CLI's table writer settings: cells at least 10 wide, 3 spaces of padding.
const MIN_WIDTH: usize = 10;
const PADDING: usize = 3;

/// Aligns rows into columns like Go's `tabwriter` as docker configures it; the last column
/// is not padded.
pub fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            let widest = rows
                .iter()
                .filter_map(|r| r.get(c))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0);
            (widest + PADDING).max(MIN_WIDTH)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        for (c, cell) in row.iter().enumerate() {
            out.push_str(cell);
            if c + 1 < row.len() {
                let pad = widths[c].saturating_sub(cell.chars().count());
                out.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push('\n');
    }
    out
}

/// Natural order: runs of digits compare as numbers (`node2` < `node10`).
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a, b);
    loop {
        match (a.chars().next(), b.chars().next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let (da, ra) = split_digits(a);
                let (db, rb) = split_digits(b);
                let (ta, tb) = (da.trim_start_matches('0'), db.trim_start_matches('0'));
                let by_value = ta.len().cmp(&tb.len()).then_with(|| ta.cmp(tb));
                // Equal values: fewer leading zeros first, so the order stays total.
                match by_value.then_with(|| da.len().cmp(&db.len())) {
                    Ordering::Equal => (a, b) = (ra, rb),
                    other => return other,
                }
            }
            (Some(x), Some(y)) => match x.cmp(&y) {
                Ordering::Equal => (a, b) = (&a[x.len_utf8()..], &b[y.len_utf8()..]),
                other => return other,
            },
        }
    }
}

fn split_digits(text: &str) -> (&str, &str) {
    let end = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    text.split_at(end)
}

/// Docker's `PrettyPrint`: the first letter in upper case (`ready` → `Ready`).
pub fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Binary sizes as go-units' `BytesSize` writes them (`4GiB`, `23.54GiB`).
pub fn bytes_size(bytes: f64) -> String {
    const UNITS: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];
    let mut value = bytes;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{}{}", four_significant(value), UNITS[unit])
}

/// `%.4g` for values below 10⁴: four significant digits, trailing zeros dropped.
fn four_significant(value: f64) -> String {
    if value == 0.0 {
        return "0".into();
    }
    let integer_digits = (value.abs().log10().floor() as i32 + 1).max(1);
    let decimals = (4 - integer_digits).max(0) as usize;
    let text = format!("{value:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

/// JSON indented by four spaces, as `docker inspect` prints it.
pub fn indented_json<T: Serialize>(value: &T) -> anyhow::Result<String> {
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
    value.serialize(&mut serializer)?;
    Ok(String::from_utf8(out)?)
}

/// The wall clock, for showing ages ("Running 5 minutes ago") the way docker does. The CLI
/// is the one place that reads it: nothing it decides depends on the value.
pub fn now() -> types::Timestamp {
    #[allow(clippy::disallowed_methods)]
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    types::Timestamp(i64::try_from(since_epoch.as_nanos()).unwrap_or(i64::MAX))
}

/// go-units' `HumanDuration`: "Less than a second", "About a minute", "3 hours", ….
pub fn human_duration(nanos: i64) -> String {
    let seconds = nanos / 1_000_000_000;
    let minutes = seconds / 60;
    // Hours round to the nearest, as go-units does.
    let hours = (nanos as f64 / 3.6e12 + 0.5) as i64;
    match () {
        _ if seconds < 1 => "Less than a second".into(),
        _ if seconds == 1 => "1 second".into(),
        _ if seconds < 60 => format!("{seconds} seconds"),
        _ if minutes == 1 => "About a minute".into(),
        _ if minutes < 60 => format!("{minutes} minutes"),
        _ if hours == 1 => "About an hour".into(),
        _ if hours < 48 => format!("{hours} hours"),
        _ if hours < 24 * 7 * 2 => format!("{} days", hours / 24),
        _ if hours < 24 * 30 * 2 => format!("{} weeks", hours / 24 / 7),
        _ if hours < 24 * 365 * 2 => format!("{} months", hours / 24 / 30),
        _ => format!("{} years", nanos / 3_600_000_000_000 / 24 / 365),
    }
}

/// An RFC 3339 time from the API as a Timestamp (None if it does not parse).
pub fn parse_time(text: &str) -> Option<types::Timestamp> {
    let when = chrono::DateTime::parse_from_rfc3339(text).ok()?;
    when.timestamp_nanos_opt().map(types::Timestamp)
}

/// Docker's `TruncateID`: the first 12 characters.
pub fn short_id(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_like_docker() {
        let rows = vec![
            vec![
                "ID".to_string(),
                "HOSTNAME".into(),
                "STATUS".into(),
                "LAST".into(),
            ],
            vec!["abc *".to_string(), "alpha".into(), "Ready".into(), "x".into()],
        ];
        assert_eq!(
            table(&rows),
            "ID        HOSTNAME   STATUS    LAST\nabc *     alpha      Ready     x\n"
        );
    }

    #[test]
    fn human_durations_read_like_docker() {
        let s = 1_000_000_000i64;
        assert_eq!(human_duration(0), "Less than a second");
        assert_eq!(human_duration(s), "1 second");
        assert_eq!(human_duration(42 * s), "42 seconds");
        assert_eq!(human_duration(90 * s), "About a minute");
        assert_eq!(human_duration(45 * 60 * s), "45 minutes");
        assert_eq!(human_duration(80 * 60 * s), "About an hour");
        assert_eq!(human_duration(5 * 3600 * s), "5 hours");
        assert_eq!(human_duration(72 * 3600 * s), "3 days");
        assert_eq!(short_id("0123456789abcdef"), "0123456789ab");
        assert_eq!(
            parse_time("1970-01-01T00:00:01.5Z"),
            Some(types::Timestamp(1_500_000_000))
        );
    }

    #[test]
    fn natural_order() {
        let mut names = vec!["node10", "node2", "node1", "alpha", "node02"];
        names.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(names, ["alpha", "node1", "node2", "node02", "node10"]);
    }

    #[test]
    fn sizes_and_words() {
        assert_eq!(bytes_size(4.0 * 1024.0 * 1024.0 * 1024.0), "4GiB");
        assert_eq!(bytes_size(25_273_000_000.0), "23.54GiB");
        assert_eq!(bytes_size(512.0), "512B");
        assert_eq!(bytes_size(1536.0), "1.5KiB");
        assert_eq!(capitalised("ready"), "Ready");
        assert_eq!(capitalised(""), "");
        assert_eq!(
            indented_json(&serde_json::json!([{"a": 1}])).unwrap(),
            "[\n    {\n        \"a\": 1\n    }\n]"
        );
    }
}
