#!/usr/bin/env bash
# Builds SwarmKit's scheduler benchmarks from Debian's docker.io source package (which carries a
# SwarmKit snapshot) and runs them, one fresh process per run, so shoal's scheduler benchmark can
# compare against SwarmKit measured on the same machine in the same session.
#
# Nothing of SwarmKit is kept in this repository: the source comes from Debian (deb-src), its Go
# dependencies from Debian's golang-*-dev packages (`apt-get build-dep docker.io`), and the build
# happens offline in GOPATH mode, the way Debian builds docker.io.
#
# Usage: [SWARMKIT_HUGE_RUNS=N] swarmkit-scheduler.sh [RUNS] [BENCHMARK_REGEX]
# Prints one line per run:  RESULT <benchmark> <seconds> <peak RSS KiB>
# Needs root (apt-get). Work directory: $SWARMKIT_PEER_DIR (default /var/tmp/shoal-swarmkit-peer).
set -euo pipefail

runs="${1:-3}"
only="${2:-.}"
work="${SWARMKIT_PEER_DIR:-/var/tmp/shoal-swarmkit-peer}"
mkdir -p "$work"
cd "$work"

log() { echo "swarmkit-peer: $*" >&2; }

if [ ! -x "$work/sched.test" ]; then
  if ! ls docker.io_*.orig-swarmkit.tar.xz >/dev/null 2>&1; then
    if ! grep -rqs '^Types:.*deb-src' /etc/apt/sources.list.d/ && ! grep -qs '^deb-src' /etc/apt/sources.list; then
      # Reuse the machine's configured Debian archive (the first deb entry's URI and suite), so
      # the source package comes from wherever this machine already gets its binary packages.
      suite=$(. /etc/os-release && echo "$VERSION_CODENAME")
      # deb822 stanzas are blank-line separated: take the URI of one that lists the release suite.
      uri=$(awk -v s="$suite" 'BEGIN {RS=""} $0 ~ "Suites:[^\n]*(^| )" s "( |$|\n)" {
              for (i = 1; i <= NF; i++) if ($i == "URIs:") {print $(i+1); exit}}' \
            /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
      [ -n "$uri" ] || uri=$(awk -v s="$suite" '$1 == "deb" && $3 == s {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
      [ -n "$uri" ] || { log "no apt source configured to derive a deb-src entry from"; exit 1; }
      log "adding a deb-src entry for $suite from the configured apt source"
      printf 'Types: deb-src\nURIs: %s\nSuites: %s\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
        "$uri" "$suite" > /etc/apt/sources.list.d/shoal-peer-src.sources
    fi
    apt-get update -qq >&2
    log "downloading the docker.io source package"
    apt-get source --download-only docker.io >&2
  fi
  if ! command -v go >/dev/null || [ ! -d /usr/share/gocode/src/github.com/hashicorp/go-memdb ]; then
    log "installing docker.io's build dependencies (golang 1.19 and golang-*-dev)"
    DEBIAN_FRONTEND=noninteractive apt-get build-dep -y -qq docker.io >&2
  fi
  rm -rf src gopath
  mkdir -p src gopath/src/github.com/docker
  tar -C src -xf docker.io_*.orig-swarmkit.tar.xz
  mv src/swarmkit gopath/src/github.com/docker/swarmkit
  log "building the scheduler test binary ($(go version))"
  (cd gopath/src/github.com/docker/swarmkit &&
    GOPATH="$work/gopath:/usr/share/gocode" GO111MODULE=off GOCACHE="$work/gocache" \
      go test -c -o "$work/sched.test" ./manager/scheduler/ >&2)
fi

[ -x /usr/bin/time ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >&2

version=$(grep -o '"[0-9a-f]\{7,\}+unknown"' "$work/gopath/src/github.com/docker/swarmkit/version/version.go" 2>/dev/null | tr -d '"' || true)
echo "VERSION swarmkit ${version:-unknown} $(go version | awk '{print $3}')"

# 100k nodes × 100k tasks takes about 45 minutes a run: only SWARMKIT_HUGE_RUNS times (default
# 0), and last, so the quick benchmarks are done before it starts.
huge=BenchmarkScheduler100kNodes100kTasks
huge_runs="${SWARMKIT_HUGE_RUNS:-0}"
benches=$("$work/sched.test" -test.list 'BenchmarkScheduler' | grep -E "$only" |
  grep -v -E "Scheduler100kNodes1MTasks|$huge" || true)
if [ "$huge_runs" -gt 0 ] && echo "$huge" | grep -qE "$only"; then
  benches="$benches $huge"
fi
for b in $benches; do
  n="$runs"
  [ "$b" = "$huge" ] && n="$huge_runs"
  for _ in $(seq "$n"); do
    out=$(/usr/bin/time -f 'MAXRSS %M' "$work/sched.test" -test.run XXX -test.bench "^${b}\$" \
      -test.benchtime 1x -test.timeout 0 2>&1)
    ns=$(echo "$out" | awk -v b="$b" '$1 ~ "^"b"(-[0-9]+)?$" {print $3}')
    rss=$(echo "$out" | awk '/^MAXRSS/ {print $2}')
    if [ -z "$ns" ]; then
      log "no result for $b:"; echo "$out" >&2; continue
    fi
    echo "RESULT $b $(awk -v ns="$ns" 'BEGIN {printf "%.6f", ns / 1e9}') ${rss:-0}"
  done
done
