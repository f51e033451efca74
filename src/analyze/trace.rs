//! The trace engine: walks one packet through every hook, as the kernel does, across all stacks.
//!
//! At each hook every base chain of every stack runs in priority order. ACCEPT (rule or policy)
//! ends only its own base chain; DROP anywhere is final. nat chains see only the first packet of
//! a connection, and the first DNAT on a hook wins. After PREROUTING the routing decision sends
//! the packet to INPUT (a host address) or FORWARD (a Docker bridge subnet), then POSTROUTING.
//!
//! Facts the capture cannot give (the client's address, the host's outside interface) are
//! symbolic: `None` means "a client outside" / "the host's outside interface". A match that
//! depends on them, or that the model does not understand, is *unknown*; the engine then tries
//! both outcomes and only gives a verdict when they agree. Otherwise the verdict is `unknown`
//! and names the rule. Never a guess. A match the model does not understand but that tests a
//! header or family the packet does not have (`icmpv6 type …` on IPv4 TCP, `meta l4proto udp`
//! on TCP, `ip6 saddr …` on IPv4, iptables `-m icmp6 …`) is decided false: the full list is
//! in [`crate::analyze::decided`].

use crate::analyze::{decided, needs};
use crate::model::{
    Action, AddrType, Chain, ChainAt, ChainRef, ChainType, CtState, Dir, Family, Hook, Match,
    Model, Policy, Rule, Stack, Table, VmapKey,
};
use ipnet::IpNet;
use serde::Serialize;
use std::cell::Cell;
use std::collections::{HashMap, HashSet, VecDeque};
use std::net::IpAddr;
use std::sync::Arc;

/// A packet to trace.
#[derive(Debug, Clone, PartialEq)]
pub struct Flow {
    pub family: Family,
    pub proto: String,
    /// `None`: any client outside the host.
    pub src: Option<IpAddr>,
    /// `None`: one of the host's own outside addresses.
    pub dst: Option<IpAddr>,
    pub dport: u16,
    pub sport: Option<u16>,
    /// `None`: the host's outside interface (not `lo`, not a Docker bridge).
    pub in_iface: Option<String>,
    /// Conntrack state of the packet: `New` for a connection's first packet.
    pub state: CtState,
    /// For locally generated packets (OUTPUT path).
    pub local_origin: bool,
    /// `dst` is `None` and means the client outside (a reply going back out), not the host.
    pub to_outside: bool,
}

impl Flow {
    /// A new TCP/UDP connection from a client outside to the host's address on `port`.
    pub fn from_outside(family: Family, proto: &str, port: u16) -> Flow {
        Flow {
            family,
            proto: proto.to_string(),
            src: None,
            dst: None,
            dport: port,
            sport: None,
            in_iface: None,
            state: CtState::New,
            local_origin: false,
            to_outside: false,
        }
    }

    /// The reply of a forwarded connection: from the container back to the client outside.
    pub fn reply_from(
        family: Family,
        proto: &str,
        container: IpAddr,
        port: u16,
        bridge: Option<&str>,
    ) -> Flow {
        Flow {
            family,
            proto: proto.to_string(),
            src: Some(container),
            dst: None,
            dport: 0,
            sport: Some(port),
            in_iface: bridge.map(str::to_string),
            state: CtState::Established,
            local_origin: false,
            to_outside: true,
        }
    }
}

/// Which rule (or policy) decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleRef {
    pub stack: Stack,
    pub family: Family,
    pub table: String,
    pub chain: String,
    /// The rule text, or `policy DROP`.
    pub rule: String,
    /// File and line it came from.
    pub source: String,
    pub line: usize,
    /// nft's handle of the rule, when the evidence had one (`nft -j`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handle: Option<u64>,
}

impl RuleRef {
    fn rule(t: &Table, c: &Chain, r: &Rule) -> RuleRef {
        RuleRef {
            stack: t.stack,
            family: t.family,
            table: t.name.clone(),
            chain: c.name.to_string(),
            rule: r.text.to_string(),
            source: t.source.clone(),
            line: r.line,
            handle: r.handle.map(std::num::NonZeroU64::get),
        }
    }
    fn policy(t: &Table, c: &Chain, p: Policy) -> RuleRef {
        RuleRef {
            stack: t.stack,
            family: t.family,
            table: t.name.clone(),
            chain: c.name.to_string(),
            rule: format!("policy {p}"),
            source: t.source.clone(),
            line: c.line,
            handle: None,
        }
    }
    /// `legacy ip filter FORWARD: policy DROP`
    pub fn describe(&self) -> String {
        format!(
            "{} {} {} {}: {}",
            self.stack, self.family, self.table, self.chain, self.rule
        )
    }
    pub fn is_policy(&self) -> bool {
        self.rule.starts_with("policy ")
    }
}

/// The verdict of one base chain, or of the whole trace.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "verdict", rename_all = "lowercase")]
pub enum Verdict {
    Accept {
        by: Option<RuleRef>,
    },
    Drop {
        by: RuleRef,
    },
    /// Dropped by the kernel outside any firewall chain (forwarding switched off).
    KernelDrop {
        reason: String,
    },
    Unknown {
        by: RuleRef,
        reason: String,
    },
    /// Every rule that was read lets the packet pass, but a part of the firewall it crosses
    /// was not read ([`needs::missing`]): unknown, never a guessed accept.
    #[serde(rename = "unknown")]
    Unseen {
        missing: Vec<needs::Gap>,
    },
}

/// One base chain's part in a trace.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChainStep {
    pub hook: Hook,
    pub priority: i32,
    pub stack: Stack,
    pub table: String,
    pub chain: String,
    pub verdict: Verdict,
    /// Rules that matched on the way (jumps, DNAT, the deciding rule), in order.
    pub matched: Vec<RuleRef>,
    /// Drops this walk let pass to find the next blocker (each is one of [`Trace::blockers`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub passed: Vec<RuleRef>,
    /// The packet after this chain when it changed it (DNAT): `172.17.0.2:80`.
    pub rewrote: Option<String>,
}

/// Where the routing decision sent the packet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Route {
    /// To the host itself (INPUT).
    Local,
    /// Through the host to a Docker bridge (FORWARD).
    Forward { out_iface: Option<String> },
}

/// The result of tracing one packet.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trace {
    pub steps: Vec<ChainStep>,
    pub route: Option<Route>,
    /// Destination after DNAT: (address, port).
    pub final_dst: Option<(Option<IpAddr>, u16)>,
    /// The overall verdict: Drop if any base chain dropped (the first blocker), Unknown if
    /// any could not be decided and none dropped, Unseen if the packet got through but the
    /// evidence lacks what that needs ([`needs::missing`]), else Accept.
    pub verdict: Verdict,
    /// Every independent reason the packet is dropped (Drop and KernelDrop verdicts), in the
    /// order it meets them; empty when it is not dropped.
    pub blockers: Vec<Verdict>,
    /// Evidence this packet's verdict depends on and did not have.
    pub missing: Vec<needs::Gap>,
    /// With blockers: what the walk ends in once every one of them lets the packet pass
    /// (Accept: fixing them all opens the path).
    pub beyond_blockers: Option<Box<Verdict>>,
}

impl Trace {
    pub fn dropped_by(&self) -> Option<&RuleRef> {
        match &self.verdict {
            Verdict::Drop { by } => Some(by),
            _ => None,
        }
    }
}

/// Host facts the engine needs, derived once from the model.
pub struct Net<'m> {
    model: &'m Model,
    bridges: Vec<(String, Vec<IpNet>)>,
    local_addrs: Vec<IpAddr>,
    /// The base chains of every (family, hook), in kernel order, found once: a trace then
    /// never walks the chains of a big ruleset to find them.
    hooks: Vec<((Family, Hook), Vec<ChainRef>)>,
    /// Each table's loops and rule indexes, by the address of its chains.
    tables: Vec<TableFacts<'m>>,
    /// The long chains' rules by destination (see [`RuleIndex`]), by chain address.
    indexes: HashMap<*const Chain, Arc<RuleIndex>>,
    /// Rule evaluations the current trace has made (see [`STEP_BUDGET`]).
    steps_made: Cell<u64>,
}

impl<'m> Net<'m> {
    pub fn new(model: &'m Model) -> Net<'m> {
        Net::sharing(model, &[])
    }

    /// A `Net` for `model`, a "what if" copy of `base`'s model (next-boot-blocks puts the
    /// on-disk tables in place of the live ones): every table whose chains it shares with
    /// `base`'s model keeps the facts `base` found for it, and only the others are looked at.
    pub fn what_if<'b: 'm>(model: &'m Model, base: &Net<'b>) -> Net<'m> {
        let known: Vec<TableFacts<'m>> = base.tables.iter().map(TableFacts::clone).collect();
        Net::sharing(model, &known)
    }

    fn sharing(model: &'m Model, known: &[TableFacts<'m>]) -> Net<'m> {
        // Other runtimes' bridges (Podman's cni-podman0, lxdbr0, ...) are bridges too: no
        // client outside comes from their subnets, and the outside interface is none of them.
        let bridges = (model.bridges.iter().map(|b| (&b.name, &b.subnets)))
            .chain(model.other_bridges.iter().map(|b| (&b.name, &b.subnets)))
            .map(|(n, s)| (n.clone(), s.clone()))
            .collect();
        let local_addrs = model
            .interfaces
            .iter()
            .flatten()
            .flat_map(|i| i.addrs.iter().map(|a| a.addr()))
            .collect();
        let tables = TableFacts::of_tables(&model.tables, known);
        let base = model.base_chains();
        let mut hooks = Vec::new();
        for family in [Family::Ip, Family::Ip6] {
            for hook in [
                Hook::Prerouting,
                Hook::Input,
                Hook::Forward,
                Hook::Output,
                Hook::Postrouting,
            ] {
                hooks.push(((family, hook), model.hook_chains_from(&base, family, hook)));
            }
        }
        Net {
            model,
            bridges,
            local_addrs,
            hooks,
            indexes: (tables.iter())
                .flat_map(|t| &t.indexes)
                .map(|(chain, index)| (*chain as *const Chain, index.clone()))
                .collect(),
            tables,
            steps_made: Cell::new(0),
        }
    }

    /// Rule evaluations the last [`Net::trace`] made, forks' work included.
    pub fn last_trace_steps(&self) -> u64 {
        self.steps_made.get().min(STEP_BUDGET)
    }

    /// The loop `table`'s chain `chain` (an index) is on, when it is on one.
    fn loop_through(&self, table: &Table, chain: usize) -> Option<String> {
        let facts = self
            .tables
            .iter()
            .find(|f| f.chains == chains_address(table))?;
        facts.loops.as_ref()?.describe(chain)
    }

    fn hook_chains(&self, family: Family, hook: Hook) -> Vec<ChainRef> {
        match self.hooks.iter().find(|(k, _)| *k == (family, hook)) {
            Some((_, chains)) => chains.clone(),
            None => self.model.hook_chains(family, hook),
        }
    }

    /// The host's outside interface and address for `family`: the first interface that is not
    /// `lo` or a Docker bridge/veth, with a global address of that family.
    pub fn outside_address(&self, family: Family) -> Option<(String, IpAddr)> {
        self.model.interfaces.iter().flatten().find_map(|i| {
            if i.name == "lo" || self.is_bridge_iface(&i.name) {
                return None;
            }
            i.addrs
                .iter()
                .map(|a| a.addr())
                .find(|a| {
                    a.is_ipv6() == (family == Family::Ip6)
                        && !a.is_loopback()
                        && !matches!(a, IpAddr::V6(v6) if (v6.segments()[0] & 0xffc0) == 0xfe80)
                })
                .map(|a| (i.name.clone(), a))
        })
    }

    /// The host's outside interface of `family` when there is exactly one (not `lo`, not a
    /// bridge, with an address of that family).
    fn only_outside_interface(&self, family: Family) -> Option<String> {
        let mut names = self.model.interfaces.iter().flatten().filter(|i| {
            i.name != "lo"
                && !self.is_bridge_iface(&i.name)
                && i.addrs.iter().any(|a| {
                    let a = a.addr();
                    a.is_ipv6() == (family == Family::Ip6) && !a.is_loopback()
                })
        });
        let first = names.next()?;
        names.next().is_none().then(|| first.name.clone())
    }

    /// The source address the host gives its own connection to `dst`: its address on the
    /// bridge `dst` is on, else its outside address of that family.
    pub fn source_for(&self, dst: IpAddr) -> Option<IpAddr> {
        let on_bridge = self.bridges.iter().find_map(|(_, nets)| {
            let net = nets.iter().find(|n| n.contains(&dst))?;
            self.local_addrs.iter().copied().find(|a| net.contains(a))
        });
        let family = if dst.is_ipv6() {
            Family::Ip6
        } else {
            Family::Ip
        };
        on_bridge.or_else(|| self.outside_address(family).map(|o| o.1))
    }

    fn bridge_for(&self, addr: IpAddr) -> Option<&str> {
        self.bridges
            .iter()
            .find(|(_, nets)| nets.iter().any(|n| n.contains(&addr)))
            .map(|(name, _)| name.as_str())
    }

    /// The interface a forwarded packet to `addr` leaves by: a Docker bridge, else the host
    /// interface (`ip-addr.json`) whose connected subnet holds it — Podman's `cni-podman0`,
    /// `lxdbr0`, `virbr0`, ... — else unknown.
    fn out_iface_for(&self, addr: IpAddr) -> Option<String> {
        if let Some(b) = self.bridge_for(addr) {
            return Some(b.to_string());
        }
        self.model
            .interfaces
            .iter()
            .flatten()
            .filter(|i| i.name != "lo")
            .find(|i| {
                i.addrs
                    .iter()
                    .any(|n| n.prefix_len() < n.max_prefix_len() && n.contains(&addr))
            })
            .map(|i| i.name.clone())
    }

    fn is_bridge_iface(&self, name: &str) -> bool {
        self.bridges.iter().any(|(b, _)| b == name)
            || name == "docker0"
            || name.starts_with("br-")
            || name.starts_with("veth")
    }

    /// Is `addr` one of the host's own (loopback included)?
    pub fn is_local(&self, addr: IpAddr) -> bool {
        addr.is_loopback() || self.local_addrs.contains(&addr)
    }

    /// Is this network one an outside client or the host's outside address can never be in?
    pub fn is_inside_only(&self, net: &IpNet) -> bool {
        let a = net.addr();
        a.is_loopback()
            || a.is_multicast()
            || self
                .bridges
                .iter()
                .any(|(_, nets)| nets.iter().any(|n| n.contains(net)))
    }

    /// Trace `flow` through all hooks, and find every independent reason it is dropped: after
    /// a drop the walk is repeated as if that base chain (or the kernel's forwarding switch)
    /// let the packet pass, until it gets through or nothing new drops it. The trace's steps
    /// are those of the last walk, so they show every DROP on the path; its verdict is the
    /// first blocker, and [`Trace::blockers`] lists them all in the order the packet meets
    /// them. A trace that gets through is checked against [`needs::missing`]: an ACCEPT from
    /// partial evidence is [`Verdict::Unseen`].
    pub fn trace(&self, flow: &Flow) -> Trace {
        // One budget for the whole trace, the walks past each blocker included.
        self.steps_made.set(0);
        let mut waived = Waived::default();
        let mut blockers = Vec::new();
        loop {
            let (mut t, blocker) = self.walk(flow, &waived);
            let again = blockers.len() < MAX_BLOCKERS
                && match blocker {
                    Some(Blocker::Rule(r)) if !waived.rules.contains(&r) => {
                        waived.rules.push(r);
                        true
                    }
                    Some(Blocker::Policy(c)) if !waived.policies.contains(&c) => {
                        waived.policies.push(c);
                        true
                    }
                    Some(Blocker::Forwarding) if !waived.forwarding => {
                        waived.forwarding = true;
                        true
                    }
                    _ => false,
                };
            if again {
                blockers.push(t.verdict.clone());
                continue;
            }
            if matches!(t.verdict, Verdict::Accept { .. }) && !t.missing.is_empty() {
                t.verdict = Verdict::Unseen {
                    missing: t.missing.clone(),
                };
            }
            if let Some(first) = blockers.first() {
                let rest = std::mem::replace(&mut t.verdict, first.clone());
                t.beyond_blockers = Some(Box::new(rest));
            }
            t.blockers = blockers;
            return t;
        }
    }

    /// One walk of `flow` through the hooks, with the `waived` blockers letting it pass.
    /// Returns the trace and what dropped it, if anything did.
    fn walk(&self, flow: &Flow, waived: &Waived) -> (Trace, Option<Blocker>) {
        let mut pkt = Packet::from_flow(flow);
        let mut walk = PathWalk {
            steps: Vec::new(),
            pending_unknown: None,
            crossed: Vec::new(),
        };
        let family = flow.family;

        let hooks_before_route: &[Hook] = if flow.local_origin {
            &[Hook::Output]
        } else {
            &[Hook::Prerouting]
        };
        // The host's own packet is routed before OUTPUT (and again after a DNAT there): its
        // chains see the output interface, `lo` to the host itself (firewalld's
        // `oifname "lo" accept`).
        if flow.local_origin && !(flow.to_outside && pkt.dst.is_none()) {
            pkt.out_iface = self.local_out_iface(&pkt);
        }
        for &hook in hooks_before_route {
            if let Some(b) = self.run_hook(family, hook, &mut pkt, &mut walk, waived) {
                return self.finish(flow, walk, None, &pkt, Some(b));
            }
        }
        let route = if flow.to_outside && pkt.dst.is_none() {
            // Back to the client outside: out of the host's one outside interface, when
            // ip-addr.json shows exactly one (with several, the client's is not known).
            Route::Forward {
                out_iface: self.only_outside_interface(family),
            }
        } else {
            self.route(&pkt)
        };
        pkt.out_iface = match &route {
            Route::Local => Some("lo".to_string()).filter(|_| flow.local_origin),
            Route::Forward { out_iface } => out_iface.clone(),
        };
        // The host's own packet to itself comes in on lo.
        if flow.local_origin && route == Route::Local {
            pkt.in_iface = Some("lo".to_string());
        }
        // The kernel checks forwarding before the FORWARD hook runs.
        if matches!(route, Route::Forward { .. }) && !flow.local_origin && !waived.forwarding {
            let key = crate::model::coverage::forwarding_sysctl(family);
            if self.model.sysctl(key) == Some("0") {
                let v = Verdict::KernelDrop {
                    reason: format!("the kernel does not forward: {key} = 0"),
                };
                return self.finish(
                    flow,
                    walk,
                    Some(route),
                    &pkt,
                    Some((v, Blocker::Forwarding)),
                );
            }
        }
        let next: &[Hook] = match (&route, flow.local_origin) {
            (Route::Local, false) => &[Hook::Input],
            (Route::Local, true) => &[Hook::Postrouting, Hook::Input],
            (Route::Forward { .. }, false) => &[Hook::Forward, Hook::Postrouting],
            (Route::Forward { .. }, true) => &[Hook::Postrouting],
        };
        for &hook in next {
            if let Some(b) = self.run_hook(family, hook, &mut pkt, &mut walk, waived) {
                return self.finish(flow, walk, Some(route), &pkt, Some(b));
            }
        }
        self.finish(flow, walk, Some(route), &pkt, None)
    }

    fn finish(
        &self,
        flow: &Flow,
        walk: PathWalk,
        route: Option<Route>,
        pkt: &Packet,
        dropped: Option<(Verdict, Blocker)>,
    ) -> (Trace, Option<Blocker>) {
        let forwarded = matches!(route, Some(Route::Forward { .. })) && !flow.local_origin;
        let missing = needs::missing(self.model, flow.family, &walk.crossed, forwarded);
        let (verdict, blocker) = match dropped {
            Some((v, b)) => (v, Some(b)),
            None => (
                walk.pending_unknown.unwrap_or(Verdict::Accept { by: None }),
                None,
            ),
        };
        let trace = Trace {
            steps: walk.steps,
            route,
            final_dst: Some((pkt.dst, pkt.dport)),
            verdict,
            blockers: Vec::new(),
            missing,
            beyond_blockers: None,
        };
        (trace, blocker)
    }

    /// The output interface of a packet the host sends, as routed before OUTPUT.
    fn local_out_iface(&self, pkt: &Packet) -> Option<String> {
        match self.route(pkt) {
            Route::Local => Some("lo".to_string()),
            Route::Forward { out_iface } => out_iface,
        }
    }

    fn route(&self, pkt: &Packet) -> Route {
        match pkt.dst {
            None => Route::Local,
            Some(a) if self.is_local(a) => Route::Local,
            Some(a) => Route::Forward {
                out_iface: self.out_iface_for(a),
            },
        }
    }

    /// Run every base chain on `hook`. Returns the first drop by a base chain that is not
    /// waived, with that chain.
    fn run_hook(
        &self,
        family: Family,
        hook: Hook,
        pkt: &mut Packet,
        walk: &mut PathWalk,
        waived: &Waived,
    ) -> Option<(Verdict, Blocker)> {
        walk.crossed.push(hook);
        let mut nat_done = false;
        // After a drop the remaining base chains of the hook still run here: same-priority order
        // is undefined, so the report shows what every stack says on this hook.
        let mut dropped: Option<(Verdict, Blocker)> = None;
        for cref in self.hook_chains(family, hook) {
            let table = self.model.table(cref);
            let chain = self.model.chain(cref);
            let base = chain.base.as_ref()?;
            let is_nat = base.chain_type == ChainType::Nat;
            if is_nat && (pkt.state != CtState::New || nat_done) {
                continue;
            }
            let before = (pkt.dst, pkt.dport);
            let mut run = ChainRun {
                net: self,
                table,
                base: chain,
                policy: base.policy,
                matched: Vec::new(),
                walk: Walk::default(),
                waived,
                policy_waived: waived.policies.contains(&cref),
                passed: Vec::new(),
            };
            let verdict = run.base_chain(pkt);
            let rewrote = if (pkt.dst, pkt.dport) != before {
                if is_nat {
                    nat_done = true;
                }
                // A DNAT on OUTPUT re-routes the host's packet.
                if hook == Hook::Output && !(pkt.dst_outside && pkt.dst.is_none()) {
                    pkt.out_iface = self.local_out_iface(pkt);
                }
                Some(match pkt.dst {
                    Some(a) => format!("{}:{}", a, pkt.dport),
                    None => format!("host:{}", pkt.dport),
                })
            } else {
                None
            };
            walk.steps.push(ChainStep {
                hook,
                priority: base.priority,
                stack: table.stack,
                table: table.name.clone(),
                chain: chain.name.to_string(),
                verdict: verdict.clone(),
                matched: run.matched,
                passed: run.passed,
                rewrote,
            });
            match verdict {
                Verdict::Drop { ref by } => {
                    if dropped.is_none() {
                        let blocker = if by.is_policy() {
                            Blocker::Policy(cref)
                        } else {
                            Blocker::Rule(by.clone())
                        };
                        dropped = Some((verdict, blocker));
                    }
                }
                Verdict::KernelDrop { .. } => {}
                Verdict::Unknown { .. } | Verdict::Unseen { .. } => {
                    if walk.pending_unknown.is_none() {
                        walk.pending_unknown = Some(verdict);
                    }
                }
                Verdict::Accept { .. } => {}
            }
        }
        dropped
    }
}

/// What dropped a walk: a rule, a base chain's policy, or the kernel's forwarding switch.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Blocker {
    Rule(RuleRef),
    Policy(ChainRef),
    Forwarding,
}

/// The blockers a walk lets pass, to find the next one: a waived rule is walked past as if it
/// did not match, a waived policy accepts.
#[derive(Debug, Default)]
struct Waived {
    rules: Vec<RuleRef>,
    policies: Vec<ChainRef>,
    forwarding: bool,
}

/// How many blockers one trace names at most; a ruleset with more drops on one path gets the
/// first ones (the walk past each costs a walk).
const MAX_BLOCKERS: usize = 16;

/// One walk's record as it goes, hook after hook.
struct PathWalk {
    steps: Vec<ChainStep>,
    /// The first base chain whose verdict could not be decided.
    pending_unknown: Option<Verdict>,
    /// The hooks the packet crossed, in order.
    crossed: Vec<Hook>,
}

/// The packet as it moves: addresses may be rewritten by DNAT.
#[derive(Debug, Clone, PartialEq)]
struct Packet {
    /// `Ip` or `Ip6`: decides matches that test the other family's header.
    family: Family,
    proto: String,
    src: Option<IpAddr>,
    dst: Option<IpAddr>,
    sport: Option<u16>,
    dport: u16,
    orig_dst: Option<IpAddr>,
    orig_dport: u16,
    /// `dst == None` means the outside client rather than the host.
    dst_outside: bool,
    in_iface: Option<String>,
    out_iface: Option<String>,
    state: CtState,
    dnatted: bool,
}

impl Packet {
    fn from_flow(f: &Flow) -> Packet {
        Packet {
            family: f.family,
            proto: f.proto.to_ascii_lowercase(),
            src: f.src,
            dst: f.dst,
            sport: f.sport,
            dport: f.dport,
            orig_dst: f.dst,
            orig_dport: f.dport,
            dst_outside: f.to_outside,
            in_iface: if f.local_origin {
                None
            } else {
                f.in_iface.clone()
            },
            out_iface: None,
            state: f.state,
            dnatted: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tri<'r> {
    Yes,
    No,
    Unknown(Why<'r>),
}

/// Why a match could not be decided. Worded only when it decides a verdict: most undecided
/// matches (kube-proxy's `-m statistic`, `-m mark`) sit in rules another match rules out.
#[derive(Debug, Clone, PartialEq)]
enum Why<'r> {
    Unmodelled(&'r crate::model::Text),
    Said(String),
}

impl Why<'_> {
    fn text(&self) -> String {
        match self {
            Why::Unmodelled(t) => format!("match `{t}` is not modelled"),
            Why::Said(s) => s.clone(),
        }
    }
}

impl<'r> Tri<'r> {
    fn from_bool(b: bool) -> Tri<'r> {
        if b { Tri::Yes } else { Tri::No }
    }
    fn unknown(why: impl Into<String>) -> Tri<'r> {
        Tri::Unknown(Why::Said(why.into()))
    }
    fn negate_if(self, neg: bool) -> Tri<'r> {
        match (self, neg) {
            (Tri::Yes, true) => Tri::No,
            (Tri::No, true) => Tri::Yes,
            (t, _) => t,
        }
    }
}

const MAX_DEPTH: usize = 64;

/// How deep undecidable rules may nest: each one the engine follows both ways is a recursion of
/// [`ChainRun::run`], so this bounds the thread's stack, as [`MAX_DEPTH`] bounds the jumps.
const MAX_FORK_NESTING: usize = 64;

/// Rule evaluations one trace may make, across every base chain and both ways of every
/// undecidable rule (each counting [`FORK_STEPS`]). A trace of a Docker port through a
/// 250k-rule kube-proxy ruleset makes about 34k walking every rule, far fewer with
/// [`RuleIndex`] (the scale benchmark prints the count), so this is far above what a real
/// ruleset needs, and bounds a hostile one (a tree of undecidable jumps that doubles at each
/// level) to tens of milliseconds.
pub const STEP_BUDGET: u64 = 1_000_000;

/// What following an undecidable rule both ways counts against [`STEP_BUDGET`]: it copies the
/// walk (the call stack and the packet) for each way, which costs about as much as this many
/// rule evaluations. So the budget bounds time, whether a ruleset walks long chains or forks.
const FORK_STEPS: u64 = 50;

/// One chain being run: the chain and the index of its next rule.
#[derive(Clone, Copy)]
struct Frame<'a> {
    chain: &'a Chain,
    next: usize,
    /// The chain a jump entered: differs from `chain` after a goto, whose chain returns on
    /// the jumped-to chain's behalf.
    entry: &'a Chain,
    /// The chain was entered at its first rule and has followed no undecidable rule both ways
    /// since: if it returns, it returns for every packet like this one (see [`Walk::returns`]).
    clean: bool,
}

impl<'a> Frame<'a> {
    fn enter(chain: &'a Chain) -> Frame<'a> {
        Frame {
            chain,
            next: 0,
            entry: chain,
            clean: true,
        }
    }
}

/// What a matched rule's action does to the walk.
enum Step {
    /// Go on with the next rule.
    Next,
    /// The base chain's verdict is decided.
    Done(Verdict),
}

/// The state of one base chain's walk that outlives a single rule.
#[derive(Default)]
struct Walk<'a> {
    /// The rules that matched on the way, as [`ChainStep::matched`] lists them.
    hits: Vec<(&'a Chain, &'a Rule)>,
    /// Chains (by address) whose walk returned, with no undecidable rule on the way: called
    /// again, they return again (the packet only changes at a final verdict), so the walk
    /// skips them. A chain called twice per level of a tree of jumps is walked once.
    returns: HashSet<*const Chain>,
    /// Undecidable rules being followed both ways, one inside the other.
    fork_nesting: usize,
    /// For each long chain entered, the positions of the rules this packet may match
    /// ([`RuleIndex::candidates`]: the packet's destination only changes at a final verdict).
    candidates: HashMap<*const Chain, Vec<u32>>,
}

/// Runs one base chain. The call stack of jumps is explicit, so an undecidable match can be
/// followed both ways to the end of the *base* chain, where the two outcomes are compared.
struct ChainRun<'a, 'm> {
    net: &'a Net<'m>,
    table: &'a Table,
    base: &'a Chain,
    policy: Policy,
    /// Filled from [`Walk::hits`] when the base chain's verdict is known.
    matched: Vec<RuleRef>,
    walk: Walk<'a>,
    /// The blockers earlier walks found, which this one walks past.
    waived: &'a Waived,
    policy_waived: bool,
    /// The waived drops this run met.
    passed: Vec<RuleRef>,
}

impl<'a> ChainRun<'a, '_> {
    fn base_chain(&mut self, pkt: &mut Packet) -> Verdict {
        let stack = vec![Frame::enter(self.base)];
        let verdict = self.run(stack, pkt);
        self.matched = (self.walk.hits.iter())
            .map(|&(chain, rule)| RuleRef::rule(self.table, chain, rule))
            .collect();
        verdict
    }

    fn policy_verdict(&mut self) -> Verdict {
        match self.policy {
            Policy::Accept => Verdict::Accept { by: None },
            Policy::Drop if self.policy_waived => {
                let by = RuleRef::policy(self.table, self.base, Policy::Drop);
                if !self.passed.contains(&by) {
                    self.passed.push(by);
                }
                Verdict::Accept { by: None }
            }
            Policy::Drop => Verdict::Drop {
                by: RuleRef::policy(self.table, self.base, Policy::Drop),
            },
        }
    }

    /// The top chain returns to its caller; remembered when it returns for every such packet.
    fn pop(&mut self, stack: &mut Vec<Frame<'a>>) {
        if let Some(f) = stack.pop()
            && f.clean
        {
            self.walk.returns.insert(f.chain);
            self.walk.returns.insert(f.entry);
        }
    }

    /// Count `steps` more rule evaluations at `rule`; the verdict to end with when the trace
    /// has made too many.
    fn spend_steps(&self, steps: u64, chain: &Chain, rule: &Rule) -> Option<Verdict> {
        let made = self.net.steps_made.get() + steps;
        if made > STEP_BUDGET {
            // One past the budget marks the trace as stopped (see `out_of_steps`).
            self.net.steps_made.set(STEP_BUDGET + 1);
            return Some(Verdict::Unknown {
                by: RuleRef::rule(self.table, chain, rule),
                reason: format!(
                    "the trace stopped after {STEP_BUDGET} rule evaluations: the jumps from here \
                     branch into more paths than fwdoctor follows"
                ),
            });
        }
        self.net.steps_made.set(made);
        None
    }

    /// The trace ran out of rule evaluations: every verdict from here on says so.
    fn out_of_steps(&self) -> bool {
        self.net.steps_made.get() > STEP_BUDGET
    }

    /// The position of the first rule from `next` on in `chain` that `pkt` may match.
    fn next_candidate(&mut self, chain: &Chain, next: usize, pkt: &Packet) -> usize {
        if chain.rules.len() < INDEXED_FROM {
            return next;
        }
        let Some(index) = self.net.indexes.get(&(chain as *const Chain)) else {
            return next;
        };
        let candidates = (self.walk.candidates)
            .entry(chain)
            .or_insert_with(|| index.candidates(pkt));
        let i = candidates.partition_point(|&c| (c as usize) < next);
        candidates.get(i).map_or(chain.rules.len(), |&c| c as usize)
    }

    /// Walk from the top frame until the base chain's verdict is known.
    fn run(&mut self, mut stack: Vec<Frame<'a>>, pkt: &mut Packet) -> Verdict {
        loop {
            let Some(&Frame { chain, next, .. }) = stack.last() else {
                return self.policy_verdict();
            };
            let at = self.next_candidate(chain, next, pkt);
            let Some(rule) = chain.rules.get(at) else {
                self.pop(&mut stack);
                continue;
            };
            if let Some(top) = stack.last_mut() {
                top.next = at + 1;
            }
            if let Some(v) = self.spend_steps(1, chain, rule) {
                return v;
            }
            match self.eval_matches(rule, pkt) {
                Tri::No => {}
                Tri::Yes => {
                    if let Step::Done(v) = self.apply(&rule.action, chain, rule, &mut stack, pkt) {
                        return v;
                    }
                }
                Tri::Unknown(reason) => {
                    if matches!(rule.action, Action::Continue { .. }) {
                        continue;
                    }
                    return self.fork(chain, rule, stack, pkt, reason);
                }
            }
        }
    }

    /// A rule whose match the engine cannot decide: follow both outcomes to the end of the base
    /// chain; a verdict only if they agree.
    fn fork(
        &mut self,
        chain: &'a Chain,
        rule: &'a Rule,
        mut stack: Vec<Frame<'a>>,
        pkt: &mut Packet,
        reason: Why<'a>,
    ) -> Verdict {
        let table = self.table;
        let unknown = || Verdict::Unknown {
            by: RuleRef::rule(table, chain, rule),
            reason: reason.text(),
        };
        if self.walk.fork_nesting >= MAX_FORK_NESTING {
            return unknown();
        }
        if let Some(v) = self.spend_steps(FORK_STEPS, chain, rule) {
            return v;
        }
        // The chains under way return, if they do, only on one of the two outcomes.
        for f in &mut stack {
            f.clean = false;
        }
        self.walk.fork_nesting += 1;
        let mark = self.walk.hits.len();
        let mut taken_pkt = pkt.clone();
        let mut taken_stack = stack.clone();
        let taken = match self.apply(&rule.action, chain, rule, &mut taken_stack, &mut taken_pkt) {
            Step::Done(v) => v,
            Step::Next => self.run(taken_stack, &mut taken_pkt),
        };
        self.walk.hits.truncate(mark);
        // Out of steps: the verdict says so, not that this rule was undecidable.
        if self.out_of_steps() {
            self.walk.fork_nesting -= 1;
            return taken;
        }
        let mut skipped_pkt = pkt.clone();
        let skipped = self.run(stack, &mut skipped_pkt);
        self.walk.fork_nesting -= 1;
        if self.out_of_steps() {
            return skipped;
        }
        let agree = match (&taken, &skipped) {
            (Verdict::Accept { .. }, Verdict::Accept { .. }) => true,
            (a, b) => a == b,
        };
        if agree && taken_pkt == skipped_pkt {
            *pkt = skipped_pkt;
            skipped
        } else {
            self.walk.hits.truncate(mark);
            unknown()
        }
    }

    /// Apply a matched rule's action.
    fn apply(
        &mut self,
        action: &'a Action,
        chain: &'a Chain,
        rule: &'a Rule,
        stack: &mut Vec<Frame<'a>>,
        pkt: &mut Packet,
    ) -> Step {
        let here = || RuleRef::rule(self.table, chain, rule);
        match action {
            Action::Continue { .. } => Step::Next,
            Action::Accept | Action::Snat | Action::Masquerade => {
                self.walk.hits.push((chain, rule));
                Step::Done(Verdict::Accept { by: Some(here()) })
            }
            Action::Drop | Action::Reject => {
                let by = here();
                if self.waived.rules.contains(&by) {
                    if !self.passed.contains(&by) {
                        self.passed.push(by);
                    }
                    return Step::Next;
                }
                self.walk.hits.push((chain, rule));
                Step::Done(Verdict::Drop { by })
            }
            Action::Return => {
                self.walk.hits.push((chain, rule));
                self.pop(stack);
                Step::Next
            }
            Action::Jump { chain: target, at } | Action::Goto { chain: target, at } => {
                self.walk.hits.push((chain, rule));
                let Some(index) = self.table.jump_target(target, *at) else {
                    return Step::Done(Verdict::Unknown {
                        by: here(),
                        reason: format!("jump to chain {target}, which the capture does not have"),
                    });
                };
                if let Some(cycle) = self.net.loop_through(self.table, index) {
                    return Step::Done(Verdict::Unknown {
                        by: here(),
                        reason: format!(
                            "chain {target} is on a loop of jumps ({cycle}): the kernel refuses \
                             to load such a ruleset, so this evidence is malformed"
                        ),
                    });
                }
                let callee = &self.table.chains[index];
                let goto = matches!(action, Action::Goto { .. });
                if self.walk.returns.contains(&(callee as *const Chain)) {
                    // It returns: a jump goes on here, a goto returns from this chain too.
                    if goto {
                        self.pop(stack);
                    }
                    return Step::Next;
                }
                if stack.len() > MAX_DEPTH {
                    return Step::Done(Verdict::Unknown {
                        by: here(),
                        reason: format!("jumps nest deeper than {MAX_DEPTH}"),
                    });
                }
                let mut frame = Frame::enter(callee);
                // A goto's chain returns to our caller, not to us.
                if goto && let Some(replaced) = stack.pop() {
                    frame.entry = replaced.entry;
                    frame.clean = replaced.clean;
                }
                stack.push(frame);
                Step::Next
            }
            Action::Dnat { addr, port } => {
                self.walk.hits.push((chain, rule));
                if let Some(a) = addr {
                    pkt.dst = Some(*a);
                }
                if let Some((p, _)) = port {
                    pkt.dport = *p;
                }
                pkt.dnatted = true;
                Step::Done(Verdict::Accept { by: Some(here()) })
            }
            Action::Redirect { port } => {
                self.walk.hits.push((chain, rule));
                pkt.dst = None;
                if let Some((p, _)) = port {
                    pkt.dport = *p;
                }
                pkt.dnatted = true;
                Step::Done(Verdict::Accept { by: Some(here()) })
            }
            Action::VerdictMap { key, entries } => {
                let value = match key {
                    VmapKey::Iifname => pkt.in_iface.as_deref(),
                    VmapKey::Oifname => pkt.out_iface.as_deref(),
                    VmapKey::Other => {
                        return Step::Done(Verdict::Unknown {
                            by: here(),
                            reason: "verdict map on a key the engine does not model".into(),
                        });
                    }
                };
                let entry = match value {
                    Some(v) => entries.iter().find(|(k, _)| k == v),
                    // The host's outside interface: never one of Docker's bridges.
                    None if entries.iter().all(|(k, _)| self.net.is_bridge_iface(k)) => None,
                    None => {
                        return Step::Done(Verdict::Unknown {
                            by: here(),
                            reason: "verdict map keyed on the outside interface, whose name the capture does not give".into(),
                        });
                    }
                };
                match entry {
                    None => Step::Next,
                    Some((_, a)) => self.apply(a, chain, rule, stack, pkt),
                }
            }
            Action::Unknown { text } => Step::Done(Verdict::Unknown {
                by: here(),
                reason: format!("target {text} is not modelled"),
            }),
        }
    }

    fn eval_matches<'r>(&self, rule: &'r Rule, pkt: &Packet) -> Tri<'r> {
        let mut unknown: Option<Why<'r>> = None;
        for m in &rule.matches {
            match self.eval(m, pkt) {
                Tri::No => return Tri::No,
                Tri::Yes => {}
                Tri::Unknown(r) => {
                    unknown.get_or_insert(r);
                }
            }
        }
        match unknown {
            Some(r) => Tri::Unknown(r),
            None => Tri::Yes,
        }
    }

    fn eval<'r>(&self, m: &'r Match, pkt: &Packet) -> Tri<'r> {
        match m {
            Match::Comment { .. } => Tri::Yes,
            Match::Family { negated, family } => {
                Tri::from_bool(*family == pkt.family).negate_if(*negated)
            }
            // Some unmodelled matches test a header this packet does not have: decided false
            // (the list is in analyze::decided).
            Match::Unknown { text } if decided::cannot_apply(text, pkt.family, &pkt.proto) => {
                Tri::No
            }
            Match::Unknown { text }
                if let Some(hit) = decided::tcp_flags(text, &pkt.proto, pkt.state) =>
            {
                Tri::from_bool(hit)
            }
            Match::Unknown { text } => match self.ipset_match(text, pkt) {
                Some(t) => t,
                None => Tri::Unknown(Why::Unmodelled(text)),
            },
            Match::Proto { negated, proto } => Tri::from_bool(
                proto.eq_ignore_ascii_case("all")
                    || *proto == "0"
                    || proto.eq_ignore_ascii_case(&pkt.proto),
            )
            .negate_if(*negated),
            Match::Iface {
                dir,
                negated,
                names,
            } => {
                let value = match dir {
                    Dir::Src => &pkt.in_iface,
                    Dir::Dst => &pkt.out_iface,
                };
                let t = match value {
                    Some(v) => Tri::from_bool(names.iter().any(|n| iface_matches(n, v))),
                    None => {
                        if names.iter().all(|n| {
                            n == "lo"
                                || self.net.is_bridge_iface(n.trim_end_matches('+'))
                                || n == "docker+"
                                || n == "br-+"
                                || n == "veth+"
                        }) {
                            Tri::No
                        } else if names.iter().any(|n| n == "+") {
                            Tri::Yes
                        } else {
                            Tri::unknown(format!(
                                "depends on the name of the host's outside interface ({})",
                                names.join(",")
                            ))
                        }
                    }
                };
                t.negate_if(*negated)
            }
            Match::Addr { dir, negated, nets } => {
                let (value, client) = match dir {
                    Dir::Src => (pkt.src, !pkt.dst_outside),
                    Dir::Dst => (pkt.dst, pkt.dst_outside),
                };
                let who = if client { Dir::Src } else { Dir::Dst };
                self.addr_in(pkt.family, value, nets, who)
                    .negate_if(*negated)
            }
            Match::CtOrigDst { negated, nets } => self
                .addr_in(pkt.family, pkt.orig_dst, nets, Dir::Dst)
                .negate_if(*negated),
            Match::Port {
                dir,
                negated,
                ranges,
            } => {
                if !matches!(pkt.proto.as_str(), "tcp" | "udp" | "sctp" | "udplite") {
                    return Tri::No;
                }
                let t = match dir {
                    Dir::Dst => Tri::from_bool(in_ranges(pkt.dport, ranges)),
                    Dir::Src => match pkt.sport {
                        Some(p) => Tri::from_bool(in_ranges(p, ranges)),
                        None => {
                            if ranges.iter().any(|&(a, b)| a <= 1024 && b == 65535) {
                                Tri::Yes
                            } else if ranges.iter().all(|&(_, b)| b < 1024) {
                                Tri::No
                            } else {
                                Tri::unknown("depends on the client's source port")
                            }
                        }
                    },
                };
                t.negate_if(*negated)
            }
            Match::CtOrigDstPort { negated, ranges } => {
                Tri::from_bool(in_ranges(pkt.orig_dport, ranges)).negate_if(*negated)
            }
            Match::CtState { negated, states } => {
                let hit = states.iter().any(|s| match s {
                    CtState::Dnat => pkt.dnatted,
                    CtState::Snat => false,
                    s => *s == pkt.state,
                });
                Tri::from_bool(hit).negate_if(*negated)
            }
            Match::AddrType {
                dir,
                negated,
                types,
            } => {
                let (addr, outside_client) = match dir {
                    Dir::Src => (pkt.src, !pkt.dst_outside),
                    Dir::Dst => (pkt.dst, pkt.dst_outside),
                };
                let actual = match addr {
                    Some(a) if self.net.is_local(a) => AddrType::Local,
                    Some(a) if a.is_multicast() => AddrType::Multicast,
                    Some(_) => AddrType::Unicast,
                    None if outside_client => AddrType::Unicast,
                    None => AddrType::Local,
                };
                let hit = types.iter().any(|t| {
                    *t == actual || (*t == AddrType::Unicast && actual == AddrType::Local)
                });
                Tri::from_bool(hit).negate_if(*negated)
            }
        }
    }

    /// `-m set [!] --match-set NAME src|dst` on an address set `ipset-save.txt` showed:
    /// judged like `-s`/`-d` with the set's entries. None when it is not that form, or the set
    /// was not captured or holds more than addresses.
    fn ipset_match(&self, text: &str, pkt: &Packet) -> Option<Tri<'static>> {
        let words: Vec<&str> = text.split_whitespace().collect();
        let (negated, name, dir) = match words.as_slice() {
            ["-m", "set", "--match-set", name, dir] => (false, *name, *dir),
            ["-m", "set", "!", "--match-set", name, dir] => (true, *name, *dir),
            _ => return None,
        };
        let set = self
            .net
            .model
            .ipsets
            .as_ref()?
            .iter()
            .find(|s| s.name == name && s.addresses)?;
        let (value, client) = match dir {
            "src" => (pkt.src, !pkt.dst_outside),
            "dst" => (pkt.dst, pkt.dst_outside),
            _ => return None,
        };
        let who = if client { Dir::Src } else { Dir::Dst };
        Some(
            self.addr_in(pkt.family, value, &set.entries, who)
                .negate_if(negated),
        )
    }

    /// Is the address in one of `nets`? Nets of the other family never hold a packet's
    /// address (an `inet` table's `ip6 saddr` on an IPv4 packet).
    fn addr_in(
        &self,
        family: Family,
        value: Option<IpAddr>,
        nets: &[IpNet],
        dir: Dir,
    ) -> Tri<'static> {
        let v6 = family == Family::Ip6;
        if !nets.is_empty() && nets.iter().all(|n| n.addr().is_ipv6() != v6) {
            return Tri::No;
        }
        match value {
            Some(a) => Tri::from_bool(nets.iter().any(|n| n.contains(&a))),
            None => {
                if nets.iter().all(|n| self.net.is_inside_only(n)) {
                    Tri::No
                } else if nets.iter().any(|n| n.prefix_len() == 0) {
                    Tri::Yes
                } else {
                    Tri::unknown(match dir {
                        Dir::Src => "depends on the client's address",
                        Dir::Dst => "depends on which host address the client uses",
                    })
                }
            }
        }
    }
}

/// A long chain's rules by what a packet must be to match them, so that a trace of one packet
/// evaluates only the rules that can match it: Docker's `DOCKER` chains hold one rule per
/// published port, kube-proxy's `KUBE-SERVICES` one per service, and a check traces every
/// port, so walking them whole would cost ports × rules.
struct RuleIndex {
    /// Rules that need none of the keys below, by position.
    unkeyed: Vec<u32>,
    /// Rules with a destination match on one host address and one on one port (Docker's
    /// `-d 172.17.0.2/32 ... --dport 80 -j ACCEPT`).
    by_addr_port: HashMap<(IpAddr, u16), Vec<u32>>,
    /// Rules with a destination match on one host address, and none on one port.
    by_addr: HashMap<IpAddr, Vec<u32>>,
    /// Rules without one but with a destination port match on one port (`--dport 8080`).
    by_port: HashMap<u16, Vec<u32>>,
}

/// Chains shorter than this are walked whole: the index would not pay for itself.
const INDEXED_FROM: usize = 32;

impl RuleIndex {
    fn build(chain: &Chain) -> RuleIndex {
        let mut index = RuleIndex {
            unkeyed: Vec::new(),
            by_addr_port: Default::default(),
            by_addr: Default::default(),
            by_port: Default::default(),
        };
        for (at, rule) in chain.rules.iter().enumerate() {
            let at = at as u32;
            let addr = rule.matches.iter().find_map(|m| match m {
                Match::Addr {
                    dir: Dir::Dst,
                    negated: false,
                    nets,
                } if nets.len() == 1 && nets[0].prefix_len() == nets[0].max_prefix_len() => {
                    Some(nets[0].addr())
                }
                _ => None,
            });
            let port = rule.matches.iter().find_map(|m| match m {
                Match::Port {
                    dir: Dir::Dst,
                    negated: false,
                    ranges,
                } if ranges.len() == 1 && ranges[0].0 == ranges[0].1 => Some(ranges[0].0),
                _ => None,
            });
            match (addr, port) {
                (Some(a), Some(p)) => index.by_addr_port.entry((a, p)).or_default().push(at),
                (Some(a), None) => index.by_addr.entry(a).or_default().push(at),
                (None, Some(p)) => index.by_port.entry(p).or_default().push(at),
                (None, None) => index.unkeyed.push(at),
            }
        }
        index
    }

    /// The positions of the rules `pkt` may match, in order: every other rule has a match that
    /// is false for it (another destination address or port), so the walk skips it.
    fn candidates(&self, pkt: &Packet) -> Vec<u32> {
        let mut out = self.unkeyed.clone();
        // A port match is false for a protocol without ports.
        let ports = matches!(pkt.proto.as_str(), "tcp" | "udp" | "sctp" | "udplite");
        match pkt.dst {
            Some(a) => {
                out.extend(self.by_addr.get(&a).into_iter().flatten());
                if ports {
                    out.extend(self.by_addr_port.get(&(a, pkt.dport)).into_iter().flatten());
                }
            }
            // The host's outside address: which one is symbolic, so every address rule may.
            None => {
                out.extend(self.by_addr.values().flatten());
                if ports {
                    let on_port = self
                        .by_addr_port
                        .iter()
                        .filter(|((_, p), _)| *p == pkt.dport);
                    out.extend(on_port.flat_map(|(_, rules)| rules));
                }
            }
        }
        if ports {
            out.extend(self.by_port.get(&pkt.dport).into_iter().flatten());
        }
        out.sort_unstable();
        out
    }
}

/// The address of a table's chains: the same for a clone that has not changed them.
fn chains_address(table: &Table) -> usize {
    &*table.chains as *const Vec<Chain> as usize
}

/// What a trace needs of one table, found once: a "what if" clone that keeps the table's
/// chains keeps these too ([`Net::what_if`]).
#[derive(Clone)]
struct TableFacts<'m> {
    /// [`chains_address`] of the table they are of.
    chains: usize,
    /// The chains that sit on a loop of jumps or gotos (None in a ruleset the kernel loaded:
    /// it refuses loops).
    loops: Option<TableLoops<'m>>,
    /// The long chains' rule indexes, by chain address.
    indexes: Vec<(usize, Arc<RuleIndex>)>,
}

impl<'m> TableFacts<'m> {
    /// The facts of every table, taken from `known` where it has them; the others are found
    /// on every core (a 100k-rule nat table takes several milliseconds, after every source is
    /// read: on the critical path of a live check).
    fn of_tables(tables: &'m [Table], known: &[TableFacts<'m>]) -> Vec<TableFacts<'m>> {
        let mut out = Vec::with_capacity(tables.len());
        let unknown: Vec<&'m Table> = (tables.iter())
            .filter(|t| !known.iter().any(|k| k.chains == chains_address(t)))
            .collect();
        // Two jobs a table, its loops and its indexes: a Kubernetes node's nat table holds
        // most of the work of both, and they then run side by side.
        let jobs: Vec<(&'m Table, bool)> = (unknown.iter())
            .flat_map(|&t| [(t, true), (t, false)])
            .collect();
        let mut halves: Vec<TableFacts<'m>> = Vec::with_capacity(jobs.len());
        let _ = crate::parse::parallel::for_each_in_order(
            &jobs,
            |&(t, loops)| {
                Ok::<_, std::convert::Infallible>(if loops {
                    TableFacts {
                        chains: chains_address(t),
                        loops: TableLoops::find(t),
                        indexes: Vec::new(),
                    }
                } else {
                    TableFacts {
                        chains: chains_address(t),
                        loops: None,
                        indexes: (t.chains.iter())
                            .filter(|c| c.rules.len() >= INDEXED_FROM)
                            .map(|c| (c as *const Chain as usize, Arc::new(RuleIndex::build(c))))
                            .collect(),
                    }
                })
            },
            |f| halves.push(f),
        );
        let mut halves = halves.into_iter();
        let mut found = std::iter::from_fn(|| {
            let (loops, indexes) = (halves.next()?, halves.next()?);
            Some(TableFacts {
                indexes: indexes.indexes,
                ..loops
            })
        });
        for t in tables {
            match known.iter().find(|k| k.chains == chains_address(t)) {
                Some(k) => out.push(k.clone()),
                None => out.extend(found.next()),
            }
        }
        out
    }
}

/// The chains of one table that sit on a loop of jumps or gotos: the strongly connected
/// components of its jump graph with more than one chain, or a chain that jumps to itself.
#[derive(Clone)]
struct TableLoops<'m> {
    table: &'m Table,
    /// (chain index, component), sorted by chain index.
    on_loop: Vec<(usize, usize)>,
}

impl<'m> TableLoops<'m> {
    /// The table's loops, or `None` when it has none (every table the kernel loaded).
    fn find(table: &'m Table) -> Option<TableLoops<'m>> {
        let edges = JumpGraph::of(table);
        let component = strongly_connected(&edges);
        let mut size = vec![0usize; edges.len()];
        for &c in &component {
            size[c] += 1;
        }
        let on_loop: Vec<(usize, usize)> = (0..edges.len())
            .filter(|&i| size[component[i]] > 1 || edges.from(i).contains(&(i as u32)))
            .map(|i| (i, component[i]))
            .collect();
        (!on_loop.is_empty()).then_some(TableLoops { table, on_loop })
    }

    fn component(&self, chain: usize) -> Option<usize> {
        self.on_loop
            .binary_search_by_key(&chain, |&(i, _)| i)
            .ok()
            .map(|at| self.on_loop[at].1)
    }

    /// `A -> B -> A`: the shortest loop through `chain`, when it is on one.
    fn describe(&self, chain: usize) -> Option<String> {
        let component = self.component(chain)?;
        // Breadth first from `chain` within its component, back to `chain`.
        let mut came_from: HashMap<usize, usize> = Default::default();
        let mut queue = VecDeque::from([chain]);
        let mut last = None;
        'search: while let Some(at) = queue.pop_front() {
            for r in &self.table.chains[at].rules {
                let mut next = Vec::new();
                jump_targets(&r.action, &mut |name, at| {
                    next.extend(self.table.jump_target(name, at))
                });
                for n in next {
                    if n == chain {
                        last = Some(at);
                        break 'search;
                    }
                    if self.component(n) == Some(component) && !came_from.contains_key(&n) {
                        came_from.insert(n, at);
                        queue.push_back(n);
                    }
                }
            }
        }
        let mut path = vec![chain];
        let mut at = last?;
        while at != chain {
            path.push(at);
            at = came_from[&at];
        }
        path.push(chain);
        let middle = path.len() - 1;
        path[1..middle].reverse();
        let names: Vec<&str> = path
            .iter()
            .map(|&i| self.table.chains[i].name.as_ref())
            .collect();
        Some(names.join(" -> "))
    }
}

/// A table's jumps and gotos, chain (by position) to chain, in two flat lists: a Kubernetes
/// node's nat table has tens of thousands of chains, and a list per chain was an allocation
/// each.
struct JumpGraph {
    /// `targets[starts[i]..starts[i + 1]]` are the chains chain `i` jumps or goes to.
    starts: Vec<u32>,
    targets: Vec<u32>,
}

impl JumpGraph {
    fn of(table: &Table) -> JumpGraph {
        let mut starts = Vec::with_capacity(table.chains.len() + 1);
        let mut targets = Vec::new();
        for c in table.chains.iter() {
            starts.push(targets.len() as u32);
            for r in &c.rules {
                jump_targets(&r.action, &mut |name, at| {
                    if let Some(i) = table.jump_target(name, at) {
                        targets.push(i as u32);
                    }
                });
            }
        }
        starts.push(targets.len() as u32);
        JumpGraph { starts, targets }
    }

    fn len(&self) -> usize {
        self.starts.len() - 1
    }

    fn from(&self, chain: usize) -> &[u32] {
        &self.targets[self.starts[chain] as usize..self.starts[chain + 1] as usize]
    }
}

/// The chains an action may jump or go to (a verdict map's entries included).
fn jump_targets<'a>(action: &'a Action, found: &mut impl FnMut(&'a str, ChainAt)) {
    match action {
        Action::Jump { chain, at } | Action::Goto { chain, at } => found(chain, *at),
        Action::VerdictMap { entries, .. } => {
            for (_, a) in entries {
                jump_targets(a, found);
            }
        }
        _ => {}
    }
}

/// Tarjan's strongly connected components, without recursion (a chain of jumps may be as long
/// as the table): each node's component number.
fn strongly_connected(edges: &JumpGraph) -> Vec<usize> {
    const UNSEEN: usize = usize::MAX;
    let n = edges.len();
    let mut index = vec![UNSEEN; n];
    let mut low = vec![0; n];
    let mut on_stack = vec![false; n];
    let mut component = vec![UNSEEN; n];
    let mut stack = Vec::new();
    let mut next_index = 0;
    let mut components = 0;
    // (node, next edge to follow)
    let mut work: Vec<(usize, usize)> = Vec::new();
    for root in 0..n {
        if index[root] != UNSEEN {
            continue;
        }
        work.push((root, 0));
        while let Some(&mut (v, ref mut edge)) = work.last_mut() {
            if *edge == 0 && index[v] == UNSEEN {
                index[v] = next_index;
                low[v] = next_index;
                next_index += 1;
                stack.push(v);
                on_stack[v] = true;
            }
            if let Some(&w) = edges.from(v).get(*edge) {
                let w = w as usize;
                *edge += 1;
                if index[w] == UNSEEN {
                    work.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
                continue;
            }
            work.pop();
            if let Some(&(parent, _)) = work.last() {
                low[parent] = low[parent].min(low[v]);
            }
            if low[v] == index[v] {
                while let Some(w) = stack.pop() {
                    on_stack[w] = false;
                    component[w] = components;
                    if w == v {
                        break;
                    }
                }
                components += 1;
            }
        }
    }
    component
}

fn in_ranges(p: u16, ranges: &[(u16, u16)]) -> bool {
    ranges.iter().any(|&(a, b)| a <= p && p <= b)
}

/// iptables interface matching: a trailing `+` matches any name with that prefix.
pub fn iface_matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('+') {
        Some(prefix) => name.starts_with(prefix),
        None => pattern == name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{BaseChain, Bridge, Rule};

    fn rule(matches: Vec<Match>, action: Action, text: &str) -> Rule {
        Rule {
            line: 1,
            text: text.into(),
            matches: matches.into(),
            action,
            counters: None,
            handle: None,
        }
    }

    fn base(hook: Hook, prio: i32, ty: ChainType, policy: Policy) -> Option<BaseChain> {
        Some(BaseChain {
            hook,
            priority: prio,
            chain_type: ty,
            policy,
            counters: None,
        })
    }

    /// Docker (classic) in iptables-nft, and a legacy filter table with FORWARD policy DROP.
    fn split_model(legacy_policy: Policy) -> Model {
        let mut nat = Table::new(
            Stack::IptablesNft,
            Family::Ip,
            "nat",
            "iptables-nft-save.txt",
        );
        nat.add_chain(Chain {
            name: "PREROUTING".into(),
            base: base(Hook::Prerouting, -100, ChainType::Nat, Policy::Accept),
            rules: vec![rule(
                vec![Match::AddrType {
                    dir: Dir::Dst,
                    negated: false,
                    types: vec![AddrType::Local].into(),
                }],
                Action::jump("DOCKER"),
                "-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER",
            )],
            line: 2,
        });
        nat.add_chain(Chain {
            name: "DOCKER".into(),
            base: None,
            rules: vec![rule(
                vec![
                    Match::Iface { dir: Dir::Src, negated: true, names: vec!["docker0".into()].into() },
                    Match::Proto { negated: false, proto: "tcp".into() },
                    Match::Port { dir: Dir::Dst, negated: false, ranges: vec![(8080, 8080)].into() },
                ],
                Action::Dnat { addr: Some("172.17.0.2".parse().unwrap()), port: Some((80, 80)) },
                "-A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80",
            )],
            line: 3,
        });
        let mut filter = Table::new(
            Stack::IptablesNft,
            Family::Ip,
            "filter",
            "iptables-nft-save.txt",
        );
        filter.add_chain(Chain {
            name: "FORWARD".into(),
            base: base(Hook::Forward, 0, ChainType::Filter, Policy::Drop),
            rules: vec![rule(
                vec![Match::Iface {
                    dir: Dir::Dst,
                    negated: false,
                    names: vec!["docker0".into()].into(),
                }],
                Action::jump("DOCKER"),
                "-A FORWARD -o docker0 -j DOCKER",
            )],
            line: 4,
        });
        filter.add_chain(Chain {
            name: "DOCKER".into(),
            base: None,
            rules: vec![rule(
                vec![
                    Match::Addr { dir: Dir::Dst, negated: false, nets: vec!["172.17.0.2/32".parse().unwrap()].into() },
                    Match::Proto { negated: false, proto: "tcp".into() },
                    Match::Port { dir: Dir::Dst, negated: false, ranges: vec![(80, 80)].into() },
                ],
                Action::Accept,
                "-A DOCKER -d 172.17.0.2/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 80 -j ACCEPT",
            )],
            line: 5,
        });
        let mut legacy = Table::new(
            Stack::Legacy,
            Family::Ip,
            "filter",
            "iptables-legacy-save.txt",
        );
        legacy.add_chain(Chain {
            name: "FORWARD".into(),
            base: base(Hook::Forward, 0, ChainType::Filter, legacy_policy),
            rules: vec![],
            line: 7,
        });
        Model {
            tables: vec![legacy, nat, filter],
            bridges: vec![Bridge {
                name: "docker0".into(),
                subnets: vec!["172.17.0.0/16".parse().unwrap()],
            }],
            ..Model::default()
        }
    }

    #[test]
    fn legacy_policy_drop_kills_what_nft_accepts() {
        let m = split_model(Policy::Drop);
        let t = Net::new(&m).trace(&Flow::from_outside(Family::Ip, "tcp", 8080));
        let by = t.dropped_by().expect("dropped");
        assert_eq!(by.stack, Stack::Legacy);
        assert_eq!(by.chain, "FORWARD");
        assert_eq!(by.rule, "policy DROP");
        let nft_forward = t
            .steps
            .iter()
            .find(|s| s.hook == Hook::Forward && s.stack == Stack::IptablesNft)
            .expect("nft forward step");
        assert!(matches!(nft_forward.verdict, Verdict::Accept { .. }));
        assert_eq!(
            t.route,
            Some(Route::Forward {
                out_iface: Some("docker0".into())
            })
        );
    }

    #[test]
    fn healthy_split_free_host_accepts() {
        let m = split_model(Policy::Accept);
        let t = Net::new(&m).trace(&Flow::from_outside(Family::Ip, "tcp", 8080));
        assert!(
            matches!(t.verdict, Verdict::Accept { .. }),
            "{:?}",
            t.verdict
        );
        assert_eq!(t.final_dst, Some((Some("172.17.0.2".parse().unwrap()), 80)));
    }

    /// `meta nfproto ipv6 drop` and `ip6 saddr` in an `inet` table decide by the packet's
    /// family: IPv4 passes, IPv6 is dropped, and neither is "unknown".
    #[test]
    fn an_inet_table_decides_by_the_packets_family() {
        let mut m = split_model(Policy::Accept);
        let mut inet = Table::new(Stack::Nft, Family::Inet, "v6block", "nft-ruleset.json");
        inet.add_chain(Chain {
            name: "forward".into(),
            base: base(Hook::Forward, 0, ChainType::Filter, Policy::Accept),
            rules: vec![
                rule(
                    vec![Match::Addr {
                        dir: Dir::Src,
                        negated: false,
                        nets: vec!["fd00::/8".parse().unwrap()].into(),
                    }],
                    Action::Accept,
                    "ip6 saddr fd00::/8 accept",
                ),
                rule(
                    vec![Match::Family {
                        negated: false,
                        family: Family::Ip6,
                    }],
                    Action::Drop,
                    "meta nfproto ipv6 drop",
                ),
            ],
            line: 0,
        });
        m.tables.push(inet);
        let net = Net::new(&m);
        let mut v4 = Flow::from_outside(Family::Ip, "tcp", 80);
        v4.dst = Some("172.17.0.2".parse().unwrap());
        assert!(matches!(net.trace(&v4).verdict, Verdict::Accept { .. }));
        let mut v6 = Flow::from_outside(Family::Ip6, "tcp", 80);
        v6.dst = Some("fd00:d0c::2".parse().unwrap());
        // The client outside may be in fd00::/8: that accept is undecided, the drop is not.
        match net.trace(&v6).verdict {
            Verdict::Unknown { by, .. } => assert_eq!(by.rule, "ip6 saddr fd00::/8 accept"),
            v => panic!("{v:?}"),
        }
        v6.src = Some("2001:db8::9".parse().unwrap());
        match net.trace(&v6).verdict {
            Verdict::Drop { by } => assert_eq!(by.rule, "meta nfproto ipv6 drop"),
            v => panic!("{v:?}"),
        }
    }

    #[test]
    fn forwarding_off_drops_in_the_kernel_before_any_forward_chain() {
        let mut m = split_model(Policy::Accept);
        m.sysctl.insert("net.ipv4.ip_forward".into(), "0".into());
        let t = Net::new(&m).trace(&Flow::from_outside(Family::Ip, "tcp", 8080));
        assert!(
            matches!(&t.verdict, Verdict::KernelDrop { reason } if reason.contains("ip_forward = 0")),
            "{:?}",
            t.verdict
        );
        // The kernel is the only blocker: the FORWARD chains, walked to find any other, accept.
        assert_eq!(t.blockers.len(), 1, "{:?}", t.blockers);
        assert!(
            t.steps
                .iter()
                .filter(|s| s.hook == Hook::Forward)
                .all(|s| matches!(s.verdict, Verdict::Accept { .. }))
        );
    }

    #[test]
    fn every_independent_blocker_is_found_in_the_order_the_packet_meets_them() {
        let mut m = split_model(Policy::Drop);
        m.sysctl.insert("net.ipv4.ip_forward".into(), "0".into());
        let t = Net::new(&m).trace(&Flow::from_outside(Family::Ip, "tcp", 8080));
        assert!(
            matches!(&t.verdict, Verdict::KernelDrop { .. }),
            "{:?}",
            t.verdict
        );
        assert_eq!(t.blockers.len(), 2, "{:?}", t.blockers);
        match &t.blockers[1] {
            Verdict::Drop { by } => {
                assert_eq!((by.stack, by.rule.as_str()), (Stack::Legacy, "policy DROP"))
            }
            v => panic!("expected the legacy FORWARD policy, got {v:?}"),
        }
        assert!(matches!(
            t.beyond_blockers.as_deref(),
            Some(Verdict::Accept { .. })
        ));
    }

    #[test]
    fn a_drop_rule_and_the_policy_behind_it_in_one_chain_are_two_blockers() {
        let mut m = split_model(Policy::Drop);
        m.tables[0].chain_mut("FORWARD").unwrap().rules.push(rule(
            vec![],
            Action::Drop,
            "-A FORWARD -j DROP",
        ));
        let t = Net::new(&m).trace(&Flow::from_outside(Family::Ip, "tcp", 8080));
        let rules: Vec<&str> = t
            .blockers
            .iter()
            .map(|b| match b {
                Verdict::Drop { by } => by.rule.as_str(),
                v => panic!("{v:?}"),
            })
            .collect();
        assert_eq!(rules, ["-A FORWARD -j DROP", "policy DROP"]);
        let legacy = t
            .steps
            .iter()
            .find(|s| s.stack == Stack::Legacy && s.hook == Hook::Forward)
            .unwrap();
        assert_eq!(
            legacy.passed.len(),
            2,
            "the last walk passed both: {legacy:?}"
        );
    }

    #[test]
    fn an_accept_from_partial_evidence_is_unseen_naming_what_is_missing() {
        let mut m = split_model(Policy::Accept);
        m.unseen.rules.push(crate::model::coverage::UnseenPart {
            stack: Stack::Legacy,
            family: Some(Family::Ip),
            tables: None,
            why: "not captured".into(),
            read_with: "sudo iptables-legacy-save".into(),
        });
        let t = Net::new(&m).trace(&Flow::from_outside(Family::Ip, "tcp", 8080));
        match &t.verdict {
            Verdict::Unseen { missing } => {
                assert_eq!(missing.len(), 1);
                assert_eq!(missing[0].read_with, "sudo iptables-legacy-save");
            }
            v => panic!("expected unseen, got {v:?}"),
        }
        // An IPv6 gap does not touch an IPv4 packet.
        m.unseen.rules[0].family = Some(Family::Ip6);
        let t = Net::new(&m).trace(&Flow::from_outside(Family::Ip, "tcp", 8080));
        assert!(
            matches!(t.verdict, Verdict::Accept { .. }),
            "{:?}",
            t.verdict
        );
    }

    #[test]
    fn unpublished_port_goes_local_and_is_not_dnatted() {
        let m = split_model(Policy::Accept);
        let t = Net::new(&m).trace(&Flow::from_outside(Family::Ip, "tcp", 9999));
        assert_eq!(t.route, Some(Route::Local));
    }

    #[test]
    fn unknown_match_that_does_not_change_the_outcome_is_tolerated() {
        let mut m = split_model(Policy::Accept);
        let legacy = &mut m.tables[0];
        legacy.chain_mut("FORWARD").unwrap().rules.push(rule(
            vec![Match::Unknown {
                text: "-m set --match-set x dst".into(),
            }],
            Action::Accept,
            "-A FORWARD -m set --match-set x dst -j ACCEPT",
        ));
        let t = Net::new(&m).trace(&Flow::from_outside(Family::Ip, "tcp", 8080));
        assert!(
            matches!(t.verdict, Verdict::Accept { .. }),
            "{:?}",
            t.verdict
        );
    }

    #[test]
    fn unknown_match_that_decides_gives_unknown_naming_the_rule() {
        let mut m = split_model(Policy::Drop);
        m.tables[0].chain_mut("FORWARD").unwrap().rules.push(rule(
            vec![Match::Unknown {
                text: "-m set --match-set x dst".into(),
            }],
            Action::Accept,
            "-A FORWARD -m set --match-set x dst -j ACCEPT",
        ));
        let t = Net::new(&m).trace(&Flow::from_outside(Family::Ip, "tcp", 8080));
        match t.verdict {
            Verdict::Unknown { by, .. } => assert!(by.rule.contains("match-set")),
            v => panic!("expected unknown, got {v:?}"),
        }
    }

    #[test]
    fn a_match_on_another_protocols_header_is_decided_false() {
        // With FORWARD policy DROP, an undecided accept would make the verdict unknown. An
        // icmpv6 (or udp) header match can never hold for an IPv4 TCP packet: blocked.
        for text in [
            "icmpv6 type { nd-router-advert, nd-neighbor-solicit }",
            "meta l4proto udp",
            "ip6 saddr fe80::/64",
        ] {
            let mut m = split_model(Policy::Drop);
            m.tables[0].chain_mut("FORWARD").unwrap().rules.push(rule(
                vec![Match::Unknown { text: text.into() }],
                Action::Accept,
                text,
            ));
            let t = Net::new(&m).trace(&Flow::from_outside(Family::Ip, "tcp", 8080));
            assert!(
                matches!(t.verdict, Verdict::Drop { .. }),
                "{text}: {:?}",
                t.verdict
            );
        }
    }

    #[test]
    fn a_forward_to_a_non_docker_bridge_names_its_interface() {
        // Podman's CNI bridge from ip-addr.json: the route names it, not "unknown interface".
        let mut m = split_model(Policy::Accept);
        m.interfaces = Some(vec![crate::model::Interface {
            name: "cni-podman0".into(),
            addrs: vec!["10.88.0.1/16".parse().unwrap()],
        }]);
        let net = Net::new(&m);
        assert_eq!(
            net.out_iface_for("10.88.0.5".parse().unwrap()).as_deref(),
            Some("cni-podman0")
        );
        assert_eq!(net.out_iface_for("10.89.0.5".parse().unwrap()), None);
    }

    #[test]
    fn the_reply_to_outside_leaves_by_the_one_outside_interface_only() {
        let iface = |name: &str, addr: &str| crate::model::Interface {
            name: name.into(),
            addrs: vec![addr.parse().unwrap()],
        };
        let mut m = split_model(Policy::Accept);
        m.interfaces = Some(vec![
            iface("lo", "127.0.0.1/8"),
            iface("docker0", "172.17.0.1/16"),
            iface("eth0", "192.0.2.10/24"),
        ]);
        assert_eq!(
            Net::new(&m).only_outside_interface(Family::Ip).as_deref(),
            Some("eth0")
        );
        assert_eq!(Net::new(&m).only_outside_interface(Family::Ip6), None);
        // Two outside interfaces: which one the client is behind is not known.
        m.interfaces
            .as_mut()
            .unwrap()
            .push(iface("wg0", "10.8.0.1/24"));
        assert_eq!(Net::new(&m).only_outside_interface(Family::Ip), None);
    }

    #[test]
    fn an_ipset_match_is_judged_from_the_captured_set() {
        // Docker 28.0.0: `-m set --match-set docker-ext-bridges-v4 dst -j ACCEPT` under a
        // legacy-style FORWARD policy DROP. With the set read, the DNATed 172.17.0.2 is in it
        // (accepted); a set without it leaves the packet to the policy (dropped).
        let text = "-m set --match-set docker-ext-bridges-v4 dst";
        for (entry, want_accept) in [("172.17.0.0/16", true), ("192.0.2.0/24", false)] {
            let mut m = split_model(Policy::Drop);
            m.tables[0].chain_mut("FORWARD").unwrap().rules.push(rule(
                vec![Match::Unknown { text: text.into() }],
                Action::Accept,
                text,
            ));
            m.ipsets = Some(vec![crate::model::IpSet {
                name: "docker-ext-bridges-v4".into(),
                kind: "hash:net".into(),
                addresses: true,
                entries: vec![entry.parse().unwrap()],
            }]);
            let t = Net::new(&m).trace(&Flow::from_outside(Family::Ip, "tcp", 8080));
            assert_eq!(
                matches!(t.verdict, Verdict::Accept { .. }),
                want_accept,
                "{entry}: {:?}",
                t.verdict
            );
            assert!(!matches!(t.verdict, Verdict::Unknown { .. }), "{entry}");
        }
    }

    #[test]
    fn unknown_match_inside_a_called_chain_is_judged_at_the_base_chain() {
        // kube-proxy's KUBE-POSTROUTING: `-m mark ! --mark 0x4000/0x4000 -j RETURN`, then
        // MASQUERADE. Returning or masquerading both end in accept for the nat base chain.
        let mut m = split_model(Policy::Accept);
        let nat = &mut m.tables[1];
        nat.add_chain(Chain {
            name: "POSTROUTING".into(),
            base: base(Hook::Postrouting, 100, ChainType::Nat, Policy::Accept),
            rules: vec![rule(
                vec![],
                Action::jump("KUBE-POSTROUTING"),
                "-A POSTROUTING -j KUBE-POSTROUTING",
            )],
            line: 9,
        });
        nat.add_chain(Chain {
            name: "KUBE-POSTROUTING".into(),
            base: None,
            rules: vec![
                rule(
                    vec![Match::Unknown {
                        text: "-m mark ! --mark 0x4000/0x4000".into(),
                    }],
                    Action::Return,
                    "-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN",
                ),
                rule(
                    vec![],
                    Action::Masquerade,
                    "-A KUBE-POSTROUTING -j MASQUERADE --random-fully",
                ),
            ],
            line: 10,
        });
        let t = Net::new(&m).trace(&Flow::from_outside(Family::Ip, "tcp", 8080));
        assert!(
            matches!(t.verdict, Verdict::Accept { .. }),
            "{:?}",
            t.verdict
        );
    }

    #[test]
    fn jump_loops_end_as_unknown_not_a_hang() {
        let mut m = split_model(Policy::Accept);
        let filter = &mut m.tables[2];
        filter.chain_mut("DOCKER").unwrap().rules.insert(
            0,
            rule(vec![], Action::jump("DOCKER"), "-A DOCKER -j DOCKER"),
        );
        let t = Net::new(&m).trace(&Flow::from_outside(Family::Ip, "tcp", 8080));
        assert!(
            matches!(t.verdict, Verdict::Unknown { .. }),
            "{:?}",
            t.verdict
        );
    }

    #[test]
    fn a_long_chain_is_walked_only_where_the_packet_may_match() {
        // 2000 published ports: each trace evaluates the DNAT rule of its own port, not all.
        let mut m = split_model(Policy::Accept);
        let dnat = &mut m.tables[1].chain_mut("DOCKER").unwrap().rules;
        for i in 0..2000u16 {
            let port = 10000 + i;
            dnat.push(rule(
                vec![
                    Match::Proto {
                        negated: false,
                        proto: "tcp".into(),
                    },
                    Match::Port {
                        dir: Dir::Dst,
                        negated: false,
                        ranges: vec![(port, port)].into(),
                    },
                ],
                Action::Dnat {
                    addr: Some("172.17.0.3".parse().unwrap()),
                    port: Some((i, i)),
                },
                "-A DOCKER -p tcp -m tcp --dport PORT -j DNAT --to-destination 172.17.0.3:I",
            ));
        }
        let net = Net::new(&m);
        let t = net.trace(&Flow::from_outside(Family::Ip, "tcp", 11234));
        assert_eq!(
            t.final_dst,
            Some((Some("172.17.0.3".parse().unwrap()), 1234))
        );
        assert!(net.last_trace_steps() < 20, "{}", net.last_trace_steps());
        let t = net.trace(&Flow::from_outside(Family::Ip, "tcp", 8080));
        assert_eq!(t.final_dst, Some((Some("172.17.0.2".parse().unwrap()), 80)));
        let t = net.trace(&Flow::from_outside(Family::Ip, "udp", 11234));
        assert_eq!(t.route, Some(Route::Local));
    }

    #[test]
    fn a_chain_that_returned_is_not_walked_again_for_the_same_packet() {
        // FORWARD jumps to L0 twice; L0 jumps to L1 twice, ... 30 levels: 2^30 walks of L30
        // if each call were walked, 31 chains when a return is remembered.
        let mut m = split_model(Policy::Accept);
        let filter = &mut m.tables[2];
        for i in 0..=30 {
            let next = format!("L{}", i + 1);
            let rules = if i == 30 {
                Vec::new()
            } else {
                vec![
                    rule(vec![], Action::jump(next.as_str()), "-A L -j L"),
                    rule(vec![], Action::jump(next.as_str()), "-A L -j L"),
                ]
            };
            filter.add_chain(Chain {
                name: format!("L{i}").as_str().into(),
                base: None,
                rules,
                line: 20 + i,
            });
        }
        filter
            .chain_mut("FORWARD")
            .unwrap()
            .rules
            .insert(0, rule(vec![], Action::jump("L0"), "-A FORWARD -j L0"));
        let net = Net::new(&m);
        let t = net.trace(&Flow::from_outside(Family::Ip, "tcp", 8080));
        assert!(
            matches!(t.verdict, Verdict::Accept { .. }),
            "{:?}",
            t.verdict
        );
        assert!(net.last_trace_steps() < 200, "{}", net.last_trace_steps());
    }

    /// `chains` (name, the chain it goes to) added to `filter`, and FORWARD going to the first.
    fn add_goto_loop(filter: &mut Table, chains: &[(&str, &str)]) {
        for (name, to) in chains {
            filter.add_chain(Chain {
                name: (*name).into(),
                base: None,
                rules: vec![rule(vec![], Action::goto(*to), "-A X -g Y")],
                line: 30,
            });
        }
        let first = chains[0].0;
        filter
            .chain_mut("FORWARD")
            .unwrap()
            .rules
            .insert(0, rule(vec![], Action::goto(first), "-A FORWARD -g A"));
    }

    #[test]
    fn a_goto_loop_is_unknown_naming_the_loop() {
        let mut m = split_model(Policy::Accept);
        add_goto_loop(&mut m.tables[2], &[("A", "B"), ("B", "A")]);
        let t = Net::new(&m).trace(&Flow::from_outside(Family::Ip, "tcp", 8080));
        match t.verdict {
            Verdict::Unknown { by, reason } => {
                assert_eq!(by.chain, "FORWARD");
                assert!(
                    reason.contains("chain A is on a loop of jumps (A -> B -> A)"),
                    "{reason}"
                );
            }
            v => panic!("expected unknown, got {v:?}"),
        }
    }

    /// A "what if" copy keeps the facts of the tables it shares and finds those of the table
    /// it changed: a loop added in the copy is seen there, and not in the original.
    #[test]
    fn a_what_if_net_looks_again_at_the_tables_it_changed_only() {
        let m = split_model(Policy::Accept);
        let base = Net::new(&m);
        let mut after = m.clone();
        add_goto_loop(&mut after.tables[2], &[("A", "A")]);
        let what_if = Net::what_if(&after, &base);
        let shared = (m.tables.iter().zip(&after.tables))
            .filter(|(a, b)| chains_address(a) == chains_address(b))
            .count();
        assert_eq!(
            shared,
            m.tables.len() - 1,
            "only the changed table is copied"
        );
        let flow = Flow::from_outside(Family::Ip, "tcp", 8080);
        match what_if.trace(&flow).verdict {
            Verdict::Unknown { reason, .. } => {
                assert!(reason.contains("(A -> A)"), "{reason}")
            }
            v => panic!("expected unknown in the copy, got {v:?}"),
        }
        assert!(
            !matches!(base.trace(&flow).verdict, Verdict::Unknown { .. }),
            "the original has no loop"
        );
    }
}
