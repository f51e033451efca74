//! A generator of Kubernetes-shaped rulesets (kube-proxy in iptables mode) with Docker's
//! classic rules beside them, as `iptables-save` text that `iptables-restore` accepts.
//!
//! Shared by `benches/scale.rs` and the tests (`#[path]`-included): not part of the product.
//!
//! Layout, after kube-proxy 1.2x (`pkg/proxy/iptables/proxier.go`):
//! * nat: `PREROUTING`/`OUTPUT` -> `KUBE-SERVICES`; per service one `-d CLUSTER_IP -p tcp
//!   --dport P -j KUBE-SVC-*` rule; per `KUBE-SVC-*` a masquerade mark rule and one
//!   `-m statistic --mode random --probability` rule per endpoint; per `KUBE-SEP-*` a
//!   hairpin mark and the `DNAT`. Every 10th service is a NodePort (`KUBE-NODEPORTS` ->
//!   `KUBE-EXT-*`). `KUBE-POSTROUTING` masquerades marked packets.
//! * filter: `KUBE-FORWARD`, `KUBE-FIREWALL`, `KUBE-SERVICES` rejects for services without
//!   endpoints (every 50th service).
//! * Docker (classic layout, 20.10-27): DOCKER, DOCKER-USER, DOCKER-ISOLATION-STAGE-1/2 and a
//!   published port `8080 -> 172.17.0.2:80` (the port whose verdict the benchmark traces).
//!
//! The output is what `iptables-legacy-save` prints for the ruleset once it is loaded (the
//! benchmark checks this with `--system`, table by table): tables `filter` then `nat` (the
//! kernel lists them newest first, so their order depends on how they were loaded); in each, the built-in
//! chains, then the user chains sorted by name; the rules grouped by chain in that order;
//! `MARK` written as the kernel gives it back (`--set-xmark`). It is deterministic for given
//! options.

#![allow(dead_code)]

use std::fmt::Write as _;

/// What to generate.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Roughly this many rules in total (services are added until it is reached).
    pub rules: usize,
    /// Endpoints per service.
    pub endpoints: usize,
    /// `[p:b]` counters in front of every rule (`iptables-save -c`).
    pub counters: bool,
    /// The FORWARD policy of the filter table (Docker sets DROP).
    pub forward_drop: bool,
}

impl Options {
    pub fn rules(rules: usize) -> Options {
        Options {
            rules,
            endpoints: 2,
            counters: false,
            forward_drop: true,
        }
    }
}

/// The Docker-published port in every generated ruleset.
pub const DOCKER_PORT: u16 = 8080;
pub const DOCKER_CONTAINER: &str = "172.17.0.2";

/// Rules one service adds (nat and filter together), for a given endpoint count.
fn rules_per_service(endpoints: usize, i: usize) -> usize {
    // KUBE-SERVICES + KUBE-SVC mark + one statistic/jump per endpoint + 2 per endpoint (SEP),
    // plus NodePort (3) every 10th, plus a filter reject every 50th.
    1 + 1
        + endpoints
        + 2 * endpoints
        + if i.is_multiple_of(10) { 3 } else { 0 }
        + usize::from(i.is_multiple_of(50))
}

/// A kube-proxy-style chain suffix: 16 characters of [A-Z2-7] from a hash of `seed`.
fn chain_hash(kind: &str, seed: usize) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in kind.bytes().chain(seed.to_le_bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(16);
    for _ in 0..16 {
        out.push(ALPHABET[(h & 31) as usize] as char);
        h = h.rotate_right(5) ^ (h >> 7).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
    out
}

fn cluster_ip(i: usize) -> String {
    format!("10.96.{}.{}", (i / 250) % 256, i % 250 + 1)
}

fn pod_ip(i: usize, e: usize) -> String {
    let n = i * 8 + e;
    format!("10.244.{}.{}", (n / 250) % 256, n % 250 + 2)
}

const PORTS: &[(u16, &str)] = &[
    (80, "http"),
    (443, "https"),
    (53, "dns-tcp"),
    (9090, "metrics"),
    (5432, "postgres"),
    (6379, "redis"),
    (8443, "webhook"),
    (3000, "grafana"),
];

/// The ruleset as `iptables-save` output.
pub fn generate(opts: &Options) -> String {
    save_order(&restore_order(opts))
}

/// The ruleset as a node's rules are created: an `iptables-restore` input that makes the
/// kernel hold the chains in kube-proxy's order, not in name order.
///
/// kube-proxy (`pkg/proxy/iptables/proxier.go`, `syncProxyRules`) writes one restore input:
/// `*filter`, its chain declarations, its rules, `COMMIT`, then `*nat` the same way, and loads
/// it with `iptables-restore --noflush --counters`. The declarations create the chains, in
/// their order: the fixed chains (`KUBE-SERVICES`, `KUBE-EXTERNAL-SERVICES`, `KUBE-FORWARD`, ...
/// in filter; `KUBE-SERVICES`, `KUBE-NODEPORTS`, `KUBE-POSTROUTING`, `KUBE-MARK-MASQ` in nat),
/// then, service by service as it walks its service map, each service's `KUBE-SVC-*`,
/// `KUBE-EXT-*` and `KUBE-SEP-*` chains, whose names are hashes: so in no name order. Docker's
/// chains, made before kube-proxy starts, come before kube-proxy's, and the jumps from the
/// built-in chains (which kube-proxy adds with `iptables -I`) are written in the order they end
/// up in.
///
/// One difference, which leaves the loaded ruleset the same: the rules are grouped by chain
/// (in the order the chains were declared), where kube-proxy writes a service's rules of
/// several chains one after the other. Once loaded, `iptables-legacy-save` prints exactly
/// [`generate`]'s text.
pub fn kube_proxy_restore(opts: &Options) -> String {
    grouped(&restore_order(opts), false)
}

/// An `nft -f` script that creates the tables and user chains of the restore input `restore`,
/// in its order (the built-in chains are left to iptables-nft-restore, which makes them as
/// iptables-nft's own).
///
/// `iptables-nft-restore` 1.8.9 takes minutes to create chains that do not come in name order
/// (3.5-4.4 min for the 37k chains of 100k rules, however the rules are grouped): creating them
/// with nft first (0.2 s), then loading the rules with `iptables-nft-restore --noflush` of the
/// save file (55 s), gives the kernel the same chains in the same order with the same rules.
pub fn nft_chain_script(restore: &str) -> String {
    let mut out = String::new();
    let mut table = "";
    for line in restore.lines() {
        if let Some(t) = line.strip_prefix('*') {
            table = t;
            let _ = writeln!(out, "add table ip {table}");
        } else if let Some(decl) = line.strip_prefix(':')
            && let Some((name, rest)) = decl.split_once(' ')
            && rest.starts_with("- ")
        {
            let _ = writeln!(out, "add chain ip {table} {name}");
        }
    }
    out
}

/// The ruleset as kube-proxy would write it for `iptables-restore`: service by service.
fn restore_order(opts: &Options) -> String {
    let mut services = 0;
    let mut total = DOCKER_RULES + KUBE_FIXED_RULES;
    while total < opts.rules {
        total += rules_per_service(opts.endpoints, services);
        services += 1;
    }
    let mut out = String::with_capacity(opts.rules * 160 + 4096);
    let c = |out: &mut String| {
        if opts.counters {
            out.push_str("[0:0] ");
        }
    };
    let _ = writeln!(
        out,
        "# Generated by iptables-save v1.8.9 on Sun Nov 29 12:00:00 2026"
    );

    // ---- nat
    out.push_str("*nat\n");
    out.push_str(":PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n");
    // Docker's chain, then kube-proxy's fixed ones in its order.
    out.push_str(":DOCKER - [0:0]\n:KUBE-SERVICES - [0:0]\n:KUBE-NODEPORTS - [0:0]\n:KUBE-POSTROUTING - [0:0]\n:KUBE-MARK-MASQ - [0:0]\n");
    for i in 0..services {
        let _ = writeln!(out, ":KUBE-SVC-{} - [0:0]", chain_hash("svc", i));
        if i % 10 == 0 {
            let _ = writeln!(out, ":KUBE-EXT-{} - [0:0]", chain_hash("ext", i));
        }
        for e in 0..opts.endpoints {
            let _ = writeln!(out, ":KUBE-SEP-{} - [0:0]", chain_hash("sep", i * 64 + e));
        }
    }
    let nat_fixed: &[&str] = &[
        "-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES",
        "-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER",
        "-A OUTPUT -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES",
        "-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER",
        "-A POSTROUTING -m comment --comment \"kubernetes postrouting rules\" -j KUBE-POSTROUTING",
        "-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE",
        "-A POSTROUTING -s 172.17.0.2/32 -d 172.17.0.2/32 -p tcp -m tcp --dport 80 -j MASQUERADE",
        "-A DOCKER -i docker0 -j RETURN",
        "-A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80",
        "-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000",
        "-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN",
        "-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0",
        "-A KUBE-POSTROUTING -m comment --comment \"kubernetes service traffic requiring SNAT\" -j MASQUERADE --random-fully",
    ];
    for r in nat_fixed {
        c(&mut out);
        out.push_str(r);
        out.push('\n');
    }
    for i in 0..services {
        let (port, pname) = PORTS[i % PORTS.len()];
        let ns = format!("ns{}", i % 97);
        let svc = format!("{ns}/svc{i}:{pname}");
        let ip = cluster_ip(i);
        let svc_chain = chain_hash("svc", i);
        c(&mut out);
        let _ = writeln!(
            out,
            "-A KUBE-SERVICES -d {ip}/32 -p tcp -m comment --comment \"{svc} cluster IP\" -m tcp --dport {port} -j KUBE-SVC-{svc_chain}"
        );
        c(&mut out);
        let _ = writeln!(
            out,
            "-A KUBE-SVC-{svc_chain} ! -s 10.244.0.0/16 -d {ip}/32 -p tcp -m comment --comment \"{svc} cluster IP\" -m tcp --dport {port} -j KUBE-MARK-MASQ"
        );
        for e in 0..opts.endpoints {
            let sep = chain_hash("sep", i * 64 + e);
            let pod = pod_ip(i, e);
            let left = opts.endpoints - e;
            c(&mut out);
            if left > 1 {
                let _ = writeln!(
                    out,
                    "-A KUBE-SVC-{svc_chain} -m comment --comment \"{svc} -> {pod}:{port}\" -m statistic --mode random --probability {:.11} -j KUBE-SEP-{sep}",
                    1.0 / left as f64
                );
            } else {
                let _ = writeln!(
                    out,
                    "-A KUBE-SVC-{svc_chain} -m comment --comment \"{svc} -> {pod}:{port}\" -j KUBE-SEP-{sep}"
                );
            }
            c(&mut out);
            let _ = writeln!(
                out,
                "-A KUBE-SEP-{sep} -s {pod}/32 -m comment --comment \"{svc}\" -j KUBE-MARK-MASQ"
            );
            c(&mut out);
            let _ = writeln!(
                out,
                "-A KUBE-SEP-{sep} -p tcp -m comment --comment \"{svc}\" -m tcp -j DNAT --to-destination {pod}:{port}"
            );
        }
        if i % 10 == 0 {
            let ext = chain_hash("ext", i);
            let node_port = 30000 + (i / 10) % 2768;
            c(&mut out);
            let _ = writeln!(
                out,
                "-A KUBE-NODEPORTS -p tcp -m comment --comment \"{svc}\" -m tcp --dport {node_port} -j KUBE-EXT-{ext}"
            );
            c(&mut out);
            let _ = writeln!(
                out,
                "-A KUBE-EXT-{ext} -m comment --comment \"masquerade traffic for {svc} external destinations\" -j KUBE-MARK-MASQ"
            );
            c(&mut out);
            let _ = writeln!(out, "-A KUBE-EXT-{ext} -j KUBE-SVC-{svc_chain}");
        }
    }
    c(&mut out);
    out.push_str("-A KUBE-SERVICES -m comment --comment \"kubernetes service nodeports; NOTE: this must be the last rule in this chain\" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS\n");
    out.push_str("COMMIT\n# Completed on Sun Nov 29 12:00:00 2026\n");

    // ---- filter
    let _ = writeln!(
        out,
        "# Generated by iptables-save v1.8.9 on Sun Nov 29 12:00:00 2026"
    );
    out.push_str("*filter\n");
    let _ = writeln!(
        out,
        ":INPUT ACCEPT [0:0]\n:FORWARD {} [0:0]\n:OUTPUT ACCEPT [0:0]",
        if opts.forward_drop { "DROP" } else { "ACCEPT" }
    );
    out.push_str(":DOCKER - [0:0]\n:DOCKER-ISOLATION-STAGE-1 - [0:0]\n:DOCKER-ISOLATION-STAGE-2 - [0:0]\n:DOCKER-USER - [0:0]\n");
    out.push_str(":KUBE-SERVICES - [0:0]\n:KUBE-EXTERNAL-SERVICES - [0:0]\n:KUBE-FORWARD - [0:0]\n:KUBE-NODEPORTS - [0:0]\n:KUBE-PROXY-FIREWALL - [0:0]\n:KUBE-FIREWALL - [0:0]\n");
    let filter_fixed: &[&str] = &[
        "-A INPUT -m conntrack --ctstate NEW -m comment --comment \"kubernetes load balancer firewall\" -j KUBE-PROXY-FIREWALL",
        "-A INPUT -m comment --comment \"kubernetes health check service ports\" -j KUBE-NODEPORTS",
        "-A INPUT -m conntrack --ctstate NEW -m comment --comment \"kubernetes externally-visible service portals\" -j KUBE-EXTERNAL-SERVICES",
        "-A INPUT -j KUBE-FIREWALL",
        "-A FORWARD -m conntrack --ctstate NEW -m comment --comment \"kubernetes load balancer firewall\" -j KUBE-PROXY-FIREWALL",
        "-A FORWARD -m comment --comment \"kubernetes forwarding rules\" -j KUBE-FORWARD",
        "-A FORWARD -m conntrack --ctstate NEW -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES",
        "-A FORWARD -m conntrack --ctstate NEW -m comment --comment \"kubernetes externally-visible service portals\" -j KUBE-EXTERNAL-SERVICES",
        "-A FORWARD -j DOCKER-USER",
        "-A FORWARD -j DOCKER-ISOLATION-STAGE-1",
        "-A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
        "-A FORWARD -o docker0 -j DOCKER",
        "-A FORWARD -i docker0 ! -o docker0 -j ACCEPT",
        "-A FORWARD -i docker0 -o docker0 -j ACCEPT",
        "-A OUTPUT -m conntrack --ctstate NEW -m comment --comment \"kubernetes load balancer firewall\" -j KUBE-PROXY-FIREWALL",
        "-A OUTPUT -m conntrack --ctstate NEW -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES",
        "-A OUTPUT -j KUBE-FIREWALL",
        "-A DOCKER -d 172.17.0.2/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 80 -j ACCEPT",
        "-A DOCKER-ISOLATION-STAGE-1 -i docker0 ! -o docker0 -j DOCKER-ISOLATION-STAGE-2",
        "-A DOCKER-ISOLATION-STAGE-1 -j RETURN",
        "-A DOCKER-ISOLATION-STAGE-2 -o docker0 -j DROP",
        "-A DOCKER-ISOLATION-STAGE-2 -j RETURN",
        "-A DOCKER-USER -j RETURN",
        "-A KUBE-FIREWALL ! -s 127.0.0.0/8 -d 127.0.0.0/8 -m comment --comment \"block incoming localnet connections\" -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP",
        "-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP",
        "-A KUBE-FORWARD -m comment --comment \"kubernetes forwarding rules\" -m mark --mark 0x4000/0x4000 -j ACCEPT",
        "-A KUBE-FORWARD -m comment --comment \"kubernetes forwarding conntrack rule\" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
    ];
    for r in filter_fixed {
        c(&mut out);
        out.push_str(r);
        out.push('\n');
    }
    for i in (0..services).filter(|i| i % 50 == 0) {
        let (port, pname) = PORTS[i % PORTS.len()];
        c(&mut out);
        let _ = writeln!(
            out,
            "-A KUBE-SERVICES -d {}/32 -p tcp -m comment --comment \"ns{}/svc{i}:{pname} has no endpoints\" -m tcp --dport {port} -j REJECT --reject-with icmp-port-unreachable",
            cluster_ip(i),
            i % 97
        );
    }
    out.push_str("COMMIT\n# Completed on Sun Nov 29 12:00:00 2026\n");
    out
}

/// `text` (tables of whole `iptables-save` lines) in the order iptables-save prints a loaded
/// ruleset: `filter` first, then the other tables; in each, the built-in chains (those with a
/// policy) in their order, then the user chains sorted by name; the rules grouped by chain in
/// that order, each chain's rules in their order.
fn save_order(text: &str) -> String {
    grouped(text, true)
}

/// `text`'s tables, `filter` first; in each, the chain declarations (the built-in chains
/// first; the user chains sorted by name when `by_name`, else in their order), then the rules
/// grouped by chain in that order, each chain's rules in their order.
fn grouped(text: &str, by_name: bool) -> String {
    let mut tables: Vec<(&str, Vec<&str>)> = Vec::new();
    let mut header = "";
    for line in text.lines() {
        if line.starts_with("# Generated") {
            header = line;
        } else if line.starts_with('*') {
            tables.push((header, vec![line]));
        } else if !line.starts_with('#')
            && let Some((_, lines)) = tables.last_mut()
        {
            lines.push(line);
        }
    }
    tables.sort_by_key(|(_, lines)| lines[0] != "*filter");
    let mut out = String::with_capacity(text.len());
    for (header, lines) in tables {
        let _ = writeln!(out, "{header}\n{}", lines[0]);
        let chain_of = |l: &str| -> String {
            let rest = l.strip_prefix("[0:0] ").unwrap_or(l);
            let rest = rest.strip_prefix("-A ").unwrap_or(rest);
            rest.split(' ').next().unwrap_or_default().to_string()
        };
        let decls: Vec<&str> = lines
            .iter()
            .copied()
            .filter(|l| l.starts_with(':'))
            .collect();
        let name = |d: &str| d[1..].split(' ').next().unwrap_or_default().to_string();
        let (mut builtin, mut user): (Vec<&str>, Vec<&str>) =
            decls.iter().partition(|d| !d.contains(" - "));
        if by_name {
            user.sort_by_key(|d| name(d));
        }
        builtin.extend(user);
        let mut rules: std::collections::HashMap<String, Vec<&str>> = Default::default();
        for l in lines
            .iter()
            .filter(|l| l.starts_with("-A") || l.starts_with('['))
        {
            rules.entry(chain_of(l)).or_default().push(l);
        }
        for d in &builtin {
            let _ = writeln!(out, "{d}");
        }
        for d in &builtin {
            for r in rules.remove(&name(d)).unwrap_or_default() {
                let _ = writeln!(out, "{r}");
            }
        }
        out.push_str("COMMIT\n# Completed on Sun Nov 29 12:00:00 2026\n");
    }
    out
}

/// Docker's rules in the generated ruleset (nat and filter).
const DOCKER_RULES: usize = 4 + 12;
/// kube-proxy's rules that do not depend on the number of services.
const KUBE_FIXED_RULES: usize = 9 + 15 + 1;

/// Rules (`-A` lines) in a save text.
pub fn count_rules(save: &str) -> usize {
    save.lines()
        .filter(|l| l.starts_with("-A ") || (l.starts_with('[') && l.contains("] -A ")))
        .count()
}

/// A `ip -j addr show` answer for the synthetic host: `eth0` 192.0.2.10/24, `docker0`.
pub const IP_ADDR_JSON: &str = r#"[{"ifindex":1,"ifname":"lo","addr_info":[{"family":"inet","local":"127.0.0.1","prefixlen":8}]},{"ifindex":2,"ifname":"eth0","addr_info":[{"family":"inet","local":"192.0.2.10","prefixlen":24}]},{"ifindex":3,"ifname":"docker0","addr_info":[{"family":"inet","local":"172.17.0.1","prefixlen":16}]}]"#;
