//! `shoal-bench mesh`: the routing mesh and encrypted overlays through shoal, on 3 hosts
//! (issue 13, "Benchmarks"), all in one run.
//!
//! ```text
//!   3 netns hosts, `shoal agent --executor oci` on each, formed with the docker CLI
//!   host 1 runs every server task; host 2 none; the clients sit in host 3 (or a sandbox)
//!   ├─ web, web-rr: busybox httpd published on 8080 / 8081 (8081 route-return)
//!   ├─ sink, sink-rr: nc → dd of=/dev/null published on 8085 / 8086 (8086 route-return)
//!   ├─ web-host, sink-host: the same published in host mode on 8082 / 8087
//!   ├─ host 1's own namespace: busybox httpd on 8090, nc → dd on 8091 (no container)
//!   │    paths: host 3 → host 2's port (task on another host: SNAT, or route-return)
//!   │           host 3 → host 1's port (task on the receiving host)
//!   │           host 3 → host 1's host-mode port (straight to the task's host, no mesh)
//!   │           host 3 → host 1's own server (the underlay alone: the cross-host baseline)
//!   │           host 1's ingress sandbox → the task's ingress address (in-host: no underlay)
//!   │    per round: sequential HTTP/1.0 requests (conn/s, p50, p99), one 1 GiB stream
//!   ├─ overlays `bench-enc` (--opt encrypted) and `bench-plain`: a sink on host 1, a client
//!   │    task on host 2; one stream from the client's namespace to the sink per round, with
//!   │    the agents' CPU (the userspace WireGuard tunnels) and the sender's
//!   └─ BENCHMARKS.md section `mesh`
//! ```

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::cluster::form;
use super::mesh_client::{self as client, Requests, Stream};
use super::mesh_report;
use crate::peer::member::{Member, docker, wait_for};
use crate::peer::netns::Topology;
use crate::peer::shoal_agent::ShoalAgent;

/// Flags of `shoal-bench mesh`.
#[derive(clap::Args)]
pub struct Args {
    /// Rounds of every measurement (medians are reported). One stream's throughput swings
    /// ±25 % between rounds on a 2-core machine: fewer rounds do not tell 0.8 from 0.9.
    #[arg(long, default_value_t = 15)]
    pub rounds: usize,
    /// Sequential HTTP/1.0 requests per path and round.
    #[arg(long, default_value_t = 1000)]
    pub requests: usize,
    /// MiB sent by one stream.
    #[arg(long, default_value_t = 1024)]
    pub stream_mib: usize,
    /// The shoal binary (release build).
    #[arg(long, default_value = "target/release/shoal")]
    pub shoal: PathBuf,
    /// The docker CLI (forms the cluster, creates networks and services).
    #[arg(long, default_value = "docker")]
    pub docker: String,
    /// Report file to update.
    #[arg(long, default_value = "BENCHMARKS.md")]
    pub out: PathBuf,
    /// Measure only the encrypted and plain overlay streams (no mesh services, no requests),
    /// and print their table without writing the report file.
    #[arg(long)]
    pub overlay_only: bool,
}

/// Hosts of the run: 1 runs the servers, 2 receives for another host, 3 holds the clients.
const HOSTS: usize = 3;

/// A busybox httpd answering its host name.
const WEB: &str = "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 80 -h /www";

/// A sink draining each TCP connection with 1 MiB reads (`nc`'s own small reads, not the
/// path, would be the limit otherwise).
const SINK: &str = "exec nc -ll -p 80 -e dd of=/dev/null bs=1M";

/// The label that opts a service's published ports into route-return.
const ROUTE_RETURN: &str = "com.shoal.mesh.client-address=route-return";

/// A path through the mesh (or around it) that the clients measure.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub enum Path3 {
    /// Host 3 → host 2's published port → forwarded to host 1's, and its task (DNAT + SNAT).
    Remote,
    /// The same with route-return (DNAT only, over the ingress overlay; replies routed back
    /// through host 2).
    RemoteRouteReturn,
    /// Host 3 → host 1's published port, the task on host 1 (DNAT only).
    Local,
    /// Host 3 → host 1's host-mode port: the task reached on its own host, no mesh.
    HostMode,
    /// Host 3 → a server in host 1's own namespace: no container, no NAT, the underlay only.
    Underlay,
    /// Host 1's ingress sandbox → the task's ingress address (no NAT, no host hop).
    Direct,
}

impl Path3 {
    /// Every path, in the report's order.
    pub const ALL: [Path3; 6] = [
        Path3::Remote,
        Path3::RemoteRouteReturn,
        Path3::Local,
        Path3::HostMode,
        Path3::Underlay,
        Path3::Direct,
    ];

    /// A path of the mesh as every published port has it, which the target is stated for
    /// (route-return is an opt-in of its own).
    pub fn is_default_mesh(self) -> bool {
        matches!(self, Path3::Remote | Path3::Local)
    }

    /// The report's words for it.
    pub fn label(self) -> &'static str {
        match self {
            Path3::Remote => "mesh, task on another host (DNAT + SNAT, forwarded over the underlay)",
            Path3::RemoteRouteReturn => "mesh, task on another host (route-return: DNAT, VXLAN)",
            Path3::Local => "mesh, task on the receiving host (DNAT)",
            Path3::HostMode => "direct to the task: host-mode port on its host (DNAT, no mesh)",
            Path3::Underlay => "underlay: a server in host 1's own namespace (no container, no NAT)",
            Path3::Direct => "in-host: ingress sandbox → task (no NAT, no underlay)",
        }
    }
}

/// Everything one run measured.
#[derive(Default)]
pub struct Results {
    /// Sequential requests per path, one entry per round.
    pub requests: BTreeMap<Path3, Vec<Requests>>,
    /// Streams per path, one per round.
    pub streams: BTreeMap<Path3, Vec<Stream>>,
    /// Overlay streams (encrypted, plain) with the agents' CPU seconds of each.
    pub overlay: [Vec<(Stream, f64)>; 2],
}

/// One running task: its ID and the addresses it holds per network.
struct Task {
    id: String,
    addresses: BTreeMap<String, Ipv4Addr>,
}

/// The cluster and where to aim.
struct Bench<'a> {
    cli: &'a Path,
    manager: PathBuf,
    topology: &'a Topology,
    agents: &'a [ShoalAgent],
}

impl Bench<'_> {
    async fn docker(&self, args: &[&str]) -> anyhow::Result<String> {
        docker(self.cli, &self.manager, args).await
    }

    /// `docker service create` of one `bb:1` task on host `host` running `script`.
    async fn service(&self, name: &str, host: usize, extra: &[&str], script: &str) -> anyhow::Result<()> {
        let constraint = format!("node.hostname==m{host}");
        let mut args = vec![
            "service",
            "create",
            "--detach",
            "--no-healthcheck",
            "--name",
            name,
            "--constraint",
            &constraint,
        ];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["bb:1", "sh", "-c", script]);
        self.docker(&args).await.map(drop)
    }

    /// The running task of service `name` (one replica), once it runs.
    async fn running(&self, name: &str) -> anyhow::Result<Task> {
        let id = wait_for(Duration::from_secs(180), || async move {
            let out = self
                .docker(&[
                    "service",
                    "ps",
                    "--no-trunc",
                    "--filter",
                    "desired-state=running",
                    "--format",
                    "{{.ID}} {{.CurrentState}}",
                    name,
                ])
                .await
                .ok()?;
            out.lines()
                .find(|l| l.split_whitespace().nth(1) == Some("Running"))
                .and_then(|l| l.split_whitespace().next())
                .map(str::to_string)
        })
        .await
        .ok_or_else(|| anyhow::anyhow!("service {name}: no running task within 180 s"))?;
        let json = self
            .docker(&[
                "inspect",
                "--type",
                "task",
                "--format",
                "{{json .NetworksAttachments}}",
                &id,
            ])
            .await?;
        Ok(Task {
            addresses: attachments(&json)?,
            id,
        })
    }

    /// The pinned namespace `shoal-<tag>-<what>` of agent `host`, once its plane made it.
    async fn plane_netns(&self, host: usize, what: &str) -> anyhow::Result<PathBuf> {
        let agent = &self.agents[host - 1];
        let pid = agent
            .pid()
            .ok_or_else(|| anyhow::anyhow!("agent m{host} is not running"))?;
        let id = docker(
            self.cli,
            agent.socket(),
            &["info", "--format", "{{.Swarm.NodeID}}"],
        )
        .await?;
        let name = format!("shoal-{}-{what}", client::plane_tag(id.trim()));
        let found = wait_for(Duration::from_secs(60), || {
            let name = &name;
            async move { client::plane_netns(pid, name) }
        })
        .await;
        found.ok_or_else(|| anyhow::anyhow!("agent m{host} pinned no namespace {name} within 60 s"))
    }

    /// CPU seconds of every agent so far.
    fn agents_cpu(&self) -> f64 {
        self.agents
            .iter()
            .filter_map(ShoalAgent::pid)
            .map(client::process_cpu)
            .sum()
    }
}

/// Network name → IPv4 address of a task's `NetworksAttachments` JSON.
fn attachments(json: &str) -> anyhow::Result<BTreeMap<String, Ipv4Addr>> {
    let value: serde_json::Value = serde_json::from_str(json.trim())?;
    let mut out = BTreeMap::new();
    for a in value.as_array().into_iter().flatten() {
        let name = a.pointer("/Network/Spec/Name").and_then(|n| n.as_str());
        let addr = a
            .pointer("/Addresses/0")
            .and_then(|n| n.as_str())
            .and_then(|s| s.split('/').next())
            .and_then(|s| s.parse().ok());
        if let (Some(name), Some(addr)) = (name, addr) {
            out.insert(name.to_string(), addr);
        }
    }
    Ok(out)
}

fn ingress(task: &Task) -> anyhow::Result<Ipv4Addr> {
    task.addresses
        .get("ingress")
        .copied()
        .ok_or_else(|| anyhow::anyhow!("task {} has no ingress address", task.id))
}

/// Forms the cluster, runs every measurement and writes the `mesh` section.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let cli = super::tool(&args.docker, "the docker CLI is needed")?;
    let shoal = super::shoal_binary(&args.shoal)?;
    anyhow::ensure!(
        args.rounds >= 1 && args.requests >= 1 && args.stream_mib >= 1,
        "--rounds, --requests and --stream-mib must be at least 1"
    );
    let load_before = super::procs::load_average();
    let topology = Topology::create(HOSTS)?;
    let tar = super::busybox_tar(topology.dir())?;
    let mut agents: Vec<ShoalAgent> = (1..=HOSTS)
        .map(|i| ShoalAgent::new(&shoal, &format!("m{i}"), topology.dir(), topology.ns_path(i)).with_oci())
        .collect();
    let addrs: Vec<String> = (1..=HOSTS).map(|i| topology.addr(i)).collect();
    eprintln!("mesh: shoal on {HOSTS} hosts");
    let manager = form(&cli, &mut agents, &addrs, &tar)
        .await
        .map_err(|e| e.context("forming the shoal cluster"))?;
    let bench = Bench {
        cli: &cli,
        manager,
        topology: &topology,
        agents: &agents,
    };
    let results = measure(&bench, &args).await?;
    drop(agents);
    drop(topology);
    if args.overlay_only {
        println!("{}", mesh_report::overlay_only(&args, &results, &load_before));
        return Ok(());
    }
    let body = mesh_report::section(&args, &results, &load_before);
    crate::report::write_section(&args.out, "mesh", &body)?;
    println!("{body}");
    Ok(())
}

/// Deploys the services and networks, then measures `args.rounds` rounds (only the overlays'
/// streams with `--overlay-only`).
async fn measure(b: &Bench<'_>, args: &Args) -> anyhow::Result<Results> {
    let mesh = if args.overlay_only {
        None
    } else {
        Some(mesh_paths(b).await?)
    };
    let overlays = ["bench-enc", "bench-plain"];
    b.docker(&[
        "network",
        "create",
        "-d",
        "overlay",
        "--opt",
        "encrypted",
        overlays[0],
    ])
    .await?;
    b.docker(&["network", "create", "-d", "overlay", overlays[1]])
        .await?;
    for net in overlays {
        b.service(&format!("{net}-sink"), 1, &["--network", net], SINK)
            .await?;
        b.service(
            &format!("{net}-client"),
            2,
            &["--network", net],
            "exec sleep 1000000",
        )
        .await?;
    }
    let mut overlay_paths = Vec::new();
    for net in overlays {
        let sink = b.running(&format!("{net}-sink")).await?;
        let peer = b.running(&format!("{net}-client")).await?;
        let target = *sink
            .addresses
            .get(net)
            .ok_or_else(|| anyhow::anyhow!("the {net} sink has no address on {net}"))?;
        let ns = b.plane_netns(2, &format!("t-{}", peer.id)).await?;
        overlay_paths.push((ns, target));
    }

    let bytes = args.stream_mib << 20;
    let mut results = Results::default();
    for round in 0..args.rounds {
        if let Some(MeshPaths {
            web: web_paths,
            sink: sink_paths,
            ..
        }) = &mesh
        {
            // Each round starts with the next path, so none always runs first.
            for k in 0..Path3::ALL.len() {
                let (path, ns, a, port) = &web_paths[(round + k) % web_paths.len()];
                let r = client::requests(ns, *a, *port, args.requests)?;
                eprintln!("mesh: round {round}: {path:?}: {:.0} conn/s", r.per_second);
                results.requests.entry(*path).or_default().push(r);
            }
            for k in 0..Path3::ALL.len() {
                let (path, ns, a, port) = &sink_paths[(round + k) % sink_paths.len()];
                let s = client::stream(ns, *a, *port, bytes)?;
                eprintln!("mesh: round {round}: {path:?}: {:.2} Gbit/s", s.gbit);
                results.streams.entry(*path).or_default().push(s);
            }
        }
        for k in 0..overlay_paths.len() {
            let i = (round + k) % overlay_paths.len();
            let (ns, target) = &overlay_paths[i];
            let cpu0 = b.agents_cpu();
            let s = client::stream(ns, *target, 80, bytes)?;
            let agents = b.agents_cpu() - cpu0;
            eprintln!(
                "mesh: round {round}: {}: {:.2} Gbit/s, agents {agents:.2} CPU s",
                overlays[i], s.gbit
            );
            results.overlay[i].push((s, agents));
        }
    }
    Ok(results)
}

/// (path, netns, address, port) of each path the mesh rounds measure.
type Paths = Vec<(Path3, PathBuf, Ipv4Addr, u16)>;

/// The mesh rounds' paths, and the underlay's servers they need (stopped on drop).
struct MeshPaths {
    web: Paths,
    sink: Paths,
    _underlay: [client::Server; 2],
}

/// Deploys the mesh's services and the underlay's servers; the web and the sink paths, once
/// every web path answers.
async fn mesh_paths(b: &Bench<'_>) -> anyhow::Result<MeshPaths> {
    b.service("web", 1, &["--publish", "8080:80"], WEB).await?;
    b.service(
        "web-rr",
        1,
        &["--publish", "8081:80", "--label", ROUTE_RETURN],
        WEB,
    )
    .await?;
    b.service("sink", 1, &["--publish", "8085:80"], SINK).await?;
    b.service(
        "sink-rr",
        1,
        &["--publish", "8086:80", "--label", ROUTE_RETURN],
        SINK,
    )
    .await?;
    b.service(
        "web-host",
        1,
        &["--publish", "mode=host,published=8082,target=80"],
        WEB,
    )
    .await?;
    b.service(
        "sink-host",
        1,
        &["--publish", "mode=host,published=8087,target=80"],
        SINK,
    )
    .await?;
    // The baseline servers, as the bench's own children in host 1's namespace.
    let www = b.topology.dir().join("underlay-www");
    std::fs::create_dir_all(&www)?;
    std::fs::write(www.join("index.html"), "underlay\n")?;
    let host1 = b.topology.ns_path(1);
    let underlay = [
        client::Server::start(
            &host1,
            &["httpd", "-f", "-p", "8090", "-h", &www.to_string_lossy()],
        )?,
        client::Server::start(
            &host1,
            &["nc", "-ll", "-p", "8091", "-e", "dd", "of=/dev/null", "bs=1M"],
        )?,
    ];
    let web = b.running("web").await?;
    b.running("web-rr").await?;
    let sink = b.running("sink").await?;
    b.running("sink-rr").await?;
    b.running("web-host").await?;
    b.running("sink-host").await?;
    let (h1, h2) = (addr(b.topology, 1)?, addr(b.topology, 2)?);
    let client_ns = b.topology.ns_path(3);
    let sandbox = b.plane_netns(1, "ingress").await?;
    // (netns, address, port) of each path, for the web servers and for the sinks.
    let web_paths = [
        (Path3::Remote, client_ns.clone(), h2, 8080),
        (Path3::RemoteRouteReturn, client_ns.clone(), h2, 8081),
        (Path3::Local, client_ns.clone(), h1, 8080),
        (Path3::HostMode, client_ns.clone(), h1, 8082),
        (Path3::Underlay, client_ns.clone(), h1, 8090),
        (Path3::Direct, sandbox.clone(), ingress(&web)?, 80),
    ];
    let sink_paths = [
        (Path3::Remote, client_ns.clone(), h2, 8085),
        (Path3::RemoteRouteReturn, client_ns.clone(), h2, 8086),
        (Path3::Local, client_ns.clone(), h1, 8085),
        (Path3::HostMode, client_ns.clone(), h1, 8087),
        (Path3::Underlay, client_ns.clone(), h1, 8091),
        (Path3::Direct, sandbox, ingress(&sink)?, 80),
    ];
    for (path, ns, a, port) in &web_paths {
        client::wait_http(ns, *a, *port, Duration::from_secs(60))
            .map_err(|e| e.context(format!("{path:?}")))?;
    }
    Ok(MeshPaths {
        web: web_paths.to_vec(),
        sink: sink_paths.to_vec(),
        _underlay: underlay,
    })
}

fn addr(topology: &Topology, i: usize) -> anyhow::Result<Ipv4Addr> {
    Ok(topology.addr(i).parse()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attachments_name_each_networks_address() {
        let json = r#"[{"Network":{"Spec":{"Name":"ingress"}},"Addresses":["10.0.0.5/24"]},
                       {"Network":{"Spec":{"Name":"bench-enc"}},"Addresses":["10.0.1.3/24"]}]"#;
        let a = attachments(json).expect("an array of attachments");
        assert_eq!(a["ingress"], Ipv4Addr::new(10, 0, 0, 5));
        assert_eq!(a["bench-enc"], Ipv4Addr::new(10, 0, 1, 3));
        assert!(attachments("null").expect("null is no attachment").is_empty());
    }
}
