//! `snap-docker`: Docker runs from the snap, whose refreshes can switch its stack.

use crate::analyze::context::Context;
use crate::analyze::{Check, EvidenceLine, Finding, Fix, Severity};

pub const CHECK: Check = Check {
    name: "snap-docker",
    severity: Severity::Warning,
    summary: "Docker runs from the snap, whose refreshes can switch its firewall stack; shows the last refresh",
    docs: "\
What it finds
  The Docker daemon is the snap (`snap services` lists docker.dockerd active, or Docker's root
  dir is under /var/snap/docker). Shows the snap's revision and its last refreshes from
  `snap changes`.

Why it matters
  The snap ships its own iptables and has changed stacks between revisions (legacy on core18,
  nf_tables from 20.10.23 on core22, a host-following wrapper from 29). An unattended refresh
  can leave the old revision's rules and FORWARD DROP in one stack while the new daemon writes
  the other: the original report behind fwdoctor.

How to fix
  Hold refreshes to a window you watch (`sudo snap refresh --hold=720h docker`, or
  `snap set system refresh.timer=...`), run `fwdoctor check` after each refresh (or install the
  cron alert: `install.sh --timer`), or move to Docker's apt packages.",
    run,
};

fn run(ctx: &Context) -> Vec<Finding> {
    if !ctx.model.docker_is_snap() {
        return Vec::new();
    }
    let snap = ctx.model.snap.clone().unwrap_or_default();
    let mut evidence = Vec::new();
    if let Some(s) = &snap.docker_service {
        evidence.push(EvidenceLine::fact(
            "snap services",
            format!(
                "{} {} {}",
                s.name,
                if s.enabled { "enabled" } else { "disabled" },
                if s.active { "active" } else { "inactive" }
            ),
        ));
    }
    if let Some(l) = &snap.docker_snap {
        evidence.push(EvidenceLine::fact(
            "snap list",
            format!("docker {} rev {} tracking {}", l.version, l.rev, l.tracking),
        ));
    }
    let last = snap.docker_changes.last();
    if let Some(c) = last {
        evidence.push(EvidenceLine::fact(
            "snap changes",
            format!("{} {} {} {}", c.id, c.status, c.ready, c.summary),
        ));
    }
    let summary = match last {
        Some(c) => format!(
            "Docker runs from the snap; last change: \"{}\" ({})",
            c.summary,
            if c.ready.is_empty() || c.ready == "-" {
                &c.spawn
            } else {
                &c.ready
            }
        ),
        None => {
            "Docker runs from the snap, whose refreshes can switch its firewall stack".to_string()
        }
    };
    vec![Finding {
        check: CHECK.name,
        severity: Severity::Warning,
        summary,
        why: "An unattended snap refresh can switch Docker's stack and leave the old one's DROP policy behind.".into(),
        evidence,
        fix: Fix {
            immediate: Vec::new(),
            lasting: vec![
                "sudo snap refresh --hold=720h docker   # refresh when you can watch it".into(),
                "Have fwdoctor watch for a switch: from fwdoctor's source tree, `sudo ./install.sh --timer` (or run `fwdoctor check --cron` from cron after refreshes).".into(),
            ],
            note: String::new(),
        },
    }]
}
