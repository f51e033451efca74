# lab/ufw.sh — Debian's real ufw (0.36) beside dockerd in the lab's host namespace.
# Sourced by lab/lab.sh; uses its helpers and state.
#
# ufw reads and writes /etc/ufw and /etc/default/ufw. The machine's own files are never
# touched: a long-lived holder process in the host netns runs in a private mount namespace
# where copies of both are bind-mounted over the originals and /run is a private tmpfs (ufw's
# lock); ufw, the capture and the truth's curls of the host run there (`nsenter -t HOLDER -m -n`,
# via lab_in_host). At teardown the machine's files are compared with their checksums from
# the start: a difference fails the run.

LAB_UFW_SCENARIOS=(ufw-enabled-docker-publish ufw-docker-recipe-route-allow ufw-docker-recipe-by-client)
LAB_SCENARIOS+=("${LAB_UFW_SCENARIOS[@]}")
LAB_HOLDER_PID=""
LAB_UFW_SUMS=""

lab_ufw_sums() { find /etc/ufw /etc/default/ufw -type f -print0 | sort -z | xargs -0 sha256sum; }

lab_ufw_start() {
  command -v ufw >/dev/null || lab_die "ufw is missing (scripts/deps.sh installs it)"
  LAB_UFW_SUMS=$(lab_ufw_sums)
  mkdir -p "$LAB_TMP/ufw-copy"
  cp -a /etc/ufw "$LAB_TMP/ufw-copy/etc-ufw"
  cp -a /etc/default/ufw "$LAB_TMP/ufw-copy/default-ufw"
  cat >"$LAB_TMP/holder.sh" <<EOF
#!/bin/bash
set -e
mount --make-rprivate /
mount --bind $(printf '%q' "$LAB_TMP/ufw-copy/etc-ufw") /etc/ufw
mount --bind $(printf '%q' "$LAB_TMP/ufw-copy/default-ufw") /etc/default/ufw
mount -t tmpfs -o mode=755 fwlab-run /run
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
  # Its bind mounts must be what ufw sees, and not what the machine sees.
  lab_in_host grep -q . /etc/ufw/ufw.conf
  lab_in_host mountpoint -q /etc/ufw || lab_die "holder: /etc/ufw is not its private copy"
  mountpoint -q /etc/ufw && lab_die "/etc/ufw is a mount point outside the holder: refusing"
  lab_in_host ufw --force enable >&2
  lab_log "ufw enabled in the lab's private copy (holder pid $LAB_HOLDER_PID)"
}

# At teardown (from lab.sh): the machine's ufw files must be as they were.
lab_ufw_verify() {
  [[ -n "$LAB_UFW_SUMS" ]] || return 0
  if [[ "$(lab_ufw_sums)" != "$LAB_UFW_SUMS" ]]; then
    printf '[lab] ERROR: the machine'"'"'s /etc/ufw or /etc/default/ufw changed during the run\n' >&2
    return 1
  fi
  lab_log "the machine's /etc/ufw and /etc/default/ufw are unchanged (sha256)"
}

# chaifeng/ufw-docker's after.rules block (README, "Solving UFW and Docker issues"), verbatim.
lab_ufw_docker_recipe() {
  cat >>"$LAB_TMP/ufw-copy/etc-ufw/after.rules" <<'EOF'

# BEGIN UFW AND DOCKER
*filter
:ufw-user-forward - [0:0]
:ufw-docker-logging-deny - [0:0]
:DOCKER-USER - [0:0]
-A DOCKER-USER -j ufw-user-forward

-A DOCKER-USER -j RETURN -s 10.0.0.0/8
-A DOCKER-USER -j RETURN -s 172.16.0.0/12
-A DOCKER-USER -j RETURN -s 192.168.0.0/16

-A DOCKER-USER -p udp -m udp --sport 53 --dport 1024:65535 -j RETURN

-A DOCKER-USER -j ufw-docker-logging-deny -p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN -d 192.168.0.0/16
-A DOCKER-USER -j ufw-docker-logging-deny -p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN -d 10.0.0.0/8
-A DOCKER-USER -j ufw-docker-logging-deny -p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN -d 172.16.0.0/12
-A DOCKER-USER -j ufw-docker-logging-deny -p udp -m udp --dport 0:32767 -d 192.168.0.0/16
-A DOCKER-USER -j ufw-docker-logging-deny -p udp -m udp --dport 0:32767 -d 10.0.0.0/8
-A DOCKER-USER -j ufw-docker-logging-deny -p udp -m udp --dport 0:32767 -d 172.16.0.0/12

-A DOCKER-USER -j RETURN

-A ufw-docker-logging-deny -m limit --limit 3/min --limit-burst 10 -j LOG --log-prefix "[UFW DOCKER BLOCK] "
-A ufw-docker-logging-deny -j DROP

COMMIT
# END UFW AND DOCKER
EOF
}

scenario_ufw-enabled-docker-publish() {
  LAB_DESCRIPTION="Debian's ufw 0.36 ('ufw --force enable': incoming deny, routed deny = FORWARD policy DROP in iptables-nft), then dockerd (iptables-nft) with one container -p 8080:80: Docker's FORWARD rules sit above ufw's. The ufw-docker-bypass case."
  lab_ufw_start
  lab_dockerd_start nft
  lab_container web1 8080
}

scenario_ufw-docker-recipe-route-allow() {
  LAB_DESCRIPTION="ufw enabled with ufw-docker's after.rules recipe (DOCKER-USER jumps to ufw-user-forward first), dockerd with one container -p 8080:80, and 'ufw route allow proto tcp from any to any port 80': ufw's own route rule accepts the traffic. The recipe also RETURNs private sources (10.0.0.0/8 covers the lab's client)."
  lab_ufw_start
  lab_ufw_docker_recipe
  lab_in_host ufw reload >&2
  lab_dockerd_start nft
  lab_container web1 8080
  lab_in_host ufw route allow proto tcp from any to any port 80 >&2
}

scenario_ufw-docker-recipe-by-client() {
  LAB_DESCRIPTION="ufw enabled with ufw-docker's after.rules recipe and no 'ufw route' rule, dockerd with one container -p 8080:80. The recipe RETURNs private sources (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16) to Docker's accept and drops new connections from any other address to the container (ufw-docker-logging-deny). The client connects from 10.99.0.2 and from a public address, 198.51.100.2 (on its veth, routed back by the host)."
  lab_ufw_start
  lab_ufw_docker_recipe
  lab_in_host ufw reload >&2
  lab_dockerd_start nft
  lab_container web1 8080
  lab_add_client 198.51.100.2
}
