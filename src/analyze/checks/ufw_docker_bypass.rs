//! `ufw-docker-bypass`: ufw is active, but Docker's published ports bypass it.

use crate::analyze::context::Context;
use crate::analyze::ports::PortState;
use crate::analyze::trace::Flow;
use crate::analyze::{Check, EvidenceLine, Finding, Fix, Severity};

pub const CHECK: Check = Check {
    name: "ufw-docker-bypass",
    severity: Severity::Warning,
    summary: "ufw is active, but ports Docker publishes on all addresses bypass it",
    docs: "\
What it finds
  ufw is active with a restrictive incoming policy, and Docker publishes ports on all addresses
  (0.0.0.0 / ::) that clients outside can reach without any of ufw's rules seeing the traffic.
  The path is followed: a port that reaches a ufw chain on its way (ufw-docker's
  `-A DOCKER-USER -j ufw-user-forward`, then a `ufw route allow` rule) is allowed by ufw's own
  rules and is not reported.

Why it matters
  Docker DNATs published ports in nat PREROUTING and accepts them in FORWARD; ufw's rules sit
  on INPUT. So `ufw status` says a port is denied while the internet reaches the container.

How to fix
  Publish on 127.0.0.1 (`-p 127.0.0.1:8080:80`) behind a reverse proxy, or filter in the
  DOCKER-USER chain (`iptables -I DOCKER-USER -i eth0 -p tcp --dport 80 -j DROP` with
  `-m conntrack --ctorigdstport` for the host port), or use ufw-docker's `ufw route` rules.",
    run,
};

fn run(ctx: &Context) -> Vec<Finding> {
    let Some(ufw) = &ctx.model.ufw else {
        return Vec::new();
    };
    if !ufw.active || ufw.default_incoming.as_deref() == Some("allow") {
        return Vec::new();
    }
    let open_ports: Vec<&crate::analyze::ports::PortVerdict> = ctx
        .ports
        .iter()
        .filter(|p| p.verdict == PortState::Reachable)
        // Docker's ports: Podman's take their own path (its CNI-FORWARD sits in FORWARD too).
        .filter(|p| p.port.owner == crate::model::Runtime::Docker)
        .filter(|p| !ufw_sees(ctx, &p.port))
        .filter(|p| {
            p.port
                .host_ip
                .parse::<std::net::IpAddr>()
                .is_ok_and(|a| a.is_unspecified())
        })
        .collect();
    let open: Vec<String> = open_ports.iter().map(|p| p.port.label()).collect();
    if open.is_empty() {
        return Vec::new();
    }
    vec![Finding {
        check: CHECK.name,
        severity: Severity::Warning,
        summary: format!(
            "ufw is active (incoming: {}), but Docker's published ports {} are reachable from outside, bypassing ufw",
            ufw.default_incoming.as_deref().unwrap_or("deny"),
            open.join(", ")
        ),
        why: "Docker's DNAT and FORWARD rules run before ufw's INPUT rules ever see the traffic."
            .into(),
        evidence: vec![EvidenceLine::fact("ufw status", "Status: active")],
        fix: Fix {
            immediate: Vec::new(),
            lasting: std::iter::once(format!(
                "Publish {} on 127.0.0.1 only (`-p 127.0.0.1:HOSTPORT:CONTAINERPORT`) behind a reverse proxy, or filter in DOCKER-USER: set TRUSTED_NET to the network that may connect (e.g. `TRUSTED_NET=192.0.2.0/24`), then run the lines below.",
                open.join(", ")
            ))
            .chain(open_ports.iter().map(|p| {
                // Docker's own stack: plain `iptables` may point at the other one.
                let iptables = crate::analyze::fix::iptables_cmd(
                    ctx.docker_stack().unwrap_or(crate::model::Stack::IptablesNft),
                    p.port.family,
                );
                format!(
                    "sudo {iptables} -I DOCKER-USER -p {} -m conntrack --ctorigdstport {} ! -s \"${{TRUSTED_NET:?set it to the network that may connect}}\" -j DROP",
                    crate::analyze::shell::quote(&p.port.proto),
                    p.port.host_port
                )
            }))
            .collect(),
            note: String::new(),
        },
    }]
}

/// The new connection to `port` from outside passes a ufw chain (`ufw-…`) on its way: ufw's
/// rules decide it, whatever they decide.
fn ufw_sees(ctx: &Context, port: &crate::analyze::ports::PublishedPort) -> bool {
    let flow = Flow::from_outside(port.family, &port.proto, port.host_port);
    ctx.net.trace(&flow).steps.iter().any(|s| {
        s.matched
            .iter()
            .any(|r| r.chain.starts_with("ufw-") || jumps_to_ufw(&r.rule))
    })
}

fn jumps_to_ufw(rule: &str) -> bool {
    let mut words = rule.split_whitespace();
    while let Some(w) = words.next() {
        if (w == "-j" || w == "-g" || w == "jump" || w == "goto")
            && words.next().is_some_and(|t| t.starts_with("ufw-"))
        {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::jumps_to_ufw;

    #[test]
    fn jumps_into_ufw_chains_are_recognised() {
        assert!(jumps_to_ufw("-A DOCKER-USER -j ufw-user-forward"));
        assert!(jumps_to_ufw("jump ufw-user-forward"));
        assert!(!jumps_to_ufw("-A DOCKER-USER -j RETURN"));
        assert!(!jumps_to_ufw("-A FORWARD -j DOCKER-USER"));
    }
}
