//! `split-forward-drop`: a DROP in one stack kills traffic Docker's rules accept in another.

use crate::analyze::checks::docker_user_blocks::on_purpose;
use crate::analyze::context::Context;
use crate::analyze::trace::{Flow, RuleRef, Trace, Verdict};
use crate::analyze::{Check, EvidenceLine, Finding, Fix, Severity, fix};
use crate::model::{Family, Hook, Stack};
use std::collections::{HashMap, HashSet};

pub const CHECK: Check = Check {
    name: "split-forward-drop",
    severity: Severity::Critical,
    summary: "a DROP in one firewall stack drops traffic that Docker's rules accept in another",
    docs: "\
What it finds
  A DROP (a chain policy or a rule) in one firewall stack -- legacy xtables, iptables-nft, or a
  native nft table -- that drops packets Docker's own rules, living in a different stack, accept.
  fwdoctor traces a new connection to every published port (and containers' outgoing traffic)
  through every base chain of every stack on each hook, and reports the rule that drops it.

Why it matters
  The kernel runs every base chain registered on a hook, from both stacks. An ACCEPT only ends
  its own chain; a DROP anywhere is final. So Docker's ACCEPT in nf_tables does not help when a
  legacy `FORWARD` policy is DROP: published ports die for clients outside the host, while
  `curl localhost` still works. Typical causes: a Docker snap refresh that switched stacks, an
  older Docker or dind, ufw, iptables-persistent, `/etc/nftables.conf`.

How to fix
  Now: set the dropping policy to ACCEPT (or delete the rule) in the stack that is not Docker's,
  e.g. `sudo iptables-legacy -P FORWARD ACCEPT`.
  For good: make every tool use one stack. Point the `iptables` alternative at the stack Docker
  uses, remove what keeps writing the other one (old snap revision, iptables-persistent, a
  script), flush the stale tables or reboot, and restart Docker. fwdoctor prints the exact
  commands for this host.",
    run,
};

fn run(ctx: &Context) -> Vec<Finding> {
    let Some(docker_stack) = ctx.docker_stack() else {
        return Vec::new();
    };
    let mut findings: Vec<Finding> = Vec::new();
    // Per finding (one per dropping rule), what it drops, each once; found by the rule's
    // evidence line, so many ports cost a lookup each, not a scan of the findings.
    let mut index: HashMap<EvidenceLine, usize> = HashMap::new();
    let mut dropped: Vec<(Vec<String>, HashSet<String>)> = Vec::new();
    let mut add = |by: &RuleRef, what: String, accepted_by: Vec<EvidenceLine>| {
        let first = EvidenceLine::rule(by);
        if let Some(&i) = index.get(&first) {
            let (list, seen) = &mut dropped[i];
            if seen.insert(what.clone()) {
                list.push(what);
            }
            return;
        }
        index.insert(first.clone(), findings.len());
        dropped.push((vec![what.clone()], HashSet::from([what])));
        let mut evidence = vec![first];
        evidence.extend(accepted_by);
        let bridges = fix::bridge_names(ctx);
        findings.push(Finding {
            check: CHECK.name,
            severity: Severity::Critical,
            summary: format!(
                "{} drops traffic that Docker's rules in {} accept",
                by.describe(),
                docker_stack,
            ),
            why: format!(
                "Docker writes its rules to {docker_stack}, but the {} stack runs on the same hook and its DROP is final: an ACCEPT only ends its own chain.",
                by.stack
            ),
            evidence,
            fix: Fix {
                immediate: fix::undo(by, &bridges),
                lasting: fix::align_stacks(ctx, by),
                note: format!("Docker on this host: {}", if ctx.model.docker_is_snap() { "the snap" } else { "a system package" }),
            },
        });
    };

    for p in &ctx.ports {
        for trace in [p.trace.as_ref(), p.reply.as_ref()].into_iter().flatten() {
            for blocker in &trace.blockers {
                let Verdict::Drop { by } = blocker else {
                    continue;
                };
                // firewalld's own table is a firewall, not a stack split: firewalld-blocks.
                if by.stack == docker_stack
                    || on_purpose(ctx, by)
                    || fix::firewalld_rule(ctx.model, by)
                    || !accepted_on_hook(trace, by, docker_stack)
                {
                    continue;
                }
                let accepted = docker_accepts(trace, by, docker_stack);
                add(by, format!("published port {}", p.port.label()), accepted);
            }
        }
    }
    // Containers' own traffic out of each bridge: catches the split with no published port.
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
            state: crate::model::CtState::New,
            local_origin: false,
            to_outside: false,
        };
        let trace = ctx.net.trace(&flow);
        for blocker in &trace.blockers {
            let Verdict::Drop { by } = blocker else {
                continue;
            };
            if by.stack == docker_stack
                || on_purpose(ctx, by)
                || fix::firewalld_rule(ctx.model, by)
                || !accepted_on_hook(&trace, by, docker_stack)
            {
                continue;
            }
            let accepted = docker_accepts(&trace, by, docker_stack);
            add(
                by,
                format!("outgoing traffic of containers on {}", b.name),
                accepted,
            );
        }
    }
    for (f, (what, _)) in findings.iter_mut().zip(dropped) {
        f.summary.push_str(": ");
        f.summary.push_str(&listing(&what));
    }
    findings
}

/// `published port 8080/tcp, outgoing traffic of containers on docker0`; past
/// [`LISTED`] items, how many more.
fn listing(what: &[String]) -> String {
    let mut s = what[..what.len().min(LISTED)].join(", ");
    if what.len() > LISTED {
        s.push_str(&format!(" and {} more", what.len() - LISTED));
    }
    s
}

/// How many dropped things a split's summary names.
const LISTED: usize = 12;

/// The hook where `by` dropped the packet.
fn drop_hook(trace: &Trace, by: &RuleRef) -> Hook {
    trace
        .steps
        .iter()
        .find(|s| matches!(&s.verdict, Verdict::Drop { by: b } if b == by))
        .map_or(Hook::Forward, |s| s.hook)
}

/// Did a rule of Docker's stack accept the packet on the hook where it was dropped? A policy
/// ACCEPT there is not Docker's rules accepting (a legacy INPUT DROP beside an nft INPUT with
/// no Docker rule is no split). The engine runs every base chain of that hook, even after the
/// drop, since same-priority order is undefined.
fn accepted_on_hook(trace: &Trace, by: &RuleRef, docker_stack: Stack) -> bool {
    !docker_accepts(trace, by, docker_stack).is_empty()
}

/// The rules of Docker's stack that accepted the packet on the hook where `by` dropped it.
fn docker_accepts(trace: &Trace, by: &RuleRef, docker_stack: Stack) -> Vec<EvidenceLine> {
    let hook = drop_hook(trace, by);
    trace
        .steps
        .iter()
        .filter(|s| s.stack == docker_stack && s.hook == hook)
        .filter_map(|s| match &s.verdict {
            Verdict::Accept { by: Some(r) } => Some(EvidenceLine::rule(r)),
            _ => None,
        })
        .collect()
}
