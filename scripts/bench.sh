#!/usr/bin/env bash
# Runs every benchmark and writes its section of BENCHMARKS.md. Run it on a quiet machine:
# each section records the load average and the machine it ran on.
#
#   scripts/bench.sh            all of them (about 25 minutes; peer comparisons need root)
#   scripts/bench.sh raft e2e   just these
set -euo pipefail
cd "$(dirname "$0")/.."

benches=("$@")
((${#benches[@]})) || benches=(raft failover scheduler e2e peer start replicas rss pull)

cargo build --release -p shoal -p bench
for b in "${benches[@]}"; do
  echo "== $b"
  case "$b" in
    # --peer builds SwarmKit's scheduler from Debian's source package and runs it beside ours;
    # SHOAL_BENCH_HUGE=1 also times SwarmKit's 100k-node × 100k-task run (about 30 min more).
    scheduler) target/release/shoal-bench scheduler --peer --peer-huge-runs "${SHOAL_BENCH_HUGE:-0}" ;;
    *) target/release/shoal-bench "$b" ;;
  esac
done
