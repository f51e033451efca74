# lab/podman.sh — Debian's real podman (4.3, rootful, CNI network backend) beside dockerd in
# the lab's host namespace. Sourced by lab/lab.sh; uses its helpers and state.
#
# podman reads and writes /etc/containers, /etc/cni, /var/lib/cni (host-local IPAM, CNI cache),
# /run (libpod state, netns files) and /dev/shm (its locks). The machine's own files are never
# touched: a long-lived holder process in the host netns runs in a private mount namespace with
# copies of /etc/containers and /etc/cni bind-mounted over the originals, an empty directory of
# the run bind-mounted over /var/lib (so /var/lib/cni is the run's), tmpfs on /run and /dev/shm,
# and cgroup2 on /sys/fs/cgroup; podman,
# the capture and the truth's host curls run there (`nsenter -t HOLDER -m -n`, via lab_in_host).
# Its images and containers live under the run's temp dir (--root, --runroot, --tmpdir,
# TMPDIR); its containers run under the lab's cgroup parent (so the lab's reaper finds them).
# At teardown: every podman container removed, conmon and container processes stopped by pid
# (lab_podman_pids), and the machine's files compared with their checksums from the start.

LAB_PODMAN_SCENARIOS=(podman-beside-docker podman-beside-docker-user-accept)
LAB_SCENARIOS+=("${LAB_PODMAN_SCENARIOS[@]}")
LAB_PODMAN_DIR=""       # $LAB_TMP/podman once started
LAB_PODMAN_SUMS=""      # what the machine's files were at the start
LAB_PODMAN_BRIDGE=cni-podman0
LAB_PODMAN_CIDR=10.88.0.0/16

# The machine's podman/CNI files and the paths podman would create: checksums of the files,
# and whether each path podman writes to by default exists (it must not appear).
lab_podman_sums() {
  find /etc/containers /etc/cni -type f -print0 2>/dev/null | sort -z | xargs -0 -r sha256sum
  local p
  for p in /var/lib/cni /var/lib/containers /run/containers /run/libpod /run/cni /run/podman \
           /var/run/libpod /dev/shm/libpod_lock /var/tmp/libpod; do
    if [[ -e "$p" ]]; then echo "exists $p"; else echo "absent $p"; fi
  done
  ls -1 /run/netns 2>/dev/null | grep '^cni-' || true
}

# lab_podman ARGS... — podman with this run's storage, state and network config.
lab_podman() {
  local d=$LAB_PODMAN_DIR
  timeout 60 env TMPDIR="$d/tmp" CONTAINERS_CONF="$d/containers.conf" \
    nsenter -t "$LAB_HOLDER_PID" -m -n env PATH="$(lab_system_path)" \
    podman --root "$d/root" --runroot "$d/runroot" --tmpdir "$d/libpod-tmp" \
    --network-config-dir "$d/cni-net.d" --cgroup-manager cgroupfs --events-backend file "$@"
}

lab_podman_start() {
  local c
  for c in podman conmon; do
    command -v "$c" >/dev/null || lab_die "$c is missing (scripts/deps.sh installs podman)"
  done
  [[ -x /usr/lib/cni/bridge && -x /usr/lib/cni/portmap ]] ||
    lab_die "CNI plugins missing in /usr/lib/cni (containernetworking-plugins)"
  [[ -z "$LAB_HOLDER_PID" ]] || lab_die "a mount namespace holder already runs (pid $LAB_HOLDER_PID)"
  LAB_PODMAN_SUMS=$(lab_podman_sums)
  local d="$LAB_TMP/podman"
  LAB_PODMAN_DIR=$d
  mkdir -p "$d"/{root,runroot,libpod-tmp,tmp,cni-net.d,var-lib,etc-containers,etc-cni}
  : >"$d/client-netns"
  cp -a /etc/containers/. "$d/etc-containers/"
  [[ -d /etc/cni ]] && cp -a /etc/cni/. "$d/etc-cni/"
  # The lab's own network config: Debian's default 'podman' network (cni-podman0, 10.88.0.0/16,
  # bridge + portmap + firewall + tuning), written here rather than copied, so the lab does not
  # depend on what the machine's /etc/cni holds.
  cat >"$d/cni-net.d/87-podman-bridge.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "podman",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$LAB_PODMAN_BRIDGE",
      "isGateway": true,
      "ipMasq": true,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "routes": [{ "dst": "0.0.0.0/0" }],
        "ranges": [[{ "subnet": "$LAB_PODMAN_CIDR", "gateway": "10.88.0.1" }]]
      }
    },
    { "type": "portmap", "capabilities": { "portMappings": true } },
    { "type": "firewall" },
    { "type": "tuning" }
  ]
}
EOF
  # No pids controller and no CAP_SYS_RESOURCE in this sandbox (shared/LAB.md).
  cat >"$d/containers.conf" <<EOF
[containers]
pids_limit = 0
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "runc"
network_cmd_path = ""
[network]
network_backend = "cni"
cni_plugin_dirs = ["/usr/lib/cni"]
network_config_dir = "$d/cni-net.d"
EOF
  cp "$d/containers.conf" "$d/etc-containers/containers.conf"
  cat >"$LAB_TMP/podman-holder.sh" <<EOF
#!/bin/bash
set -e
mount --make-rprivate /
mount --bind $(printf '%q' "$d/etc-containers") /etc/containers
mount --bind $(printf '%q' "$d/etc-cni") /etc/cni
mount --bind $(printf '%q' "$d/var-lib") /var/lib
# The lab's client netns stays reachable by name (\`ip netns exec\` of a \`run\` script) under the
# private /run: its file is bind-mounted through the run's dir.
mount --bind /run/netns/$(printf '%q' "$LAB_CLIENT") $(printf '%q' "$d/client-netns")
mount -t tmpfs -o mode=755 fwlab-run /run
mkdir /run/netns
touch /run/netns/$(printf '%q' "$LAB_CLIENT")
mount --bind $(printf '%q' "$d/client-netns") /run/netns/$(printf '%q' "$LAB_CLIENT")
mount -t tmpfs -o mode=1777 fwlab-shm /dev/shm
umount -l /sys/fs/cgroup 2>/dev/null || true
mount -t cgroup2 none /sys/fs/cgroup
touch $(printf '%q' "$LAB_TMP/podman-holder.ready")
exec sleep infinity
EOF
  # /etc/cni must exist before the holder's bind mount; it does with containernetworking-plugins.
  [[ -d /etc/cni ]] || lab_die "/etc/cni is missing: the lab does not create it on the machine"
  setsid ip netns exec "$LAB_HOST" unshare -m bash "$LAB_TMP/podman-holder.sh" </dev/null >>"$LAB_TMP/podman-holder.log" 2>&1 &
  LAB_HOLDER_PID=$!
  local i
  for ((i = 0; i < 50; i++)); do
    [[ -e "$LAB_TMP/podman-holder.ready" ]] && break
    kill -0 "$LAB_HOLDER_PID" 2>/dev/null || lab_die "podman's mount namespace holder exited: $(cat "$LAB_TMP/podman-holder.log")"
    sleep 0.1
  done
  [[ -e "$LAB_TMP/podman-holder.ready" ]] || lab_die "podman's mount namespace holder not ready after 5 s"
  lab_in_host mountpoint -q /etc/containers || lab_die "holder: /etc/containers is not its private copy"
  lab_in_host mountpoint -q /var/lib || lab_die "holder: /var/lib is not private"
  mountpoint -q /etc/containers && lab_die "/etc/containers is a mount point outside the holder: refusing"
  # The client reaches Podman's container addresses through the host, as Docker's.
  ip -n "$LAB_CLIENT" route add "$LAB_PODMAN_CIDR" via 10.99.0.1
  lab_log "podman ready in a private mount namespace (holder pid $LAB_HOLDER_PID, storage $d)"
}

# lab_podman_container NAME HOST_PORT [CONTAINER_PORT] — the lab's busybox httpd under podman.
lab_podman_container() {
  local name=$1 hport=$2 cport=${3:-80} r="$LAB_TMP/rootfs" pid i hex
  if ! lab_podman image exists localhost/lab:1; then
    [[ -d "$r" ]] || lab_image   # the same rootfs (and marker) as Docker's lab:1
    tar -C "$r" -c . | lab_podman import - localhost/lab:1 >/dev/null
  fi
  lab_podman run -d --name "$name" --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 \
    --cgroup-parent "$LAB_CGROUP_PARENT" -p "$hport:$cport" localhost/lab:1 \
    /bin/httpd -f -p "$cport" -h /www >/dev/null
  LAB_PORTS+=("tcp $hport $cport $name podman")
  hex=$(printf ':%04X [0-9A-F]+:0000 0A' "$cport")
  pid=$(lab_podman inspect -f '{{.State.Pid}}' "$name")
  for ((i = 0; i < 100; i++)); do
    cat "/proc/$pid/net/tcp" "/proc/$pid/net/tcp6" 2>/dev/null | grep -Eq "$hex" && break
    sleep 0.1
  done
  ((i < 100)) || lab_die "podman container $name: nothing listens on port $cport after 10 s"
  lab_log "podman container $name ($(lab_podman_ip "$name")) publishes tcp $hport -> $cport"
}

lab_podman_ip() { lab_podman inspect -f '{{.NetworkSettings.IPAddress}}' "$1"; }
lab_podman_state() { lab_podman inspect -f '{{.State.Status}}' "$1"; }

# At teardown (from lab.sh), before dockerd stops: remove podman's containers (CNI DEL removes
# its rules and the container's netns).
lab_podman_stop() {
  [[ -n "$LAB_PODMAN_DIR" && -n "$LAB_HOLDER_PID" ]] || return 0
  kill -0 "$LAB_HOLDER_PID" 2>/dev/null || return 0
  lab_log "removing podman containers"
  lab_podman rm -f -t 0 -a >/dev/null 2>&1 || lab_log "WARNING: podman rm -a failed"
}

# Processes of podman's this run left (conmon, containers): their command lines hold its dir.
lab_podman_pids() {
  [[ -n "$LAB_PODMAN_DIR" ]] || return 0
  lab_pids_with "$LAB_PODMAN_DIR"
}

# At teardown (from lab.sh), after the reaper: the machine's files must be as they were.
lab_podman_verify() {
  [[ -n "$LAB_PODMAN_SUMS" ]] || return 0
  if [[ "$(lab_podman_sums)" != "$LAB_PODMAN_SUMS" ]]; then
    printf '[lab] ERROR: the machine'"'"'s podman/CNI files changed during the run:\n' >&2
    diff <(echo "$LAB_PODMAN_SUMS") <(lab_podman_sums) >&2
    return 1
  fi
  lab_log "the machine's /etc/containers, /etc/cni are unchanged (sha256), and podman created none of its default paths"
}

scenario_podman-beside-docker() {
  LAB_DESCRIPTION="dockerd (iptables-nft) with web1 -p 8080:80 — it enables ip_forward and so sets 'FORWARD policy DROP' — then Debian's rootful podman 4.3 (CNI: bridge $LAB_PODMAN_BRIDGE, $LAB_PODMAN_CIDR, portmap + firewall plugins) with pweb1 -p 8090:80. CNI-FORWARD accepts only replies and the container's own traffic, so a new connection to Podman's port falls through to Docker's policy DROP (podman#24486)."
  lab_dockerd_start nft
  lab_container web1 8080
  lab_podman_start
  lab_podman_container pweb1 8090
}

scenario_podman-beside-docker-user-accept() {
  LAB_DESCRIPTION="As podman-beside-docker, plus the fix in Docker's own chain: 'iptables -I DOCKER-USER -o $LAB_PODMAN_BRIDGE -j ACCEPT' and 'iptables -I DOCKER-USER -i $LAB_PODMAN_BRIDGE -j ACCEPT' (iptables-nft, Docker's stack): Podman's port is reachable."
  lab_dockerd_start nft
  lab_container web1 8080
  lab_podman_start
  lab_podman_container pweb1 8090
  lab_in_host iptables -I DOCKER-USER -o "$LAB_PODMAN_BRIDGE" -j ACCEPT
  lab_in_host iptables -I DOCKER-USER -i "$LAB_PODMAN_BRIDGE" -j ACCEPT
}
