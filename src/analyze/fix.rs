//! Fix commands tailored to the host: snap or apt Docker, ufw, firewalld, and the stack a rule
//! lives in.

use crate::analyze::context::Context;
use crate::analyze::trace::RuleRef;
use crate::model::{Family, Stack};

/// The command that restarts Docker on this host.
pub fn restart_docker(ctx: &Context) -> &'static str {
    if ctx.model.docker_is_snap() {
        "sudo snap restart docker"
    } else {
        "sudo systemctl restart docker"
    }
}

/// The iptables binary of a stack and family: `iptables-legacy`, `ip6tables-nft`.
pub fn iptables_cmd(stack: Stack, family: Family) -> String {
    let base = if family == Family::Ip6 {
        "ip6tables"
    } else {
        "iptables"
    };
    match stack {
        Stack::Legacy => format!("{base}-legacy"),
        _ => format!("{base}-nft"),
    }
}

/// The command that takes away what `r` (a policy or rule) does, right now.
pub fn undo(r: &RuleRef, bridges: &[String]) -> Vec<String> {
    match r.stack {
        Stack::Legacy | Stack::IptablesNft => {
            let cmd = iptables_cmd(r.stack, r.family);
            if r.is_policy() {
                vec![format!("sudo {cmd} -t {} -P {} ACCEPT", r.table, r.chain)]
            } else if let Some(rest) = r.rule.strip_prefix("-A ") {
                vec![format!("sudo {cmd} -t {} -D {rest}", r.table)]
            } else {
                vec![format!(
                    "sudo {cmd} -t {} -S {}   # then delete the rule: {}",
                    r.table, r.chain, r.rule
                )]
            }
        }
        Stack::Nft => {
            let fam = r.family.as_str();
            if r.is_policy() {
                bridges
                    .iter()
                    .flat_map(|b| {
                        [
                            format!(
                                "sudo nft insert rule {fam} {} {} oifname \"{b}\" accept",
                                r.table, r.chain
                            ),
                            format!(
                                "sudo nft insert rule {fam} {} {} iifname \"{b}\" accept",
                                r.table, r.chain
                            ),
                        ]
                    })
                    .collect()
            } else {
                vec![format!(
                    "sudo nft -a list chain {fam} {} {}   # find the handle of: {}, then: sudo nft delete rule {fam} {} {} handle N",
                    r.table, r.chain, r.rule, r.table, r.chain
                )]
            }
        }
    }
}

/// Names of Docker's bridges, for fix commands (docker0 when none is known).
pub fn bridge_names(ctx: &Context) -> Vec<String> {
    let mut v: Vec<String> = ctx.model.bridges.iter().map(|b| b.name.clone()).collect();
    if v.is_empty() {
        v.push("docker0".into());
    }
    v
}

/// How to make Docker and the rest of the host use one stack, for good.
pub fn align_stacks(ctx: &Context, dropping: &RuleRef) -> Vec<String> {
    let mut steps = Vec::new();
    let docker_stack = ctx.docker_stack();
    let restart = restart_docker(ctx);
    match (dropping.stack, docker_stack) {
        (Stack::Legacy, Some(s)) if s.is_nf_tables() => {
            if ctx.model.system_iptables == Some(Stack::Legacy) {
                steps.push(if ctx.model.docker_is_snap() {
                    "This host's `iptables` is legacy, but the Docker snap writes to nf_tables regardless (canonical/docker-snap#138). Either move the host to nf_tables (below), or refresh the snap to a revision that follows the host's alternative (Docker 29 snaps do): `sudo snap refresh docker && sudo snap restart docker`.".into()
                } else {
                    "This host's `iptables` is legacy, but Docker writes to nf_tables: move the host to nf_tables (below) so both agree.".into()
                });
                steps.push("sudo update-alternatives --set iptables /usr/sbin/iptables-nft && sudo update-alternatives --set ip6tables /usr/sbin/ip6tables-nft".into());
            }
            steps.push(
                "sudo iptables-legacy-save > /root/iptables-legacy.before-fwdoctor   # keep a copy"
                    .into(),
            );
            steps.push(
                "Find what still writes legacy rules and stop it: an old Docker snap revision, iptables-persistent (/etc/iptables/rules.v4 restored by netfilter-persistent), a firewall script calling iptables-legacy; `update-alternatives --display iptables` must point at iptables-nft."
                    .into(),
            );
            steps.push("for t in filter nat mangle raw; do sudo iptables-legacy -t $t -F; sudo iptables-legacy -t $t -X; done; sudo iptables-legacy -P FORWARD ACCEPT".into());
            steps
                .push("A reboot also clears the legacy tables if nothing loads them again.".into());
            if ctx.model.docker_is_snap() {
                steps.push("The Docker snap picks its stack at start: after cleaning up, `sudo snap restart docker` and run fwdoctor again.".into());
            }
        }
        (s, Some(Stack::Legacy)) if s.is_nf_tables() => {
            if ctx.model.docker_is_snap() {
                steps.push("The Docker snap chose iptables-legacy on this host; newer snap revisions follow the host's alternative: `sudo snap refresh docker`, then `sudo snap restart docker`.".into());
            } else {
                steps.push("sudo update-alternatives --set iptables /usr/sbin/iptables-nft && sudo update-alternatives --set ip6tables /usr/sbin/ip6tables-nft".into());
            }
            steps.push(format!(
                "{restart}   # Docker re-creates its rules in nf_tables"
            ));
            steps.push("for t in filter nat mangle raw; do sudo iptables-legacy -t $t -F; sudo iptables-legacy -t $t -X; done   # drop Docker's stale legacy rules (or reboot)".into());
            if dropping.stack == Stack::Nft {
                steps.push(format!(
                    "Or keep Docker where it is and accept Docker's bridges in {} {} {} (edit /etc/nftables.conf, then `sudo systemctl reload nftables`).",
                    dropping.family, dropping.table, dropping.chain
                ));
            }
        }
        (Stack::Nft, _) => {
            steps.push(format!(
                "Add accept rules for Docker's bridges to chain {} in table {} {} in /etc/nftables.conf (e.g. `oifname \"docker0\" accept` and `iifname \"docker0\" accept`), then `sudo systemctl reload nftables`.",
                dropping.chain, dropping.family, dropping.table
            ));
            steps.push("Docker's docs: with nftables, an accept is not final; drops in any base chain on the hook win. Docker 29 offers --bridge-accept-fwmark for this.".into());
        }
        _ => {
            steps.push(format!("Remove the DROP from {} or put an ACCEPT for Docker's traffic before it in the same chain, in the file your firewall loads at boot.", dropping.describe()));
        }
    }
    if ctx.model.ufw.as_ref().is_some_and(|u| u.active) {
        steps.push("ufw is active: set DEFAULT_FORWARD_POLICY=\"ACCEPT\" in /etc/default/ufw, or allow Docker's traffic with `ufw route allow`, then `sudo ufw reload`.".into());
    }
    if ctx.model.firewalld_running == Some(true) {
        steps.push("firewalld is running: make sure its backend (FirewallBackend in /etc/firewalld/firewalld.conf) matches Docker's, then `sudo firewall-cmd --reload` and restart Docker.".into());
    }
    steps
}
