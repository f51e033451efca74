//! `evidence-missing`: a source the verdict needs could not be read.

use crate::analyze::context::Context;
use crate::analyze::needs::{self, Gap};
use crate::analyze::ports::{PortState, PortVerdict};
use crate::analyze::{Check, EvidenceLine, Finding, Fix, Severity, shell};
use crate::collect::evidence::{SourceState, files};
use crate::model::{Family, Hook};

pub const CHECK: Check = Check {
    name: "evidence-missing",
    severity: Severity::Unknown,
    summary: "a source the verdict needs could not be read (not root, tool missing, timeout), or a port's verdict could not be decided",
    docs: "\
What it finds
  A ruleset source (iptables-legacy-save, iptables-nft-save, nft, /proc/net/ip_tables_names) or
  Docker's API failed, was denied (not root), or timed out; a part of the firewall that Docker's
  traffic crosses was not shown (a partial capture, a paste of one command, a legacy stack that
  is loaded but was not dumped, an `iptables -S` listing of one table); Docker's published ports
  cannot be listed (no API, and the nat tables unseen); or a published port's path crosses a
  rule fwdoctor cannot evaluate (an ipset, a mark, an unknown extension), so its verdict is
  unknown. The finding names the source and its error, what was not shown and the command that
  shows it, or the rule. What each verdict needs is listed in the README, under \"Which evidence a
  verdict needs\".

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
        (!matches!(st.status, SourceState::Ok | SourceState::Missing)
            && !replaced_by_nft(ctx, name))
        .then_some((name, st))
    })
}

/// True when the tables of the failed save `source` were read by nft instead (the per-table
/// form's fallback): they are judged from that, and the model's notes say what it loses.
fn replaced_by_nft(ctx: &Context, source: &str) -> bool {
    let fallback = format!("{} {source},", crate::collect::live::NFT_FALLBACK);
    ctx.model.sources.iter().any(|(name, st)| {
        st.status == SourceState::Ok
            && st.reason.contains(&fallback)
            && ctx.model.has(&format!("{name}.json"))
    })
}

fn run(ctx: &Context) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut evidence = Vec::new();
    for (name, st) in unread(ctx) {
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
        files::NFT_RULESET_TEXT,
        files::IP6TABLES_LEGACY,
        files::IP6TABLES_NFT,
        files::NFT_RULESET_TEXT,
        files::IPTABLES_LEGACY_LIST,
        files::IPTABLES_NFT_LIST,
        files::IP6TABLES_LEGACY_LIST,
        files::IP6TABLES_NFT_LIST,
    ]
    .iter()
    .any(|f| ctx.model.has(f));
    if !any_ruleset {
        evidence.push(EvidenceLine::fact(
            "rulesets",
            "no ruleset was read (iptables-legacy-save, iptables-nft-save, nft)",
        ));
    }
    let sudo_check = || vec!["sudo fwdoctor check".to_string()];
    if !evidence.is_empty() {
        out.push(Finding {
            check: CHECK.name,
            severity: Severity::Unknown,
            summary: unread_summary(ctx, any_ruleset),
            why: "fwdoctor does not guess: with part of the firewall unread, it cannot say whether published ports work.".into(),
            evidence,
            fix: Fix {
                immediate: fix_for_cause(ctx),
                lasting: Vec::new(),
                note: String::new(),
            },
        });
    }
    if let Some(f) = docker_api_unread(ctx) {
        out.push(f);
    }
    let live = ctx.model.origin == "live host";
    let root = unread(ctx).any(|(_, st)| st.status == SourceState::Denied);
    let gaps = needed_gaps(ctx);
    if any_ruleset && !gaps.is_empty() {
        let depends: Vec<String> = ctx
            .ports
            .iter()
            .filter(|p| p.verdict == PortState::Unknown && port_gaps(p).next().is_some())
            .map(|p| p.port.label())
            .collect();
        let mut summary = format!(
            "not all of the firewall was read: {}",
            gaps.iter()
                .map(|g| g.what.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        );
        if !depends.is_empty() {
            summary.push_str(&format!(
                "; the verdict of {} depends on it",
                depends.join(", ")
            ));
        } else if ctx.ports.is_empty() {
            summary.push_str("; whether a stack drops Docker's traffic depends on it");
        }
        out.push(Finding {
            check: CHECK.name,
            severity: Severity::Unknown,
            summary,
            why: "The kernel runs every base chain on a hook, from every stack: a table that was not read could drop what every table that was read accepts. fwdoctor gives no clean verdict from rules it did not see.".into(),
            evidence: gaps
                .iter()
                .map(|g| EvidenceLine::fact(&g.what, format!("{} (shown by `{}`)", g.why, g.read_with)))
                .collect(),
            fix: Fix {
                immediate: if live && root {
                    sudo_check()
                } else if live {
                    let mut steps = needs::commands(&gaps);
                    steps.push("sudo fwdoctor check".into());
                    steps
                } else {
                    needs::commands(&gaps)
                },
                lasting: Vec::new(),
                note: if live {
                    String::new()
                } else {
                    "Run these on the host and add their output to the capture or paste (or capture everything at once: `sudo fwdoctor capture -o DIR`).".into()
                },
            },
        });
    }
    if any_ruleset && ports_unlisted(ctx) {
        out.push(Finding {
            check: CHECK.name,
            severity: Severity::Unknown,
            summary: "published ports unknown: Docker's API was not read, and Docker's DNAT rules may sit in what was not shown".into(),
            why: "Without Docker's API, fwdoctor lists published ports from Docker's DNAT rules in the nat table; that table was not part of the evidence.".into(),
            evidence: vec![EvidenceLine::fact("docker", "no /containers/json, and a nat table was not read")],
            fix: Fix {
                immediate: if live { sudo_check() } else { vec!["sudo iptables-save".into(), "docker ps".into()] },
                lasting: Vec::new(),
                note: String::new(),
            },
        });
    }
    for p in ctx.ports.iter().filter(|p| p.verdict == PortState::Unknown) {
        if port_gaps(p).next().is_some() {
            continue;
        }
        out.push(Finding {
            check: CHECK.name,
            severity: Severity::Unknown,
            summary: format!("port {}: verdict unknown: {}", p.port.label(), p.reason),
            why: "A rule on the path uses a match or target fwdoctor does not model, and the outcome depends on it.".into(),
            evidence: vec![EvidenceLine::fact("trace", p.reason.clone())],
            fix: Fix {
                // `->` quoted: bare, the shell reads `>` as a redirection.
                immediate: vec![trace_command(ctx, p)],
                lasting: Vec::new(),
                note: String::new(),
            },
        });
    }
    out
}

/// The `fwdoctor trace` that shows a port's path, on the same evidence (`--from` a capture).
fn trace_command(ctx: &Context, p: &PortVerdict) -> String {
    let dst = format!("host:{}", p.port.host_port);
    let mut words = vec![
        "fwdoctor",
        "trace",
        p.port.proto.as_str(),
        "any",
        "->",
        &dst,
    ];
    if ctx.model.origin != "live host" {
        words.extend(["--from", ctx.model.origin.as_str()]);
    }
    shell::join(&words)
}

/// What a port's traces (to the container and back) lacked.
fn port_gaps(p: &PortVerdict) -> impl Iterator<Item = &Gap> {
    p.trace
        .iter()
        .chain(p.reply.iter())
        .flat_map(|t| t.missing.iter())
}

/// The evidence Docker's traffic needs and the capture lacks: what each published port's
/// trace lacked, and what a container's forwarded traffic crosses (for each family Docker's
/// bridges use), each gap once.
fn needed_gaps(ctx: &Context) -> Vec<Gap> {
    let mut gaps: Vec<Gap> = Vec::new();
    let mut add = |g: &Gap| {
        if !gaps.contains(g) {
            gaps.push(g.clone());
        }
    };
    for p in &ctx.ports {
        port_gaps(p).for_each(&mut add);
    }
    let m = ctx.model;
    let docker_here = !m.bridges.is_empty() || !m.docker_rules.is_empty() || m.docker.is_some();
    if docker_here {
        let v6 = m
            .bridges
            .iter()
            .any(|b| b.subnets.iter().any(|n| n.addr().is_ipv6()));
        let forward = [Hook::Prerouting, Hook::Forward, Hook::Postrouting];
        for family in [Family::Ip, Family::Ip6] {
            if family == Family::Ip6 && !v6 {
                continue;
            }
            needs::missing(m, family, &forward, true)
                .iter()
                .for_each(&mut add);
        }
    }
    gaps
}

/// Docker's API is what lists published ports; without it they come from the DNAT rules of
/// Docker's stack. When that stack's nat table (or, with no Docker rules found, any table on
/// PREROUTING) was not read, Docker's DNAT rules may be in it.
fn ports_unlisted(ctx: &Context) -> bool {
    let m = ctx.model;
    let docker_stack = ctx.docker_stack();
    m.docker.is_none()
        && ctx.ports.is_empty()
        && m.unseen.rules.iter().any(|p| {
            docker_stack.is_none_or(|s| s == p.stack) && p.touches(Family::Ip, &[Hook::Prerouting])
        })
}

/// Docker's socket was there but could not be read, or `DOCKER_HOST` names a daemon fwdoctor
/// cannot read: the containers and their ports are not known. (A failed, denied or timed-out
/// read is already in the sources finding.)
fn docker_api_unread(ctx: &Context) -> Option<Finding> {
    let st = ctx
        .model
        .sources
        .get(files::source_name(files::DOCKER_CONTAINERS))?;
    if st.status != SourceState::Missing || !st.reason.contains("DOCKER_HOST") {
        return None;
    }
    Some(Finding {
        check: CHECK.name,
        severity: Severity::Unknown,
        summary: format!("Docker's API was not read: {}", st.reason),
        why: "Without Docker's API, fwdoctor does not know which containers publish ports, and cannot say they work.".into(),
        evidence: vec![EvidenceLine::fact("docker", st.reason.clone())],
        fix: Fix {
            immediate: vec!["sudo env -u DOCKER_HOST fwdoctor check   # read the local daemon's socket".into()],
            lasting: Vec::new(),
            note: String::new(),
        },
    })
}

/// What to do about the sources that could not be read, by cause: Docker's API that did not
/// answer is started, a denied read is run again as root, a timeout again with a longer
/// `--timeout`, a tool that failed is run by hand to see its error.
fn fix_for_cause(ctx: &Context) -> Vec<String> {
    let mut steps = Vec::new();
    let unread: Vec<_> = unread(ctx).collect();
    let docker_down = unread
        .iter()
        .any(|(name, st)| name.starts_with("docker-") && st.status != SourceState::Denied);
    if docker_down {
        let start = if ctx.model.docker_is_snap() {
            "sudo snap start docker"
        } else {
            "sudo systemctl start docker"
        };
        steps.push(format!("{start}   # Docker's API did not answer"));
    }
    for (name, st) in &unread {
        if st.status == SourceState::Failed && !name.starts_with("docker-") {
            let detail = [st.reason.as_str(), st.stderr.trim()]
                .into_iter()
                .find(|s| !s.is_empty())
                .unwrap_or("no message");
            steps.push(format!(
                "Run `{}` as root to see why {name} failed ({detail}).",
                st.command
            ));
        }
    }
    let timed_out = unread
        .iter()
        .any(|(_, st)| st.status == SourceState::Timeout);
    // Whatever the cause, the last step reads everything again, as root.
    steps.push(if timed_out {
        "sudo fwdoctor check --timeout 120   # a source printed nothing for too long".into()
    } else {
        "sudo fwdoctor check".into()
    });
    steps
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
            // A failure says its cause here, not only under -v.
            let named: Vec<String> = names
                .iter()
                .map(|n| match ctx.model.sources.get(*n) {
                    Some(st) if *state == SourceState::Failed && !st.reason.is_empty() => {
                        format!("{n} ({})", st.reason)
                    }
                    _ => n.to_string(),
                })
                .collect();
            format!("{why}: {}", named.join(", "))
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
