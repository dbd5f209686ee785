//! `/containers/*` at the edge over a fake backend holding a few task containers: dockerd's
//! name/ID resolution and its errors, `ps` filters, the JSON shapes the docker CLI reads, and
//! kill/stop/wait driving the backend's signal and wait.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use api::backend::{Backend, InitRequest, JoinRequest, LogLine, LogOptions, LogStream, LogTarget, Result};
use api::containers::{ContainerStats, ContainerStatus, ContainerView, container_id};
use api::{ManagerInfo, NodeView, ServiceView, SwarmStatus};
use axum::body::Body;
use futures::stream::{BoxStream, StreamExt};
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use rules::controlapi::cluster::Rotation;
use rules::controlapi::node::NodeFilters;
use rules::controlapi::service::ServiceFilters;
use rules::controlapi::task::TaskFilters;
use serde_json::Value;
use tower::ServiceExt;
use types::{Cluster, ClusterSpec, NodeSpec, ServiceSpec, Task, TaskSpec, Timestamp};

const SECOND: i64 = 1_000_000_000;

/// Containers, and the signals and waits asked of them.
#[derive(Default)]
struct Fake {
    containers: Mutex<Vec<ContainerView>>,
    calls: Mutex<Vec<String>>,
}

fn view(task_id: &str, slot: u64, status: ContainerStatus, created: i64, exit_code: i64) -> ContainerView {
    let mut spec = TaskSpec::default();
    spec.container.image = "127.0.0.1:5000/busybox:latest".into();
    spec.container.labels = BTreeMap::from([("app".to_owned(), "front".to_owned())]);
    spec.container.args = vec!["sleep".into(), "100".into()];
    spec.container.stop_signal = "SIGUSR1".into();
    let mut task = types::testing::task(task_id)
        .version(1)
        .at(Timestamp(created * SECOND))
        .spec(spec)
        .service("svc1", "web")
        .slot(slot)
        .node("node1")
        .build();
    // Only the object times are the test's: no status was reported, so it has no time.
    task.status.timestamp = Timestamp::default();
    ContainerView {
        id: container_id(task_id),
        task: Arc::new(task),
        image_id: "sha256:abcdef0123".into(),
        status,
        pid: if status == ContainerStatus::Running {
            4242
        } else {
            0
        },
        exit_code,
        error: String::new(),
        started_at: Some(Timestamp(created * SECOND)),
        finished_at: (status == ContainerStatus::Exited).then_some(Timestamp((created + 5) * SECOND)),
        argv: vec!["sleep".into(), "100".into()],
        env: vec!["A=1".into()],
        health: None,
        read_at: Timestamp((created + 125) * SECOND),
        networks: Vec::new(),
        writable_layer: None,
    }
}

fn fake() -> Arc<Fake> {
    Arc::new(Fake {
        containers: Mutex::new(vec![
            view("taskaaaaaaaaaaaaaaaaaaaaa", 1, ContainerStatus::Running, 1000, 0),
            view("taskbbbbbbbbbbbbbbbbbbbbb", 2, ContainerStatus::Exited, 2000, 137),
            view("taskccccccccccccccccccccc", 3, ContainerStatus::Running, 3000, 0),
        ]),
        calls: Mutex::new(Vec::new()),
    })
}

fn refuse<T>() -> Result<T> {
    Err(rules::Error::Unimplemented("not in this fake".into()))
}

#[async_trait::async_trait]
impl Backend for Fake {
    fn swarm_status(&self) -> SwarmStatus {
        SwarmStatus {
            state: api::LocalNodeState::Inactive,
            node_id: String::new(),
            node_addr: String::new(),
            control_available: false,
            error: String::new(),
            remote_managers: Vec::new(),
        }
    }
    fn manager_info(&self) -> Option<ManagerInfo> {
        None
    }
    fn hostname(&self) -> String {
        "fake".into()
    }
    async fn swarm_init(&self, _: InitRequest) -> Result<String> {
        refuse()
    }
    async fn swarm_join(&self, _: JoinRequest) -> Result<()> {
        refuse()
    }
    async fn swarm_leave(&self, _: bool) -> Result<()> {
        refuse()
    }
    async fn swarm_inspect(&self) -> Result<Arc<Cluster>> {
        refuse()
    }
    async fn swarm_update(&self, _: u64, _: ClusterSpec, _: Rotation) -> Result<()> {
        refuse()
    }
    async fn swarm_unlock_key(&self) -> Result<String> {
        refuse()
    }
    async fn swarm_unlock(&self, _: String) -> Result<()> {
        refuse()
    }
    async fn nodes(&self, _: NodeFilters) -> Result<Vec<NodeView>> {
        refuse()
    }
    async fn node(&self, _: &str) -> Result<NodeView> {
        refuse()
    }
    async fn node_update(&self, _: &str, _: u64, _: NodeSpec) -> Result<Option<String>> {
        refuse()
    }
    async fn node_remove(&self, _: &str, _: bool) -> Result<()> {
        refuse()
    }
    async fn service_create(&self, _: ServiceSpec) -> Result<(String, Vec<String>)> {
        refuse()
    }
    async fn services(&self, _: ServiceFilters, _: bool) -> Result<Vec<ServiceView>> {
        refuse()
    }
    async fn service(&self, _: &str) -> Result<ServiceView> {
        refuse()
    }
    async fn service_update(&self, _: &str, _: u64, _: ServiceSpec, _: bool) -> Result<Vec<String>> {
        refuse()
    }
    async fn service_remove(&self, _: &str) -> Result<()> {
        refuse()
    }
    async fn tasks(&self, _: TaskFilters) -> Result<Vec<Arc<Task>>> {
        refuse()
    }
    async fn task(&self, _: &str) -> Result<Arc<Task>> {
        refuse()
    }
    async fn logs(&self, _: LogTarget, _: LogOptions) -> Result<BoxStream<'static, LogLine>> {
        refuse()
    }

    async fn containers(&self) -> Result<Vec<ContainerView>> {
        Ok(self.containers.lock().unwrap().clone())
    }
    async fn container_logs(&self, task_id: &str, _: LogOptions) -> Result<BoxStream<'static, LogLine>> {
        let line = |stream, text: &'static str| LogLine {
            timestamp: Timestamp(1000 * SECOND),
            stream,
            line: bytes::Bytes::from_static(text.as_bytes()),
            task_id: task_id.to_owned(),
            node_id: "node1".into(),
            service_id: "svc1".into(),
        };
        let lines = vec![line(LogStream::Stdout, "out"), line(LogStream::Stderr, "err")];
        Ok(futures::stream::iter(lines).boxed())
    }
    async fn container_stats(&self, _: &str) -> Result<ContainerStats> {
        let mut calls = self.calls.lock().unwrap();
        calls.push("stats".into());
        let n = calls.len() as u64;
        Ok(ContainerStats {
            read: Timestamp(n as i64 * SECOND),
            memory_usage: 5 << 20,
            memory_limit: 64 << 20,
            cpu_total: n * 500_000_000,
            system_cpu: n * 2_000_000_000,
            online_cpus: 2,
            pids: 1,
            ..Default::default()
        })
    }
    async fn container_signal(&self, task_id: &str, signal: &str) -> Result<()> {
        self.calls
            .lock()
            .unwrap()
            .push(format!("signal {task_id} {signal}"));
        // The process ends on any signal here.
        for c in self.containers.lock().unwrap().iter_mut() {
            if c.task.id == task_id {
                c.status = ContainerStatus::Exited;
                c.exit_code = 143;
            }
        }
        Ok(())
    }
    async fn container_wait(&self, task_id: &str) -> Result<i64> {
        self.calls.lock().unwrap().push(format!("wait {task_id}"));
        Ok(143)
    }
}

async fn send(backend: &Arc<Fake>, method: Method, uri: &str) -> (StatusCode, Vec<u8>) {
    let router = api::server::router_with_host(backend.clone(), api::host::HostFacts::default());
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .body(Body::empty())
        .unwrap();
    let response = router.oneshot(request).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, body.to_vec())
}

async fn get_json(backend: &Arc<Fake>, uri: &str) -> (StatusCode, Value) {
    let (status, body) = send(backend, Method::GET, uri).await;
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

fn ids(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|c| {
            c["Names"][0]
                .as_str()
                .unwrap()
                .split('.')
                .nth(1)
                .unwrap()
                .to_owned()
        })
        .collect()
}

fn filters(json: &str) -> String {
    format!("/containers/json?all=1&filters={}", urlencode(json))
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn ps_lists_running_containers_newest_first_and_all_with_a() {
    let f = fake();
    let (status, list) = get_json(&f, "/v1.47/containers/json").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ids(&list), ["3", "1"]);
    let first = &list[0];
    assert_eq!(first["Id"], container_id("taskccccccccccccccccccccc"));
    assert_eq!(first["Names"][0], "/web.3.taskccccccccccccccccccccc");
    assert_eq!(first["State"], "running");
    assert_eq!(first["Status"], "Up 2 minutes");
    assert_eq!(first["Labels"]["app"], "front");
    assert_eq!(first["Labels"]["com.docker.swarm.service.name"], "web");
    assert_eq!(
        first["Labels"]["com.docker.swarm.task.id"],
        "taskccccccccccccccccccccc"
    );
    assert_eq!(first["Labels"]["com.docker.swarm.node.id"], "node1");
    assert_eq!(first["Created"], 3000);
    let (_, all) = get_json(&f, "/containers/json?all=1").await;
    assert_eq!(ids(&all), ["3", "2", "1"]);
    assert_eq!(all[1]["Status"], "Exited (137) 2 minutes ago");
    let (_, limited) = get_json(&f, "/containers/json?limit=2").await;
    assert_eq!(ids(&limited), ["3", "2"]);
}

#[tokio::test]
async fn ps_filters_as_dockerd() {
    let f = fake();
    for (json, want) in [
        (r#"{"status":{"exited":true}}"#, vec!["2"]),
        (r#"{"exited":{"137":true}}"#, vec!["2"]),
        (r#"{"name":{"web.1.":true}}"#, vec!["1"]),
        (r#"{"name":{"^/web":true}}"#, vec!["3", "2", "1"]),
        (
            r#"{"label":{"com.docker.swarm.task.id=taskbbbbbbbbbbbbbbbbbbbbb":true}}"#,
            vec!["2"],
        ),
        (r#"{"label":{"app":true}}"#, vec!["3", "2", "1"]),
        (r#"{"label":{"app=back":true}}"#, vec![]),
        (
            r#"{"ancestor":{"127.0.0.1:5000/busybox":true}}"#,
            vec!["3", "2", "1"],
        ),
        (r#"{"ancestor":{"other":true}}"#, vec![]),
        (
            r#"{"since":{"web.1.taskaaaaaaaaaaaaaaaaaaaaa":true}}"#,
            vec!["3", "2"],
        ),
        (
            r#"{"before":{"web.3.taskccccccccccccccccccccc":true}}"#,
            vec!["2", "1"],
        ),
        (r#"{"health":{"none":true}}"#, vec!["3", "2", "1"]),
        (r#"{"is-task":{"false":true}}"#, vec![]),
    ] {
        let (status, list) = get_json(&f, &filters(json)).await;
        assert_eq!(status, StatusCode::OK, "{json}");
        assert_eq!(ids(&list), want, "{json}");
    }
    let id_prefix = &container_id("taskaaaaaaaaaaaaaaaaaaaaa")[..10];
    let (_, list) = get_json(&f, &filters(&format!(r#"{{"id":{{"{id_prefix}":true}}}}"#))).await;
    assert_eq!(ids(&list), ["1"]);
    for (json, code, message) in [
        (
            r#"{"status":{"sleeping":true}}"#,
            StatusCode::BAD_REQUEST,
            "invalid filter 'status=sleeping'",
        ),
        (
            r#"{"foo":{"x":true}}"#,
            StatusCode::BAD_REQUEST,
            "invalid filter 'foo'",
        ),
        (
            r#"{"network":{"x":true}}"#,
            StatusCode::NOT_IMPLEMENTED,
            "'network' is not supported",
        ),
        (
            r#"{"exited":{"x":true}}"#,
            StatusCode::BAD_REQUEST,
            "invalid filter 'exited=x'",
        ),
        (
            r#"{"since":{"nope":true}}"#,
            StatusCode::NOT_FOUND,
            "No such container: nope",
        ),
    ] {
        let (status, body) = get_json(&f, &filters(json)).await;
        assert_eq!(status, code, "{json}: {body}");
        assert!(
            body["message"].as_str().unwrap().contains(message),
            "{json}: {body}"
        );
    }
    let (status, _) = get_json(&f, "/containers/json?size=1").await;
    assert_eq!(status, StatusCode::NOT_IMPLEMENTED);
}

#[tokio::test]
async fn containers_resolve_by_id_name_and_unique_prefix() {
    let f = fake();
    let id = container_id("taskaaaaaaaaaaaaaaaaaaaaa");
    for key in [
        id.clone(),
        id[..12].to_owned(),
        "web.1.taskaaaaaaaaaaaaaaaaaaaaa".to_owned(),
        "%2Fweb.1.taskaaaaaaaaaaaaaaaaaaaaa".to_owned(),
    ] {
        let (status, body) = get_json(&f, &format!("/containers/{key}/json")).await;
        assert_eq!(status, StatusCode::OK, "{key}: {body}");
        assert_eq!(body["Id"], id);
    }
    let (status, body) = get_json(&f, "/containers/nope/json").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["message"], "No such container: nope");
    // Some one-digit prefix is shared by two of the three IDs, or all three differ.
    let ids: Vec<String> = ["a", "b", "c"]
        .iter()
        .map(|c| container_id(&format!("task{}", c.repeat(21))))
        .collect();
    let shared = ids
        .iter()
        .map(|i| &i[..1])
        .find(|p| ids.iter().filter(|i| i.starts_with(*p)).count() > 1);
    if let Some(prefix) = shared {
        let (status, body) = get_json(&f, &format!("/containers/{prefix}/json")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(
            body["message"],
            format!("multiple IDs found with provided prefix: {prefix}")
        );
    }
}

#[tokio::test]
async fn inspect_has_dockerds_shape() {
    let f = fake();
    let (_, c) = get_json(&f, "/containers/web.2.taskbbbbbbbbbbbbbbbbbbbbb/json").await;
    assert_eq!(c["Name"], "/web.2.taskbbbbbbbbbbbbbbbbbbbbb");
    assert_eq!(c["Path"], "sleep");
    assert_eq!(c["Args"], serde_json::json!(["100"]));
    assert_eq!(c["Image"], "sha256:abcdef0123");
    let state = &c["State"];
    assert_eq!(state["Status"], "exited");
    assert_eq!(state["Running"], false);
    assert_eq!(state["ExitCode"], 137);
    assert_eq!(state["Pid"], 0);
    assert_eq!(state["OOMKilled"], false);
    assert_eq!(state["StartedAt"], "1970-01-01T00:33:20Z");
    assert_eq!(state["FinishedAt"], "1970-01-01T00:33:25Z");
    assert!(state.get("Health").is_none());
    let config = &c["Config"];
    assert_eq!(config["Image"], "127.0.0.1:5000/busybox:latest");
    assert_eq!(config["Hostname"], "taskbbbbbbbb");
    assert_eq!(config["Env"], serde_json::json!(["A=1"]));
    assert_eq!(config["Cmd"], serde_json::json!(["sleep", "100"]));
    assert_eq!(config["Entrypoint"], Value::Null);
    assert_eq!(
        config["Labels"]["com.docker.swarm.task.name"],
        "web.2.taskbbbbbbbbbbbbbbbbbbbbb"
    );
    assert_eq!(c["HostConfig"]["RestartPolicy"]["Name"], "no");
    assert!(c["NetworkSettings"]["Networks"].is_object());
}

#[tokio::test]
async fn inspect_shows_each_network_of_a_container_on_several() {
    let f = fake();
    let endpoint = |name: &str, n: u8| api::containers::ContainerNetwork {
        name: name.into(),
        network_id: format!("net{n}"),
        endpoint_id: "e".repeat(64),
        ip_address: std::net::Ipv4Addr::new(10, 0, n, 5),
        prefix_len: 24,
        gateway: Some(std::net::Ipv4Addr::new(10, 0, n, 1)),
        mac_address: format!("02:42:0a:00:{n:02x}:05"),
        aliases: vec!["c1".into()],
    };
    f.containers.lock().unwrap()[2].networks = vec![endpoint("front", 1), endpoint("back", 2)];
    let (_, c) = get_json(&f, "/containers/web.3.taskccccccccccccccccccccc/json").await;
    let networks = c["NetworkSettings"]["Networks"].as_object().unwrap();
    assert_eq!(networks.keys().collect::<Vec<_>>(), ["back", "front"]);
    let back = &networks["back"];
    assert_eq!(back["NetworkID"], "net2");
    assert_eq!(back["IPAddress"], "10.0.2.5");
    assert_eq!(back["IPPrefixLen"], 24);
    assert_eq!(back["Gateway"], "10.0.2.1");
    assert_eq!(back["MacAddress"], "02:42:0a:00:02:05");
    assert_eq!(back["Aliases"], serde_json::json!(["c1"]));
    assert_eq!(back["EndpointID"].as_str().unwrap().len(), 64);
}

#[tokio::test]
async fn kill_stop_and_wait_drive_the_backend() {
    let f = fake();
    let (status, body) = send(
        &f,
        Method::POST,
        "/containers/web.2.taskbbbbbbbbbbbbbbbbbbbbb/kill",
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(String::from_utf8_lossy(&body).contains("is not running"));
    let (status, _) = send(
        &f,
        Method::POST,
        "/containers/web.2.taskbbbbbbbbbbbbbbbbbbbbb/stop",
    )
    .await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    let (status, _) = send(
        &f,
        Method::POST,
        "/containers/web.1.taskaaaaaaaaaaaaaaaaaaaaa/kill?signal=HUP",
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // stop uses the task's stop signal, then waits.
    let (status, _) = send(
        &f,
        Method::POST,
        "/containers/web.3.taskccccccccccccccccccccc/stop?t=3",
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        *f.calls.lock().unwrap(),
        [
            "signal taskaaaaaaaaaaaaaaaaaaaaa HUP",
            "signal taskccccccccccccccccccccc SIGUSR1",
            "wait taskccccccccccccccccccccc",
        ]
    );
    // Not running any more: wait answers the recorded exit without waiting.
    let (status, body) = send(
        &f,
        Method::POST,
        "/containers/web.2.taskbbbbbbbbbbbbbbbbbbbbb/wait",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let answer: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(answer["StatusCode"], 137);
    let (status, _) = send(
        &f,
        Method::POST,
        "/containers/web.2.taskbbbbbbbbbbbbbbbbbbbbb/wait?condition=bogus",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn stats_without_stream_carry_a_previous_sample() {
    let f = fake();
    let (status, s) = get_json(
        &f,
        "/containers/web.1.taskaaaaaaaaaaaaaaaaaaaaa/stats?stream=false",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{s}");
    assert_eq!(s["name"], "/web.1.taskaaaaaaaaaaaaaaaaaaaaa");
    assert_eq!(s["memory_stats"]["usage"], 5 << 20);
    assert_eq!(s["memory_stats"]["limit"], 64 << 20);
    assert_eq!(s["pids_stats"]["current"], 1);
    assert_eq!(s["cpu_stats"]["online_cpus"], 2);
    // Two samples: the CLI's CPU % is the delta between them.
    assert_eq!(s["cpu_stats"]["cpu_usage"]["total_usage"], 1_000_000_000u64);
    assert_eq!(s["precpu_stats"]["cpu_usage"]["total_usage"], 500_000_000u64);
    let (_, one) = get_json(
        &f,
        "/containers/web.1.taskaaaaaaaaaaaaaaaaaaaaa/stats?stream=false&one-shot=true",
    )
    .await;
    assert_eq!(one["precpu_stats"]["cpu_usage"]["total_usage"], 0);
    let (_, stopped) = get_json(
        &f,
        "/containers/web.2.taskbbbbbbbbbbbbbbbbbbbbb/stats?stream=false",
    )
    .await;
    assert_eq!(stopped["memory_stats"]["usage"], 0);
}

#[tokio::test]
async fn logs_are_multiplexed_for_a_non_tty_container() {
    let f = fake();
    let (status, body) = send(
        &f,
        Method::GET,
        "/v1.47/containers/web.1.taskaaaaaaaaaaaaaaaaaaaaa/logs?stdout=1&stderr=1",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(&body[..8], [1, 0, 0, 0, 0, 0, 0, 4]);
    assert_eq!(&body[8..12], b"out\n");
    assert_eq!(&body[12..20], [2, 0, 0, 0, 0, 0, 0, 4]);
    let (status, _) = send(
        &f,
        Method::GET,
        "/containers/web.1.taskaaaaaaaaaaaaaaaaaaaaa/logs",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, body) = send(&f, Method::GET, "/containers/nope/logs?stdout=1").await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "{}",
        String::from_utf8_lossy(&body)
    );
}

#[tokio::test]
async fn stats_stream_a_sample_per_interval_with_the_previous_as_precpu() {
    let f = fake();
    let router = api::server::router_with_host(f.clone(), api::host::HostFacts::default());
    let request = Request::builder()
        .uri("/containers/web.1.taskaaaaaaaaaaaaaaaaaaaaa/stats")
        .body(Body::empty())
        .unwrap();
    let response = router.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.into_body();
    let mut samples = Vec::new();
    while samples.len() < 2 {
        let frame = body.frame().await.unwrap().unwrap();
        let data = frame.into_data().unwrap();
        for line in data.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            samples.push(serde_json::from_slice::<Value>(line).unwrap());
        }
    }
    assert_eq!(samples[0]["precpu_stats"]["cpu_usage"]["total_usage"], 0);
    assert_eq!(
        samples[1]["precpu_stats"]["cpu_usage"]["total_usage"],
        samples[0]["cpu_stats"]["cpu_usage"]["total_usage"]
    );
}

#[tokio::test]
async fn restart_stops_the_task_container() {
    let f = fake();
    let (status, _) = send(
        &f,
        Method::POST,
        "/containers/web.1.taskaaaaaaaaaaaaaaaaaaaaa/restart?t=1",
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        *f.calls.lock().unwrap(),
        [
            "signal taskaaaaaaaaaaaaaaaaaaaaa SIGUSR1",
            "wait taskaaaaaaaaaaaaaaaaaaaaa"
        ]
    );
}
