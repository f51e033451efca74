//! Evidence: the raw output of every source, plus how each source went.
//!
//! This is what `fwdoctor capture` writes to disk (format `fwdoctor-capture/1`, see DESIGN.md)
//! and what `check --from DIR` reads back. Nothing here is interpreted yet.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const CAPTURE_FORMAT: &str = "fwdoctor-capture/1";

/// How reading one source went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceState {
    Ok,
    /// The tool or file does not exist on this host (or, for legacy tables: none are loaded).
    Missing,
    /// It ran but failed (non-zero exit, HTTP error, garbage).
    Failed,
    /// Not allowed: not root, socket permission, ...
    Denied,
    Timeout,
}

impl SourceState {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceState::Ok => "ok",
            SourceState::Missing => "missing",
            SourceState::Failed => "failed",
            SourceState::Denied => "denied",
            SourceState::Timeout => "timeout",
        }
    }
}

/// meta.json's per-source record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceStatus {
    pub status: SourceState,
    #[serde(default)]
    pub command: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub stderr: String,
    /// Why, in words (e.g. "no legacy tables loaded", "not root").
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
}

/// meta.json.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    pub format: String,
    #[serde(default)]
    pub captured_at: String,
    #[serde(default)]
    pub hostname: String,
    #[serde(default)]
    pub kernel: String,
    #[serde(default)]
    pub os_release: String,
    #[serde(default)]
    pub fwdoctor_version: String,
    #[serde(default)]
    pub sources: BTreeMap<String, SourceStatus>,
}

impl Default for Meta {
    fn default() -> Self {
        Meta {
            format: CAPTURE_FORMAT.to_string(),
            captured_at: String::new(),
            hostname: String::new(),
            kernel: String::new(),
            os_release: String::new(),
            fwdoctor_version: env!("CARGO_PKG_VERSION").to_string(),
            sources: BTreeMap::new(),
        }
    }
}

/// Every capture file, by its file name in the capture directory. The source name used in
/// meta.json is the file name without its extension.
pub mod files {
    pub const IPTABLES_LEGACY: &str = "iptables-legacy-save.txt";
    pub const IPTABLES_NFT: &str = "iptables-nft-save.txt";
    pub const IP6TABLES_LEGACY: &str = "ip6tables-legacy-save.txt";
    pub const IP6TABLES_NFT: &str = "ip6tables-nft-save.txt";
    pub const NFT_RULESET: &str = "nft-ruleset.json";
    /// Exact `nft list ruleset` text (a paste, a file given to `check --from`).
    pub const NFT_RULESET_TEXT: &str = "nft-ruleset.txt";
    /// `/etc/nftables.conf`, exact contents: what `nft -f` loads at the next boot or
    /// `systemctl restart nftables`.
    pub const NFTABLES_CONF: &str = "nftables-conf.txt";
    /// `/etc/iptables/rules.v4|v6` (iptables-persistent), exact contents.
    /// The files nftables.conf includes, exact contents, as `{"PATH": "TEXT", ...}`.
    pub const NFTABLES_CONF_INCLUDES: &str = "nftables-conf-includes.json";
    pub const IPTABLES_RULES_V4: &str = "iptables-rules-v4.txt";
    pub const IPTABLES_RULES_V6: &str = "iptables-rules-v6.txt";
    /// Per-table form, step 1: `nft -j list chains`, which tells which tables exist.
    pub const NFT_CHAINS: &str = "nft-chains.json";
    /// Per-table form, step 2: `nft -j list table FAMILY NAME` is filed as
    /// `nft-table-FAMILY-NAME.json` ([`nft_table`]).
    pub const NFT_TABLE_PREFIX: &str = "nft-table-";
    /// The nft families a per-table file may name.
    pub const NFT_FAMILIES: &[&str] = &["ip", "ip6", "inet", "arp", "bridge", "netdev"];
    pub const IPTABLES_ALTERNATIVE: &str = "iptables-alternative.txt";
    pub const LEGACY_TABLES: &str = "legacy-tables.txt";
    pub const LEGACY6_TABLES: &str = "legacy6-tables.txt";
    pub const DOCKER_INFO: &str = "docker-info.json";
    pub const DOCKER_VERSION: &str = "docker-version.json";
    pub const DOCKER_CONTAINERS: &str = "docker-containers.json";
    pub const DOCKER_NETWORKS: &str = "docker-networks.json";
    pub const DOCKER_DAEMON: &str = "docker-daemon.json";
    pub const SNAP_SERVICES: &str = "snap-services.txt";
    pub const SNAP_LIST: &str = "snap-list.txt";
    pub const SNAP_CHANGES: &str = "snap-changes.txt";
    pub const SYSCTL: &str = "sysctl.txt";
    pub const UFW_STATUS: &str = "ufw-status.txt";
    pub const FIREWALLD_STATE: &str = "firewalld-state.txt";
    /// `firewall-cmd --list-all-zones`: each zone's target, interfaces, forward and
    /// forward-ports (Docker's `docker` zone holds its bridges).
    pub const FIREWALLD_ZONES: &str = "firewalld-zones.txt";
    pub const IP_ADDR: &str = "ip-addr.json";
    pub const DOCKERD_CMDLINE: &str = "dockerd-cmdline.txt";
    /// `ipset save`: the sets `-m set --match-set` rules test (Docker 28.0.0's
    /// `docker-ext-bridges-v4`).
    pub const IPSET_SAVE: &str = "ipset-save.txt";
    /// Pasted `iptables -L` listings, per stack and family (a capture never writes them).
    pub const IPTABLES_LEGACY_LIST: &str = "iptables-legacy-list.txt";
    pub const IPTABLES_NFT_LIST: &str = "iptables-nft-list.txt";
    pub const IP6TABLES_LEGACY_LIST: &str = "ip6tables-legacy-list.txt";
    pub const IP6TABLES_NFT_LIST: &str = "ip6tables-nft-list.txt";
    /// Pasted `docker info` / `docker version` / `docker ps` text.
    pub const DOCKER_INFO_TEXT: &str = "docker-info.txt";
    pub const DOCKER_VERSION_TEXT: &str = "docker-version.txt";
    pub const DOCKER_PS: &str = "docker-ps.txt";
    /// Pasted `ip addr` text (a capture has `ip -j addr`'s JSON).
    pub const IP_ADDR_TEXT: &str = "ip-addr.txt";

    /// All files, in the order a capture lists them.
    pub const ALL: &[&str] = &[
        IPTABLES_LEGACY,
        IPTABLES_NFT,
        IP6TABLES_LEGACY,
        IP6TABLES_NFT,
        NFT_RULESET,
        NFT_RULESET_TEXT,
        NFT_CHAINS,
        NFTABLES_CONF,
        NFTABLES_CONF_INCLUDES,
        IPTABLES_RULES_V4,
        IPTABLES_RULES_V6,
        IPTABLES_ALTERNATIVE,
        LEGACY_TABLES,
        LEGACY6_TABLES,
        DOCKER_INFO,
        DOCKER_VERSION,
        DOCKER_CONTAINERS,
        DOCKER_NETWORKS,
        DOCKER_DAEMON,
        SNAP_SERVICES,
        SNAP_LIST,
        SNAP_CHANGES,
        SYSCTL,
        UFW_STATUS,
        FIREWALLD_STATE,
        FIREWALLD_ZONES,
        IP_ADDR,
        DOCKERD_CMDLINE,
        IPSET_SAVE,
        IPTABLES_LEGACY_LIST,
        IPTABLES_NFT_LIST,
        IP6TABLES_LEGACY_LIST,
        IP6TABLES_NFT_LIST,
        DOCKER_INFO_TEXT,
        DOCKER_VERSION_TEXT,
        DOCKER_PS,
        IP_ADDR_TEXT,
    ];

    /// The per-table file of nft table `name` in `family`: `nft-table-FAMILY-NAME.json`.
    /// `None` for a family nft does not have, or a name that is not a plain file name part
    /// (letters, digits, `_`, `-`, `.`; not starting with `.`): such a table has no file, and
    /// counts as unseen.
    pub fn nft_table(family: &str, name: &str) -> Option<String> {
        let plain = !name.is_empty()
            && !name.starts_with('.')
            && name.len() <= 200
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b));
        (NFT_FAMILIES.contains(&family) && plain)
            .then(|| format!("{NFT_TABLE_PREFIX}{family}-{name}.json"))
    }

    /// The (family, name) of a per-table file name made by [`nft_table`]; `None` for any other
    /// name.
    pub fn parse_nft_table(file: &str) -> Option<(&str, &str)> {
        let rest = file.strip_prefix(NFT_TABLE_PREFIX)?.strip_suffix(".json")?;
        let (family, name) = rest.split_once('-')?;
        (nft_table(family, name).as_deref() == Some(file)).then_some((family, name))
    }

    /// True for the names a capture directory may hold: [`ALL`] and the per-table files.
    pub fn is_capture_file(name: &str) -> bool {
        ALL.contains(&name) || parse_nft_table(name).is_some()
    }

    /// meta.json source name for a file name: the name without its extension.
    pub fn source_name(file: &str) -> &str {
        file.rsplit_once('.').map_or(file, |(stem, _)| stem)
    }
}

/// The tables `nft -j list chains` output names, as (family, table), each once, in order.
pub fn nft_chain_tables(json: &str) -> Result<Vec<(String, String)>, serde_json::Error> {
    use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
    use std::borrow::Cow;
    use std::collections::HashSet;

    // One item at a time, names borrowed (a Kubernetes node lists tens of thousands of chains,
    // nearly all in one table; a name with an escape in it comes owned).
    #[derive(Deserialize)]
    struct Item<'a> {
        #[serde(borrow)]
        chain: Option<ChainRef<'a>>,
    }
    #[derive(Deserialize)]
    struct ChainRef<'a> {
        #[serde(borrow)]
        family: Cow<'a, str>,
        #[serde(borrow)]
        table: Cow<'a, str>,
    }
    struct Tables(Vec<(String, String)>);
    impl<'de> Visitor<'de> for &mut Tables {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("the array of nft -j list chains")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<(), A::Error> {
            // Tables by family; consecutive chains of one table are not looked up.
            let mut seen: std::collections::HashMap<String, HashSet<String>> = Default::default();
            while let Some(item) = items.next_element::<Item<'de>>()? {
                let Some(c) = item.chain else { continue };
                let (family, table) = (c.family.as_ref(), c.table.as_ref());
                if self
                    .0
                    .last()
                    .is_some_and(|(f, t)| f == family && t == table)
                    || seen.get(family).is_some_and(|t| t.contains(table))
                {
                    continue;
                }
                let tables = seen.entry(family.to_string()).or_default();
                tables.insert(table.to_string());
                self.0.push((family.to_string(), table.to_string()));
            }
            Ok(())
        }
    }
    struct Listing;
    impl<'de> Visitor<'de> for Listing {
        type Value = Vec<(String, String)>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("nft JSON: an object with an `nftables` array")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut tables = None;
            while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                if key == "nftables" {
                    if tables.is_some() {
                        return Err(de::Error::duplicate_field("nftables"));
                    }
                    let mut found = Tables(Vec::new());
                    map.next_value_seed(SeqSeed(&mut found))?;
                    tables = Some(found.0);
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            tables.ok_or_else(|| de::Error::missing_field("nftables"))
        }
    }
    struct SeqSeed<'t>(&'t mut Tables);
    impl<'de> de::DeserializeSeed<'de> for SeqSeed<'_> {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_seq(self.0)
        }
    }
    let mut de = serde_json::Deserializer::from_str(json);
    let tables = (&mut de).deserialize_map(Listing)?;
    de.end()?;
    Ok(tables)
}

/// The tables an `iptables-save` text holds: its `*TABLE` lines.
pub fn saved_tables(save: &str) -> Vec<&str> {
    let starts = save
        .starts_with('*')
        .then_some(0)
        .into_iter()
        .chain(memchr::memmem::find_iter(save.as_bytes(), b"\n*").map(|at| at + 1));
    starts
        .map(|at| {
            let line = &save[at + 1..];
            line[..line.find('\n').unwrap_or(line.len())].trim_end()
        })
        .collect()
}

/// All evidence of one run: file contents by file name, and meta.json.
#[derive(Debug, Clone, Default)]
pub struct Evidence {
    pub meta: Meta,
    /// File name (see [`files`]) -> exact stdout of the source. Shared: the model's rules
    /// keep slices of it (see [`crate::model::Text`]) instead of copies.
    pub files: BTreeMap<String, crate::model::text::Source>,
    /// Where the evidence came from: "live host", or the capture directory / file path.
    pub origin: String,
    /// Assumptions made while reading (e.g. the stack of a pasted file without a header).
    pub notes: Vec<String>,
}

impl Evidence {
    pub fn get(&self, file: &str) -> Option<&str> {
        self.files.get(file).map(|s| s.as_str())
    }

    /// File `content` under the capture name `file` (replacing what was there).
    pub fn insert(&mut self, file: &str, content: impl Into<crate::model::text::SourceText>) {
        self.files
            .insert(file.to_string(), std::sync::Arc::new(content.into()));
    }

    /// File a shared buffer under the capture name `file` (replacing what was there).
    pub fn insert_shared(&mut self, file: &str, content: crate::model::text::Source) {
        self.files.insert(file.to_string(), content);
    }

    /// The file's shared buffer, for parsers that keep slices of it.
    pub fn get_shared(&self, file: &str) -> Option<&crate::model::text::Source> {
        self.files.get(file)
    }

    /// The status of a source by its file name; a file present without a meta entry is `ok`.
    pub fn status(&self, file: &str) -> Option<&SourceStatus> {
        self.meta.sources.get(files::source_name(file))
    }

    /// True when the source was read (its file is present).
    pub fn has(&self, file: &str) -> bool {
        self.files.contains_key(file)
    }
}
