#![allow(clippy::unwrap_used)]

use super::*;
use types::service::{RestartCondition, ServiceMode, UpdateOrder};

fn options(dir: &Path, env: &[(&str, &str)]) -> Options {
    Options {
        namespace: "st".into(),
        dir: dir.to_path_buf(),
        env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
    }
}

const FULL: &str = r#"
version: "3.8"
x-common: &common
  image: "app:${TAG:-1}"
  environment:
    MODE: prod
services:
  db:
    <<: *common
    command: ["sleep", 1000]
    networks:
      back:
        aliases: [mysql]
    secrets:
      - source: pw
        target: db_password
        mode: 0400
    healthcheck:
      test: "nc -z localhost 3306"
      interval: 2s
      retries: 3
    deploy:
      placement:
        constraints: [node.labels.db == yes]
        preferences: [{spread: node.labels.zone}]
      resources:
        limits: {cpus: "0.5", memory: 256M}
        reservations: {memory: 64M}
  web:
    image: web:$TAG
    entrypoint: sh -c 'echo "hi there"'
    environment: [DB=db, FROM_ENV]
    depends_on:
      db: {condition: service_healthy}
    ports: ["8080:80", {target: 443, published: 8443, mode: host}]
    configs: [site]
    volumes: ["data:/var/lib", "./html:/html:ro", {type: tmpfs, target: /tmp, tmpfs: {size: 1M}}]
    build: .
    restart: always
    x-note: mine
    deploy:
      replicas: ${REPLICAS}
      labels: [tier=front]
      update_config: {parallelism: 2, delay: 10s, order: start-first}
      restart_policy: {condition: on-failure, max_attempts: 3}
  agent:
    image: busybox
    deploy: {mode: global}
networks:
  back:
    driver: overlay
    attachable: true
  outside:
    external: true
volumes:
  data:
secrets:
  pw:
    file: ./pw.txt
  ext:
    external: true
    name: real_ext
configs:
  site:
    content: "hello $$world"
"#;

fn full() -> Stack {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pw.txt"), "s3cret").unwrap();
    std::fs::write(dir.path().join(".env"), "TAG=2\nREPLICAS=1\n").unwrap();
    load(
        FULL,
        "stack.yml",
        &options(dir.path(), &[("REPLICAS", "3"), ("FROM_ENV", "e")]),
    )
    .unwrap()
}

#[test]
fn a_full_file_converts_as_docker_would() {
    let stack = full();
    let order: Vec<&str> = stack.services.iter().map(|s| s.key.as_str()).collect();
    assert_eq!(order, ["agent", "db", "web"], "db before web: web depends on it");
    let db = &stack.services[1].spec;
    assert_eq!(db.name, "st_db");
    assert_eq!(db.labels[NAMESPACE_LABEL], "st");
    assert_eq!(db.labels[IMAGE_LABEL], "app:2", ".env's TAG");
    let c = &db.task.container;
    assert_eq!(c.args, ["sleep", "1000"]);
    assert_eq!(c.env, ["MODE=prod"]);
    assert_eq!(c.labels[NAMESPACE_LABEL], "st");
    let hc = c.healthcheck.as_ref().unwrap();
    assert_eq!(hc.test, ["CMD-SHELL", "nc -z localhost 3306"]);
    assert_eq!((hc.interval, hc.retries), (2_000_000_000, 3));
    let extra: Value = serde_json::from_str(&c.extra).unwrap();
    assert_eq!(
        extra["Secrets"][0],
        serde_json::json!({"SecretName": "st_pw", "File": {"Name": "db_password", "UID": "0", "GID": "0", "Mode": 0o400}})
    );
    assert_eq!(db.task.networks[0].target, "st_back");
    assert_eq!(db.task.networks[0].aliases, ["mysql", "db"]);
    assert_eq!(db.task.placement.constraints, ["node.labels.db == yes"]);
    assert_eq!(db.task.placement.preferences, ["node.labels.zone"]);
    assert_eq!(db.task.resources.limits.nano_cpus, 500_000_000);
    assert_eq!(db.task.resources.limits.memory_bytes, 256 << 20);
    assert_eq!(db.task.resources.reservations.memory_bytes, 64 << 20);
    assert_eq!(db.mode, ServiceMode::Replicated { replicas: 1 });

    let web = &stack.services[2];
    assert_eq!(
        web.depends_on,
        [Dependency {
            service: "st_db".into(),
            condition: Condition::Healthy
        }]
    );
    let spec = &web.spec;
    assert_eq!(
        spec.mode,
        ServiceMode::Replicated { replicas: 3 },
        "the process env wins over .env"
    );
    assert_eq!(spec.task.container.image, "web:2");
    assert_eq!(spec.task.container.command, ["sh", "-c", "echo \"hi there\""]);
    assert_eq!(spec.task.container.env, ["DB=db", "FROM_ENV=e"]);
    assert_eq!(spec.labels["tier"], "front");
    assert_eq!(spec.task.networks[0].target, "st_default");
    let ports = &spec.endpoint.as_ref().unwrap().ports;
    assert_eq!((ports[0].published_port, ports[0].target_port), (8080, 80));
    assert_eq!(
        (ports[1].published_port, ports[1].publish_mode.as_str()),
        (8443, "host")
    );
    let update = spec.update.unwrap();
    assert_eq!(
        (update.parallelism, update.delay, update.order),
        (2, 10_000_000_000, UpdateOrder::StartFirst)
    );
    assert_eq!(spec.task.restart.condition, RestartCondition::OnFailure);
    assert_eq!(spec.task.restart.max_attempts, 3);
    let extra: Value = serde_json::from_str(&spec.task.container.extra).unwrap();
    assert_eq!(extra["Configs"][0]["ConfigName"], "st_site");
    assert_eq!(extra["Configs"][0]["File"]["Name"], "/site");
    assert_eq!(
        extra["Mounts"][0],
        serde_json::json!({"Type": "volume", "Source": "st_data", "Target": "/var/lib", "ReadOnly": false,
                           "VolumeOptions": {"Labels": {"com.docker.stack.namespace": "st"}}})
    );
    assert_eq!(extra["Mounts"][1]["Type"], "bind");
    assert!(
        extra["Mounts"][1]["Source"]
            .as_str()
            .unwrap()
            .ends_with("/./html")
    );
    assert_eq!(extra["Mounts"][2]["TmpfsOptions"]["SizeBytes"], 1 << 20);

    assert_eq!(stack.services[0].spec.mode, ServiceMode::Global);

    let nets: Vec<&str> = stack.networks.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(nets, ["st_back", "st_default"]);
    assert!(stack.networks[0].attachable);
    assert_eq!(stack.networks[0].labels[NAMESPACE_LABEL], "st");
    assert_eq!(stack.external_networks, ["outside"]);
    assert_eq!(stack.secrets[0].name, "st_pw");
    assert_eq!(stack.secrets[0].data.0, b"s3cret");
    assert_eq!(stack.external_secrets, ["real_ext"]);
    assert_eq!(stack.configs[0].data.0, b"hello $world");
}

#[test]
fn named_volumes_carry_the_stack_label_driver_and_nocopy_as_docker_stack_deploy() {
    let dir = tempfile::tempdir().unwrap();
    let text = r#"
services:
  app:
    image: busybox
    volumes:
      - data:/data
      - {type: volume, source: cache, target: /cache, volume: {nocopy: true}}
      - outside:/ext
      - {type: volume, target: /anon, volume: {nocopy: true}}
volumes:
  data:
    labels: {tier: db}
  cache:
    driver: nfs
    driver_opts: {type: nfs}
  outside:
    external: true
"#;
    let stack = load(text, "s.yml", &options(dir.path(), &[])).unwrap();
    assert!(stack.warnings.is_empty(), "{:?}", stack.warnings);
    let extra: Value = serde_json::from_str(&stack.services[0].spec.task.container.extra).unwrap();
    let mounts = &extra["Mounts"];
    assert_eq!(
        mounts[0]["VolumeOptions"],
        serde_json::json!({"Labels": {"com.docker.stack.namespace": "st", "tier": "db"}})
    );
    assert_eq!(
        mounts[1]["VolumeOptions"],
        serde_json::json!({"Labels": {"com.docker.stack.namespace": "st"}, "NoCopy": true,
                           "DriverConfig": {"Name": "nfs", "Options": {"type": "nfs"}}})
    );
    assert_eq!(mounts[2]["Source"], "outside");
    assert!(mounts[2].get("VolumeOptions").is_none());
    assert_eq!(mounts[3]["VolumeOptions"], serde_json::json!({"NoCopy": true}));
}

#[test]
fn every_ignored_key_is_warned_about_and_x_keys_are_not() {
    let stack = full();
    let w = stack.warnings.join("\n");
    assert!(w.contains("services.web.build is not supported"), "{w}");
    assert!(w.contains("services.web.restart is not supported"), "{w}");
    assert!(!w.contains("x-"), "{w}");
    assert_eq!(stack.warnings.len(), 2, "{w}");

    let dir = tempfile::tempdir().unwrap();
    let text = "services:\n  a:\n    image: i\n    ports: [{target: 80, bogus: 1}]\n    networks: {n: {ipv4_address: 10.0.0.9}}\nnetworks: {n: {}}\n";
    let stack = load(text, "f", &options(dir.path(), &[])).unwrap();
    let w = stack.warnings.join("\n");
    assert!(w.contains("services.a.ports.bogus"), "{w}");
    assert!(w.contains("services.a.networks.n.ipv4_address"), "{w}");
}

#[test]
fn unset_variables_warn() {
    let dir = tempfile::tempdir().unwrap();
    let stack = load(
        "services:\n  a:\n    image: i:$NOPE\n",
        "f",
        &options(dir.path(), &[]),
    )
    .unwrap();
    assert_eq!(stack.services[0].spec.task.container.image, "i:");
    assert!(
        stack.warnings[0].contains("NOPE variable is not set"),
        "{:?}",
        stack.warnings
    );
}

#[test]
fn bad_input_gives_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let opts = options(dir.path(), &[]);
    let err = |text: &str| load(text, "f.yml", &opts).unwrap_err().to_string();
    assert!(
        err("services: [").starts_with("f.yml: "),
        "{}",
        err("services: [")
    );
    assert_eq!(err("- a\n- b\n"), "f.yml: top-level object must be a mapping");
    assert!(
        err("services:\n  a:\n    image: ${X:?needed}\n")
            .contains("required variable X is missing a value: needed")
    );
    assert!(
        err("services:\n  a:\n    image: $\n").contains("invalid interpolation format for services.a.image")
    );
    assert!(err("services:\n  a:\n    build: .\n").contains("services.a: an image is needed"));
    assert!(
        err("services:\n  a:\n    image: i\n    deploy: {replicas: many}\n").contains("non-negative integer")
    );
    assert!(
        err("services:\n  a:\n    image: i\n    networks: [nope]\n").contains("undefined network \"nope\"")
    );
    assert!(
        err("services:\n  a:\n    image: i\n    secrets: [nope]\n").contains("undefined secret \"nope\"")
    );
    assert!(err("services:\n  a:\n    image: i\n    depends_on: [b]\n").contains("\"b\" is not defined"));
    assert!(
        err("services:\n  a: {image: i, depends_on: [b]}\n  b: {image: i, depends_on: [a]}\n")
            .contains("dependency cycle among services a, b")
    );
    assert!(
        err("services:\n  a: {image: i, depends_on: {b: {condition: service_healthy}}}\n  b: {image: i}\n")
            .contains("has no healthcheck")
    );
    // Swarm's default restart condition (any) starts every ended task again.
    assert!(
        err("services:\n  a: {image: i, depends_on: {b: {condition: service_completed_successfully}}}\n  b: {image: i}\n")
            .contains("\"b\" never completes")
    );
    assert!(
        err("services:\n  a: {image: i, depends_on: {b: {condition: service_done}}}\n  b: {image: i}\n")
            .contains("service_completed_successfully)")
    );
    assert!(
        err("services:\n  a: {image: i, deploy: {mode: global, replicas: 2}}\n").contains("replicated mode")
    );
    assert!(err("services:\n  a: {image: i, ports: ['127.0.0.1:80:80']}\n").contains("host address"));
    assert!(err("secrets:\n  s: {file: ./missing}\n").contains("missing"));
    assert!(err("networks:\n  n: {driver: bridge}\n").contains("not supported"));
    let bad_name = load(
        "services: {}",
        "f",
        &Options {
            namespace: "bad/name".into(),
            ..opts.clone()
        },
    );
    assert!(bad_name.unwrap_err().to_string().contains("invalid stack name"));
}

#[test]
fn a_billion_laughs_is_refused_not_expanded() {
    let mut text =
        String::from("x-a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n");
    for i in 0..9 {
        let prev = if i == 0 {
            "a".to_string()
        } else {
            format!("a{}", i - 1)
        };
        text.push_str(&format!(
            "x-a{i}: &a{i} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]\n"
        ));
    }
    text.push_str("services: {}\n");
    let dir = tempfile::tempdir().unwrap();
    assert!(load(&text, "f", &options(dir.path(), &[])).is_err());
}

#[test]
fn the_file_on_disk_reads_its_dot_env() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("stack.yml");
    std::fs::write(&file, "services:\n  a: {image: \"busybox:${TAG}\"}\n").unwrap();
    std::fs::write(dir.path().join(".env"), "TAG=musl\n").unwrap();
    let stack = load_file(&file, "s", BTreeMap::new()).unwrap();
    assert_eq!(stack.services[0].spec.task.container.image, "busybox:musl");
    assert_eq!(stack.services[0].spec.name, "s_a");
}

#[test]
fn service_completed_successfully_waits_for_a_dependency_that_can_complete() {
    let dir = tempfile::tempdir().unwrap();
    let opts = options(dir.path(), &[]);
    for b in [
        "{image: i, deploy: {restart_policy: {condition: none}}}",
        "{image: i, deploy: {restart_policy: {condition: on-failure}}}",
        "{image: i, deploy: {mode: replicated-job}}",
    ] {
        let text = format!(
            "services:\n  a: {{image: i, depends_on: {{b: {{condition: service_completed_successfully}}}}}}\n  b: {b}\n"
        );
        let stack = load(&text, "f.yml", &opts).unwrap();
        assert_eq!(stack.services[0].spec.name, "st_b", "{b}");
        assert_eq!(
            stack.services[1].depends_on,
            [Dependency {
                service: "st_b".into(),
                condition: Condition::CompletedSuccessfully
            }],
            "{b}"
        );
    }
}
