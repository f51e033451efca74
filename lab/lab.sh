#!/usr/bin/env bash
# lab/lab.sh — a real dockerd in network namespaces, for fwdoctor's fixtures and live tests.
#
# Usage:
#   lab/lab.sh list                         scenario names, one a line
#   lab/lab.sh prereqs                      check root + tools; prints what is missing, exit 1
#   lab/lab.sh scenario NAME OUTDIR         set NAME up, run `$FWDOCTOR capture -o OUTDIR`
#                                           inside the host netns, write OUTDIR/truth.json
#   lab/lab.sh run NAME -- CMD [ARGS...]    set NAME up, run CMD inside the host netns
#                                           (DOCKER_HOST set, LAB_CLIENT = the client
#                                           netns), exit with CMD's status;
#                                           stderr then has "[lab ...] command exited N"
#   lab/lab.sh shell NAME                   set NAME up, open an interactive shell in the host netns
#
# Environment:
#   FWDOCTOR        fwdoctor binary for `scenario` (required there unless LAB_NO_CAPTURE=1)
#   LAB_NO_CAPTURE  =1: `scenario` skips the capture (development only; make-fixtures refuses it)
#   LAB_RAW_DIR     if set, `scenario` also dumps iptables-legacy-save, iptables-nft-save,
#                   `nft -j list ruleset`, sysctls and `docker ps` into LAB_RAW_DIR/NAME/
#   LAB_TRUTH_DIR   if set, `run` writes LAB_TRUTH_DIR/truth.json before running CMD
#   LAB_DEBUG       =1: print dockerd's log on stderr at teardown
#
# Rules this script keeps (see shared/LAB.md): everything happens inside two network
# namespaces it creates (host, client) joined by a veth pair 10.99.0.1/24 <-> 10.99.0.2/24
# (and fd99::1/64 <-> fd99::2/64; the client routes 172.16.0.0/12 and fd00:d0c::/64, the
# container networks, via the host, to try the containers' addresses directly);
# the firewall of the machine's own namespace is never touched; traffic goes only to those
# addresses and to container addresses inside the host namespace; only processes this run
# started are stopped, by pid; teardown runs on every exit (also failure and Ctrl-C).
#
# Names carry a per-run id, so parallel runs do not collide.

set -euo pipefail
# The tools live in sbin; a caller's PATH (cron, CI, sudo) may lack it.
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

LAB_SELF=$(readlink -f "${BASH_SOURCE[0]}")
LAB_ROOT=$(dirname "$LAB_SELF")

LAB_SCENARIOS=(
  healthy
  report-bug
  reverse-split
  docker-chains-flushed
  docker-chains-flushed-no-proxy
  ip-forward-off
  nft-native-forward-drop
  legacy-leftovers-harmless
  iptables-false
  docker-user-drop
  stale-legacy-docker
  input-drop
  forward-off-and-legacy-drop
  ipv6-healthy
  ipv6-legacy-forward-drop
  ipv6-nft-forward-drop-docker-legacy
  ipv6-forwarding-off
  ipv6-inet-drop
)
LAB_EXTRA_NETNS=()      # further namespaces of this run (layouts.sh's container netns)
# Docker 28/29 layouts built by hand (no daemon): appends its scenarios to LAB_SCENARIOS.
source "$LAB_ROOT/layouts.sh"
# Debian's real ufw in a private mount namespace: appends its scenarios.
source "$LAB_ROOT/ufw.sh"
# Debian's real firewalld on the lab's own D-Bus bus in a private mount namespace: appends its scenarios.
source "$LAB_ROOT/firewalld.sh"
# Debian's real podman beside dockerd, in a private mount namespace: appends its scenarios.
source "$LAB_ROOT/podman.sh"

# The docker CLI of the docker.io package matches its daemon; fall back to PATH.
if [[ -x /usr/bin/docker ]]; then LAB_DOCKER_CLI=/usr/bin/docker; else LAB_DOCKER_CLI=docker; fi

# ---------------------------------------------------------------- state of this run
LAB_ID=""
LAB_TMP=""
LAB_HOST=""
LAB_CLIENT=""
LAB_SOCK=""
LAB_EXEC_ROOT=""
LAB_DATA_ROOT=""
LAB_PIDFILE=""
LAB_CGROUP_PARENT=""
LAB_DOCKERD_PID=""
LAB_BACKEND=""          # stack the (last) dockerd writes to: nft | legacy
LAB_SYSTEM_ALT="nft"    # what `iptables` on the host's PATH is: nft | legacy
LAB_DESCRIPTION=""
LAB_NOTES=""
LAB_PORTS=()            # "proto host_port container_port container"
LAB_CIDS=()             # full ids of the containers this run created
LAB_TORN_DOWN=0
LAB_MARKER=""

# ---------------------------------------------------------------- small helpers
lab_log() { printf '[lab %s] %s\n' "$(date +%T)" "$*" >&2; }
# Exit status 125 for the lab's own failures, so `run` callers can tell them from CMD's.
lab_die() { printf '[lab] ERROR: %s\n' "$*" >&2; exit 125; }

# Run a command inside the host namespace, with the docker socket and the PATH whose
# `iptables` is this host's "system alternative".
lab_in_host() {
  if [[ -n "${LAB_HOLDER_PID:-}" ]]; then
    # ufw.sh's holder: the host netns plus the private mount namespace with the lab's /etc/ufw.
    nsenter -t "$LAB_HOLDER_PID" -m -n env DOCKER_HOST="unix://$LAB_SOCK" \
      PATH="$(lab_system_path)" "$@"
  else
    ip netns exec "$LAB_HOST" env DOCKER_HOST="unix://$LAB_SOCK" \
      PATH="$(lab_system_path)" "$@"
  fi
}
lab_in_client() { ip netns exec "$LAB_CLIENT" "$@"; }

lab_system_path() {
  if [[ "$LAB_SYSTEM_ALT" == legacy ]]; then
    printf '%s:%s' "$LAB_TMP/alt-legacy" "$PATH"
  else
    printf '%s' "$PATH"
  fi
}

lab_docker() { timeout 60 "$LAB_DOCKER_CLI" -H "unix://$LAB_SOCK" "$@"; }

lab_prereqs() {
  local missing=() c
  [[ $(id -u) -eq 0 ]] || missing+=("root (running as uid $(id -u))")
  for c in ip unshare setsid grep sha256sum mount umount timeout awk find dockerd containerd containerd-shim-runc-v2 runc \
           docker-proxy iptables-legacy iptables-legacy-save iptables-nft iptables-nft-save \
           ip6tables-legacy ip6tables-legacy-save ip6tables-nft ip6tables-nft-save nsenter nft curl busybox sysctl tar; do
    command -v "$c" >/dev/null 2>&1 || missing+=("$c")
  done
  [[ -x "$LAB_DOCKER_CLI" ]] || command -v "$LAB_DOCKER_CLI" >/dev/null 2>&1 || missing+=("docker (CLI)")
  if ((${#missing[@]})); then
    printf 'lab prerequisites missing: %s\n' "${missing[*]}" >&2
    printf 'install: apt-get install -y --no-install-recommends iptables nftables docker.io busybox-static curl iproute2 (and run as root)\n' >&2
    return 1
  fi
}

# ---------------------------------------------------------------- setup
lab_init() {
  lab_prereqs || exit 125
  LAB_ID="$$$RANDOM"
  LAB_ID=${LAB_ID:0:9}
  # Short path: unix socket paths (docker, containerd) must stay under 108 bytes.
  LAB_TMP=$(mktemp -d "/tmp/fwl.XXXXXX")
  LAB_HOST="fwl-h-$LAB_ID"
  LAB_CLIENT="fwl-c-$LAB_ID"
  LAB_SOCK="$LAB_TMP/docker.sock"
  LAB_EXEC_ROOT="$LAB_TMP/exec"
  LAB_DATA_ROOT="$LAB_TMP/data"
  LAB_PIDFILE="$LAB_TMP/dockerd.pid"
  LAB_CGROUP_PARENT="/fwlab-$LAB_ID"
  LAB_MARKER="fwdoctor-lab-$LAB_ID"
  trap lab_teardown EXIT
  trap 'lab_log "interrupted"; exit 130' INT
  trap 'lab_log "terminated"; exit 143' TERM HUP
  mkdir -p "$LAB_EXEC_ROOT" "$LAB_DATA_ROOT" "$LAB_TMP/alt-legacy" "$LAB_TMP/alt-nft"
  echo '{}' >"$LAB_TMP/daemon.json"
  local t
  for t in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore; do
    # ${t/tables/...}: "ip6tables" does not contain "iptables".
    ln -s "/usr/sbin/${t/tables/tables-legacy}" "$LAB_TMP/alt-legacy/$t"
    ln -s "/usr/sbin/${t/tables/tables-nft}" "$LAB_TMP/alt-nft/$t"
  done
  lab_log "run $LAB_ID: tmp $LAB_TMP, netns $LAB_HOST (10.99.0.1) + $LAB_CLIENT (10.99.0.2)"

  ip netns add "$LAB_HOST"
  ip netns add "$LAB_CLIENT"
  local vh="fwlh$LAB_ID" vc="fwlc$LAB_ID"
  ip link add "$vh" netns "$LAB_HOST" type veth peer name "$vc" netns "$LAB_CLIENT"
  ip -n "$LAB_HOST" addr add 10.99.0.1/24 dev "$vh"
  ip -n "$LAB_CLIENT" addr add 10.99.0.2/24 dev "$vc"
  ip -n "$LAB_HOST" link set lo up
  ip -n "$LAB_CLIENT" link set lo up
  ip -n "$LAB_HOST" addr add fd99::1/64 dev "$vh" nodad
  ip -n "$LAB_CLIENT" addr add fd99::2/64 dev "$vc" nodad
  ip -n "$LAB_HOST" link set "$vh" up
  ip -n "$LAB_CLIENT" link set "$vc" up
  # The client reaches container addresses through the host (routed / direct access).
  ip -n "$LAB_CLIENT" route add 172.16.0.0/12 via 10.99.0.1
  ip -n "$LAB_CLIENT" -6 route add "$LAB_V6_CIDR" via fd99::1
}

# The IPv6 network Docker gets in the ipv6-* scenarios (shared/LAB.md "IPv6 in the lab").
LAB_V6_CIDR="fd00:d0c::/64"
lab_ipv6_flags() { printf '%s\n' --ipv6 --fixed-cidr-v6 "$LAB_V6_CIDR" --experimental --ip6tables; }
# lab_dockerd_start_ipv6 BACKEND [FLAGS...] — dockerd with IPv6 on the default bridge, and
# IPv6 forwarding on in the host netns.
lab_dockerd_start_ipv6() {
  local backend=$1; shift
  lab_in_host sysctl -q -w net.ipv6.conf.all.forwarding=1
  local flags
  mapfile -t flags < <(lab_ipv6_flags)
  lab_dockerd_start "$backend" "${flags[@]}" "$@"
}

# lab_dockerd_start BACKEND [DOCKERD-FLAGS...]
#   BACKEND: nft | legacy — which iptables dockerd finds first on its PATH.
lab_dockerd_start() {
  local backend=$1; shift
  [[ -z "$LAB_DOCKERD_PID" ]] || lab_die "dockerd already running (pid $LAB_DOCKERD_PID)"
  LAB_BACKEND=$backend
  local altdir
  case "$backend" in
    nft) altdir="$LAB_TMP/alt-nft" ;;
    legacy) altdir="$LAB_TMP/alt-legacy" ;;
    *) lab_die "unknown backend $backend" ;;
  esac
  local script="$LAB_TMP/start-dockerd.sh" q=()
  local f
  for f in "$@"; do q+=("$(printf '%q' "$f")"); done
  cat >"$script" <<EOF
#!/bin/bash
# Runs under: ip netns exec $LAB_HOST unshare -m. A private mount namespace with cgroup v2
# mounted at /sys/fs/cgroup, else dockerd stops with "Devices cgroup isn't mounted".
set -e
mount --make-rprivate /
umount -l /sys/fs/cgroup 2>/dev/null || true
mount -t cgroup2 none /sys/fs/cgroup
export PATH=$(printf '%q' "$altdir:$PATH")
exec dockerd --data-root $(printf '%q' "$LAB_DATA_ROOT") --exec-root $(printf '%q' "$LAB_EXEC_ROOT") \\
  --pidfile $(printf '%q' "$LAB_PIDFILE") -H unix://$(printf '%q' "$LAB_SOCK") \\
  --config-file $(printf '%q' "$LAB_TMP/daemon.json") --storage-driver vfs --shutdown-timeout 2 \\
  --cgroup-parent $(printf '%q' "$LAB_CGROUP_PARENT") ${q[*]:-}
EOF
  lab_log "starting dockerd (backend $backend${*:+, flags: $*})"
  rm -f "$LAB_PIDFILE"
  # In its own session, so a Ctrl-C (or a signal to our process group) reaches only this
  # script, whose teardown then stops dockerd in order. Every step execs the next (setsid
  # does not fork: a background job is no group leader), so $! is dockerd's own pid.
  if [[ "${LAB_DOCKERD_IN_HOLDER:-}" == 1 ]]; then
    # firewalld.sh: dockerd must find the lab's own bus in the holder's private /run.
    setsid nsenter -t "$LAB_HOLDER_PID" -m -n unshare -m bash "$script" >>"$LAB_TMP/dockerd.log" 2>&1 </dev/null &
  else
    setsid ip netns exec "$LAB_HOST" unshare -m bash "$script" >>"$LAB_TMP/dockerd.log" 2>&1 </dev/null &
  fi
  LAB_DOCKERD_PID=$!
  local i
  for ((i = 0; i < 60; i++)); do   # 60 x 0.5 s = 30 s
    if ! kill -0 "$LAB_DOCKERD_PID" 2>/dev/null; then
      tail -n 30 "$LAB_TMP/dockerd.log" >&2 || true
      LAB_DOCKERD_PID=""
      lab_die "dockerd exited during start (log above)"
    fi
    if timeout 5 "$LAB_DOCKER_CLI" -H "unix://$LAB_SOCK" version >/dev/null 2>&1; then
      [[ "$(cat "$LAB_PIDFILE" 2>/dev/null)" == "$LAB_DOCKERD_PID" ]] ||
        lab_die "dockerd's pidfile says $(cat "$LAB_PIDFILE" 2>/dev/null), expected $LAB_DOCKERD_PID"
      lab_log "dockerd up (pid $LAB_DOCKERD_PID) after $((i / 2)) s"
      return 0
    fi
    sleep 0.5
  done
  tail -n 30 "$LAB_TMP/dockerd.log" >&2 || true
  lab_die "dockerd did not answer within 30 s (log above)"
}

# lab_dockerd_stop [KILL]  — graceful by default; KILL = SIGKILL at once, so dockerd cleans up
# nothing (its iptables rules stay; containerd, shims and docker-proxy keep running).
lab_dockerd_stop() {
  local how=${1:-TERM} pid=$LAB_DOCKERD_PID i
  [[ -n "$pid" ]] || return 0
  kill -"$how" "$pid" 2>/dev/null || true
  for ((i = 0; i < 40; i++)); do   # 20 s
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  if kill -0 "$pid" 2>/dev/null; then
    lab_log "dockerd $pid did not stop in 20 s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    sleep 0.5
  fi
  wait "$pid" 2>/dev/null || true
  LAB_DOCKERD_PID=""
}

# Import a busybox image (no registry here): rootfs with busybox, an httpd and a page.
lab_image() {
  local r="$LAB_TMP/rootfs"
  if ! lab_docker image inspect lab:1 >/dev/null 2>&1; then
    rm -rf "$r"
    mkdir -p "$r/bin" "$r/www"
    cp "$(command -v busybox)" "$r/bin/busybox"
    ln -s busybox "$r/bin/httpd"
    ln -s busybox "$r/bin/sh"
    printf '%s\n' "$LAB_MARKER" >"$r/www/index.html"
    tar -C "$r" -c . | lab_docker import - lab:1 >/dev/null
  fi
}

# lab_container NAME HOST_PORT [CONTAINER_PORT]  — a busybox httpd publishing tcp HOST_PORT.
lab_container() {
  local name=$1 hport=$2 cport=${3:-80}
  lab_image
  local id
  id=$(lab_docker run -d --name "$name" -p "$hport:$cport" lab:1 \
    /bin/httpd -f -p "$cport" -h /www)
  LAB_CIDS+=("$id")
  LAB_PORTS+=("tcp $hport $cport $name")
  lab_wait_listen "$name" "$cport"
  lab_wait_ipv6 "$name"
  lab_log "container $name ($(lab_container_ip "$name")) publishes tcp $hport -> $cport"
}

# lab_wait_listen CONTAINER PORT — until httpd listens inside the container (≤ 10 s), so a
# curl right after `docker run` never meets a not-yet-listening server. Looks at the
# container's own /proc/net/tcp: no packet crosses the firewall under test.
lab_wait_listen() {
  local name=$1 port=$2 pid hex i
  hex=$(printf ':%04X [0-9A-F]+:0000 0A' "$port")   # LISTEN, IPv4 or IPv6
  pid=$(lab_docker inspect -f '{{.State.Pid}}' "$name")
  for ((i = 0; i < 100; i++)); do
    cat "/proc/$pid/net/tcp" "/proc/$pid/net/tcp6" 2>/dev/null | grep -Eq "$hex" && return 0
    sleep 0.1
  done
  lab_die "container $name: nothing listens on port $port after 10 s"
}

# lab_wait_ipv6 CONTAINER — until no IPv6 address in the container is still tentative
# (duplicate address detection, about a second after start), so that the truth of an IPv6
# path never records a curl that only raced DAD.
lab_wait_ipv6() {
  local pid i
  pid=$(lab_docker inspect -f '{{.State.Pid}}' "$1")
  for ((i = 0; i < 100; i++)); do
    [[ -z "$(nsenter -t "$pid" -n ip -6 addr show tentative 2>/dev/null)" ]] && return 0
    sleep 0.1
  done
  lab_die "container $1: an IPv6 address is still tentative after 10 s"
}

lab_container_ip() {
  lab_docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$1"
}

lab_container_ip6() {
  lab_docker inspect -f '{{range .NetworkSettings.Networks}}{{.GlobalIPv6Address}}{{end}}' "$1"
}

# lab_curl WHERE PORT [ADDR] -> prints reachable | blocked (an empty ADDR: blocked, nothing
# to connect to). IPv6 literals are bracketed.
lab_curl() {
  local where=$1 port=$2 addr=${3-10.99.0.1} out ns
  [[ -n "$addr" ]] || { echo blocked; return 0; }
  [[ "$addr" == *:* ]] && addr="[$addr]"
  if [[ "$where" == client ]]; then ns=$LAB_CLIENT; else ns=$LAB_HOST; fi
  out=$(ip netns exec "$ns" curl -g -s -m 2 "http://$addr:$port/" 2>/dev/null || true)
  if [[ "$out" == *"$LAB_MARKER"* ]]; then echo reachable; else echo blocked; fi
}

# lab_paths_json PORT CONTAINER_PORT IP4 IP6 — every path of one published port, per family:
# {"ipv4": {"outside", "container_direct", "host_loopback", "host_address"}, "ipv6": {...}}
lab_paths_json() {
  local hport=$1 cport=$2 ip4=$3 ip6=$4 fam host lo cip o d l h sep=""
  printf '{'
  for fam in ipv4 ipv6; do
    if [[ $fam == ipv4 ]]; then host=10.99.0.1 lo=127.0.0.1 cip=$ip4; else host=fd99::1 lo=::1 cip=$ip6; fi
    o=$(lab_curl client "$hport" "$host")
    d=$(lab_curl client "$cport" "$cip")
    l=$(lab_curl host "$hport" "$lo")
    h=$(lab_curl host "$hport" "$host")
    lab_log "truth: $hport $fam: outside=$o container_direct=$d (${cip:-no address}:$cport) host_loopback=$l host_address=$h"
    printf '%s"%s": {"outside": "%s", "container_direct": "%s", "host_loopback": "%s", "host_address": "%s"}' \
      "$sep" "$fam" "$o" "$d" "$l" "$h"
    sep=", "
  done
  printf '}'
}

# lab_add_client ADDR — a second client address (outside the private ranges) on the client's
# veth, routed back by the host: the truth then records curl from each of LAB_CLIENTS.
LAB_CLIENTS=()
lab_add_client() {
  local addr=$1 vc
  vc=$(ip -n "$LAB_CLIENT" -o link show type veth | awk -F': ' '{print $2}' | cut -d@ -f1 | head -1)
  ip -n "$LAB_CLIENT" addr add "$addr/32" dev "$vc"
  ip -n "$LAB_HOST" route add "$addr/32" via 10.99.0.2
  LAB_CLIENTS+=("$addr")
  lab_log "client address $addr added on $vc (host route via 10.99.0.2)"
}

# lab_clients_json PORT — {"10.99.0.2": V, "ADDR": V, ...}: curl from outside to the host port
# from each client address.
lab_clients_json() {
  local port=$1 a out v sep=""
  printf '{'
  for a in 10.99.0.2 "${LAB_CLIENTS[@]}"; do
    out=$(ip netns exec "$LAB_CLIENT" curl -g -s -m 2 --interface "$a" "http://10.99.0.1:$port/" 2>/dev/null || true)
    if [[ "$out" == *"$LAB_MARKER"* ]]; then v=reachable; else v=blocked; fi
    lab_log "truth: $port from $a: $v"
    printf '%s"%s": "%s"' "$sep" "$a" "$v"
    sep=", "
  done
  printf '}'
}

lab_note() { LAB_NOTES+="${LAB_NOTES:+ }$*"; lab_log "note: $*"; }

json_str() {
  local s=$1
  s=${s//\\/\\\\}; s=${s//\"/\\\"}; s=${s//$'\n'/\\n}; s=${s//$'\t'/\\t}
  printf '"%s"' "$s"
}

# Write truth.json: what curl really did for every published port.
lab_truth() {
  if [[ -n "$LAB_LAYOUT" ]]; then layout_truth "$@"; return; fi
  local name=$1 out=$2 ver full p proto hport cport cname owner o h l ip ip6 st paths first=1
  full=$(lab_docker version --format '{{.Server.Version}}' 2>/dev/null || echo unknown)
  ver=${full%%+*}
  {
    printf '{\n'
    printf '  "scenario": %s,\n' "$(json_str "$name")"
    printf '  "description": %s,\n' "$(json_str "$LAB_DESCRIPTION")"
    printf '  "docker_version": %s,\n' "$(json_str "$ver")"
    printf '  "docker_version_full": %s,\n' "$(json_str "$full")"
    printf '  "backend": %s,\n' "$(json_str "$LAB_BACKEND")"
    printf '  "system_iptables": %s,\n' "$(json_str "$(readlink -f "$(PATH=$(lab_system_path) command -v iptables)")")"
    printf '  "client": "10.99.0.2 (outside netns) -> 10.99.0.1",\n'
    printf '  "ports": [\n'
    for p in "${LAB_PORTS[@]}"; do
      read -r proto hport cport cname owner <<<"$p"
      owner=${owner:-docker}
      o=$(lab_curl client "$hport")
      h=$(lab_curl host "$hport")
      l=$(lab_curl host "$hport" 127.0.0.1)
      if [[ "$owner" == podman ]]; then
        ip=$(lab_podman_ip "$cname" 2>/dev/null || echo "")
        ip6=""
        st=$(lab_podman_state "$cname" 2>/dev/null || echo unknown)
      else
        ip=$(lab_container_ip "$cname" 2>/dev/null || echo "")
        ip6=$(lab_container_ip6 "$cname" 2>/dev/null || echo "")
        st=$(lab_docker inspect -f '{{.State.Status}}' "$cname" 2>/dev/null || echo unknown)
      fi
      lab_log "truth: $proto/$hport -> $cname:$cport ($st)  outside=$o host=$h host_loopback=$l"
      paths=$(lab_paths_json "$hport" "$cport" "$ip" "$ip6")
      if ((${#LAB_CLIENTS[@]})); then paths+=", \"clients\": $(lab_clients_json "$hport")"; fi
      ((first)) || printf ',\n'
      first=0
      printf '    {"proto": "%s", "host_port": %d, "container_port": %d, "container": %s, "owner": "%s", "container_ip": %s, "container_ip6": %s, "container_state": %s, "outside": "%s", "host": "%s", "host_loopback": "%s",\n     "paths": %s}' \
        "$proto" "$hport" "$cport" "$(json_str "$cname")" "$owner" "$(json_str "$ip")" "$(json_str "$ip6")" "$(json_str "$st")" "$o" "$h" "$l" "$paths"
    done
    printf '\n  ],\n'
    printf '  "notes": %s,\n' "$(json_str "$LAB_NOTES")"
    printf '  "curl": "curl -g -s -m 2 http://ADDR:PORT/; reachable = the page came back; outside = from the client netns to 10.99.0.1, host = from the host netns to 10.99.0.1, host_loopback = from the host netns to 127.0.0.1; paths.FAMILY: outside = client to 10.99.0.1 / [fd99::1] on the host port, container_direct = client to the container address on the container port (routed via the host; blocked when the container has no address of that family), host_loopback = host to 127.0.0.1 / [::1], host_address = host to 10.99.0.1 / [fd99::1]",\n'
    printf '  "captured_with": "lab/lab.sh",\n'
    printf '  "date": "%s"\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    printf '}\n'
  } >"$out/truth.json"
}

# Raw state for checking a scenario by eye (not a capture; never committed as a fixture).
lab_raw_dump() {
  local d=$1
  mkdir -p "$d"
  lab_in_host iptables-legacy-save >"$d/iptables-legacy-save.txt" 2>&1 || true
  lab_in_host iptables-nft-save >"$d/iptables-nft-save.txt" 2>&1 || true
  lab_in_host nft -j list ruleset >"$d/nft-ruleset.json" 2>&1 || true
  lab_in_host nft list ruleset >"$d/nft-ruleset.txt" 2>&1 || true
  lab_in_host cat /proc/net/ip_tables_names >"$d/legacy-tables.txt" 2>&1 || true
  lab_in_host sysctl net.ipv4.ip_forward >"$d/sysctl.txt" 2>&1 || true
  lab_docker ps -a >"$d/docker-ps.txt" 2>&1 || true
  lab_in_host ss -ltnp >"$d/ss.txt" 2>&1 || true
}

# ---------------------------------------------------------------- teardown
lab_pids_with() {   # pids whose command line contains $1 (never ourselves)
  local p cmd
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    [[ "$p" == "$$" || "$p" == "$BASHPID" ]] && continue
    cmd=$(tr '\0' ' ' 2>/dev/null <"/proc/$p/cmdline") || continue
    [[ "$cmd" == *"$1"* ]] && echo "$p"
  done
  return 0
}

# Every process this run started that is still alive: dockerd's children (containerd, shims:
# their command lines hold our exec-root), docker-proxy and anything else in our namespaces,
# container processes (in our cgroup parent).
lab_run_pids() {
  local cg
  cg=$(lab_cgroup2_root)
  {
    lab_pids_with "$LAB_EXEC_ROOT"
    lab_podman_pids
    [[ -n "$LAB_HOST" ]] && ip netns pids "$LAB_HOST" 2>/dev/null
    [[ -n "$LAB_CLIENT" ]] && ip netns pids "$LAB_CLIENT" 2>/dev/null
    local ns
    for ns in "${LAB_EXTRA_NETNS[@]}"; do ip netns pids "$ns" 2>/dev/null; done
    if [[ -n "$cg" && -d "$cg$LAB_CGROUP_PARENT" ]]; then
      find "$cg$LAB_CGROUP_PARENT" -name cgroup.procs -exec cat {} + 2>/dev/null
    fi
  } | sort -un
}

# lab_reap SIGNAL...  — one round per signal, 1 s apart, until nothing of ours is left.
lab_reap() {
  local sig pids p
  for sig in "$@"; do
    pids=$(lab_run_pids)
    [[ -z "$pids" ]] && return 0
    lab_log "stopping pids of this run ($sig): $(for p in $pids; do printf '%s(%s) ' "$p" "$(cat "/proc/$p/comm" 2>/dev/null)"; done)"
    for p in $pids; do kill -"$sig" "$p" 2>/dev/null || true; done
    sleep 1
  done
  pids=$(lab_run_pids)
  [[ -z "$pids" ]] || lab_log "WARNING: still alive: $(echo $pids)"
}

# A shim killed with SIGKILL (stale-legacy-docker) leaves its socket in /run/containerd/s.
# containerd 1.6 names it sha256(<containerd address>/<namespace>/<container id>): remove
# exactly the ones of this run's containers, if still there.
lab_shim_sockets_rm() {
  local id h
  for id in "${LAB_CIDS[@]}"; do
    h=$(printf '%s' "$LAB_EXEC_ROOT/containerd/containerd.sock/moby/$id" | sha256sum | cut -d' ' -f1)
    if [[ -S "/run/containerd/s/$h" ]]; then
      lab_log "removing stale shim socket /run/containerd/s/$h"
      rm -f "/run/containerd/s/$h"
    fi
  done
}

lab_cgroup2_root() { awk '$3 == "cgroup2" { print $2; exit }' /proc/self/mounts; }

lab_teardown() {
  local rc=$?
  ((LAB_TORN_DOWN)) && return 0
  LAB_TORN_DOWN=1
  trap '' INT TERM HUP
  set +e
  [[ -n "$LAB_TMP" ]] || exit "$rc"
  lab_log "teardown (exit status $rc)"
  if [[ -n "$LAB_DOCKERD_PID" ]] && kill -0 "$LAB_DOCKERD_PID" 2>/dev/null; then
    local ids
    ids=$(timeout 10 "$LAB_DOCKER_CLI" -H "unix://$LAB_SOCK" ps -aq 2>/dev/null)
    if [[ -n "$ids" ]]; then
      lab_log "removing containers"
      timeout 30 "$LAB_DOCKER_CLI" -H "unix://$LAB_SOCK" rm -f $ids >/dev/null 2>&1
    fi
  fi
  lab_podman_stop
  [[ -n "$LAB_DOCKERD_PID" ]] && lab_log "stopping dockerd (pid $LAB_DOCKERD_PID)"
  lab_dockerd_stop TERM
  # Whatever is left that this run started: containerd and shims (their command lines hold
  # our exec-root), docker-proxy and anything else living in our namespaces, and container
  # processes in our cgroup parent.
  lab_firewalld_teardown || rc=125
  lab_reap TERM TERM KILL KILL
  lab_ufw_verify || rc=125
  lab_podman_verify || rc=125
  local cg
  cg=$(lab_cgroup2_root)
  if [[ -n "$cg" && -d "$cg$LAB_CGROUP_PARENT" ]]; then
    find "$cg$LAB_CGROUP_PARENT" -depth -type d -exec rmdir {} \; 2>/dev/null
  fi
  lab_shim_sockets_rm
  [[ -n "$LAB_HOST" ]] && ip netns del "$LAB_HOST" 2>/dev/null
  [[ -n "$LAB_CLIENT" ]] && ip netns del "$LAB_CLIENT" 2>/dev/null
  local ns
  for ns in "${LAB_EXTRA_NETNS[@]}"; do ip netns del "$ns" 2>/dev/null; done
  # Mounts under our temp dir (none are expected: dockerd's live in its private namespace).
  local m
  for m in $(awk -v t="$LAB_TMP" 'index($2, t) == 1 { print $2 }' /proc/self/mounts | sort -r); do
    umount -l "$m" 2>/dev/null
  done
  if [[ "${LAB_DEBUG:-}" == 1 && -f "$LAB_TMP/dockerd.log" ]]; then
    lab_log "dockerd log:"; cat "$LAB_TMP/dockerd.log" >&2
  fi
  rm -rf "$LAB_TMP"
  lab_log "teardown done"
  exit "$rc"
}

# ---------------------------------------------------------------- scenarios
# Each scenario_X function sets LAB_DESCRIPTION, starts dockerd, runs containers and applies
# its change. Names are fixed: fixtures/lab/NAME and tests refer to them.

scenario_healthy() {
  LAB_DESCRIPTION="Docker on iptables-nft (the system alternative), one container -p 8080:80; nothing else."
  lab_dockerd_start nft
  lab_container web1 8080
}

scenario_report-bug() {
  LAB_DESCRIPTION="The seed report: Docker on iptables-nft, one container -p 8080:80, and 'iptables-legacy -P FORWARD DROP' in the legacy stack."
  lab_dockerd_start nft
  lab_container web1 8080
  lab_in_host iptables-legacy -P FORWARD DROP
}

scenario_reverse-split() {
  LAB_DESCRIPTION="Docker on iptables-legacy (host whose alternative is legacy, via a PATH dir of symlinks), one container -p 8080:80, and 'iptables-nft -P FORWARD DROP' in the nf_tables stack."
  LAB_SYSTEM_ALT=legacy
  lab_dockerd_start legacy
  lab_container web1 8080
  lab_in_host iptables-nft -P FORWARD DROP
}

scenario_docker-chains-flushed() {
  LAB_DESCRIPTION="Docker on iptables-nft, one container -p 8080:80, then 'iptables-nft -F DOCKER; iptables-nft -t nat -F DOCKER' (filter ACCEPT and nat DNAT for the port gone; userland proxy on, the default)."
  lab_dockerd_start nft
  lab_container web1 8080
  lab_in_host iptables-nft -F DOCKER
  lab_in_host iptables-nft -t nat -F DOCKER
}

scenario_docker-chains-flushed-no-proxy() {
  LAB_DESCRIPTION="As docker-chains-flushed, but dockerd --userland-proxy=false: no docker-proxy listens on the host port, so nothing serves it once the DNAT is gone."
  lab_dockerd_start nft --userland-proxy=false
  lab_container web1 8080
  lab_in_host iptables-nft -F DOCKER
  lab_in_host iptables-nft -t nat -F DOCKER
}

scenario_ip-forward-off() {
  LAB_DESCRIPTION="Docker on iptables-nft, one container -p 8080:80, then 'sysctl -w net.ipv4.ip_forward=0' in the host netns."
  lab_dockerd_start nft
  lab_container web1 8080
  lab_in_host sysctl -q -w net.ipv4.ip_forward=0
}

scenario_nft-native-forward-drop() {
  LAB_DESCRIPTION="Docker on iptables-nft, one container -p 8080:80, plus a native nft table: 'table inet filter { chain forward { type filter hook forward priority 0; policy drop; } }'."
  lab_dockerd_start nft
  lab_container web1 8080
  lab_in_host nft add table inet filter
  lab_in_host nft add chain inet filter forward '{ type filter hook forward priority 0; policy drop; }'
}

scenario_legacy-leftovers-harmless() {
  LAB_DESCRIPTION="Docker on iptables-nft, one container -p 8080:80; legacy filter table loaded with an unused chain 'OLD' (-j RETURN) and all policies ACCEPT."
  lab_dockerd_start nft
  lab_container web1 8080
  lab_in_host iptables-legacy -N OLD
  lab_in_host iptables-legacy -A OLD -j RETURN
}

scenario_iptables-false() {
  LAB_DESCRIPTION="dockerd --iptables=false (no rules from Docker at all), one container -p 8080:80: only docker-proxy serves the port."
  lab_dockerd_start nft --iptables=false
  lab_container web1 8080
}

scenario_docker-user-drop() {
  LAB_DESCRIPTION="Docker on iptables-nft, containers web1 -p 8080:80 and web2 -p 8081:80, and 'iptables-nft -I DOCKER-USER -d <web2 ip> -p tcp --dport 80 -j DROP' (on purpose)."
  lab_dockerd_start nft
  lab_container web1 8080
  lab_container web2 8081
  local ip2
  ip2=$(lab_container_ip web2)
  lab_in_host iptables-nft -I DOCKER-USER -d "$ip2" -p tcp --dport 80 -j DROP
}

scenario_stale-legacy-docker() {
  LAB_DESCRIPTION="The report's state: dockerd on iptables-legacy (the system alternative here) with container old1 -p 8081:8000, then the whole old engine killed with SIGKILL (dockerd, and with it containerd, docker-proxy; then shim and container: nothing cleans up, so its legacy rules stay: DOCKER chains, DNAT for 8081, FORWARD policy DROP), then dockerd on iptables-nft (as the snap ships it) with the same data-root and a new container web1 -p 8080:80."
  LAB_SYSTEM_ALT=legacy
  lab_dockerd_start legacy
  # old1 serves on container port 8000, so the stale legacy ACCEPT (-d 172.17.0.2 --dport 8000)
  # cannot match web1 even when web1 gets old1's address again.
  lab_container old1 8081 8000
  local old_ip
  old_ip=$(lab_container_ip old1)
  lab_dockerd_stop KILL
  lab_reap KILL KILL
  lab_note "Old engine stopped with SIGKILL: dockerd (legacy) killed; its containerd and docker-proxy die with it (parent-death signal); the left containerd-shim and old1's httpd ($old_ip:8000, published as 8081) then killed too. Nothing removed the legacy rules. The nft dockerd then started with the same data-root and exec-root and found old1 exited."
  lab_dockerd_start nft
  lab_container web1 8080
  # old1 stays in the port list: Docker still reports its mapping (container exited).
}

scenario_input-drop() {
  LAB_DESCRIPTION="Docker on iptables-nft, one container -p 8080:80, and 'iptables-legacy -P INPUT DROP' (no ESTABLISHED rule) in the legacy stack."
  lab_dockerd_start nft
  lab_container web1 8080
  lab_in_host iptables-legacy -P INPUT DROP
}

scenario_forward-off-and-legacy-drop() {
  LAB_DESCRIPTION="Two independent blockers: Docker on iptables-nft, one container -p 8080:80, 'sysctl -w net.ipv4.ip_forward=0' and 'iptables-legacy -P FORWARD DROP' in the host netns. Fixing either alone leaves the port blocked."
  lab_dockerd_start nft
  lab_container web1 8080
  lab_in_host sysctl -q -w net.ipv4.ip_forward=0
  lab_in_host iptables-legacy -P FORWARD DROP
}

scenario_ipv6-healthy() {
  LAB_DESCRIPTION="Docker on iptables-nft with IPv6 (--ipv6 --fixed-cidr-v6 $LAB_V6_CIDR --experimental --ip6tables, net.ipv6.conf.all.forwarding=1), one container -p 8080:80; nothing else."
  lab_dockerd_start_ipv6 nft
  lab_container web1 8080
}

scenario_ipv6-legacy-forward-drop() {
  LAB_DESCRIPTION="As ipv6-healthy, plus 'ip6tables-legacy -P FORWARD DROP': IPv6 from outside is dropped in the legacy ip6 stack while IPv4 works."
  lab_dockerd_start_ipv6 nft
  lab_container web1 8080
  lab_in_host ip6tables-legacy -P FORWARD DROP
}

scenario_ipv6-nft-forward-drop-docker-legacy() {
  LAB_DESCRIPTION="Docker with IPv6 on iptables-legacy (the system alternative here), one container -p 8080:80, plus 'ip6tables-nft -P FORWARD DROP' in the nf_tables ip6 stack."
  LAB_SYSTEM_ALT=legacy
  lab_dockerd_start_ipv6 legacy
  lab_container web1 8080
  lab_in_host ip6tables-nft -P FORWARD DROP
}

scenario_ipv6-forwarding-off() {
  LAB_DESCRIPTION="As ipv6-healthy, then 'sysctl -w net.ipv6.conf.all.forwarding=0' in the host netns (IPv4 forwarding stays on)."
  lab_dockerd_start_ipv6 nft
  lab_container web1 8080
  lab_in_host sysctl -q -w net.ipv6.conf.all.forwarding=0
}

scenario_ipv6-inet-drop() {
  LAB_DESCRIPTION="As ipv6-healthy, plus a native nft table dropping only IPv6 on the forward hook: 'table inet v6block { chain forward { type filter hook forward priority 0; policy accept; meta nfproto ipv6 drop; } }'."
  lab_dockerd_start_ipv6 nft
  lab_container web1 8080
  lab_in_host nft add table inet v6block
  lab_in_host nft add chain inet v6block forward '{ type filter hook forward priority 0; policy accept; }'
  lab_in_host nft add rule inet v6block forward meta nfproto ipv6 drop
}

lab_setup() {
  local name=$1
  declare -F "scenario_$name" >/dev/null || lab_die "unknown scenario '$name' (try: lab/lab.sh list)"
  lab_init
  lab_log "scenario $name"
  "scenario_$name"
}

# ---------------------------------------------------------------- CLI
lab_usage() { sed -n '2,24p' "$LAB_SELF" | sed 's/^# \{0,1\}//' >&2; exit 64; }

lab_main() {
  local cmd=${1:-}
  [[ $# -gt 0 ]] && shift
  case "$cmd" in
    list) printf '%s\n' "${LAB_SCENARIOS[@]}" ;;
    prereqs) lab_prereqs ;;
    scenario)
      [[ $# -eq 2 ]] || lab_usage
      local name=$1 out=$2
      if [[ "${LAB_NO_CAPTURE:-}" != 1 ]]; then
        [[ -n "${FWDOCTOR:-}" ]] || lab_die "FWDOCTOR is not set (path to the fwdoctor binary)"
        FWDOCTOR=$(readlink -f "$FWDOCTOR")
        [[ -x "$FWDOCTOR" ]] || lab_die "FWDOCTOR=$FWDOCTOR is not an executable"
      fi
      mkdir -p "$out"
      out=$(readlink -f "$out")
      lab_setup "$name"
      if [[ "${LAB_NO_CAPTURE:-}" == 1 ]]; then
        lab_log "LAB_NO_CAPTURE=1: no capture (truth.json only)"
      else
        lab_log "capture: $FWDOCTOR capture -o $out (inside $LAB_HOST)"
        lab_in_host "$FWDOCTOR" capture -o "$out" >&2 ||
          lab_die "'$FWDOCTOR capture -o $out' failed (exit $?) — no fixture written"
        grep -q '"fwdoctor-capture/1"' "$out/meta.json" 2>/dev/null ||
          lab_die "'$FWDOCTOR capture -o $out' exited 0 but wrote no meta.json of format fwdoctor-capture/1 — not a capture"
      fi
      [[ -n "${LAB_RAW_DIR:-}" ]] && lab_raw_dump "$LAB_RAW_DIR/$name"
      lab_truth "$name" "$out"
      lab_log "wrote $out/truth.json"
      ;;
    run)
      [[ $# -ge 3 && "$2" == "--" ]] || lab_usage
      local name=$1
      shift 2
      lab_setup "$name"
      if [[ -n "${LAB_TRUTH_DIR:-}" ]]; then
        mkdir -p "$LAB_TRUTH_DIR"
        lab_truth "$name" "$LAB_TRUTH_DIR"
      fi
      local rc=0
      lab_log "run: $*"
      # In the background + wait, so a TERM/INT to lab.sh tears down at once (bash runs traps
      # only between foreground commands); stdin stays the caller's.
      lab_in_host env LAB_CLIENT="$LAB_CLIENT" "$@" 0<&0 &
      wait $! || rc=$?
      lab_log "command exited $rc"
      exit "$rc"
      ;;
    shell)
      [[ $# -eq 1 ]] || lab_usage
      lab_setup "$1"
      lab_log "shell in $LAB_HOST (DOCKER_HOST=unix://$LAB_SOCK, client: ip netns exec $LAB_CLIENT ...); exit to tear down"
      lab_in_host env LAB_CLIENT="$LAB_CLIENT" PS1="[lab $1] \\w# " bash --norc -i || true
      ;;
    *) lab_usage ;;
  esac
}

lab_main "$@"
