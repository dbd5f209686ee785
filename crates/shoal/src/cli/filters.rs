//! `--filter key=value` flags, as every list command takes them.

use api::client::Filters;

/// `--filter key=value` flags into filter sets; the value may itself hold `=` (labels).
pub fn parse_filters(flags: &[String]) -> anyhow::Result<Filters> {
    let mut filters = Filters::new();
    for flag in flags {
        let Some((key, value)) = flag.split_once('=') else {
            anyhow::bail!("bad format of filter (expected name=value): {flag}");
        };
        filters
            .entry(key.trim().to_ascii_lowercase())
            .or_default()
            .push(value.to_string());
    }
    Ok(filters)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse() {
        let filters = parse_filters(&["role=manager".into(), "node.label=zone=a".into()]).unwrap();
        assert_eq!(filters["role"], ["manager"]);
        assert_eq!(filters["node.label"], ["zone=a"]);
        assert!(parse_filters(&["role".into()]).is_err());
    }
}
