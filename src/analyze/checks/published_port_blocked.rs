//! `published-port-blocked`: a published port a client outside cannot reach.

use crate::analyze::checks::docker_user_blocks::{is_on_purpose, on_purpose};
use crate::analyze::checks::firewalld_blocks;
use crate::analyze::context::Context;
use crate::analyze::ports::{Blocker, PortState, PortVerdict};
use crate::analyze::trace::Verdict;
use crate::analyze::{Check, EvidenceLine, Finding, Fix, Severity, fix};
use crate::model::coverage::forwarding_sysctl;

pub const CHECK: Check = Check {
    name: "published-port-blocked",
    severity: Severity::Critical,
    summary: "a published port is blocked for clients outside the host; names the dropping rule",
    docs: "\
What it finds
  A port Docker publishes (`-p 8080:80`) that a new connection from outside the host cannot
  reach. fwdoctor walks the connection, and its reply, through every hook and every base chain
  of every stack (legacy, iptables-nft, native nft) and names the rule or policy that drops it.
  Ports published on 127.0.0.1 only, ports blocked on purpose in DOCKER-USER (see
  docker-user-blocks), ports blocked by firewalld's rules alone (see firewalld-blocks) and
  Podman's ports (see other-bridge-blocked) are not reported here.

Why it matters
  The container runs and `curl localhost:PORT` works on the host, so nothing looks wrong; but
  every client elsewhere times out.

How to fix
  Remove the named DROP or add an ACCEPT before it, in the stack and chain fwdoctor names. If it
  sits in a stack Docker does not use, see split-forward-drop for the lasting fix.",
    run,
};

fn run(ctx: &Context) -> Vec<Finding> {
    let bridges = fix::bridge_names(ctx);
    ctx.ports
        .iter()
        .filter(|p| p.verdict == PortState::Blocked)
        // Podman's (another runtime's) ports: other-bridge-blocked.
        .filter(|p| p.port.owner == crate::model::Runtime::Docker)
        .filter(|p| !is_on_purpose(ctx, p))
        // firewalld's own rules alone: firewalld-blocks.
        .filter(|p| !firewalld_blocks::only_firewalld(ctx, p))
        .filter(|p| !p.port.is_host_only())
        .map(|p| {
            let target = match (&p.port.container, p.port.container_port) {
                (Some(c), Some(cp)) => format!(" ({c}:{cp})"),
                (None, Some(cp)) => format!(" (container port {cp})"),
                _ => String::new(),
            };
            let mut evidence = Vec::new();
            let mut fix = Fix::default();
            let traces = [p.trace.as_ref(), p.reply.as_ref()];
            let mut seen: Vec<&Verdict> = Vec::new();
            for b in traces.into_iter().flatten().flat_map(|t| &t.blockers) {
                if seen.contains(&b) {
                    continue;
                }
                seen.push(b);
                match b {
                    Verdict::Drop { by } => {
                        evidence.push(EvidenceLine::rule(by));
                        if on_purpose(ctx, by) {
                            continue;
                        }
                        // ufw's routed traffic is seen after DNAT: the container's port.
                        let routed = p.path == "dnat";
                        let port = match p.port.container_port {
                            Some(cp) if routed => cp,
                            _ => p.port.host_port,
                        };
                        if fix::firewalld_rule(ctx.model, by) {
                            let (now, lasting) = firewalld_blocks::fix_for(ctx, p, by);
                            fix.immediate.extend(now);
                            fix.lasting.extend(lasting);
                            continue;
                        }
                        match fix::ufw_allow(ctx, by, &p.port.proto, port, routed) {
                            Some(allow) => fix.immediate.push(allow),
                            None => fix.immediate.extend(fix::undo(by, &bridges)),
                        }
                    }
                    Verdict::KernelDrop { reason } => {
                        evidence.push(EvidenceLine::fact("kernel", reason.clone()));
                        let key = forwarding_sysctl(p.port.family);
                        fix.immediate.push(format!("sudo sysctl -w {key}=1"));
                    }
                    _ => {}
                }
            }
            if evidence.is_empty() {
                evidence.push(EvidenceLine::fact("path", p.reason.clone()));
            }
            Finding {
                check: CHECK.name,
                severity: Severity::Critical,
                summary: format!(
                    "port {}{} on {} is blocked from outside: {}",
                    p.port.label(),
                    target,
                    p.port.host_ip,
                    p.reason
                ),
                why: why(p),
                evidence,
                fix,
            }
        })
        .collect()
}

/// What the operator sees, from the host's own connection to the port: "works on localhost"
/// only where the host's `curl localhost` does get through.
fn why(p: &PortVerdict) -> String {
    let port = if p.port.family == crate::model::Family::Ip6 {
        format!("-g http://[::1]:{}/", p.port.host_port)
    } else {
        format!("localhost:{}", p.port.host_port)
    };
    let lo = &p.paths.host_loopback;
    let who = if p.by_client.is_empty() {
        "Clients outside the host"
    } else {
        "Clients from the networks no rule lets through"
    };
    match lo.verdict {
        PortState::Reachable => format!(
            "{who} time out, while `curl {port}` on the host itself works, so nothing looks wrong there."
        ),
        PortState::Blocked => {
            let by: Vec<String> = lo.blocked_by.iter().map(Blocker::describe).collect();
            if by.is_empty() {
                format!(
                    "{who} time out, and `curl {port}` on the host fails too: nothing on the host answers for the port."
                )
            } else {
                format!(
                    "{who} time out, and `curl {port}` on the host fails too (dropped by {}).",
                    by.join("; ")
                )
            }
        }
        PortState::Unknown => format!("{who} cannot connect."),
    }
}
