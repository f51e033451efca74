#!/usr/bin/env bash
# Installs the Debian packages fwdoctor's tests and lab need (idempotent). Needs root.
#
# Installing never starts or enables a service on this machine (the lab runs dockerd, ufw and
# podman only inside network and mount namespaces the tests create):
#   - while apt runs, /usr/sbin/policy-rc.d exits 101, so invoke-rc.d (which every package's
#     maintainer script uses to start its service) refuses every start; a policy-rc.d that was
#     there before is put back byte for byte afterwards;
#   - whatever the packages enabled anyway (deb-systemd-helper links units into *.wants/ even
#     with the policy in place; update-rc.d adds S links) is disabled again with the same tools,
#     so a later upgrade keeps it disabled;
#   - then a check that must find nothing new: no new *.wants/ or /etc/rc?.d/S* link, no new
#     active systemd unit (when systemd runs), and no new process running a program of the
#     installed packages (this is what still means something on a CI machine without systemd).
# FWDOCTOR_NO_DOCKER=1 leaves docker.io out (the lab tests then fail: they never skip).
set -euo pipefail
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
export LC_ALL=C   # one collation for sort and comm
pkgs=(iptables ipset nftables iproute2 ufw curl busybox-static tmux python3 python3-prometheus-client python3-pynag ca-certificates shellcheck podman firewalld)
[ "${FWDOCTOR_NO_DOCKER:-0}" = 1 ] || pkgs+=(docker.io)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ "${#missing[@]}" -gt 0 ] || exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "deps.sh: need root to install: ${missing[*]}" >&2
  exit 1
fi

policy=/usr/sbin/policy-rc.d
work=$(mktemp -d)
had_policy=0
restore_policy() {
  if [ "$had_policy" = 1 ]; then
    cp -a "$work/policy-rc.d.orig" "$policy"
  else
    rm -f "$policy"
  fi
  rm -rf "$work"
}
if [ -e "$policy" ] || [ -L "$policy" ]; then
  cp -a "$policy" "$work/policy-rc.d.orig"
  had_policy=1
fi
trap restore_policy EXIT
printf '#!/bin/sh\n# scripts/deps.sh (fwdoctor): no service starts while the test packages install.\nexit 101\n' >"$policy"
chmod 755 "$policy"

enablement() {   # every link that makes a unit or init script start at boot
  {
    find /etc/systemd/system -path '*.wants/*' 2>/dev/null
    find /etc/rc0.d /etc/rc1.d /etc/rc2.d /etc/rc3.d /etc/rc4.d /etc/rc5.d /etc/rc6.d /etc/rcS.d \
      -name 'S*' 2>/dev/null
  } | sort
}
systemd_running() { [ -d /run/systemd/system ]; }
active_units() {
  if systemd_running; then
    systemctl list-units --all --state=active --no-legend --plain 2>/dev/null | awk '{ print $1 }' | sort
  fi
}
running_programs() {   # every running program: its executable and its first two arguments
  local p          # (an interpreted daemon such as firewalld runs as `python3 /usr/sbin/firewalld`)
  for p in /proc/[0-9]*; do
    readlink "$p/exe" 2>/dev/null || true
    tr '\0' '\n' 2>/dev/null <"$p/cmdline" | head -n 2 || true
  done | sed 's/ (deleted)$//' | sort -u
}
enablement >"$work/enabled.before"
active_units >"$work/active.before"
running_programs >"$work/programs.before"

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

# Undo what the packages enabled: systemd units through deb-systemd-helper (it records the
# choice, so upgrades keep it), init scripts through update-rc.d.
enablement >"$work/enabled.after"
comm -13 "$work/enabled.before" "$work/enabled.after" >"$work/enabled.new"
while IFS= read -r link; do
  case "$link" in
    */rc?.d/S*)
      script=$(basename "$link" | sed 's/^S[0-9]*//')
      echo "deps.sh: disabling init script $script (enabled by the install)" >&2
      update-rc.d "$script" disable >/dev/null 2>&1 || rm -f "$link"
      ;;
    *)
      unit=$(basename "$link")
      echo "deps.sh: disabling $unit (enabled by the install)" >&2
      if command -v deb-systemd-helper >/dev/null 2>&1; then
        # It refuses to run outside a maintainer script unless told which package asks.
        DPKG_MAINTSCRIPT_PACKAGE=fwdoctor-test-deps deb-systemd-helper disable "$unit" >/dev/null 2>&1 || true
      fi
      if systemd_running; then systemctl disable --no-reload "$unit" >/dev/null 2>&1 || true; fi
      rm -f "$link"
      ;;
  esac
done <"$work/enabled.new"
if systemd_running; then systemctl daemon-reload || true; fi

# The check: nothing new may be enabled, active or running.
problems=()
enablement >"$work/enabled.final"
while IFS= read -r l; do problems+=("still enabled: $l"); done \
  < <(comm -13 "$work/enabled.before" "$work/enabled.final")
active_units >"$work/active.after"
while IFS= read -r u; do problems+=("unit now active: $u"); done \
  < <(comm -13 "$work/active.before" "$work/active.after")
running_programs >"$work/programs.after"
dpkg -L "${missing[@]}" 2>/dev/null | sort -u >"$work/installed.files"
while IFS= read -r prog; do problems+=("now running: $prog"); done \
  < <(comm -13 "$work/programs.before" "$work/programs.after" | comm -12 - "$work/installed.files")
if [ "${#problems[@]}" -gt 0 ]; then
  printf 'deps.sh: installing %s changed what runs at boot or now:\n' "${missing[*]}" >&2
  printf '  %s\n' "${problems[@]}" >&2
  exit 1
fi
echo "deps.sh: installed ${missing[*]}; no service started or enabled" >&2
