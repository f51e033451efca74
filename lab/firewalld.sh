# lab/firewalld.sh — Debian's real firewalld (1.3, nftables backend) beside dockerd in the
# lab's host namespace. Sourced by lab/lab.sh; uses its helpers and state.
#
# firewalld talks D-Bus and reads /etc/firewalld. The machine's own bus, files and firewall are
# never touched: a long-lived holder process in the host netns runs in a private mount
# namespace with a private tmpfs /run (so /run/dbus/system_bus_socket is the lab's own bus) and
# a copy of /etc/firewalld bind-mounted over the original. The lab's dbus-daemon, firewalld,
# firewall-cmd, dockerd (so it finds *this* firewalld on *this* bus) and the capture all run
# there (`nsenter -t HOLDER -m -n`, via lab_in_host). Teardown stops firewalld and dbus-daemon
# by pid, then checks that the machine's /etc/firewalld has its sha256 from the start and that
# the machine's /run/dbus has no system bus socket it did not have before.

LAB_FIREWALLD_SCENARIOS=(firewalld-docker-publish firewalld-started-after-docker firewalld-strict-forward-ports firewalld-iptables-backend)
LAB_SCENARIOS+=("${LAB_FIREWALLD_SCENARIOS[@]}")
LAB_FWD_SUMS=""
LAB_FWD_BUS_BEFORE=""
LAB_FWD_DBUS_PID=""
LAB_FWD_PID=""

lab_fwd_sums() { find /etc/firewalld -type f -print0 | sort -z | xargs -0 sha256sum; }

# The holder: host netns + a private mount namespace with the lab's /run and /etc/firewalld.
lab_fwd_holder() {
  command -v firewalld >/dev/null || lab_die "firewalld is missing (scripts/deps.sh installs it)"
  command -v dbus-daemon >/dev/null || lab_die "dbus-daemon is missing (scripts/deps.sh installs it)"
  [[ -z "${LAB_HOLDER_PID:-}" ]] || lab_die "a mount namespace holder already runs (pid $LAB_HOLDER_PID)"
  LAB_FWD_SUMS=$(lab_fwd_sums)
  LAB_FWD_BUS_BEFORE=$(ls -la /run/dbus 2>&1)
  mkdir -p "$LAB_TMP/fwd-copy"
  cp -a /etc/firewalld "$LAB_TMP/fwd-copy/etc-firewalld"
  # dockerd must reach the lab's bus, not the machine's: it starts inside the holder too.
  LAB_DOCKERD_IN_HOLDER=1
  cat >"$LAB_TMP/holder.sh" <<EOF
#!/bin/bash
set -e
mount --make-rprivate /
mount --bind $(printf '%q' "$LAB_TMP/fwd-copy/etc-firewalld") /etc/firewalld
mount -t tmpfs -o mode=755 fwlab-run /run
mkdir -p /run/dbus
chown messagebus: /run/dbus 2>/dev/null || true
touch $(printf '%q' "$LAB_TMP/holder.ready")
exec sleep infinity
EOF
  setsid ip netns exec "$LAB_HOST" unshare -m bash "$LAB_TMP/holder.sh" </dev/null >>"$LAB_TMP/holder.log" 2>&1 &
  LAB_HOLDER_PID=$!
  local i
  for ((i = 0; i < 50; i++)); do
    [[ -e "$LAB_TMP/holder.ready" ]] && break
    kill -0 "$LAB_HOLDER_PID" 2>/dev/null || lab_die "mount namespace holder exited: $(cat "$LAB_TMP/holder.log")"
    sleep 0.1
  done
  [[ -e "$LAB_TMP/holder.ready" ]] || lab_die "mount namespace holder not ready after 5 s"
  lab_in_host mountpoint -q /etc/firewalld || lab_die "holder: /etc/firewalld is not its private copy"
  lab_in_host mountpoint -q /run || lab_die "holder: /run is not its private tmpfs"
  mountpoint -q /etc/firewalld && lab_die "/etc/firewalld is a mount point outside the holder: refusing"
  return 0
}

# lab_fwd_start [BACKEND] — the holder (unless there is one), the lab's system bus, firewalld
# (FirewallBackend=BACKEND in the lab's copy of firewalld.conf: nftables, the default, or iptables).
lab_fwd_start() {
  [[ -n "${LAB_HOLDER_PID:-}" ]] || lab_fwd_holder
  local backend=${1:-nftables}
  sed -i "s/^FirewallBackend=.*/FirewallBackend=$backend/" "$LAB_TMP/fwd-copy/etc-firewalld/firewalld.conf"
  grep -qx "FirewallBackend=$backend" "$LAB_TMP/fwd-copy/etc-firewalld/firewalld.conf" ||
    lab_die "could not set FirewallBackend=$backend in the lab's firewalld.conf"
  # Started like dockerd: setsid (no fork) + nsenter -m -n (no fork without --pid): $! is the
  # daemon's own pid.
  setsid nsenter -t "$LAB_HOLDER_PID" -m -n dbus-daemon --system --nofork --nopidfile \
    </dev/null >>"$LAB_TMP/dbus.log" 2>&1 &
  LAB_FWD_DBUS_PID=$!
  local i
  for ((i = 0; i < 50; i++)); do
    lab_in_host test -S /run/dbus/system_bus_socket && break
    kill -0 "$LAB_FWD_DBUS_PID" 2>/dev/null || lab_die "dbus-daemon exited: $(cat "$LAB_TMP/dbus.log")"
    sleep 0.1
  done
  lab_in_host test -S /run/dbus/system_bus_socket || lab_die "the lab's system bus did not come up in 5 s"
  setsid nsenter -t "$LAB_HOLDER_PID" -m -n firewalld --nofork --nopid \
    --log-target file --log-file "$LAB_TMP/firewalld.log" </dev/null >>"$LAB_TMP/firewalld.out" 2>&1 &
  LAB_FWD_PID=$!
  for ((i = 0; i < 60; i++)); do   # 30 s
    [[ "$(lab_in_host firewall-cmd --state 2>/dev/null)" == running ]] && break
    kill -0 "$LAB_FWD_PID" 2>/dev/null ||
      lab_die "firewalld exited during start: $(tail -n 20 "$LAB_TMP/firewalld.out" "$LAB_TMP/firewalld.log" 2>&1)"
    sleep 0.5
  done
  [[ "$(lab_in_host firewall-cmd --state 2>/dev/null)" == running ]] || lab_die "firewalld not running after 30 s"
  if [[ "$backend" == nftables ]]; then
    lab_in_host nft list table inet firewalld >/dev/null || lab_die "firewalld runs but has no 'inet firewalld' table"
  else
    lab_in_host iptables-nft -S INPUT_ZONES >/dev/null || lab_die "firewalld (iptables backend) runs but made no INPUT_ZONES chain"
  fi
  lab_log "firewalld $(lab_in_host firewall-cmd --version) running on the lab's own bus (pid $LAB_FWD_PID, dbus $LAB_FWD_DBUS_PID, holder $LAB_HOLDER_PID)"
}

lab_fwd_stop_pid() {   # lab_fwd_stop_pid PID NAME
  local pid=$1 i
  [[ -n "$pid" ]] || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 20; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  kill -0 "$pid" 2>/dev/null && { lab_log "$2 $pid did not stop in 10 s: SIGKILL"; kill -KILL "$pid" 2>/dev/null; }
  wait "$pid" 2>/dev/null || true
}

# At teardown (from lab.sh, after dockerd stopped): firewalld, then its bus, by pid; then the
# machine's /etc/firewalld and /run/dbus must be as they were.
lab_firewalld_teardown() {
  [[ -n "$LAB_FWD_SUMS" ]] || return 0
  local rc=0
  [[ -n "$LAB_FWD_PID" ]] && lab_log "stopping firewalld (pid $LAB_FWD_PID)"
  lab_fwd_stop_pid "$LAB_FWD_PID" firewalld
  lab_fwd_stop_pid "$LAB_FWD_DBUS_PID" dbus-daemon
  LAB_FWD_PID="" LAB_FWD_DBUS_PID=""
  if [[ "$(lab_fwd_sums)" != "$LAB_FWD_SUMS" ]]; then
    printf '[lab] ERROR: the machine'"'"'s /etc/firewalld changed during the run\n' >&2
    rc=1
  fi
  if [[ "$(ls -la /run/dbus 2>&1)" != "$LAB_FWD_BUS_BEFORE" ]]; then
    printf '[lab] ERROR: the machine'"'"'s /run/dbus changed during the run\n' >&2
    rc=1
  fi
  ((rc)) || lab_log "the machine's /etc/firewalld (sha256) and /run/dbus are unchanged; the lab's firewalld and bus are stopped"
  return "$rc"
}

lab_fwd_zones_note() {
  local z
  z=$(lab_in_host firewall-cmd --get-active-zones | tr '\n' ' ' | sed 's/ *$//')
  LAB_NOTES+="${LAB_NOTES:+ }firewall-cmd --get-active-zones: ${z:-(none)}."
}

scenario_firewalld-docker-publish() {
  LAB_DESCRIPTION="Debian's firewalld 1.3 (nftables backend, default zone public) on the lab's own D-Bus system bus, then dockerd 20.10 (iptables-nft) beside it, one container -p 8080:80. dockerd finds firewalld on the bus and puts docker0 in firewalld's 'docker' zone (target ACCEPT); firewalld's filter_FORWARD (priority filter + 10) accepts 'ct status dnat' before any zone."
  lab_fwd_start
  lab_dockerd_start nft
  lab_container web1 8080
  lab_fwd_zones_note
}

scenario_firewalld-started-after-docker() {
  LAB_DESCRIPTION="dockerd 20.10 (iptables-nft) started first with one container -p 8080:80, then Debian's firewalld 1.3 (nftables backend) on the lab's own bus. Seen: firewalld's start flushes the iptables-nft tables (Docker's chains, jumps and DNAT are gone; the FORWARD policy DROP Docker set stays) and dockerd, which never saw firewalld on the bus, does not put them back; docker0 is in no firewalld zone. docker-proxy still listens on 8080, so the port now goes through INPUT, where firewalld's public zone rejects it."
  lab_fwd_holder
  lab_dockerd_start nft
  lab_container web1 8080
  lab_fwd_start
  lab_fwd_zones_note
}

scenario_firewalld-strict-forward-ports() {
  LAB_DESCRIPTION="As firewalld-docker-publish, then firewalld's StrictForwardPorts=yes layout (firewalld >= 2.3; 1.3 has no such setting) loaded by hand into the running firewalld's table: 'ct status dnat accept' in filter_FORWARD replaced by 'ct status dnat jump filter_FORWARD_dnat', a chain holding only 'reject with icmpx admin-prohibited' (no forward-port configured), as firewalld.org's 'Strict Forward Ports' post (2024-11-06) shows it."
  lab_fwd_start
  lab_dockerd_start nft
  lab_container web1 8080
  local h
  h=$(lab_in_host nft -a list chain inet firewalld filter_FORWARD | awk '/ct status dnat accept/ { print $NF; exit }')
  [[ -n "$h" ]] || lab_die "no 'ct status dnat accept' in firewalld's filter_FORWARD"
  lab_in_host nft add chain inet firewalld filter_FORWARD_dnat
  lab_in_host nft add rule inet firewalld filter_FORWARD_dnat reject with icmpx admin-prohibited
  lab_in_host nft replace rule inet firewalld filter_FORWARD handle "$h" ct status dnat jump filter_FORWARD_dnat
  lab_fwd_zones_note
}

scenario_firewalld-iptables-backend() {
  LAB_DESCRIPTION="Debian's firewalld 1.3 with FirewallBackend=iptables (set in the lab's copy of firewalld.conf; its rules go through /usr/sbin/iptables = iptables-nft) on the lab's own bus, then dockerd 20.10 (iptables-nft) beside it, one container -p 8080:80: firewalld's chains and Docker's share ip filter FORWARD."
  lab_fwd_start iptables
  lab_dockerd_start nft
  lab_container web1 8080
  lab_fwd_zones_note
}
