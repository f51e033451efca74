//! Which stack holds Docker's rules, and which of Docker's rule layouts it is
//! (see shared/research/docker-layouts.md §1.1).

use crate::model::{Family, Stack, Table};
use serde::Serialize;

/// Docker's firewall layouts by release line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DockerLayout {
    /// 20.10 .. 27.x: per-bridge rules straight in FORWARD, DOCKER-ISOLATION-STAGE-1/2.
    Classic,
    /// 28.0.0: ipset `docker-ext-bridges-v4` rules in FORWARD.
    Docker28Ipset,
    /// 28.0.1 .. 28.x: DOCKER-FORWARD with DOCKER-ISOLATION-STAGE-1/2.
    Docker28,
    /// 29.x iptables backend: DOCKER-FORWARD, DOCKER-INTERNAL, no isolation chains.
    Docker29Iptables,
    /// 29.x nftables backend: `table ip docker-bridges`.
    Docker29Nftables,
}

impl DockerLayout {
    pub fn describe(self) -> &'static str {
        match self {
            DockerLayout::Classic => "classic layout (Docker 20.10-27.x)",
            DockerLayout::Docker28Ipset => "Docker 28.0.0 layout (ipset)",
            DockerLayout::Docker28 => "Docker 28.0.1+ layout (DOCKER-FORWARD)",
            DockerLayout::Docker29Iptables => "Docker 29 iptables layout",
            DockerLayout::Docker29Nftables => "Docker 29 nftables backend (table docker-bridges)",
        }
    }
}

/// Docker's rules found in one table set of one stack and family.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DockerRules {
    pub stack: Stack,
    pub family: Family,
    pub layout: DockerLayout,
    /// filter FORWARD jumps to Docker's chains (DOCKER-USER/DOCKER-FORWARD/DOCKER), or the
    /// docker-bridges forward base chain exists.
    pub forward_hooked: bool,
    /// Number of DNAT rules in Docker's nat chain (published ports).
    pub dnat_rules: usize,
    /// Number of rules in Docker's chains.
    pub rule_count: usize,
}

/// Find Docker's rules in the tables of one (stack, family).
pub fn detect(tables: &[&Table]) -> Option<DockerRules> {
    let first = tables.first()?;
    let (stack, family) = (first.stack, first.family);
    if let Some(t) = tables.iter().find(|t| t.name == "docker-bridges") {
        let dnat_rules = t
            .chains
            .iter()
            .flat_map(|c| &c.rules)
            .filter(|r| matches!(r.action, crate::model::Action::Dnat { .. }))
            .count();
        return Some(DockerRules {
            stack,
            family,
            layout: DockerLayout::Docker29Nftables,
            forward_hooked: t.chains.iter().any(|c| {
                c.base
                    .as_ref()
                    .is_some_and(|b| b.hook == crate::model::Hook::Forward)
            }),
            dnat_rules,
            rule_count: t.rule_count(),
        });
    }
    let filter = tables.iter().find(|t| t.name == "filter");
    let nat = tables.iter().find(|t| t.name == "nat");
    let has = |name: &str| filter.is_some_and(|t| t.chain(name).is_some());
    let nat_docker = nat.and_then(|t| t.chain("DOCKER"));
    if !has("DOCKER") && !has("DOCKER-FORWARD") && !has("DOCKER-USER") && nat_docker.is_none() {
        return None;
    }
    let forward = filter.and_then(|t| t.chain("FORWARD"));
    let uses_ipset = forward.is_some_and(|c| {
        c.rules
            .iter()
            .any(|r| r.text.contains("docker-ext-bridges"))
    });
    let layout = if has("DOCKER-FORWARD") {
        if has("DOCKER-ISOLATION-STAGE-1") {
            DockerLayout::Docker28
        } else {
            DockerLayout::Docker29Iptables
        }
    } else if uses_ipset {
        DockerLayout::Docker28Ipset
    } else {
        DockerLayout::Classic
    };
    let docker_chain = |c: &str| c.starts_with("DOCKER");
    let forward_hooked = forward.is_some_and(|c| {
        c.rules.iter().any(|r| match &r.action {
            crate::model::Action::Jump { chain, .. } | crate::model::Action::Goto { chain, .. } => {
                chain == "DOCKER"
                    || chain == "DOCKER-FORWARD"
                    || chain == "DOCKER-ISOLATION-STAGE-1"
            }
            _ => false,
        })
    });
    let dnat_rules = nat_docker.map_or(0, |c| {
        c.rules
            .iter()
            .filter(|r| matches!(r.action, crate::model::Action::Dnat { .. }))
            .count()
    });
    let rule_count = tables
        .iter()
        .flat_map(|t| &t.chains)
        .filter(|c| docker_chain(&c.name))
        .map(|c| c.rules.len())
        .sum();
    Some(DockerRules {
        stack,
        family,
        layout,
        forward_hooked,
        dnat_rules,
        rule_count,
    })
}
