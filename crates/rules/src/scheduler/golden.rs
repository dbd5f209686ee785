//! Golden scenarios: `testdata/*.txt` hold a cluster and, after `---`, the decisions expected.
//! `SHOAL_UPDATE_GOLDEN=1 cargo test -p manager golden` rewrites the expectations.
//!
//! ```text
//! node <id> [cpu=<cores>] [mem=<MiB>] [label.<k>=<v>] [engine.<k>=<v>] [state=ready|down]
//!           [avail=active|pause|drain] [role=worker|manager] [os=<os>] [arch=<arch>] [addr=<ip>]
//!           [gres.<kind>=<count>|<unit>,<unit>…]…
//! service <id> [port=<proto>/<published>]…
//! spec <name> [cpu=<cores>] [mem=<MiB>] [constraint=<expr>]… [pref=<label key>]… [max=<n>]
//!           [platform=<os>/<arch>]… [image=<ref>] [cmd=<word>]… [gres.<kind>=<count>]…
//! tasks <service>:<version> <spec> <count> [prefix=<p>] [node=<id>] [state=<s>] [desired=<s>]
//!           [err=<text without spaces>] [given.<kind>=<count>|<unit>,<unit>…]…
//! ```
//!
//! The expectations also list, per placed task, the generic units it was given
//! (`given <task>: gpu=A,B ssd=2`).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use types::{Availability, NodeState, Object, Platform, Role, TaskSpec, TaskState};

use super::fixture::{node, service, snapshot, task};
use super::{Decisions, schedule};

fn parse_state(word: &str) -> NodeState {
    match word {
        "ready" => NodeState::Ready,
        "down" => NodeState::Down,
        "disconnected" => NodeState::Disconnected,
        _ => NodeState::Unknown,
    }
}

fn cores(v: &str) -> i64 {
    (v.parse::<f64>().unwrap_or(0.0) * 1e9) as i64
}

/// The `<prefix><kind>=<count>` (or `=<unit>,<unit>…`) options of a line.
fn generic_with(prefix: &str, opts: &[(&str, &str)]) -> Vec<types::generic::GenericResource> {
    opts.iter()
        .flat_map(|(k, v)| {
            let kind = k.strip_prefix(prefix);
            let list: Vec<types::generic::GenericResource> = match (kind, v.parse::<i64>()) {
                (None, _) => Vec::new(),
                (Some(kind), Ok(value)) => vec![types::generic::GenericResource::Discrete {
                    kind: kind.into(),
                    value,
                }],
                (Some(kind), Err(_)) => v
                    .split(',')
                    .map(|unit| types::generic::GenericResource::Named {
                        kind: kind.into(),
                        value: unit.into(),
                    })
                    .collect(),
            };
            list
        })
        .collect()
}

/// The `gres.<kind>=…` options of a line.
fn generic(opts: &[(&str, &str)]) -> Vec<types::generic::GenericResource> {
    generic_with("gres.", opts)
}

fn mib(v: &str) -> i64 {
    v.parse::<i64>().unwrap_or(0) << 20
}

/// Units held by tasks already on nodes (`given.<kind>=…` of a `tasks` line).
type Given = Vec<(String, Vec<types::generic::GenericResource>)>;

/// Builds the snapshot a scenario describes: its objects and the units its tasks hold.
fn build(input: &str) -> (Vec<Object>, Given) {
    let mut objects = Vec::new();
    let mut given: Given = Vec::new();
    let mut specs: HashMap<String, Arc<TaskSpec>> = HashMap::new();
    for line in input
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let mut words = line.split_whitespace();
        let kind = words.next().unwrap_or("");
        let words: Vec<&str> = words.collect();
        let opts = || words.iter().filter_map(|w| w.split_once('='));
        match kind {
            "node" => {
                let mut n = node(words[0]);
                let gres = generic(&opts().collect::<Vec<_>>());
                if !gres.is_empty() {
                    n.description.engine.labels.insert(
                        types::generic::NODE_LABEL.into(),
                        types::generic::to_docker_json(&gres).to_string(),
                    );
                }
                for (k, v) in opts() {
                    match k {
                        _ if k.starts_with("gres.") => {}
                        "cpu" => n.description.resources.nano_cpus = cores(v),
                        "mem" => n.description.resources.memory_bytes = mib(v),
                        "state" => n.status.state = parse_state(v),
                        "avail" => n.spec.availability = Availability::parse(v).unwrap_or_default(),
                        "role" => n.role = Role::parse(v).unwrap_or_default(),
                        "os" => n.description.platform.os = v.into(),
                        "arch" => n.description.platform.architecture = v.into(),
                        "addr" => n.status.addr = v.into(),
                        _ if k.starts_with("label.") => {
                            n.spec.labels.insert(k["label.".len()..].into(), v.into());
                        }
                        _ if k.starts_with("engine.") => {
                            n.description
                                .engine
                                .labels
                                .insert(k["engine.".len()..].into(), v.into());
                        }
                        _ => panic!("unknown node option {k} in {line:?}"),
                    }
                }
                objects.push(Object::Node(n));
            }
            "service" => {
                let ports: Vec<(&str, u32)> = opts()
                    .filter(|(k, _)| *k == "port")
                    .filter_map(|(_, v)| v.split_once('/').map(|(p, n)| (p, n.parse().unwrap_or(0))))
                    .collect();
                objects.push(Object::Service(service(words[0], &ports)));
            }
            "spec" => {
                let mut spec = TaskSpec::default();
                types::generic::set_reserved(&mut spec, &generic(&opts().collect::<Vec<_>>()));
                for (k, v) in opts() {
                    match k {
                        _ if k.starts_with("gres.") => {}
                        "cpu" => spec.resources.reservations.nano_cpus = cores(v),
                        "mem" => spec.resources.reservations.memory_bytes = mib(v),
                        "constraint" => spec.placement.constraints.push(v.into()),
                        "pref" => spec.placement.preferences.push(v.into()),
                        "max" => spec.placement.max_replicas = v.parse().unwrap_or(0),
                        "image" => spec.container.image = v.into(),
                        "cmd" => spec.container.args.push(v.into()),
                        "platform" => {
                            let (os, arch) = v.split_once('/').unwrap_or((v, ""));
                            spec.placement.platforms.push(Platform {
                                os: os.into(),
                                architecture: arch.into(),
                            });
                        }
                        _ => panic!("unknown spec option {k} in {line:?}"),
                    }
                }
                specs.insert(words[0].into(), Arc::new(spec));
            }
            "tasks" => {
                let (svc, version) = words[0].split_once(':').unwrap_or((words[0], "1"));
                let spec = specs
                    .get(words[1])
                    .unwrap_or_else(|| panic!("unknown spec in {line:?}"))
                    .clone();
                let count: usize = words[2].parse().unwrap_or(0);
                let mut prefix = format!("{svc}-");
                let mut template = task("", svc, &spec);
                template.spec_version = version.parse().unwrap_or(1);
                for (k, v) in opts() {
                    match k {
                        "prefix" => prefix = v.into(),
                        "node" => template.node_id = v.into(),
                        "state" => template.status.state = TaskState::parse(v).unwrap_or_default(),
                        "desired" => template.desired_state = TaskState::parse(v).unwrap_or_default(),
                        "err" => template.status.err = v.replace('_', " "),
                        _ if k.starts_with("given.") => {}
                        _ => panic!("unknown tasks option {k} in {line:?}"),
                    }
                }
                let held = generic_with("given.", &opts().collect::<Vec<_>>());
                for i in 0..count {
                    let mut t = template.clone();
                    t.id = format!("{prefix}{i:02}");
                    if !held.is_empty() {
                        given.push((t.id.clone(), held.clone()));
                    }
                    objects.push(Object::Task(t));
                }
            }
            _ => panic!("unknown line {line:?}"),
        }
    }
    (objects, given)
}

/// The snapshot of a scenario, with the units its tasks hold recorded.
fn scenario(input: &str) -> state::State {
    let (objects, given) = build(input);
    let state = snapshot(objects);
    if given.is_empty() {
        return state;
    }
    let txn = state::Txn {
        id: 0,
        ops: vec![state::Op::SetGenericResources(given)],
        now: types::Timestamp(1),
    };
    match state.apply(&txn, 2) {
        Ok((state, _)) => state,
        Err(e) => panic!("fixture does not apply: {e}"),
    }
}

/// The decisions as the expectation section spells them.
fn render(d: &Decisions) -> String {
    let mut out = String::new();
    for (node, tasks) in &d.assignments {
        out.push_str(&format!("assign {node}: {}\n", tasks.join(" ")));
    }
    for (task, reason) in &d.unplaceable {
        out.push_str(&format!("unplaceable {task}: {reason}\n"));
    }
    for (task, units) in &d.given {
        let mut by_kind: Vec<(&str, Vec<String>)> = Vec::new();
        for u in units {
            match by_kind.iter_mut().find(|(k, _)| *k == u.kind()) {
                Some((_, values)) => values.push(u.value_text()),
                None => by_kind.push((u.kind(), vec![u.value_text()])),
            }
        }
        let words: Vec<String> = by_kind
            .into_iter()
            .map(|(kind, values)| format!("{kind}={}", values.join(",")))
            .collect();
        out.push_str(&format!("given {task}: {}\n", words.join(" ")));
    }
    out
}

#[test]
fn golden_scenarios() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/scheduler/testdata");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("testdata")
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    assert!(files.len() >= 5, "scenarios missing in {}", dir.display());
    let update = std::env::var_os("SHOAL_UPDATE_GOLDEN").is_some();
    let mut failed = Vec::new();
    for path in files.iter().filter(|p| p.extension().is_some_and(|e| e == "txt")) {
        let text = std::fs::read_to_string(path).expect("scenario");
        let (input, expected) = text.split_once("\n---\n").unwrap_or((&text, ""));
        let state = scenario(input);
        let got = render(&schedule(&state));
        assert_eq!(
            render(&schedule(&state)),
            got,
            "{}: not deterministic",
            path.display()
        );
        if update {
            std::fs::write(path, format!("{input}\n---\n{got}")).expect("write scenario");
        } else if got.trim() != expected.trim() {
            failed.push(format!(
                "{}:\n--- expected\n{expected}\n--- got\n{got}",
                path.display()
            ));
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}
