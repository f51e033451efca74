#!/usr/bin/env bash
# Runs every test, lab included (the lab needs root: it runs a real dockerd in network
# namespaces it creates and removes). Installs what the tests need first.
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/deps.sh
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --release -- --test-threads=2 2>&1 | tee "$log" || status=$?
# One closing line for the whole run (cargo prints one per test binary).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i == "passed;") p += $(i-1); if ($i == "failed;") f += $(i-1) } }
     END { printf "fwdoctor: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
