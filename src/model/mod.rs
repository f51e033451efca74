//! The model: every table of every stack, every hook's ordered base chains, and the host facts.
//!
//! Built from [`crate::collect::Evidence`] by [`build::build`]. Checks and the trace engine only
//! read the model.

pub mod build;
pub mod chain_index;
pub mod coverage;
pub mod docker_layout;
pub mod host;
pub mod one_or_more;
pub mod other_bridges;
pub mod ruleset;
pub mod text;

pub use docker_layout::{DockerLayout, DockerRules};
pub use host::*;
pub use other_bridges::{OtherBridge, Runtime, RuntimePort};
pub use ruleset::*;
pub use text::Text;

use crate::collect::evidence::{Evidence, SourceStatus};
use std::collections::BTreeMap;

/// A base chain found on a hook: which table, which chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainRef {
    pub table: usize,
    pub chain: usize,
}

/// A ruleset on disk that the next boot loads in place of the live one of its stack.
#[derive(Debug, Clone)]
pub struct NextBoot {
    /// The path on the host (`/etc/nftables.conf`); also each table's and rule's source.
    pub path: String,
    /// The stack it replaces, and the family (None: every family, as nftables.conf).
    pub stack: Stack,
    pub family: Option<Family>,
    /// Its tables, or why they could not be read (an `include`, a syntax error).
    pub tables: Result<Vec<Table>, String>,
}

/// Everything fwdoctor knows about the host.
#[derive(Debug, Clone, Default)]
pub struct Model {
    /// All tables of all stacks and families.
    pub tables: Vec<Table>,
    /// Docker's Engine API facts; None when the API could not be read.
    pub docker: Option<DockerFacts>,
    pub snap: Option<SnapFacts>,
    pub sysctl: Sysctls,
    pub ufw: Option<UfwFacts>,
    /// firewalld is running (from `firewalld-state.txt` or Docker's `+firewalld` backend).
    pub firewalld_running: Option<bool>,
    /// firewalld's zones (`firewalld-zones.txt`), when captured while it ran.
    pub firewalld_zones: Option<Vec<FirewalldZone>>,
    /// The stack the system's `iptables` command writes to (from `iptables-alternative.txt`).
    pub system_iptables: Option<Stack>,
    /// Legacy tables loaded in the kernel (`/proc/net/ip_tables_names`), when read.
    pub legacy_tables_loaded: Option<Vec<String>>,
    pub legacy6_tables_loaded: Option<Vec<String>>,
    /// The host's ipsets (`ipset-save.txt`), when captured: `-m set` matches on address sets
    /// are judged from them.
    pub ipsets: Option<Vec<IpSet>>,
    /// The host's interfaces and addresses (`ip-addr.json`), when captured.
    pub interfaces: Option<Vec<Interface>>,
    /// Docker bridges and their subnets.
    pub bridges: Vec<Bridge>,
    /// Bridges of other runtimes (Podman, LXD, Incus, libvirt): workloads behind the same
    /// FORWARD hook ([`other_bridges`]).
    pub other_bridges: Vec<OtherBridge>,
    /// Ports other runtimes publish, from their DNAT rules (Podman: CNI or netavark).
    pub runtime_ports: Vec<RuntimePort>,
    /// Where Docker's rules were found, one entry per (stack, family).
    pub docker_rules: Vec<DockerRules>,
    /// meta.json's source records, by source name.
    pub sources: BTreeMap<String, SourceStatus>,
    /// Which capture files were present.
    pub present: Vec<String>,
    /// Where the evidence came from.
    pub origin: String,
    /// Remarks made while building (assumptions, skipped input).
    pub notes: Vec<String>,
    /// What the next boot (or a restart of nftables / netfilter-persistent) loads from disk.
    pub next_boot: Vec<NextBoot>,
    /// The parts of the firewall the evidence did not show ([`coverage::unseen`]). Empty for
    /// a model built by hand: it holds every table there is.
    pub unseen: coverage::Unseen,
}

impl Model {
    /// Build the model. A parse error names the file the operator has: the capture file inside
    /// the capture directory, or the single file given to `--from`.
    pub fn build(evidence: &Evidence) -> Result<Model, crate::parse::ParseError> {
        Model::build_with(evidence, &build::EarlyParse::default())
    }

    /// [`Model::build`], taking the saves `early` parsed already.
    pub fn build_with(
        evidence: &Evidence,
        early: &build::EarlyParse,
    ) -> Result<Model, crate::parse::ParseError> {
        build::build(evidence, early).map_err(|mut e| {
            let origin = std::path::Path::new(&evidence.origin);
            if origin.is_dir() {
                e.file = origin.join(&e.file).display().to_string();
            } else if origin.is_file() {
                e.file = evidence.origin.clone();
            }
            e
        })
    }

    pub fn chain(&self, r: ChainRef) -> &Chain {
        &self.tables[r.table].chains[r.chain]
    }

    pub fn table(&self, r: ChainRef) -> &Table {
        &self.tables[r.table]
    }

    /// Base chains on a hook for packets of `family` (Ip or Ip6), from all stacks, in the order
    /// the kernel runs them (priority ascending; ties keep stack order legacy, iptables-nft, nft,
    /// which is one valid order: the kernel leaves ties undefined).
    ///
    /// This walks every chain of every table; the trace engine calls [`Model::base_chains`]
    /// once and filters that instead.
    pub fn hook_chains(&self, family: Family, hook: Hook) -> Vec<ChainRef> {
        self.hook_chains_from(&self.base_chains(), family, hook)
    }

    /// Every base chain of every table: (its table's family, hook, chain), in table order.
    pub fn base_chains(&self) -> Vec<(Family, Hook, ChainRef)> {
        let mut out = Vec::new();
        for (ti, t) in self.tables.iter().enumerate() {
            for (ci, c) in t.chains.iter().enumerate() {
                if let Some(b) = &c.base {
                    out.push((
                        t.family,
                        b.hook,
                        ChainRef {
                            table: ti,
                            chain: ci,
                        },
                    ));
                }
            }
        }
        out
    }

    /// [`Model::hook_chains`] from a list made by [`Model::base_chains`].
    pub fn hook_chains_from(
        &self,
        base: &[(Family, Hook, ChainRef)],
        family: Family,
        hook: Hook,
    ) -> Vec<ChainRef> {
        let mut out: Vec<(i32, Stack, ChainRef)> = base
            .iter()
            .filter(|(f, h, _)| *h == hook && f.applies_to(family))
            .filter_map(|&(_, _, r)| {
                let b = self.chain(r).base.as_ref()?;
                Some((b.priority, self.table(r).stack, r))
            })
            .collect();
        out.sort_by_key(|(p, s, _)| (*p, *s));
        out.into_iter().map(|(_, _, r)| r).collect()
    }

    /// Was this capture file read?
    pub fn has(&self, file: &str) -> bool {
        self.present.iter().any(|f| f == file)
    }

    /// The sysctl value, if captured.
    pub fn sysctl(&self, key: &str) -> Option<&str> {
        self.sysctl.get(key).map(String::as_str)
    }

    /// Tables of a stack.
    pub fn tables_of(&self, stack: Stack) -> impl Iterator<Item = &Table> {
        self.tables.iter().filter(move |t| t.stack == stack)
    }

    /// Docker runs from the snap (snap services lists docker.dockerd active, or its root dir is
    /// under /var/snap).
    pub fn docker_is_snap(&self) -> bool {
        let svc = self
            .snap
            .as_ref()
            .and_then(|s| s.docker_service.as_ref())
            .is_some_and(|s| s.active);
        let root = self
            .docker
            .as_ref()
            .and_then(|d| d.root_dir.as_deref())
            .is_some_and(|r| r.starts_with("/var/snap/docker"));
        svc || root
    }
}
