#!/usr/bin/env bash
# Installs the Debian packages fwdoctor's tests and lab need (idempotent). Needs root.
# The lab runs a real dockerd, but only inside network namespaces the tests create; installing
# docker.io on a systemd host also enables its service there: skip with FWDOCTOR_NO_DOCKER=1.
set -euo pipefail
pkgs=(iptables nftables iproute2 curl busybox-static tmux python3 python3-prometheus-client python3-pynag ca-certificates shellcheck)
[ "${FWDOCTOR_NO_DOCKER:-0}" = 1 ] || pkgs+=(docker.io)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "deps.sh: need root to install: ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
