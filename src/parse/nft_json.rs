//! `nft -j list ruleset` into [`Table`]s: native tables as [`Stack::Nft`], tables owned by
//! iptables-nft as [`Stack::IptablesNft`].
//!
//! # Input
//!
//! `{"nftables": [{"metainfo": ..}, {"table": ..}, {"set": ..}, {"map": ..}, {"chain": ..},
//! {"rule": ..}, ...]}` (libnftables JSON schema 1, checked against real nftables 1.0.6 output).
//! The document is read in one streaming serde_json pass: each element of the `nftables` array
//! becomes a small borrowed JSON tree (strings point into the input), is turned into model types
//! and dropped, so memory stays proportional to the model (80k iptables-nft rules, 33 MB of
//! JSON: about 90 MB peak including the input text, linear time). Named sets and maps are kept
//! for `@name` lookups. Real `nft -j` output lists each table's sets and maps, then its chains,
//! then its rules; a chain or rule that comes before what it refers to is held back and resolved
//! at the end, so object order does not change the result. Object kinds that do not affect the
//! packet path (`flowtable`, `counter`, `quota`, `ct helper`, `element`, ...) only mark the table
//! as native, or are skipped.
//!
//! # What comes out
//!
//! * Every table, chain (base chains with hook, numeric priority, type and policy; a base chain
//!   without a policy is `accept`) and rule, in input order. `Rule::line` is 0: the JSON is one
//!   line.
//! * `Rule::text` is the rule in `nft list ruleset` syntax, rebuilt from the JSON (counters are
//!   written as a bare `counter`; the values are in `Rule::counters`).
//! * Matches the model knows become [`Match`] variants; named sets of addresses, ports, interface
//!   names or ct states (`ip saddr @allowed`) are expanded into the match. Everything else
//!   (`meta mark`, concatenations, `limit`, iptables-nft `xt` compat matches, ...)
//!   is kept as [`Match::Unknown`] with its nft text, e.g. `xt match "conntrack"`.
//! * iptables-nft `xt` targets have no options in `nft -j`: `REJECT`, `MASQUERADE` and `SNAT`
//!   are resolved by name, non-terminating ones (`LOG`, `MARK`, ...) continue, `DNAT`, `REDIRECT`
//!   and the rest become [`Action::Unknown`] (e.g. `xt target "DNAT"`).
//! * Verdict maps (`oifname vmap @filter-forward-in-jumps`, anonymous `vmap { .. }`) become
//!   [`Action::VerdictMap`] with the map's entries resolved.
//!
//! # Which tables belong to iptables-nft
//!
//! `nft -j` carries no ownership flag for iptables-nft tables (nft 1.0.6 only prints a
//! "managed by iptables-nft" warning, and only for tables that contain `xt` expressions). The
//! parser therefore mirrors iptables-nft's own compatibility check (`nft_is_table_compatible` in
//! iptables 1.8.x): a table is [`Stack::IptablesNft`] when all of these hold, else [`Stack::Nft`]:
//!
//! 1. family `ip` or `ip6`, name `filter`, `nat`, `mangle`, `raw` or `security`;
//! 2. it has at least one chain, and no named sets, maps or other stateful objects (iptables-nft
//!    never creates them);
//! 3. every base chain is an iptables builtin: uppercase name whose hook, priority and type are
//!    exactly the ones iptables-nft uses ([`iptables_base_chain`]); regular chains may have any name;
//! 4. every rule is made only of what iptables-nft emits: `xt` compat matches and targets,
//!    `counter`, plain payload and meta matches (no `@set` lookups), `limit`, `log group`, and
//!    the verdicts accept, drop, return, jump and goto.
//!
//! So Docker-classic tables written by iptables-nft (with or without `xt` expressions) come out as
//! `IptablesNft`, while a native `table inet filter`, a native `table ip filter` with lowercase
//! chains, Docker 29's `docker-bridges`, and iptables-looking tables full of native expressions
//! (`ct state`, `fib`, `masquerade`, as written by `iptables-restore-translate`) come out as `Nft`.
//! A rule-less `ip raw` table with builtin chains is ambiguous and counts as `IptablesNft`,
//! which is also what `iptables-nft-save` would list.
//!
//! In `nft -j` output iptables-nft's `xt` expressions have no options (`--comment`, `--ctstate`,
//! `--to-destination` are lost), so for `IptablesNft` tables `iptables-nft-save` is the better
//! source; this parser still reads them so nothing goes missing.

use crate::model::{
    Action, AddrType, BaseChain, Chain, ChainType, Counters, CtState, Dir, Family, Hook, Match,
    OneOrMore, Policy, Rule, Stack, Table, Text, VmapKey, iptables_base_chain,
    nft_priority_keyword,
};
use crate::parse::ParseError;
use ipnet::{IpNet, Ipv4Subnets, Ipv6Subnets};
use serde::de::{
    self, Deserialize, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor,
};
use serde_json::error::Category;
use std::borrow::Cow;
use std::cell::Cell;
use std::collections::HashMap;
use std::fmt::{self, Write as _};
use std::net::IpAddr;

/// Parse `nft -j list ruleset` output. `file` names the capture in errors and `Table::source`.
///
/// Invalid JSON gives an error with serde_json's line and message; a document of the wrong shape
/// (no `nftables` array, a chain in a table that was never declared, a rule in a missing chain,
/// an unknown family, hook or chain type) gives an error naming the offending object.
pub fn parse(text: &str, file: &str) -> Result<Vec<Table>, ParseError> {
    let mut builder = Builder::new(file);
    let mut de = serde_json::Deserializer::from_str(text);
    let streamed = RootSeed(&mut builder)
        .deserialize(&mut de)
        .and_then(|()| de.end());
    if let Some(e) = builder.error.take() {
        return Err(e);
    }
    if let Err(e) = streamed {
        let what = match e.classify() {
            Category::Data => "not `nft -j` output",
            _ => "invalid JSON",
        };
        return Err(ParseError::new(file, e.line(), format!("{what}: {e}")));
    }
    if !builder.seen_nftables {
        return Err(ParseError::new(
            file,
            0,
            "not `nft -j` output: no \"nftables\" array",
        ));
    }
    builder.finish()
}

// ---------------------------------------------------------------------------------------------
// A small borrowed JSON tree: strings borrow from the input when they have no escapes, objects
// are vectors (nft objects have a handful of keys, looked up linearly).

/// The intermediate form both nft parsers build: `nft -j`'s JSON, as a tree. The text parser
/// ([`crate::parse::nft_text`]) writes each table, set, chain and rule as the object `nft -j`
/// prints for it, so one mapping ([`Builder`]) turns both formats into the model. A bare string
/// in a rule's `expr` list is a statement the text parser kept as written (opaque).
#[derive(Debug, Clone)]
pub(super) enum J<'a> {
    Null,
    Bool(bool),
    U(u64),
    I(i64),
    F(f64),
    S(Cow<'a, str>),
    A(Vec<J<'a>>),
    O(Vec<(Cow<'a, str>, J<'a>)>),
}

impl<'a> J<'a> {
    pub(super) fn get(&self, key: &str) -> Option<&J<'a>> {
        match self {
            J::O(fields) => fields.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
    pub(super) fn as_str(&self) -> Option<&str> {
        match self {
            J::S(s) => Some(s),
            _ => None,
        }
    }
    fn as_arr(&self) -> Option<&[J<'a>]> {
        match self {
            J::A(a) => Some(a),
            _ => None,
        }
    }
    fn as_i64(&self) -> Option<i64> {
        match self {
            J::U(n) => i64::try_from(*n).ok(),
            J::I(n) => Some(*n),
            _ => None,
        }
    }
    fn as_u64(&self) -> Option<u64> {
        match self {
            J::U(n) => Some(*n),
            J::I(n) => u64::try_from(*n).ok(),
            _ => None,
        }
    }
    /// A single-key object `{"kind": value}`: the shape of every nft statement and expression.
    fn single(&self) -> Option<(&str, &J<'a>)> {
        match self {
            J::O(fields) if fields.len() == 1 => Some((&fields[0].0, &fields[0].1)),
            _ => None,
        }
    }
    pub(super) fn str_field(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(J::as_str)
    }
}

/// Compact JSON, for things the renderer has no nft syntax for.
impl fmt::Display for J<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            J::Null => f.write_str("null"),
            J::Bool(b) => write!(f, "{b}"),
            J::U(n) => write!(f, "{n}"),
            J::I(n) => write!(f, "{n}"),
            J::F(n) => write!(f, "{n}"),
            J::S(s) => write!(f, "{s:?}"),
            J::A(a) => {
                f.write_str("[")?;
                for (i, v) in a.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
            J::O(o) => {
                f.write_str("{")?;
                for (i, (k, v)) in o.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{k:?}:{v}")?;
                }
                f.write_str("}")
            }
        }
    }
}

/// A map key that borrows from the input when it can.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

impl<'de> Deserialize<'de> for J<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = J<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_unit<E: de::Error>(self) -> Result<J<'de>, E> {
                Ok(J::Null)
            }
            fn visit_none<E: de::Error>(self) -> Result<J<'de>, E> {
                Ok(J::Null)
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<J<'de>, E> {
                Ok(J::Bool(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<J<'de>, E> {
                Ok(J::U(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<J<'de>, E> {
                Ok(if v >= 0 { J::U(v as u64) } else { J::I(v) })
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<J<'de>, E> {
                Ok(J::F(v))
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<J<'de>, E> {
                Ok(J::S(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<J<'de>, E> {
                Ok(J::S(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<J<'de>, E> {
                Ok(J::S(Cow::Owned(v)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<J<'de>, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
                while let Some(v) = seq.next_element()? {
                    out.push(v);
                }
                Ok(J::A(out))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<J<'de>, A::Error> {
                let mut out = Vec::with_capacity(map.size_hint().unwrap_or(0).min(64));
                while let Some((k, v)) = map.next_entry::<Key<'de>, J<'de>>()? {
                    out.push((k.0, v));
                }
                Ok(J::O(out))
            }
        }
        d.deserialize_any(V)
    }
}

// ---------------------------------------------------------------------------------------------
// Streaming over the `nftables` array: each object is read into a small tree, turned into model
// types and dropped, so memory stays proportional to the model, not to the JSON.

/// A named set or map of one table (the whole JSON object, kept for `@name` lookups).
struct SetDef<'a> {
    body: J<'a>,
}

impl<'a> SetDef<'a> {
    /// `type` is an array for concatenated types (`ipv4_addr . inet_service`).
    fn concat(&self) -> bool {
        matches!(self.body.get("type"), Some(J::A(_)))
    }
    /// The `map` field of maps: `verdict` for verdict maps. None for sets.
    fn map_data(&self) -> Option<&str> {
        self.body.str_field("map")
    }
    fn is_map(&self) -> bool {
        self.body.get("map").is_some()
    }
    fn elems(&self) -> &[J<'a>] {
        self.body.get("elem").and_then(J::as_arr).unwrap_or(&[])
    }
}

type Sets<'a> = HashMap<String, SetDef<'a>>;

/// Per-table facts gathered while walking, used for set lookups and the stack heuristic.
struct TableInfo<'a> {
    sets: Sets<'a>,
    /// Named sets, maps, counters, quotas, ... (iptables-nft creates none).
    has_objects: bool,
    /// Every rule so far is made of expressions iptables-nft emits.
    rules_iptables_shaped: bool,
}

/// Stateful objects of a table. Other kinds (`element` commands, ...) carry no table shape.
const TABLE_OBJECTS: &[&str] = &[
    "set",
    "map",
    "flowtable",
    "counter",
    "quota",
    "limit",
    "ct helper",
    "ct timeout",
    "ct expectation",
    "secmark",
    "synproxy",
];

/// Turns the intermediate form, one object at a time, into [`Table`]s (used by both parsers).
pub(super) struct Builder<'f, 'a> {
    file: &'f str,
    /// The source line of the object being added (text input), 0 for JSON.
    line: usize,
    /// Text input: `nft list ruleset` prints iptables-nft's `xt` expressions translated
    /// (`ct state`, `fib daddr type local`, `dnat to`), so the stack test accepts those too.
    text_input: bool,
    /// Tables the input says are iptables-nft's (nft's "managed by iptables-nft" warning).
    managed_by_iptables_nft: Vec<(Family, String)>,
    tables: Vec<Table>,
    infos: Vec<TableInfo<'a>>,
    index: HashMap<Family, HashMap<String, usize>>,
    /// The table and chain (positions) the last rule went to: the next rule, most often in the
    /// same chain, is checked against their names instead of the two hash lookups. The same
    /// answer as the index (tables and chains are never removed or moved).
    last_chain: Cell<Option<(usize, usize)>>,
    /// Chains and rules that came before what they refer to (never in real `nft -j` output,
    /// which lists a table's sets, then chains, then rules). Once one is held back, all later
    /// ones are too, so chain and rule order is kept.
    deferred_chains: Vec<(usize, usize, J<'a>)>,
    deferred_rules: Vec<(usize, usize, J<'a>)>,
    /// The first model error; serde is then stopped with a placeholder error.
    error: Option<ParseError>,
    seen_nftables: bool,
}

impl<'f, 'a> Builder<'f, 'a> {
    pub(super) fn new(file: &'f str) -> Self {
        Builder {
            file,
            line: 0,
            text_input: false,
            managed_by_iptables_nft: Vec::new(),
            tables: Vec::new(),
            infos: Vec::new(),
            index: HashMap::new(),
            last_chain: Cell::new(None),
            deferred_chains: Vec::new(),
            deferred_rules: Vec::new(),
            error: None,
            seen_nftables: false,
        }
    }

    /// Text input: set the line the next objects come from, and use the text stack test.
    pub(super) fn for_text(&mut self, line: usize) {
        self.text_input = true;
        self.line = line;
    }

    /// The input says this table belongs to iptables-nft.
    pub(super) fn mark_iptables_nft(&mut self, family: Family, name: &str) {
        self.managed_by_iptables_nft
            .push((family, name.to_string()));
    }

    fn err(&self, i: usize, kind: &str, msg: impl fmt::Display) -> ParseError {
        object_err(self.file, self.line, i, kind, msg)
    }

    /// The position of table `family name`, if declared.
    pub(super) fn table_position(&self, family: Family, name: &str) -> Option<usize> {
        self.index.get(&family)?.get(name).copied()
    }

    /// Room for `n` more chains in table `t` (a [`Builder::table_position`]).
    pub(super) fn reserve_chains(&mut self, t: usize, n: usize) {
        self.tables[t].reserve_chains(n);
    }

    /// The builder split for rules converted away from it (the text parser's workers): each
    /// table's sets and maps, lent to the workers (by table position), and the tables, which
    /// take the converted chains in order meanwhile.
    pub(super) fn split_for_pieces(&mut self) -> (Vec<RuleContext<'_, 'a>>, ChainSink<'_>) {
        let mut contexts = Vec::with_capacity(self.infos.len());
        let mut shaped = Vec::with_capacity(self.infos.len());
        for info in self.infos.iter_mut() {
            let TableInfo {
                sets,
                rules_iptables_shaped,
                ..
            } = info;
            contexts.push(RuleContext { sets });
            shaped.push(rules_iptables_shaped);
        }
        let sink = ChainSink {
            tables: &mut self.tables,
            shaped,
        };
        (contexts, sink)
    }

    /// One element of the `nftables` array.
    pub(super) fn item(&mut self, i: usize, kind: &str, body: J<'a>) -> Result<(), ParseError> {
        match kind {
            "table" => self.table(i, &body),
            "chain" => {
                if self.deferred_chains.is_empty() && self.lookup_table(&body).is_some() {
                    self.chain(i, &body)
                } else {
                    self.deferred_chains.push((i, self.line, body));
                    Ok(())
                }
            }
            "rule" => {
                if self.deferred_rules.is_empty() && self.rule_ready(&body) {
                    self.rule(i, &body)
                } else {
                    self.deferred_rules.push((i, self.line, body));
                    Ok(())
                }
            }
            _ if TABLE_OBJECTS.contains(&kind) => self.object(i, kind, body),
            _ => Ok(()),
        }
    }

    pub(super) fn finish(mut self) -> Result<Vec<Table>, ParseError> {
        for (i, line, body) in std::mem::take(&mut self.deferred_chains) {
            self.line = line;
            self.chain(i, &body)?;
        }
        for (i, line, body) in std::mem::take(&mut self.deferred_rules) {
            self.line = line;
            self.rule(i, &body)?;
        }
        for (table, info) in self.tables.iter_mut().zip(&self.infos) {
            let marked = self
                .managed_by_iptables_nft
                .iter()
                .any(|(f, n)| *f == table.family && *n == table.name);
            table.stack = if marked {
                Stack::IptablesNft
            } else {
                classify(table, info)
            };
        }
        Ok(self.tables)
    }

    fn family(&self, i: usize, kind: &str, body: &J<'_>) -> Result<Family, ParseError> {
        let fam = body
            .str_field("family")
            .ok_or_else(|| self.err(i, kind, "no \"family\""))?;
        Family::parse(fam).ok_or_else(|| self.err(i, kind, format!("unknown family {fam:?}")))
    }

    fn table(&mut self, i: usize, body: &J<'_>) -> Result<(), ParseError> {
        let family = self.family(i, "table", body)?;
        let name = body
            .str_field("name")
            .ok_or_else(|| self.err(i, "table", "no \"name\""))?;
        let by_name = self.index.entry(family).or_default();
        if !by_name.contains_key(name) {
            by_name.insert(name.to_string(), self.tables.len());
            self.tables
                .push(Table::new(Stack::Nft, family, name, self.file));
            self.infos.push(TableInfo {
                sets: HashMap::new(),
                has_objects: false,
                rules_iptables_shaped: true,
            });
        }
        Ok(())
    }

    /// The table an object belongs to (`family` + `table` fields), if declared.
    fn lookup_table(&self, body: &J<'_>) -> Option<usize> {
        let family = Family::parse(body.str_field("family")?)?;
        let name = body.str_field("table")?;
        self.index.get(&family)?.get(name).copied()
    }

    /// Like [`Builder::lookup_table`], with an error naming what is wrong.
    fn owner(&self, i: usize, kind: &str, body: &J<'_>) -> Result<usize, ParseError> {
        let family = self.family(i, kind, body)?;
        let name = body
            .str_field("table")
            .ok_or_else(|| self.err(i, kind, "no \"table\""))?;
        self.lookup_table(body).ok_or_else(|| {
            self.err(
                i,
                kind,
                format!("refers to table {family} {name}, which is not declared"),
            )
        })
    }

    fn object(&mut self, i: usize, kind: &str, body: J<'a>) -> Result<(), ParseError> {
        let t = self.owner(i, kind, &body)?;
        self.infos[t].has_objects = true;
        if kind == "set" || kind == "map" {
            let name = body
                .str_field("name")
                .ok_or_else(|| self.err(i, kind, "no \"name\""))?
                .to_string();
            self.infos[t].sets.insert(name, SetDef { body });
        }
        Ok(())
    }

    fn chain(&mut self, i: usize, body: &J<'_>) -> Result<(), ParseError> {
        let t = self.owner(i, "chain", body)?;
        let chain = chain_model(self.file, self.line, i, body)?;
        self.tables[t].add_chain(chain);
        Ok(())
    }
    /// The declared table and chain (positions) a rule names, if both are known.
    fn rule_chain(&self, body: &J<'_>) -> Option<(usize, usize)> {
        let family = Family::parse(body.str_field("family")?)?;
        let table = body.str_field("table")?;
        let chain = body.str_field("chain")?;
        if let Some((t, c)) = self.last_chain.get() {
            let tab = &self.tables[t];
            if tab.family == family && tab.name == table && tab.chains[c].name == chain {
                return Some((t, c));
            }
        }
        let t = *self.index.get(&family)?.get(table)?;
        let c = self.tables[t].chain_index(chain)?;
        self.last_chain.set(Some((t, c)));
        Some((t, c))
    }

    /// Are the table, the chain and every `@set` a rule refers to already known?
    fn rule_ready(&self, body: &J<'_>) -> bool {
        let Some((t, _)) = self.rule_chain(body) else {
            return false;
        };
        body.get("expr")
            .is_none_or(|e| set_refs_known(e, &self.infos[t].sets))
    }

    fn rule(&mut self, i: usize, body: &J<'_>) -> Result<(), ParseError> {
        let Some((t, c)) = self.rule_chain(body) else {
            let t = self.owner(i, "rule", body)?;
            let chain = body
                .str_field("chain")
                .ok_or_else(|| self.err(i, "rule", "no \"chain\""))?;
            return Err(self.err(
                i,
                "rule",
                format!(
                    "refers to chain {chain} in table {}, which is not declared",
                    self.tables[t].name
                ),
            ));
        };
        let exprs = match body.get("expr") {
            Some(J::A(a)) => a.as_slice(),
            None => &[],
            Some(other) => {
                return Err(self.err(i, "rule", format!("\"expr\" is not a list: {other}")));
            }
        };
        let comment = body.str_field("comment");
        let info = &self.infos[t];
        let handle = body.get("handle").and_then(J::as_u64);
        let (rule, shaped) = rule_model(
            exprs,
            comment,
            handle,
            self.line,
            &info.sets,
            self.text_input,
        );
        self.infos[t].rules_iptables_shaped &= shaped;
        self.tables[t].chains[c].rules.push(rule);
        Ok(())
    }
}

/// The error of object `i` of kind `kind`: at the line for text, else at its `nftables[i]`.
fn object_err(file: &str, line: usize, i: usize, kind: &str, msg: impl fmt::Display) -> ParseError {
    if line > 0 {
        return ParseError::new(file, line, format!("{kind}: {msg}"));
    }
    ParseError::new(file, 0, format!("nftables[{i}] ({kind}): {msg}"))
}

/// The model chain (no rules yet) of a `chain` object, object `i` of `file` (at `line` for
/// text): what [`Builder::item`] adds to the table.
pub(super) fn chain_model(
    file: &str,
    line: usize,
    i: usize,
    body: &J<'_>,
) -> Result<Chain, ParseError> {
    let name = body
        .str_field("name")
        .ok_or_else(|| object_err(file, line, i, "chain", "no \"name\""))?;
    let base = match body.get("hook") {
        None => None,
        Some(h) => Some(base_chain(file, line, i, name, h, body)?),
    };
    Ok(Chain {
        name: name.into(),
        base,
        rules: Vec::new(),
        line,
    })
}

fn base_chain(
    file: &str,
    line: usize,
    i: usize,
    name: &str,
    hook: &J<'_>,
    body: &J<'_>,
) -> Result<BaseChain, ParseError> {
    let bad = |msg: String| object_err(file, line, i, "chain", format!("{name}: {msg}"));
    let h = hook
        .as_str()
        .ok_or_else(|| bad(format!("bad hook {hook}")))?;
    let hook = Hook::parse(h).ok_or_else(|| bad(format!("unknown hook {h:?}")))?;
    let priority = match body.get("prio") {
        Some(p) => priority(p).ok_or_else(|| bad(format!("bad priority {p}")))?,
        None => return Err(bad("base chain without a priority".to_string())),
    };
    let chain_type = match body.str_field("type").unwrap_or("filter") {
        "filter" => ChainType::Filter,
        "nat" => ChainType::Nat,
        "route" => ChainType::Route,
        other => return Err(bad(format!("unknown chain type {other:?}"))),
    };
    let policy = match body.str_field("policy") {
        None | Some("accept") => Policy::Accept,
        Some("drop") => Policy::Drop,
        Some(other) => return Err(bad(format!("unknown policy {other:?}"))),
    };
    Ok(BaseChain {
        hook,
        priority,
        chain_type,
        policy,
        counters: None,
    })
}

/// A table's sets and maps, lent to code that converts its rules away from the builder.
#[derive(Clone, Copy)]
pub(super) struct RuleContext<'b, 'a> {
    sets: &'b Sets<'a>,
}

/// The builder's tables, taking chains made and rules converted away from it
/// ([`Builder::split_for_pieces`]) as [`Builder::item`] would take them one by one.
pub(super) struct ChainSink<'b> {
    tables: &'b mut [Table],
    shaped: Vec<&'b mut bool>,
}

impl ChainSink<'_> {
    /// Add a chain made by [`chain_model`], with the rules already in it, to table `t`: as
    /// the chain and then each rule would be added. A chain whose name is taken gets the rules
    /// appended to the one declared first, as rules naming it would.
    pub(super) fn add_chain(&mut self, t: usize, mut chain: Chain) {
        let rules = std::mem::take(&mut chain.rules);
        let c = self.tables[t].add_chain(chain);
        if c.rules.is_empty() {
            c.rules = rules;
        } else {
            c.rules.extend(rules);
        }
    }

    /// Append rules to chain `name` of table `t`; false if there is no such chain.
    pub(super) fn add_rules(&mut self, t: usize, name: &str, rules: Vec<Rule>) -> bool {
        match self.tables[t].chain_mut(name) {
            Some(c) if c.rules.is_empty() => {
                c.rules = rules;
                true
            }
            Some(c) => {
                c.rules.extend(rules);
                true
            }
            None => false,
        }
    }

    /// Whether rules added to table `t` were all iptables-shaped ([`text_rule`]'s second
    /// answer, and-ed over them).
    pub(super) fn and_iptables_shaped(&mut self, t: usize, shaped: bool) {
        *self.shaped[t] &= shaped;
    }
}

/// A text rule of the table `cx` names, as [`Builder::item`] would convert it (the same
/// code): the model rule, and whether its statements are all iptables-nft's.
pub(super) fn text_rule(
    cx: &RuleContext<'_, '_>,
    exprs: &[J<'_>],
    comment: Option<&str>,
    handle: Option<u64>,
    line: usize,
) -> (Rule, bool) {
    rule_model(exprs, comment, handle, line, cx.sets, true)
}

/// The model rule of a rule object's parts, and whether every statement is iptables-shaped.
fn rule_model(
    exprs: &[J<'_>],
    comment: Option<&str>,
    handle: Option<u64>,
    line: usize,
    sets: &Sets<'_>,
    text_input: bool,
) -> (Rule, bool) {
    let shaped = exprs
        .iter()
        .all(|e| iptables_shaped(e) || (text_input && iptables_translated(e)));
    let mut rule = convert_rule(exprs, comment, sets);
    rule.handle = handle.and_then(std::num::NonZeroU64::new);
    rule.line = line;
    (rule, shaped)
}

/// Does every `"@name"` string in this expression tree name a known set or map?
fn set_refs_known(e: &J<'_>, sets: &Sets<'_>) -> bool {
    match e {
        J::S(s) => s.strip_prefix('@').is_none_or(|n| sets.contains_key(n)),
        J::A(a) => a.iter().all(|x| set_refs_known(x, sets)),
        J::O(o) => o.iter().all(|(_, x)| set_refs_known(x, sets)),
        _ => true,
    }
}

/// Placeholder serde error that stops deserialization after a model error.
const STOP: &str = "fwdoctor: stopped";

/// The top-level object: finds `"nftables"` and skips anything else.
struct RootSeed<'b, 'f, 'a>(&'b mut Builder<'f, 'a>);

impl<'de, 'f> DeserializeSeed<'de> for RootSeed<'_, 'f, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, 'f> Visitor<'de> for RootSeed<'_, 'f, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object with an \"nftables\" array")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<Key<'de>>()? {
            if key.0 == "nftables" {
                self.0.seen_nftables = true;
                map.next_value_seed(ItemsSeed(&mut *self.0))?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

/// The `nftables` array.
struct ItemsSeed<'b, 'f, 'a>(&'b mut Builder<'f, 'a>);

impl<'de, 'f> DeserializeSeed<'de> for ItemsSeed<'_, 'f, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, 'f> Visitor<'de> for ItemsSeed<'_, 'f, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an \"nftables\" array")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0;
        while let Some(()) = seq.next_element_seed(ItemSeed(&mut *self.0, i))? {
            i += 1;
        }
        Ok(())
    }
}

/// One `{"kind": {...}}` element of the `nftables` array.
struct ItemSeed<'b, 'f, 'a>(&'b mut Builder<'f, 'a>, usize);

impl<'de, 'f> DeserializeSeed<'de> for ItemSeed<'_, 'f, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, 'f> Visitor<'de> for ItemSeed<'_, 'f, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object with one key, like {\"table\": {..}}")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let ItemSeed(builder, i) = self;
        let Some(kind) = map.next_key::<Key<'de>>()? else {
            return Err(de::Error::custom(format!(
                "nftables[{i}]: expected an object with one key, found {{}}"
            )));
        };
        const KEPT: &[&str] = &["table", "chain", "rule"];
        if KEPT.contains(&&*kind.0) || TABLE_OBJECTS.contains(&&*kind.0) {
            let body: J<'de> = map.next_value()?;
            if let Err(e) = builder.item(i, &kind.0, body) {
                builder.error = Some(e);
                return Err(de::Error::custom(STOP));
            }
        } else {
            map.next_value::<IgnoredAny>()?;
        }
        if let Some(extra) = map.next_key::<Key<'de>>()? {
            return Err(de::Error::custom(format!(
                "nftables[{i}]: expected an object with one key, found {:?} and {:?}",
                kind.0, extra.0
            )));
        }
        Ok(())
    }
}

/// A chain priority: a number, or (in some nft versions) a keyword like `"filter"`, `"dstnat"`,
/// `"srcnat + 10"`, or a numeric string.
fn priority(p: &J<'_>) -> Option<i32> {
    if let Some(n) = p.as_i64() {
        return i32::try_from(n).ok();
    }
    let s = p.as_str()?.trim();
    if let Ok(n) = s.parse::<i32>() {
        return Some(n);
    }
    let (word, rest) = match s.find(['+', '-']) {
        Some(pos) => (s[..pos].trim(), &s[pos..]),
        None => (s, ""),
    };
    let base = nft_priority_keyword(word)?;
    if rest.is_empty() {
        return Some(base);
    }
    let (sign, num) = rest.split_at(1);
    let n: i32 = num.trim().parse().ok()?;
    if sign == "-" {
        base.checked_sub(n)
    } else {
        base.checked_add(n)
    }
}

// ---------------------------------------------------------------------------------------------
// The iptables-nft heuristic.

const IPTABLES_TABLES: &[&str] = &["filter", "nat", "mangle", "raw", "security"];

fn classify(table: &Table, info: &TableInfo<'_>) -> Stack {
    let owned = matches!(table.family, Family::Ip | Family::Ip6)
        && IPTABLES_TABLES.contains(&table.name.as_str())
        && !table.chains.is_empty()
        && !info.has_objects
        && info.rules_iptables_shaped
        && table.chains.iter().all(|c| match &c.base {
            None => true,
            Some(b) => iptables_base_chain(&table.name, &c.name)
                .is_some_and(|(h, p, ty)| h == b.hook && p == b.priority && ty == b.chain_type),
        });
    if owned {
        Stack::IptablesNft
    } else {
        Stack::Nft
    }
}

/// Is this statement one iptables-nft (1.8.x) emits and can read back?
fn iptables_shaped(stmt: &J<'_>) -> bool {
    let Some((kind, body)) = stmt.single() else {
        return false;
    };
    match kind {
        "xt" | "accept" | "drop" | "return" | "jump" | "goto" | "limit" => true,
        "counter" => matches!(body, J::O(_)),
        "log" => body.get("group").is_some(),
        "match" => {
            let left_ok = body.get("left").is_some_and(iptables_shaped_expr);
            let right_ok = !matches!(body.get("right"), Some(J::S(s)) if s.starts_with('@'));
            left_ok && right_ok
        }
        _ => false,
    }
}

/// The left side of an iptables-nft match: payload, a few meta keys, or a bitmask of those
/// (`-m mark --mark 0x4000/0x4000` is `meta mark & 0x4000 == 0x4000` since iptables 1.8.x).
fn iptables_shaped_expr(e: &J<'_>) -> bool {
    match e.single() {
        Some(("payload", _)) => true,
        Some(("meta", m)) => matches!(
            m.str_field("key"),
            Some("iifname" | "oifname" | "iif" | "oif" | "l4proto" | "mark" | "protocol")
        ),
        Some((op, J::A(args))) if BINARY_OPS.contains(&op) => {
            args.first().is_some_and(iptables_shaped_expr)
        }
        _ => false,
    }
}

/// What `nft list ruleset` prints for the `xt` expressions iptables-nft writes: libxtables
/// translates them (`-m conntrack` is `ct state`, `-m addrtype` is `fib daddr type`, `-j DNAT`
/// is `dnat to`, ip6tables' `-m rt --rt-type 0` is `rt type 0`), so in text they cannot be told
/// from native ones.
fn iptables_translated(stmt: &J<'_>) -> bool {
    let Some((kind, body)) = stmt.single() else {
        return false;
    };
    match kind {
        "reject" | "masquerade" | "snat" | "dnat" | "redirect" | "notrack" | "log" | "mangle"
        | "counter" | "queue" => true,
        "match" => {
            let left_ok = match body.get("left").and_then(J::single) {
                Some(("ct" | "fib" | "meta" | "rt", _)) => true,
                _ => body.get("left").is_some_and(iptables_shaped_expr),
            };
            let right_ok = !matches!(body.get("right"), Some(J::S(s)) if s.starts_with('@'));
            left_ok && right_ok
        }
        _ => false,
    }
}

/// nft JSON binary operators: `{"&": [left, right]}`.
const BINARY_OPS: &[&str] = &["&", "|", "^", "<<", ">>"];

// ---------------------------------------------------------------------------------------------
// Rules.

fn convert_rule(exprs: &[J<'_>], comment: Option<&str>, sets: &Sets<'_>) -> Rule {
    let mut text = String::new();
    let mut matches = Vec::new();
    let mut action: Option<Action> = None;
    let mut side_effect: Option<String> = None;
    let mut counters = None;
    let mut opaque: Option<String> = None;
    for e in exprs {
        let start = text.len();
        if start > 0 {
            text.push(' ');
        }
        render_stmt(&mut text, e);
        let rendered = text[start..].trim_start();
        let Some((kind, body)) = e.single() else {
            if action.is_none() && matches!(e, J::S(_)) {
                opaque.get_or_insert_with(|| rendered.to_string());
            }
            matches.push(Match::Unknown {
                text: rendered.into(),
            });
            continue;
        };
        if action.is_some() {
            // Statements after a terminal one never run; they stay in the text only.
            continue;
        }
        match kind {
            "match" => convert_match(body, sets, rendered, &mut matches),
            "counter" => {
                if let (Some(p), Some(b)) = (
                    body.get("packets").and_then(J::as_u64),
                    body.get("bytes").and_then(J::as_u64),
                ) {
                    counters = Some(Counters {
                        packets: p,
                        bytes: b,
                    });
                }
                side_effect.get_or_insert_with(|| "counter".to_string());
            }
            "xt" => {
                let name = body.str_field("name").unwrap_or("?");
                match body.str_field("type") {
                    Some("target") => match xt_target(name) {
                        Some(a) => action = Some(a),
                        None => side_effect = Some(name.to_string()),
                    },
                    Some("watcher") => side_effect = Some(format!("xt watcher {name:?}")),
                    _ => matches.push(Match::Unknown {
                        text: format!("xt match {name:?}").into(),
                    }),
                }
            }
            "log" | "mangle" | "notrack" | "set" | "flow" | "dup" | "ct helper" | "ct timeout"
            | "ct expectation" | "secmark" => {
                side_effect = Some(match kind {
                    "mangle" => rendered.to_string(),
                    "set" => "set update".to_string(),
                    other => other.to_string(),
                });
            }
            _ => match convert_action(kind, body, sets, rendered) {
                Some(a) => action = Some(a),
                None => matches.push(Match::Unknown {
                    text: rendered.into(),
                }),
            },
        }
    }
    if let Some(c) = comment {
        if !text.is_empty() {
            text.push(' ');
        }
        text.push_str("comment ");
        push_quoted(&mut text, c);
        matches.push(Match::Comment { text: c.into() });
    }
    Rule {
        line: 0,
        text: text.into(),
        matches: matches.into(),
        // A statement kept as written may be the verdict: what the rule does is unknown.
        action: action.unwrap_or_else(|| match opaque {
            Some(text) => Action::Unknown { text: text.into() },
            None => Action::Continue {
                name: side_effect.map(Text::from),
            },
        }),
        counters: counters.map(Box::new),
        handle: None,
    }
}

/// An iptables-nft compat target. `nft -j` drops the target's options, so only targets whose
/// effect does not depend on them are resolved: REJECT, MASQUERADE and SNAT by name, and the
/// non-terminating ones (LOG, MARK, ...: None, the rule continues). DNAT, REDIRECT and anything
/// else become [`Action::Unknown`] (the new destination is not in the JSON).
fn xt_target(name: &str) -> Option<Action> {
    const CONTINUING: &[&str] = &[
        "LOG",
        "NFLOG",
        "ULOG",
        "MARK",
        "CONNMARK",
        "TRACE",
        "CT",
        "NOTRACK",
        "CLASSIFY",
        "DSCP",
        "TOS",
        "TCPMSS",
        "TTL",
        "HL",
        "SECMARK",
        "CONNSECMARK",
        "AUDIT",
        "CHECKSUM",
        "IDLETIMER",
        "LED",
    ];
    match name {
        "REJECT" => Some(Action::Reject),
        "MASQUERADE" => Some(Action::Masquerade),
        "SNAT" => Some(Action::Snat),
        n if CONTINUING.contains(&n) => None,
        n => Some(Action::Unknown {
            text: format!("xt target {n:?}").into(),
        }),
    }
}

/// Terminal statements and verdicts. None: not an action (becomes an unknown match).
fn convert_action(kind: &str, body: &J<'_>, sets: &Sets<'_>, rendered: &str) -> Option<Action> {
    if let Some(a) = verdict(kind, body) {
        return Some(a);
    }
    let unknown = || Action::Unknown {
        text: rendered.into(),
    };
    Some(match kind {
        "reject" => Action::Reject,
        "masquerade" => Action::Masquerade,
        "snat" => Action::Snat,
        "dnat" => {
            let addr = match body.get("addr") {
                None => None,
                Some(a) => match a.as_str().and_then(|s| s.parse::<IpAddr>().ok()) {
                    Some(ip) => Some(ip),
                    None => return Some(unknown()),
                },
            };
            let port = match body.get("port") {
                None => None,
                Some(p) => match port_range(p) {
                    Some(r) => Some(r),
                    None => return Some(unknown()),
                },
            };
            Action::Dnat { addr, port }
        }
        "redirect" => match body.get("port") {
            None => Action::Redirect { port: None },
            Some(p) => match port_range(p) {
                Some(r) => Action::Redirect { port: Some(r) },
                None => unknown(),
            },
        },
        "vmap" => vmap(body, sets).unwrap_or_else(unknown),
        "queue" | "tproxy" | "synproxy" | "fwd" => unknown(),
        _ => return None,
    })
}

/// A plain verdict: `{"accept": null}`, `{"jump": {"target": "X"}}`, ...
fn verdict(kind: &str, body: &J<'_>) -> Option<Action> {
    Some(match kind {
        "accept" => Action::Accept,
        "drop" => Action::Drop,
        "return" => Action::Return,
        "continue" => Action::Continue { name: None },
        "jump" => Action::jump(body.str_field("target")?),
        "goto" => Action::goto(body.str_field("target")?),
        _ => return None,
    })
}

fn vmap(body: &J<'_>, sets: &Sets<'_>) -> Option<Action> {
    let key = match body.get("key")?.single() {
        Some(("meta", m)) => match m.str_field("key") {
            Some("iifname") => VmapKey::Iifname,
            Some("oifname") => VmapKey::Oifname,
            _ => VmapKey::Other,
        },
        _ => VmapKey::Other,
    };
    let elems: &[J<'_>] = match body.get("data")? {
        J::S(s) => {
            let def = sets.get(s.strip_prefix('@')?)?;
            if def.map_data() != Some("verdict") {
                return None;
            }
            def.elems()
        }
        J::O(_) => body.get("data")?.get("set")?.as_arr()?,
        J::A(a) => a,
        _ => return None,
    };
    let mut entries = Vec::with_capacity(elems.len());
    for pair in elems {
        let pair = pair.as_arr()?;
        let [k, v] = pair else { return None };
        let k = unwrap_elem(k);
        let mut name = String::new();
        render_value(&mut name, k, false);
        if key != VmapKey::Other {
            name = ifname(&name);
        }
        let action = match v.single().and_then(|(kind, b)| verdict(kind, b)) {
            Some(a) => a,
            None => {
                let mut t = String::new();
                render_stmt(&mut t, v);
                Action::Unknown { text: t.into() }
            }
        };
        entries.push((name, action));
    }
    Some(Action::VerdictMap { key, entries })
}

/// Set elements may be wrapped as `{"elem": {"val": V, "timeout": .., "comment": ..}}`.
fn unwrap_elem<'x, 'a>(v: &'x J<'a>) -> &'x J<'a> {
    match v.get("elem").and_then(|e| e.get("val")) {
        Some(inner) => inner,
        None => v,
    }
}

/// nft writes an interface wildcard as a trailing `*` (`"br-*"`, also for iptables' `br-+`);
/// the model uses iptables' trailing `+`. An escaped `\*` is a literal star.
fn ifname(s: &str) -> String {
    match s.strip_suffix('*') {
        Some(stem) if !stem.ends_with('\\') => format!("{stem}+"),
        _ => s.replace("\\*", "*"),
    }
}

// ---------------------------------------------------------------------------------------------
// Matches.

/// The values on the right of a match, flattened: anonymous sets, plain arrays (`ct state`)
/// and named `@set`s. None when a named set is missing, is a map, or has a concatenated type.
fn values<'x, 'a>(right: &'x J<'a>, sets: &'x Sets<'a>) -> Option<Vec<&'x J<'a>>> {
    match right {
        J::S(s) if s.starts_with('@') => {
            let def = sets.get(&s[1..])?;
            if def.concat() || def.is_map() {
                return None;
            }
            Some(def.elems().iter().map(unwrap_elem).collect())
        }
        J::A(a) => Some(a.iter().map(unwrap_elem).collect()),
        J::O(_) => match right.get("set") {
            Some(J::A(a)) => Some(a.iter().map(unwrap_elem).collect()),
            Some(other) => Some(vec![unwrap_elem(other)]),
            None => Some(vec![right]),
        },
        _ => Some(vec![right]),
    }
}

fn convert_match(body: &J<'_>, sets: &Sets<'_>, rendered: &str, out: &mut Vec<Match>) {
    let unknown = || Match::Unknown {
        text: rendered.into(),
    };
    let (Some(left), Some(right)) = (body.get("left"), body.get("right")) else {
        out.push(unknown());
        return;
    };
    let op = body.str_field("op").unwrap_or("==");
    let negated = match op {
        "==" | "in" | "eq" => false,
        "!=" | "ne" => true,
        "<" | ">" | "<=" | ">=" | "lt" | "gt" | "le" | "ge" => {
            // Only port comparisons are understood: `tcp dport < 1024`.
            match (port_field(left), comparison_range(op, right)) {
                (Some((proto, dir)), Some(r)) => {
                    push_port(out, proto, dir, false, r.into());
                }
                _ => out.push(unknown()),
            }
            return;
        }
        _ => {
            out.push(unknown());
            return;
        }
    };
    match convert_match_kind(left, right, negated, sets, out) {
        Some(()) => {}
        None => out.push(unknown()),
    }
}

/// `tcp dport` / `udp sport` / `th dport`: (protocol to imply, direction).
fn port_field<'x>(left: &'x J<'_>) -> Option<(Option<&'x str>, Dir)> {
    let (kind, p) = left.single()?;
    if kind != "payload" {
        return None;
    }
    let dir = match p.str_field("field")? {
        "sport" => Dir::Src,
        "dport" => Dir::Dst,
        _ => return None,
    };
    match p.str_field("protocol")? {
        "th" => Some((None, dir)),
        proto @ ("tcp" | "udp" | "udplite" | "sctp" | "dccp") => Some((Some(proto), dir)),
        _ => None,
    }
}

fn push_port(
    out: &mut Vec<Match>,
    proto: Option<&str>,
    dir: Dir,
    negated: bool,
    ranges: OneOrMore<(u16, u16)>,
) {
    if let Some(proto) = proto {
        let implied = Match::Proto {
            negated: false,
            proto: proto.into(),
        };
        if !out.contains(&implied) {
            out.push(implied);
        }
    }
    out.push(Match::Port {
        dir,
        negated,
        ranges,
    });
}

fn comparison_range(op: &str, right: &J<'_>) -> Option<(u16, u16)> {
    let n = port_value(right)?;
    match op {
        "<" | "lt" => Some((0, n.checked_sub(1)?)),
        "<=" | "le" => Some((0, n)),
        ">" | "gt" => Some((n.checked_add(1)?, u16::MAX)),
        ">=" | "ge" => Some((n, u16::MAX)),
        _ => None,
    }
}

/// The match kinds the model knows. None: not understood (the caller adds an unknown match).
fn convert_match_kind(
    left: &J<'_>,
    right: &J<'_>,
    negated: bool,
    sets: &Sets<'_>,
    out: &mut Vec<Match>,
) -> Option<()> {
    if let Some((proto, dir)) = port_field(left) {
        let ranges = values(right, sets)?
            .into_iter()
            .map(port_range)
            .collect::<Option<OneOrMore<_>>>()?;
        push_port(out, proto, dir, negated, ranges);
        return Some(());
    }
    let (kind, l) = left.single()?;
    let m = match kind {
        "meta" => match l.str_field("key")? {
            k @ ("iifname" | "oifname" | "iif" | "oif") => Match::Iface {
                dir: if k.starts_with('i') {
                    Dir::Src
                } else {
                    Dir::Dst
                },
                negated,
                names: values(right, sets)?
                    .into_iter()
                    .map(|v| v.as_str().map(|name| Text::from(ifname(name))))
                    .collect::<Option<OneOrMore<_>>>()?,
            },
            "l4proto" => proto_match(right, negated, sets)?,
            "nfproto" => Match::Family {
                negated,
                family: match right.as_str()? {
                    "ipv4" => Family::Ip,
                    "ipv6" => Family::Ip6,
                    _ => return None,
                },
            },
            _ => return None,
        },
        "payload" => {
            let protocol = l.str_field("protocol")?;
            match (protocol, l.str_field("field")?) {
                ("ip" | "ip6", f @ ("saddr" | "daddr")) => Match::Addr {
                    dir: if f == "saddr" { Dir::Src } else { Dir::Dst },
                    negated,
                    nets: nets(right, sets)?.into(),
                },
                ("ip", "protocol") | ("ip6", "nexthdr") => proto_match(right, negated, sets)?,
                _ => return None,
            }
        }
        "ct" => {
            let key = l.str_field("key")?;
            let original = l.str_field("dir") == Some("original");
            match key {
                "state" => Match::CtState {
                    negated,
                    states: values(right, sets)?
                        .into_iter()
                        .map(|v| v.as_str().and_then(CtState::parse))
                        .collect::<Option<OneOrMore<_>>>()?,
                },
                // `ct status dnat` is what iptables calls `--ctstate DNAT`.
                "status" => Match::CtState {
                    negated,
                    states: values(right, sets)?
                        .into_iter()
                        .map(|v| match v.as_str()? {
                            "dnat" => Some(CtState::Dnat),
                            "snat" => Some(CtState::Snat),
                            _ => None,
                        })
                        .collect::<Option<OneOrMore<_>>>()?,
                },
                "proto-dst" if original => Match::CtOrigDstPort {
                    negated,
                    ranges: values(right, sets)?
                        .into_iter()
                        .map(port_range)
                        .collect::<Option<OneOrMore<_>>>()?,
                },
                "daddr" | "ip daddr" | "ip6 daddr" if original => Match::CtOrigDst {
                    negated,
                    nets: nets(right, sets)?.into(),
                },
                _ => return None,
            }
        }
        "fib" => {
            if l.str_field("result")? != "type" {
                return None;
            }
            let flags = l.get("flags")?;
            let flag = match flags {
                J::A(a) if a.len() == 1 => a[0].as_str()?,
                J::S(s) => s,
                _ => return None,
            };
            let dir = match flag {
                "daddr" => Dir::Dst,
                "saddr" => Dir::Src,
                _ => return None,
            };
            Match::AddrType {
                dir,
                negated,
                types: values(right, sets)?
                    .into_iter()
                    .map(|v| {
                        Some(match v.as_str()? {
                            "local" => AddrType::Local,
                            "unicast" => AddrType::Unicast,
                            "broadcast" => AddrType::Broadcast,
                            "multicast" => AddrType::Multicast,
                            _ => AddrType::Other,
                        })
                    })
                    .collect::<Option<OneOrMore<_>>>()?,
            }
        }
        _ => return None,
    };
    out.push(m);
    Some(())
}

fn proto_match(right: &J<'_>, negated: bool, sets: &Sets<'_>) -> Option<Match> {
    let vals = values(right, sets)?;
    // The model holds one protocol per match; `meta l4proto { tcp, udp }` stays unknown.
    let [v] = vals.as_slice() else { return None };
    let proto = match v {
        J::S(s) => s.to_string(),
        _ => match v.as_u64()? {
            1 => "icmp".to_string(),
            6 => "tcp".to_string(),
            17 => "udp".to_string(),
            58 => "icmpv6".to_string(),
            132 => "sctp".to_string(),
            n => n.to_string(),
        },
    };
    Some(Match::Proto {
        negated,
        proto: proto.into(),
    })
}

fn port_value(v: &J<'_>) -> Option<u16> {
    match v {
        J::S(s) => s.parse().ok(),
        _ => u16::try_from(v.as_u64()?).ok(),
    }
}

/// A port or `{"range": [a, b]}`.
fn port_range(v: &J<'_>) -> Option<(u16, u16)> {
    if let Some(J::A(r)) = v.get("range") {
        let [a, b] = r.as_slice() else { return None };
        return Some((port_value(a)?, port_value(b)?));
    }
    let p = port_value(v)?;
    Some((p, p))
}

fn nets(right: &J<'_>, sets: &Sets<'_>) -> Option<Vec<IpNet>> {
    let mut out = Vec::new();
    for v in values(right, sets)? {
        if let Some(p) = v.get("prefix") {
            let addr: IpAddr = p.str_field("addr")?.parse().ok()?;
            let len = u8::try_from(p.get("len")?.as_u64()?).ok()?;
            out.push(IpNet::new(addr, len).ok()?.trunc());
        } else if let Some(J::A(r)) = v.get("range") {
            let [a, b] = r.as_slice() else { return None };
            let a: IpAddr = a.as_str()?.parse().ok()?;
            let b: IpAddr = b.as_str()?.parse().ok()?;
            match (a, b) {
                (IpAddr::V4(a), IpAddr::V4(b)) => {
                    out.extend(Ipv4Subnets::new(a, b, 0).map(IpNet::V4))
                }
                (IpAddr::V6(a), IpAddr::V6(b)) => {
                    out.extend(Ipv6Subnets::new(a, b, 0).map(IpNet::V6))
                }
                _ => return None,
            }
        } else {
            let s = v.as_str()?;
            out.push(match s.parse::<IpNet>() {
                Ok(n) => n.trunc(),
                Err(_) => IpNet::from(s.parse::<IpAddr>().ok()?),
            });
        }
    }
    Some(out)
}

// ---------------------------------------------------------------------------------------------
// Rendering nft syntax.

fn push_quoted(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

/// Meta keys nft prints without the `meta` prefix.
pub(super) fn unqualified_meta(key: &str) -> bool {
    matches!(
        key,
        "iif"
            | "oif"
            | "iifname"
            | "oifname"
            | "iiftype"
            | "oiftype"
            | "iifgroup"
            | "oifgroup"
            | "skuid"
            | "skgid"
            | "rtclassid"
    )
}

/// Does this expression hold strings nft prints quoted (interface names)?
fn quotes_strings(left: &J<'_>) -> bool {
    match left.single() {
        Some(("meta", m)) => matches!(
            m.str_field("key"),
            Some("iifname" | "oifname" | "ibrname" | "obrname" | "ibriport" | "obriport")
        ),
        Some(("concat", J::A(parts))) => parts.iter().any(quotes_strings),
        _ => false,
    }
}

/// An expression (left side, or a statement's key/value).
fn render_expr(out: &mut String, e: &J<'_>) {
    let Some((kind, b)) = e.single() else {
        render_value(out, e, false);
        return;
    };
    match kind {
        "meta" => {
            let key = b.str_field("key").unwrap_or("?");
            if !unqualified_meta(key) {
                out.push_str("meta ");
            }
            out.push_str(key);
        }
        "payload" => match (b.str_field("protocol"), b.str_field("field")) {
            (Some(p), Some(f)) => {
                out.push_str(p);
                out.push(' ');
                out.push_str(f);
            }
            _ => {
                let _ = write!(
                    out,
                    "@{},{},{}",
                    b.str_field("base").unwrap_or("?"),
                    b.get("offset").map(ToString::to_string).unwrap_or_default(),
                    b.get("len").map(ToString::to_string).unwrap_or_default()
                );
            }
        },
        "ct" => {
            out.push_str("ct ");
            if let Some(dir) = b.str_field("dir") {
                out.push_str(dir);
                out.push(' ');
            }
            out.push_str(b.str_field("key").unwrap_or("?"));
        }
        "fib" => {
            out.push_str("fib ");
            match b.get("flags") {
                Some(J::A(flags)) => {
                    for (i, f) in flags.iter().enumerate() {
                        if i > 0 {
                            out.push_str(" . ");
                        }
                        render_value(out, f, false);
                    }
                }
                Some(f) => render_value(out, f, false),
                None => {}
            }
            out.push(' ');
            out.push_str(b.str_field("result").unwrap_or("?"));
        }
        "concat" => {
            if let J::A(parts) = b {
                for (i, p) in parts.iter().enumerate() {
                    if i > 0 {
                        out.push_str(" . ");
                    }
                    render_expr(out, p);
                }
            }
        }
        "rt" | "socket" | "osf" | "ipsec" => {
            out.push_str(kind);
            out.push(' ');
            out.push_str(b.str_field("key").unwrap_or("?"));
        }
        "map" => {
            if let Some(k) = b.get("key") {
                render_expr(out, k);
            }
            out.push_str(" map ");
            if let Some(d) = b.get("data") {
                render_value(out, d, false);
            }
        }
        op if BINARY_OPS.contains(&op) => match b {
            J::A(args) if args.len() == 2 => {
                render_expr(out, &args[0]);
                out.push(' ');
                out.push_str(op);
                out.push(' ');
                render_value(out, &args[1], false);
            }
            _ => {
                let _ = write!(out, "{e}");
            }
        },
        // Never hand back to render_value: it calls here for unknown objects.
        _ => {
            let _ = write!(out, "{e}");
        }
    }
}

/// `n` in decimal, as `write!` would put it (without the formatting machinery: rendering
/// every rule's text is a good part of a big parse).
fn push_u64(out: &mut String, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &d in &buf[i..] {
        out.push(char::from(d));
    }
}

/// A value (right side of a match, set element, address, ...).
fn render_value(out: &mut String, v: &J<'_>, quote: bool) {
    match v {
        J::S(s) => {
            if quote && !s.starts_with('@') {
                push_quoted(out, s);
            } else {
                out.push_str(s);
            }
        }
        J::U(n) => push_u64(out, *n),
        J::I(_) | J::F(_) | J::Bool(_) | J::Null => {
            let _ = write!(out, "{v}");
        }
        // `ct state established,related`
        J::A(a) => {
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                render_value(out, x, quote);
            }
        }
        J::O(_) => {
            let Some((kind, b)) = v.single() else {
                let _ = write!(out, "{v}");
                return;
            };
            match kind {
                "prefix" => {
                    out.push_str(b.str_field("addr").unwrap_or("?"));
                    out.push('/');
                    match b.get("len") {
                        Some(J::U(n)) => push_u64(out, *n),
                        Some(other) => {
                            let _ = write!(out, "{other}");
                        }
                        None => {}
                    }
                }
                "range" => {
                    if let J::A(r) = b {
                        for (i, x) in r.iter().enumerate() {
                            if i > 0 {
                                out.push('-');
                            }
                            render_value(out, x, quote);
                        }
                    }
                }
                "set" => {
                    out.push_str("{ ");
                    let elems: &[J<'_>] = match b {
                        J::A(a) => a,
                        other => std::slice::from_ref(other),
                    };
                    for (i, x) in elems.iter().enumerate() {
                        if i > 0 {
                            out.push_str(", ");
                        }
                        match x {
                            // Map and vmap elements: [key, value].
                            J::A(kv) if kv.len() == 2 => {
                                render_value(out, &kv[0], quote);
                                out.push_str(" : ");
                                render_set_data(out, &kv[1]);
                            }
                            _ => render_value(out, x, quote),
                        }
                    }
                    out.push_str(" }");
                }
                "concat" => {
                    if let J::A(parts) = b {
                        for (i, p) in parts.iter().enumerate() {
                            if i > 0 {
                                out.push_str(" . ");
                            }
                            render_value(out, p, quote);
                        }
                    }
                }
                "elem" => match b.get("val") {
                    Some(val) => render_value(out, val, quote),
                    None => {
                        let _ = write!(out, "{v}");
                    }
                },
                _ => render_expr(out, v),
            }
        }
    }
}

/// The data side of a map element: a verdict or a value.
fn render_set_data(out: &mut String, v: &J<'_>) {
    match v.single() {
        Some(("accept" | "drop" | "return" | "continue" | "jump" | "goto" | "queue", _)) => {
            render_stmt(out, v)
        }
        _ => render_value(out, v, false),
    }
}

fn render_nat_to(out: &mut String, b: &J<'_>) {
    if let Some(fam) = b.str_field("family") {
        out.push(' ');
        out.push_str(fam);
    }
    let addr = b.get("addr");
    let port = b.get("port");
    if addr.is_none() && port.is_none() {
        return;
    }
    out.push_str(" to ");
    if let Some(a) = addr {
        match a {
            J::S(s) if s.contains(':') && port.is_some() => {
                let _ = write!(out, "[{s}]");
            }
            J::S(_) => render_value(out, a, false),
            _ => render_expr(out, a),
        }
    }
    if let Some(p) = port {
        out.push(':');
        render_value(out, p, false);
    }
    if let Some(flags) = b.get("flags") {
        out.push(' ');
        render_value(out, flags, false);
    }
}

/// One statement of a rule's `expr` list.
fn render_stmt(out: &mut String, stmt: &J<'_>) {
    if let J::S(opaque) = stmt {
        out.push_str(opaque);
        return;
    }
    let Some((kind, b)) = stmt.single() else {
        let _ = write!(out, "{stmt}");
        return;
    };
    match kind {
        "match" => {
            let Some(left) = b.get("left") else {
                let _ = write!(out, "{stmt}");
                return;
            };
            render_expr(out, left);
            match b.str_field("op").unwrap_or("==") {
                "==" | "in" => {}
                op => {
                    out.push(' ');
                    out.push_str(op);
                }
            }
            if let Some(right) = b.get("right") {
                out.push(' ');
                render_value(out, right, quotes_strings(left));
            }
        }
        "accept" | "drop" | "return" | "continue" | "notrack" | "masquerade" => {
            out.push_str(kind);
            if kind == "masquerade" && matches!(b, J::O(_)) {
                render_nat_to(out, b);
            }
        }
        "jump" | "goto" => {
            out.push_str(kind);
            out.push(' ');
            out.push_str(b.str_field("target").unwrap_or("?"));
        }
        "counter" => match b {
            J::S(name) => {
                out.push_str("counter name ");
                push_quoted(out, name);
            }
            _ => out.push_str("counter"),
        },
        "xt" => {
            let _ = write!(
                out,
                "xt {} {:?}",
                b.str_field("type").unwrap_or("match"),
                b.str_field("name").unwrap_or("?")
            );
        }
        "dnat" | "snat" => {
            out.push_str(kind);
            render_nat_to(out, b);
        }
        "redirect" => {
            out.push_str("redirect");
            if let Some(p) = b.get("port") {
                out.push_str(" to :");
                render_value(out, p, false);
            }
        }
        "reject" => {
            out.push_str("reject");
            let ty = b.str_field("type");
            let code = b.str_field("expr");
            match (ty, code) {
                (None, _) | (Some("icmpx"), Some("port-unreachable")) => {}
                (Some(t), None) => {
                    let _ = write!(out, " with {t}");
                }
                (Some(t), Some(c)) => {
                    let _ = write!(out, " with {t} {c}");
                }
            }
        }
        "log" => {
            out.push_str("log");
            if let Some(p) = b.str_field("prefix") {
                out.push_str(" prefix ");
                push_quoted(out, p);
            }
            for key in ["level", "group", "snaplen", "queue-threshold"] {
                if let Some(v) = b.get(key) {
                    let _ = write!(out, " {key} ");
                    render_value(out, v, false);
                }
            }
        }
        "limit" => {
            out.push_str("limit rate ");
            if b.get("inv").is_some_and(|v| matches!(v, J::Bool(true))) {
                out.push_str("over ");
            }
            render_value(out, b.get("rate").unwrap_or(&J::Null), false);
            if let Some(unit) = b.str_field("rate_unit").filter(|u| *u != "packets") {
                let _ = write!(out, " {unit}");
            }
            let _ = write!(out, "/{}", b.str_field("per").unwrap_or("second"));
            if let Some(burst) = b.get("burst").and_then(J::as_u64).filter(|n| *n != 5) {
                let _ = write!(out, " burst {burst} packets");
            }
        }
        "vmap" => {
            if let Some(k) = b.get("key") {
                render_expr(out, k);
            }
            out.push_str(" vmap ");
            if let Some(d) = b.get("data") {
                let quote = b.get("key").is_some_and(quotes_strings);
                render_value(out, d, quote);
            }
        }
        "mangle" => {
            if let Some(k) = b.get("key") {
                render_expr(out, k);
            }
            out.push_str(" set ");
            if let Some(v) = b.get("value") {
                render_value(out, v, false);
            }
        }
        "queue" => {
            out.push_str("queue");
            if let Some(n) = b.get("num") {
                out.push_str(" num ");
                render_value(out, n, false);
            }
        }
        _ => {
            let _ = write!(out, "{stmt}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_rendered_as_write_renders_them() {
        for n in [0, 7, 9, 10, 99, 100, 8080, 65535, 4_294_967_296, u64::MAX] {
            let mut out = String::from("x");
            push_u64(&mut out, n);
            assert_eq!(out, format!("x{n}"));
        }
    }
}
