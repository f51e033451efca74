//! `docker-user-blocks`: a rule in DOCKER-USER (or the user's own nft table) blocks a port on
//! purpose.

use crate::analyze::context::Context;
use crate::analyze::ports::{BlockedBy, Blocker, PortState, PortVerdict};
use crate::analyze::trace::RuleRef;
use crate::analyze::{Check, EvidenceLine, Finding, Fix, Severity};
use crate::model::Stack;

pub const CHECK: Check = Check {
    name: "docker-user-blocks",
    severity: Severity::Info,
    summary: "a rule in DOCKER-USER (or your own nft table) blocks a published port on purpose",
    docs: "\
What it finds
  A published port dropped by a rule (not a policy) in the DOCKER-USER chain, the place Docker's
  docs give for your own filtering, or by a rule in a native nft table of yours.

Why it matters
  It is probably intended; it is shown so the port list makes sense and a forgotten rule is
  easy to spot.

How to fix
  Nothing, if intended. Otherwise delete the rule fwdoctor names (`iptables -D DOCKER-USER ...`).",
    run,
};

/// Is this blocker a deliberate rule rather than a policy or a stack split: a rule in
/// DOCKER-USER, or in a native nft table of the user's (not Docker 29's own)?
pub fn rule_on_purpose(b: &BlockedBy) -> bool {
    !b.rule.starts_with("policy ")
        && (b.chain == "DOCKER-USER" || (b.stack == Stack::Nft && b.table != "docker-bridges"))
}

/// [`rule_on_purpose`] for a trace's rule.
pub fn on_purpose(r: &RuleRef) -> bool {
    rule_on_purpose(&BlockedBy::from(r))
}

/// Was this port dropped only by deliberate rules?
pub fn is_on_purpose(p: &PortVerdict) -> bool {
    let blockers = &p.paths.outside.blocked_by;
    p.verdict == PortState::Blocked
        && !blockers.is_empty()
        && blockers
            .iter()
            .all(|b| matches!(b, Blocker::Rule(r) if rule_on_purpose(r)))
}

fn run(ctx: &Context) -> Vec<Finding> {
    let mut out = Vec::new();
    for p in &ctx.ports {
        for b in &p.paths.outside.blocked_by {
            let Blocker::Rule(b) = b else { continue };
            if !rule_on_purpose(b) {
                continue;
            }
            out.push(Finding {
                check: CHECK.name,
                severity: Severity::Info,
                summary: format!(
                    "port {} is blocked on purpose by a rule in {} {} {}",
                    p.port.label(),
                    b.stack,
                    b.table,
                    b.chain
                ),
                why: if is_on_purpose(p) {
                    "A rule you (or your tooling) added drops this port; the rest of the path is open."
                } else {
                    "A rule you (or your tooling) added drops this port; other findings name what else blocks it."
                }
                .into(),
                evidence: vec![EvidenceLine {
                    location: format!("{} {} {} {}", b.stack, b.family, b.table, b.chain),
                    text: b.rule.clone(),
                    source: b.source.clone(),
                }],
                fix: Fix::default(),
            });
        }
    }
    out
}
