//! `/images/*`: list, inspect, pull (`create?fromImage=`), import (`create?fromSrc=-`), load,
//! tag, remove, prune, on this node's image store.
//!
//! ```text
//! pull:   handler ─spawn─► Backend::image_pull ─progress─► channel ─► JSON lines to the client
//!         an error before the manifest is resolved is an HTTP error, later one an error line
//! upload: request body ─► AsyncRead ─► Backend (spooled to the store's disk, never buffered)
//! ```
//!
//! Names may hold slashes (`127.0.0.1:5000/bb:1`), which the docker CLI sends unescaped, so
//! `/images/{name}/json|tag` and `DELETE /images/{name}` share one catch-all route.

use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::response::Response;
use futures::{StreamExt, TryStreamExt};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde::Serialize;
use tokio::sync::mpsc;

use super::AppState;
use super::query::Query;
use super::response::json;
use crate::backend::ImageUpload;
use crate::convert::image as convert;
use crate::error::{Error, Result};
use crate::model;

/// `GET /images/json?filters=…` (`all` and `digests` change nothing here: there are no
/// intermediate images and digests are always listed; `shared-size=1` fills `SharedSize`).
pub async fn list(State(state): State<AppState>, RawQuery(query): RawQuery) -> Result<Response> {
    let query = Query::parse(query.as_deref().unwrap_or(""));
    let args = convert::list_filters(query.get("filters").unwrap_or(""))?;
    let shared = query.flag("shared-size");
    let images = state.backend.images().await.map_err(convert::error)?;
    // Sharing is counted over every image, whatever the filters keep.
    let shared = shared.then(|| convert::shared_sizes(&images));
    let images = convert::select(images, &args)?;
    let out: Vec<model::ImageSummary> = images
        .iter()
        .map(|d| {
            let mut s = convert::summary(d);
            if let Some(size) = shared.as_ref().and_then(|m| m.get(&s.id)) {
                s.shared_size = *size;
            }
            s
        })
        .collect();
    Ok(json(&out))
}

/// `GET|POST|DELETE /images/{name}[/json|/tag]`: the name is everything before the suffix.
pub async fn by_name(
    State(state): State<AppState>,
    method: http::Method,
    axum::extract::Path(rest): axum::extract::Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response> {
    let query = Query::parse(query.as_deref().unwrap_or(""));
    let backend = &state.backend;
    match method {
        http::Method::GET => {
            if let Some(name) = rest.strip_suffix("/json") {
                let d = backend.image_inspect(name).await.map_err(convert::error)?;
                return Ok(json(&convert::inspect(&d)));
            }
            if rest.ends_with("/history") || rest == "get" || rest.ends_with("/get") || rest == "search" {
                return Err(unsupported(&format!("GET /images/{rest}")));
            }
        }
        http::Method::POST => {
            if let Some(name) = rest.strip_suffix("/tag") {
                let repo = query.get("repo").unwrap_or("");
                if repo.is_empty() {
                    return Err(Error::BadRequest("repository name is required".into()));
                }
                let target = match query.get("tag").unwrap_or("") {
                    "" => repo.to_owned(),
                    tag => format!("{repo}:{tag}"),
                };
                backend.image_tag(name, &target).await.map_err(convert::error)?;
                let mut created = Response::new(Body::empty());
                *created.status_mut() = StatusCode::CREATED;
                return Ok(created);
            }
            if rest.ends_with("/push") {
                return Err(unsupported("docker push (POST /images/{name}/push)"));
            }
        }
        http::Method::DELETE => {
            // `noprune` keeps untagged parents; shoal's images have no parent images.
            let force = query.flag("force");
            let removed = backend.image_remove(&rest, force).await.map_err(convert::error)?;
            let out: Vec<model::ImageDeleteItem> = removed.iter().map(convert::removed).collect();
            return Ok(json(&out));
        }
        _ => {}
    }
    Err(Error::PageNotFound)
}

fn unsupported(what: &str) -> Error {
    Error::Backend(rules::Error::Unimplemented(format!(
        "{what} is not supported by shoal"
    )))
}

/// `POST /images/prune?filters=…`.
pub async fn prune(State(state): State<AppState>, RawQuery(query): RawQuery) -> Result<Response> {
    let query = Query::parse(query.as_deref().unwrap_or(""));
    let all = convert::prune_all(query.get("filters").unwrap_or(""))?;
    let (removed, gc) = state.backend.image_prune(all).await.map_err(convert::error)?;
    Ok(json(&model::ImagePruneResponse {
        images_deleted: removed.iter().map(convert::removed).collect(),
        space_reclaimed: gc.bytes,
    }))
}

/// `POST /images/create`: `fromImage` pulls, `fromSrc=-` imports the body.
pub async fn create(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    let query = Query::parse(query.as_deref().unwrap_or(""));
    let tag = query.get("tag").unwrap_or("");
    let from_image = query.get("fromImage").unwrap_or("");
    let from_src = query.get("fromSrc").unwrap_or("");
    let platform = query.get("platform").unwrap_or("");
    if !platform.is_empty() {
        let asked = image::Platform::parse(platform).map_err(convert::error)?;
        let host = image::Platform::host();
        if (asked.os.as_str(), asked.architecture.as_str()) != (host.os.as_str(), host.architecture.as_str())
        {
            return Err(unsupported(&format!(
                "an image for platform {platform} (this node runs {}/{})",
                host.os, host.architecture
            )));
        }
    }
    if !from_image.is_empty() {
        return pull(state, from_image, tag, &headers).await;
    }
    match from_src {
        "-" => {}
        "" => return Err(Error::BadRequest("fromImage or fromSrc is required".into())),
        other => {
            return Err(unsupported(&format!(
                "importing from a URL ({}); send the tar as the request body",
                types::excerpt(other)
            )));
        }
    }
    if !query.get("message").unwrap_or("").is_empty() {
        return Err(unsupported("a commit message on import (docker import -m)"));
    }
    if !query.get("changes").unwrap_or("").is_empty() {
        return Err(unsupported(
            "Dockerfile instructions on import (docker import -c)",
        ));
    }
    let repo = query.get("repo").unwrap_or("");
    let reference = match (repo, tag) {
        ("", _) => None,
        (repo, "") => Some(repo.to_owned()),
        (repo, tag) => Some(format!("{repo}:{tag}")),
    };
    let id = state
        .backend
        .image_import(upload(body), reference)
        .await
        .map_err(convert::error)?;
    Ok(json_lines(vec![line(&Status {
        status: id.to_string(),
    })]))
}

/// `POST /images/load?quiet=…` with a `docker save` archive as the body.
pub async fn load(State(state): State<AppState>, body: Body) -> Result<Response> {
    let loaded = state
        .backend
        .image_load(upload(body))
        .await
        .map_err(convert::error)?;
    let mut lines = Vec::new();
    for image in loaded {
        if image.tags.is_empty() {
            lines.push(line(&Stream {
                stream: format!("Loaded image ID: {}\n", image.id),
            }));
        }
        for tag in &image.tags {
            lines.push(line(&Stream {
                stream: format!("Loaded image: {}\n", convert::familiar(tag)),
            }));
        }
    }
    Ok(json_lines(lines))
}

#[derive(Serialize)]
struct Status {
    status: String,
}

#[derive(Serialize)]
struct Stream {
    stream: String,
}

/// A stream's failure, as dockerd ends a progress stream that failed.
#[derive(Serialize)]
struct ErrorLine {
    #[serde(rename = "errorDetail")]
    detail: ErrorDetail,
    error: String,
}

#[derive(Serialize)]
struct ErrorDetail {
    message: String,
}

fn line<T: Serialize>(value: &T) -> Bytes {
    let mut bytes = serde_json::to_vec(value).unwrap_or_default();
    bytes.push(b'\n');
    Bytes::from(bytes)
}

fn error_line(message: String) -> Bytes {
    line(&ErrorLine {
        detail: ErrorDetail {
            message: message.clone(),
        },
        error: message,
    })
}

fn json_lines(lines: Vec<Bytes>) -> Response {
    stream_response(Body::from(lines.concat()))
}

fn stream_response(body: Body) -> Response {
    let mut response = Response::new(body);
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// The request body as a reader.
fn upload(body: Body) -> ImageUpload {
    let stream = body.into_data_stream().map_err(std::io::Error::other);
    Box::new(tokio_util::io::StreamReader::new(stream))
}

/// What the pull task sends: progress lines, then its end.
enum Event {
    Line(image::Progress),
    Done(image::Result<image::Pulled>),
}

async fn pull(state: AppState, from_image: &str, tag: &str, headers: &HeaderMap) -> Result<Response> {
    let reference = match tag {
        "" => {
            let parsed = types::reference::parse(from_image)
                .map_err(|e| Error::BadRequest(format!("invalid reference format: {e}")))?;
            if parsed.tag.is_none() && parsed.digest.is_none() {
                return Err(unsupported(
                    "pulling every tag of a repository (docker pull --all-tags)",
                ));
            }
            from_image.to_owned()
        }
        t if t.starts_with("sha256:") => format!("{from_image}@{t}"),
        t => format!("{from_image}:{t}"),
    };
    let creds = match headers.get("x-registry-auth") {
        Some(v) => image::Credentials::from_header(
            v.to_str()
                .map_err(|_| Error::BadRequest("X-Registry-Auth is not text".into()))?,
        )
        .map_err(convert::error)?,
        None => image::Credentials::default(),
    };
    // Unbounded, but a pull sends one line per layer step and per 512 KiB downloaded.
    let (tx, mut rx) = mpsc::unbounded_channel();
    let backend = state.backend.clone();
    let progress_tx = tx.clone();
    let task = tokio::spawn(async move {
        let sink = Box::new(move |p| {
            let _ = progress_tx.send(Event::Line(p));
        });
        let done = backend.image_pull(&reference, creds, sink).await;
        let _ = tx.send(Event::Done(done));
    });
    // A client that goes away (Ctrl-C on `docker pull`) cancels the pull, as in dockerd; its
    // partial downloads stay in the store's tmp/ until the next gc.
    let cancel = AbortOnDrop(task.abort_handle());
    // The first line ("Pulling from") comes before the registry is asked; hold it until a
    // second one shows the manifest was found, so a missing image is an HTTP error as in dockerd.
    let mut held = Vec::new();
    while held.len() < 2 {
        match rx.recv().await {
            Some(Event::Line(p)) => held.push(line(&p)),
            Some(Event::Done(Err(e))) => return Err(convert::error(e)),
            Some(Event::Done(Ok(_))) | None => return Ok(json_lines(held)),
        }
    }
    let rest = futures::stream::unfold((rx, cancel), |(mut rx, cancel)| async move {
        match rx.recv().await? {
            Event::Line(p) => Some((line(&p), (rx, cancel))),
            Event::Done(Ok(_)) => None,
            Event::Done(Err(e)) => Some((error_line(e.to_string()), (rx, cancel))),
        }
    });
    let stream = futures::stream::iter(held)
        .chain(rest)
        .map(Ok::<_, std::convert::Infallible>);
    Ok(stream_response(Body::from_stream(stream)))
}

/// `GET /system/df?type=…`: the images (with the bytes each shares with others), this node's
/// containers with their sizes and, on an `oci` node, the volumes with their sizes and users;
/// the build cache list is empty.
pub async fn disk_usage(State(state): State<AppState>, RawQuery(query): RawQuery) -> Result<Response> {
    let query = Query::parse(query.as_deref().unwrap_or(""));
    let types: Vec<(&str, &str)> = query.all("type").collect();
    for (key, value) in &types {
        if !matches!(*value, "image" | "container" | "volume" | "build-cache") {
            return Err(Error::BadRequest(format!("invalid {key} {value}")));
        }
    }
    let wants_volumes = types.is_empty() || types.iter().any(|(_, v)| *v == "volume");
    let volumes = if wants_volumes {
        state
            .backend
            .volumes_usage()
            .await?
            .iter()
            .map(|u| {
                let mut v = crate::convert::volume::to_docker(&u.view);
                v.usage_data = Some(model::VolumeUsageData {
                    size: u.size,
                    ref_count: u.view.refs.len() as i64,
                });
                v
            })
            .collect()
    } else {
        Vec::new()
    };
    let images = state.backend.images().await.map_err(convert::error)?;
    let used = state.backend.images_used().await.map_err(convert::error)?;
    let mut layers = std::collections::BTreeMap::new();
    for d in &images {
        for l in &d.record.layers {
            layers.insert(l.blob.clone(), l.size);
        }
    }
    let shared = convert::shared_sizes(&images);
    let images = convert::select(images, &Default::default())?;
    let summaries = images
        .iter()
        .map(|d| {
            let mut s = convert::summary(d);
            s.containers = used.get(&d.summary.id).map_or(0, |n| *n as i64);
            s.shared_size = shared.get(&s.id).copied().unwrap_or(0);
            s
        })
        .collect();
    let wants_containers = types.is_empty() || types.iter().any(|(_, v)| *v == "container");
    let containers = if wants_containers {
        // A node without containers of its own (no executor's tasks yet) lists none.
        let views = state.backend.containers().await.unwrap_or_default();
        super::containers::sized_summaries(&state, &views).await?
    } else {
        Vec::new()
    };
    Ok(json(&model::DiskUsage {
        layers_size: i64::try_from(layers.values().sum::<u64>()).unwrap_or(i64::MAX),
        images: summaries,
        containers,
        volumes,
        build_cache: Vec::new(),
    }))
}

/// Aborts a task when dropped: the pull ends with the response that streams it.
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
