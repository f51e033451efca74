//! Published ports and their verdicts: can a client outside open a new connection?

use crate::analyze::trace::{Flow, Net, Route, RuleRef, Trace, Verdict};
use crate::model::{Action, Dir, Family, Match, Model, Stack};
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
    #[serde(skip)]
    pub family: Family,
}

impl PublishedPort {
    /// `8080/tcp`
    pub fn label(&self) -> String {
        format!("{}/{}", self.host_port, self.proto)
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
}

impl Default for PathVerdict {
    fn default() -> Self {
        PathVerdict {
            verdict: PortState::Unknown,
            blocked_by: Vec::new(),
        }
    }
}

/// The ways a published port is reached (DESIGN.md `paths`). `outside` is the entry's
/// `verdict`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Paths {
    pub outside: PathVerdict,
    /// The host itself to `127.0.0.1:PORT` (`::1` for IPv6): what `curl localhost` does.
    pub host_loopback: PathVerdict,
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
    #[serde(skip)]
    pub trace: Option<Trace>,
    #[serde(skip)]
    pub reply: Option<Trace>,
}

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
                });
            }
        }
    }
    out
}

/// The published ports: Docker's API when captured, else Docker's DNAT rules of the live stack.
pub fn published(model: &Model) -> Vec<PublishedPort> {
    if let Some(d) = &model.docker {
        let mut out: Vec<PublishedPort> = Vec::new();
        for c in &d.containers {
            let ipv4: std::collections::HashSet<(u16, &str)> = (c.ports.iter())
                .filter(|q| !q.host_ip.contains(':'))
                .map(|q| (q.host_port, q.proto.as_str()))
                .collect();
            for p in &c.ports {
                let family = if p.host_ip.contains(':') {
                    Family::Ip6
                } else {
                    Family::Ip
                };
                // Docker lists "0.0.0.0" and "::" for one -p; the IPv4 entry speaks for both.
                if family == Family::Ip6 && ipv4.contains(&(p.host_port, p.proto.as_str())) {
                    continue;
                }
                let container_ip = c
                    .addresses
                    .iter()
                    .map(|(_, ip)| *ip)
                    .find(|ip| ip.is_ipv6() == (family == Family::Ip6));
                out.push(PublishedPort {
                    proto: p.proto.clone(),
                    host_ip: p.host_ip.clone(),
                    host_port: p.host_port,
                    container: Some(c.name.clone()),
                    container_ip,
                    container_port: Some(p.container_port),
                    family,
                });
            }
        }
        out.sort_by(|a, b| (a.host_port, &a.proto).cmp(&(b.host_port, &b.proto)));
        return out;
    }
    let Some(live) = crate::analyze::context::live_docker_rules(model, Family::Ip) else {
        return Vec::new();
    };
    let mut out = dnat_rules(model, live.stack, Family::Ip);
    if let Some(live6) = crate::analyze::context::live_docker_rules(model, Family::Ip6) {
        out.extend(dnat_rules(model, live6.stack, Family::Ip6));
    }
    out.sort_by(|a, b| (a.host_port, &a.proto).cmp(&(b.host_port, &b.proto)));
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

fn verdict(model: &Model, net: &Net<'_>, p: &PublishedPort) -> PortVerdict {
    let mut v = PortVerdict {
        port: p.clone(),
        verdict: PortState::Unknown,
        blocked_by: None,
        paths: Paths::default(),
        path: "none",
        reason: String::new(),
        trace: None,
        reply: None,
    };
    let host_ip: Option<IpAddr> = p.host_ip.parse().ok();
    if p.is_host_only() {
        v.verdict = PortState::Blocked;
        v.reason = format!(
            "published on {} only: reachable from the host itself, by design",
            p.host_ip
        );
        v.paths.outside.verdict = PortState::Blocked;
        v.paths.host_loopback = host_loopback(model, net, p);
        return v;
    }
    let mut flow = Flow::from_outside(p.family, &p.proto, p.host_port);
    let outside = net.outside_address(p.family);
    flow.dst = host_ip
        .filter(|a| !a.is_unspecified())
        .or(outside.as_ref().map(|o| o.1));
    flow.in_iface = outside.map(|o| o.0);
    let trace = net.trace(&flow);
    let forwarded = matches!(trace.route, Some(Route::Forward { .. }));
    v.path = if forwarded { "dnat" } else { "none" };
    let mut blockers: Vec<(Verdict, bool)> =
        trace.blockers.iter().map(|b| (b.clone(), false)).collect();
    // What the path ends in once every blocker so far lets it pass.
    let mut rest = trace
        .beyond_blockers
        .as_deref()
        .unwrap_or(&trace.verdict)
        .clone();
    if forwarded
        && matches!(rest, Verdict::Accept { .. })
        && let Some((Some(ip), port)) = trace.final_dst
    {
        let out_iface = match &trace.route {
            Some(Route::Forward { out_iface }) => out_iface.as_deref(),
            _ => None,
        };
        let reply = net.trace(&Flow::reply_from(p.family, &p.proto, ip, port, out_iface));
        // A blocker on the way in that drops the reply too is one reason, not two.
        for b in &reply.blockers {
            if !blockers.iter().any(|(seen, _)| seen == b) {
                blockers.push((b.clone(), true));
            }
        }
        rest = reply
            .beyond_blockers
            .as_deref()
            .unwrap_or(&reply.verdict)
            .clone();
        if matches!(rest, Verdict::Accept { .. }) {
            v.reason = format!("DNAT to {ip}:{port}, forwarded and accepted by every stack");
        }
        v.reply = Some(reply);
    }
    v.paths.outside.blocked_by = blockers
        .iter()
        .filter_map(|(b, _)| Blocker::of(b))
        .collect();
    if !blockers.is_empty() {
        v.verdict = PortState::Blocked;
        v.blocked_by = blockers.iter().find_map(|(b, _)| match b {
            Verdict::Drop { by } => Some(by.into()),
            _ => None,
        });
        let reasons: Vec<String> = blockers
            .iter()
            .map(|(b, reply)| blocker_reason(b, *reply, forwarded))
            .collect();
        v.reason = reasons.join("; and ");
    } else {
        match &rest {
            Verdict::Unknown { by, reason } => {
                let on = if v.reply.is_some() { "reply: " } else { "" };
                v.reason = format!("{on}{}: {}", by.describe(), reason);
            }
            Verdict::Unseen { missing } => {
                // The what only: evidence-missing says why and how to read each.
                v.reason = format!(
                    "every rule that was read lets it pass; not read: {}",
                    missing
                        .iter()
                        .map(|g| g.what.as_str())
                        .collect::<Vec<_>>()
                        .join("; ")
                );
            }
            Verdict::Accept { .. } if forwarded => {
                v.verdict = PortState::Reachable;
            }
            Verdict::Accept { .. } => {
                if docker_proxy_listens(model, p) {
                    v.path = "docker-proxy";
                    v.verdict = PortState::Reachable;
                    v.reason = "no DNAT rule applies; docker-proxy listens on the host port and INPUT accepts".into();
                } else {
                    v.verdict = PortState::Blocked;
                    v.reason =
                        "no DNAT rule sends it to the container and no docker-proxy listens".into();
                }
            }
            Verdict::Drop { .. } | Verdict::KernelDrop { .. } => {}
        }
    }
    v.paths.outside.verdict = v.verdict;
    v.paths.host_loopback = host_loopback(model, net, p);
    v.trace = Some(trace);
    v
}

/// Does docker-proxy listen on the host port? (Docker's default, unless `userland-proxy` is
/// off; only known for ports Docker's API listed.)
fn docker_proxy_listens(model: &Model, p: &PublishedPort) -> bool {
    model
        .docker
        .as_ref()
        .is_some_and(|d| d.daemon_config.userland_proxy != Some(false) && p.container.is_some())
}

/// The host's own connection to `127.0.0.1:PORT` (`[::1]:PORT`): through OUTPUT, and either
/// DNAT to the container or docker-proxy on the host.
fn host_loopback(model: &Model, net: &Net<'_>, p: &PublishedPort) -> PathVerdict {
    let lo: IpAddr = if p.family == Family::Ip6 {
        std::net::Ipv6Addr::LOCALHOST.into()
    } else {
        std::net::Ipv4Addr::LOCALHOST.into()
    };
    let flow = Flow {
        src: Some(lo),
        dst: Some(lo),
        local_origin: true,
        ..Flow::from_outside(p.family, &p.proto, p.host_port)
    };
    let t = net.trace(&flow);
    let blocked_by: Vec<Blocker> = t.blockers.iter().filter_map(Blocker::of).collect();
    let verdict = match (&t.verdict, &t.route) {
        _ if !blocked_by.is_empty() => PortState::Blocked,
        (Verdict::Accept { .. }, Some(Route::Forward { .. })) => PortState::Reachable,
        (Verdict::Accept { .. }, _) if docker_proxy_listens(model, p) => PortState::Reachable,
        (Verdict::Accept { .. }, _) if model.docker.is_some() => PortState::Blocked,
        _ => PortState::Unknown,
    };
    PathVerdict {
        verdict,
        blocked_by,
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
