# lab/layouts.sh — Docker 28/29 rule layouts on a real kernel, without their daemon.
# Sourced by lab/lab.sh; uses its helpers (lab_in_host, lab_log, lab_die, LAB_* state).
#
# Debian ships dockerd 20.10 only. For a newer engine the lab builds by hand what that daemon
# would have built (shared/LAB.md, "A Docker version or runtime that cannot run here"):
#   - bridges named as Docker names them: docker0 (172.17.0.1/16, no container) and bridge1
#     (192.0.2.1/24), as in moby's generated docs;
#   - a container network namespace with a veth into bridge1, address 192.0.2.2/24, default
#     route via 192.0.2.1, and busybox httpd on port 80;
#   - the layout's exact ruleset, moby's generated usernet-portmap.md at the release tag
#     (lab/layouts/*.rules and *.nft say which tag and commit), with nothing changed: its
#     addresses (192.0.2.0/24, 172.17.0.0/16) are used as they are, inside the host netns;
#   - the 28.0.0 layout's ipset docker-ext-bridges-v4 (hash:net) with both bridge subnets;
#   - net.ipv4.ip_forward=1 (the docs' FORWARD policy ACCEPT is what a daemon leaves when
#     forwarding was already on) and Debian's docker-proxy for 0.0.0.0:8080 -> 192.0.2.2:80,
#     started as dockerd starts it (userland proxy on, the default);
# then the scenario's breakage, and curl decides (truth.json). No Docker API is there: the
# capture finds the published port from the DNAT rule, as fwdoctor does on any host whose
# Docker API it cannot read.

LAB_LAYOUT=""          # set by a layout scenario: docker28.0.0 | docker28.0.1 | docker28.2 | docker29-iptables | docker29-nftables
LAB_LAYOUT_BREAKAGE=""
LAB_LAYOUT_NS=""       # the container's network namespace
LAB_LAYOUT_DIR="$LAB_ROOT/layouts"

# name = LAYOUT-BREAKAGE, in the order `lab.sh list` prints them.
# Every layout meets every breakage that can happen to it (ufw-forward-drop is the nftables
# backend's own: under the iptables backends Docker's FORWARD DROP policy is already there).
LAB_LAYOUT_SCENARIOS=(
  "docker28.0.0 healthy"
  "docker28.0.0 legacy-forward-drop"
  "docker28.0.0 nft-inet-forward-drop"
  "docker28.0.0 host-reject-before-docker"
  "docker28.0.0 tailscale-after-docker"
  "docker28.0.1 healthy"
  "docker28.0.1 legacy-forward-drop"
  "docker28.0.1 nft-inet-forward-drop"
  "docker28.0.1 host-reject-before-docker"
  "docker28.0.1 tailscale-after-docker"
  "docker28.2 healthy"
  "docker28.2 legacy-forward-drop"
  "docker28.2 nft-inet-forward-drop"
  "docker28.2 host-reject-before-docker"
  "docker28.2 tailscale-after-docker"
  "docker29-iptables healthy"
  "docker29-iptables legacy-forward-drop"
  "docker29-iptables nft-inet-forward-drop"
  "docker29-iptables host-reject-before-docker"
  "docker29-iptables tailscale-after-docker"
  "docker29-nftables healthy"
  "docker29-nftables legacy-forward-drop"
  "docker29-nftables nft-inet-forward-drop"
  "docker29-nftables host-reject-before-docker"
  "docker29-nftables tailscale-after-docker"
  "docker29-nftables ufw-forward-drop"
)

layout_version() {
  case "$1" in
    docker28.0.0) echo 28.0.0 ;;
    docker28.0.1) echo 28.0.1 ;;
    docker28.2) echo 28.2.0 ;;
    docker29-iptables | docker29-nftables) echo 29.0.0 ;;
  esac
}

layout_rules_file() {
  if [[ "$1" == docker29-nftables ]]; then echo "$LAB_LAYOUT_DIR/$1.nft"; else echo "$LAB_LAYOUT_DIR/$1.rules"; fi
}

# `iptables -S` blocks (one `*table` header each) -> iptables-restore input.
layout_restore_input() {
  awk '
    /^#/ || /^$/ { next }
    /^\*/ { if (t) print "COMMIT"; t = $0; print; next }
    $1 == "-P" { print ":" $2 " " $3 " [0:0]"; next }
    $1 == "-N" { print ":" $2 " - [0:0]"; next }
    { print }
    END { if (t) print "COMMIT" }
  ' "$1"
}

layout_describe_breakage() {
  case "$1" in
    healthy) echo "nothing else" ;;
    legacy-forward-drop) echo "'iptables-legacy -P FORWARD DROP' in the legacy stack (the seed report's breakage)" ;;
    nft-inet-forward-drop) echo "a native nft table 'table inet filter { chain forward { type filter hook forward priority 0; policy drop; } }' (a hardened /etc/nftables.conf)" ;;
    host-reject-before-docker)
      case "$LAB_LAYOUT" in
        docker28.0.0) echo "a host rule '-A FORWARD -j REJECT' that existed before dockerd started: 28.0.0 inserts its ct/isolation/DOCKER jumps above it but appends its per-bridge '-i BRIDGE -j ACCEPT' rules below it (moby#49511)" ;;
        docker29-nftables) echo "a host rule 'iptables-nft -A FORWARD -j REJECT' (iptables-nft's 'ip filter' FORWARD, a base chain of its own beside Docker's nftables tables: its REJECT is final whatever Docker's chains accept)" ;;
        *) echo "a host rule '-A FORWARD -j REJECT' that existed before dockerd started: from 28.0.1 on, dockerd inserts its DOCKER-USER and DOCKER-FORWARD jumps above it and never appends to FORWARD again (moby#49518, the fix for moby#49511)" ;;
      esac ;;
    tailscale-after-docker)
      case "$LAB_LAYOUT" in
        docker29-nftables) echo "tailscale's ts-forward chain (its four rules as in public 'iptables -S' dumps, e.g. moby#49498) jumped to from iptables-nft's FORWARD, beside Docker's nftables tables" ;;
        *) echo "tailscale's ts-forward chain (its four rules as in public 'iptables -S' dumps, e.g. moby#49498) jumped to after Docker's FORWARD jumps, as when tailscaled started before dockerd (moby#49498)" ;;
      esac ;;
    ufw-forward-drop) echo "ufw's 'DEFAULT_FORWARD_POLICY=\"DROP\"': 'iptables-nft -P FORWARD DROP' in iptables-nft's 'ip filter' FORWARD, beside Docker's nftables backend (which creates no iptables rules and no DOCKER-USER)" ;;
  esac
}

layout_scenario() {
  local layout=$1 breakage=$2 ver
  LAB_LAYOUT=$layout
  LAB_LAYOUT_BREAKAGE=$breakage
  LAB_BACKEND=nft
  ver=$(layout_version "$layout")
  LAB_DESCRIPTION="Docker $ver layout without its daemon: moby's generated ruleset for a container on bridge1 (192.0.2.2) publishing 8080:80 ($(basename "$(layout_rules_file "$layout")")), loaded on a real kernel with the bridges, container netns, busybox httpd and docker-proxy built by lab/layouts.sh; plus $(layout_describe_breakage "$breakage")."
  layout_build
  layout_break "$breakage"
}

layout_build() {
  local rules ns vh i pid
  rules=$(layout_rules_file "$LAB_LAYOUT")
  [[ -r "$rules" ]] || lab_die "layout ruleset $rules missing"
  command -v ipset >/dev/null || lab_die "ipset is missing (scripts/deps.sh installs it)"
  ns="fwl-k-$LAB_ID"
  LAB_LAYOUT_NS=$ns
  LAB_EXTRA_NETNS+=("$ns")
  ip netns add "$ns"
  lab_in_host ip link add docker0 type bridge
  lab_in_host ip addr add 172.17.0.1/16 dev docker0
  lab_in_host ip link set docker0 up
  lab_in_host ip link add bridge1 type bridge
  lab_in_host ip addr add 192.0.2.1/24 dev bridge1
  lab_in_host ip link set bridge1 up
  vh="fwlk$LAB_ID"
  ip -n "$LAB_HOST" link add "$vh" type veth peer name eth0 netns "$ns"
  lab_in_host ip link set "$vh" master bridge1 up
  ip -n "$ns" addr add 192.0.2.2/24 dev eth0
  ip -n "$ns" link set lo up
  ip -n "$ns" link set eth0 up
  ip -n "$ns" route add default via 192.0.2.1
  lab_in_host sysctl -q -w net.ipv4.ip_forward=1

  mkdir -p "$LAB_TMP/www"
  printf '%s\n' "$LAB_MARKER" >"$LAB_TMP/www/index.html"
  setsid ip netns exec "$ns" busybox httpd -f -p 80 -h "$LAB_TMP/www" </dev/null >>"$LAB_TMP/httpd.log" 2>&1 &
  pid=$!
  for ((i = 0; i < 100; i++)); do
    cat "/proc/$pid/net/tcp" "/proc/$pid/net/tcp6" 2>/dev/null | grep -Eq ':0050 [0-9A-F]+:0000 0A' && break
    ((i < 99)) || lab_die "busybox httpd in $ns does not listen on port 80 after 10 s"
    sleep 0.1
  done

  if [[ "$LAB_LAYOUT" == docker29-nftables ]]; then
    # Debian 12's nft 1.0.6 accepts the name `dstnat` on the prerouting hook only ("invalid
    # priority expression value in this context" on output): the same value, -100, by number.
    sed 's/type nat hook output priority dstnat;/type nat hook output priority -100;/' "$rules" |
      lab_in_host nft -f -
  else
    if [[ "$LAB_LAYOUT" == docker28.0.0 ]]; then
      lab_in_host ipset create docker-ext-bridges-v4 hash:net
      lab_in_host ipset add docker-ext-bridges-v4 172.17.0.0/16
      lab_in_host ipset add docker-ext-bridges-v4 192.0.2.0/24
    fi
    layout_restore_input "$rules" | lab_in_host iptables-nft-restore
  fi
  setsid ip netns exec "$LAB_HOST" docker-proxy -proto tcp -host-ip 0.0.0.0 -host-port 8080 \
    -container-ip 192.0.2.2 -container-port 80 </dev/null >>"$LAB_TMP/docker-proxy.log" 2>&1 \
    3>"$LAB_TMP/docker-proxy.ready" &   # it reports readiness ("0") on fd 3, as dockerd expects
  for ((i = 0; i < 50; i++)); do
    lab_in_host ss -Htln 'sport = :8080' | grep -q . && break
    ((i < 49)) || lab_die "docker-proxy does not listen on 8080 after 5 s"
    sleep 0.1
  done
  LAB_PORTS+=("tcp 8080 80 c1")
  # The client reaches the container's address through the host (the direct path).
  ip -n "$LAB_CLIENT" route add 192.0.2.0/24 via 10.99.0.1
  lab_log "layout $LAB_LAYOUT loaded from $rules; c1 (192.0.2.2 in $ns) publishes tcp 8080 -> 80"
}

layout_break() {
  case "$1" in
    healthy) ;;
    legacy-forward-drop) lab_in_host iptables-legacy -P FORWARD DROP ;;
    nft-inet-forward-drop)
      lab_in_host nft add table inet filter
      lab_in_host nft add chain inet filter forward '{ type filter hook forward priority 0; policy drop; }'
      ;;
    host-reject-before-docker)
      if [[ "$LAB_LAYOUT" == docker28.0.0 ]]; then
        # FORWARD is DOCKER-USER, ct accept, ISOLATION-1, DOCKER (inserted), then the appended
        # per-bridge accepts: the host's older REJECT ends up between them.
        lab_in_host iptables-nft -I FORWARD 5 -j REJECT --reject-with icmp-port-unreachable
      else
        lab_in_host iptables-nft -A FORWARD -j REJECT --reject-with icmp-port-unreachable
      fi
      ;;
    tailscale-after-docker)
      lab_in_host iptables-nft -N ts-forward
      lab_in_host iptables-nft -A ts-forward -i tailscale0 -j MARK --set-xmark 0x40000/0xff0000
      lab_in_host iptables-nft -A ts-forward -m mark --mark 0x40000/0xff0000 -j ACCEPT
      lab_in_host iptables-nft -A ts-forward -s 100.64.0.0/10 -o tailscale0 -j DROP
      lab_in_host iptables-nft -A ts-forward -o tailscale0 -j ACCEPT
      if [[ "$LAB_LAYOUT" == docker28.0.0 ]]; then
        lab_in_host iptables-nft -I FORWARD 5 -j ts-forward
      else
        lab_in_host iptables-nft -A FORWARD -j ts-forward
      fi
      ;;
    ufw-forward-drop) lab_in_host iptables-nft -P FORWARD DROP ;;
    *) lab_die "unknown layout breakage $1" ;;
  esac
}

# truth.json (as lab_truth writes it for daemon scenarios) and the fixture's README.md.
layout_truth() {
  local name=$1 out=$2 ver o h l rules src
  ver=$(layout_version "$LAB_LAYOUT")
  rules=$(layout_rules_file "$LAB_LAYOUT")
  src=$(head -n 1 "$rules" | sed 's/^# //')
  o=$(lab_curl client 8080)
  h=$(lab_curl host 8080)
  l=$(lab_curl host 8080 127.0.0.1)
  lab_log "truth: tcp/8080 -> c1:80 outside=$o host=$h host_loopback=$l"
  local paths
  paths=$(lab_paths_json 8080 80 192.0.2.2 "")
  {
    printf '{\n'
    printf '  "scenario": %s,\n' "$(json_str "$name")"
    printf '  "description": %s,\n' "$(json_str "$LAB_DESCRIPTION")"
    printf '  "docker_version": %s,\n' "$(json_str "$ver")"
    printf '  "docker_version_full": %s,\n' "$(json_str "$ver (no daemon: its generated ruleset loaded by lab/layouts.sh)")"
    printf '  "backend": %s,\n' "$(json_str "$([[ $LAB_LAYOUT == docker29-nftables ]] && echo nftables || echo nft)")"
    printf '  "rules_source": %s,\n' "$(json_str "$src")"
    printf '  "system_iptables": %s,\n' "$(json_str "$(readlink -f "$(command -v iptables)")")"
    printf '  "client": "10.99.0.2 (outside netns) -> 10.99.0.1",\n'
    printf '  "ports": [\n'
    printf '    {"proto": "tcp", "host_port": 8080, "container_port": 80, "container": "c1", "container_ip": "192.0.2.2", "container_state": "running", "outside": "%s", "host": "%s", "host_loopback": "%s",\n     "paths": %s}\n' "$o" "$h" "$l" "$paths"
    printf '  ],\n'
    printf '  "notes": %s,\n' "$(json_str "$LAB_NOTES")"
    printf '  "curl": "curl -g -s -m 2 http://ADDR:PORT/; reachable = the page came back; outside = from the client netns to 10.99.0.1, host = from the host netns to 10.99.0.1, host_loopback = from the host netns to 127.0.0.1; paths.FAMILY: outside = client to 10.99.0.1 / [fd99::1] on the host port, container_direct = client to 192.0.2.2:80 (routed via the host; blocked over IPv6: the container has no IPv6 address), host_loopback = host to 127.0.0.1 / [::1], host_address = host to 10.99.0.1 / [fd99::1]",\n'
    printf '  "captured_with": "lab/lab.sh (lab/layouts.sh)",\n'
    printf '  "date": "%s"\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    printf '}\n'
  } >"$out/truth.json"
  {
    printf '# %s\n\n' "$name"
    printf 'Generated by `lab/make-fixtures.sh %s` (lab/layouts.sh); do not edit by hand.\n\n' "$name"
    printf '**Rules:** Docker %s, no daemon. The ruleset is moby'"'"'s generated doc for a container on a\n' "$ver"
    printf 'user-defined bridge publishing `-p 8080:80`, copied verbatim into `lab/%s`\n' "${rules#"$LAB_ROOT/"}"
    printf 'from %s.\n' "$src"
    if [[ "$LAB_LAYOUT" == docker29-nftables ]]; then
      printf 'It was loaded with `nft -f` inside the lab'"'"'s host network namespace; one spelling changed:\n'
      printf 'Debian 12'"'"'s nft 1.0.6 accepts `priority dstnat` on the prerouting hook only, so `nat-OUTPUT`'"'"'s\n'
      printf '`priority dstnat` is loaded as `priority -100`, the same value.\n\n'
    else
      printf 'It was loaded with `iptables-nft-restore` inside the lab'"'"'s host network namespace.\n\n'
    fi
    printf '**What the lab built around it:** bridges `docker0` (172.17.0.1/16, no container) and `bridge1`\n'
    printf '(192.0.2.1/24), the container `c1` as a network namespace with a veth into `bridge1`\n'
    printf '(192.0.2.2/24, default route via 192.0.2.1) running busybox httpd on port 80,\n'
    [[ "$LAB_LAYOUT" == docker28.0.0 ]] &&
      printf 'the ipset `docker-ext-bridges-v4` (hash:net: 172.17.0.0/16, 192.0.2.0/24; the capture'"'"'s `ipset-save.txt`),\n'
    printf '`net.ipv4.ip_forward=1`, and Debian'"'"'s `docker-proxy -proto tcp -host-ip 0.0.0.0 -host-port 8080\n'
    printf -- '-container-ip 192.0.2.2 -container-port 80` as dockerd starts it. An outside client netns\n'
    printf '(10.99.0.2) reaches the host at 10.99.0.1.\n\n'
    printf '**Breakage:** %s.\n\n' "$(layout_describe_breakage "$LAB_LAYOUT_BREAKAGE")"
    printf '**Truth (curl):** outside %s, host %s, host loopback %s (`truth.json`).\n\n' "$o" "$h" "$l"
    printf '**Docker API:** none (no daemon). `fwdoctor capture` ran inside the host netns and\n'
    printf 'found no Docker socket, so fwdoctor lists the published port from the DNAT rule; there is no\n'
    printf '`docker-containers.json`. (To add Docker-API-like facts to such a fixture, write\n'
    printf '`docker-containers.json` in the shape `capture` writes from a real daemon; none is written here,\n'
    printf 'so the fixture tests the rule-only path.)\n'
  } >"$out/README.md"
}

for _l in "${LAB_LAYOUT_SCENARIOS[@]}"; do
  read -r _layout _breakage <<<"$_l"
  LAB_SCENARIOS+=("$_layout-$_breakage")
  eval "scenario_${_layout}-${_breakage}() { layout_scenario $_layout $_breakage; }"
done
unset _l _layout _breakage
