//! What every check needs, computed once: the model, the trace engine, the port verdicts, and
//! which stack holds the live Docker's rules.

use crate::analyze::ports::{self, PortVerdict};
use crate::analyze::trace::Net;
use crate::model::{DockerLayout, DockerRules, Family, Model, Stack};

pub struct Context<'m> {
    pub model: &'m Model,
    pub net: Net<'m>,
    /// Every published port with its verdict for a new connection from outside.
    pub ports: Vec<PortVerdict>,
    /// Docker's live rules for IPv4 (the stack the running daemon writes to), when found.
    pub docker: Option<DockerRules>,
}

impl<'m> Context<'m> {
    pub fn new(model: &'m Model) -> Context<'m> {
        let net = Net::new(model);
        let docker = live_docker_rules(model, Family::Ip);
        let ports = ports::verdicts(model, &net);
        Context {
            model,
            net,
            ports,
            docker,
        }
    }

    /// The stack Docker writes to.
    pub fn docker_stack(&self) -> Option<Stack> {
        self.docker.as_ref().map(|d| d.stack)
    }

    /// Docker's daemon has its iptables integration on (daemon.json `"iptables": false` turns it
    /// off).
    pub fn docker_iptables_enabled(&self) -> bool {
        self.model
            .docker
            .as_ref()
            .is_none_or(|d| d.daemon_config.iptables != Some(false))
    }
}

/// Pick the Docker rules of the running daemon when several stacks hold Docker chains (stale
/// rules survive a backend switch until reboot): the set whose DNAT targets are the live
/// containers' addresses; else the one on the system's `iptables` stack; else the one with most
/// DNAT rules.
pub fn live_docker_rules(model: &Model, family: Family) -> Option<DockerRules> {
    let candidates: Vec<&DockerRules> = model
        .docker_rules
        .iter()
        .filter(|d| {
            d.family == family
                || (d.layout == DockerLayout::Docker29Nftables && family == Family::Ip)
        })
        .collect();
    if candidates.len() <= 1 {
        return candidates.first().map(|d| (*d).clone());
    }
    if let Some(backend) = model
        .docker
        .as_ref()
        .and_then(|d| d.firewall_backend.as_deref())
        && backend.starts_with("nftables")
        && let Some(d) = candidates
            .iter()
            .find(|d| d.layout == DockerLayout::Docker29Nftables)
    {
        return Some((*d).clone());
    }
    let live_ips: Vec<std::net::IpAddr> = model
        .docker
        .iter()
        .flat_map(|d| &d.containers)
        .flat_map(|c| c.addresses.iter().map(|(_, ip)| *ip))
        .collect();
    if !live_ips.is_empty() {
        let score = |d: &DockerRules| {
            ports::dnat_rules(model, d.stack, d.family)
                .iter()
                .filter(|p| p.container_ip.is_some_and(|ip| live_ips.contains(&ip)))
                .count()
        };
        let best = candidates
            .iter()
            .max_by_key(|d| score(d))
            .map(|d| (*d).clone());
        if best.as_ref().is_some_and(|d| score(d) > 0) {
            return best;
        }
    }
    if let Some(sys) = model.system_iptables
        && let Some(d) = candidates.iter().find(|d| d.stack == sys)
    {
        return Some((*d).clone());
    }
    candidates
        .iter()
        .max_by_key(|d| d.dnat_rules)
        .map(|d| (*d).clone())
}
