#![allow(clippy::unwrap_used)]

use serde_json::json;

use super::*;
use crate::{Options, load_all};

fn merged(base: Value, over: Value) -> Value {
    let (Value::Object(mut b), Value::Object(o)) = (base, over) else {
        panic!("documents are mappings");
    };
    files(&mut b, o);
    Value::Object(b)
}

#[test]
fn a_later_file_overrides_scalars_and_merges_mappings_as_docker_does() {
    let out = merged(
        json!({"version": "3.8", "services": {"web": {
            "image": "web:1", "command": ["sleep", "1"], "environment": ["A=1", "B=2"],
            "labels": {"x": "1"},
            "deploy": {"replicas": 2, "labels": ["tier=front"],
                       "resources": {"limits": {"cpus": "0.5", "memory": "64M"}},
                       "placement": {"constraints": ["node.role == manager"]},
                       "update_config": {"parallelism": 1, "order": "stop-first"}},
            "healthcheck": {"test": ["CMD", "true"], "interval": "1s"},
            "dns": "8.8.8.8"}}}),
        json!({"services": {"web": {
            "image": "web:2", "command": ["sleep", "2"], "environment": {"B": "3", "C": null},
            "labels": ["y=2"],
            "deploy": {"replicas": 3, "labels": {"tier": "back"},
                       "resources": {"limits": {"memory": "128M"}},
                       "placement": {"constraints": ["node.labels.zone == a"]},
                       "update_config": {"order": "start-first"}},
            "healthcheck": {"test": ["CMD", "false"]},
            "dns": ["1.1.1.1"]},
            "db": {"image": "db"}}}),
    );
    let web = &out["services"]["web"];
    assert_eq!(web["image"], "web:2");
    assert_eq!(web["command"], json!(["sleep", "2"]), "replaced, not appended");
    assert_eq!(web["environment"], json!({"A": "1", "B": "3", "C": null}));
    assert_eq!(web["labels"], json!({"x": "1", "y": "2"}));
    let d = &web["deploy"];
    assert_eq!(d["replicas"], 3);
    assert_eq!(d["labels"], json!({"tier": "back"}));
    assert_eq!(d["resources"]["limits"], json!({"cpus": "0.5", "memory": "128M"}));
    assert_eq!(
        d["placement"]["constraints"],
        json!(["node.role == manager", "node.labels.zone == a"]),
        "other lists are appended"
    );
    assert_eq!(
        d["update_config"],
        json!({"parallelism": 1, "order": "start-first"})
    );
    assert_eq!(
        web["healthcheck"],
        json!({"test": ["CMD", "false"], "interval": "1s"})
    );
    assert_eq!(web["dns"], json!(["8.8.8.8", "1.1.1.1"]));
    assert_eq!(out["services"]["db"]["image"], "db", "a new service is added");
    assert_eq!(out["version"], "3.8", "left out: kept");
}

#[test]
fn keyed_lists_merge_by_their_key_and_sort_as_docker_writes_them() {
    let out = merged(
        json!({"services": {"web": {
            "secrets": ["b", {"source": "a", "target": "one"}],
            "configs": [{"source": "c", "mode": 0o400}],
            "volumes": ["data:/var/lib", {"type": "tmpfs", "target": "/tmp"}],
            "ports": ["8080:80"],
            "networks": {"front": {"aliases": ["w"]}, "back": null},
            "depends_on": ["db"],
            "logging": {"driver": "json-file", "options": {"max-size": "1m"}},
            "command": ["keep"]}}}),
        json!({"services": {"web": {
            "secrets": [{"source": "a", "target": "two"}],
            "configs": ["c", "d"],
            "volumes": ["other:/var/lib", "/srv"],
            "ports": ["8080:80", "9090:90"],
            "networks": ["front", "extra"],
            "depends_on": {"cache": {"condition": "service_healthy"}},
            "logging": {"options": {"max-file": "2"}},
            "command": []}}}),
    );
    let web = &out["services"]["web"];
    assert_eq!(web["secrets"], json!([{"source": "a", "target": "two"}, "b"]));
    assert_eq!(
        web["configs"],
        json!(["c", "d"]),
        "a later entry replaces the whole entry"
    );
    assert_eq!(
        web["volumes"],
        json!(["/srv", {"type": "tmpfs", "target": "/tmp"}, "other:/var/lib"])
    );
    assert_eq!(web["ports"], json!(["8080:80", "9090:90"]));
    assert_eq!(
        web["networks"],
        json!({"front": {"aliases": ["w"]}, "back": null, "extra": null}),
        "a bare name keeps the earlier options"
    );
    assert_eq!(
        web["depends_on"],
        json!({"db": {"condition": "service_started"}, "cache": {"condition": "service_healthy"}})
    );
    assert_eq!(
        web["logging"],
        json!({"driver": "json-file", "options": {"max-size": "1m", "max-file": "2"}})
    );
    assert_eq!(
        web["command"],
        json!(["keep"]),
        "an empty command does not override"
    );

    let other = merged(
        json!({"services": {"web": {"logging": {"driver": "json-file", "options": {"a": "1"}},
                                    "networks": {"front": {"aliases": ["w"], "ipv4_address": "10.0.0.2"}}}}}),
        json!({"services": {"web": {"logging": {"driver": "syslog"},
                                    "networks": {"front": {"aliases": ["v"]}}}}}),
    );
    let web = &other["services"]["web"];
    assert_eq!(
        web["logging"],
        json!({"driver": "syslog"}),
        "another driver replaces all"
    );
    assert_eq!(
        web["networks"]["front"],
        json!({"aliases": ["v"], "ipv4_address": "10.0.0.2"})
    );
}

#[test]
fn top_level_objects_are_replaced_by_key() {
    let out = merged(
        json!({"networks": {"front": {"driver": "overlay", "attachable": true}, "back": null},
               "secrets": {"pw": {"file": "./a"}}, "x-note": 1}),
        json!({"networks": {"front": {"labels": ["a=b"]}},
               "secrets": {"pw": {"external": true}}, "x-note": 2, "configs": {"c": {"file": "./c"}}}),
    );
    assert_eq!(
        out["networks"],
        json!({"front": {"labels": ["a=b"]}, "back": null}),
        "a later entry replaces the whole entry"
    );
    assert_eq!(out["secrets"], json!({"pw": {"external": true}}));
    assert_eq!(out["configs"], json!({"c": {"file": "./c"}}));
    assert_eq!(out["x-note"], 2);
}

#[test]
fn files_are_interpolated_each_then_merged_into_one_stack() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        namespace: "st".into(),
        dir: dir.path().to_path_buf(),
        env: [("TAG".to_string(), "7".to_string())].into(),
    };
    let base =
        "services:\n  web:\n    image: web:${TAG}\n    deploy: {replicas: 1}\n    environment: [A=1]\n";
    let prod = "services:\n  web:\n    deploy: {replicas: 3}\n    environment: {B: \"${MISSING}\"}\n  db:\n    image: db\n";
    let stack = load_all(&[(base, "base.yml"), (prod, "prod.yml")], &options).unwrap();
    let keys: Vec<&str> = stack.services.iter().map(|s| s.key.as_str()).collect();
    assert_eq!(keys, ["db", "web"]);
    let web = &stack.services[1].spec;
    assert_eq!(web.task.container.image, "web:7");
    assert_eq!(web.mode, types::service::ServiceMode::Replicated { replicas: 3 });
    let mut env = web.task.container.env.clone();
    env.sort();
    assert_eq!(env, ["A=1", "B="]);
    assert_eq!(
        stack.warnings,
        ["the MISSING variable is not set; defaulting to a blank string"]
    );
    let err = load_all(&[(base, "base.yml"), ("- a list", "bad.yml")], &options).unwrap_err();
    assert!(err.to_string().contains("bad.yml"), "{err}");
}
