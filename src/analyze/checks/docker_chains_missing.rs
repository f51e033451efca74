//! `docker-chains-missing`: Docker runs with iptables on, but its chains are absent or not
//! jumped to.

use crate::analyze::context::Context;
use crate::analyze::{Check, EvidenceLine, Finding, Fix, Severity, fix};

pub const CHECK: Check = Check {
    name: "docker-chains-missing",
    severity: Severity::Critical,
    summary: "Docker runs with iptables enabled but its chains are absent or not jumped to from FORWARD",
    docs: "\
What it finds
  The Docker daemon answers and has its iptables integration on, but none of the stacks holds
  Docker's chains for its layout (DOCKER, DOCKER-USER, DOCKER-FORWARD..., or Docker 29's
  `table ip docker-bridges`), or filter FORWARD no longer jumps to them.

Why it matters
  Something flushed the firewall after Docker started (a firewall reload, `iptables -F`, a
  restore of saved rules). Published ports then depend on docker-proxy, container egress may
  break, and Docker's isolation between networks is gone.

How to fix
  Restart Docker so it re-creates its rules (`sudo systemctl restart docker`, or
  `sudo snap restart docker` for the snap), and find what flushed them: a firewall service that
  reloads after Docker starts should be ordered before it.",
    run,
};

fn run(ctx: &Context) -> Vec<Finding> {
    let Some(docker) = &ctx.model.docker else {
        return Vec::new();
    };
    if !ctx.docker_iptables_enabled() || docker.rootless {
        return Vec::new();
    }
    // What was not shown (a grep-filtered or cut-off paste, a listing of one table) may hold
    // the chains or the jump: evidence-missing says so, this check does not guess.
    let unseen = |stack: Option<crate::model::Stack>, table: &str| {
        ctx.model.unseen.rules.iter().any(|p| {
            p.stack != crate::model::Stack::Nft
                && stack.is_none_or(|s| s == p.stack)
                && p.tables
                    .as_ref()
                    .is_none_or(|t| t.iter().any(|t| t == table))
        })
    };
    match &ctx.docker {
        None if unseen(None, "filter") => return Vec::new(),
        Some(rules) if !rules.forward_hooked && unseen(Some(rules.stack), "filter") => {
            return Vec::new();
        }
        Some(rules) if rules.dnat_rules == 0 && unseen(Some(rules.stack), "nat") => {
            return Vec::new();
        }
        _ => {}
    }
    let restart = fix::restart_docker(ctx);
    let finding = |summary: String, evidence: Vec<EvidenceLine>| {
        Finding {
        check: CHECK.name,
        severity: Severity::Critical,
        summary,
        why: "Without its rules Docker's published ports, container egress and network isolation no longer work as Docker intends.".into(),
        evidence,
        fix: Fix {
            immediate: vec![restart.to_string()],
            lasting: vec!["Find what flushes the firewall after Docker starts (a firewall service reload, a restore of saved rules) and order it before docker.service.".into()],
            note: String::new(),
        },
    }
    };
    match &ctx.docker {
        None => vec![finding(
            "Docker is running with iptables enabled, but no stack holds Docker's chains".into(),
            vec![EvidenceLine::fact(
                "docker",
                format!(
                    "Docker {} answers on its socket",
                    docker.version.as_deref().unwrap_or("(version unknown)")
                ),
            )],
        )],
        Some(rules) if !rules.forward_hooked => vec![finding(
            format!(
                "Docker's chains exist in {} but filter FORWARD does not jump to them",
                rules.stack
            ),
            vec![EvidenceLine::fact(
                &format!("{} {} filter FORWARD", rules.stack, rules.family),
                "no -j DOCKER-USER / DOCKER-FORWARD / DOCKER",
            )],
        )],
        Some(rules)
            if rules.dnat_rules == 0
                && docker.containers.iter().any(|c| !c.ports.is_empty())
                && rules.layout != crate::model::DockerLayout::Docker29Nftables =>
        {
            vec![finding(
                format!(
                    "containers publish ports but Docker's nat DOCKER chain in {} has no DNAT rule",
                    rules.stack
                ),
                vec![EvidenceLine::fact(
                    &format!("{} {} nat DOCKER", rules.stack, rules.family),
                    "no DNAT rules",
                )],
            )]
        }
        Some(_) => Vec::new(),
    }
}
