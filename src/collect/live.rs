//! Collect every source on the live host, in parallel, each with a timeout for hangs.
//!
//! The sources of DESIGN.md's capture table run on threads of their own (`std::thread::scope`),
//! so the wall time is about that of the slowest source; the rule dumps, the big ones, run in
//! two lanes ([`rulesets`]), and each save goes to the caller's hook as soon as it is read, so
//! that its parse overlaps the dumps still running. Each rule is read once: native nft tables
//! come from the per-table form, not from `nft -j list ruleset`, which would print
//! iptables-nft's tables again. A source is killed when it prints nothing for
//! the timeout, not when it is merely big ([`command::Limits`]). A source that is missing, denied, failed
//! or timed out is recorded in meta.json with its reason; nothing here is fatal.
//!
//! Reading legacy tables can load the legacy kernel modules and so create the very split
//! fwdoctor diagnoses: `/proc/net/ip_tables_names` (and its IPv6 twin) is read first, and
//! `iptables-legacy-save` only runs when a legacy table is already loaded. For the same reason
//! `ufw status verbose` (which runs `iptables -L`) only runs when [`UFW_CONF`] says
//! `ENABLED=yes`; otherwise ufw-status.txt holds `Status: inactive`, what ufw itself says then.
//!
//! A Docker socket that is not dockerd's (owner root, group root or docker) is read, with a
//! warning in meta.json and the report's notes: whoever owns it answers for the Docker daemon.

use crate::collect::command::{self, DEFAULT_TIMEOUT};
use crate::collect::docker_api;
use crate::collect::evidence::files;
use crate::collect::{Evidence, Meta, SourceState, SourceStatus};
use crate::model::text::{Source, SourceText};
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Every `reason` of an `iptables-legacy-save` / `ip6tables-legacy-save` record that was not run
/// because no legacy table is loaded starts with this text (status `missing`).
pub const NO_LEGACY_TABLES: &str = "no legacy tables";
/// In a source's reason: the running kernel cannot load legacy xtables at all (6.17+ without
/// `CONFIG_NETFILTER_XTABLES_LEGACY`, or a kernel built without `CONFIG_IP_NF_IPTABLES`).
pub const LEGACY_UNAVAILABLE: &str = "this kernel has no legacy xtables";

/// Whether the kernel `release` under `root` (`/` on a live host) has `module` built in or as
/// a loadable module: `/sys/module/NAME`, else `modules.builtin` and `modules.dep`. None when
/// neither list can be read (a container without /lib/modules): not known.
pub fn kernel_has_module(module: &str, release: &str, root: &Path) -> Option<bool> {
    if root.join("sys/module").join(module).exists() {
        return Some(true);
    }
    let dir = root.join("lib/modules").join(release);
    let builtin = std::fs::read_to_string(dir.join("modules.builtin")).ok()?;
    let dep = std::fs::read_to_string(dir.join("modules.dep")).ok()?;
    let name = format!("/{module}.ko");
    Some(
        builtin
            .lines()
            .chain(dep.lines())
            .filter_map(|l| l.split(':').next())
            .any(|path| path.contains(&name)),
    )
}

/// The reason a legacy family's tables list is absent: the module is not loaded, or the
/// kernel has none.
fn legacy_absent_reason(proc_path: &str, module: &str) -> String {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    match kernel_has_module(module, release.trim(), Path::new("/")) {
        Some(false) => format!(
            "{NO_LEGACY_TABLES}: {proc_path} is absent and {LEGACY_UNAVAILABLE} (kernel {}: {module} is neither built in nor a module)",
            release.trim()
        ),
        _ => format!("{NO_LEGACY_TABLES}: {proc_path} is absent ({module} module not loaded)"),
    }
}

/// ufw's own configuration; `ENABLED=yes` is what `ufw enable` writes and boot obeys.
pub const UFW_CONF: &str = "/etc/ufw/ufw.conf";

/// Every `reason` of a ufw-status record whose `ufw status verbose` was not run because ufw is
/// not enabled starts with this text (status `ok`, content `Status: inactive`).
pub const UFW_NOT_ENABLED: &str = "ufw is not enabled";

/// Where Docker's daemon.json may live: the deb/rpm one, then the snap's.
pub const DAEMON_JSON_PATHS: &[&str] = &[
    "/etc/docker/daemon.json",
    "/var/snap/docker/current/config/daemon.json",
];

/// The sysctl.txt keys, with their /proc files.
const SYSCTLS: &[(&str, &str)] = &[
    ("net.ipv4.ip_forward", "/proc/sys/net/ipv4/ip_forward"),
    (
        "net.ipv6.conf.all.forwarding",
        "/proc/sys/net/ipv6/conf/all/forwarding",
    ),
    (
        "net.bridge.bridge-nf-call-iptables",
        "/proc/sys/net/bridge/bridge-nf-call-iptables",
    ),
    (
        "net.bridge.bridge-nf-call-ip6tables",
        "/proc/sys/net/bridge/bridge-nf-call-ip6tables",
    ),
];

/// How to collect.
#[derive(Debug, Clone)]
pub struct Options {
    /// How long a command may print nothing before it counts as hung (its overall cap is
    /// [`command::DEFAULT_TOTAL_CAP`], or this when longer), and the deadline of a Docker
    /// request; sources run in parallel.
    pub timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

/// One source's result: the meta.json record and, when `ok`, the file content.
struct Collected {
    file: String,
    status: SourceStatus,
    /// The exact output; a big command output is the command's own pages, mapped.
    content: Option<Source>,
    /// A warning for the report's notes (it is in `status.reason` too, so a capture keeps it).
    note: Option<String>,
}

impl Collected {
    fn new(file: impl Into<String>, (status, content): (SourceStatus, Option<SourceText>)) -> Self {
        Collected {
            file: file.into(),
            status,
            content: content.map(std::sync::Arc::new),
            note: None,
        }
    }

    fn not_ok(file: impl Into<String>, state: SourceState, command: &str, reason: String) -> Self {
        Collected::new(file, (status(state, command, reason), None))
    }

    fn ok(file: impl Into<String>, command: &str, content: String) -> Self {
        Collected::new(
            file,
            (
                status(SourceState::Ok, command, String::new()),
                Some(content.into()),
            ),
        )
    }
}

fn status(state: SourceState, command: &str, reason: String) -> SourceStatus {
    SourceStatus {
        status: state,
        command: command.to_string(),
        exit_code: None,
        stderr: String::new(),
        reason,
    }
}

type Job<'a> = (
    &'static [&'static str],
    Box<dyn FnOnce() -> Vec<Collected> + Send + 'a>,
);

/// Called with a source's file name and text as soon as it is read (the rule dumps only),
/// and whether other rule dumps are still running then.
pub type OnRead<'a> = dyn Fn(&str, &Source, bool) + Sync + 'a;

/// Collect every source of the capture table on this host. Never fails: what could not be read
/// is in `meta.sources` with its state and reason.
pub fn collect(opts: &Options) -> Evidence {
    collect_with(opts, &|_, _, _| {})
}

/// [`collect`], handing each rule dump to `on_read` as soon as it is read.
pub fn collect_with(opts: &Options, on_read: &OnRead<'_>) -> Evidence {
    let timeout = opts.timeout;
    let jobs: Vec<Job<'_>> = vec![
        (
            &[
                files::LEGACY_TABLES,
                files::IPTABLES_LEGACY,
                files::LEGACY6_TABLES,
                files::IP6TABLES_LEGACY,
                files::IPTABLES_NFT,
                files::IP6TABLES_NFT,
                files::NFT_RULESET,
            ],
            Box::new(move || rulesets(timeout, on_read)),
        ),
        (
            &[files::IPTABLES_ALTERNATIVE],
            Box::new(|| vec![iptables_alternative()]),
        ),
        (
            &[
                files::DOCKER_INFO,
                files::DOCKER_VERSION,
                files::DOCKER_CONTAINERS,
                files::DOCKER_NETWORKS,
            ],
            Box::new(move || docker(timeout)),
        ),
        (&[files::DOCKER_DAEMON], Box::new(|| vec![daemon_json()])),
        (
            &[
                files::NFTABLES_CONF,
                files::NFTABLES_CONF_INCLUDES,
                files::IPTABLES_RULES_V4,
                files::IPTABLES_RULES_V6,
            ],
            Box::new(on_disk_rulesets),
        ),
        (
            &[files::DOCKERD_CMDLINE],
            Box::new(|| vec![dockerd_cmdline()]),
        ),
        (
            &[files::SNAP_SERVICES],
            Box::new(move || vec![tool(files::SNAP_SERVICES, "snap", &["services"], timeout)]),
        ),
        (
            &[files::SNAP_LIST],
            Box::new(move || vec![tool(files::SNAP_LIST, "snap", &["list"], timeout)]),
        ),
        (
            &[files::SNAP_CHANGES],
            Box::new(move || vec![tool(files::SNAP_CHANGES, "snap", &["changes"], timeout)]),
        ),
        (&[files::SYSCTL], Box::new(|| vec![sysctl()])),
        (
            &[files::UFW_STATUS],
            Box::new(move || vec![ufw_status(Path::new(UFW_CONF), timeout)]),
        ),
        (
            &[files::FIREWALLD_STATE],
            Box::new(move || vec![firewalld(timeout)]),
        ),
        (
            &[files::FIREWALLD_ZONES],
            Box::new(move || vec![firewalld_zones(timeout)]),
        ),
        (
            &[files::IP_ADDR],
            Box::new(move || vec![tool(files::IP_ADDR, "ip", &["-j", "addr", "show"], timeout)]),
        ),
        (
            &[files::IPSET_SAVE],
            Box::new(move || vec![tool(files::IPSET_SAVE, "ipset", &["save"], timeout)]),
        ),
    ];

    let mut results = Vec::new();
    thread::scope(|scope| {
        let handles: Vec<_> = jobs
            .into_iter()
            .map(|(names, job)| (names, scope.spawn(job)))
            .collect();
        for (names, handle) in handles {
            match handle.join() {
                Ok(collected) => results.extend(collected),
                Err(_) => results.extend(names.iter().map(|file| {
                    Collected::not_ok(
                        *file,
                        SourceState::Failed,
                        "",
                        "internal error while reading this source".into(),
                    )
                })),
            }
        }
    });

    let mut evidence = Evidence {
        meta: host_meta(),
        origin: "live host".to_string(),
        ..Evidence::default()
    };
    for c in results {
        if let Some(note) = c.note
            && !evidence.notes.contains(&note)
        {
            evidence.notes.push(note);
        }
        evidence
            .meta
            .sources
            .insert(files::source_name(&c.file).to_string(), c.status);
        if let Some(content) = c.content {
            evidence.insert_shared(&c.file, content);
        }
    }
    evidence
}

/// Find `program` and run it; missing binary -> `missing` without running anything.
fn tool(file: impl Into<String>, program: &str, args: &[&str], timeout: Duration) -> Collected {
    let Some(path) = command::find_binary(program) else {
        return Collected::not_ok(
            file,
            SourceState::Missing,
            &command::command_line(program, args),
            format!("{program} not found"),
        );
    };
    let path = path.to_string_lossy();
    Collected::new(file, command::run(&path, args, timeout).into_source())
}

/// The `reason` of a per-table source read by nft in place of a failed `iptables-nft-save`
/// (or its IPv6 twin) starts with this text; the model turns it into a note of the report.
pub const NFT_FALLBACK: &str = "read by nft -j in place of";

/// What nft's JSON loses of a table iptables-nft wrote: `xt` matches and targets come without
/// their options, so the rules that use them are judged unknown.
pub const NFT_FALLBACK_LOSES: &str = "nft -j shows iptables-nft's xt matches and targets \
    without their options (-m comment, -m conntrack --ctstate, -m statistic, -m set, \
    -j DNAT --to-destination, ...): rules that use them are judged unknown";

/// The tables iptables-nft may own: `iptables-nft-save` prints them (when they are its own).
const IPTABLES_TABLE_NAMES: &[&str] = &["filter", "nat", "mangle", "raw", "security"];

/// Most nft tables dumped one by one (a walk over what the kernel lists is bounded too).
const MAX_NFT_TABLES: usize = 512;

/// Both stacks' rules, each read once, in two lanes: `iptables-nft-save` on a thread of its
/// own; on this one `ip6tables-nft-save`, the legacy saves, nft's list of chains and the
/// native nft tables. On two cores each lane has one: run all at once, the dumps slowed the
/// slowest of them (most often `iptables-nft-save`) by a third to a half. Each save goes to
/// `on_read` as soon as it is read, told whether the other lane still runs, so its parse
/// overlaps that lane's dumps.
///
/// `nft -j list ruleset` would print iptables-nft's tables a second time, in a form that loses
/// their xt options, and at 250k rules it takes 40 times as long as `iptables-nft-save`. So:
/// `nft -j list chains` tells which tables exist (nft-chains.json); a table that cannot be
/// iptables-nft's (another family or name) is dumped with `nft -j list table` at once; one
/// that can be is dumped only when the save of its family did not print it (the save failed,
/// or the table is not compatible with iptables). A listing that fails is recorded under
/// `nft-ruleset`, the source that stands for "the native nft tables", as before.
fn rulesets(timeout: Duration, on_read: &OnRead<'_>) -> Vec<Collected> {
    let saves_done = AtomicBool::new(false);
    let others_done = AtomicBool::new(false);
    let hand = |c: &Collected, other_lane_done: &AtomicBool| {
        if let Some(text) = &c.content {
            on_read(&c.file, text, !other_lane_done.load(Ordering::Acquire));
        }
    };
    thread::scope(|scope| {
        // IPv4's save alone, from the start: on a Kubernetes node it is the slowest source by
        // far, and its parse, last, is the one most likely to have both cores to itself.
        let saves = scope.spawn(|| {
            crate::parse::heap::huge_pages_for_this_thread();
            let save4 = tool(files::IPTABLES_NFT, "iptables-nft-save", &[], timeout);
            saves_done.store(true, Ordering::Release);
            hand(&save4, &others_done);
            save4
        });
        let save6 = tool(files::IP6TABLES_NFT, "ip6tables-nft-save", &[], timeout);
        hand(&save6, &saves_done);
        let mut out = Vec::new();
        for family in [Family::V4, Family::V6] {
            for c in legacy(family, timeout) {
                hand(&c, &saves_done);
                out.push(c);
            }
        }
        let (mut chains, candidates) = native_tables(timeout, &mut out);
        others_done.store(true, Ordering::Release);
        let save4 = saves.join().unwrap_or_else(|_| {
            Collected::not_ok(
                files::IPTABLES_NFT,
                SourceState::Failed,
                "",
                "internal error".into(),
            )
        });
        let Some(candidates) = candidates else {
            out.extend([save4, save6, chains]);
            return out;
        };
        let mut by_save = Vec::new();
        let mut dumped = Vec::new();
        for (family, name) in candidates {
            let save = if family == "ip" { &save4 } else { &save6 };
            let tool_name = if family == "ip" {
                "iptables-nft-save"
            } else {
                "ip6tables-nft-save"
            };
            match &save.content {
                Some(text)
                    if crate::collect::evidence::saved_tables(text).contains(&name.as_str()) =>
                {
                    by_save.push(format!("{family} {name}"));
                }
                Some(_) => dumped.push(dump_table(&family, &name, None, timeout)),
                None => {
                    let why = format!(
                        "{NFT_FALLBACK} {tool_name}, which was not read ({}{}); {NFT_FALLBACK_LOSES}",
                        save.status.status.as_str(),
                        match save.status.reason.as_str() {
                            "" => String::new(),
                            r => format!(": {r}"),
                        }
                    );
                    dumped.push(dump_table(&family, &name, Some(why), timeout));
                }
            }
        }
        let by_nft: Vec<String> = dumped
            .iter()
            .chain(&out)
            .filter_map(|c| files::parse_nft_table(&c.file))
            .map(|(family, name)| format!("{family} {name}"))
            .collect();
        chains.status.reason = format!(
            "per-table form: tables read by iptables-nft-save / ip6tables-nft-save: {}; by nft -j list table: {}{}",
            list_or_none(&by_save),
            list_or_none(&by_nft),
            chains.status.reason
        );
        out.extend([save4, save6, chains]);
        out.extend(dumped);
        out
    })
}

/// An nft table's family and name, as `nft -j list chains` gives them.
type NftTableName = (String, String);

/// `nft -j list chains`, and `nft -j list table` of each table in it that cannot be
/// iptables-nft's (pushed to `out`). Returns the listing's record and the tables that may be
/// iptables-nft's (to dump only if its save did not print them), or None when there is no
/// listing (the record, under `nft-ruleset`, says why).
fn native_tables(
    timeout: Duration,
    out: &mut Vec<Collected>,
) -> (Collected, Option<Vec<NftTableName>>) {
    let mut chains = tool(files::NFT_CHAINS, "nft", &["-j", "list", "chains"], timeout);
    let listed = match chains
        .content
        .as_deref()
        .map(|text| crate::collect::evidence::nft_chain_tables(text))
    {
        Some(Ok(tables)) => tables,
        Some(Err(e)) => {
            chains = Collected::not_ok(
                files::NFT_RULESET,
                SourceState::Failed,
                &chains.status.command,
                format!("nft -j list chains printed what is not nft JSON: {e}"),
            );
            Vec::new()
        }
        None => Vec::new(),
    };
    if chains.content.is_none() {
        chains.file = files::NFT_RULESET.to_string();
        return (chains, None);
    }
    let mut listed = listed;
    let skipped: Vec<String> = listed
        .split_off(listed.len().min(MAX_NFT_TABLES))
        .iter()
        .map(|(f, t)| format!("{f:?} {t:?}"))
        .collect();
    // The rest of the reason; [`rulesets`] puts what was read how in front.
    if !skipped.is_empty() {
        chains.status.reason = format!(
            "; more than {MAX_NFT_TABLES} tables: not read: {}",
            skipped.join(", ")
        );
    }
    let maybe_iptables = |(family, name): &(String, String)| {
        matches!(family.as_str(), "ip" | "ip6") && IPTABLES_TABLE_NAMES.contains(&name.as_str())
    };
    let (candidates, native): (Vec<_>, Vec<_>) = listed.into_iter().partition(maybe_iptables);
    out.extend(
        native
            .into_iter()
            .map(|(family, name)| dump_table(&family, &name, None, timeout)),
    );
    (chains, Some(candidates))
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        items.join(", ")
    }
}

/// `nft -j list table FAMILY NAME` into its per-table file; `why` is put in its reason.
/// A table whose name can have no file ([`files::nft_table`]) is not read, and says so.
fn dump_table(family: &str, name: &str, why: Option<String>, timeout: Duration) -> Collected {
    let args = ["-j", "list", "table", family, name];
    let Some(file) = files::nft_table(family, name) else {
        let mut c = Collected::not_ok(
            files::NFT_RULESET,
            SourceState::Failed,
            &command::command_line("nft", &args),
            format!("table {family} {name:?} has a name fwdoctor cannot file; not read"),
        );
        c.note = Some(c.status.reason.clone());
        return c;
    };
    let mut c = tool(file, "nft", &args, timeout);
    if let Some(why) = why {
        c.status.reason = match c.status.reason.as_str() {
            "" => why,
            r => format!("{r}; {why}"),
        };
    }
    c
}

#[derive(Clone, Copy)]
enum Family {
    V4,
    V6,
}

/// legacy-tables.txt (the /proc list) and, only when a table is loaded, the legacy save.
fn legacy(family: Family, timeout: Duration) -> Vec<Collected> {
    let (tables_file, save_file, proc_path, save, module) = match family {
        Family::V4 => (
            files::LEGACY_TABLES,
            files::IPTABLES_LEGACY,
            "/proc/net/ip_tables_names",
            "iptables-legacy-save",
            "ip_tables",
        ),
        Family::V6 => (
            files::LEGACY6_TABLES,
            files::IP6TABLES_LEGACY,
            "/proc/net/ip6_tables_names",
            "ip6tables-legacy-save",
            "ip6_tables",
        ),
    };
    let cat = format!("cat {proc_path}");
    let (tables_entry, tables) = match std::fs::read(proc_path) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(text) => (Collected::ok(tables_file, &cat, text.clone()), text),
            Err(_) => {
                let reason = format!("{proc_path} is not UTF-8");
                return vec![
                    Collected::not_ok(tables_file, SourceState::Failed, &cat, reason.clone()),
                    Collected::not_ok(save_file, SourceState::Failed, save, reason),
                ];
            }
        },
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return vec![
                Collected::not_ok(
                    tables_file,
                    SourceState::Missing,
                    &cat,
                    legacy_absent_reason(proc_path, module),
                ),
                Collected::not_ok(
                    save_file,
                    SourceState::Missing,
                    save,
                    format!("{NO_LEGACY_TABLES} ({module} module not loaded); {save} not run"),
                ),
            ];
        }
        Err(e) => {
            let (state, why) = if e.kind() == io::ErrorKind::PermissionDenied {
                (SourceState::Denied, "permission denied (not root?)".into())
            } else {
                (SourceState::Failed, e.to_string())
            };
            return vec![
                Collected::not_ok(tables_file, state, &cat, format!("{proc_path}: {why}")),
                Collected::not_ok(
                    save_file,
                    state,
                    save,
                    format!("cannot read {proc_path}: {why}; {save} not run"),
                ),
            ];
        }
    };
    let loaded: Vec<&str> = tables.split_whitespace().collect();
    let save_entry = if loaded.is_empty() {
        Collected::not_ok(
            save_file,
            SourceState::Missing,
            save,
            format!("{NO_LEGACY_TABLES} loaded ({proc_path} is empty); {save} not run"),
        )
    } else {
        let mut entry = tool(save_file, save, &[], timeout);
        if entry.status.status == SourceState::Missing {
            entry.status.reason = format!(
                "{save} not found, but legacy tables are loaded: {}",
                loaded.join(" ")
            );
        }
        entry
    };
    vec![tables_entry, save_entry]
}

/// iptables-alternative.txt: `readlink -f` of the `iptables` on PATH, done in Rust.
fn iptables_alternative() -> Collected {
    let file = files::IPTABLES_ALTERNATIVE;
    let Some(path) = command::find_binary("iptables") else {
        return Collected::not_ok(
            file,
            SourceState::Missing,
            "readlink -f iptables",
            "iptables not found".into(),
        );
    };
    let command = format!("readlink -f {}", path.display());
    match std::fs::canonicalize(&path) {
        Ok(real) => match real.to_str() {
            Some(real) => Collected::ok(file, &command, format!("{real}\n")),
            None => Collected::not_ok(
                file,
                SourceState::Failed,
                &command,
                "path is not UTF-8".into(),
            ),
        },
        Err(e) => Collected::not_ok(file, io_state(&e), &command, e.to_string()),
    }
}

/// The four Engine API endpoints, in parallel.
fn docker(timeout: Duration) -> Vec<Collected> {
    const ENDPOINTS: &[(&str, &str)] = &[
        (files::DOCKER_INFO, "/info"),
        (files::DOCKER_VERSION, "/version"),
        (files::DOCKER_CONTAINERS, "/containers/json"),
        (files::DOCKER_NETWORKS, "/networks"),
    ];
    let socket = match docker_api::socket_path() {
        Ok(socket) => socket,
        Err(e) => {
            return ENDPOINTS
                .iter()
                .map(|(file, path)| {
                    Collected::not_ok(*file, e.state(), &format!("GET {path}"), e.to_string())
                })
                .collect();
        }
    };
    let socket = socket.as_path();
    let warning = docker_api::socket_owner_warning(socket);
    let mut collected: Vec<Collected> = thread::scope(|scope| {
        let handles: Vec<_> = ENDPOINTS
            .iter()
            .map(|&(file, path)| {
                (
                    file,
                    path,
                    scope.spawn(move || docker_api::get(socket, path, timeout)),
                )
            })
            .collect();
        handles
            .into_iter()
            .map(|(file, path, handle)| {
                let command = format!("GET {path} on unix://{}", socket.display());
                match handle.join() {
                    Ok(Ok(body)) => Collected::ok(file, &command, body),
                    Ok(Err(e)) => Collected::not_ok(file, e.state(), &command, e.to_string()),
                    Err(_) => Collected::not_ok(
                        file,
                        SourceState::Failed,
                        &command,
                        "internal error".into(),
                    ),
                }
            })
            .collect()
    });
    if let Some(warning) = warning {
        for c in &mut collected {
            c.status.reason = match c.status.reason.as_str() {
                "" => warning.clone(),
                reason => format!("{reason}; {warning}"),
            };
            c.note = Some(warning.clone());
        }
    }
    collected
}

/// ufw-status.txt: `ufw status verbose`, run only when `conf` (ufw.conf) says `ENABLED=yes`.
///
/// `ufw status` lists its chains with `iptables -L`, which on a host whose `iptables` is the
/// legacy one loads the legacy modules that the `ip_tables_names` check exists to leave alone.
/// A ufw that is not enabled has no rules loaded at boot: the record is `ok` with the text ufw
/// prints then (`Status: inactive`), its reason says why nothing was run.
fn ufw_status(conf: &Path, timeout: Duration) -> Collected {
    let file = files::UFW_STATUS;
    let args = ["status", "verbose"];
    let Some(path) = command::find_binary("ufw") else {
        return Collected::not_ok(
            file,
            SourceState::Missing,
            &command::command_line("ufw", &args),
            "ufw not found".into(),
        );
    };
    let cat = format!("cat {}", conf.display());
    let not_run = |why: String| {
        let mut entry = Collected::ok(file, &cat, "Status: inactive\n".into());
        entry.status.reason = format!(
            "{UFW_NOT_ENABLED} ({why}); `ufw status verbose` not run (it runs iptables -L, which \
             can load the legacy iptables modules)"
        );
        entry
    };
    match std::fs::read(conf) {
        Ok(bytes) if ufw_enabled(&String::from_utf8_lossy(&bytes)) => Collected::new(
            file,
            command::run(&path.to_string_lossy(), &args, timeout).into_source(),
        ),
        Ok(_) => not_run(format!("{} does not say ENABLED=yes", conf.display())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => not_run(format!("no {}", conf.display())),
        Err(e) => Collected::not_ok(
            file,
            io_state(&e),
            &cat,
            format!(
                "cannot read {}: {e}; `ufw status verbose` not run",
                conf.display()
            ),
        ),
    }
}

/// True when ufw.conf text has `ENABLED=yes` (the last assignment wins, quotes allowed, as the
/// shell that sources it at boot reads it).
pub fn ufw_enabled(conf: &str) -> bool {
    conf.lines()
        .filter_map(|line| line.trim().strip_prefix("ENABLED="))
        .next_back()
        .is_some_and(|value| {
            let value = value.split('#').next().unwrap_or_default().trim();
            value.trim_matches(|c| c == '"' || c == '\'') == "yes"
        })
}

/// docker-daemon.json: the first of [`DAEMON_JSON_PATHS`] that exists, verbatim.
/// dockerd-cmdline.txt: the command line of the dockerd in this network namespace, one argument
/// per line. Flags like `--iptables=false` or `--userland-proxy=false` change what Docker writes
/// and appear nowhere in the Engine API.
fn dockerd_cmdline() -> Collected {
    let file = files::DOCKERD_CMDLINE;
    let command = "cat /proc/PID/cmdline (dockerd in this network namespace)";
    let own_ns = std::fs::read_link("/proc/self/ns/net").ok();
    let Some(pids) = process_ids(Path::new("/proc")) else {
        return Collected::not_ok(
            file,
            SourceState::Failed,
            command,
            format!("cannot list /proc (or it has more than {MAX_PROC_ENTRIES} entries)"),
        );
    };
    let mut denied = false;
    for pid in &pids {
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if comm.trim() != "dockerd" {
            continue;
        }
        match std::fs::read_link(format!("/proc/{pid}/ns/net")) {
            Ok(ns) if Some(&ns) == own_ns.as_ref() => {}
            Ok(_) => continue,
            Err(_) => {
                denied = true;
                continue;
            }
        }
        if let Ok(raw) = std::fs::read(format!("/proc/{pid}/cmdline")) {
            let args: Vec<String> = raw
                .split(|b| *b == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            return Collected::ok(file, command, args.join("\n") + "\n");
        }
    }
    let (state, reason) = if denied {
        (
            SourceState::Denied,
            "cannot see other processes' network namespaces (not root)",
        )
    } else {
        (
            SourceState::Missing,
            "no dockerd process in this network namespace",
        )
    };
    Collected::not_ok(file, state, command, reason.into())
}

/// What the next boot loads: /etc/nftables.conf (and the files it includes, found with a bounded
/// walk: at most [`MAX_INCLUDES`] files, [`MAX_INCLUDE_DEPTH`] levels), /etc/iptables/rules.v4
/// and rules.v6, each verbatim, opened as evidence files are (regular files of bounded size).
fn on_disk_rulesets() -> Vec<Collected> {
    let mut out = Vec::new();
    match read_disk_file(Path::new(NFTABLES_CONF_PATH)) {
        Ok(text) => {
            let mut includes = serde_json::Map::new();
            let mut problems = Vec::new();
            collect_includes(&text, Path::new("/etc"), 0, &mut includes, &mut problems);
            out.push(Collected::ok(
                files::NFTABLES_CONF,
                &format!("cat {NFTABLES_CONF_PATH}"),
                text,
            ));
            if !includes.is_empty() || !problems.is_empty() {
                let mut c = Collected::ok(
                    files::NFTABLES_CONF_INCLUDES,
                    "cat (files included by /etc/nftables.conf)",
                    serde_json::Value::Object(includes).to_string(),
                );
                if !problems.is_empty() {
                    c.status.reason = problems.join("; ");
                }
                out.push(c);
            }
        }
        Err((state, reason)) => out.push(Collected::not_ok(
            files::NFTABLES_CONF,
            state,
            &format!("cat {NFTABLES_CONF_PATH}"),
            reason,
        )),
    }
    for (file, path) in [
        (files::IPTABLES_RULES_V4, "/etc/iptables/rules.v4"),
        (files::IPTABLES_RULES_V6, "/etc/iptables/rules.v6"),
    ] {
        out.push(match read_disk_file(Path::new(path)) {
            Ok(text) => Collected::ok(file, &format!("cat {path}"), text),
            Err((state, reason)) => Collected::not_ok(file, state, &format!("cat {path}"), reason),
        });
    }
    out
}

const NFTABLES_CONF_PATH: &str = "/etc/nftables.conf";
const MAX_INCLUDES: usize = 64;
const MAX_INCLUDE_DEPTH: usize = 8;
const MAX_DISK_RULESET_LEN: u64 = 64 << 20;

fn read_disk_file(path: &Path) -> Result<String, (SourceState, String)> {
    use std::io::Read as _;
    let (file, _) =
        crate::safe_fs::open_input(path, crate::safe_fs::Links::Follow, MAX_DISK_RULESET_LEN)
            .map_err(|e| {
                let state = if e.kind() == io::ErrorKind::NotFound {
                    SourceState::Missing
                } else {
                    io_state(&e)
                };
                (state, format!("{}: {e}", path.display()))
            })?;
    let mut bytes = Vec::new();
    file.take(MAX_DISK_RULESET_LEN)
        .read_to_end(&mut bytes)
        .map_err(|e| (io_state(&e), format!("{}: {e}", path.display())))?;
    String::from_utf8(bytes).map_err(|_| {
        (
            SourceState::Failed,
            format!("{} is not UTF-8", path.display()),
        )
    })
}

/// The `include "PATH"` lines of `text` (PATH relative to `dir`; a `*` in the last component is
/// a glob, matched in sorted order, as nft does), read into `found`, recursively.
fn collect_includes(
    text: &str,
    dir: &Path,
    depth: usize,
    found: &mut serde_json::Map<String, serde_json::Value>,
    problems: &mut Vec<String>,
) {
    for line in text.lines() {
        let Some(rest) = line.trim().strip_prefix("include") else {
            continue;
        };
        let Some(pattern) = rest
            .trim()
            .strip_prefix('"')
            .and_then(|r| r.split('"').next())
        else {
            continue;
        };
        if depth >= MAX_INCLUDE_DEPTH || found.len() >= MAX_INCLUDES {
            problems.push(format!(
                "include {pattern:?} not read: the walk's bound was reached"
            ));
            continue;
        }
        for path in include_paths(dir, pattern) {
            let key = path.display().to_string();
            if found.contains_key(&key) {
                continue;
            }
            match read_disk_file(&path) {
                Ok(inner) => {
                    found.insert(key, serde_json::Value::String(inner.clone()));
                    let parent = path.parent().unwrap_or(Path::new("/")).to_path_buf();
                    collect_includes(&inner, &parent, depth + 1, found, problems);
                }
                Err((_, reason)) => problems.push(reason),
            }
        }
    }
}

/// The files an include pattern names: a path, or a directory and a `*` glob in its last part.
pub fn include_paths(dir: &Path, pattern: &str) -> Vec<std::path::PathBuf> {
    let path = dir.join(pattern);
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return vec![path];
    };
    let Some((prefix, suffix)) = name.split_once('*') else {
        return vec![path];
    };
    let parent = path.parent().unwrap_or(Path::new("/"));
    let mut out: Vec<_> = std::fs::read_dir(parent)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().to_str()?.to_string();
            (n.starts_with(prefix) && n.ends_with(suffix) && n.len() >= prefix.len() + suffix.len())
                .then(|| parent.join(n))
        })
        .collect();
    out.sort();
    out
}

fn daemon_json() -> Collected {
    let file = files::DOCKER_DAEMON;
    for path in DAEMON_JSON_PATHS {
        let command = format!("cat {path}");
        match std::fs::read(path) {
            Ok(bytes) => {
                return match String::from_utf8(bytes) {
                    Ok(text) => Collected::ok(file, &command, text),
                    Err(_) => Collected::not_ok(
                        file,
                        SourceState::Failed,
                        &command,
                        format!("{path} is not UTF-8"),
                    ),
                };
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => {
                return Collected::not_ok(file, io_state(&e), &command, format!("{path}: {e}"));
            }
        }
    }
    Collected::not_ok(
        file,
        SourceState::Missing,
        &format!("cat {}", DAEMON_JSON_PATHS.join(" || cat ")),
        format!("no daemon.json ({})", DAEMON_JSON_PATHS.join(", ")),
    )
}

/// sysctl.txt: `KEY = VALUE` lines read from /proc/sys. A key whose file is absent (no IPv6,
/// br_netfilter not loaded) is left out, and the reason says so.
fn sysctl() -> Collected {
    let file = files::SYSCTL;
    let command = format!(
        "cat {}",
        SYSCTLS
            .iter()
            .map(|(_, p)| *p)
            .collect::<Vec<_>>()
            .join(" ")
    );
    let mut text = String::new();
    let mut absent = Vec::new();
    let mut errors = Vec::new();
    for (key, path) in SYSCTLS {
        match std::fs::read_to_string(path) {
            Ok(value) => text.push_str(&format!("{key} = {}\n", value.trim())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => absent.push(*key),
            Err(e) => errors.push(format!("{path}: {e}")),
        }
    }
    if text.is_empty() {
        let reason = if errors.is_empty() {
            "none of the sysctl files exist".to_string()
        } else {
            errors.join("; ")
        };
        return Collected::not_ok(file, SourceState::Failed, &command, reason);
    }
    let mut entry = Collected::ok(file, &command, text);
    let mut notes = Vec::new();
    if !absent.is_empty() {
        let mut note = format!("absent: {}", absent.join(", "));
        if absent.iter().any(|k| k.starts_with("net.bridge.")) {
            note.push_str(" (br_netfilter not loaded)");
        }
        notes.push(note);
    }
    notes.extend(errors);
    entry.status.reason = notes.join("; ");
    entry
}

/// firewalld-state.txt: `firewall-cmd --state`; "not running" (exit 252) is an answer too.
fn firewalld(timeout: Duration) -> Collected {
    firewall_cmd(files::FIREWALLD_STATE, "--state", timeout)
}

/// `firewall-cmd ARG` as the source `file`. Not run when no firewalld process exists (see
/// [`no_firewalld_process`]): firewall-cmd is a Python program whose start-up alone costs a
/// tenth of a second of CPU, taken from the rule dumps on a small machine, to say "not running".
fn firewall_cmd(file: &str, arg: &str, timeout: Duration) -> Collected {
    let Some(path) = command::find_binary("firewall-cmd") else {
        return Collected::not_ok(
            file,
            SourceState::Missing,
            &format!("firewall-cmd {arg}"),
            "firewall-cmd not found".into(),
        );
    };
    let root = nix::unistd::geteuid().is_root();
    if let Some(why) = no_firewalld_process(Path::new("/proc"), root) {
        let mut c = Collected::ok(file, &format!("firewall-cmd {arg}"), "not running\n".into());
        c.status.reason = format!("firewalld is not running: {why}; firewall-cmd not run");
        return c;
    }
    let outcome = command::run(&path.to_string_lossy(), &[arg], timeout);
    firewall_cmd_answer(file, outcome)
}

/// At most this many /proc entries are looked at; past it, "cannot tell".
const MAX_PROC_ENTRIES: usize = 1 << 22;

/// The process ids under `proc` (a /proc), at most [`MAX_PROC_ENTRIES`] entries looked at;
/// None when it cannot be listed or has more entries than that.
fn process_ids(proc: &Path) -> Option<Vec<String>> {
    let mut pids = Vec::new();
    for (seen, entry) in std::fs::read_dir(proc).ok()?.enumerate() {
        if seen >= MAX_PROC_ENTRIES {
            return None;
        }
        let name = entry.ok()?.file_name();
        if let Some(pid) = name
            .to_str()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        {
            pids.push(pid.to_string());
        }
    }
    Some(pids)
}

/// The pid namespace of the host (`PROC_PID_INIT_INO`): only there does /proc list every process.
const INITIAL_PID_NAMESPACE: &str = "pid:[4026531836]";

/// Why firewalld is surely not running, when it is: `root`, in the host's pid namespace, and no
/// process under `proc` is firewalld (named so, or a Python running a script of that name).
/// None whenever that cannot be told (not root, another pid namespace, /proc unreadable): then
/// firewall-cmd is asked, as before.
fn no_firewalld_process(proc: &Path, root: bool) -> Option<String> {
    let own_ns = std::fs::read_link(proc.join("self/ns/pid")).ok()?;
    if !root || own_ns.as_os_str() != INITIAL_PID_NAMESPACE {
        return None;
    }
    let pids = process_ids(proc)?;
    let is_firewalld = |pid: &str| {
        let comm = std::fs::read_to_string(proc.join(pid).join("comm")).unwrap_or_default();
        let comm = comm.trim_end();
        comm == "firewalld"
            || (comm.starts_with("python")
                && std::fs::read(proc.join(pid).join("cmdline"))
                    .unwrap_or_default()
                    .split(|b| *b == 0)
                    .skip(1)
                    .any(|arg| arg.rsplit(|b| *b == b'/').next() == Some(b"firewalld")))
    };
    (!pids.iter().any(|pid| is_firewalld(pid)))
        .then(|| format!("no firewalld process among the {} in /proc", pids.len()))
}

/// The D-Bus system bus firewalld talks on (it cannot run without one).
const SYSTEM_BUS_SOCKET: &str = "/run/dbus/system_bus_socket";

/// firewall-cmd's outcome as a source. When it failed because there is no D-Bus system bus at
/// all, firewalld cannot be running either: that is an answer ("not running"), not a failure.
fn firewall_cmd_answer(file: &str, outcome: command::CommandOutcome) -> Collected {
    let no_bus = outcome.exit_code.is_some_and(|c| c != 0 && c != 252)
        && outcome.stderr.contains(SYSTEM_BUS_SOCKET)
        && std::env::var_os("DBUS_SYSTEM_BUS_ADDRESS").is_none()
        && !Path::new(SYSTEM_BUS_SOCKET).exists();
    let command = outcome.command.clone();
    if no_bus {
        let mut c = Collected::ok(file, &command, "not running\n".into());
        c.status.reason = format!(
            "firewalld is not running: there is no D-Bus system bus ({SYSTEM_BUS_SOCKET} is absent), and firewalld cannot run without one"
        );
        return c;
    }
    Collected::new(file, outcome.into_source_accepting(&[0, 252]))
}

/// firewalld-zones.txt: `firewall-cmd --list-all-zones`; exit 252 (not running) is an answer too.
fn firewalld_zones(timeout: Duration) -> Collected {
    firewall_cmd(files::FIREWALLD_ZONES, "--list-all-zones", timeout)
}

fn io_state(e: &io::Error) -> SourceState {
    match e.kind() {
        io::ErrorKind::NotFound => SourceState::Missing,
        io::ErrorKind::PermissionDenied => SourceState::Denied,
        _ => SourceState::Failed,
    }
}

/// meta.json's host fields, read from /proc and /etc/os-release.
fn host_meta() -> Meta {
    let read = |path: &str| {
        std::fs::read_to_string(path)
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    };
    Meta {
        captured_at: rfc3339_utc(SystemTime::now()),
        hostname: read("/proc/sys/kernel/hostname"),
        kernel: read("/proc/sys/kernel/osrelease"),
        os_release: std::fs::read_to_string("/etc/os-release")
            .or_else(|_| std::fs::read_to_string("/usr/lib/os-release"))
            .map(|text| pretty_name(&text))
            .unwrap_or_default(),
        ..Meta::default()
    }
}

/// `PRETTY_NAME` from os-release text, unquoted; empty when absent.
pub fn pretty_name(os_release: &str) -> String {
    os_release
        .lines()
        .find_map(|line| line.trim().strip_prefix("PRETTY_NAME="))
        .map(|value| {
            let value = value.trim();
            let unquoted = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
                .unwrap_or(value);
            unquoted.replace("\\\"", "\"")
        })
        .unwrap_or_default()
}

/// `time` as RFC 3339 in UTC with whole seconds (`2026-11-29T14:03:07Z`).
pub fn rfc3339_utc(time: SystemTime) -> String {
    let secs = match time.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs_f64().ceil() as i64),
    };
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 -> (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod legacy_kernel_tests {
    use super::kernel_has_module;
    use std::fs;

    #[test]
    fn a_kernel_without_ip_tables_is_told_from_one_that_has_not_loaded_it() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("lib/modules/6.17.0-1-amd64");
        fs::create_dir_all(&dir).unwrap();
        fs::write(
            dir.join("modules.builtin"),
            "kernel/net/netfilter/nf_tables.ko\n",
        )
        .unwrap();
        fs::write(
            dir.join("modules.dep"),
            "kernel/net/netfilter/x_tables.ko.xz:\nkernel/net/netfilter/nft_compat.ko.xz: kernel/net/netfilter/x_tables.ko.xz\n",
        )
        .unwrap();
        assert_eq!(
            kernel_has_module("ip_tables", "6.17.0-1-amd64", root.path()),
            Some(false)
        );
        // As a module (Debian 12's 6.1): available, merely not loaded.
        fs::write(
            dir.join("modules.dep"),
            "kernel/net/ipv4/netfilter/ip_tables.ko.xz: kernel/net/netfilter/x_tables.ko.xz\n",
        )
        .unwrap();
        assert_eq!(
            kernel_has_module("ip_tables", "6.17.0-1-amd64", root.path()),
            Some(true)
        );
        // Loaded or built in: /sys/module says so.
        fs::create_dir_all(root.path().join("sys/module/ip6_tables")).unwrap();
        assert_eq!(
            kernel_has_module("ip6_tables", "6.17.0-1-amd64", root.path()),
            Some(true)
        );
        // No module lists (a container): not known.
        assert_eq!(kernel_has_module("ip_tables", "other", root.path()), None);
    }
}

#[cfg(test)]
mod firewalld_process_tests {
    use super::{INITIAL_PID_NAMESPACE, no_firewalld_process};
    use std::fs;
    use std::path::Path;

    fn fake_proc(pid_ns: &str, processes: &[(&str, &str, &[&str])]) -> tempfile::TempDir {
        let proc = tempfile::tempdir().unwrap();
        fs::create_dir_all(proc.path().join("self/ns")).unwrap();
        std::os::unix::fs::symlink(pid_ns, proc.path().join("self/ns/pid")).unwrap();
        for (pid, comm, args) in processes {
            let dir = proc.path().join(pid);
            fs::create_dir(&dir).unwrap();
            fs::write(dir.join("comm"), format!("{comm}\n")).unwrap();
            let cmdline: Vec<u8> = args
                .iter()
                .flat_map(|a| [a.as_bytes(), b"\0"].concat())
                .collect();
            fs::write(dir.join("cmdline"), cmdline).unwrap();
        }
        proc
    }

    const OTHERS: [(&str, &str, &[&str]); 2] = [
        ("1", "systemd", &["/sbin/init"]),
        (
            "420",
            "python3",
            &["/usr/bin/python3", "/usr/bin/unattended-upgrade"],
        ),
    ];

    #[test]
    fn firewall_cmd_is_skipped_only_when_root_sees_every_process_and_none_is_firewalld() {
        let none = fake_proc(INITIAL_PID_NAMESPACE, &OTHERS);
        let why = no_firewalld_process(none.path(), true).expect("no firewalld: told");
        assert!(why.contains("no firewalld process among the 2"), "{why}");
        // Not root, or a container's pid namespace: /proc may not show firewalld, so ask it.
        assert_eq!(no_firewalld_process(none.path(), false), None);
        let container = fake_proc("pid:[4026532301]", &OTHERS);
        assert_eq!(no_firewalld_process(container.path(), true), None);
        assert_eq!(
            no_firewalld_process(Path::new("/nonexistent/proc"), true),
            None
        );
    }

    #[test]
    fn firewalld_is_found_by_its_name_or_as_the_script_python_runs() {
        let by_name = [
            ("1", "systemd", &["/sbin/init"][..]),
            (
                "812",
                "firewalld",
                &["/usr/bin/python3", "-s", "/usr/sbin/firewalld", "--nofork"][..],
            ),
        ];
        assert_eq!(
            no_firewalld_process(fake_proc(INITIAL_PID_NAMESPACE, &by_name).path(), true),
            None
        );
        let by_script = [
            ("1", "systemd", &["/sbin/init"][..]),
            (
                "812",
                "python3.11",
                &["/usr/bin/python3.11", "/usr/sbin/firewalld", "--nopid"][..],
            ),
        ];
        assert_eq!(
            no_firewalld_process(fake_proc(INITIAL_PID_NAMESPACE, &by_script).path(), true),
            None
        );
    }
}
