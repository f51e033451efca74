//! `docker-user-blocks`: a rule in DOCKER-USER (or the user's own nft table) blocks a port on
//! purpose.

use crate::analyze::context::Context;
use crate::analyze::ports::{BlockedBy, Blocker, PortState, PortVerdict};
use crate::analyze::trace::{RuleRef, Verdict};
use crate::analyze::{Check, EvidenceLine, Finding, Fix, Severity};
use crate::model::Stack;

pub const CHECK: Check = Check {
    name: "docker-user-blocks",
    severity: Severity::Info,
    summary: "a rule in DOCKER-USER (or your own nft table) blocks a published port on purpose",
    docs: "\
What it finds
  A published port dropped by a rule (not a policy) in the DOCKER-USER chain of the stack Docker
  writes to, the place Docker's docs give for your own filtering, or by a rule in a native nft
  table of yours. A DOCKER-USER rule in a stack Docker does not use is a leftover: that is
  split-forward-drop.

Why it matters
  It is probably intended; it is shown so the port list makes sense and a forgotten rule is
  easy to spot.

How to fix
  Nothing, if intended. Otherwise delete the rule fwdoctor names (`iptables -D DOCKER-USER ...`).",
    run,
};

/// Is this blocker a deliberate rule rather than a policy or a stack split: a rule in the
/// DOCKER-USER chain of the stack Docker writes to (the place Docker's docs give for your own
/// filtering), or in a native nft table of the user's (not Docker 29's own, not firewalld's:
/// that is firewalld-blocks)? A DOCKER-USER
/// rule in a stack Docker does not use is a leftover, and a split.
pub fn rule_on_purpose(ctx: &Context, b: &BlockedBy) -> bool {
    let docker_user = b.chain == "DOCKER-USER" && ctx.docker_stack().is_none_or(|s| s == b.stack);
    !b.rule.starts_with("policy ")
        && !crate::analyze::fix::firewalld_owns(ctx.model, b)
        && (docker_user || (b.stack == Stack::Nft && b.table != "docker-bridges"))
}

/// [`rule_on_purpose`] for a trace's rule.
pub fn on_purpose(ctx: &Context, r: &RuleRef) -> bool {
    rule_on_purpose(ctx, &BlockedBy::from(r))
}

/// Was this port dropped only by deliberate rules?
pub fn is_on_purpose(ctx: &Context, p: &PortVerdict) -> bool {
    let blockers = &p.paths.outside.blocked_by;
    p.verdict == PortState::Blocked
        && !blockers.is_empty()
        && blockers
            .iter()
            .all(|b| matches!(b, Blocker::Rule(r) if rule_on_purpose(ctx, r)))
}

fn run(ctx: &Context) -> Vec<Finding> {
    let bridges = crate::analyze::fix::bridge_names(ctx);
    let mut out = Vec::new();
    for p in &ctx.ports {
        let mut seen: Vec<&RuleRef> = Vec::new();
        let traces = [p.trace.as_ref(), p.reply.as_ref()];
        for b in traces.into_iter().flatten().flat_map(|t| &t.blockers) {
            let Verdict::Drop { by } = b else { continue };
            if !on_purpose(ctx, by) || seen.contains(&by) {
                continue;
            }
            seen.push(by);
            out.push(Finding {
                check: CHECK.name,
                severity: Severity::Info,
                summary: format!(
                    "port {} is blocked on purpose by a rule in {} {} {}",
                    p.port.label(),
                    by.stack,
                    by.table,
                    by.chain
                ),
                why: if is_on_purpose(ctx, p) {
                    "A rule you (or your tooling) added drops this port; the rest of the path is open."
                } else {
                    "A rule you (or your tooling) added drops this port; other findings name what else blocks it."
                }
                .into(),
                evidence: vec![EvidenceLine::rule(by)],
                fix: Fix {
                    immediate: crate::analyze::fix::undo(by, &bridges),
                    lasting: Vec::new(),
                    note: "Only if the rule is not intended: it is yours, not Docker's.".into(),
                },
            });
        }
    }
    out
}
