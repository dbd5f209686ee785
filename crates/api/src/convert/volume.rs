//! `/volumes`: a node's volumes as Docker's JSON, and the list and prune filters as dockerd
//! reads them (`volume/service/convert.go`): `name` equal or matching as a regular
//! expression, `driver` exactly, `label` as `key` or `key=value` (all must hold), `dangling`
//! true/1 or false/0; prune takes `label`, `label!` and `all`.

use std::collections::BTreeMap;

use crate::backend::VolumeView;
use crate::convert::filters::{self, FilterArgs};
use crate::convert::time::rfc3339;
use crate::error::{Error, Result};
use crate::model;

/// Filter keys `GET /volumes` accepts.
const LIST_KEYS: &[&str] = &["dangling", "driver", "label", "name"];
/// Filter keys `POST /volumes/prune` accepts.
const PRUNE_KEYS: &[&str] = &["label", "label!", "all"];
/// The largest compiled `name` pattern (a hostile filter costs at most this much memory).
const PATTERN_LIMIT: usize = 1 << 20;

/// A volume as `docker volume inspect` shows it.
pub fn to_docker(v: &VolumeView) -> model::Volume {
    let v = &v.volume;
    model::Volume {
        created_at: rfc3339(types::Timestamp(
            v.created_at.0 - v.created_at.0.rem_euclid(1_000_000_000),
        )),
        driver: types::volume::LOCAL_DRIVER.into(),
        labels: (!v.labels.is_empty()).then(|| v.labels.clone()),
        mountpoint: v.mountpoint.clone(),
        name: v.name.clone(),
        options: None,
        scope: "local".into(),
        usage_data: None,
    }
}

/// The filters of `GET /volumes`.
#[derive(Debug, Clone, Default)]
pub struct ListFilters {
    args: FilterArgs,
    dangling: Option<bool>,
}

/// Parses `GET /volumes`' filters.
pub fn list_filters(text: &str) -> Result<ListFilters> {
    let args = filters::parse(text)?;
    filters::validate(&args, LIST_KEYS)?;
    let dangling = match args.get("dangling").map(Vec::as_slice) {
        None | Some([]) => None,
        Some(values) => {
            let mut seen = None;
            for v in values {
                let b = parse_bool(v)
                    .ok_or_else(|| Error::BadRequest(format!("invalid filter 'dangling={v}'")))?;
                seen = Some(seen.unwrap_or(false) || b);
            }
            seen
        }
    };
    Ok(ListFilters { args, dangling })
}

fn parse_bool(v: &str) -> Option<bool> {
    if v.eq_ignore_ascii_case("true") || v == "1" {
        Some(true)
    } else if v.eq_ignore_ascii_case("false") || v == "0" {
        Some(false)
    } else {
        None
    }
}

/// Whether `v` passes every list filter.
pub fn matches(v: &VolumeView, f: &ListFilters) -> bool {
    let any = |key: &str, test: &dyn Fn(&str) -> bool| {
        f.args
            .get(key)
            .is_none_or(|vs| vs.is_empty() || vs.iter().any(|w| test(w)))
    };
    any("name", &|w| name_matches(w, &v.volume.name))
        && any("driver", &|w| w == types::volume::LOCAL_DRIVER)
        && labels_match(
            &v.volume.labels,
            f.args.get("label").map(Vec::as_slice).unwrap_or(&[]),
        )
        && f.dangling.is_none_or(|dangling| v.refs.is_empty() == dangling)
}

/// dockerd's `filters.Match`: equal, or the value as an unanchored regular expression (one
/// that does not compile matches nothing).
fn name_matches(pattern: &str, name: &str) -> bool {
    pattern == name
        || regex::RegexBuilder::new(pattern)
            .size_limit(PATTERN_LIMIT)
            .build()
            .is_ok_and(|re| re.is_match(name))
}

/// Every `key` or `key=value` of `wanted` holds.
fn labels_match(labels: &BTreeMap<String, String>, wanted: &[String]) -> bool {
    wanted.iter().all(|w| label_holds(labels, w))
}

fn label_holds(labels: &BTreeMap<String, String>, wanted: &str) -> bool {
    match wanted.split_once('=') {
        Some((k, v)) => labels.get(k).is_some_and(|have| have == v),
        None => labels.contains_key(wanted),
    }
}

/// The filters of `POST /volumes/prune`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneFilters {
    /// Named volumes too, not only anonymous ones.
    pub all: bool,
    /// Labels every pruned volume has.
    pub labels: Vec<String>,
    /// Labels no pruned volume has.
    pub not_labels: Vec<String>,
}

/// Parses `POST /volumes/prune`'s filters (dockerd's words for a bad `all`).
pub fn prune_filters(text: &str) -> Result<PruneFilters> {
    let mut args = filters::parse(text)?;
    filters::validate(&args, PRUNE_KEYS)?;
    let all = match args.remove("all").unwrap_or_default().as_slice() {
        [] => false,
        [one] => parse_bool(one)
            .ok_or_else(|| Error::BadRequest(format!("invalid filter 'all': invalid value {one:?}")))?,
        more => {
            return Err(Error::BadRequest(format!(
                "invalid filter 'all={}': only one value is expected",
                more.join(",")
            )));
        }
    };
    Ok(PruneFilters {
        all,
        labels: args.remove("label").unwrap_or_default(),
        not_labels: args.remove("label!").unwrap_or_default(),
    })
}

/// Whether prune takes `v`: unused here, anonymous unless `all`, and the label filters hold.
pub fn prunable(v: &VolumeView, f: &PruneFilters) -> bool {
    types::volume::prunable(&v.volume, &v.refs, f.all)
        && labels_match(&v.volume.labels, &f.labels)
        && !f.not_labels.iter().any(|w| label_holds(&v.volume.labels, w))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(name: &str, labels: &[(&str, &str)], refs: &[&str]) -> VolumeView {
        VolumeView {
            volume: types::volume::Volume {
                name: name.into(),
                mountpoint: format!("/var/lib/shoal/volumes/{name}/_data"),
                created_at: types::Timestamp(1_700_000_000_123_456_789),
                labels: labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            },
            refs: refs.iter().map(|r| r.to_string()).collect(),
        }
    }

    fn names(all: &[VolumeView], filters: &str) -> Vec<String> {
        let f = list_filters(filters).unwrap();
        all.iter()
            .filter(|v| matches(v, &f))
            .map(|v| v.volume.name.clone())
            .collect()
    }

    #[test]
    fn list_filters_match_as_dockerd() {
        let all = vec![
            view("db-data", &[("tier", "db")], &["c1"]),
            view("web-cache", &[("tier", "web")], &[]),
            view("logs", &[], &[]),
        ];
        assert_eq!(names(&all, ""), vec!["db-data", "web-cache", "logs"]);
        assert_eq!(names(&all, r#"{"name":{"data":true}}"#), vec!["db-data"]);
        assert_eq!(names(&all, r#"{"name":{"^web":true}}"#), vec!["web-cache"]);
        assert_eq!(names(&all, r#"{"name":{"(":true}}"#), Vec::<String>::new());
        assert_eq!(
            names(&all, r#"{"label":{"tier":true}}"#),
            vec!["db-data", "web-cache"]
        );
        assert_eq!(names(&all, r#"{"label":{"tier=web":true}}"#), vec!["web-cache"]);
        assert_eq!(
            names(&all, r#"{"dangling":{"true":true}}"#),
            vec!["web-cache", "logs"]
        );
        assert_eq!(names(&all, r#"{"dangling":{"0":true}}"#), vec!["db-data"]);
        assert_eq!(names(&all, r#"{"driver":{"local":true}}"#).len(), 3);
        assert!(names(&all, r#"{"driver":{"nfs":true}}"#).is_empty());
        let err = list_filters(r#"{"dangling":{"maybe":true}}"#).unwrap_err();
        assert_eq!(err.to_string(), "invalid filter 'dangling=maybe'");
        assert_eq!(
            list_filters(r#"{"until":{"1h":true}}"#).unwrap_err().to_string(),
            "invalid filter 'until'"
        );
    }

    #[test]
    fn prune_takes_unused_anonymous_ones_or_all_with_labels() {
        let anon = view("0a1b", &[(types::volume::ANONYMOUS_LABEL, "")], &[]);
        let named = view("keep", &[("k", "v")], &[]);
        let used = view("used", &[], &["c1"]);
        let f = prune_filters("").unwrap();
        assert!(prunable(&anon, &f) && !prunable(&named, &f) && !prunable(&used, &f));
        let all = prune_filters(r#"{"all":{"true":true}}"#).unwrap();
        assert!(prunable(&named, &all) && !prunable(&used, &all));
        let not_k = prune_filters(r#"{"all":{"1":true},"label!":{"k":true}}"#).unwrap();
        assert!(!prunable(&named, &not_k) && prunable(&anon, &not_k));
        let with_k = prune_filters(r#"{"all":{"1":true},"label":{"k=v":true}}"#).unwrap();
        assert!(prunable(&named, &with_k) && !prunable(&anon, &with_k));
        assert!(prune_filters(r#"{"all":{"yes":true}}"#).is_err());
        assert!(prune_filters(r#"{"dangling":{"true":true}}"#).is_err());
    }

    #[test]
    fn inspect_shape() {
        let out = serde_json::to_value(to_docker(&view("db", &[], &[]))).unwrap();
        assert_eq!(
            out,
            serde_json::json!({
                "CreatedAt": "2023-11-14T22:13:20Z", "Driver": "local", "Labels": null,
                "Mountpoint": "/var/lib/shoal/volumes/db/_data", "Name": "db", "Options": null,
                "Scope": "local"
            })
        );
    }
}
