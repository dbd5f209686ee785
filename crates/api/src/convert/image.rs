//! Images of the store as Docker's JSON, and `GET /images/json`'s filters with dockerd's
//! meanings (`reference` is a glob on the familiar name, `before`/`since` compare creation
//! times with a named image's).

use std::collections::BTreeMap;

use image::{ImageDetails, Name, Removed};

use super::filters::{self, FilterArgs};
use crate::error::{Error, Result};
use crate::model;

/// Filter keys `GET /images/json` accepts.
const LIST_FILTER_KEYS: &[&str] = &["before", "since", "reference", "dangling", "label", "until"];

/// Filter keys `POST /images/prune` accepts.
const PRUNE_FILTER_KEYS: &[&str] = &["dangling", "until", "label", "label!"];

/// An image store error as the API answers it, with the status dockerd uses.
pub fn error(e: image::Error) -> Error {
    let message = e.to_string();
    Error::Backend(match e.status() {
        400 => rules::Error::InvalidArgument(message),
        404 => rules::Error::NotFound(message),
        409 => rules::Error::Conflict(message),
        501 => rules::Error::Unimplemented(message),
        _ => rules::Error::Internal(message),
    })
}

/// `docker.io/library/busybox:1` → `busybox:1`; a name that does not parse is shown as stored.
pub fn familiar(stored: &str) -> String {
    Name::parse(stored)
        .map(|n| n.familiar())
        .unwrap_or_else(|_| stored.to_owned())
}

/// Seconds since the epoch of an RFC 3339 time; 0 when absent or malformed, as dockerd shows
/// an image without a creation time.
fn unix_seconds(created: Option<&str>) -> i64 {
    created
        .and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok())
        .map(|t| t.timestamp())
        .unwrap_or(0)
}

fn labels(d: &ImageDetails) -> BTreeMap<String, String> {
    d.config.config.labels.clone().unwrap_or_default()
}

/// `GET /images/json`'s entry.
pub fn summary(d: &ImageDetails) -> model::ImageSummary {
    let s = &d.summary;
    model::ImageSummary {
        id: s.id.to_string(),
        parent_id: String::new(),
        repo_tags: s.repo_tags.iter().map(|t| familiar(t)).collect(),
        repo_digests: s.repo_digests.iter().map(|t| familiar(t)).collect(),
        created: unix_seconds(s.created.as_deref()),
        size: i64::try_from(s.size).unwrap_or(i64::MAX),
        shared_size: -1,
        labels: labels(d),
        containers: -1,
    }
}

/// Each image's `SharedSize`, by image ID: the bytes of its layers that another image also
/// holds, as dockerd computes for `/system/df` and `GET /images/json?shared-size=1`. The CLI's
/// `system df` counts an in-use image's other bytes as not reclaimable.
pub fn shared_sizes(images: &[ImageDetails]) -> BTreeMap<String, i64> {
    // Images holding each layer blob (a blob listed twice by one image counts once).
    let mut holders: BTreeMap<&image::Digest, usize> = BTreeMap::new();
    for d in images {
        let mut own: Vec<&image::Digest> = d.record.layers.iter().map(|l| &l.blob).collect();
        own.sort();
        own.dedup();
        for blob in own {
            *holders.entry(blob).or_default() += 1;
        }
    }
    images
        .iter()
        .map(|d| {
            let mut seen = std::collections::BTreeSet::new();
            let shared: u64 = d
                .record
                .layers
                .iter()
                .filter(|l| seen.insert(&l.blob) && holders.get(&l.blob).is_some_and(|n| *n > 1))
                .map(|l| l.size)
                .sum();
            (
                d.summary.id.to_string(),
                i64::try_from(shared).unwrap_or(i64::MAX),
            )
        })
        .collect()
}

/// `GET /images/{name}/json`.
pub fn inspect(d: &ImageDetails) -> model::ImageInspect {
    let s = &d.summary;
    model::ImageInspect {
        id: s.id.to_string(),
        repo_tags: s.repo_tags.iter().map(|t| familiar(t)).collect(),
        repo_digests: s.repo_digests.iter().map(|t| familiar(t)).collect(),
        parent: String::new(),
        comment: String::new(),
        created: s.created.clone().unwrap_or_default(),
        docker_version: String::new(),
        author: String::new(),
        config: serde_json::to_value(&d.config.config).unwrap_or_default(),
        architecture: d.config.architecture.clone(),
        variant: d.config.variant.clone(),
        os: d.config.os.clone(),
        size: i64::try_from(s.size).unwrap_or(i64::MAX),
        // Layers live in shoal's own store (crates/image), not under a dockerd graph driver.
        graph_driver: model::GraphDriver {
            name: "shoal".into(),
            data: BTreeMap::new(),
        },
        root_fs: model::ImageRootFs {
            kind: "layers".into(),
            layers: d.record.layers.iter().map(|l| l.diff_id.to_string()).collect(),
        },
        metadata: model::ImageMetadata { last_tag_time: None },
    }
}

/// One line of a removal report.
pub fn removed(r: &Removed) -> model::ImageDeleteItem {
    match r {
        Removed::Untagged(name) => model::ImageDeleteItem {
            untagged: Some(familiar(name)),
            deleted: None,
        },
        Removed::Deleted(id) => model::ImageDeleteItem {
            untagged: None,
            deleted: Some(id.to_string()),
        },
    }
}

/// The checked filters of `GET /images/json`.
pub fn list_filters(text: &str) -> Result<FilterArgs> {
    let args = filters::parse(text)?;
    filters::validate(&args, LIST_FILTER_KEYS)?;
    if args.contains_key("until") {
        return Err(Error::Backend(rules::Error::Unimplemented(
            "the until filter of image lists is not supported".into(),
        )));
    }
    for value in args.get("dangling").into_iter().flatten() {
        if !matches!(value.as_str(), "true" | "false" | "1" | "0") {
            return Err(Error::BadRequest(format!("invalid filter 'dangling={value}'")));
        }
    }
    Ok(args)
}

/// `all` of `POST /images/prune` from its filters: `dangling=false` prunes every unused image.
pub fn prune_all(text: &str) -> Result<bool> {
    let args = filters::parse(text)?;
    filters::validate(&args, PRUNE_FILTER_KEYS)?;
    if let Some(key) = args.keys().find(|k| k.as_str() != "dangling") {
        return Err(Error::Backend(rules::Error::Unimplemented(format!(
            "the {key} filter of image prune is not supported"
        ))));
    }
    match args.get("dangling").map(Vec::as_slice) {
        None | Some([]) => Ok(false),
        Some([v]) if matches!(v.as_str(), "true" | "1") => Ok(false),
        Some([v]) if matches!(v.as_str(), "false" | "0") => Ok(true),
        Some(v) => Err(Error::BadRequest(format!(
            "invalid filter 'dangling={}'",
            v.join(",")
        ))),
    }
}

/// Keeps the images `args` selects, newest first as dockerd lists them. `before`/`since`
/// name images that must exist (404 otherwise).
pub fn select(mut images: Vec<ImageDetails>, args: &FilterArgs) -> Result<Vec<ImageDetails>> {
    let created_of = |key: &str| -> Result<Vec<i64>> {
        args.get(key)
            .into_iter()
            .flatten()
            .map(|name| {
                images
                    .iter()
                    .find(|d| names_image(d, name))
                    .map(|d| unix_seconds(d.summary.created.as_deref()))
                    .ok_or_else(|| error(image::Error::NotFound(name.clone())))
            })
            .collect()
    };
    let before = created_of("before")?;
    let since = created_of("since")?;
    images.retain(|d| {
        let created = unix_seconds(d.summary.created.as_deref());
        let dangling = d.summary.repo_tags.is_empty();
        before.iter().all(|b| created < *b)
            && since.iter().all(|s| created > *s)
            && args
                .get("dangling")
                .is_none_or(|v| v.iter().all(|v| (v == "true" || v == "1") == dangling))
            && args
                .get("label")
                .is_none_or(|v| v.iter().all(|l| has_label(d, l)))
    });
    // As dockerd, a reference filter also narrows each image's names to those it matched.
    if let Some(patterns) = args.get("reference") {
        let matched = |name: &String| patterns.iter().any(|p| matches_reference(name, p));
        for d in &mut images {
            d.summary.repo_tags.retain(matched);
            d.summary.repo_digests.retain(matched);
        }
        images.retain(|d| !d.summary.repo_tags.is_empty() || !d.summary.repo_digests.is_empty());
    }
    images.sort_by_key(|d| std::cmp::Reverse(unix_seconds(d.summary.created.as_deref())));
    Ok(images)
}

/// Whether `name` (a reference, ID or ID prefix) names `d`.
fn names_image(d: &ImageDetails, name: &str) -> bool {
    let id = d.summary.id.to_string();
    let hex = d.summary.id.hex();
    if id == name || (name.len() >= 4 && hex.starts_with(name.trim_start_matches("sha256:"))) {
        return true;
    }
    let Ok(wanted) = Name::parse(name) else {
        return false;
    };
    d.summary
        .repo_tags
        .iter()
        .chain(&d.summary.repo_digests)
        .filter_map(|t| Name::parse(t).ok())
        .any(|n| n == wanted)
}

fn has_label(d: &ImageDetails, filter: &str) -> bool {
    let labels = labels(d);
    match filter.split_once('=') {
        Some((k, v)) => labels.get(k).is_some_and(|x| x == v),
        None => labels.contains_key(filter),
    }
}

/// dockerd's `reference` filter: the pattern is matched against a familiar `repo:tag` (or
/// `repo@digest`) and against its repository alone.
fn matches_reference(stored: &str, pattern: &str) -> bool {
    let full = familiar(stored);
    let repo = match full.split_once('@') {
        Some((repo, _)) => repo,
        None => {
            full.rsplit_once(':').map_or(
                full.as_str(),
                |(r, tag)| if tag.contains('/') { full.as_str() } else { r },
            )
        }
    };
    glob(pattern, &full) || glob(pattern, repo)
}

/// Go's `path.Match`: `*` is any run of characters but `/`, `?` one such character.
pub fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    // Iterative matcher with one backtrack point for the last `*`, so no input makes it slow.
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == t[ti] || (p[pi] == '?' && t[ti] != '/')) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star
            && t[st] != '/'
        {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_matches_as_path_match() {
        assert!(glob("busybox", "busybox"));
        assert!(glob("busy*", "busybox"));
        assert!(glob("*:1", "bb:1"));
        assert!(!glob("*", "127.0.0.1:5000/bb"));
        assert!(glob("*/bb", "127.0.0.1:5000/bb"));
        assert!(glob("b?", "bb"));
        assert!(!glob("b?", "b/"));
        assert!(!glob("a*", "busybox"));
    }

    /// An image whose layers are the blobs of `layers` (content, size).
    fn image_of(config: &str, layers: &[(&str, u64)]) -> ImageDetails {
        let id = image::Digest::of(config.as_bytes());
        let layers: Vec<image::LayerRecord> = layers
            .iter()
            .map(|(content, size)| image::LayerRecord {
                blob: image::Digest::of(content.as_bytes()),
                diff_id: image::Digest::of(content.as_bytes()),
                size: *size,
            })
            .collect();
        let record = image::ImageRecord {
            id: id.clone(),
            manifest: None,
            repo_digests: Vec::new(),
            layers,
            created: None,
        };
        ImageDetails {
            summary: image::ImageSummary {
                id,
                repo_tags: Vec::new(),
                repo_digests: Vec::new(),
                size: record.size(),
                created: None,
            },
            record,
            config: Default::default(),
        }
    }

    #[test]
    fn shared_size_counts_the_layers_another_image_holds() {
        let base = image_of("base", &[("os", 100)]);
        let app = image_of("app", &[("os", 100), ("app", 7)]);
        let alone = image_of("alone", &[("other", 50), ("other", 50)]);
        let sizes = shared_sizes(&[base.clone(), app.clone(), alone.clone()]);
        assert_eq!(sizes[&base.summary.id.to_string()], 100);
        assert_eq!(sizes[&app.summary.id.to_string()], 100);
        // A blob an image lists twice is not shared with anyone.
        assert_eq!(sizes[&alone.summary.id.to_string()], 0);
        assert_eq!(
            shared_sizes(std::slice::from_ref(&app))[&app.summary.id.to_string()],
            0
        );
    }

    #[test]
    fn prune_filters() {
        assert!(!prune_all("").unwrap());
        assert!(prune_all(r#"{"dangling":{"false":true}}"#).unwrap());
        assert!(!prune_all(r#"{"dangling":{"true":true}}"#).unwrap());
        assert_eq!(prune_all(r#"{"until":{"1h":true}}"#).unwrap_err().status(), 501);
        assert_eq!(prune_all(r#"{"nope":{"x":true}}"#).unwrap_err().status(), 400);
    }
}
