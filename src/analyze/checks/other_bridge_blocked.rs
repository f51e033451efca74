//! `other-bridge-blocked`: a port another runtime (Podman) publishes on its own bridge is
//! blocked from outside — most often by the `FORWARD` policy DROP Docker set.

use crate::analyze::context::Context;
use crate::analyze::ports::{PortState, PortVerdict};
use crate::analyze::trace::{Flow, Route, RuleRef, Verdict};
use crate::analyze::{Check, EvidenceLine, Finding, Fix, Severity, fix, shell};
use crate::model::coverage::forwarding_sysctl;
use crate::model::{CtState, Family, Runtime, Stack};

pub const CHECK: Check = Check {
    name: "other-bridge-blocked",
    severity: Severity::Critical,
    summary: "a port Podman (or another runtime beside Docker) publishes is blocked from outside, usually by Docker's FORWARD policy DROP",
    docs: "\
What it finds
  A port published by a runtime other than Docker — Podman, whose DNAT rules fwdoctor reads
  (CNI's CNI-HOSTPORT-DNAT -> CNI-DN-..., netavark's NETAVARK-HOSTPORT-DNAT -> NETAVARK-DN-...
  or `table inet netavark`) — on its own bridge (cni-podman0, podman1, ...; lxdbr0, incusbr0
  and virbr0 are other runtimes' bridges too) that a new connection from outside cannot
  reach. fwdoctor names the rule or policy that drops it. It is most often Docker's
  `FORWARD` policy DROP: dockerd sets it when it turns IP forwarding on itself. Podman's own
  rules (CNI-FORWARD, NETAVARK-FORWARD) accept only replies and its containers' own traffic,
  so a new connection to Podman's port falls through to that policy (podman#24486; the same
  happens to LXD/Incus and libvirt bridges, lxc/incus#2733). It also traces each such
  bridge's own outgoing traffic (a new connection from its subnet to an address outside)
  and reports it when dropped: the \"no internet in my LXD container\" face of the same DROP.

Why it matters
  Docker's ports work and `curl localhost:PORT` works for Podman's port too, so nothing looks
  wrong on the host; every client elsewhere times out on Podman's port only.

How to fix
  Let the bridge's traffic through in Docker's own hook for it, DOCKER-USER, in the stack that
  holds the dropping policy (the exact command is shown, for that stack):
    sudo iptables-nft -I DOCKER-USER -o cni-podman0 -j ACCEPT
    sudo iptables-nft -I DOCKER-USER -i cni-podman0 -j ACCEPT
  (`-o` accepts every routed connection to the bridge's containers, as a FORWARD policy
  ACCEPT would have; Podman publishes only what `-p` asks for, through its DNAT.) Docker
  leaves DOCKER-USER's rules alone when it restarts, but they are gone after a reboot.
  For good: from Docker 28.0 on, `\"ip-forward-no-drop\": true` in daemon.json stops Docker
  from setting the policy (and Docker no longer relies on it); on older Docker, re-add the
  DOCKER-USER rules at boot after docker.service. On Podman's side the same ACCEPT can go in
  CNI's admin chain CNI-ADMIN (the firewall plugin's `iptablesAdminChainName`, for admins'
  own rules); netavark has no setting that overrides another chain's DROP (its
  firewall_driver in containers.conf only chooses where Podman's own rules go).",
    run,
};

fn run(ctx: &Context) -> Vec<Finding> {
    let mut out: Vec<Finding> = ctx
        .ports
        .iter()
        .filter(|p| p.port.owner != Runtime::Docker)
        .filter(|p| p.verdict == PortState::Blocked && !p.port.is_host_only())
        .map(|p| finding(ctx, p))
        .collect();
    out.extend(outgoing(ctx));
    out
}

/// The containers' own traffic out of each other bridge (LXD/Incus/libvirt publish no port,
/// and their users' report is "no internet in the container", lxc/incus#2733): a new
/// connection from the bridge's subnet — from a container Podman published a port for, when
/// there is one (CNI accepts per container address) — to an address outside.
fn outgoing(ctx: &Context) -> Vec<Finding> {
    let mut out = Vec::new();
    for b in &ctx.model.other_bridges {
        let Some(net) = b.subnets.iter().find(|n| n.addr().is_ipv4()) else {
            continue;
        };
        let src = ctx
            .model
            .runtime_ports
            .iter()
            .filter_map(|p| p.container_ip)
            .find(|ip| net.contains(ip))
            .or_else(|| net.hosts().nth(1));
        let Some(src) = src else { continue };
        let flow = Flow {
            family: Family::Ip,
            proto: "tcp".into(),
            src: Some(src),
            // Any address outside the host will do (TEST-NET-2).
            dst: Some("198.51.100.7".parse().expect("valid address")),
            dport: 443,
            sport: Some(40000),
            in_iface: Some(b.name.clone()),
            state: CtState::New,
            local_origin: false,
            to_outside: false,
        };
        let trace = ctx.net.trace(&flow);
        let mut evidence = Vec::new();
        let mut fix = Fix::default();
        let mut docker_drop = false;
        for blocker in &trace.blockers {
            let Verdict::Drop { by } = blocker else {
                continue;
            };
            evidence.push(EvidenceLine::rule(by));
            if by.is_policy() && by.chain == "FORWARD" {
                docker_drop |= dockers_policy(ctx, by);
                fix.immediate.extend(accepts(ctx, by, &b.name));
            } else {
                fix.immediate.extend(fix::undo(by, &[]));
            }
        }
        if evidence.is_empty() {
            continue;
        }
        fix.immediate.dedup();
        let runtime = b.runtime.as_str();
        let cause = if docker_drop {
            "Docker's FORWARD policy DROP drops it".to_string()
        } else {
            "dropped by the rule below".to_string()
        };
        out.push(Finding {
            check: CHECK.name,
            severity: Severity::Critical,
            summary: format!(
                "outgoing traffic of {runtime}'s containers on {} ({net}) is blocked: {cause}",
                b.name
            ),
            why: format!(
                "Containers on {} cannot open connections to anywhere outside the host (no internet, no DNS beyond the host), while Docker's containers can.",
                b.name
            ),
            evidence,
            fix,
        });
    }
    out
}

/// The bridge the port's containers sit on: the outside trace's route, else the other bridge
/// whose subnet holds the container's address, else the only bridge of its runtime.
pub fn bridge_of(ctx: &Context, p: &PortVerdict) -> Option<String> {
    if let Some(Route::Forward { out_iface: Some(i) }) =
        p.trace.as_ref().and_then(|t| t.route.as_ref())
        && Runtime::of_bridge(i).is_some()
    {
        return Some(i.clone());
    }
    let others = &ctx.model.other_bridges;
    if let Some(ip) = p.port.container_ip
        && let Some(b) = others
            .iter()
            .find(|b| b.subnets.iter().any(|n| n.contains(&ip)))
    {
        return Some(b.name.clone());
    }
    let mut of_runtime = others.iter().filter(|b| b.runtime == p.port.owner);
    match (of_runtime.next(), of_runtime.next()) {
        (Some(b), None) => Some(b.name.clone()),
        _ => None,
    }
}

/// Is `by` the FORWARD policy DROP of the stack and family Docker writes its rules to?
fn dockers_policy(ctx: &Context, by: &RuleRef) -> bool {
    by.is_policy()
        && by.table == "filter"
        && by.chain == "FORWARD"
        && ctx
            .model
            .docker_rules
            .iter()
            .any(|d| d.stack == by.stack && d.family == by.family)
}

/// Does the filter table of `by`'s stack and family have a DOCKER-USER chain?
fn has_docker_user(ctx: &Context, by: &RuleRef) -> bool {
    ctx.model
        .tables
        .iter()
        .filter(|t| t.stack == by.stack && t.family == by.family && t.name == "filter")
        .any(|t| t.chain("DOCKER-USER").is_some())
}

/// The two accepts for the bridge, in DOCKER-USER when that stack has it, else at the top of
/// FORWARD (an nft policy: the accepts `fix::undo` gives for a bridge).
fn accepts(ctx: &Context, by: &RuleRef, bridge: &str) -> Vec<String> {
    if by.stack == Stack::Nft {
        return fix::undo(by, &[bridge.to_string()]);
    }
    let chain = if has_docker_user(ctx, by) {
        "DOCKER-USER"
    } else {
        "FORWARD"
    };
    let cmd = fix::iptables_cmd(by.stack, by.family);
    let br = shell::quote(bridge);
    vec![
        format!("sudo {cmd} -I {chain} -o {br} -j ACCEPT"),
        format!("sudo {cmd} -I {chain} -i {br} -j ACCEPT"),
    ]
}

/// Docker's version's major number, when the API gave it.
fn docker_major(ctx: &Context) -> Option<u32> {
    let v = ctx.model.docker.as_ref()?.version.as_deref()?;
    v.split('.').next()?.parse().ok()
}

fn finding(ctx: &Context, p: &PortVerdict) -> Finding {
    let owner = p.port.owner.as_str();
    let bridge = bridge_of(ctx, p);
    let bridge_name = bridge.as_deref().unwrap_or("its bridge");
    let mut evidence = Vec::new();
    let mut fix = Fix::default();
    let mut docker_drop = false;
    let mut seen: Vec<&Verdict> = Vec::new();
    let traces = [p.trace.as_ref(), p.reply.as_ref()];
    for b in traces.into_iter().flatten().flat_map(|t| &t.blockers) {
        if seen.contains(&b) {
            continue;
        }
        seen.push(b);
        match b {
            Verdict::Drop { by } => {
                evidence.push(EvidenceLine::rule(by));
                if by.is_policy() && by.chain == "FORWARD" {
                    docker_drop |= dockers_policy(ctx, by);
                    match &bridge {
                        Some(br) => fix.immediate.extend(accepts(ctx, by, br)),
                        None => fix.immediate.extend(fix::undo(by, &[])),
                    }
                } else {
                    fix.immediate.extend(fix::undo(by, &[]));
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
    if let Some(br) = &bridge {
        evidence.push(EvidenceLine::fact(
            "bridge",
            format!(
                "{br}: {owner}'s bridge, not Docker's; the port is published by {owner}'s DNAT"
            ),
        ));
    }
    if evidence.is_empty() {
        evidence.push(EvidenceLine::fact("path", p.reason.clone()));
    }
    fix.immediate.dedup();
    if docker_drop {
        if docker_major(ctx).is_some_and(|m| m >= 28) {
            fix.lasting.push(format!(
                "Set \"ip-forward-no-drop\": true in Docker's daemon.json, then {} (Docker 28+ no longer needs the FORWARD policy DROP)",
                fix::restart_docker(ctx)
            ));
        } else {
            fix.lasting.push(
                "Re-add the DOCKER-USER rules at boot, after docker.service starts (Docker keeps them across its own restarts, not across a reboot); from Docker 28 on, \"ip-forward-no-drop\": true in daemon.json stops Docker from setting the policy".to_string(),
            );
        }
    }
    fix.note = format!(
        "The ACCEPT goes in DOCKER-USER, which Docker leaves to you; {owner}'s own rules cannot override a DROP policy of the chain they are jumped from. `-o {bridge_name}` opens every routed connection to that bridge, as a FORWARD policy ACCEPT would."
    );
    let target = match (&p.port.container, p.port.container_port) {
        (Some(c), Some(cp)) => format!(" ({owner} container {c}:{cp})"),
        (None, Some(cp)) => format!(" ({owner} container port {cp})"),
        _ => format!(" ({owner})"),
    };
    let cause = if docker_drop {
        "Docker's FORWARD policy DROP drops it".to_string()
    } else {
        p.reason.clone()
    };
    Finding {
        check: CHECK.name,
        severity: Severity::Critical,
        summary: format!(
            "port {}{target} on {} ({bridge_name}) is blocked from outside: {cause}",
            p.port.label(),
            p.port.host_ip,
        ),
        why: if docker_drop {
            format!(
                "dockerd sets the FORWARD policy to DROP when it turns forwarding on, and accepts only its own bridges' traffic; {owner}'s rules accept only replies and its containers' own traffic, so a new connection to {owner}'s port meets Docker's DROP. Clients outside time out on this port while Docker's ports work."
            )
        } else {
            format!("Clients outside time out on {owner}'s port; the rule named below drops it.")
        },
        evidence,
        fix,
    }
}
