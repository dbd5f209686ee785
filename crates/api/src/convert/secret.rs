//! Secrets and configs ⇄ Docker's JSON: base64 data in, inspect out (a secret's data is
//! never shown; a config's is, as dockerd does), and the list filters.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rules::controlapi::secret::ListFilters;
use types::Object;

use super::filters::{parse, validate};
use super::time::rfc3339;
use crate::error::{Error, Result};
use crate::model;

/// Filter keys `GET /secrets` and `GET /configs` accept.
const FILTER_KEYS: &[&str] = &["id", "name", "names", "label"];

/// The filters of a list.
pub fn list_filters(text: &str) -> Result<ListFilters> {
    let mut args = parse(text)?;
    validate(&args, FILTER_KEYS)?;
    let mut take = |key: &str| args.remove(key).unwrap_or_default();
    Ok(ListFilters {
        ids: take("id"),
        name_prefixes: take("name"),
        names: take("names"),
        labels: take("label"),
    })
}

/// The payload of a create or update body (`None` when absent).
pub fn data(spec: &model::PayloadSpec) -> Result<Option<Vec<u8>>> {
    spec.data
        .as_deref()
        .map(|text| {
            STANDARD
                .decode(text.trim())
                .map_err(|e| Error::BadRequest(format!("invalid Data: not base64: {e}")))
        })
        .transpose()
}

/// The driver and templating names a body asks for ("" when none).
pub fn plugins(spec: &model::PayloadSpec) -> (&str, &str) {
    (
        spec.driver.as_ref().map(|d| d.name.as_str()).unwrap_or(""),
        spec.templating.as_ref().map(|d| d.name.as_str()).unwrap_or(""),
    )
}

/// Docker's JSON for a secret (no data) or config (with data); `None` for other objects.
pub fn to_docker(object: &Object) -> Option<model::Payload> {
    let (id, meta, name, labels, data) = match object {
        Object::Secret(s) => (&s.id, &s.meta, &s.spec.name, &s.spec.labels, None),
        Object::Config(c) => (
            &c.id,
            &c.meta,
            &c.spec.name,
            &c.spec.labels,
            Some(STANDARD.encode(&c.spec.data.0)),
        ),
        _ => return None,
    };
    Some(model::Payload {
        id: id.clone(),
        version: model::ObjectVersion { index: meta.version },
        created_at: rfc3339(meta.created_at),
        updated_at: rfc3339(meta.updated_at),
        spec: model::PayloadSpec {
            name: name.clone(),
            labels: labels.clone(),
            data,
            driver: None,
            templating: None,
        },
    })
}
