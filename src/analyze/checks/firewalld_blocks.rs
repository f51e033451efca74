//! `firewalld-blocks`: firewalld's own rules block a published port.

use crate::analyze::context::Context;
use crate::analyze::fix::{self, FirewalldDrop, FirewalldPort};
use crate::analyze::ports::{BlockedBy, Blocker, PortState, PortVerdict};
use crate::analyze::trace::{Flow, RuleRef, Verdict};
use crate::analyze::{Check, EvidenceLine, Finding, Fix, Severity};
use crate::model::{CtState, Family};

pub const CHECK: Check = Check {
    name: "firewalld-blocks",
    severity: Severity::Warning,
    summary: "firewalld's own rules (table inet firewalld) block a published port",
    docs: "\
What it finds
  A published port dropped or rejected by a rule of firewalld's own nft table
  (`table inet firewalld`, base chains at priority filter + 10), or, with firewalld's iptables
  backend, by its chains (`IN_<zone>`, `FWD_<zone>`) or final `-j REJECT` in a filter table that
  holds its INPUT_ZONES/FORWARD_ZONES; not by Docker's or your own rules. Which chain says why:
  - `filter_FORWARD_dnat`: StrictForwardPorts=yes (firewalld >= 2.3). firewalld's forward chain
    normally accepts every DNATed connection (`ct status dnat accept`), which is what lets
    Docker's published ports through; in strict mode only ports with a firewalld forward-port
    are accepted and the rest meet `reject with icmpx admin-prohibited`.
  - `filter_INPUT` / `filter_IN_<zone>`: the connection reaches the host itself (docker-proxy,
    e.g. IPv6 or when Docker's DNAT rules are gone) and the zone does not open the port.
  - `filter_FORWARD` / `filter_FWD_<zone>`: forwarded traffic that is not DNATed and that no
    zone or policy accepts (a bridge in no zone, no policy into Docker's `docker` zone).
  Containers' own connections out are traced too: a bridge in no zone (Docker started before
  firewalld) falls into the default zone, whose forward chain rejects them.

Why it matters
  firewalld's chain is a separate nft base chain on the same hook as Docker's: an accept in
  Docker's chain does not stop firewalld's reject. It may be intended (strict mode exists to
  block published ports), so this is a warning.

How to fix
  Change firewalld's settings with firewall-cmd, never its table with nft (firewalld rewrites it
  on every reload): `--add-forward-port=port=P:proto=tcp:toport=CP:toaddr=CIP` for strict mode,
  `--add-port=P/tcp` for the host's own port, `--zone=docker --add-interface=BRIDGE` or a
  policy into the `docker` zone for forwarded traffic. Each runtime command is shown with its
  `--permanent` twin; `firewall-cmd --reload` loads the permanent settings.",
    run,
};

/// Is this blocker a rule of firewalld's own table?
pub fn by_firewalld(ctx: &Context, b: &BlockedBy) -> bool {
    fix::firewalld_owns(ctx.model, b)
}

/// Was this port dropped, from outside, only by firewalld's rules?
pub fn only_firewalld(ctx: &Context, p: &PortVerdict) -> bool {
    let blockers = &p.paths.outside.blocked_by;
    p.verdict == PortState::Blocked
        && !blockers.is_empty()
        && blockers
            .iter()
            .all(|b| matches!(b, Blocker::Rule(r) if by_firewalld(ctx, r)))
}

/// The firewalld fix for a port `p` dropped by firewalld's rule `by`.
pub fn fix_for(ctx: &Context, p: &PortVerdict, by: &RuleRef) -> (Vec<String>, Vec<String>) {
    let port = FirewalldPort {
        proto: &p.port.proto,
        host_port: p.port.host_port,
        container: p.port.container_ip.zip(p.port.container_port),
    };
    fix::firewalld_fix(ctx, &by.chain, &port)
}

fn what(chain: &str) -> &'static str {
    match FirewalldDrop::of(chain) {
        FirewalldDrop::StrictForwardPorts => {
            "firewalld's StrictForwardPorts rejects DNATed traffic it has no forward-port for"
        }
        FirewalldDrop::Input => "firewalld's zone does not open the port on the host itself",
        FirewalldDrop::Forward => "no firewalld zone or policy accepts the forwarded traffic",
        FirewalldDrop::Other => "a rule of firewalld's own table drops it",
    }
}

fn run(ctx: &Context) -> Vec<Finding> {
    let mut out = Vec::new();
    for p in ctx.ports.iter().filter(|p| p.verdict == PortState::Blocked) {
        if p.port.is_host_only() {
            continue;
        }
        let traces = [p.trace.as_ref(), p.reply.as_ref()];
        let mut ours: Vec<&RuleRef> = Vec::new();
        for b in traces.into_iter().flatten().flat_map(|t| &t.blockers) {
            if let Verdict::Drop { by } = b
                && fix::firewalld_rule(ctx.model, by)
                && !ours.contains(&by)
            {
                ours.push(by);
            }
        }
        // The first drop on the path is what the connection meets; the others are what it
        // would meet next, shown as evidence.
        let Some(first) = ours.first() else { continue };
        let (immediate, lasting) = fix_for(ctx, p, first);
        out.push(Finding {
            check: CHECK.name,
            severity: Severity::Warning,
            summary: format!(
                "port {} is blocked by firewalld ({} {} {} {}): {}",
                p.port.label(),
                first.stack,
                first.family,
                first.table,
                first.chain,
                what(&first.chain)
            ),
            why: if only_firewalld(ctx, p) {
                "No rule but firewalld's drops it on this path. If that is not intended, open it in firewalld."
            } else {
                "firewalld's rules drop it, and so do others (other findings name them)."
            }
            .into(),
            evidence: ours.iter().map(|r| EvidenceLine::rule(r)).collect(),
            fix: Fix {
                immediate,
                lasting,
                note: "firewalld's table is firewalld's: change it with firewall-cmd, not nft. If Docker's own rules are missing too (docker-chains-missing), restart Docker first: a firewalld started or reloaded after Docker removes them.".into(),
            },
        });
    }
    out.extend(egress(ctx));
    out
}

/// Containers' own connections out of each bridge (as split-forward-drop traces them), when a
/// rule of firewalld's drops them: the bridge is in no zone that accepts its traffic.
fn egress(ctx: &Context) -> Vec<Finding> {
    let mut out = Vec::new();
    for b in &ctx.model.bridges {
        let Some(src) = b
            .subnets
            .iter()
            .find(|n| n.addr().is_ipv4())
            .and_then(|n| n.hosts().nth(1))
        else {
            continue;
        };
        let flow = Flow {
            family: Family::Ip,
            proto: "tcp".into(),
            src: Some(src),
            // Any address outside the host will do (TEST-NET-2).
            dst: Some("198.51.100.7".parse().expect("valid address")),
            dport: 443,
            sport: Some(40000),
            in_iface: Some(b.name.clone()),
            state: CtState::New,
            local_origin: false,
            to_outside: false,
        };
        let trace = ctx.net.trace(&flow);
        let ours: Vec<&RuleRef> = trace
            .blockers
            .iter()
            .filter_map(|v| match v {
                Verdict::Drop { by } if fix::firewalld_rule(ctx.model, by) => Some(by),
                _ => None,
            })
            .collect();
        let Some(first) = ours.first() else { continue };
        let (immediate, lasting) = fix::firewalld_docker_zone(ctx, std::slice::from_ref(&b.name));
        out.push(Finding {
            check: CHECK.name,
            severity: Severity::Warning,
            summary: format!(
                "containers on {} cannot open connections out: firewalld ({} {} {} {}) rejects them; the bridge is in no zone that accepts its traffic",
                b.name, first.stack, first.family, first.table, first.chain
            ),
            why: "Docker puts its bridges into firewalld's `docker` zone (target ACCEPT) only when firewalld is running as Docker starts; a bridge in no zone falls into the default zone, whose forward chain rejects it.".into(),
            evidence: ours.iter().map(|r| EvidenceLine::rule(r)).collect(),
            fix: Fix {
                immediate,
                lasting,
                note: "firewalld's table is firewalld's: change it with firewall-cmd, not nft. Without a `docker` zone, restarting Docker (>= 20.10) with firewalld running makes the zone and puts the bridges in it.".into(),
            },
        });
    }
    out
}
