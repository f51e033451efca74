//! `mixed-backends`: legacy xtables and nf_tables both hold state in one family.

use crate::analyze::context::Context;
use crate::analyze::{Check, EvidenceLine, Finding, Fix, Severity, fix};
use crate::model::{Family, Policy, Stack, Table};

pub const CHECK: Check = Check {
    name: "mixed-backends",
    severity: Severity::Warning,
    summary: "legacy xtables and nf_tables both hold rules, user chains or non-ACCEPT policies in one family",
    docs: "\
What it finds
  For IPv4 or IPv6, both the legacy xtables tables and nf_tables (iptables-nft or native nft
  tables) hold state: rules, user-defined chains, or a base chain policy other than ACCEPT.
  Unlike rule-counting heuristics, it counts policies: a legacy table whose only content is
  `:FORWARD DROP` is state.

Why it matters
  The kernel runs both stacks on every hook. Tools that only look at one stack (`iptables -L`,
  ufw, Docker, your scripts) show half the truth, and a DROP in the other half is invisible to
  them. Debian's nftables FAQ: \"Should I mix nftables and iptables rulesets? NO.\"

How to fix
  Pick one stack (nowadays nf_tables), point the `iptables` alternative at it, move what you
  need from the other one and flush it (or reboot). fwdoctor's other findings say which rules
  matter.",
    run,
};

/// Does this table hold anything beyond empty built-in chains with ACCEPT policies?
pub fn has_state(t: &Table) -> bool {
    t.chains
        .iter()
        .any(|c| !c.rules.is_empty() || c.base.as_ref().is_none_or(|b| b.policy != Policy::Accept))
}

fn describe(t: &Table) -> String {
    let rules = t.rule_count();
    let user = t.chains.iter().filter(|c| c.base.is_none()).count();
    let drops: Vec<String> = t
        .chains
        .iter()
        .filter(|c| c.base.as_ref().is_some_and(|b| b.policy == Policy::Drop))
        .map(|c| format!("{} policy DROP", c.name))
        .collect();
    let mut parts = vec![format!("{rules} rules"), format!("{user} user chains")];
    parts.extend(drops);
    parts.join(", ")
}

fn run(ctx: &Context) -> Vec<Finding> {
    let mut out = Vec::new();
    for family in [Family::Ip, Family::Ip6] {
        let legacy: Vec<&Table> = ctx
            .model
            .tables
            .iter()
            .filter(|t| t.stack == Stack::Legacy && t.family == family && has_state(t))
            .collect();
        let nft: Vec<&Table> = ctx
            .model
            .tables
            .iter()
            .filter(|t| t.stack.is_nf_tables() && t.family.applies_to(family) && has_state(t))
            .collect();
        if legacy.is_empty() || nft.is_empty() {
            continue;
        }
        let evidence = legacy
            .iter()
            .chain(nft.iter())
            .map(|t| EvidenceLine::fact(&t.label(), describe(t)))
            .collect();
        let v = if family == Family::Ip6 {
            "ip6tables"
        } else {
            "iptables"
        };
        out.push(Finding {
            check: CHECK.name,
            severity: Severity::Warning,
            summary: format!(
                "both legacy xtables and nf_tables hold {} state: {} and {}",
                if family == Family::Ip6 { "IPv6" } else { "IPv4" },
                legacy.iter().map(|t| format!("legacy {}", t.name)).collect::<Vec<_>>().join(", "),
                nft.iter().map(|t| format!("{} {}", t.stack, t.name)).collect::<Vec<_>>().join(", ")
            ),
            why: "Both stacks run on every hook; tools that read one stack miss what the other drops.".into(),
            evidence,
            fix: Fix {
                immediate: vec![format!("sudo {v}-legacy-save   # review what the legacy stack still holds")],
                // Both families' alternatives in one line, so the plan holds it once.
                lasting: (ctx.model.system_iptables != Some(Stack::IptablesNft))
                    .then(|| fix::use_alternatives(Stack::IptablesNft))
                    .into_iter()
                    .chain(fix::flush_legacy(ctx, &[family]))
                    .collect(),
                note: String::new(),
            },
        });
    }
    out
}
