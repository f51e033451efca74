//! `ip-forward-disabled`: IPv4 (or IPv6) forwarding is off while Docker bridges exist.

use crate::analyze::context::Context;
use crate::analyze::{Check, EvidenceLine, Finding, Fix, Severity};

pub const CHECK: Check = Check {
    name: "ip-forward-disabled",
    severity: Severity::Critical,
    summary: "net.ipv4.ip_forward = 0 (or the IPv6 twin) while Docker bridge networks exist",
    docs: "\
What it finds
  `net.ipv4.ip_forward` is 0 while Docker has bridge networks (or `net.ipv6.conf.all.forwarding`
  is 0 while a Docker network has IPv6 enabled).

Why it matters
  With forwarding off the kernel drops every packet between the outside and the containers,
  whatever the firewall says: published ports (via DNAT) and container egress stop working.
  Docker turns forwarding on when it starts; a later `sysctl -p`, a hardening script or a
  network manager can turn it off again. Docker 29's nftables backend never turns it on.

How to fix
  Now: `sudo sysctl -w net.ipv4.ip_forward=1`.
  For good: `echo net.ipv4.ip_forward=1 | sudo tee /etc/sysctl.d/99-docker-forward.conf`, and
  remove the setting that turns it off (grep -r ip_forward /etc/sysctl.conf /etc/sysctl.d).",
    run,
};

fn run(ctx: &Context) -> Vec<Finding> {
    let has_bridges = !ctx.model.bridges.is_empty();
    let mut out = Vec::new();
    if has_bridges && ctx.model.sysctl("net.ipv4.ip_forward") == Some("0") {
        out.push(finding(
            "net.ipv4.ip_forward",
            "net.ipv4.ip_forward = 0 while Docker bridge networks exist",
        ));
    }
    let v6_networks = ctx.model.docker.as_ref().is_some_and(|d| {
        d.networks
            .iter()
            .any(|n| n.enable_ipv6 && n.driver == "bridge")
    });
    if v6_networks && ctx.model.sysctl("net.ipv6.conf.all.forwarding") == Some("0") {
        out.push(finding(
            "net.ipv6.conf.all.forwarding",
            "net.ipv6.conf.all.forwarding = 0 while a Docker network has IPv6 enabled",
        ));
    }
    out
}

fn finding(key: &str, summary: &str) -> Finding {
    Finding {
        check: CHECK.name,
        severity: Severity::Critical,
        summary: summary.to_string(),
        why: "The kernel will not route between the outside and the containers, whatever the firewall accepts.".into(),
        evidence: vec![EvidenceLine::fact("sysctl", format!("{key} = 0"))],
        fix: Fix {
            immediate: vec![format!("sudo sysctl -w {key}=1")],
            lasting: vec![
                format!("echo {key}=1 | sudo tee /etc/sysctl.d/99-docker-forward.conf"),
                format!("grep -rn {key} /etc/sysctl.conf /etc/sysctl.d/   # remove what sets it to 0"),
            ],
            note: String::new(),
        },
    }
}
