#!/usr/bin/env bash
# lab/make-fixtures.sh [NAME...] — regenerate fixtures/lab/NAME/ from real lab runs.
#
# For each scenario (all of them when no NAME is given) this runs
#   lab/lab.sh scenario NAME fixtures/lab/NAME
# which sets the scenario up in fresh network namespaces, runs `$FWDOCTOR capture -o DIR`
# inside the host namespace and writes DIR/truth.json (what curl really did).
#
# It builds nothing. FWDOCTOR defaults to target/release/fwdoctor, then target/debug/fwdoctor
# (build first: cargo build --release). A scenario whose capture fails is an error: its
# directory is removed and the script exits non-zero; no fixture is ever written without
# `fwdoctor capture`.
#
# Runs as root (network namespaces, dockerd). Each scenario takes a few seconds.

set -euo pipefail

LAB_ROOT=$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")
REPO=$(dirname "$LAB_ROOT")
OUT_BASE=${FIXTURES_DIR:-$REPO/fixtures/lab}

if [[ "${LAB_NO_CAPTURE:-}" == 1 ]]; then
  echo "make-fixtures: LAB_NO_CAPTURE=1 is for development only; fixtures need a real capture" >&2
  exit 1
fi

if [[ -z "${FWDOCTOR:-}" ]]; then
  for c in "$REPO/target/release/fwdoctor" "$REPO/target/debug/fwdoctor"; do
    if [[ -x "$c" ]]; then FWDOCTOR=$c; break; fi
  done
fi
if [[ -z "${FWDOCTOR:-}" || ! -x "$FWDOCTOR" ]]; then
  echo "make-fixtures: no fwdoctor binary (set FWDOCTOR, or cargo build --release)" >&2
  exit 1
fi
export FWDOCTOR
if ! "$FWDOCTOR" capture --help >/dev/null 2>&1; then
  echo "make-fixtures: '$FWDOCTOR capture --help' fails: this fwdoctor has no capture command" >&2
  exit 1
fi

"$LAB_ROOT/lab.sh" prereqs

if (($# == 0)); then
  mapfile -t names < <("$LAB_ROOT/lab.sh" list)
else
  names=("$@")
fi

failed=()
for name in "${names[@]}"; do
  dir="$OUT_BASE/$name"
  tmp="$OUT_BASE/.$name.new"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  echo "== $name -> $dir" >&2
  if "$LAB_ROOT/lab.sh" scenario "$name" "$tmp"; then
    rm -rf "$dir"
    mv "$tmp" "$dir"
  else
    echo "make-fixtures: scenario $name FAILED; $dir left as it was" >&2
    rm -rf "$tmp"
    failed+=("$name")
  fi
done

if ((${#failed[@]})); then
  echo "make-fixtures: failed: ${failed[*]}" >&2
  exit 1
fi
echo "make-fixtures: wrote ${#names[@]} fixture(s) under $OUT_BASE" >&2
