#!/usr/bin/env bash
# Out-of-process load benchmarks: the pool (`loadgen serve`: a sha256d pool on a stand-in
# daemon with a mainnet-difficulty template) pinned to core 0, the generator (`swarm`, its
# own stratum code) on core 1. Prints one line per measurement; BENCHMARKS.md records them.
#
#   scripts/bench.sh [idle connections] [fan-out connections] [share connections] [seconds]
#
# Defaults: 19 000 idle (the open-files hard limit here is 20 000, and each connection is a
# file in both processes), 10 000 fan-out, 200 share connections for 10 s.
set -euo pipefail
cd "$(dirname "$0")/.."
idle=${1:-19000}
fanout=${2:-10000}
share_connections=${3:-200}
seconds=${4:-10}

cargo build --release --quiet -p nomp-examples --example loadgen --example swarm --example tcp_floor
bin="${CARGO_TARGET_DIR:-$(pwd)/target}/release/examples"
ulimit -n "$(ulimit -Hn)"

work=$(mktemp -d "${TMPDIR:-/tmp}/nomp-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
cores=$(nproc)
if [ "$cores" -ge 2 ]; then
    printf '#!/bin/sh\nexec taskset -c 0 %q "$@"\n' "$bin/loadgen" >"$work/pool"
    swarm=(taskset -c 1 "$bin/swarm")
    floor=(taskset -c 0 "$bin/tcp_floor")
    export TCP_FLOOR_CLIENT_CORE=1
else
    printf '#!/bin/sh\nexec %q "$@"\n' "$bin/loadgen" >"$work/pool"
    swarm=("$bin/swarm")
    floor=("$bin/tcp_floor")
fi
chmod +x "$work/pool"

echo "== shares: $share_connections connections for $seconds s, events counted"
"${swarm[@]}" "$work/pool" shares "$share_connections" "$seconds"
echo "== shares: $share_connections connections for $seconds s, written to the embedded store"
SWARM_POOL_MODE=store "${swarm[@]}" "$work/pool" shares "$share_connections" "$seconds"
echo "== idle: $idle connections"
"${swarm[@]}" "$work/pool" idle "$idle"
echo "== shares: $share_connections connections for $seconds s, a scrypt pool"
SWARM_POOL_MODE=scrypt "${swarm[@]}" "$work/pool" shares "$share_connections" "$seconds"
echo "== fanout: $fanout connections, 4 new blocks"
"${swarm[@]}" "$work/pool" fanout "$fanout" 4
echo "== floor: bare loopback writes (each connection is two files here) and a do-nothing server"
"${floor[@]}" writes "$((fanout < 9000 ? fanout : 9000))"
"${floor[@]}" echo "$share_connections" "$seconds"
