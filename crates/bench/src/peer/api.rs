//! The one Docker API client both sides of the comparison are measured through: HTTP/1.1
//! over a unix socket, one kept-alive connection per benchmark client, JSON as
//! `serde_json::Value`.
//!
//! Not `api::Client`: that one pins `/v1.47`, and Debian's dockerd 20.10 stops at API 1.41
//! ("client version 1.47 is too new"). Both dockerd and shoal accept `/v1.41`, so the same
//! requests go to both.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, header};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde_json::Value;

/// The API version every request names; the newest Debian's dockerd 20.10 serves.
const VERSION: &str = "1.41";

/// How long one request may take before it counts as failed.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// An error status from the daemon, with its message.
#[derive(Debug)]
pub struct Status {
    /// HTTP status code.
    pub code: u16,
    /// The daemon's `message`, or the body.
    pub message: String,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "status {}: {}", self.code, self.message)
    }
}

impl std::error::Error for Status {}

impl Status {
    /// An optimistic write that lost to another (dockerd: "update out of sequence").
    pub fn is_conflict(&self) -> bool {
        self.code == 409 || self.message.contains("out of sequence")
    }
}

/// A connection to one daemon's API socket, reopened when it breaks.
pub struct Conn {
    socket: PathBuf,
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl Conn {
    /// A connection to `socket`, opened on first use.
    pub fn new(socket: &Path) -> Conn {
        Conn {
            socket: socket.to_path_buf(),
            sender: None,
        }
    }

    async fn sender(&mut self) -> anyhow::Result<&mut SendRequest<Full<Bytes>>> {
        if self.sender.as_ref().is_none_or(|s| s.is_closed()) {
            let stream = tokio::net::UnixStream::connect(&self.socket).await?;
            let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            self.sender = Some(sender);
        }
        self.sender
            .as_mut()
            .ok_or_else(|| anyhow::anyhow!("no connection"))
    }

    /// One request; an error status comes back as a [`Status`] inside the error.
    pub async fn call(&mut self, method: Method, path: &str, body: Option<&Value>) -> anyhow::Result<Value> {
        let request = Request::builder()
            .method(method)
            .uri(format!("/v{VERSION}{path}"))
            .header(header::HOST, "api.moby.localhost")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(
                body.map(|b| b.to_string()).unwrap_or_default(),
            )))?;
        let exchange = async {
            let sender = self.sender().await?;
            sender.ready().await?;
            let response = sender.send_request(request).await?;
            let code = response.status().as_u16();
            let bytes = response.into_body().collect().await?.to_bytes();
            anyhow::Ok((code, bytes))
        };
        let (code, bytes) = match tokio::time::timeout(REQUEST_TIMEOUT, exchange).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(e)) => {
                self.sender = None;
                return Err(e.context(format!("{path} via {}", self.socket.display())));
            }
            Err(_) => {
                self.sender = None;
                anyhow::bail!(
                    "{path} via {}: no answer in {REQUEST_TIMEOUT:?}",
                    self.socket.display()
                );
            }
        };
        let value: Value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or(Value::Null)
        };
        if code >= 400 {
            let message = value
                .get("message")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned());
            return Err(Status { code, message }.into());
        }
        Ok(value)
    }

    /// `GET /nodes`.
    pub async fn nodes(&mut self) -> anyhow::Result<Vec<Value>> {
        match self.call(Method::GET, "/nodes", None).await? {
            Value::Array(nodes) => Ok(nodes),
            other => anyhow::bail!("node list is not an array: {other}"),
        }
    }

    /// `GET /nodes/{id}`: the node's version and spec.
    pub async fn node(&mut self, id: &str) -> anyhow::Result<(u64, Value)> {
        let node = self.call(Method::GET, &format!("/nodes/{id}"), None).await?;
        let version = node
            .pointer("/Version/Index")
            .and_then(Value::as_u64)
            .ok_or_else(|| anyhow::anyhow!("node {id} has no version"))?;
        Ok((version, node.get("Spec").cloned().unwrap_or(Value::Null)))
    }

    /// `POST /nodes/{id}/update?version=…`.
    pub async fn node_update(&mut self, id: &str, version: u64, spec: &Value) -> anyhow::Result<()> {
        self.call(
            Method::POST,
            &format!("/nodes/{id}/update?version={version}"),
            Some(spec),
        )
        .await
        .map(|_| ())
    }

    /// The node update `docker node update --label-add key=value` makes: read, change, write.
    pub async fn label_add(&mut self, id: &str, key: &str, value: &str) -> anyhow::Result<()> {
        let (version, mut spec) = self.node(id).await?;
        set_label(&mut spec, key, value);
        self.node_update(id, version, &spec).await
    }

    /// Host name of the leader as this daemon's node list shows it.
    pub async fn leader(&mut self) -> Option<String> {
        let nodes = self.nodes().await.ok()?;
        nodes
            .iter()
            .find(|n| n.pointer("/ManagerStatus/Leader").and_then(Value::as_bool) == Some(true))
            .map(hostname)
    }
}

/// A node's host name.
pub fn hostname(node: &Value) -> String {
    node.pointer("/Description/Hostname")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// A node's ID.
pub fn node_id(node: &Value) -> String {
    node.get("ID")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// A node's state (`ready`, `down`, …).
pub fn node_state(node: &Value) -> String {
    node.pointer("/Status/State")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// Sets `Labels[key] = value` in a node spec, making the map if absent.
pub fn set_label(spec: &mut Value, key: &str, value: &str) {
    if !spec.is_object() {
        *spec = Value::Object(Default::default());
    }
    if let Some(obj) = spec.as_object_mut() {
        let labels = obj
            .entry("Labels")
            .or_insert_with(|| Value::Object(Default::default()));
        if !labels.is_object() {
            *labels = Value::Object(Default::default());
        }
        if let Some(l) = labels.as_object_mut() {
            l.insert(key.into(), Value::String(value.into()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn set_label_adds_to_null_and_existing_maps() {
        let mut spec = json!({"Role": "worker", "Labels": null});
        set_label(&mut spec, "a", "1");
        assert_eq!(spec, json!({"Role": "worker", "Labels": {"a": "1"}}));
        set_label(&mut spec, "b", "2");
        assert_eq!(spec["Labels"], json!({"a": "1", "b": "2"}));
        let mut missing = json!({"Role": "manager"});
        set_label(&mut missing, "a", "1");
        assert_eq!(missing["Labels"], json!({"a": "1"}));
    }

    #[test]
    fn conflicts_are_recognised_by_code_or_dockerd_message() {
        assert!(
            Status {
                code: 500,
                message: "rpc error: code = Unknown desc = update out of sequence".into()
            }
            .is_conflict()
        );
        assert!(
            Status {
                code: 409,
                message: "version mismatch".into()
            }
            .is_conflict()
        );
        assert!(
            !Status {
                code: 503,
                message: "The swarm does not have a leader".into()
            }
            .is_conflict()
        );
    }
}
