//! Arbitrary request bodies and query strings through the router over the fake backend: each
//! request body is a valid Docker request with a few parts replaced by hostile JSON (huge and
//! negative numbers, wrong types, deep nesting, unicode, empty strings), so the conversion code
//! behind the first checks is reached. Every answer must be a status with a message — never a
//! panic, never a 5xx for bad input — and what is accepted must read back and be accepted again.

#![allow(clippy::unwrap_used)]

mod common;
mod support;

use common::{FakeBackend, MANAGER_ID};
use http::{Method, StatusCode};
use proptest::prelude::*;
use serde_json::{Value, json};
use support::router::{Answer, create, get, post, send};

/// A service spec using most of the fields the conversion reads.
fn service_seed() -> Value {
    json!({
        "Name": "web",
        "Labels": {"team": "a"},
        "TaskTemplate": {
            "ContainerSpec": {
                "Image": "busybox:1", "Command": ["sh"], "Args": ["-c", "sleep 1000"],
                "Env": ["A=1"], "Dir": "/", "User": "root", "Hostname": "h", "Init": false,
                "Labels": {"l": "v"}, "StopSignal": "SIGTERM", "StopGracePeriod": 10_000_000_000i64,
                "Healthcheck": {"Test": ["CMD", "true"], "Interval": 1_000_000_000i64,
                                "Timeout": 1_000_000_000i64, "Retries": 3, "StartPeriod": 0},
                "Mounts": [{"Type": "tmpfs", "Target": "/tmp", "TmpfsOptions": {"SizeBytes": 1024}}],
                "DNSConfig": {"Nameservers": ["1.1.1.1"]},
                "Secrets": [], "Configs": [], "Ulimits": [{"Name": "nofile", "Soft": 10, "Hard": 20}],
                "Sysctls": {"net.core.somaxconn": "1024"}, "CapabilityAdd": ["CAP_NET_ADMIN"]
            },
            "Resources": {"Limits": {"NanoCPUs": 1_000_000_000i64, "MemoryBytes": 67_108_864, "Pids": 10},
                          "Reservations": {"NanoCPUs": 100_000_000, "MemoryBytes": 8_388_608}},
            "RestartPolicy": {"Condition": "on-failure", "Delay": 5_000_000_000i64, "MaxAttempts": 3,
                              "Window": 1_000_000_000i64},
            "Placement": {"Constraints": ["node.role==manager"], "Preferences": [{"Spread": {"SpreadDescriptor": "node.labels.zone"}}],
                          "MaxReplicas": 2, "Platforms": [{"Architecture": "amd64", "OS": "linux"}]},
            "Networks": [],
            "LogDriver": {"Name": "json-file", "Options": {"max-size": "1m"}},
            "ForceUpdate": 1
        },
        "Mode": {"Replicated": {"Replicas": 2}},
        "UpdateConfig": {"Parallelism": 1, "Delay": 1_000_000_000i64, "FailureAction": "pause",
                         "Monitor": 5_000_000_000i64, "MaxFailureRatio": 0.5, "Order": "stop-first"},
        "RollbackConfig": {"Parallelism": 1, "Delay": 0, "FailureAction": "continue",
                           "Monitor": 1_000_000_000i64, "MaxFailureRatio": 0, "Order": "start-first"},
        "EndpointSpec": {"Mode": "vip", "Ports": []}
    })
}

fn network_seed() -> Value {
    json!({
        "Name": "net", "Driver": "overlay", "Attachable": true, "Internal": false, "Ingress": false,
        "CheckDuplicate": true, "EnableIPv6": false, "Labels": {"a": "b"}, "Options": {"encrypted": ""},
        "IPAM": {"Driver": "default", "Config": [{"Subnet": "10.9.0.0/24", "Gateway": "10.9.0.1",
                                                 "IPRange": "10.9.0.0/25", "AuxiliaryAddresses": {}}],
                 "Options": {}},
        "ConfigFrom": null, "Scope": "swarm"
    })
}

fn payload_seed() -> Value {
    json!({"Name": "pw", "Labels": {"a": "b"}, "Data": "aGVsbG8=", "Templating": null})
}

fn swarm_spec_seed() -> Value {
    json!({
        "Name": "default", "Labels": {},
        "Orchestration": {"TaskHistoryRetentionLimit": 5},
        "Raft": {"SnapshotInterval": 10000, "KeepOldSnapshots": 0, "LogEntriesForSlowFollowers": 500,
                 "ElectionTick": 10, "HeartbeatTick": 1},
        "Dispatcher": {"HeartbeatPeriod": 5_000_000_000i64},
        "CAConfig": {"NodeCertExpiry": 7_776_000_000_000_000i64, "ExternalCAs": [], "ForceRotate": 0},
        "TaskDefaults": {},
        "EncryptionConfig": {"AutoLockManagers": false}
    })
}

fn init_seed() -> Value {
    json!({
        "ListenAddr": "0.0.0.0:2377", "AdvertiseAddr": "10.0.0.1:2377", "DataPathAddr": "",
        "DataPathPort": 4789, "DefaultAddrPool": ["10.0.0.0/8"], "SubnetSize": 24,
        "ForceNewCluster": false, "Spec": swarm_spec_seed()
    })
}

fn join_seed() -> Value {
    json!({
        "ListenAddr": "0.0.0.0:2377", "AdvertiseAddr": "10.0.0.9", "DataPathAddr": "",
        "RemoteAddrs": ["10.0.0.1:2377"], "JoinToken": common::WORKER_TOKEN
    })
}

fn node_seed() -> Value {
    json!({"Name": "n", "Labels": {"zone": "a"}, "Role": "manager", "Availability": "active"})
}

fn container_seed() -> Value {
    json!({
        "Image": "busybox", "Cmd": ["sleep", "1"], "Env": ["A=1"], "Tty": false, "OpenStdin": false,
        "WorkingDir": "/", "Labels": {"a": "b"}, "StopSignal": "SIGTERM", "StopTimeout": 10,
        "Healthcheck": {"Test": ["CMD", "true"], "Interval": 1_000_000_000i64, "Retries": 1},
        "HostConfig": {"NetworkMode": "default", "Memory": 67_108_864, "NanoCpus": 1_000_000_000i64,
                       "ConsoleSize": [24, 80], "AutoRemove": false, "Init": false},
        "NetworkingConfig": {"EndpointsConfig": {}}
    })
}

fn exec_seed() -> Value {
    json!({"AttachStdin": false, "AttachStdout": true, "AttachStderr": true, "Tty": false,
           "Cmd": ["ls"], "Env": ["A=1"], "WorkingDir": "/", "User": "", "Privileged": false,
           "DetachKeys": "ctrl-p,ctrl-q", "ConsoleSize": [24, 80]})
}

/// A hostile JSON value: the numbers and strings conversions trip on, shapes of every kind,
/// and nesting deeper than serde's recursion limit.
fn hostile() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(json!(null)),
        any::<bool>().prop_map(Value::from),
        Just(json!(i64::MIN)),
        Just(json!(i64::MAX)),
        Just(json!(u64::MAX)),
        Just(json!(-1)),
        Just(json!(0)),
        Just(json!(1)),
        Just(json!(1e308)),
        Just(json!(-1e308)),
        Just(json!(0.5)),
        Just(json!(-9_223_372_036_854_775_807i64)),
        Just(json!(4_294_967_296u64)),
        any::<i64>().prop_map(Value::from),
        Just(json!("")),
        Just(json!("-1")),
        Just(json!("9999999999999999999999")),
        Just(json!("/")),
        Just(json!("..")),
        Just(json!("a=b")),
        Just(json!("é✓\u{0}\u{202e}")),
        Just(json!("x".repeat(5000))),
        "\\PC{0,12}".prop_map(Value::from),
        Just(deep(200)),
        Just(deep(60)),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[A-Za-z]{0,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Arrays nested `depth` deep.
fn deep(depth: usize) -> Value {
    (0..depth).fold(json!(1), |v, _| json!([v]))
}

/// One change to a JSON document: the path picks children by index (modulo their count),
/// then the node there is replaced, removed, or given a new key.
#[derive(Debug, Clone)]
struct Mutation {
    path: Vec<usize>,
    action: usize,
    key: String,
    value: Value,
}

fn mutation() -> impl Strategy<Value = Mutation> {
    (
        prop::collection::vec(any::<usize>(), 0..6),
        0..3usize,
        "[A-Z][A-Za-z]{0,10}",
        hostile(),
    )
        .prop_map(|(path, action, key, value)| Mutation {
            path,
            action,
            key,
            value,
        })
}

fn apply(doc: &mut Value, m: &Mutation) {
    let mut node = doc;
    for (depth, step) in m.path.iter().enumerate() {
        let children = match &*node {
            Value::Object(o) => o.len(),
            Value::Array(a) => a.len(),
            _ => 0,
        };
        // Stop early at random depths too, so shallow parts are hit as often as deep ones.
        if children == 0 || (depth > 0 && step % 5 == 0) {
            break;
        }
        node = match node {
            Value::Object(o) => o.values_mut().nth(step % children).unwrap(),
            Value::Array(a) => &mut a[step % children],
            _ => unreachable!(),
        };
    }
    match (m.action, node) {
        (1, Value::Object(o)) if !o.is_empty() => {
            let key = o.keys().nth(m.key.len() % o.len()).unwrap().clone();
            o.remove(&key);
        }
        (2, Value::Object(o)) => {
            o.insert(m.key.clone(), m.value.clone());
        }
        (_, node) => *node = m.value.clone(),
    }
}

fn mutated(seed: Value, mutations: &[Mutation]) -> String {
    let mut doc = seed;
    for m in mutations {
        apply(&mut doc, m);
    }
    doc.to_string()
}

/// Bad input is a 4xx with a message; 5xx only for what the fake daemon cannot do
/// (501), the state it is in (503), or a version other than the object's current one:
/// dockerd answers that with 500 "update out of sequence" (SwarmKit's error reaches it
/// untyped), and so does shoal.
fn check_answer(what: &str, body: &str, answer: &Answer) -> Result<(), TestCaseError> {
    let status = answer.status;
    let out_of_sequence =
        status == StatusCode::INTERNAL_SERVER_ERROR && answer.message() == "update out of sequence";
    prop_assert!(
        status.as_u16() < 500
            || status == StatusCode::NOT_IMPLEMENTED
            || status == StatusCode::SERVICE_UNAVAILABLE
            || out_of_sequence,
        "{what}: {status} for {body}: {}",
        answer.text()
    );
    if status.is_client_error() || status.is_server_error() {
        let plain = answer.header("content-type").starts_with("text/plain");
        prop_assert!(
            plain || !answer.message().is_empty(),
            "{what}: no message: {}",
            answer.text()
        );
    }
    Ok(())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn service_create_and_update_take_any_json(mutations in prop::collection::vec(mutation(), 1..4)) {
        let body = mutated(service_seed(), &mutations);
        runtime().block_on(async {
            let backend = FakeBackend::new();
            let answer = post(&backend, "/v1.47/services/create", &body).await;
            check_answer("create", &body, &answer)?;
            if answer.status == StatusCode::CREATED {
                // Accepted: it reads back, and its own spec is accepted again unchanged.
                let id = answer.json()["ID"].as_str().unwrap().to_string();
                let shown = get(&backend, &format!("/v1.47/services/{id}")).await;
                prop_assert_eq!(shown.status, StatusCode::OK);
                let shown = shown.json();
                let version = shown["Version"]["Index"].as_u64().unwrap();
                let spec = shown["Spec"].to_string();
                let again = post(&backend, &format!("/v1.47/services/{id}/update?version={version}"), &spec).await;
                prop_assert_eq!(again.status, StatusCode::OK, "{} -> {}: {}", body, spec, again.text());
                let after = get(&backend, &format!("/v1.47/services/{id}")).await.json();
                prop_assert_eq!(&after["Spec"], &shown["Spec"], "{}", body);
            }
            // The same body as an update of an existing service.
            let id = create(&backend, "existing", 1).await;
            let version = get(&backend, &format!("/v1.47/services/{id}")).await.json()["Version"]["Index"]
                .as_u64()
                .unwrap();
            let answer = post(&backend, &format!("/v1.47/services/{id}/update?version={version}"), &body).await;
            check_answer("update", &body, &answer)
        })?;
    }

    #[test]
    fn other_create_bodies_take_any_json(
        which in 0..8usize,
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        let (uri, seed) = match which {
            0 => ("/v1.47/networks/create".to_string(), network_seed()),
            1 => ("/v1.47/secrets/create".to_string(), payload_seed()),
            2 => ("/v1.47/configs/create".to_string(), payload_seed()),
            3 => ("/v1.47/swarm/update?version=1".to_string(), swarm_spec_seed()),
            4 => (format!("/v1.47/nodes/{MANAGER_ID}/update?version=1"), node_seed()),
            5 => ("/v1.47/containers/create?name=c1".to_string(), container_seed()),
            6 => ("/v1.47/swarm/init".to_string(), init_seed()),
            _ => ("/v1.47/swarm/join".to_string(), join_seed()),
        };
        let body = mutated(seed, &mutations);
        runtime().block_on(async {
            let backend = FakeBackend::new();
            let answer = post(&backend, &uri, &body).await;
            check_answer(&uri, &body, &answer)?;
            if which == 0 && answer.status == StatusCode::CREATED {
                let id = answer.json()["Id"].as_str().unwrap().to_string();
                let shown = get(&backend, &format!("/v1.47/networks/{id}")).await;
                prop_assert_eq!(shown.status, StatusCode::OK);
            }
            Ok::<(), TestCaseError>(())
        })?;
    }

    #[test]
    fn exec_create_takes_any_json(mutations in prop::collection::vec(mutation(), 1..4)) {
        let body = mutated(exec_seed(), &mutations);
        runtime().block_on(async {
            let backend = FakeBackend::new();
            let answer = post(&backend, "/v1.47/containers/abc/exec", &body).await;
            check_answer("exec", &body, &answer)
        })?;
    }

    #[test]
    fn query_strings_take_anything(
        which in 0..14usize,
        filters in hostile(),
        // Characters a URI may hold unencoded (`{}[]"` may not: no client sends them, and
        // `filters` carries them encoded), so nearly every case is a request.
        raw in "[a-zA-Z0-9._%:,=&+-]{0,40}",
        number in prop_oneof![Just("-1".to_string()), Just("18446744073709551616".to_string()),
                              Just("9223372036854775807".to_string()), Just("1e400".to_string()),
                              Just("".to_string()), Just("all".to_string()), "[0-9.-]{0,22}"],
    ) {
        let encoded: String = url_encode(&filters.to_string());
        let path = match which {
            0 => format!("/v1.47/nodes?filters={encoded}"),
            1 => format!("/v1.47/services?filters={encoded}&status={raw}"),
            2 => format!("/v1.47/tasks?filters={encoded}"),
            3 => format!("/v1.47/networks?filters={encoded}"),
            4 => format!("/v1.47/secrets?filters={encoded}"),
            5 => format!("/v1.47/configs?filters={encoded}"),
            6 => format!("/v1.47/images/json?filters={encoded}&all={raw}"),
            7 => format!("/v1.47/containers/json?filters={encoded}&limit={number}&all=1"),
            8 => format!("/v1.47/events?filters={encoded}&since={number}&until=1"),
            9 => format!("/v1.47/services/web/logs?stdout=1&tail={number}&since={number}&until={number}"),
            10 => format!("/v1.47/networks/prune?filters={encoded}"),
            11 => format!("/v1.47/swarm/update?version={number}&rotateWorkerToken={raw}"),
            12 => format!("/v1.47/nodes/{MANAGER_ID}/update?version={number}"),
            _ => format!("/v1.47/services/web/update?version={number}&registryAuthFrom={raw}"),
        };
        prop_assume!(path.parse::<http::Uri>().is_ok());
        let method = if matches!(which, 10..=13) { Method::POST } else { Method::GET };
        let body = if matches!(which, 11..=13) { Some(service_seed().to_string()) } else { None };
        runtime().block_on(async {
            let backend = FakeBackend::new();
            create(&backend, "web", 1).await;
            let answer = tokio::time::timeout(
                std::time::Duration::from_secs(5),
                send(&backend, method, &path, body.as_deref()),
            )
            .await;
            // A live stream (events without `until` in the past, logs with follow) is not an answer to wait for.
            if let Ok(answer) = answer {
                check_answer(&path, "", &answer)?;
            }
            Ok::<(), TestCaseError>(())
        })?;
    }
}

fn url_encode(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The seeds themselves are accepted, so mutations start from requests that reach the
/// conversions' far ends rather than failing on their first field.
#[tokio::test]
async fn the_seeds_are_accepted() {
    let backend = FakeBackend::new();
    let answer = post(&backend, "/v1.47/services/create", &service_seed().to_string()).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text());
    for (uri, seed) in [
        ("/v1.47/networks/create".to_string(), network_seed()),
        ("/v1.47/secrets/create".to_string(), payload_seed()),
        ("/v1.47/configs/create".to_string(), payload_seed()),
        ("/v1.47/swarm/update?version=1".to_string(), swarm_spec_seed()),
        (format!("/v1.47/nodes/{MANAGER_ID}/update?version=1"), node_seed()),
        ("/v1.47/containers/create?name=c1".to_string(), container_seed()),
    ] {
        let answer = post(&backend, &uri, &seed.to_string()).await;
        // The fake daemon runs no containers: a 501 from it means the body passed the checks.
        assert!(
            answer.status.is_success() || answer.status == StatusCode::NOT_IMPLEMENTED,
            "{uri}: {} {}",
            answer.status,
            answer.text()
        );
    }
}

/// Found by the fuzzer: a valid create whose tasks fit no node (here a reservation of more CPU
/// than any node has) is accepted, as dockerd accepts it, and its tasks wait pending; the fake
/// daemon answered 500 while its simulated rollout waited for them.
#[test]
fn a_service_whose_tasks_fit_no_node_is_created() {
    let mut seed = service_seed();
    seed["TaskTemplate"]["Resources"]["Reservations"] = json!({"NanoCPUs": i64::MAX});
    assert_created(&seed);
}

/// Creates a service from `spec` on a fresh fake daemon, which must answer 201.
fn assert_created(spec: &Value) {
    runtime().block_on(async {
        let backend = FakeBackend::new();
        let answer = post(&backend, "/v1.47/services/create", &spec.to_string()).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text());
    });
}

/// Found by the fuzzer: a swarm update that changes `CAConfig.ForceRotate` starts a root CA
/// rotation, cross-signed by the current root's key; the fake daemon's key was a placeholder,
/// so it answered 500.
#[test]
fn a_swarm_update_that_forces_a_root_rotation_is_accepted() {
    let mut spec = swarm_spec_seed();
    spec["CAConfig"]["ForceRotate"] = json!(i64::MAX);
    let body = spec.to_string();
    runtime().block_on(async {
        let backend = FakeBackend::new();
        let answer = post(&backend, "/v1.47/swarm/update?version=1", &body).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
        assert!(
            !get(&backend, "/v1.47/swarm")
                .await
                .text()
                .contains(&backend.ca_key_line())
        );
    });
}

/// Found by the fuzzer: a create whose update config waits for ages (a monitor period of
/// `i64::MAX` nanoseconds) is accepted, as dockerd accepts it; the fake daemon answered 500
/// while its simulated clock waited for that period.
#[test]
fn a_service_with_an_endless_update_monitor_is_created() {
    let mut seed = service_seed();
    seed["UpdateConfig"]["Monitor"] = json!(i64::MAX);
    assert_created(&seed);
}
