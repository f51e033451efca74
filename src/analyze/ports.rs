//! Published ports and their verdicts: can a client outside open a new connection?

use crate::analyze::trace::{Flow, Net, Route, RuleRef, Trace, Verdict};
use crate::model::{Action, Dir, Family, Match, Model, Runtime, Stack};
use ipnet::IpNet;
use serde::Serialize;
use std::net::IpAddr;

/// A published port, from Docker's API or from Docker's DNAT rules.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PublishedPort {
    pub proto: String,
    pub host_ip: String,
    pub host_port: u16,
    pub container: Option<String>,
    pub container_ip: Option<IpAddr>,
    pub container_port: Option<u16>,
    /// `"ipv4"` / `"ipv6"` in the JSON report (DESIGN.md).
    #[serde(serialize_with = "port_family")]
    pub family: Family,
    /// Whose port it is: `"docker"`, or `"podman"` (read from its DNAT rules).
    pub owner: Runtime,
}

fn port_family<S: serde::Serializer>(f: &Family, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(if *f == Family::Ip6 { "ipv6" } else { "ipv4" })
}

impl PublishedPort {
    /// `8080/tcp`, `8080/tcp (IPv6)`
    pub fn label(&self) -> String {
        if self.family == Family::Ip6 {
            format!("{}/{} (IPv6)", self.host_port, self.proto)
        } else {
            format!("{}/{}", self.host_port, self.proto)
        }
    }

    /// `fwdoctor trace ...` for one of the port's paths ([`PATH_NAMES`]).
    pub fn trace_command(&self, path: &str) -> Option<String> {
        let v6 = self.family == Family::Ip6;
        let host = |port: u16| match self.host_ip.parse::<IpAddr>() {
            Ok(a) if !a.is_unspecified() => sockaddr(a, port),
            _ => format!("host:{port}"),
        };
        let lo = if v6 { "[::1]" } else { "127.0.0.1" };
        let (src, dst) = match path {
            "outside" => ("any", host(self.host_port)),
            "container_direct" => {
                let ip = self.container_ip.filter(|ip| ip.is_ipv6() == v6)?;
                ("any", sockaddr(ip, self.container_port?))
            }
            "host_loopback" => ("host", format!("{lo}:{}", self.host_port)),
            "host_address" => ("host", host(self.host_port)),
            _ => return None,
        };
        // `host:PORT` says no family: -6 does.
        let six = if v6 && dst.starts_with("host:") {
            " -6"
        } else {
            ""
        };
        Some(format!(
            "fwdoctor trace {} {src} to {}{six}",
            crate::analyze::shell::quote(&self.proto),
            crate::analyze::shell::quote(&dst)
        ))
    }

    /// The container has an address, but none of this entry's family: it cannot be reached
    /// directly over it (docker-proxy carries `::` to its IPv4).
    pub fn no_direct_address(&self) -> bool {
        self.container_ip
            .is_some_and(|ip| ip.is_ipv6() != (self.family == Family::Ip6))
    }

    /// Published on a loopback address only (`-p 127.0.0.1:8080:80`): host-only by design.
    pub fn is_host_only(&self) -> bool {
        self.host_ip
            .parse::<IpAddr>()
            .is_ok_and(|a| a.is_loopback())
    }
}

/// `blocked_by` in the JSON report (DESIGN.md contract).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BlockedBy {
    pub stack: Stack,
    pub family: Family,
    pub table: String,
    pub chain: String,
    pub rule: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

impl From<&RuleRef> for BlockedBy {
    fn from(r: &RuleRef) -> BlockedBy {
        BlockedBy {
            stack: r.stack,
            family: r.family,
            table: r.table.clone(),
            chain: r.chain.clone(),
            rule: r.rule.clone(),
            source: (r.line > 0).then(|| format!("{}:{}", r.source, r.line)),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PortState {
    Reachable,
    Blocked,
    Unknown,
}

/// One reason a path is blocked (DESIGN.md: `blocked_by` on a path is a list): a rule or
/// policy, or the kernel itself.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Blocker {
    Rule(BlockedBy),
    /// `{"kernel": "the kernel does not forward: net.ipv4.ip_forward = 0"}`
    Kernel {
        kernel: String,
    },
}

impl Blocker {
    /// Docker 28+'s own drop of packets to a container's address that do not come in on its
    /// bridge (`-t raw -A PREROUTING -d CIP ! -i BRIDGE -j DROP`, 28.0.x with a port match; the
    /// nftables backend's `raw-PREROUTING` in `docker-bridges`): on purpose, not a breakage.
    pub fn is_docker_direct_access_drop(&self) -> bool {
        let Blocker::Rule(b) = self else { return false };
        match (b.table.as_str(), b.chain.as_str()) {
            ("raw", "PREROUTING") => {
                b.rule.contains(" -d ") && b.rule.contains(" ! -i ") && b.rule.ends_with("-j DROP")
            }
            ("docker-bridges", "raw-PREROUTING") => {
                b.rule.contains("iifname != ") && b.rule.contains(" drop")
            }
            _ => false,
        }
    }

    /// `legacy ip filter FORWARD: policy DROP`, or the kernel's reason.
    pub fn describe(&self) -> String {
        match self {
            Blocker::Rule(b) => format!(
                "{} {} {} {}: {}",
                b.stack, b.family, b.table, b.chain, b.rule
            ),
            Blocker::Kernel { kernel } => kernel.clone(),
        }
    }

    /// The blocker a Drop or KernelDrop verdict names.
    pub fn of(v: &Verdict) -> Option<Blocker> {
        match v {
            Verdict::Drop { by } => Some(Blocker::Rule(by.into())),
            Verdict::KernelDrop { reason } => Some(Blocker::Kernel {
                kernel: reason.clone(),
            }),
            _ => None,
        }
    }
}

/// A path's verdict with every independent reason it is blocked.
#[derive(Debug, Clone, Serialize)]
pub struct PathVerdict {
    pub verdict: PortState,
    pub blocked_by: Vec<Blocker>,
    /// Why, in words (empty when there is nothing to say).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reason: String,
}

impl Default for PathVerdict {
    fn default() -> Self {
        PathVerdict {
            verdict: PortState::Unknown,
            blocked_by: Vec::new(),
            reason: String::new(),
        }
    }
}

/// The ways a published port is reached (DESIGN.md `paths`). `outside` is the entry's
/// `verdict`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Paths {
    /// A client outside to the host's address and port.
    pub outside: PathVerdict,
    /// A client outside straight to the container's address and port (routed).
    pub container_direct: PathVerdict,
    /// The host itself to `127.0.0.1:PORT` (`::1` for IPv6): what `curl localhost` does.
    pub host_loopback: PathVerdict,
    /// The host itself to its own outside address and port.
    pub host_address: PathVerdict,
}

/// The paths' JSON names, in the order reports show them.
pub const PATH_NAMES: [&str; 4] = [
    "outside",
    "container_direct",
    "host_loopback",
    "host_address",
];

impl Paths {
    /// The paths with their JSON names, in [`PATH_NAMES`] order.
    pub fn all(&self) -> [(&'static str, &PathVerdict); 4] {
        [
            (PATH_NAMES[0], &self.outside),
            (PATH_NAMES[1], &self.container_direct),
            (PATH_NAMES[2], &self.host_loopback),
            (PATH_NAMES[3], &self.host_address),
        ]
    }
}

/// One entry of `ports` in the JSON report: the port's fields, then its verdict.
#[derive(Debug, Clone, Serialize)]
pub struct PortVerdict {
    #[serde(flatten)]
    pub port: PublishedPort,
    pub verdict: PortState,
    /// The first rule that blocks it (the headline); `paths.outside.blocked_by` has them all.
    pub blocked_by: Option<BlockedBy>,
    pub paths: Paths,
    /// How the connection reaches the container: "dnat", "docker-proxy", "none".
    pub path: &'static str,
    /// Why the verdict is what it is, in words.
    pub reason: String,
    /// When rules on the outside path decide by the client's address: the verdict for each
    /// class of client those rules name (each network, then "elsewhere"). The headline
    /// verdict is elsewhere's (the internet's). Empty otherwise.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub by_client: Vec<ClientClass>,
    #[serde(skip)]
    pub trace: Option<Trace>,
    #[serde(skip)]
    pub reply: Option<Trace>,
}

/// The outside path's verdict for the clients of one network (or of none the rules name).
#[derive(Debug, Clone, Serialize)]
pub struct ClientClass {
    /// `10.0.0.0/8`, or `elsewhere` for every address no rule on the path names.
    pub from: String,
    /// The address traced for it.
    pub traced: IpAddr,
    pub verdict: PortState,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub blocked_by: Vec<Blocker>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reason: String,
}

/// What [`CLIENT_DEPENDS`] unknowns are split into at most: more networks than this and the
/// verdict stays unknown.
const MAX_CLIENT_NETS: usize = 16;

/// The trace engine's reason when a rule decides by the client's address.
const CLIENT_DEPENDS: &str = "depends on the client's address";

/// Docker's DNAT rules of one stack and family, read back as published ports.
pub fn dnat_rules(model: &Model, stack: Stack, family: Family) -> Vec<PublishedPort> {
    let mut out = Vec::new();
    for t in model
        .tables
        .iter()
        .filter(|t| t.stack == stack && t.family.applies_to(family))
    {
        let docker_nat =
            (t.name == "nat" && t.chain("DOCKER").is_some()) || t.name == "docker-bridges";
        if !docker_nat {
            continue;
        }
        for c in &t.chains {
            if t.name == "nat" && c.name != "DOCKER" {
                continue;
            }
            for r in &c.rules {
                let Action::Dnat { addr, port } = &r.action else {
                    continue;
                };
                let mut proto = "tcp".to_string();
                let mut host_port = None;
                let mut host_ip = if family == Family::Ip6 {
                    "::"
                } else {
                    "0.0.0.0"
                }
                .to_string();
                for m in &r.matches {
                    match m {
                        Match::Proto {
                            negated: false,
                            proto: p,
                        } => proto = p.to_string(),
                        Match::Port {
                            dir: Dir::Dst,
                            negated: false,
                            ranges,
                        } => host_port = ranges.first().map(|r| r.0),
                        Match::Addr {
                            dir: Dir::Dst,
                            negated: false,
                            nets,
                        } => {
                            if let Some(n) = nets.first() {
                                host_ip = n.addr().to_string();
                            }
                        }
                        _ => {}
                    }
                }
                let Some(host_port) = host_port else { continue };
                out.push(PublishedPort {
                    proto,
                    host_ip,
                    host_port,
                    container: None,
                    container_ip: *addr,
                    container_port: port.map(|p| p.0),
                    family,
                    owner: Runtime::Docker,
                });
            }
        }
    }
    out
}

/// The published ports: Docker's ([`docker_published`]), then those other runtimes publish
/// (Podman's, from its DNAT rules: [`crate::model::other_bridges::ports`]).
pub fn published(model: &Model) -> Vec<PublishedPort> {
    let mut out = docker_published(model);
    for p in &model.runtime_ports {
        if out
            .iter()
            .any(|d| (d.host_port, &d.proto, d.family) == (p.host_port, &p.proto, p.family))
        {
            continue;
        }
        let any = if p.family == Family::Ip6 {
            "::"
        } else {
            "0.0.0.0"
        };
        out.push(PublishedPort {
            proto: p.proto.clone(),
            host_ip: p.host_ip.map_or_else(|| any.to_string(), |a| a.to_string()),
            host_port: p.host_port,
            container: p.container.clone(),
            container_ip: p.container_ip,
            container_port: p.container_port,
            family: p.family,
            owner: p.owner,
        });
    }
    out
}

/// Docker's published ports: its API when captured, else its DNAT rules of the live stack.
/// One entry per family a port is published on (`0.0.0.0` and `::` are two entries).
pub fn docker_published(model: &Model) -> Vec<PublishedPort> {
    let order = |a: &PublishedPort, b: &PublishedPort| {
        (a.host_port, &a.proto, a.family).cmp(&(b.host_port, &b.proto, b.family))
    };
    if let Some(d) = &model.docker {
        let mut out: Vec<PublishedPort> = Vec::new();
        for c in &d.containers {
            for p in &c.ports {
                let family = if p.host_ip.contains(':') {
                    Family::Ip6
                } else {
                    Family::Ip
                };
                let of_family = |want_v6: bool| {
                    c.addresses
                        .iter()
                        .map(|(_, ip)| *ip)
                        .find(|ip| ip.is_ipv6() == want_v6)
                };
                // Without an IPv6 address docker-proxy carries `::` to the container's IPv4.
                let container_ip = of_family(family == Family::Ip6).or_else(|| of_family(false));
                out.push(PublishedPort {
                    proto: p.proto.clone(),
                    host_ip: p.host_ip.clone(),
                    host_port: p.host_port,
                    container: Some(c.name.clone()),
                    container_ip,
                    container_port: Some(p.container_port),
                    family,
                    owner: Runtime::Docker,
                });
            }
        }
        out.sort_by(order);
        out.dedup_by(|a, b| {
            (a.host_port, &a.proto, &a.host_ip, a.family)
                == (b.host_port, &b.proto, &b.host_ip, b.family)
        });
        return out;
    }
    let Some(live) = crate::analyze::context::live_docker_rules(model, Family::Ip) else {
        return Vec::new();
    };
    let mut out = dnat_rules(model, live.stack, Family::Ip);
    if let Some(live6) = crate::analyze::context::live_docker_rules(model, Family::Ip6) {
        out.extend(dnat_rules(model, live6.stack, Family::Ip6));
    }
    out.sort_by(order);
    out.dedup_by(|a, b| a.host_port == b.host_port && a.proto == b.proto && a.family == b.family);
    out
}

/// Trace every published port from outside (and its reply) and give it a verdict.
pub fn verdicts(model: &Model, net: &Net<'_>) -> Vec<PortVerdict> {
    published(model)
        .into_iter()
        .map(|p| verdict(model, net, &p))
        .collect()
}

/// A connection traced in and, once it reaches the container, its reply back.
struct RoundTrip {
    trace: Trace,
    reply: Option<Trace>,
    /// Every blocker, in order; `true` for one only the reply meets.
    blockers: Vec<(Verdict, bool)>,
    /// What the path ends in once every blocker lets it pass.
    rest: Verdict,
    forwarded: bool,
}

impl RoundTrip {
    /// Trace `flow`; when it is forwarded to a container and accepted, trace the reply from
    /// there back to `reply_to` (`None`: the client outside).
    fn of(net: &Net<'_>, flow: &Flow, reply_to: Option<IpAddr>) -> RoundTrip {
        let trace = net.trace(flow);
        let forwarded = matches!(trace.route, Some(Route::Forward { .. }));
        let mut blockers: Vec<(Verdict, bool)> =
            trace.blockers.iter().map(|b| (b.clone(), false)).collect();
        let mut rest = trace
            .beyond_blockers
            .as_deref()
            .unwrap_or(&trace.verdict)
            .clone();
        let mut reply = None;
        if forwarded
            && matches!(rest, Verdict::Accept { .. })
            && let Some((Some(ip), port)) = trace.final_dst
        {
            let out_iface = match &trace.route {
                Some(Route::Forward { out_iface }) => out_iface.as_deref(),
                _ => None,
            };
            let mut back = Flow::reply_from(flow.family, &flow.proto, ip, port, out_iface);
            if let Some(to) = reply_to {
                back.dst = Some(to);
                back.to_outside = false;
            } else if let Some(client) = flow.src {
                // A client outside with a known address (one class of `by_client`).
                back.dst = Some(client);
            }
            let r = net.trace(&back);
            // A blocker on the way in that drops the reply too is one reason, not two.
            for b in &r.blockers {
                if !blockers.iter().any(|(seen, _)| seen == b) {
                    blockers.push((b.clone(), true));
                }
            }
            rest = r.beyond_blockers.as_deref().unwrap_or(&r.verdict).clone();
            reply = Some(r);
        }
        RoundTrip {
            trace,
            reply,
            blockers,
            rest,
            forwarded,
        }
    }

    fn blocked_by(&self) -> Vec<Blocker> {
        self.blockers
            .iter()
            .filter_map(|(b, _)| Blocker::of(b))
            .collect()
    }

    fn reasons(&self) -> String {
        let reasons: Vec<String> = self
            .blockers
            .iter()
            .map(|(b, reply)| blocker_reason(b, *reply, self.forwarded))
            .collect();
        reasons.join("; and ")
    }
}

fn verdict(model: &Model, net: &Net<'_>, p: &PublishedPort) -> PortVerdict {
    let mut v = PortVerdict {
        port: p.clone(),
        verdict: PortState::Unknown,
        blocked_by: None,
        paths: Paths::default(),
        path: "none",
        reason: String::new(),
        by_client: Vec::new(),
        trace: None,
        reply: None,
    };
    let host_ip: Option<IpAddr> = p.host_ip.parse().ok();
    v.paths.container_direct = container_direct(model, net, p);
    v.paths.host_loopback = host_loopback(model, net, p);
    v.paths.host_address = host_address(model, net, p);
    if p.is_host_only() {
        v.verdict = PortState::Blocked;
        v.reason = format!(
            "published on {} only: reachable from the host itself, by design",
            p.host_ip
        );
        v.paths.outside.verdict = PortState::Blocked;
        v.paths.outside.reason = v.reason.clone();
        return v;
    }
    let mut flow = Flow::from_outside(p.family, &p.proto, p.host_port);
    let outside = net.outside_address(p.family);
    flow.dst = host_ip
        .filter(|a| !a.is_unspecified())
        .or(outside.as_ref().map(|o| o.1));
    flow.in_iface = outside.map(|o| o.0);
    let mut out = outside_outcome(model, net, p, &flow);
    if out.head.depends_on_client
        && let Some((classes, split)) = split_by_client(model, net, p, &flow, &out, &|f| {
            outside_outcome(model, net, p, f)
        })
    {
        v.by_client = classes;
        out = split;
    }
    let head = out.head;
    v.verdict = head.verdict;
    v.reason = head.reason;
    v.blocked_by = head.blocked_by;
    v.paths.outside.blocked_by = head.path_blockers;
    v.path = head.path;
    v.paths.outside.verdict = v.verdict;
    v.paths.outside.reason = v.reason.clone();
    v.trace = Some(out.trip.trace);
    v.reply = out.trip.reply;
    v
}

/// Splits an outside path whose verdict depends on the client's address into the classes of
/// client the rules on the path name: each network they test (an address inside it and in
/// none of the narrower ones), and "elsewhere" (an address in none of them). Each class is
/// traced; rules met on the way that test other networks add their classes, for a few
/// rounds. The headline is elsewhere's: a port is reachable when the internet reaches it.
/// None (stays unknown) past [`MAX_CLIENT_NETS`] networks.
fn split_by_client(
    model: &Model,
    net: &Net<'_>,
    p: &PublishedPort,
    flow: &Flow,
    first: &Outcome,
    eval: &dyn Fn(&Flow) -> Outcome,
) -> Option<(Vec<ClientClass>, Outcome)> {
    let mut nets: Vec<IpNet> = Vec::new();
    let mut pending: Vec<RuleRef> = client_rule(&first.trip).into_iter().collect();
    let add = |nets: &mut Vec<IpNet>, more: Vec<IpNet>| {
        for n in more {
            if !nets.contains(&n) && !net.is_inside_only(&n) {
                nets.push(n);
            }
        }
    };
    add(&mut nets, path_nets(model, &first.trip, p.family));
    for _round in 0..4 {
        for r in pending.drain(..) {
            add(&mut nets, source_nets(model, &r, p.family));
        }
        if nets.is_empty() || nets.len() > MAX_CLIENT_NETS {
            return None;
        }
        let mut classes: Vec<(String, IpAddr)> = nets
            .iter()
            .filter_map(|n| representative(n, &nets).map(|a| (n.to_string(), a)))
            .collect();
        if let Some(a) = elsewhere(p.family, &nets) {
            classes.push(("elsewhere".to_string(), a));
        }
        let traced: Vec<(String, IpAddr, Outcome)> = classes
            .into_iter()
            .map(|(from, a)| {
                let f = Flow {
                    src: Some(a),
                    ..flow.clone()
                };
                (from, a, eval(&f))
            })
            .collect();
        let before = nets.len();
        for (_, _, o) in &traced {
            add(&mut nets, path_nets(model, &o.trip, p.family));
        }
        pending = traced
            .iter()
            .filter(|(_, _, o)| o.head.depends_on_client)
            .filter_map(|(_, _, o)| client_rule(&o.trip))
            .collect();
        let adds = nets.len() > before
            || pending
                .iter()
                .flat_map(|r| source_nets(model, r, p.family))
                .any(|n| !nets.contains(&n) && !net.is_inside_only(&n));
        if adds && before < MAX_CLIENT_NETS {
            continue;
        }
        return Some(headline(traced));
    }
    None
}

/// The classes' verdicts, and the headline outcome (elsewhere's) whose reason names them all.
fn headline(traced: Vec<(String, IpAddr, Outcome)>) -> (Vec<ClientClass>, Outcome) {
    let classes: Vec<ClientClass> = traced
        .iter()
        .map(|(from, a, o)| ClientClass {
            from: from.clone(),
            traced: *a,
            verdict: o.head.verdict,
            blocked_by: o.head.path_blockers.clone(),
            reason: o.head.reason.clone(),
        })
        .collect();
    let word = |s: PortState| match s {
        PortState::Reachable => "reachable",
        PortState::Blocked => "blocked",
        PortState::Unknown => "unknown",
    };
    let mut groups: Vec<String> = Vec::new();
    for state in [PortState::Reachable, PortState::Blocked, PortState::Unknown] {
        let from: Vec<&str> = classes
            .iter()
            .filter(|c| c.verdict == state)
            .map(|c| c.from.as_str())
            .collect();
        if !from.is_empty() {
            groups.push(format!("{} from {}", word(state), from.join(", ")));
        }
    }
    let all_same = classes.windows(2).all(|w| w[0].verdict == w[1].verdict);
    let mut traced = traced;
    match traced.iter().position(|(from, _, _)| from == "elsewhere") {
        Some(i) => {
            let (_, _, mut out) = traced.swap_remove(i);
            if !all_same {
                out.head.reason = format!("{}. Elsewhere: {}", groups.join("; "), out.head.reason);
            }
            out.head.depends_on_client = false;
            (if all_same { Vec::new() } else { classes }, out)
        }
        // Every address is in a network the rules name: no "internet" to speak for the port.
        None => {
            let (_, _, mut out) = traced.swap_remove(0);
            out.head.verdict = PortState::Unknown;
            out.head.reason = format!("{} (no address outside these networks)", groups.join("; "));
            (classes, out)
        }
    }
}

/// The networks (at most one past [`MAX_CLIENT_NETS`]) the rules of every chain a trip walked
/// test the client's address against:
/// `-s`/`ip saddr` on the way in, `-d`/`ip daddr` on the reply's way back. A rule that let an
/// address class pass without deciding still decides for another class.
fn path_nets(model: &Model, trip: &RoundTrip, family: Family) -> Vec<IpNet> {
    let v6 = family == Family::Ip6;
    let mut out: Vec<IpNet> = Vec::new();
    let legs = [
        (Some(&trip.trace), Dir::Src),
        (trip.reply.as_ref(), Dir::Dst),
    ];
    for (trace, client_dir) in legs {
        let Some(trace) = trace else { continue };
        let mut chains: Vec<(Stack, &str, String)> = Vec::new();
        for step in &trace.steps {
            chains.push((step.stack, step.table.as_str(), step.chain.clone()));
            for r in &step.matched {
                chains.push((r.stack, r.table.as_str(), r.chain.clone()));
                if let Some(rule) = find_rule(model, r)
                    && let Action::Jump { chain, .. } | Action::Goto { chain, .. } = &rule.action
                {
                    chains.push((r.stack, r.table.as_str(), chain.as_str().to_string()));
                }
            }
        }
        chains.sort();
        chains.dedup();
        for (stack, table, chain) in chains {
            let rules = model
                .tables
                .iter()
                .filter(|t| t.stack == stack && t.name == table && t.family.applies_to(family))
                .filter_map(|t| t.chain(&chain))
                .flat_map(|c| c.rules.iter());
            for rule in rules {
                for m in &rule.matches {
                    if let Match::Addr { dir, nets, .. } = m
                        && *dir == client_dir
                    {
                        for n in nets.iter() {
                            if n.addr().is_ipv6() == v6 && n.prefix_len() > 0 && !out.contains(n) {
                                out.push(*n);
                            }
                        }
                        // Past the bound the split is given up anyway: a kube-proxy chain's
                        // thousands of rules cost one pass, not a quadratic dedup.
                        if out.len() > MAX_CLIENT_NETS {
                            return out;
                        }
                    }
                }
            }
        }
    }
    out
}

fn find_rule<'m>(model: &'m Model, r: &RuleRef) -> Option<&'m crate::model::Rule> {
    model
        .tables
        .iter()
        .filter(|t| t.stack == r.stack && t.family == r.family && t.name == r.table)
        .filter_map(|t| t.chain(&r.chain))
        .flat_map(|c| c.rules.iter())
        .find(|x| x.text.as_str() == r.rule && (x.line == r.line || r.line == 0))
}

/// The rule a trip stopped at because it tests the client's address.
fn client_rule(trip: &RoundTrip) -> Option<RuleRef> {
    match &trip.rest {
        Verdict::Unknown { by, reason } if reason.starts_with(CLIENT_DEPENDS) => Some(by.clone()),
        _ => None,
    }
}

/// The networks of `family` a rule tests addresses against (`-s`, `-d`, `ip saddr`, an ipset
/// of addresses), without the everything-net.
fn source_nets(model: &Model, r: &RuleRef, family: Family) -> Vec<IpNet> {
    let v6 = family == Family::Ip6;
    let Some(rule) = find_rule(model, r) else {
        return Vec::new();
    };
    let mut out: Vec<IpNet> = Vec::new();
    for m in &rule.matches {
        match m {
            Match::Addr { nets, .. } => out.extend(nets.iter().copied()),
            Match::Unknown { text } => {
                let words: Vec<&str> = text.as_str().split_whitespace().collect();
                if let Some(i) = words.iter().position(|w| *w == "--match-set")
                    && let Some(name) = words.get(i + 1)
                    && let Some(set) = model
                        .ipsets
                        .iter()
                        .flatten()
                        .find(|s| s.name == *name && s.addresses)
                {
                    out.extend(set.entries.iter().copied());
                }
            }
            _ => {}
        }
    }
    out.retain(|n| n.addr().is_ipv6() == v6 && n.prefix_len() > 0);
    out
}

/// An address in `n` and in none of the narrower networks of `all`.
fn representative(n: &IpNet, all: &[IpNet]) -> Option<IpAddr> {
    let narrower = |a: &IpAddr| {
        all.iter()
            .any(|m| m != n && m.prefix_len() > n.prefix_len() && m.contains(a))
    };
    let (first, last) = (n.network(), n.broadcast());
    let candidates: Vec<IpAddr> = match (first, last) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let (a, b) = (u32::from(a), u32::from(b));
            [a.saturating_add(1), a + (b - a) / 2, b.saturating_sub(1), a]
                .into_iter()
                .map(|x| IpAddr::V4(x.into()))
                .collect()
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let (a, b) = (u128::from(a), u128::from(b));
            [a.saturating_add(1), a + (b - a) / 2, b.saturating_sub(1), a]
                .into_iter()
                .map(|x| IpAddr::V6(x.into()))
                .collect()
        }
        _ => Vec::new(),
    };
    candidates
        .into_iter()
        .find(|a| n.contains(a) && !narrower(a))
}

/// A public address in none of `nets`: the rest of the internet.
fn elsewhere(family: Family, nets: &[IpNet]) -> Option<IpAddr> {
    let candidates: &[&str] = if family == Family::Ip6 {
        &[
            "2001:db8::7",
            "2606:4700:4700::1111",
            "2001:4860:4860::8888",
            "2a00:1450::7",
        ]
    } else {
        &[
            "203.0.113.7",
            "198.51.100.7",
            "8.8.8.8",
            "1.1.1.1",
            "151.101.1.1",
        ]
    };
    candidates
        .iter()
        .filter_map(|c| c.parse::<IpAddr>().ok())
        .find(|a| !nets.iter().any(|n| n.contains(a)))
}

/// The outside path of one traced connection, as the headline of a port reads it.
struct Outcome {
    head: Head,
    trip: RoundTrip,
}

#[derive(Clone)]
struct Head {
    verdict: PortState,
    reason: String,
    blocked_by: Option<BlockedBy>,
    path_blockers: Vec<Blocker>,
    path: &'static str,
    /// The walk stopped at a rule that decides by the client's address.
    depends_on_client: bool,
}

fn outside_outcome(model: &Model, net: &Net<'_>, p: &PublishedPort, flow: &Flow) -> Outcome {
    let trip = RoundTrip::of(net, flow, None);
    let mut v = Head {
        verdict: PortState::Unknown,
        reason: String::new(),
        blocked_by: None,
        path_blockers: Vec::new(),
        path: "none",
        depends_on_client: false,
    };
    v.path = if trip.forwarded { "dnat" } else { "none" };
    if trip.forwarded
        && matches!(trip.rest, Verdict::Accept { .. })
        && let Some((Some(ip), port)) = trip.trace.final_dst
    {
        v.reason = format!("DNAT to {ip}:{port}, forwarded and accepted by every stack");
    }
    v.path_blockers = trip.blocked_by();
    if !trip.blockers.is_empty() {
        v.verdict = PortState::Blocked;
        v.blocked_by = trip.blockers.iter().find_map(|(b, _)| match b {
            Verdict::Drop { by } => Some(by.into()),
            _ => None,
        });
        v.reason = trip.reasons();
    } else {
        match &trip.rest {
            Verdict::Unknown { by, reason } => {
                let on = if trip.reply.is_some() { "reply: " } else { "" };
                v.reason = format!("{on}{}: {}", by.describe(), reason);
                v.depends_on_client = reason.starts_with(CLIENT_DEPENDS);
            }
            Verdict::Unseen { missing } => v.reason = unseen_reason(missing),
            Verdict::Accept { .. } if trip.forwarded => {
                v.verdict = PortState::Reachable;
            }
            Verdict::Accept { .. } => {
                if docker_proxy_listens(model, p, flow.dst) {
                    v.path = "docker-proxy";
                    let leg = proxy_leg(
                        net,
                        p,
                        "no DNAT rule applies; docker-proxy listens on the host port and INPUT accepts",
                    );
                    v.verdict = leg.verdict;
                    v.reason = leg.reason;
                    v.path_blockers = leg.blocked_by;
                    v.blocked_by = v.path_blockers.iter().find_map(|b| match b {
                        Blocker::Rule(r) => Some(r.clone()),
                        Blocker::Kernel { .. } => None,
                    });
                } else {
                    v.verdict = PortState::Blocked;
                    v.reason =
                        "no DNAT rule sends it to the container and no docker-proxy listens".into();
                }
            }
            Verdict::Drop { .. } | Verdict::KernelDrop { .. } => {}
        }
    }
    Outcome { head: v, trip }
}

/// The words for a verdict the evidence could not give.
fn unseen_reason(missing: &[crate::analyze::needs::Gap]) -> String {
    // The what only: evidence-missing says why and how to read each.
    format!(
        "every rule that was read lets it pass; not read: {}",
        missing
            .iter()
            .map(|g| g.what.as_str())
            .collect::<Vec<_>>()
            .join("; ")
    )
}

/// Does docker-proxy listen on the host port, for a connection to `dst`? (Docker's default,
/// unless `userland-proxy` is off; only known for ports Docker's API listed.)
fn docker_proxy_listens(model: &Model, p: &PublishedPort, dst: Option<IpAddr>) -> bool {
    let bound: Option<IpAddr> = p.host_ip.parse().ok();
    let serves_dst = match (bound, dst) {
        (Some(b), Some(d)) => b.is_unspecified() || b == d,
        _ => true,
    };
    serves_dst
        && model
            .docker
            .as_ref()
            .is_some_and(|d| d.daemon_config.userland_proxy != Some(false) && p.container.is_some())
}

/// A path's verdict from a round trip: blocked by what drops it, reachable when it reaches the
/// container, `proxied` deciding when it ends on the host (docker-proxy or nothing).
fn path_verdict(trip: &RoundTrip, proxied: impl FnOnce() -> PathVerdict) -> PathVerdict {
    if !trip.blockers.is_empty() {
        return PathVerdict {
            verdict: PortState::Blocked,
            blocked_by: trip.blocked_by(),
            reason: trip.reasons(),
        };
    }
    let unknown = |reason: String| PathVerdict {
        reason,
        ..PathVerdict::default()
    };
    match &trip.rest {
        Verdict::Accept { .. } if trip.forwarded => PathVerdict {
            verdict: PortState::Reachable,
            blocked_by: Vec::new(),
            reason: match trip.trace.final_dst {
                Some((Some(ip), port)) => format!(
                    "to {} and back, accepted by every stack",
                    sockaddr(ip, port)
                ),
                _ => String::new(),
            },
        },
        Verdict::Accept { .. } => proxied(),
        Verdict::Unknown { by, reason } => unknown(format!("{}: {}", by.describe(), reason)),
        Verdict::Unseen { missing } => unknown(unseen_reason(missing)),
        Verdict::Drop { .. } | Verdict::KernelDrop { .. } => PathVerdict::default(),
    }
}

/// docker-proxy's own connection on to the container (from the host: OUTPUT, its reply
/// through INPUT), once a connection reached it; `served` is the reason when it gets through.
fn proxy_leg(net: &Net<'_>, p: &PublishedPort, served: &str) -> PathVerdict {
    let (Some(ip), Some(port)) = (p.container_ip, p.container_port) else {
        return PathVerdict {
            reason: format!("{served}; where it connects to is not known"),
            ..PathVerdict::default()
        };
    };
    let family = if ip.is_ipv6() {
        Family::Ip6
    } else {
        Family::Ip
    };
    let src = net.source_for(ip);
    let flow = Flow {
        src,
        dst: Some(ip),
        local_origin: true,
        ..Flow::from_outside(family, &p.proto, port)
    };
    let trip = RoundTrip::of(net, &flow, src);
    let mut v = path_verdict(&trip, || PathVerdict {
        verdict: PortState::Blocked,
        blocked_by: Vec::new(),
        reason: "docker-proxy's connection to the container stays on the host".into(),
    });
    let to = sockaddr(ip, port);
    v.reason = match v.verdict {
        PortState::Reachable => format!("{served}, and its connection to {to} gets through"),
        _ => format!("{served}, but its connection to {to}: {}", v.reason),
    };
    v
}

/// `172.17.0.2:80`, `[fd00::2]:80`
pub fn sockaddr(ip: IpAddr, port: u16) -> String {
    std::net::SocketAddr::new(ip, port).to_string()
}

/// A client outside straight to the container's address and port (routed access): FORWARD
/// decides, and Docker 28+'s raw PREROUTING drop of direct access.
fn container_direct(model: &Model, net: &Net<'_>, p: &PublishedPort) -> PathVerdict {
    let want_v6 = p.family == Family::Ip6;
    let (Some(ip), Some(port)) = (
        p.container_ip.filter(|ip| ip.is_ipv6() == want_v6),
        p.container_port,
    ) else {
        let reason = match p.container_ip {
            Some(_) => format!("the container has no {} address", family_name(p.family)),
            None => "the container's address is not known".into(),
        };
        let verdict = if p.container_ip.is_some() {
            PortState::Blocked
        } else {
            PortState::Unknown
        };
        return PathVerdict {
            verdict,
            blocked_by: Vec::new(),
            reason,
        };
    };
    let mut flow = Flow::from_outside(p.family, &p.proto, port);
    flow.dst = Some(ip);
    flow.in_iface = net.outside_address(p.family).map(|o| o.0);
    let eval = |f: &Flow| {
        let trip = RoundTrip::of(net, f, None);
        let v = path_verdict(&trip, || PathVerdict {
            verdict: PortState::Blocked,
            blocked_by: Vec::new(),
            reason: "routed to the host itself, not to the container".into(),
        });
        Outcome {
            head: Head {
                verdict: v.verdict,
                reason: v.reason,
                blocked_by: None,
                path_blockers: v.blocked_by,
                path: "none",
                depends_on_client: client_rule(&trip).is_some(),
            },
            trip,
        }
    };
    let mut out = eval(&flow);
    // Decided by the client's address: the verdict for every address no rule names, as for
    // the outside path (the classes are in the outside path's `by_client`).
    if out.head.depends_on_client
        && let Some((_, split)) = split_by_client(model, net, p, &flow, &out, &eval)
    {
        out = split;
    }
    let mut reason = out.head.reason;
    if !out.head.path_blockers.is_empty()
        && out
            .head
            .path_blockers
            .iter()
            .all(Blocker::is_docker_direct_access_drop)
    {
        reason = DOCKER_DIRECT_ACCESS_DROP.into();
    }
    PathVerdict {
        verdict: out.head.verdict,
        blocked_by: out.head.path_blockers,
        reason,
    }
}

/// The reason of a `container_direct` path that only Docker's own direct-access drop blocks.
pub const DOCKER_DIRECT_ACCESS_DROP: &str =
    "Docker's own filter (28+): packets to a container's address must come in on its bridge";

fn family_name(f: Family) -> &'static str {
    if f == Family::Ip6 { "IPv6" } else { "IPv4" }
}

/// The host itself to `dst` on the port: OUTPUT (nat OUTPUT may DNAT it to the container),
/// POSTROUTING, and either the container (its reply through INPUT) or docker-proxy on the host.
fn from_host(model: &Model, net: &Net<'_>, p: &PublishedPort, dst: IpAddr) -> PathVerdict {
    let flow = Flow {
        src: Some(dst),
        dst: Some(dst),
        local_origin: true,
        ..Flow::from_outside(p.family, &p.proto, p.host_port)
    };
    let trip = RoundTrip::of(net, &flow, Some(dst));
    path_verdict(&trip, || {
        if docker_proxy_listens(model, p, Some(dst)) {
            proxy_leg(net, p, "docker-proxy listens on the host port")
        } else if model.docker.is_some() {
            PathVerdict {
                verdict: PortState::Blocked,
                blocked_by: Vec::new(),
                reason: "no DNAT rule sends it to the container and no docker-proxy listens".into(),
            }
        } else {
            PathVerdict {
                reason: "whether docker-proxy listens is not known (Docker's API was not read)"
                    .into(),
                ..PathVerdict::default()
            }
        }
    })
}

/// The host's own connection to `127.0.0.1:PORT` (`[::1]:PORT`): what `curl localhost` does.
fn host_loopback(model: &Model, net: &Net<'_>, p: &PublishedPort) -> PathVerdict {
    let lo: IpAddr = if p.family == Family::Ip6 {
        std::net::Ipv6Addr::LOCALHOST.into()
    } else {
        std::net::Ipv4Addr::LOCALHOST.into()
    };
    from_host(model, net, p, lo)
}

/// The host's own connection to its outside address on the port.
fn host_address(model: &Model, net: &Net<'_>, p: &PublishedPort) -> PathVerdict {
    let bound: Option<IpAddr> = p.host_ip.parse().ok();
    let addr = bound
        .filter(|a| !a.is_unspecified() && !a.is_loopback())
        .or_else(|| net.outside_address(p.family).map(|o| o.1));
    match addr {
        Some(a) => from_host(model, net, p, a),
        None => PathVerdict {
            reason: format!(
                "the host's outside {} address is not known",
                family_name(p.family)
            ),
            ..PathVerdict::default()
        },
    }
}

/// One blocker in words: "dropped by legacy ip filter FORWARD: policy DROP".
fn blocker_reason(b: &Verdict, reply: bool, forwarded: bool) -> String {
    let what = if reply {
        "the reply is dropped"
    } else {
        "dropped"
    };
    match b {
        Verdict::Drop { by } => format!("{what} by {}", by.describe()),
        Verdict::KernelDrop { reason } if forwarded && !reply => {
            format!("DNAT sends it through FORWARD, but {reason}")
        }
        Verdict::KernelDrop { reason } => format!("{what}: {reason}"),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| n.parse().unwrap()).collect()
    }

    #[test]
    fn a_class_is_traced_from_an_address_in_none_of_its_narrower_networks() {
        let all = nets(&["10.0.0.0/8", "10.0.0.0/24", "192.0.2.5/32"]);
        let wide = representative(&all[0], &all).unwrap();
        assert!(all[0].contains(&wide) && !all[1].contains(&wide), "{wide}");
        assert_eq!(
            representative(&all[2], &all),
            Some("192.0.2.5".parse().unwrap())
        );
        let v6 = nets(&["fd00::/8"]);
        assert!(v6[0].contains(&representative(&v6[0], &v6).unwrap()));
    }

    #[test]
    fn elsewhere_is_a_public_address_no_rule_names() {
        let private = nets(&["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]);
        assert_eq!(
            elsewhere(Family::Ip, &private),
            Some("203.0.113.7".parse().unwrap())
        );
        let greedy = nets(&["203.0.113.0/24", "198.51.100.0/24"]);
        assert_eq!(
            elsewhere(Family::Ip, &greedy),
            Some("8.8.8.8".parse().unwrap())
        );
        // Every address named: no "elsewhere" to speak for the internet.
        assert_eq!(
            elsewhere(Family::Ip, &nets(&["0.0.0.0/1", "128.0.0.0/1"])),
            None
        );
        assert!(elsewhere(Family::Ip6, &nets(&["fd00::/8"])).is_some_and(|a| a.is_ipv6()));
    }
}
