//! One representation for rules from all three stacks.
//!
//! `iptables-legacy-save`, `iptables-nft-save` and `nft -j list ruleset` are parsed into these
//! types, so the hook model and the trace engine never care where a rule came from. Anything a
//! parser does not understand is kept as [`Match::Unknown`] / [`Action::Unknown`] with its text,
//! never dropped: the engine turns those into an `unknown` verdict that names the rule.

use crate::model::chain_index::ChainIndex;
pub use crate::model::one_or_more::OneOrMore;
use crate::model::text::Text;
use ipnet::IpNet;
use serde::Serialize;
use std::fmt;

/// Which firewall stack a table lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stack {
    /// xtables in the kernel (`iptables-legacy`, `ip_tables` modules).
    Legacy,
    /// nf_tables tables written by `iptables-nft` (`filter`, `nat`, ... with xt compat).
    IptablesNft,
    /// Native nf_tables tables (`/etc/nftables.conf`, Docker 29's `docker-bridges`, firewalld).
    Nft,
}

impl Stack {
    pub fn as_str(self) -> &'static str {
        match self {
            Stack::Legacy => "legacy",
            Stack::IptablesNft => "iptables-nft",
            Stack::Nft => "nft",
        }
    }
    /// The two kernel subsystems: legacy xtables versus nf_tables (iptables-nft and native nft).
    pub fn is_nf_tables(self) -> bool {
        !matches!(self, Stack::Legacy)
    }
}

impl fmt::Display for Stack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Address family of a table. `Inet` tables take part in both `Ip` and `Ip6` hooks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    Ip,
    Ip6,
    Inet,
    Bridge,
    Arp,
    Netdev,
}

impl Family {
    pub fn as_str(self) -> &'static str {
        match self {
            Family::Ip => "ip",
            Family::Ip6 => "ip6",
            Family::Inet => "inet",
            Family::Bridge => "bridge",
            Family::Arp => "arp",
            Family::Netdev => "netdev",
        }
    }
    pub fn parse(s: &str) -> Option<Family> {
        Some(match s {
            "ip" => Family::Ip,
            "ip6" => Family::Ip6,
            "inet" => Family::Inet,
            "bridge" => Family::Bridge,
            "arp" => Family::Arp,
            "netdev" => Family::Netdev,
            _ => return None,
        })
    }
    /// Does a table of this family take part in the hooks of `packet_family` (Ip or Ip6)?
    pub fn applies_to(self, packet_family: Family) -> bool {
        self == packet_family
            || (self == Family::Inet && matches!(packet_family, Family::Ip | Family::Ip6))
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Netfilter hooks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Hook {
    Prerouting,
    Input,
    Forward,
    Output,
    Postrouting,
    Ingress,
    Egress,
}

impl Hook {
    pub fn as_str(self) -> &'static str {
        match self {
            Hook::Prerouting => "prerouting",
            Hook::Input => "input",
            Hook::Forward => "forward",
            Hook::Output => "output",
            Hook::Postrouting => "postrouting",
            Hook::Ingress => "ingress",
            Hook::Egress => "egress",
        }
    }
    /// A hook by name, in any case (`FORWARD`, `forward`).
    pub fn parse(s: &str) -> Option<Hook> {
        const ALL: [Hook; 7] = [
            Hook::Prerouting,
            Hook::Input,
            Hook::Forward,
            Hook::Output,
            Hook::Postrouting,
            Hook::Ingress,
            Hook::Egress,
        ];
        ALL.into_iter().find(|h| h.as_str().eq_ignore_ascii_case(s))
    }
}

impl fmt::Display for Hook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// nf_tables chain type (`type filter|nat|route`). Legacy tables map onto the same three.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChainType {
    Filter,
    Nat,
    Route,
}

/// The verdict a base chain gives to a packet no rule decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Policy {
    Accept,
    Drop,
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Policy::Accept => "ACCEPT",
            Policy::Drop => "DROP",
        })
    }
}

/// Packet and byte counters, as iptables-save `[p:b]` or nft `counter packets p bytes b`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Counters {
    pub packets: u64,
    pub bytes: u64,
}

/// Where a chain is registered on the netfilter hooks.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BaseChain {
    pub hook: Hook,
    /// Numeric priority (`filter` = 0, `dstnat` = -100, `raw` = -300, ...).
    pub priority: i32,
    pub chain_type: ChainType,
    pub policy: Policy,
    /// Policy counters (iptables-save `:FORWARD DROP [12:720]`), when the source has them.
    pub counters: Option<Counters>,
}

/// Direction of an address, port or interface match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Dir {
    Src,
    Dst,
}

/// Connection tracking states (`-m conntrack --ctstate`, `-m state --state`, nft `ct state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum CtState {
    New,
    Established,
    Related,
    Invalid,
    Untracked,
    /// Conntrack "status" pseudo-states accepted by `--ctstate`.
    Snat,
    Dnat,
}

impl CtState {
    pub fn parse(s: &str) -> Option<CtState> {
        Some(match s.to_ascii_uppercase().as_str() {
            "NEW" => CtState::New,
            "ESTABLISHED" => CtState::Established,
            "RELATED" => CtState::Related,
            "INVALID" => CtState::Invalid,
            "UNTRACKED" => CtState::Untracked,
            "SNAT" => CtState::Snat,
            "DNAT" => CtState::Dnat,
            _ => return None,
        })
    }
}

/// Address type (`-m addrtype --dst-type LOCAL`, nft `fib daddr type local`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum AddrType {
    Local,
    Unicast,
    Broadcast,
    Multicast,
    Other,
}

/// One match condition of a rule. All matches of a rule must hold for its action to apply.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Match {
    /// `-i` / `-o` / `iifname` / `oifname`. A trailing `+` is a prefix wildcard.
    Iface {
        dir: Dir,
        negated: bool,
        /// Any of these names matches (nft anonymous sets give several).
        names: OneOrMore<Text>,
    },
    /// `-s` / `-d` / `ip saddr` / `ip daddr`.
    Addr {
        dir: Dir,
        negated: bool,
        nets: OneOrMore<IpNet>,
    },
    /// `-p tcp` / `meta l4proto tcp` / implied by `tcp dport`.
    Proto { negated: bool, proto: Text },
    /// `--dport`, `--sport`, `-m multiport --dports`, `tcp dport`, `th dport`.
    Port {
        dir: Dir,
        negated: bool,
        /// Inclusive ranges.
        ranges: OneOrMore<(u16, u16)>,
    },
    /// `-m conntrack --ctstate`, `-m state --state`, `ct state`.
    CtState {
        negated: bool,
        states: OneOrMore<CtState>,
    },
    /// `-m conntrack --ctorigdstport P` / `ct original proto-dst P`.
    CtOrigDstPort {
        negated: bool,
        ranges: OneOrMore<(u16, u16)>,
    },
    /// `-m conntrack --ctorigdst A` / `ct original ip daddr A`.
    CtOrigDst {
        negated: bool,
        nets: OneOrMore<IpNet>,
    },
    /// `-m addrtype --dst-type LOCAL`, `fib daddr type local`.
    AddrType {
        dir: Dir,
        negated: bool,
        types: OneOrMore<AddrType>,
    },
    /// nft `meta nfproto ipv4|ipv6` (in an `inet` table): the packet's family.
    Family { negated: bool, family: Family },
    /// `-m comment --comment TEXT` / nft `comment`: never affects the verdict.
    Comment { text: Text },
    /// Anything the model does not understand: `-m set`, `-m mark`, `meta mark`, xt compat in
    /// `nft -j`, ... The trace engine reports `unknown` when such a match decides a verdict.
    Unknown { text: Text },
}

/// What a rule does when all its matches hold.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Action {
    Accept,
    Drop,
    /// `REJECT`: drops the packet (and answers); final like DROP.
    Reject,
    Return,
    Jump {
        chain: Text,
        #[serde(skip)]
        at: ChainAt,
    },
    Goto {
        chain: Text,
        #[serde(skip)]
        at: ChainAt,
    },
    /// `DNAT --to-destination`, nft `dnat to`. `addr` and `port` are the new destination.
    Dnat {
        addr: Option<std::net::IpAddr>,
        port: Option<(u16, u16)>,
    },
    Snat,
    Masquerade,
    Redirect {
        port: Option<(u16, u16)>,
    },
    /// Non-terminating: `LOG`, `MARK`, `counter`, no `-j` at all, ...
    Continue {
        name: Option<Text>,
    },
    /// nft verdict map: `iifname vmap { "docker0" : jump X, ... }` / `oifname vmap @map`.
    VerdictMap {
        key: VmapKey,
        entries: Vec<(String, Action)>,
    },
    /// A target whose effect the model cannot tell (`NFQUEUE`, `TPROXY`, unknown extension).
    Unknown {
        text: Text,
    },
}

impl Action {
    /// A jump to the chain `chain`, wherever it is in the table.
    pub fn jump(chain: impl Into<Text>) -> Action {
        Action::Jump {
            chain: chain.into(),
            at: ChainAt::UNKNOWN,
        }
    }

    /// A goto to the chain `chain`, wherever it is in the table.
    pub fn goto(chain: impl Into<Text>) -> Action {
        Action::Goto {
            chain: chain.into(),
            at: ChainAt::UNKNOWN,
        }
    }
}

/// Where the chain a jump or goto names sits in [`Table::chains`] of the table holding the
/// rule, when the parser that read the rule knew it (iptables-save declares every chain
/// before the rules): following a jump then needs no name lookup, which for the loop search
/// over a Kubernetes node's nat table was 6 of its 8 ms, most of it a cache miss on the name.
/// Chains are only ever added at the end of a table, so the position stays true for as long
/// as the rule is in that table; [`Table::jump_target`] reads it. Not part of what the rule
/// says: equal to any other, never serialized.
#[derive(Clone, Copy, Default)]
pub struct ChainAt(Option<std::num::NonZeroU32>);

impl ChainAt {
    pub const UNKNOWN: ChainAt = ChainAt(None);

    /// The chain at position `index`.
    pub fn of(index: usize) -> ChainAt {
        ChainAt(
            u32::try_from(index)
                .ok()
                .and_then(|i| i.checked_add(1))
                .and_then(std::num::NonZeroU32::new),
        )
    }

    pub fn get(self) -> Option<usize> {
        self.0.map(|i| i.get() as usize - 1)
    }
}

impl PartialEq for ChainAt {
    fn eq(&self, _: &ChainAt) -> bool {
        true
    }
}

impl std::fmt::Debug for ChainAt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.get() {
            Some(i) => write!(f, "at {i}"),
            None => f.write_str("at ?"),
        }
    }
}

/// What a verdict map is keyed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VmapKey {
    Iifname,
    Oifname,
    /// Any other key: entries are kept, the engine treats the lookup as unknown.
    Other,
}

/// One rule, with enough provenance to quote it back to the operator.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rule {
    /// 1-based line in the source file (for nft JSON: the line of the rule object, or 0).
    pub line: usize,
    /// The rule as the operator knows it: `-A FORWARD -o docker0 -j DOCKER` or nft text.
    pub text: Text,
    pub matches: Box<[Match]>,
    pub action: Action,
    /// Boxed (and the handle in `NonZeroU64`'s niche): a Kubernetes node has hundreds of
    /// thousands of rules, nearly all with neither, and 24 bytes less per rule is 5 MB at 200k.
    pub counters: Option<Box<Counters>>,
    /// nft's handle of the rule (`nft -j` input only), which names it in
    /// `nft delete rule FAMILY TABLE CHAIN handle N` (the kernel's handles start at 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handle: Option<std::num::NonZeroU64>,
}

/// A chain: base (registered on a hook) or regular (only reached by jump/goto).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Chain {
    pub name: Text,
    pub base: Option<BaseChain>,
    pub rules: Vec<Rule>,
    /// 1-based line where the chain is declared (0 if not known).
    pub line: usize,
}

/// A table of one stack and family.
#[derive(Debug, Clone, Serialize)]
pub struct Table {
    pub stack: Stack,
    pub family: Family,
    pub name: String,
    /// The capture file it was read from (`iptables-legacy-save.txt`, `nft-ruleset.json`).
    pub source: String,
    pub chains: Chains,
    /// Shared with the table's clones, as its chains are ([`Chains`]), until one changes.
    #[serde(skip)]
    index: std::sync::Arc<ChainIndex>,
}

/// A table's chains, shared by the table's clones and copied on a clone's first change.
///
/// A check that asks "what if" (next-boot-blocks puts the on-disk tables in place of the live
/// ones) clones the whole model; with the chains copied, that clone held every rule of every
/// other table a second time: 27 MB more per 15 MB save at 100k rules, most of a live check's
/// peak memory above its evidence. Reads see a `Vec<Chain>` (`Deref`); a write through a
/// clone (`DerefMut`) copies that clone's chains first, so a change never shows in another.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Chains(std::sync::Arc<Vec<Chain>>);

impl std::ops::Deref for Chains {
    type Target = Vec<Chain>;
    fn deref(&self) -> &Vec<Chain> {
        &self.0
    }
}

impl std::ops::DerefMut for Chains {
    fn deref_mut(&mut self) -> &mut Vec<Chain> {
        std::sync::Arc::make_mut(&mut self.0)
    }
}

impl<'a> IntoIterator for &'a Chains {
    type Item = &'a Chain;
    type IntoIter = std::slice::Iter<'a, Chain>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl<'a> IntoIterator for &'a mut Chains {
    type Item = &'a mut Chain;
    type IntoIter = std::slice::IterMut<'a, Chain>;
    fn into_iter(self) -> Self::IntoIter {
        std::sync::Arc::make_mut(&mut self.0).iter_mut()
    }
}

impl From<Vec<Chain>> for Chains {
    fn from(chains: Vec<Chain>) -> Chains {
        Chains(std::sync::Arc::new(chains))
    }
}

impl Serialize for Chains {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.as_slice().serialize(s)
    }
}

/// Tables are equal when their contents are (the index follows from the chains).
impl PartialEq for Table {
    fn eq(&self, other: &Table) -> bool {
        self.stack == other.stack
            && self.family == other.family
            && self.name == other.name
            && self.source == other.source
            && self.chains == other.chains
    }
}

impl Table {
    pub fn new(
        stack: Stack,
        family: Family,
        name: impl Into<String>,
        source: impl Into<String>,
    ) -> Table {
        Table {
            stack,
            family,
            name: name.into(),
            source: source.into(),
            chains: Chains::default(),
            index: Default::default(),
        }
    }

    /// Room for `n` more chains without growing (a parser that can count them cheaply).
    pub fn reserve_chains(&mut self, n: usize) {
        self.chains.reserve(n);
        std::sync::Arc::make_mut(&mut self.index).reserve(n, &self.chains);
    }

    /// Add a chain (or return the existing one of that name).
    pub fn add_chain(&mut self, chain: Chain) -> &mut Chain {
        let i = match self.push_chain(chain) {
            Ok(()) => self.chains.len() - 1,
            Err(existing) => existing,
        };
        &mut self.chains[i]
    }

    /// Push `chain` unless its name is taken (then `Err` with the position of the other).
    fn push_chain(&mut self, chain: Chain) -> Result<(), usize> {
        std::sync::Arc::make_mut(&mut self.index).insert(
            &chain.name,
            self.chains.len(),
            &self.chains,
        )?;
        self.chains.push(chain);
        Ok(())
    }

    /// Add a chain whose name is new; false (and nothing added) when the table has one of
    /// that name already.
    pub fn add_new_chain(&mut self, chain: Chain) -> bool {
        self.push_chain(chain).is_ok()
    }

    /// The position of the chain `name` in [`Table::chains`].
    pub fn chain_index(&self, name: &str) -> Option<usize> {
        self.index.get(name, &self.chains)
    }

    /// The position of the chain a jump or goto of one of this table's rules names: `at`
    /// when the parser gave it, else looked up by `name`.
    pub fn jump_target(&self, name: &str, at: ChainAt) -> Option<usize> {
        match at.get() {
            Some(i) if i < self.chains.len() => {
                debug_assert_eq!(self.chain_index(name), Some(i), "chain {name}");
                Some(i)
            }
            _ => self.chain_index(name),
        }
    }

    pub fn chain(&self, name: &str) -> Option<&Chain> {
        self.chain_index(name).map(|i| &self.chains[i])
    }

    pub fn chain_mut(&mut self, name: &str) -> Option<&mut Chain> {
        self.chain_index(name).map(|i| &mut self.chains[i])
    }

    /// Total number of rules in the table.
    pub fn rule_count(&self) -> usize {
        self.chains.iter().map(|c| c.rules.len()).sum()
    }

    /// "legacy ip filter" — how reports name a table.
    pub fn label(&self) -> String {
        format!("{} {} {}", self.stack, self.family, self.name)
    }
}

/// The chain-name index hasher: FxHash (rustc's), a multiply-rotate per 8 bytes, with a final
/// mix (see its `finish`). Chain names
/// are short and not attacker-chosen in a way that matters (a slow lookup, never a wrong one),
/// and SipHash was a tenth of the parse time on a 100k-rule ruleset.
#[derive(Debug, Clone, Copy, Default)]
pub struct BuildFxHasher;

impl std::hash::BuildHasher for BuildFxHasher {
    type Hasher = FxHasher;
    fn build_hasher(&self) -> FxHasher {
        FxHasher(0)
    }
}

/// See [`BuildFxHasher`].
#[derive(Debug, Clone, Copy, Default)]
pub struct FxHasher(u64);

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl std::hash::Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().unwrap_or_default()));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut buf = [0u8; 8];
            buf[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(buf));
        }
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    /// FxHash's multiply only carries differences upwards, so names that differ before
    /// their last 8 bytes (`KUBE-SEP-<16 characters>`) would share their low bits, which is
    /// where the hash table picks its bucket: thousands of collisions per table. A final
    /// avalanche (MurmurHash3's fmix64) spreads every input bit over the whole word.
    #[inline]
    fn finish(&self) -> u64 {
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h
    }
}

/// The standard base chains of an iptables table: (hook, priority, type), per the kernel's
/// `NF_IP_PRI_*` values, which iptables-nft copies.
pub fn iptables_base_chain(table: &str, chain: &str) -> Option<(Hook, i32, ChainType)> {
    let hook = Hook::parse(chain).filter(|_| chain.chars().all(|c| c.is_ascii_uppercase()))?;
    let (prio, ty) = match (table, hook) {
        ("raw", Hook::Prerouting | Hook::Output) => (-300, ChainType::Filter),
        ("mangle", Hook::Output) => (-150, ChainType::Route),
        ("mangle", _) => (-150, ChainType::Filter),
        ("nat", Hook::Prerouting | Hook::Output) => (-100, ChainType::Nat),
        ("nat", Hook::Input | Hook::Postrouting) => (100, ChainType::Nat),
        ("filter", Hook::Input | Hook::Forward | Hook::Output) => (0, ChainType::Filter),
        ("security", Hook::Input | Hook::Forward | Hook::Output) => (50, ChainType::Filter),
        _ => return None,
    };
    Some((hook, prio, ty))
}

/// nft priority keywords (`priority filter`, `dstnat - 5`, ...) for ip/ip6/inet.
pub fn nft_priority_keyword(word: &str) -> Option<i32> {
    Some(match word {
        "raw" => -300,
        "mangle" => -150,
        "dstnat" => -100,
        "filter" => 0,
        "security" => 50,
        "srcnat" => 100,
        _ => return None,
    })
}

#[cfg(test)]
mod chains_tests {
    use super::{Chain, Family, Stack, Table, Text};

    fn chain(name: &str) -> Chain {
        Chain {
            name: Text::from(name),
            base: None,
            rules: Vec::new(),
            line: 0,
        }
    }

    #[test]
    fn a_table_clone_shares_its_chains_until_one_of_them_changes() {
        let mut a = Table::new(
            Stack::IptablesNft,
            Family::Ip,
            "nat",
            "iptables-nft-save.txt",
        );
        a.add_chain(chain("KUBE-SERVICES"));
        a.add_chain(chain("KUBE-SVC-AAAA"));
        let mut b = a.clone();
        assert!(
            std::ptr::eq(a.chains.as_ptr(), b.chains.as_ptr()),
            "the clone copied the chains"
        );
        b.add_chain(chain("KUBE-SEP-BBBB"));
        assert!(!std::ptr::eq(a.chains.as_ptr(), b.chains.as_ptr()));
        assert_eq!(
            a.chains.len(),
            2,
            "a change to the clone showed in the original"
        );
        assert_eq!(b.chains.len(), 3);
        assert_eq!(b.chain_index("KUBE-SEP-BBBB"), Some(2));
        assert_eq!(a.chain_index("KUBE-SEP-BBBB"), None);
        assert_eq!(a.chain_index("KUBE-SVC-AAAA"), Some(1));
    }
}
