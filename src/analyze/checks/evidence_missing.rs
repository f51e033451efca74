//! `evidence-missing`: a source the verdict needs could not be read.

use crate::analyze::context::Context;
use crate::analyze::ports::PortState;
use crate::analyze::{Check, EvidenceLine, Finding, Fix, Severity, shell};
use crate::collect::evidence::{SourceState, files};

pub const CHECK: Check = Check {
    name: "evidence-missing",
    severity: Severity::Unknown,
    summary: "a source the verdict needs could not be read (not root, tool missing, timeout), or a port's verdict could not be decided",
    docs: "\
What it finds
  A ruleset source (iptables-legacy-save, iptables-nft-save, nft, /proc/net/ip_tables_names) or
  Docker's API failed, was denied (not root), or timed out; or a published port's path crosses a
  rule fwdoctor cannot evaluate (an ipset, a mark, an unknown extension), so its verdict is
  unknown. The finding names the source and its error, or the rule.

Why it matters
  fwdoctor never guesses: with half the firewall unread, \"no problem found\" would be a lie. The
  status is `unknown` (exit 3) rather than a wrong `ok`.

How to fix
  Run as root (`sudo fwdoctor check`); install the missing tool (iptables, nftables); raise
  `--timeout` for huge rulesets; for an unknown rule, read it yourself with `fwdoctor trace`.",
    run,
};

/// Sources whose absence (by failure) leaves the verdict open.
const NEEDED: &[&str] = &[
    files::IPTABLES_LEGACY,
    files::IPTABLES_NFT,
    files::NFT_RULESET,
    files::LEGACY_TABLES,
    files::IP6TABLES_LEGACY,
    files::IP6TABLES_NFT,
    files::DOCKER_INFO,
    files::DOCKER_CONTAINERS,
    files::DOCKER_NETWORKS,
];

/// The needed sources that were tried and could not be read (failed, denied, timed out).
fn unread<'c>(
    ctx: &'c Context,
) -> impl Iterator<Item = (&'static str, &'c crate::collect::SourceStatus)> {
    NEEDED.iter().filter_map(|file| {
        let name = files::source_name(file);
        let st = ctx.model.sources.get(name)?;
        (!matches!(st.status, SourceState::Ok | SourceState::Missing)).then_some((name, st))
    })
}

fn run(ctx: &Context) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut evidence = Vec::new();
    let mut root = false;
    for (name, st) in unread(ctx) {
        root |= st.status == SourceState::Denied;
        let detail = [st.reason.as_str(), st.stderr.trim()]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(": ");
        evidence.push(EvidenceLine::fact(
            name,
            format!(
                "{}{}{}",
                st.status.as_str(),
                if detail.is_empty() { "" } else { ": " },
                detail
            ),
        ));
    }
    let any_ruleset = [
        files::IPTABLES_LEGACY,
        files::IPTABLES_NFT,
        files::NFT_RULESET,
        files::IP6TABLES_LEGACY,
        files::IP6TABLES_NFT,
    ]
    .iter()
    .any(|f| ctx.model.has(f));
    if !any_ruleset {
        evidence.push(EvidenceLine::fact(
            "rulesets",
            "no ruleset was read (iptables-legacy-save, iptables-nft-save, nft)",
        ));
    }
    if !evidence.is_empty() {
        out.push(Finding {
            check: CHECK.name,
            severity: Severity::Unknown,
            summary: unread_summary(ctx, any_ruleset),
            why: "fwdoctor does not guess: with part of the firewall unread, it cannot say whether published ports work.".into(),
            evidence,
            fix: Fix {
                immediate: if root { vec!["sudo fwdoctor check".into()] } else { vec!["apt-get install iptables nftables   # if a tool is missing".into()] },
                lasting: Vec::new(),
                note: String::new(),
            },
        });
    }
    for p in ctx.ports.iter().filter(|p| p.verdict == PortState::Unknown) {
        out.push(Finding {
            check: CHECK.name,
            severity: Severity::Unknown,
            summary: format!("port {}: verdict unknown: {}", p.port.label(), p.reason),
            why: "A rule on the path uses a match or target fwdoctor does not model, and the outcome depends on it.".into(),
            evidence: vec![EvidenceLine::fact("trace", p.reason.clone())],
            fix: Fix {
                // `->` quoted: bare, the shell reads `>` as a redirection.
                immediate: vec![shell::join(&["fwdoctor", "trace", p.port.proto.as_str(), "any", "->", &format!("host:{}", p.port.host_port)])],
                lasting: Vec::new(),
                note: String::new(),
            },
        });
    }
    out
}

/// "could not read 6 sources: permission denied (not root): iptables-legacy-save, ...; failed:
/// docker-info" plus, when no ruleset at all was read, that nothing was.
fn unread_summary(ctx: &Context, any_ruleset: bool) -> String {
    let mut by_state: Vec<(SourceState, Vec<&str>)> = Vec::new();
    for (name, st) in unread(ctx) {
        match by_state.iter_mut().find(|(s, _)| *s == st.status) {
            Some((_, v)) => v.push(name),
            None => by_state.push((st.status, vec![name])),
        }
    }
    let n: usize = by_state.iter().map(|(_, v)| v.len()).sum();
    let parts: Vec<String> = by_state
        .iter()
        .map(|(state, names)| {
            let why = match state {
                SourceState::Denied => "permission denied (not root)",
                SourceState::Timeout => "timed out (raise --timeout)",
                _ => "failed",
            };
            format!("{why}: {}", names.join(", "))
        })
        .collect();
    let mut s = if n == 0 {
        String::new()
    } else {
        format!(
            "could not read {n} source{}: {}",
            if n == 1 { "" } else { "s" },
            parts.join("; ")
        )
    };
    if !any_ruleset {
        if !s.is_empty() {
            s.push_str(". ");
        }
        s.push_str("No ruleset was read at all");
    }
    s
}
