//! Hostile compose input: random text and random YAML-shaped token soups never panic; bombs
//! (aliases, nesting, interpolation that multiplies a variable) and odd `.env` files end in a
//! clear error within bounded memory.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use compose::{Error, Options, load};
use proptest::prelude::*;

fn options(env: &[(&str, &str)]) -> Options {
    Options {
        namespace: "st".into(),
        dir: std::path::PathBuf::from("/nonexistent-compose-dir"),
        env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
    }
}

/// Pieces that, glued together, make text a YAML parser and the compose model both chew on.
const TOKENS: &[&str] = &[
    "version: '3.8'\n",
    "services:\n",
    "  web:\n",
    "    image: busybox\n",
    "    image: $A\n",
    "    command: ${A:-x}\n",
    "    command: ${A:?boom}\n",
    "    deploy:\n",
    "      replicas: ",
    "      resources: {limits: {cpus: '",
    "      restart_policy: {delay: ",
    "      update_config: {parallelism: -1, delay: 1e400}\n",
    "    ports: [\"",
    "8080:80",
    "65536:-1/udp",
    "    healthcheck: {interval: ",
    "    environment: [",
    "    secrets: [",
    "    networks: {",
    "    volumes: [\"",
    "    ulimits: {nofile: ",
    "    stop_grace_period: ",
    "networks:\n",
    "secrets:\n",
    "  s: {file: /etc/passwd}\n",
    "  s: {file: ../../../../x}\n",
    "configs:\n",
    "x-a: &a ",
    "*a",
    "<<: *a\n",
    "[",
    "]",
    "{",
    "}",
    ", ",
    ": ",
    "- ",
    "\n",
    "  ",
    "'",
    "\"",
    "!!binary ",
    "!!str ",
    "0o777",
    "0777",
    "-9223372036854775809",
    "18446744073709551616",
    "1h2m3.5s",
    "-1s",
    ".inf",
    "~",
    "null",
    "é✓",
    "\u{0}",
    "\u{feff}",
    "$",
    "$$",
    "${",
    "}",
    "#",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_text_never_panics(text in "\\PC{0,200}") {
        let _ = load(&text, "random.yml", &options(&[("A", "a")]));
    }

    #[test]
    fn token_soups_never_panic(picks in prop::collection::vec(0..TOKENS.len(), 0..60)) {
        let text: String = picks.iter().map(|&i| TOKENS[i]).collect();
        let _ = load(&text, "soup.yml", &options(&[("A", "a")]));
    }

    #[test]
    fn a_service_with_any_scalar_in_any_field_never_panics(
        field in prop::sample::select(vec![
            "image", "command", "entrypoint", "user", "working_dir", "hostname", "stop_signal",
            "stop_grace_period", "environment", "labels", "ports", "deploy.replicas",
            "deploy.mode", "deploy.resources.limits.cpus", "deploy.resources.limits.memory",
            "deploy.resources.limits.pids", "deploy.restart_policy.delay",
            "deploy.restart_policy.max_attempts", "deploy.restart_policy.window",
            "deploy.update_config.parallelism", "deploy.update_config.delay",
            "deploy.update_config.max_failure_ratio", "deploy.update_config.monitor",
            "deploy.placement.max_replicas_per_node", "deploy.endpoint_mode",
            "healthcheck.interval", "healthcheck.timeout", "healthcheck.retries",
            "healthcheck.start_period", "ulimits.nofile", "ulimits.nproc.soft", "sysctls",
            "tmpfs", "dns", "extra_hosts", "cap_add", "init", "read_only", "logging.options",
            "volumes", "secrets", "configs", "networks", "depends_on", "env_file",
        ]),
        value in prop::sample::select(vec![
            "-1", "0", "1e400", "-9223372036854775808", "99999999999999999999", "''", "\"\"",
            "[]", "{}", "[[[[1]]]]", "{a: {b: {c: 1}}}", "null", "~", "true", "-1s", "1.5h",
            "999999999999h", "0.0000000001s", "-0.5", "nan", ".inf", "-.inf", "0x7fffffff",
            "'é✓'", "'a=b=c'", "'/'", "'..'", "'1:2:3:4:5'", "'-1:-1'", "'65536:80'",
            "[a, 1, {x: y}]", "{cpus: '-1'}", "'1e10G'", "'-1m'", "'99999999999P'",
        ]),
    ) {
        // Nest the value under the field's dotted path, inside one otherwise valid service.
        let parts: Vec<&str> = field.split('.').collect();
        let mut yaml = String::from("services:\n  web:\n    image: busybox\n");
        for (depth, part) in parts.iter().enumerate() {
            let indent = "  ".repeat(depth + 2);
            if depth + 1 == parts.len() {
                yaml.push_str(&format!("{indent}{part}: {value}\n"));
            } else {
                yaml.push_str(&format!("{indent}{part}:\n"));
            }
        }
        let _ = load(&yaml, "field.yml", &options(&[]));
    }
}

#[test]
fn an_alias_bomb_is_refused() {
    let mut text =
        String::from("x-a0: &a0 [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n");
    for i in 1..12 {
        let p = i - 1;
        text.push_str(&format!(
            "x-a{i}: &a{i} [*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p}]\n"
        ));
    }
    text.push_str("services:\n  web:\n    image: busybox\n    labels: *a11\n");
    let err = load(&text, "bomb.yml", &options(&[])).unwrap_err();
    assert!(matches!(err, Error::Yaml { .. }), "{err}");
}

#[test]
fn deep_nesting_is_refused_without_overflowing_the_stack() {
    for open in ["[", "{a: ", "- "] {
        let depth = 100_000;
        let text = if open == "- " {
            (0..depth)
                .map(|d| format!("{}- \n", " ".repeat(d % 200)))
                .collect::<String>()
        } else {
            format!("services: {}", open.repeat(depth))
        };
        // A refusal of any kind, no abort: a stack overflow would kill the test process.
        let _ = load(&text, "deep.yml", &options(&[]));
    }
    let nested_labels = format!(
        "services:\n  web:\n    image: busybox\n    labels: {{a: {}1{}}}\n",
        "[".repeat(200),
        "]".repeat(200)
    );
    assert!(load(&nested_labels, "deep.yml", &options(&[])).is_err());
}

#[test]
fn interpolation_that_multiplies_a_variable_is_refused() {
    // 1 MiB in one variable, referenced 4096 times: 4 GiB if expanded.
    let big = "x".repeat(1 << 20);
    let refs = "$B".repeat(4096);
    let text = format!("services:\n  web:\n    image: busybox\n    command: \"{refs}\"\n");
    let err = load(&text, "amp.yml", &options(&[("B", &big)])).unwrap_err();
    assert!(err.to_string().contains("interpolat"), "{err}");
    // The same through an alias that repeats the interpolated string many times.
    let mut text = format!("x-s: &s \"{}\"\nx-l: &l [", "$B".repeat(64));
    text.push_str(&vec!["*s"; 200].join(","));
    text.push_str("]\nservices:\n  web:\n    image: busybox\n    command: *l\n");
    assert!(load(&text, "amp.yml", &options(&[("B", &big)])).is_err());
    // An ordinary file with the same variable is fine.
    let text = "services:\n  web:\n    image: busybox\n    command: [\"echo\", \"$B\"]\n";
    load(text, "ok.yml", &options(&[("B", &big)])).unwrap();
}

#[test]
fn odd_env_files_are_refused_or_read_never_panicking() {
    let cases: &[&[u8]] = &[
        b"\xef\xbb\xbfA=1\n",
        b"A=1\r\nB=2\r\n",
        b"=value\n",
        b"A\n",
        b"A='unterminated\n",
        b"A=\"unterminated\\\n",
        b"A=\"\\",
        b"export\n",
        b"export =1\n",
        b"A=\x00\x01\n",
        b"\xff\xfe\xfd=1\n",
        b"A=${A}\n",
        b"A.B=1\n",
        b"1A=1\n",
        b"A=v # c # d\n",
        b"A=\"x\"trailing\n",
        b"A='x'trailing\n",
    ];
    for (i, bytes) in cases.iter().enumerate() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".env"), bytes).unwrap();
        let opts = Options {
            namespace: "st".into(),
            dir: dir.path().to_path_buf(),
            env: BTreeMap::new(),
        };
        let text = "services:\n  web:\n    image: busybox\n    command: [\"$A\"]\n";
        match load(text, "env.yml", &opts) {
            Ok(_) => {}
            Err(e) => assert!(!e.to_string().is_empty(), "case {i}"),
        }
    }
    // An oversized `.env` is refused by size, not read whole.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".env"), vec![b'#'; (1 << 20) + 1]).unwrap();
    let opts = Options {
        namespace: "st".into(),
        dir: dir.path().to_path_buf(),
        env: BTreeMap::new(),
    };
    assert!(load("services: {}\n", "env.yml", &opts).is_err());
}
