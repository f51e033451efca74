//! `iptables -L [-n] [-v] [-x] [--line-numbers] [-t TABLE]` listings into [`Table`]s.
//!
//! A listing is what people paste most, and it shows less than a save: no table names (the
//! table follows from the base chains shown, as for `-S`), interfaces only with `-v`, counters
//! rounded to K/M/G unless `-x`, host and service names unless `-n`, and each match as free
//! text in the last column. The listing is translated line by line into `iptables-save` text
//! and read by [`iptables_save`](crate::parse::iptables_save), so a listed rule becomes the same
//! [`Rule`](crate::model::Rule) a save gives; what the translation cannot read (a host name, a
//! `limit: avg 3/min`, the interfaces of a listing without `-v`) becomes a match the model
//! keeps as unknown, naming what to paste instead. Each rule's text is its listing line and
//! its line number the listing's, so the report points into the paste.

use crate::model::text::{Source, SourceText};
use crate::model::{Family, Stack, Table, Text};
use crate::parse::ParseError;
use crate::parse::tokenizer::quote;
use std::sync::Arc;

/// The module name under which untranslatable listing text is kept (a module iptables does not
/// have, so the save parser keeps it as an unknown match with its text).
pub const UNREAD_MODULE: &str = "listed";

/// What a listing showed, as far as its form tells.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListingFacts {
    /// `-v` columns (`pkts bytes ... in out`) were present in every chain header seen.
    pub verbose: bool,
    /// Tables shown, in order.
    pub tables: Vec<String>,
    /// Chains a rule jumps to that the listing does not show (a cut-off listing).
    pub unlisted_targets: Vec<String>,
    /// Lines that are neither a chain header, a column header nor a rule (1-based).
    pub unread_lines: Vec<usize>,
}

/// True when `text` holds an `iptables -L` chain header (`Chain INPUT (policy ACCEPT...)`).
pub fn looks_like_listing(text: &str) -> bool {
    text.lines().any(|l| chain_header(l).is_some())
}

/// Parse a listing read from `file` into tables of `stack` and `family`.
pub fn parse(
    text: &str,
    file: &str,
    stack: Stack,
    family: Family,
) -> Result<Vec<Table>, ParseError> {
    parse_shared(&Arc::new(text.into()), file, stack, family).map(|(t, _)| t)
}

/// [`parse`] of a shared buffer, with what the listing's form showed.
pub fn parse_shared(
    source: &Source,
    file: &str,
    stack: Stack,
    family: Family,
) -> Result<(Vec<Table>, ListingFacts), ParseError> {
    let text: &str = source;
    let translated = translate(text, family);
    let save: Source = Arc::new(SourceText::from(translated.save.clone()));
    let mut tables = crate::parse::iptables_save::parse_shared(&save, file, stack, family)
        .map_err(|e| {
            let line = translated.line_map.get(e.line.wrapping_sub(1)).copied();
            ParseError::new(file, line.unwrap_or(0), e.message)
        })?;
    let original: Vec<&str> = text.lines().collect();
    let map = |n: usize| translated.line_map.get(n.wrapping_sub(1)).copied();
    for t in &mut tables {
        for c in &mut t.chains {
            if let Some(l) = map(c.line) {
                c.line = l;
            }
            for r in &mut c.rules {
                if let Some(l) = map(r.line) {
                    r.line = l;
                    if let Some(orig) = original.get(l - 1) {
                        r.text = Text::slice_of(source, orig.trim_end_matches('\r').trim());
                    }
                }
            }
        }
    }
    Ok((tables, translated.facts))
}

/// A listing turned into save text, with the listing line of every save line.
#[derive(Debug, Clone, Default)]
pub struct Translated {
    pub save: String,
    /// `line_map[i]` = the 1-based listing line of save line `i + 1`.
    pub line_map: Vec<usize>,
    pub facts: ListingFacts,
}

struct Header<'a> {
    name: &'a str,
    /// `Some((policy, counters))` for a built-in chain.
    policy: Option<(&'a str, Option<(u64, u64)>)>,
}

/// `Chain NAME (policy P [N packets, M bytes])` or `Chain NAME (N references)`.
fn chain_header(line: &str) -> Option<Header<'_>> {
    let rest = line.trim().strip_prefix("Chain ")?;
    let (name, paren) = rest.split_once(" (")?;
    let inner = paren.strip_suffix(')')?;
    if name.is_empty() || name.contains(char::is_whitespace) {
        return None;
    }
    if let Some(p) = inner.strip_prefix("policy ") {
        let mut words = p.split_whitespace();
        let policy = words.next()?;
        let counters = match (words.next(), words.next(), words.next()) {
            (Some(pk), Some("packets,"), Some(b)) => Some((count(pk)?, count(b)?)),
            _ => None,
        };
        return Some(Header {
            name,
            policy: Some((policy, counters)),
        });
    }
    (inner.ends_with("references") || inner.ends_with("reference"))
        .then_some(Header { name, policy: None })
}

/// A counter as `-v` prints it: `1234`, `100K`, `12M`, `3G` (units of 1000, as iptables').
pub fn count(word: &str) -> Option<u64> {
    let (digits, unit) = match word.char_indices().last()? {
        (i, c @ ('K' | 'M' | 'G' | 'T' | 'P')) => (&word[..i], c),
        _ => (word, ' '),
    };
    let n: u64 = digits.parse().ok()?;
    let factor: u64 = match unit {
        'K' => 1_000,
        'M' => 1_000_000,
        'G' => 1_000_000_000,
        'T' => 1_000_000_000_000,
        'P' => 1_000_000_000_000_000,
        _ => 1,
    };
    n.checked_mul(factor)
}

struct Columns {
    num: bool,
    counters: bool,
    opt: bool,
    interfaces: bool,
}

fn column_header(line: &str) -> Option<Columns> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let target = words.iter().position(|w| *w == "target")?;
    if !words.contains(&"source") || !words.contains(&"destination") {
        return None;
    }
    Some(Columns {
        num: words.first() == Some(&"num"),
        counters: words[..target].contains(&"pkts"),
        opt: words.contains(&"opt"),
        interfaces: words.contains(&"in") && words.contains(&"out"),
    })
}

/// The columns of a rule line printed without its header: `-v` when it starts with two
/// counters, `--line-numbers` when a number comes before them.
fn guess_columns(line: &str) -> Option<Columns> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let counted = |at: usize| {
        words.get(at).and_then(|w| count(w)).is_some()
            && words.get(at + 1).and_then(|w| count(w)).is_some()
    };
    let num = words.len() > 8 && words[0].parse::<u64>().is_ok() && counted(1) && !counted(0);
    let counters = num || counted(0);
    let opt = words.iter().any(|w| matches!(*w, "--" | "-f" | "!f"));
    (words.len() >= 4 && opt).then_some(Columns {
        num,
        counters,
        opt,
        interfaces: counters,
    })
}

/// The table a group of chains belongs to, from its built-in chains (as `iptables -S`'s).
fn table_of(builtins: &[&str], targets: &[&str]) -> &'static str {
    let has = |c: &str| builtins.contains(&c);
    if has("PREROUTING") && has("FORWARD") || has("INPUT") && has("POSTROUTING") && has("FORWARD") {
        "mangle"
    } else if has("POSTROUTING") || has("PREROUTING") && has("INPUT") {
        "nat"
    } else if has("PREROUTING") {
        "raw"
    } else if builtins.is_empty()
        && targets
            .iter()
            .any(|t| matches!(*t, "DNAT" | "SNAT" | "MASQUERADE" | "REDIRECT"))
    {
        "nat"
    } else {
        "filter"
    }
}

/// Targets that are not chains (those a listing of Docker, ufw and the distributions shows).
const STANDARD_TARGETS: &[&str] = &[
    "ACCEPT",
    "DROP",
    "REJECT",
    "RETURN",
    "QUEUE",
    "NFQUEUE",
    "LOG",
    "NFLOG",
    "ULOG",
    "DNAT",
    "SNAT",
    "MASQUERADE",
    "REDIRECT",
    "MARK",
    "CONNMARK",
    "CT",
    "NOTRACK",
    "TCPMSS",
    "TPROXY",
    "CHECKSUM",
    "CLASSIFY",
    "DSCP",
    "TOS",
    "TTL",
    "HL",
    "SET",
    "AUDIT",
    "TRACE",
    "SECMARK",
    "CONNSECMARK",
    "NETMAP",
    "TEE",
];

const BUILTINS: &[&str] = &["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"];

struct ListedChain {
    line: usize,
    name: String,
    policy: Option<(String, Option<(u64, u64)>)>,
    rules: Vec<(usize, String)>,
}

struct Group {
    first_line: usize,
    last_line: usize,
    chains: Vec<ListedChain>,
}

/// Translate a listing into save text (see the module docs).
pub fn translate(text: &str, family: Family) -> Translated {
    let mut facts = ListingFacts {
        verbose: true,
        ..ListingFacts::default()
    };
    let mut groups: Vec<Group> = Vec::new();
    let mut columns: Option<Columns> = None;
    let mut saw_header = false;
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        if let Some(h) = chain_header(line) {
            let new_group = match groups.last() {
                None => true,
                // iptables lists a table's built-in chains in hook order, then its own:
                // a built-in chain out of that order starts the next table.
                Some(g) => {
                    let order = |name: &str| BUILTINS.iter().position(|b| *b == name);
                    let last_builtin = g
                        .chains
                        .iter()
                        .filter(|c| c.policy.is_some())
                        .filter_map(|c| order(&c.name))
                        .max();
                    h.policy.is_some()
                        && (g.chains.iter().any(|c| c.name == h.name)
                            || g.chains.iter().any(|c| c.policy.is_none())
                            || order(h.name)
                                .zip(last_builtin)
                                .is_some_and(|(this, last)| this <= last))
                }
            };
            if new_group {
                groups.push(Group {
                    first_line: n,
                    last_line: n,
                    chains: Vec::new(),
                });
            }
            let g = groups.last_mut().expect("a group");
            g.last_line = n;
            g.chains.push(ListedChain {
                line: n,
                name: h.name.to_string(),
                policy: h.policy.map(|(p, c)| (p.to_string(), c)),
                rules: Vec::new(),
            });
            columns = None;
            continue;
        }
        if let Some(c) = column_header(line) {
            facts.verbose &= c.interfaces;
            saw_header = true;
            columns = Some(c);
            continue;
        }
        // A listing cut by grep lost its column headers: the rule's shape tells them.
        if columns.is_none() && groups.last().is_some() {
            columns = guess_columns(line);
            if columns.as_ref().is_some_and(|c| !c.interfaces) {
                facts.verbose = false;
            }
        }
        let (Some(cols), Some(g)) = (&columns, groups.last_mut()) else {
            facts.unread_lines.push(n);
            continue;
        };
        match rule_line(line, cols, family) {
            Some(rule) => {
                g.last_line = n;
                g.chains.last_mut().expect("a chain").rules.push((n, rule));
            }
            None => facts.unread_lines.push(n),
        }
    }
    if !saw_header {
        facts.verbose = false;
    }

    let mut out = Translated::default();
    let push = |out: &mut Translated, line: String, n: usize| {
        out.save.push_str(&line);
        out.save.push('\n');
        out.line_map.push(n);
    };
    for g in &groups {
        let builtins: Vec<&str> = g
            .chains
            .iter()
            .filter(|c| c.policy.is_some() && BUILTINS.contains(&c.name.as_str()))
            .map(|c| c.name.as_str())
            .collect();
        let targets: Vec<&str> = g
            .chains
            .iter()
            .flat_map(|c| c.rules.iter())
            .filter_map(|(_, r)| r.split(" -j ").nth(1)?.split_whitespace().next())
            .collect();
        let table = table_of(&builtins, &targets);
        facts.tables.push(table.to_string());
        push(&mut out, format!("*{table}"), g.first_line);
        for c in &g.chains {
            let decl = match &c.policy {
                Some((p, counters)) => {
                    let (pk, b) = counters.unwrap_or((0, 0));
                    format!(":{} {p} [{pk}:{b}]", quote(&c.name))
                }
                None => format!(":{} - [0:0]", quote(&c.name)),
            };
            push(&mut out, decl, c.line);
        }
        for c in &g.chains {
            for (n, rule) in &c.rules {
                let (counters, rule) = match rule.split_once("] ") {
                    Some((c, r)) if rule.starts_with('[') => (format!("{c}] "), r),
                    _ => (String::new(), rule.as_str()),
                };
                push(
                    &mut out,
                    format!("{counters}-A {} {rule}", quote(&c.name)),
                    *n,
                );
            }
        }
        push(&mut out, "COMMIT".into(), g.last_line);
        let names: Vec<&str> = g.chains.iter().map(|c| c.name.as_str()).collect();
        for t in &targets {
            let standard = STANDARD_TARGETS.contains(t);
            if !standard && !names.contains(t) && !facts.unlisted_targets.iter().any(|u| u == t) {
                facts.unlisted_targets.push(t.to_string());
            }
        }
    }
    out.facts = facts;
    out
}

/// One rule line as save arguments (without `-A CHAIN`), with `[p:b]` counters in front.
fn rule_line(line: &str, cols: &Columns, family: Family) -> Option<String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let mut i = 0;
    if cols.num {
        words.first()?.parse::<u64>().ok()?;
        i += 1;
    }
    let mut counters = None;
    if cols.counters {
        counters = Some((count(words.get(i)?)?, count(words.get(i + 1)?)?));
        i += 2;
    }
    let is_opt = |w: Option<&&str>| matches!(w.copied(), Some("--" | "-f" | "!f"));
    let target = if cols.opt && is_opt(words.get(i + 1)) {
        None
    } else {
        let t = *words.get(i)?;
        i += 1;
        Some(t)
    };
    // iptables 1.8.9+ prints protocol numbers even without -n: `0`, `6`.
    let prot = match *words.get(i)? {
        "0" => "all",
        "1" => "icmp",
        "6" => "tcp",
        "17" => "udp",
        "58" => "ipv6-icmp",
        "132" => "sctp",
        "!6" => "!tcp",
        "!17" => "!udp",
        p => p,
    };
    i += 1;
    let mut args: Vec<String> = Vec::new();
    if cols.opt && is_opt(words.get(i)) {
        match words[i] {
            "-f" => args.push("-f".into()),
            "!f" => args.push("! -f".into()),
            _ => {}
        }
        i += 1;
    }
    let mut unread: Vec<String> = Vec::new();
    let (negated, p) = match prot.strip_prefix('!') {
        Some(p) => (true, p),
        None => (false, prot),
    };
    if p != "all" && p != "0" {
        args.push(format!(
            "{}-p {}",
            if negated { "! " } else { "" },
            quote(p)
        ));
    }
    if cols.interfaces {
        for flag in ["-i", "-o"] {
            let w = *words.get(i)?;
            i += 1;
            if w == "*" {
                continue;
            }
            match w.strip_prefix('!') {
                Some(name) => args.push(format!("! {flag} {}", quote(name))),
                None => args.push(format!("{flag} {}", quote(w))),
            }
        }
    } else {
        unread.push(
            "in/out interfaces not shown (a listing without -v: paste `iptables -nvL`)".into(),
        );
    }
    for flag in ["-s", "-d"] {
        let w = *words.get(i)?;
        i += 1;
        let (neg, addr) = match w.strip_prefix('!') {
            Some(a) => ("! ", a),
            None => ("", w),
        };
        match address(addr, family) {
            Some(None) => {}
            Some(Some(net)) => args.push(format!("{neg}{flag} {net}")),
            None => unread.push(format!(
                "{} `{w}` is a name, not an address (paste `iptables -nvL`)",
                if flag == "-s" {
                    "source"
                } else {
                    "destination"
                }
            )),
        }
    }
    let rest: Vec<&str> = words[i..].to_vec();
    let (matches, target_args, left) = extras(&rest, p);
    args.extend(matches);
    unread.extend(left);
    let mut rule = String::new();
    if let Some((pk, b)) = counters {
        rule.push_str(&format!("[{pk}:{b}] "));
    }
    rule.push_str(&args.join(" "));
    if !unread.is_empty() {
        if !rule.is_empty() && !rule.ends_with(' ') {
            rule.push(' ');
        }
        rule.push_str(&format!(
            "-m {UNREAD_MODULE} --text {}",
            quote(&unread.join("; "))
        ));
    }
    if let Some(t) = target {
        if !rule.is_empty() && !rule.ends_with(' ') {
            rule.push(' ');
        }
        rule.push_str(&format!("-j {}", quote(t)));
        for a in target_args {
            rule.push(' ');
            rule.push_str(&a);
        }
    }
    Some(rule.trim().to_string())
}

/// `Some(None)` for "any address", `Some(Some(net))` for an address, `None` for a name.
fn address(word: &str, family: Family) -> Option<Option<String>> {
    match word {
        "anywhere" | "0.0.0.0/0" | "::/0" => return Some(None),
        "localhost" => {
            return Some(Some(
                if family == Family::Ip6 {
                    "::1/128"
                } else {
                    "127.0.0.1/32"
                }
                .into(),
            ));
        }
        _ => {}
    }
    let ip = word.split('/').next()?;
    ip.parse::<std::net::IpAddr>().ok()?;
    Some(Some(word.to_string()))
}

/// Ports as `-L` without `-n` may name them.
fn port(word: &str) -> Option<String> {
    if word.split(':').all(|p| p.parse::<u16>().is_ok()) {
        return Some(word.to_string());
    }
    let named = match word {
        "ssh" => 22,
        "smtp" => 25,
        "domain" => 53,
        "http" => 80,
        "https" => 443,
        "http-alt" | "webcache" => 8080,
        "mysql" => 3306,
        "postgresql" => 5432,
        "ntp" => 123,
        _ => return None,
    };
    Some(named.to_string())
}

/// The listing's last column: match text into save matches, target options into save target
/// options; whatever is not read is returned as text.
fn extras(words: &[&str], prot: &str) -> (Vec<String>, Vec<String>, Vec<String>) {
    let mut matches = Vec::new();
    let mut target = Vec::new();
    let mut left: Vec<String> = Vec::new();
    let mut i = 0;
    let mut negate = false;
    while i < words.len() {
        let w = words[i];
        let neg = if std::mem::take(&mut negate) {
            "! "
        } else {
            ""
        };
        match w {
            "!" => {
                negate = true;
                i += 1;
                continue;
            }
            "/*" => {
                let end = words[i + 1..]
                    .iter()
                    .position(|w| *w == "*/")
                    .map(|p| i + 1 + p);
                match end {
                    Some(end) => {
                        let comment = words[i + 1..end].join(" ");
                        matches.push(format!("-m comment --comment {}", quote(&comment)));
                        i = end + 1;
                    }
                    None => {
                        left.push(words[i..].join(" "));
                        i = words.len();
                    }
                }
                continue;
            }
            "tcp" | "udp" | "sctp" if w == prot => {
                let mut opts = Vec::new();
                let mut j = i + 1;
                while let Some(o) = words.get(j) {
                    let Some((key, value)) = o.split_once(':') else {
                        break;
                    };
                    let (vneg, value) = match value.strip_prefix('!') {
                        Some(v) => ("! ", v),
                        None => ("", value),
                    };
                    let flag = match key {
                        "dpt" | "dpts" => "--dport",
                        "spt" | "spts" => "--sport",
                        _ => break,
                    };
                    let Some(p) = port(value) else { break };
                    opts.push(format!("{vneg}{flag} {p}"));
                    j += 1;
                }
                if opts.is_empty() {
                    left.push(w.to_string());
                    i += 1;
                } else {
                    matches.push(format!("{neg}-m {w} {}", opts.join(" ")));
                    i = j;
                }
                continue;
            }
            "multiport" => {
                if let (Some(kind), Some(list)) = (words.get(i + 1), words.get(i + 2))
                    && matches!(*kind, "dports" | "sports" | "ports")
                    && let Some(ports) = list.split(',').map(port).collect::<Option<Vec<String>>>()
                {
                    matches.push(format!("-m multiport {neg}--{kind} {}", ports.join(",")));
                    i += 3;
                    continue;
                }
            }
            "ctstate" | "state" => {
                if let Some(states) = words.get(i + 1) {
                    let (m, flag) = if w == "ctstate" {
                        ("conntrack", "--ctstate")
                    } else {
                        ("state", "--state")
                    };
                    matches.push(format!("-m {m} {neg}{flag} {states}"));
                    i += 2;
                    continue;
                }
            }
            "ADDRTYPE" if words.get(i + 1) == Some(&"match") => {
                let mut j = i + 2;
                let mut opts = Vec::new();
                while let (Some(kind), Some(value)) = (words.get(j), words.get(j + 1)) {
                    let flag = match *kind {
                        "dst-type" => "--dst-type",
                        "src-type" => "--src-type",
                        _ => break,
                    };
                    match value.strip_prefix('!') {
                        Some(v) => opts.push(format!("! {flag} {v}")),
                        None => opts.push(format!("{flag} {value}")),
                    }
                    j += 2;
                }
                if !opts.is_empty() {
                    matches.push(format!("-m addrtype {}", opts.join(" ")));
                    i = j;
                    continue;
                }
            }
            "match-set" => {
                if let (Some(name), Some(dirs)) = (words.get(i + 1), words.get(i + 2)) {
                    matches.push(format!("-m set {neg}--match-set {} {dirs}", quote(name)));
                    i += 3;
                    continue;
                }
            }
            _ => {}
        }
        if let Some(to) = w.strip_prefix("to:") {
            target.push(format!("--to {}", quote(to)));
            i += 1;
            continue;
        }
        if w == "reject-with"
            && let Some(v) = words.get(i + 1)
        {
            target.push(format!("--reject-with {}", quote(v)));
            i += 2;
            continue;
        }
        left.push(format!("{}{w}", neg.trim_end()));
        i += 1;
    }
    let left = if left.is_empty() {
        Vec::new()
    } else {
        vec![left.join(" ")]
    };
    (matches, target, left)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Action, Hook, Match, Policy};

    const NVL: &str = "\
Chain INPUT (policy ACCEPT 0 packets, 0 bytes)
 pkts bytes target     prot opt in     out     source               destination

Chain FORWARD (policy DROP 12 packets, 720 bytes)
 pkts bytes target     prot opt in     out     source               destination
  12K  720K DOCKER-USER  all  --  *      *       0.0.0.0/0            0.0.0.0/0
    0     0 ACCEPT     all  --  *      docker0  0.0.0.0/0            0.0.0.0/0            ctstate RELATED,ESTABLISHED
    0     0 DOCKER     all  --  *      docker0  0.0.0.0/0            0.0.0.0/0
    0     0 ACCEPT     all  --  docker0 !docker0  0.0.0.0/0            0.0.0.0/0

Chain OUTPUT (policy ACCEPT 0 packets, 0 bytes)
 pkts bytes target     prot opt in     out     source               destination

Chain DOCKER (1 references)
 pkts bytes target     prot opt in     out     source               destination
    0     0 ACCEPT     tcp  --  !docker0 docker0  0.0.0.0/0            172.17.0.2           tcp dpt:80

Chain DOCKER-USER (1 references)
 pkts bytes target     prot opt in     out     source               destination
  12K  720K RETURN     all  --  *      *       0.0.0.0/0            0.0.0.0/0
";

    #[test]
    fn verbose_listing_reads_like_a_save() {
        let tables = parse(NVL, "l.txt", Stack::Legacy, Family::Ip).unwrap();
        assert_eq!(tables.len(), 1);
        let t = &tables[0];
        assert_eq!(t.name, "filter");
        let fwd = t.chain("FORWARD").unwrap();
        let base = fwd.base.as_ref().unwrap();
        assert_eq!((base.hook, base.policy), (Hook::Forward, Policy::Drop));
        assert_eq!(base.counters.unwrap().packets, 12);
        assert_eq!(fwd.rules.len(), 4);
        assert_eq!(fwd.rules[0].counters.as_ref().unwrap().bytes, 720_000);
        assert_eq!(fwd.rules[0].line, 6);
        assert!(fwd.rules[0].text.starts_with("12K  720K DOCKER-USER"));
        let docker = t.chain("DOCKER").unwrap();
        assert!(
            docker.rules[0]
                .matches
                .iter()
                .any(|m| matches!(m, Match::Iface { negated: true, .. })),
            "{:?}",
            docker.rules[0].matches
        );
        assert!(
            !docker.rules[0]
                .matches
                .iter()
                .any(|m| matches!(m, Match::Unknown { .. })),
            "{:?}",
            docker.rules[0].matches
        );
        assert!(matches!(docker.rules[0].action, Action::Accept));
        let facts = translate(NVL, Family::Ip).facts;
        assert!(facts.verbose);
        assert!(facts.unlisted_targets.is_empty(), "{facts:?}");
    }

    #[test]
    fn listing_without_v_keeps_interfaces_unknown() {
        let text = "\
Chain FORWARD (policy ACCEPT)
target     prot opt source               destination
DROP       all  --  anywhere             anywhere
ACCEPT     tcp  --  anywhere             myhost.example       tcp dpt:http
";
        let tables = parse(text, "l.txt", Stack::IptablesNft, Family::Ip).unwrap();
        let rules = &tables[0].chain("FORWARD").unwrap().rules;
        assert!(
            rules
                .iter()
                .all(|r| r.matches.iter().any(|m| matches!(m, Match::Unknown { .. })))
        );
        assert!(!translate(text, Family::Ip).facts.verbose);
    }

    #[test]
    fn counters_use_units_of_1000() {
        assert_eq!(count("100K"), Some(100_000));
        assert_eq!(count("3G"), Some(3_000_000_000));
        assert_eq!(count("17"), Some(17));
        assert_eq!(count("x"), None);
    }

    #[test]
    fn nat_listing_with_line_numbers_and_dnat() {
        let text = "\
Chain PREROUTING (policy ACCEPT 5 packets, 300 bytes)
num   pkts bytes target     prot opt in     out     source               destination
1        5   300 DOCKER     all  --  *      *       0.0.0.0/0            0.0.0.0/0            ADDRTYPE match dst-type LOCAL

Chain POSTROUTING (policy ACCEPT 0 packets, 0 bytes)
num   pkts bytes target     prot opt in     out     source               destination
1        0     0 MASQUERADE  all  --  *      !docker0  172.17.0.0/16        0.0.0.0/0

Chain DOCKER (1 references)
num   pkts bytes target     prot opt in     out     source               destination
1        0     0 DNAT       tcp  --  !docker0 *       0.0.0.0/0            0.0.0.0/0            tcp dpt:8080 to:172.17.0.2:80
";
        let tables = parse(text, "l.txt", Stack::Legacy, Family::Ip).unwrap();
        assert_eq!(tables[0].name, "nat");
        let dnat = &tables[0].chain("DOCKER").unwrap().rules[0];
        assert!(
            matches!(dnat.action, Action::Dnat { .. }),
            "{:?}",
            dnat.action
        );
        let pre = &tables[0].chain("PREROUTING").unwrap().rules[0];
        assert!(
            pre.matches
                .iter()
                .any(|m| matches!(m, Match::AddrType { .. })),
            "{:?}",
            pre.matches
        );
    }

    #[test]
    fn a_cut_off_listing_names_the_chains_it_does_not_show() {
        let cut = &NVL[..NVL.find("Chain DOCKER (1").unwrap()];
        let facts = translate(cut, Family::Ip).facts;
        assert_eq!(facts.unlisted_targets, ["DOCKER-USER", "DOCKER"]);
    }
}
