#!/usr/bin/env bash
# Runs every test, lab included (the lab needs root: it runs a real dockerd in network
# namespaces it creates and removes). Installs what the tests need first.
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/deps.sh
cargo test --release -- --test-threads=2
