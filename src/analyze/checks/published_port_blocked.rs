//! `published-port-blocked`: a published port a client outside cannot reach.

use crate::analyze::context::Context;
use crate::analyze::ports::PortState;
use crate::analyze::trace::Verdict;
use crate::analyze::{Check, EvidenceLine, Finding, Fix, Severity, fix};

pub const CHECK: Check = Check {
    name: "published-port-blocked",
    severity: Severity::Critical,
    summary: "a published port is blocked for clients outside the host; names the dropping rule",
    docs: "\
What it finds
  A port Docker publishes (`-p 8080:80`) that a new connection from outside the host cannot
  reach. fwdoctor walks the connection, and its reply, through every hook and every base chain
  of every stack (legacy, iptables-nft, native nft) and names the rule or policy that drops it.
  Ports published on 127.0.0.1 only, and ports blocked on purpose in DOCKER-USER (see
  docker-user-blocks), are not reported here.

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
        .filter(|p| !crate::analyze::checks::docker_user_blocks::is_on_purpose(p))
        .filter(|p| !p.port.is_host_only())
        .map(|p| {
            let target = match (&p.port.container, p.port.container_port) {
                (Some(c), Some(cp)) => format!(" ({c}:{cp})"),
                (None, Some(cp)) => format!(" (container port {cp})"),
                _ => String::new(),
            };
            let mut evidence = Vec::new();
            let mut fix = Fix::default();
            if let Some(t) = &p.trace
                && let Verdict::Drop { by } = &t.verdict {
                    evidence.push(EvidenceLine::rule(by));
                    fix.immediate = fix::undo(by, &bridges);
                }
            if let Some(r) = &p.reply
                && let Verdict::Drop { by } = &r.verdict {
                    evidence.push(EvidenceLine::rule(by));
                    fix.immediate = fix::undo(by, &bridges);
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
                    target, p.port.host_ip, p.reason
                ),
                why: "Clients outside the host time out while the container and `curl localhost` work.".into(),
                evidence,
                fix,
            }
        })
        .collect()
}
