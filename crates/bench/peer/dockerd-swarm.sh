#!/bin/sh
# A 3-manager Docker Swarm on this machine, every packet kept inside network namespaces made here.
#
#   shoalpeer-br : bridge br0 (a namespace of its own, away from any FORWARD DROP in the root namespace)
#   shoalpeer-N  : eth0 = 10.77.0.N/24, veth to br0; dockerd N with its own data/exec root and socket
#
# Usage: dockerd-swarm.sh up [managers]   (default 3; sockets at $ROOT/dN.sock)
#        dockerd-swarm.sh down            (kills the daemons it started, deletes namespaces and files)
# Needs root, Debian's docker.io (dockerd, containerd, runc), iproute2, util-linux (nsenter, unshare).
# `shoal-bench peer` does the same from Rust; this script is for poking at a Swarm by hand, e.g.
#   DOCKER_HOST=unix:///tmp/shoalpeer/d1.sock docker node ls
set -eu

ROOT=${ROOT:-/tmp/shoalpeer}
PREFIX=${PREFIX:-shoalpeer}
NET=${NET:-10.77.0}

ns() { echo "$PREFIX-$1"; }

up() {
    n=${1:-3}
    command -v dockerd >/dev/null || { echo "dockerd not found: apt-get install -y docker.io" >&2; exit 1; }
    [ ! -e "$ROOT" ] || { echo "$ROOT exists: run '$0 down' first" >&2; exit 1; }
    # A failed `up` leaves nothing behind.
    trap 'echo "up failed; tearing down" >&2; down' EXIT
    mkdir -p "$ROOT"
    ip netns add "$(ns br)"
    ip -n "$(ns br)" link add br0 type bridge
    ip -n "$(ns br)" link set br0 up
    ip -n "$(ns br)" link set lo up
    i=1
    while [ "$i" -le "$n" ]; do
        ip netns add "$(ns "$i")"
        ip link add "${PREFIX}h$i" netns "$(ns "$i")" type veth peer name "veth$i" netns "$(ns br)"
        ip -n "$(ns "$i")" link set "${PREFIX}h$i" name eth0
        ip -n "$(ns "$i")" addr add "$NET.$i/24" dev eth0
        ip -n "$(ns "$i")" link set eth0 up
        ip -n "$(ns "$i")" link set lo up
        ip -n "$(ns br)" link set "veth$i" master br0
        ip -n "$(ns br)" link set "veth$i" up
        d="$ROOT/d$i"
        mkdir -p "$d"
        # A private mount namespace: the daemon's mounts vanish with it; a UTS one for its host name.
        nsenter --net="/run/netns/$(ns "$i")" unshare --mount --uts --propagation private \
            sh -c 'hostname "$0" && exec "$@"' "m$i" dockerd --data-root "$d/data" --exec-root "$d/exec" --pidfile "$d/dockerd.pid" \
            -H "unix://$ROOT/d$i.sock" --iptables=false --ip6tables=false --bridge=none \
            --ip-forward=false --ip-masq=false --userland-proxy=false \
            >"$d/dockerd.log" 2>&1 &
        echo $! >"$d/launcher.pid"
        i=$((i + 1))
    done
    i=1
    while [ "$i" -le "$n" ]; do
        tries=0
        until docker -H "unix://$ROOT/d$i.sock" version >/dev/null 2>&1; do
            tries=$((tries + 1))
            [ "$tries" -lt 150 ] || { echo "dockerd $i did not start; see $ROOT/d$i/dockerd.log" >&2; exit 1; }
            sleep 0.2
        done
        i=$((i + 1))
    done
    docker -H "unix://$ROOT/d1.sock" swarm init --advertise-addr "$NET.1" --listen-addr "$NET.1:2377" >/dev/null
    token=$(docker -H "unix://$ROOT/d1.sock" swarm join-token -q manager)
    i=2
    while [ "$i" -le "$n" ]; do
        docker -H "unix://$ROOT/d$i.sock" swarm join --token "$token" --advertise-addr "$NET.$i" \
            --listen-addr "$NET.$i:2377" "$NET.1:2377" >/dev/null
        i=$((i + 1))
    done
    trap - EXIT
    docker -H "unix://$ROOT/d1.sock" node ls
}

down() {
    for d in "$ROOT"/d*/; do
        [ -d "$d" ] || continue
        for f in dockerd.pid exec/containerd/containerd.pid launcher.pid; do
            [ -f "$d$f" ] && kill -9 "$(cat "$d$f")" 2>/dev/null || true
        done
    done
    for n in $(ip netns list | awk '{print $1}' | grep "^$PREFIX-" || true); do
        ip netns pids "$n" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
        ip netns del "$n"
    done
    rm -rf "$ROOT"
}

case "${1:-}" in
up) up "${2:-3}" ;;
down) down ;;
*) echo "usage: $0 up [managers] | down" >&2; exit 2 ;;
esac
