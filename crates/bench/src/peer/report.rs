//! The `raft-peer` and `failover-peer` sections of BENCHMARKS.md: shoal beside Docker Swarm,
//! measured in the same run, with the ratio between them.

use super::workload::Writes;
use crate::report::percentile;

/// Everything one system produced.
#[derive(Default)]
pub struct Side {
    /// Write runs, in the order they were made.
    pub writes: Vec<Writes>,
    /// Failover samples (ms), in round order.
    pub failover_ms: Vec<f64>,
}

/// What the sections say about the setup.
pub struct Setup {
    /// `dockerd --version` of the peer.
    pub dockerd_version: String,
    /// Machine facts line.
    pub machine: String,
    /// Writes per write run.
    pub writes: usize,
    /// Alternating slices each write run was cut into.
    pub chunks: usize,
}

const REPRODUCE: &str = "Reproduce (root; needs Debian's `docker.io`, `iproute2`, `util-linux`): \
`cargo build --release -p shoal -p bench && target/release/shoal-bench peer`";

fn topology(setup: &Setup) -> String {
    format!(
        "Both clusters run side by side in one run, each manager in a network namespace of its own (veth\n\
         pairs to a bridge in a namespace of its own; no traffic leaves them): Docker Swarm on 10.77.0.1–3, shoal on\n\
         10.77.0.5–7, each formed with the stock docker CLI (`swarm init`, `swarm join`). The peer is Docker Swarm\n\
         from Debian's docker.io ({}), each dockerd with its own data root, exec root and socket; shoal is\n\
         three `shoal agent` processes (release build). Both are driven through their Docker API unix sockets by\n\
         the same client (HTTP/1.1 keep-alive, API 1.41, the newest dockerd 20.10 serves). Raft data of both is on\n\
         the same ext4 disk.\n\n{REPRODUCE}\n",
        setup.dockerd_version
    )
}

/// Swarm's figure over shoal's, or `–` when shoal's is zero.
fn ratio(swarm: f64, shoal: f64) -> String {
    if shoal > 0.0 {
        format!("{:.1}×", swarm / shoal)
    } else {
        "–".into()
    }
}

/// The `raft-peer` section.
pub fn writes_section(setup: &Setup, shoal: &Side, swarm: &Side) -> String {
    let mut b = String::from("## API writes vs Docker Swarm: `raft-peer/3_managers/node_update`\n\n");
    b.push_str(&topology(setup));
    b.push_str(&format!(
        "\nWorkload: each client owns one worker node (joined, then left: down, so the leader writes nothing of\n\
         its own meanwhile) and repeats `docker node update --label-add`'s two calls: `GET /nodes/ID`, then\n\
         `POST /nodes/ID/update?version=V`. Latency is the update call, which returns once the change is committed\n\
         through Raft; throughput counts whole read-and-write cycles. {} writes per row and system, made in {}\n\
         slices that alternate between the systems (Swarm, shoal, shoal, Swarm, …) so that the machine's other\n\
         load falls on both alike; \"follower\" sends them to a follower's API, which forwards to the leader.\n\
         Ratios are Swarm ÷ shoal for latency and shoal ÷ Swarm for throughput: above 1× means shoal is ahead.\n\n",
        setup.writes, setup.chunks
    ));
    b.push_str("| path | clients | shoal writes/s | Swarm writes/s | throughput ratio | shoal p50 (ms) | Swarm p50 (ms) | p50 ratio | shoal p99 (ms) | Swarm p99 (ms) | p99 ratio | GET p50 (ms, shoal / Swarm) | retried conflicts (shoal / Swarm) |\n");
    b.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (ours, peer) in shoal.writes.iter().zip(&swarm.writes) {
        b.push_str(&format!(
            "| {} | {} | {:.0} | {:.0} | **{}** | {:.2} | {:.2} | **{}** | {:.2} | {:.2} | {} | {:.2} / {:.2} | {} / {} |\n",
            ours.path,
            ours.concurrency,
            ours.throughput(),
            peer.throughput(),
            ratio(ours.throughput(), peer.throughput()),
            ours.latency(50.0),
            peer.latency(50.0),
            ratio(peer.latency(50.0), ours.latency(50.0)),
            ours.latency(99.0),
            peer.latency(99.0),
            ratio(peer.latency(99.0), ours.latency(99.0)),
            ours.read_latency(50.0),
            peer.read_latency(50.0),
            ours.conflicts,
            peer.conflicts,
        ));
    }
    b.push('\n');
    b.push_str(&setup.machine);
    b.push('\n');
    b
}

/// The `failover-peer` section.
pub fn failover_section(setup: &Setup, shoal: &Side, swarm: &Side) -> String {
    let mut b =
        String::from("## Leader failover vs Docker Swarm: `failover-peer/3_managers/kill_leader`\n\n");
    b.push_str(&topology(setup));
    b.push_str(&format!(
        "\nEach round: wait until all three managers name one leader and see each other reachable; `kill -9` the\n\
         leader daemon (for Swarm, its containerd too); retry a label write (`GET` + `POST /nodes/ID/update`) through\n\
         a surviving manager's API every 20 ms until one is accepted. The time from the kill to that accepted write\n\
         is the failover time. The killed daemon is restarted and must show the write before the next round.\n\
         Rounds alternate between the systems; {} rounds per system (Swarm needs 10–20 s a round: its election timeout is 10 ticks of 1 s).\n\n",
        shoal.failover_ms.len().max(swarm.failover_ms.len())
    ));
    b.push_str("| system | rounds | median (ms) | min (ms) | max (ms) | samples (ms) |\n|---|---:|---:|---:|---:|---|\n");
    let row = |name: &str, s: &[f64]| {
        let mut sorted = s.to_vec();
        sorted.sort_by(|a, b| a.total_cmp(b));
        format!(
            "| {name} | {} | **{:.0}** | {:.0} | {:.0} | {} |\n",
            s.len(),
            percentile(&sorted, 50.0),
            sorted.first().copied().unwrap_or(0.0),
            sorted.last().copied().unwrap_or(0.0),
            s.iter().map(|x| format!("{x:.0}")).collect::<Vec<_>>().join(", ")
        )
    };
    b.push_str(&row("shoal", &shoal.failover_ms));
    b.push_str(&row("Docker Swarm", &swarm.failover_ms));
    b.push_str(&format!(
        "\nMedian ratio Swarm ÷ shoal: **{}**.\n\n",
        ratio(median(&swarm.failover_ms), median(&shoal.failover_ms))
    ));
    b.push_str(&setup.machine);
    b.push('\n');
    b
}

/// Median of unsorted samples.
pub fn median(samples: &[f64]) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    percentile(&sorted, 50.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn writes(path: &'static str, concurrency: usize, ms: f64) -> Writes {
        Writes {
            path,
            concurrency,
            writes: 100,
            elapsed: Duration::from_secs_f64(ms / 10.0),
            latencies_ms: vec![ms; 100],
            reads_ms: vec![1.0; 100],
            conflicts: 0,
        }
    }

    fn setup() -> Setup {
        Setup {
            dockerd_version: "Docker version 20.10.24".into(),
            machine: "Machine: test.".into(),
            writes: 100,
            chunks: 4,
        }
    }

    #[test]
    fn ratios_read_as_how_far_shoal_is_ahead() {
        let shoal = Side {
            writes: vec![writes("leader", 1, 2.0)],
            failover_ms: vec![900.0, 1000.0, 1100.0],
        };
        let swarm = Side {
            writes: vec![writes("leader", 1, 8.0)],
            failover_ms: vec![12000.0, 11000.0, 13000.0],
        };
        let w = writes_section(&setup(), &shoal, &swarm);
        // Four times the latency and a quarter of the throughput both read 4.0×.
        assert!(
            w.contains(
                "| leader | 1 | 500 | 125 | **4.0×** | 2.00 | 8.00 | **4.0×** | 2.00 | 8.00 | 4.0× | 1.00 / 1.00 | 0 / 0 |"
            ),
            "{w}"
        );
        let f = failover_section(&setup(), &shoal, &swarm);
        assert!(
            f.contains("| shoal | 3 | **1000** | 900 | 1100 | 900, 1000, 1100 |"),
            "{f}"
        );
        assert!(f.contains("Median ratio Swarm ÷ shoal: **12.0×**"), "{f}");
    }

    #[test]
    fn a_zero_denominator_is_a_dash() {
        assert_eq!(ratio(1.0, 0.0), "–");
    }
}
