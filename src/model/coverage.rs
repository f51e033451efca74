//! What the evidence did not show: the parts of the firewall that may hold rules nobody read.
//!
//! A verdict is only as good as the rules behind it. The kernel runs every base chain on a hook,
//! from every stack, so a table that was not read could drop what every table that was read
//! accepts. [`unseen`] lists those parts from the evidence: a stack whose dump is missing (not
//! root, a partial capture, a paste of one command), a legacy stack that `legacy-tables.txt` or
//! iptables-nft's own warning says is loaded, an `iptables -S` listing that shows one table of
//! several, a table `nft-chains.json` lists whose per-table file is not there. `analyze::needs`
//! decides which of them a given verdict depends on.

use crate::collect::evidence::{Evidence, SourceState, files};
use crate::model::{Family, Hook, Stack, Table};
use serde::Serialize;

/// A part of the firewall the evidence did not show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnseenPart {
    pub stack: Stack,
    /// The packet family it serves; `None` for native nft tables, which may be of any family
    /// (`inet` ones serve both).
    pub family: Option<Family>,
    /// `None`: the whole stack. `Some`: only these tables of it were not shown (the others
    /// were, in an `iptables -S` listing of one table).
    pub tables: Option<Vec<String>>,
    /// Why it is unseen, in words: "legacy tables are loaded (filter) but
    /// iptables-legacy-save was not captured".
    pub why: String,
    /// The command that shows it.
    pub read_with: String,
}

impl UnseenPart {
    /// `legacy ip`, `iptables-nft ip nat, raw`, `native nft tables`.
    pub fn describe(&self) -> String {
        let mut s = match (self.stack, self.family) {
            (Stack::Nft, _) | (_, None) => "native nft tables".to_string(),
            (stack, Some(f)) => format!("{stack} {f}"),
        };
        if let Some(t) = &self.tables {
            s.push(' ');
            s.push_str(&t.join(", "));
        }
        s
    }

    /// Could this part hold a base chain on one of `hooks` for packets of `family`?
    pub fn touches(&self, family: Family, hooks: &[Hook]) -> bool {
        if self.family.is_some_and(|f| !f.applies_to(family)) {
            return false;
        }
        match &self.tables {
            None => true,
            Some(tables) => tables
                .iter()
                .any(|t| table_hooks(t).iter().any(|h| hooks.contains(h))),
        }
    }
}

/// The hooks an iptables table registers base chains on (the kernel's fixed set per table).
pub fn table_hooks(table: &str) -> &'static [Hook] {
    use Hook::*;
    match table {
        "raw" => &[Prerouting, Output],
        "nat" => &[Prerouting, Input, Output, Postrouting],
        "filter" | "security" => &[Input, Forward, Output],
        _ => &[Prerouting, Input, Forward, Output, Postrouting],
    }
}

/// The tables iptables knows; a listing that shows some of them leaves the rest unseen.
const IPTABLES_TABLES: &[&str] = &["raw", "mangle", "nat", "filter", "security"];

/// The marker iptables-nft prints (on stderr, so it shows in pastes made with `2>&1` and in
/// meta.json's record) when `/proc/net/ip_tables_names` lists a table.
const LEGACY_WARNING: &str = "tables-legacy tables present";

/// What the evidence did not show. Empty (the default) for a model built by hand.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Unseen {
    /// Rulesets: stacks, families, tables.
    pub rules: Vec<UnseenPart>,
    /// The forwarding sysctls a forwarded packet's verdict depends on, when not captured.
    pub sysctls: Vec<&'static str>,
}

/// The forwarding switches the kernel checks before FORWARD, per family.
pub fn forwarding_sysctl(family: Family) -> &'static str {
    if family == Family::Ip6 {
        "net.ipv6.conf.all.forwarding"
    } else {
        "net.ipv4.ip_forward"
    }
}

/// Everything the evidence did not show, given the tables parsed from it and the sysctls read.
pub fn unseen(ev: &Evidence, tables: &[Table], sysctls: &crate::model::Sysctls) -> Unseen {
    Unseen {
        rules: unseen_rules(ev, tables),
        sysctls: [Family::Ip, Family::Ip6]
            .into_iter()
            .map(forwarding_sysctl)
            .filter(|k| !sysctls.contains_key(*k))
            .collect(),
    }
}

/// Every part of the firewall's rules the evidence did not show.
fn unseen_rules(ev: &Evidence, tables: &[Table]) -> Vec<UnseenPart> {
    let mut out = Vec::new();
    for family in [Family::Ip, Family::Ip6] {
        let v6 = family == Family::Ip6;
        let legacy = if v6 {
            files::IP6TABLES_LEGACY
        } else {
            files::IPTABLES_LEGACY
        };
        let nft = if v6 {
            files::IP6TABLES_NFT
        } else {
            files::IPTABLES_NFT
        };
        let tool = if v6 { "ip6tables" } else { "iptables" };
        let (legacy_list, nft_list) = if v6 {
            (files::IP6TABLES_LEGACY_LIST, files::IP6TABLES_NFT_LIST)
        } else {
            (files::IPTABLES_LEGACY_LIST, files::IPTABLES_NFT_LIST)
        };
        if let Some(part) = legacy_unseen(ev, family, legacy, nft, tool) {
            out.push(part);
        }
        for (list, save, stack) in [
            (legacy_list, legacy, Stack::Legacy),
            (nft_list, nft, Stack::IptablesNft),
        ] {
            out.extend(list_unseen(ev, tables, stack, family, list, save, tool));
        }
        if ev.has(nft_list) && !ev.has(nft) {
            // The listing stands for the stack; what it did not show is listed above.
        } else if ev.has(nft) {
            out.extend(listing_unseen(
                ev,
                tables,
                Stack::IptablesNft,
                family,
                nft,
                tool,
            ));
        } else if !ev.has(files::NFT_RULESET)
            && !ev.has(files::NFT_RULESET_TEXT)
            && !ev.has(files::NFT_CHAINS)
        {
            // With the per-table form, iptables-nft's tables whose save failed were dumped by
            // nft; any that were not are unseen tables below.
            out.push(UnseenPart {
                stack: Stack::IptablesNft,
                family: Some(family),
                tables: None,
                why: not_read(ev, nft, &format!("{tool}-nft-save")),
                read_with: read_with(ev, nft, &format!("{tool}-nft-save"), "iptables"),
            });
        }
        if ev.has(legacy) {
            out.extend(listing_unseen(
                ev,
                tables,
                Stack::Legacy,
                family,
                legacy,
                tool,
            ));
        }
    }
    out.extend(incomplete_unseen(ev));
    // Native nft: the whole ruleset, or the per-table form (DESIGN.md's capture table).
    let whole_ruleset = ev.has(files::NFT_RULESET) || ev.has(files::NFT_RULESET_TEXT);
    if let Some(listing) = ev.get(files::NFT_CHAINS).filter(|_| !whole_ruleset) {
        out.extend(per_table_unseen(ev, listing));
    } else if !whole_ruleset {
        out.push(UnseenPart {
            stack: Stack::Nft,
            family: None,
            tables: None,
            why: format!(
                "{}: native nftables tables (/etc/nftables.conf, firewalld, Docker 29's nftables backend) may drop what iptables accepts",
                not_read(ev, files::NFT_RULESET, "nft list ruleset")
            ),
            read_with: read_with(ev, files::NFT_RULESET, "nft list ruleset", "nftables"),
        });
    }
    out
}

/// The per-table form (DESIGN.md): every table `nft -j list chains` names is shown by the save
/// of its family (a `*TABLE` line) or by its own `nft-table-FAMILY-NAME.json`; any other is
/// unseen, with the command that shows it.
fn per_table_unseen(ev: &Evidence, listing: &str) -> Vec<UnseenPart> {
    let tables = match crate::collect::evidence::nft_chain_tables(listing) {
        Ok(tables) => tables,
        Err(e) => {
            return vec![UnseenPart {
                stack: Stack::Nft,
                family: None,
                tables: None,
                why: format!(
                    "{} is not `nft -j list chains` output ({e})",
                    files::NFT_CHAINS
                ),
                read_with: "sudo nft list ruleset".into(),
            }];
        }
    };
    let saved = |file: &str| {
        ev.get(file)
            .map(crate::collect::evidence::saved_tables)
            .unwrap_or_default()
    };
    let (saved4, saved6) = (saved(files::IPTABLES_NFT), saved(files::IP6TABLES_NFT));
    let mut out = Vec::new();
    for (family, name) in &tables {
        let in_save = match family.as_str() {
            "ip" => saved4.contains(&name.as_str()),
            "ip6" => saved6.contains(&name.as_str()),
            _ => false,
        };
        let file = files::nft_table(family, name);
        if in_save || file.as_deref().is_some_and(|f| ev.has(f)) {
            continue;
        }
        let command = format!(
            "nft list table {} {}",
            crate::analyze::shell::quote(family),
            crate::analyze::shell::quote(name)
        );
        let why = match &file {
            Some(f) => format!(
                "{} lists table {family} {name}, but {}",
                files::NFT_CHAINS,
                not_read(ev, f, &command)
            ),
            None => format!(
                "{} lists table {family} {name:?}, whose name fwdoctor cannot file",
                files::NFT_CHAINS
            ),
        };
        out.push(UnseenPart {
            stack: Stack::Nft,
            family: match family.as_str() {
                "ip" => Some(Family::Ip),
                "ip6" => Some(Family::Ip6),
                _ => None,
            },
            tables: Some(vec![format!("{family} {name}")]),
            why,
            read_with: format!("sudo {command}"),
        });
    }
    out
}

/// The legacy stack of `family` when its dump is missing and nothing says it is empty.
fn legacy_unseen(
    ev: &Evidence,
    family: Family,
    legacy: &str,
    nft: &str,
    tool: &str,
) -> Option<UnseenPart> {
    let legacy_list = if family == Family::Ip6 {
        files::IP6TABLES_LEGACY_LIST
    } else {
        files::IPTABLES_LEGACY_LIST
    };
    let nft_list = if family == Family::Ip6 {
        files::IP6TABLES_NFT_LIST
    } else {
        files::IPTABLES_NFT_LIST
    };
    if ev.has(legacy) || ev.has(legacy_list) {
        return None;
    }
    let names_file = if family == Family::Ip6 {
        files::LEGACY6_TABLES
    } else {
        files::LEGACY_TABLES
    };
    let save = format!("{tool}-legacy-save");
    let why = if let Some(names) = ev.get(names_file) {
        let loaded: Vec<&str> = names
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        if loaded.is_empty() {
            return None;
        }
        format!(
            "legacy tables are loaded ({}) but {}",
            loaded.join(", "),
            not_read(ev, legacy, &save)
        )
    } else if ev
        .status(legacy)
        .is_some_and(|s| s.status == SourceState::Missing && s.reason.starts_with("no legacy"))
    {
        return None;
    } else if [nft, nft_list]
        .iter()
        .filter_map(|f| ev.get(f))
        .any(|t| memchr::memmem::find(t.as_bytes(), LEGACY_WARNING.as_bytes()).is_some())
        || ev
            .status(nft)
            .is_some_and(|s| s.stderr.contains(LEGACY_WARNING))
    {
        format!(
            "{tool}-nft warns \"{tool}-legacy tables present\", but {}",
            not_read(ev, legacy, &save)
        )
    } else {
        format!(
            "whether legacy tables are loaded is not known: neither {save} nor /proc/net/{}_tables_names was read",
            if family == Family::Ip6 { "ip6" } else { "ip" }
        )
    };
    Some(UnseenPart {
        stack: Stack::Legacy,
        family: Some(family),
        tables: None,
        why,
        read_with: read_with(ev, legacy, &save, "iptables"),
    })
}

/// An `iptables -S` listing (no `*table` line) shows only the tables it lists; a save shows
/// them all.
fn listing_unseen(
    ev: &Evidence,
    tables: &[Table],
    stack: Stack,
    family: Family,
    file: &str,
    tool: &str,
) -> Option<UnseenPart> {
    let text = ev.get(file)?;
    let is_save = text.starts_with('*') || memchr::memmem::find(text.as_bytes(), b"\n*").is_some();
    if is_save {
        return None;
    }
    let shown: Vec<&str> = tables
        .iter()
        .filter(|t| t.stack == stack && t.family == family && t.source == file)
        .map(|t| t.name.as_str())
        .collect();
    // No table at all: an empty dump (iptables-nft-save on a host without its tables).
    if shown.is_empty() {
        return None;
    }
    let missing: Vec<String> = IPTABLES_TABLES
        .iter()
        .filter(|t| !shown.contains(t))
        .map(|t| t.to_string())
        .collect();
    if missing.is_empty() {
        return None;
    }
    let save = match stack {
        Stack::Legacy => format!("{tool}-legacy-save"),
        _ => format!("{tool}-nft-save"),
    };
    Some(UnseenPart {
        stack,
        family: Some(family),
        tables: Some(missing),
        why: format!(
            "an `{tool} -S` listing shows one table at a time: only {} was shown",
            shown.join(", ")
        ),
        read_with: format!("sudo {save}"),
    })
}

/// The command that shows a source: `command`, or, where the tool is not installed, how to
/// install it first (Debian's package names).
fn read_with(ev: &Evidence, file: &str, command: &str, package: &str) -> String {
    match ev.status(file) {
        Some(s) if s.status == SourceState::Missing && s.reason.ends_with("not found") => {
            format!("sudo apt-get install {package} && sudo {command}")
        }
        _ => format!("sudo {command}"),
    }
}

/// "iptables-legacy-save was not captured", or its failure: "... was denied (not root)".
fn not_read(ev: &Evidence, file: &str, command: &str) -> String {
    match ev.status(file) {
        Some(s) if s.status != SourceState::Ok => {
            let detail = [s.reason.as_str(), s.stderr.trim()]
                .into_iter()
                .find(|d| !d.is_empty())
                .map(|d| format!(": {}", d.lines().next().unwrap_or_default()))
                .unwrap_or_default();
            format!("{command} was not read ({}{detail})", s.status.as_str())
        }
        _ => format!("{command} was not captured"),
    }
}

/// A pasted `iptables -L` listing: the tables it did not show, and, without `-v`, the
/// interfaces of every rule it did.
fn list_unseen(
    ev: &Evidence,
    tables: &[Table],
    stack: Stack,
    family: Family,
    list: &str,
    save: &str,
    tool: &str,
) -> Vec<UnseenPart> {
    let Some(text) = ev.get(list) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let shown: Vec<&str> = tables
        .iter()
        .filter(|t| t.stack == stack && t.family == family && t.source == list)
        .map(|t| t.name.as_str())
        .collect();
    let saved: Vec<&str> = tables
        .iter()
        .filter(|t| t.stack == stack && t.family == family && t.source == save)
        .map(|t| t.name.as_str())
        .collect();
    let is_save = ev.get(save).is_some_and(|t| {
        t.starts_with('*') || memchr::memmem::find(t.as_bytes(), b"\n*").is_some()
    });
    let missing: Vec<String> = IPTABLES_TABLES
        .iter()
        .filter(|t| !shown.contains(t) && !saved.contains(t))
        .map(|t| t.to_string())
        .collect();
    let stack_tool = match stack {
        Stack::Legacy => format!("{tool}-legacy"),
        _ => tool.to_string(),
    };
    if !missing.is_empty() && !is_save {
        out.push(UnseenPart {
            stack,
            family: Some(family),
            tables: Some(missing),
            why: format!(
                "an `{tool} -L` listing shows one table at a time: only {} was shown",
                if shown.is_empty() {
                    "no table".to_string()
                } else {
                    shown.join(", ")
                }
            ),
            read_with: format!(
                "sudo {}",
                match stack {
                    Stack::Legacy => format!("{tool}-legacy-save"),
                    _ => format!("{tool}-save"),
                }
            ),
        });
    }
    let facts = crate::parse::iptables_list::translate(text, family).facts;
    if !facts.verbose && !shown.is_empty() {
        out.push(UnseenPart {
            stack,
            family: Some(family),
            tables: Some(shown.iter().map(|t| t.to_string()).collect()),
            why: format!(
                "an `{tool} -L` listing without -v does not show the interfaces a rule matches"
            ),
            // Only iptables' own table names go into the command (a pasted `-t` word could be
            // anything, and the model has no shell quoting).
            read_with: shown
                .iter()
                .filter(|t| IPTABLES_TABLES.contains(t))
                .map(|t| {
                    if *t == "filter" {
                        format!("sudo {stack_tool} -nvL")
                    } else {
                        format!("sudo {stack_tool} -t {t} -nvL")
                    }
                })
                .collect::<Vec<_>>()
                .join(" && "),
        });
    }
    out
}

/// A pasted section that is not its command's whole output (cut by `| grep`, a `...` line, a
/// listing that stops early): its stack and family may hold rules nobody pasted.
fn incomplete_unseen(ev: &Evidence) -> Vec<UnseenPart> {
    let mut out = Vec::new();
    for file in ev.files.keys() {
        let Some(status) = ev.status(file) else {
            continue;
        };
        let Some(at) = status.reason.find(crate::collect::paste::INCOMPLETE) else {
            continue;
        };
        let (stack, family, tool) = match file.as_str() {
            files::IPTABLES_LEGACY | files::IPTABLES_LEGACY_LIST => {
                (Stack::Legacy, Some(Family::Ip), "iptables-legacy-save")
            }
            files::IP6TABLES_LEGACY | files::IP6TABLES_LEGACY_LIST => {
                (Stack::Legacy, Some(Family::Ip6), "ip6tables-legacy-save")
            }
            files::IPTABLES_NFT | files::IPTABLES_NFT_LIST => {
                (Stack::IptablesNft, Some(Family::Ip), "iptables-save")
            }
            files::IP6TABLES_NFT | files::IP6TABLES_NFT_LIST => {
                (Stack::IptablesNft, Some(Family::Ip6), "ip6tables-save")
            }
            files::NFT_RULESET_TEXT | files::NFT_RULESET => (Stack::Nft, None, "nft list ruleset"),
            _ => continue,
        };
        let command = status.command.split('|').next().unwrap_or_default().trim();
        out.push(UnseenPart {
            stack,
            family,
            tables: None,
            why: format!(
                "the pasted `{}` is an {}",
                if command.is_empty() { tool } else { command },
                &status.reason[at..]
            ),
            read_with: format!("sudo {tool}"),
        });
    }
    out
}
