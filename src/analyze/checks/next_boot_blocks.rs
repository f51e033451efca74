//! `next-boot-blocks`: the ruleset on disk would block published ports after the next boot.

use crate::analyze::context::Context;
use crate::analyze::ports::{self, PortState};
use crate::analyze::trace::{Net, Verdict};
use crate::analyze::{Check, EvidenceLine, Finding, Fix, Severity};
use crate::model::{Model, NextBoot};

pub const CHECK: Check = Check {
    name: "next-boot-blocks",
    severity: Severity::Critical,
    summary: "the ruleset on disk (/etc/nftables.conf, /etc/iptables/rules.v4|v6) would block published ports after the next boot; names the file and line",
    docs: "\
What it finds
  A published port that is reachable now but would be blocked once the host loads its firewall
  from disk: at the next boot, or on `systemctl restart nftables` (`nft -f /etc/nftables.conf`)
  or `netfilter-persistent reload` (`/etc/iptables/rules.v4`, `rules.v6`). fwdoctor takes the
  host as it is now, puts the file's tables in place of the live ones of that stack (native
  nft for nftables.conf; the system iptables' stack and family for rules.v4/v6), traces every
  published port again, and names the rule or policy, with file and line, that would drop it.
  When that rule is in a stack Docker does not write to, it is a split (see
  split-forward-drop) waiting for the reboot.

Why it matters
  Everything works today, so nobody looks; after a kernel update reboot every client times
  out. A `policy drop` forward chain in the stock /etc/nftables.conf is the classic case.

How to fix
  Edit the named file: accept Docker's traffic before the drop (`ct status dnat accept`,
  `oifname \"docker0\" accept`, `iifname \"docker0\" accept` in the forward chain), or remove the
  drop; then check the file with `sudo nft -c -f /etc/nftables.conf`. A file fwdoctor cannot
  read (an `include`, a syntax error) is named in the report's notes.",
    run,
};

fn run(ctx: &Context) -> Vec<Finding> {
    let mut out = Vec::new();
    for nb in &ctx.model.next_boot {
        let Ok(tables) = &nb.tables else { continue };
        let after = replaced(ctx.model, nb, tables);
        let net = Net::what_if(&after, &ctx.net);
        let later = ports::verdicts(&after, &net);
        for now in ctx
            .ports
            .iter()
            .filter(|p| p.verdict == PortState::Reachable && !p.port.is_host_only())
        {
            let Some(then) = later
                .iter()
                .find(|l| l.port == now.port && l.verdict == PortState::Blocked)
            else {
                continue;
            };
            let mut evidence = Vec::new();
            for b in [then.trace.as_ref(), then.reply.as_ref()]
                .into_iter()
                .flatten()
                .flat_map(|t| &t.blockers)
            {
                if let Verdict::Drop { by } = b {
                    let line = EvidenceLine::rule(by);
                    if !evidence.contains(&line) {
                        evidence.push(line);
                    }
                }
            }
            let split = ctx.docker_stack().is_some_and(|docker| docker != nb.stack);
            out.push(Finding {
                check: CHECK.name,
                severity: Severity::Critical,
                summary: format!(
                    "port {} on {} is reachable now but {} would block it after the next boot{}: {}",
                    now.port.label(),
                    now.port.host_ip,
                    nb.path,
                    if split {
                        " (a split: Docker's rules are in another stack)"
                    } else {
                        ""
                    },
                    then.reason
                ),
                why: format!(
                    "{} is loaded at boot (and by a restart of its service) in place of the \
                     live {} rules; nothing is wrong until then.",
                    nb.path, nb.stack
                ),
                evidence,
                fix: Fix {
                    immediate: Vec::new(),
                    lasting: vec![
                        format!(
                            "Edit {}: accept Docker's forwarded traffic before the drop it names",
                            nb.path
                        ),
                        format!("sudo nft -c -f {}", crate::analyze::shell::quote(&nb.path)),
                    ]
                    .into_iter()
                    .filter(|l| nb.family.is_none() || !l.starts_with("sudo nft"))
                    .collect(),
                    note: String::new(),
                },
            });
        }
    }
    out
}

/// The model with `tables` in place of the live tables of `nb`'s stack (and family).
fn replaced(model: &Model, nb: &NextBoot, tables: &[crate::model::Table]) -> Model {
    let mut m = model.clone();
    m.tables
        .retain(|t| !(t.stack == nb.stack && nb.family.is_none_or(|f| f == t.family)));
    m.tables.extend(tables.iter().cloned());
    m.next_boot.clear();
    m
}

#[cfg(test)]
mod tests {
    use crate::analyze::analyze;
    use crate::collect::capture;
    use crate::collect::evidence::files;
    use crate::model::Model;
    use std::path::Path;

    fn healthy_with(conf: &str) -> crate::analyze::Analysis {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/lab/healthy");
        let mut ev = capture::read(&dir).expect("lab capture");
        ev.insert(files::NFTABLES_CONF, conf);
        let model = Model::build(&ev).expect("builds");
        analyze(&model, &["next-boot-blocks".to_string()], &[])
    }

    #[test]
    fn a_forward_drop_on_disk_is_reported_with_file_and_line() {
        let a = healthy_with(
            "#!/usr/sbin/nft -f\nflush ruleset\n\ntable inet filter {\n\tchain forward {\n\
             \t\ttype filter hook forward priority filter; policy drop;\n\t}\n}\n",
        );
        assert!(!a.findings.is_empty(), "{a:?}");
        let f = &a.findings[0];
        assert_eq!(f.check, "next-boot-blocks");
        assert!(f.summary.contains("/etc/nftables.conf"), "{}", f.summary);
        assert_eq!(
            f.evidence[0].source.as_deref(),
            Some("/etc/nftables.conf:5"),
            "{:?}",
            f.evidence
        );
    }

    #[test]
    fn a_file_that_accepts_docker_is_quiet() {
        let a = healthy_with(
            "flush ruleset\ntable inet filter {\n\tchain forward {\n\
             \t\ttype filter hook forward priority filter; policy drop;\n\
             \t\tct state established,related accept\n\t\toifname \"docker0\" accept\n\
             \t\tiifname \"docker0\" accept\n\t}\n}\n",
        );
        assert!(a.findings.is_empty(), "{:?}", a.findings);
    }

    #[test]
    fn includes_are_read_from_the_capture_and_named_by_their_own_line() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/lab/healthy");
        let mut ev = capture::read(&dir).expect("lab capture");
        ev.insert(
            files::NFTABLES_CONF,
            "flush ruleset\ninclude \"/etc/nftables.d/*.nft\"\n",
        );
        ev.insert(
            files::NFTABLES_CONF_INCLUDES,
            r#"{"/etc/nftables.d/10-filter.nft": "table inet filter {\n chain forward {\n  type filter hook forward priority 0; policy drop;\n }\n}\n"}"#,
        );
        let model = Model::build(&ev).expect("builds");
        let tables = model.next_boot[0].tables.as_ref().expect("include read");
        assert_eq!(tables[0].chains[0].line, 2);
        let a = analyze(&model, &["next-boot-blocks".to_string()], &[]);
        assert!(!a.findings.is_empty());
    }

    #[test]
    fn an_unreadable_file_gives_no_verdict_but_a_note() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/lab/healthy");
        let mut ev = capture::read(&dir).expect("lab capture");
        ev.insert(
            files::NFTABLES_CONF,
            "include \"/etc/nftables.d/main.nft\"\n",
        );
        let model = Model::build(&ev).expect("builds");
        assert!(model.next_boot[0].tables.is_err());
        assert!(
            model.notes.iter().any(|n| n.contains("/etc/nftables.conf")),
            "{:?}",
            model.notes
        );
        let a = analyze(&model, &["next-boot-blocks".to_string()], &[]);
        assert!(a.findings.is_empty());
    }
}
