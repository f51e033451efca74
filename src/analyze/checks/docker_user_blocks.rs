//! `docker-user-blocks`: a rule in DOCKER-USER (or the user's own nft table) blocks a port on
//! purpose.

use crate::analyze::context::Context;
use crate::analyze::ports::{PortState, PortVerdict};
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

/// Was this port dropped by a deliberate rule rather than a policy or a stack split?
pub fn is_on_purpose(p: &PortVerdict) -> bool {
    p.verdict == PortState::Blocked
        && p.blocked_by.as_ref().is_some_and(|b| {
            !b.rule.starts_with("policy ")
                && (b.chain == "DOCKER-USER"
                    || (b.stack == Stack::Nft && b.table != "docker-bridges"))
        })
}

fn run(ctx: &Context) -> Vec<Finding> {
    ctx.ports
        .iter()
        .filter(|p| is_on_purpose(p))
        .filter_map(|p| {
            let b = p.blocked_by.as_ref()?;
            Some(Finding {
                check: CHECK.name,
                severity: Severity::Info,
                summary: format!(
                    "port {} is blocked on purpose by a rule in {} {} {}",
                    p.port.label(),
                    b.stack, b.table, b.chain
                ),
                why: "A rule you (or your tooling) added drops this port; the rest of the path is open.".into(),
                evidence: vec![EvidenceLine {
                    location: format!("{} {} {} {}", b.stack, b.family, b.table, b.chain),
                    text: b.rule.clone(),
                    source: b.source.clone(),
                }],
                fix: Fix::default(),
            })
        })
        .collect()
}
