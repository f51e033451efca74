//! `legacy-tables-empty`: legacy tables are loaded but hold nothing.

use crate::analyze::checks::mixed_backends::has_state;
use crate::analyze::context::Context;
use crate::analyze::{Check, EvidenceLine, Finding, Fix, Severity};
use crate::model::Stack;

pub const CHECK: Check = Check {
    name: "legacy-tables-empty",
    severity: Severity::Info,
    summary: "legacy tables are loaded but hold nothing: the \"iptables-legacy tables present\" warning is harmless here",
    docs: "\
What it finds
  The kernel has legacy xtables tables registered (/proc/net/ip_tables_names is not empty), so
  `iptables-nft` prints \"# Warning: iptables-legacy tables present\", but those tables hold no
  rules, no user chains and only ACCEPT policies.

Why it matters
  It doesn't, for packets: empty ACCEPT tables drop nothing. It is shown so you can stop
  worrying about the warning. Running any `iptables-legacy` command loads these tables.

How to fix
  Nothing needed. A reboot without anything calling iptables-legacy makes the warning go away.",
    run,
};

fn run(ctx: &Context) -> Vec<Finding> {
    let legacy: Vec<_> = ctx.model.tables_of(Stack::Legacy).collect();
    if legacy.is_empty() || legacy.iter().any(|t| has_state(t)) {
        return Vec::new();
    }
    // A pasted legacy dump that was cut or filtered may hold rules nobody pasted.
    let cut = ctx.model.unseen.rules.iter().any(|p| {
        p.stack == Stack::Legacy
            && p.tables.is_none()
            && p.why.contains(crate::collect::paste::INCOMPLETE)
    });
    if cut {
        return Vec::new();
    }
    let names: Vec<String> = legacy
        .iter()
        .map(|t| format!("{} {}", t.family, t.name))
        .collect();
    vec![Finding {
        check: CHECK.name,
        severity: Severity::Info,
        summary: format!(
            "legacy tables are loaded ({}) but empty: the iptables-nft warning about them is harmless",
            names.join(", ")
        ),
        why: "Empty legacy tables with ACCEPT policies drop nothing.".into(),
        evidence: vec![EvidenceLine::fact(
            "legacy",
            "no rules, no user chains, all policies ACCEPT",
        )],
        fix: Fix::default(),
    }]
}
