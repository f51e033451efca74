//! `docker-backend-differs`: Docker writes to another stack than the system's `iptables`.

use crate::analyze::context::Context;
use crate::analyze::{Check, EvidenceLine, Finding, Fix, Severity, fix};
use crate::model::Stack;

pub const CHECK: Check = Check {
    name: "docker-backend-differs",
    severity: Severity::Warning,
    summary: "Docker writes to a different stack than the system's iptables (which ufw, firewalld and admins use)",
    docs: "\
What it finds
  Docker's rules live in one stack while the system's `iptables` command (the alternative that
  ufw, firewalld's iptables backend, scripts and admins use) writes to the other. Typical for the
  Docker snap, docker-in-docker, or an `iptables` alternative switched after Docker started.

Why it matters
  Rules you add with `iptables` (DOCKER-USER filters, ufw) land in a stack Docker never looks at,
  and `iptables -L` does not show Docker's rules. A DROP policy set by either side silently
  kills the other's traffic (see split-forward-drop).

How to fix
  Make them agree: point the alternative at the stack Docker uses
  (`sudo update-alternatives --set iptables /usr/sbin/iptables-nft`), or make Docker use the
  system's (the snap follows the host's alternative in recent revisions), then restart Docker.",
    run,
};

fn run(ctx: &Context) -> Vec<Finding> {
    let (Some(docker), Some(system)) = (ctx.docker_stack(), ctx.model.system_iptables) else {
        return Vec::new();
    };
    // Docker 29's native nft backend is on the nf_tables side, like iptables-nft.
    let differs = docker.is_nf_tables() != system.is_nf_tables();
    if !differs {
        return Vec::new();
    }
    let want = if docker == Stack::Legacy {
        "iptables-legacy"
    } else {
        "iptables-nft"
    };
    vec![Finding {
        check: CHECK.name,
        severity: Severity::Warning,
        summary: format!("Docker's rules are in {docker}, but the system's iptables writes to {system}"),
        why: "Rules added with `iptables` (ufw, DOCKER-USER filters, scripts) land in a stack Docker does not use.".into(),
        evidence: vec![
            EvidenceLine::fact("iptables alternative", format!("iptables -> {system}")),
            EvidenceLine::fact("docker", format!("Docker's chains found in {docker}")),
        ],
        fix: Fix {
            immediate: Vec::new(),
            lasting: vec![
                fix::use_alternatives(if want.ends_with("legacy") { Stack::Legacy } else { Stack::IptablesNft }),
                fix::restart_docker(ctx).to_string(),
            ],
            note: if ctx.model.docker_is_snap() {
                "Docker runs from the snap, which chooses its own stack.".into()
            } else {
                String::new()
            },
        },
    }]
}
