#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what the tests need (see
# scripts/install-deps.sh), then runs the format check, clippy with warnings as errors, and
# every test of the workspace. The tests start their own servers; none need to be running.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

if ! command -v cargo >/dev/null 2>&1; then
    echo "test.sh: cargo is not installed; install Rust (stable) with rustup first" >&2
    exit 1
fi

cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace
