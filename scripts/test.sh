#!/usr/bin/env bash
# Runs every test of the workspace. As root on Debian/Ubuntu it first installs the system
# packages the tests use; otherwise it checks they are present and says what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# docker-registry, apache2-utils (htpasswd) and docker.io: the image crate's tests run a real registry
# and a private dockerd of their own (own socket and roots, no bridge, no iptables).
# libseccomp-dev: the oci executor's seccomp filters are compiled by libseccomp (linked at build time).
# tcpdump: the encrypted overlay's test reads the underlay for plaintext.
# golang-cfssl: the external CA test signs node certificates with a real `cfssl serve`.
# iptables: the mesh's test drops forwarded traffic by policy, as a host running dockerd does.
packages=(iproute2 nftables iptables busybox-static docker-registry apache2-utils docker.io libseccomp-dev tcpdump golang-cfssl)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    echo "installing: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "warning: missing packages ${missing[*]} (run as root to install them)" >&2
  fi
fi
# The acceptance tests drive the stock docker CLI (28 on this machine's PATH).
command -v docker >/dev/null || { echo "the docker CLI is required for the acceptance tests" >&2; exit 1; }

# A run builds from a clean tree (CI clones main), so incremental caches only double the target dir
# (about 5 GB more) on a disk shared with other work; one CI run failed to link for lack of space.
# Set CARGO_INCREMENTAL=1 to keep them when re-running by hand.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
cargo build --workspace --all-targets --quiet
cargo test --workspace --quiet -- --test-threads 2
