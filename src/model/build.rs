//! Evidence -> Model: run every parser on what was captured and derive the cross-source facts
//! (Docker's bridges, where Docker's rules live).

use crate::collect::evidence::{Evidence, files};
use crate::model::text::Source;
use crate::model::{Action, Bridge, Dir, Family, Match, Model, Stack, Table, docker_layout};
use crate::parse::{self, ParseError};

/// The save files, each with the stack and family its tables belong to, in the model's order.
const SAVES: [(&str, Stack, Family); 4] = [
    (files::IPTABLES_LEGACY, Stack::Legacy, Family::Ip),
    (files::IPTABLES_NFT, Stack::IptablesNft, Family::Ip),
    (files::IP6TABLES_LEGACY, Stack::Legacy, Family::Ip6),
    (files::IP6TABLES_NFT, Stack::IptablesNft, Family::Ip6),
];

/// Saves parsed before the build, while the live check was still reading slower sources (it
/// hands each source to [`EarlyParse::offer`] as soon as it has it). The build takes a result
/// only for the very text it has under that name, so evidence changed afterwards (a
/// prediction's edited save) is parsed again.
#[derive(Default)]
pub struct EarlyParse {
    saves: std::sync::Mutex<Vec<ParsedSave>>,
}

/// A save's file name, the text it was parsed from, and the parse.
type ParsedSave = (String, Source, Result<Vec<Table>, ParseError>);

impl EarlyParse {
    /// Parse `text` now if `file` is a save. `share_cores`: other sources are still being read,
    /// so the parse keeps to this thread instead of taking their core.
    pub fn offer(&self, file: &str, text: &Source, share_cores: bool) {
        let Some(&(file, stack, family)) = SAVES.iter().find(|(f, _, _)| *f == file) else {
            return;
        };
        let parse = || parse::iptables_save::parse_shared(text, file, stack, family);
        let parsed = if share_cores {
            parse::parallel::on_this_thread_only(parse)
        } else {
            parse()
        };
        if let Ok(mut saves) = self.saves.lock() {
            saves.push((file.to_string(), text.clone(), parsed));
        }
    }

    fn take(&self, file: &str, text: &Source) -> Option<Result<Vec<Table>, ParseError>> {
        let mut saves = self.saves.lock().ok()?;
        let at = saves
            .iter()
            .position(|(f, t, _)| f == file && std::sync::Arc::ptr_eq(t, text))?;
        Some(saves.swap_remove(at).2)
    }
}

pub fn build(ev: &Evidence, early: &EarlyParse) -> Result<Model, ParseError> {
    let mut m = Model {
        origin: ev.origin.clone(),
        sources: ev.meta.sources.clone(),
        present: ev.files.keys().cloned().collect(),
        ..Model::default()
    };

    for (file, stack, family) in SAVES {
        if let Some(text) = ev.get_shared(file) {
            let tables = match early.take(file, text) {
                Some(parsed) => parsed,
                None => parse::iptables_save::parse_shared(text, file, stack, family),
            };
            m.tables.extend(tables?);
        }
    }
    // Pasted `iptables -L` listings: a table a save of the same stack showed is read from it.
    for (file, stack, family) in [
        (files::IPTABLES_LEGACY_LIST, Stack::Legacy, Family::Ip),
        (files::IPTABLES_NFT_LIST, Stack::IptablesNft, Family::Ip),
        (files::IP6TABLES_LEGACY_LIST, Stack::Legacy, Family::Ip6),
        (files::IP6TABLES_NFT_LIST, Stack::IptablesNft, Family::Ip6),
    ] {
        if let Some(text) = ev.get_shared(file) {
            let (listed, _) = parse::iptables_list::parse_shared(text, file, stack, family)?;
            for t in listed {
                let saved = m
                    .tables
                    .iter()
                    .any(|s| s.stack == t.stack && s.family == t.family && s.name == t.name);
                if !saved {
                    m.tables.push(t);
                }
            }
        }
    }
    // The whole ruleset in one file, or the per-table form (one file per table not in a save).
    let nft_files = ev.files.keys().filter(|name| {
        name.as_str() == files::NFT_RULESET
            || name.as_str() == files::NFT_RULESET_TEXT
            || files::parse_nft_table(name).is_some()
    });
    for file in nft_files {
        let text = ev.get(file).unwrap_or_default();
        let parsed = if file.as_str() == files::NFT_RULESET_TEXT {
            parse::nft_text::parse(text, file)?
        } else {
            parse::nft_json::parse(text, file)?
        };
        for t in parsed {
            // iptables-nft-save shows its own tables with every option; nft -j loses xt options.
            let saved = match t.family {
                Family::Ip => ev.has(files::IPTABLES_NFT),
                Family::Ip6 => ev.has(files::IP6TABLES_NFT),
                _ => false,
            };
            // A table iptables-nft-save printed is iptables-nft's, whatever native-looking
            // expressions nft shows for it (kube-proxy's `-m statistic` / `-m mark` become
            // numgen and `meta mark &`); the save prints what it cannot read as incompatible.
            let in_save = m
                .tables
                .iter()
                .any(|s| s.stack == Stack::IptablesNft && s.family == t.family && s.name == t.name);
            if (t.stack == Stack::IptablesNft && saved) || in_save {
                continue;
            }
            m.tables.push(t);
        }
    }

    m.legacy_tables_loaded = ev.get(files::LEGACY_TABLES).map(lines);
    m.legacy6_tables_loaded = ev.get(files::LEGACY6_TABLES).map(lines);
    m.system_iptables = ev.get(files::IPTABLES_ALTERNATIVE).and_then(|t| {
        let t = t.trim();
        if t.contains("legacy") {
            Some(Stack::Legacy)
        } else if t.contains("nft") {
            Some(Stack::IptablesNft)
        } else {
            None
        }
    });

    next_boot(ev, &mut m);

    let docker_inputs = parse::docker::DockerInputs {
        info: ev.get(files::DOCKER_INFO),
        version: ev.get(files::DOCKER_VERSION),
        containers: ev.get(files::DOCKER_CONTAINERS),
        networks: ev.get(files::DOCKER_NETWORKS),
        daemon_json: ev.get(files::DOCKER_DAEMON),
    };
    if docker_inputs.info.is_some()
        || docker_inputs.containers.is_some()
        || docker_inputs.version.is_some()
    {
        let mut d = parse::docker::parse(&docker_inputs)?;
        if let Some(cmdline) = ev.get(files::DOCKERD_CMDLINE) {
            apply_dockerd_flags(&mut d.daemon_config, cmdline);
        }
        m.notes.extend(d.notes.iter().cloned());
        m.docker = Some(d);
    }
    pasted_docker(ev, &mut m)?;
    if [files::SNAP_SERVICES, files::SNAP_LIST, files::SNAP_CHANGES]
        .iter()
        .any(|f| ev.has(f))
    {
        m.snap = Some(parse::snap::parse(
            ev.get(files::SNAP_SERVICES),
            ev.get(files::SNAP_LIST),
            ev.get(files::SNAP_CHANGES),
        ));
    }
    if let Some(text) = ev.get(files::SYSCTL) {
        m.sysctl = parse::sysctl::parse(text, files::SYSCTL)?;
    }
    if let Some(text) = ev.get(files::UFW_STATUS) {
        m.ufw = Some(parse::ufw::parse(text));
    }
    if let Some(text) = ev.get(files::FIREWALLD_STATE) {
        m.firewalld_running = Some(text.trim() == "running");
    } else if let Some(b) = m
        .docker
        .as_ref()
        .and_then(|d| d.firewall_backend.as_deref())
    {
        m.firewalld_running = Some(b.contains("firewalld"));
    }
    if let Some(text) = ev.get(files::FIREWALLD_ZONES) {
        let zones = parse::firewalld::parse_zones(text, files::FIREWALLD_ZONES)?;
        if !zones.is_empty() {
            m.firewalld_zones = Some(zones);
        }
    }
    if let Some(text) = ev.get(files::IP_ADDR) {
        m.interfaces = Some(parse::ip_addr::parse(text, files::IP_ADDR)?);
    } else if let Some(text) = ev.get(files::IP_ADDR_TEXT) {
        m.interfaces = Some(parse::ip_addr::parse_text(text, files::IP_ADDR_TEXT)?);
    }
    if let Some(text) = ev.get(files::IPSET_SAVE) {
        m.ipsets = Some(parse::ipset::parse(text, files::IPSET_SAVE)?);
    }

    for (name, st) in &ev.meta.sources {
        let fallback = st.reason.contains(crate::collect::live::NFT_FALLBACK)
            && ev.has(&format!("{name}.json"));
        if st.reason.starts_with("stack unknown") || fallback {
            m.notes.push(format!("{name}: {}", st.reason));
        }
    }
    if let Some(st) = ev
        .meta
        .sources
        .values()
        .find(|st| st.reason.contains(crate::collect::live::LEGACY_UNAVAILABLE))
    {
        m.notes.push(format!(
            "legacy xtables: {}. `iptables-legacy` fails here, so a Docker (or the Docker snap) that uses it cannot create its rules and publishes nothing; point iptables at iptables-nft (`update-alternatives --set iptables /usr/sbin/iptables-nft`) or use Docker 29's nftables backend",
            st.reason
                .split_once(" and ")
                .map_or(st.reason.as_str(), |(_, r)| r)
        ));
    }
    // Each of these reads every rule (the last step of a live check before the analysis):
    // at 100k rules the coverage takes 2 ms, the other bridges 1.9 and the two others 1.4
    // together, so the first two run beside the last two.
    let (unseen, other_bridges, (bridges, docker_rules)) = std::thread::scope(|scope| {
        let unseen = scope.spawn(|| crate::model::coverage::unseen(ev, &m.tables, &m.sysctl));
        let other = scope
            .spawn(|| crate::model::other_bridges::bridges(&m.tables, m.interfaces.as_deref()));
        let facts = (bridges(&m), docker_rules(&m.tables));
        (unseen.join(), other.join(), facts)
    });
    m.unseen = unseen.unwrap_or_else(|panic| std::panic::resume_unwind(panic));
    let other_bridges = other_bridges.unwrap_or_else(|panic| std::panic::resume_unwind(panic));
    (m.bridges, m.docker_rules, m.other_bridges) = (bridges, docker_rules, other_bridges);
    m.runtime_ports = crate::model::other_bridges::ports(&m.tables, &m.other_bridges);
    Ok(m)
}

/// Pasted `docker info` / `docker version` / `docker ps` text, when the API's JSON is absent.
/// Without `docker ps` the containers are not known, and the published ports come from
/// Docker's DNAT rules as without the API: the text's facts are then notes.
fn pasted_docker(ev: &Evidence, m: &mut Model) -> Result<(), ParseError> {
    let info = ev.get(files::DOCKER_INFO_TEXT);
    let version = ev.get(files::DOCKER_VERSION_TEXT);
    let ps = ev.get(files::DOCKER_PS);
    if info.is_none() && version.is_none() && ps.is_none() {
        return Ok(());
    }
    let mut facts = m.docker.take().unwrap_or_default();
    let had_api = ev.has(files::DOCKER_CONTAINERS);
    if let Some(text) = info {
        parse::docker_text::apply_info(&mut facts, text);
    }
    if let Some(text) = version {
        parse::docker_text::apply_version(&mut facts, text);
    }
    if let Some(text) = ps.filter(|_| !had_api) {
        facts.containers = parse::docker_text::containers(text, files::DOCKER_PS)?;
    }
    m.notes.append(&mut facts.notes);
    if had_api || ps.is_some() {
        m.docker = Some(facts);
    } else {
        m.notes.push(format!(
            "pasted docker text: Docker {}, firewall backend {}; without `docker ps` the published ports are read from Docker's DNAT rules",
            facts.version.as_deref().unwrap_or("(version not shown)"),
            facts.firewall_backend.as_deref().unwrap_or("not shown"),
        ));
        if let Some(b) = &facts.firewall_backend
            && !ev.has(files::FIREWALLD_STATE)
        {
            m.firewalld_running = Some(b.contains("firewalld"));
        }
    }
    Ok(())
}

/// dockerd's command-line flags win over daemon.json (dockerd refuses both for one key anyway).
fn apply_dockerd_flags(cfg: &mut crate::model::DaemonConfig, cmdline: &str) {
    let args: Vec<&str> = cmdline.lines().map(str::trim).collect();
    for (i, a) in args.iter().enumerate() {
        let (flag, value) = match a.split_once('=') {
            Some((f, v)) => (f, Some(v)),
            None => (*a, None),
        };
        let value_or_next = || {
            value
                .map(str::to_string)
                .or_else(|| args.get(i + 1).map(|s| s.to_string()))
        };
        let as_bool = || value.map_or(Some(true), |v| v.parse::<bool>().ok());
        match flag {
            "--iptables" => cfg.iptables = as_bool(),
            "--ip6tables" => cfg.ip6tables = as_bool(),
            "--ip-forward" => cfg.ip_forward = as_bool(),
            "--userland-proxy" => cfg.userland_proxy = as_bool(),
            "--firewall-backend" => cfg.firewall_backend = value_or_next(),
            _ => {}
        }
    }
}

fn lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// Docker's bridges: from the API, else from Docker's MASQUERADE rules (`-s SUBNET ! -o BR`),
/// plus the host's docker0/br-* interfaces.
fn bridges(m: &Model) -> Vec<Bridge> {
    let mut out: Vec<Bridge> = Vec::new();
    let mut add = |name: &str, net: Option<ipnet::IpNet>| {
        let b = match out.iter_mut().find(|b| b.name == name) {
            Some(b) => b,
            None => {
                out.push(Bridge {
                    name: name.to_string(),
                    subnets: Vec::new(),
                });
                out.last_mut().expect("just pushed")
            }
        };
        if let Some(n) = net {
            let n = n.trunc();
            if !b.subnets.contains(&n) {
                b.subnets.push(n);
            }
        }
    };
    if let Some(d) = &m.docker {
        for n in d.networks.iter().filter(|n| n.driver == "bridge") {
            if let Some(br) = &n.bridge {
                add(br, None);
                for s in &n.subnets {
                    add(br, Some(*s));
                }
            }
        }
    }
    for t in &m.tables {
        for c in &t.chains {
            for r in &c.rules {
                if !matches!(r.action, Action::Masquerade) {
                    continue;
                }
                let mut src = None;
                let mut out_neg = None;
                for mt in &r.matches {
                    match mt {
                        Match::Addr {
                            dir: Dir::Src,
                            negated: false,
                            nets,
                        } => src = nets.first().copied(),
                        Match::Iface {
                            dir: Dir::Dst,
                            negated: true,
                            names,
                        } => out_neg = names.first().cloned(),
                        _ => {}
                    }
                }
                if let (Some(net), Some(br)) = (src, out_neg)
                    && net.prefix_len() < net.max_prefix_len()
                {
                    add(&br, Some(net));
                }
            }
        }
    }
    for i in m.interfaces.iter().flatten() {
        if i.name == "docker0" || i.name.starts_with("br-") {
            for a in &i.addrs {
                add(&i.name, Some(*a));
            }
        }
    }
    out
}

fn docker_rules(tables: &[Table]) -> Vec<crate::model::DockerRules> {
    let mut groups: Vec<((Stack, Family), Vec<&Table>)> = Vec::new();
    for t in tables {
        let key = (t.stack, t.family);
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => v.push(t),
            None => groups.push((key, vec![t])),
        }
    }
    groups
        .iter()
        .filter_map(|(_, ts)| docker_layout::detect(ts))
        .collect()
}

/// The on-disk rulesets: parse errors are kept on the entry (the live verdicts do not depend on
/// them), never fail the build.
fn next_boot(ev: &Evidence, m: &mut Model) {
    next_boot_sources(ev, m);
    for nb in &m.next_boot {
        if let Err(e) = &nb.tables {
            m.notes.push(format!(
                "{} (what the next boot loads) was not read, so next-boot-blocks did not judge it: {e}",
                nb.path
            ));
        }
    }
}

fn next_boot_sources(ev: &Evidence, m: &mut Model) {
    use crate::model::NextBoot;
    if let Some(text) = ev.get(files::NFTABLES_CONF) {
        let path = "/etc/nftables.conf";
        m.next_boot.push(NextBoot {
            path: path.to_string(),
            stack: Stack::Nft,
            family: None,
            tables: nftables_conf(ev, text, path).map_err(|e| e.to_string()),
        });
    }
    for (file, path, family) in [
        (
            files::IPTABLES_RULES_V4,
            "/etc/iptables/rules.v4",
            Family::Ip,
        ),
        (
            files::IPTABLES_RULES_V6,
            "/etc/iptables/rules.v6",
            Family::Ip6,
        ),
    ] {
        let Some(text) = ev.get(file) else { continue };
        // iptables-persistent loads with the system's iptables-restore.
        let stack = m.system_iptables.unwrap_or(Stack::IptablesNft);
        m.next_boot.push(NextBoot {
            path: path.to_string(),
            stack,
            family: Some(family),
            tables: parse::iptables_save::parse(text, path, stack, family)
                .map_err(|e| e.to_string()),
        });
    }
}

/// /etc/nftables.conf with its includes from the capture (`nftables-conf-includes.json`, as
/// the live walk read them): an include the capture lacks is an error naming it.
fn nftables_conf(ev: &Evidence, text: &str, path: &str) -> Result<Vec<Table>, ParseError> {
    let includes: serde_json::Map<String, serde_json::Value> = ev
        .get(files::NFTABLES_CONF_INCLUDES)
        .and_then(|j| serde_json::from_str(j).ok())
        .unwrap_or_default();
    let mut resolve = |pattern: &str, line: usize| {
        let full = if pattern.starts_with('/') {
            pattern.to_string()
        } else {
            format!("/etc/{pattern}")
        };
        let matched: Vec<(String, String)> = match full.rsplit_once('/') {
            Some((dir, name)) if name.contains('*') => {
                let (pre, suf) = name.split_once('*').unwrap_or((name, ""));
                includes
                    .iter()
                    .filter(|(k, _)| {
                        k.rsplit_once('/').is_some_and(|(d, n)| {
                            d == dir && n.starts_with(pre) && n.ends_with(suf)
                        })
                    })
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                    .collect()
            }
            _ => includes
                .get(&full)
                .and_then(|v| v.as_str())
                .map(|t| vec![(full.clone(), t.to_string())])
                .unwrap_or_default(),
        };
        if matched.is_empty() && !pattern.contains('*') {
            return Err(ParseError::new(
                path,
                line,
                format!("include {pattern:?}: not in the capture"),
            ));
        }
        Ok(matched)
    };
    parse::nft_text::parse_with_includes(text, path, &mut resolve)
}

#[cfg(test)]
mod early_parse_tests {
    use super::*;

    const ACCEPTING: &str =
        "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp --dport 2222 -j ACCEPT\nCOMMIT\n";
    const DROPPING: &str =
        "*filter\n:INPUT DROP [0:0]\n-A INPUT -p tcp --dport 8080 -j DROP\nCOMMIT\n";

    fn evidence_with(text: &Source) -> Evidence {
        let mut ev = Evidence::default();
        ev.insert_shared(files::IPTABLES_NFT, text.clone());
        ev
    }

    fn tables(m: &Model) -> String {
        format!("{:?}", m.tables)
    }

    #[test]
    fn a_save_parsed_early_gives_the_model_a_plain_build_gives() {
        let text: Source = std::sync::Arc::new(ACCEPTING.into());
        let early = EarlyParse::default();
        early.offer(files::IPTABLES_NFT, &text, true);
        let ev = evidence_with(&text);
        let with_early = build(&ev, &early).unwrap();
        assert!(
            early.saves.lock().unwrap().is_empty(),
            "the early parse was used"
        );
        assert_eq!(
            tables(&with_early),
            tables(&build(&ev, &EarlyParse::default()).unwrap())
        );
    }

    #[test]
    fn evidence_changed_after_the_early_parse_is_parsed_again() {
        let early = EarlyParse::default();
        early.offer(
            files::IPTABLES_NFT,
            &std::sync::Arc::new(ACCEPTING.into()),
            false,
        );
        let edited: Source = std::sync::Arc::new(DROPPING.into());
        let ev = evidence_with(&edited);
        let m = build(&ev, &early).unwrap();
        assert_eq!(
            tables(&m),
            tables(&build(&ev, &EarlyParse::default()).unwrap())
        );
        assert!(
            tables(&m).contains("80"),
            "the edited save's rule is in the model"
        );
        assert!(
            !tables(&m).contains("22"),
            "the early parse of the old text is not"
        );
    }

    #[test]
    fn a_file_that_is_not_a_save_is_not_parsed_early() {
        let early = EarlyParse::default();
        early.offer(
            files::NFT_CHAINS,
            &std::sync::Arc::new(ACCEPTING.into()),
            true,
        );
        assert!(early.saves.lock().unwrap().is_empty());
    }
}
