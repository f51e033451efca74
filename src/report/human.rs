//! The human report, read like a doctor's: for each finding what is wrong, why it matters and
//! what to run; then a ports table and one summary line. `-v` adds the evidence (the exact rules
//! with stack, table, chain and file:line); `-q` prints the summary line only. Colour only on a
//! terminal (NO_COLOR honoured by the caller). Prose wraps at the terminal's width (at most
//! 100 columns); commands never wrap, so they stay copy-pasteable. Every piece of evidence text
//! goes through [`printable`]; the colour codes are added around fwdoctor's own words only.

use crate::analyze::plan::{self, StepKind};
use crate::analyze::ports::{PathVerdict, PortState, sockaddr};
use crate::analyze::{Finding, Severity, Status};
use crate::report::{ReportInput, Verbosity, printable, summary_line};
use comfy_table::{
    ColumnConstraint, ContentArrangement, Table,
    presets::{ASCII_FULL_CONDENSED, UTF8_FULL_CONDENSED},
};
use std::fmt::Write;

pub struct Style {
    pub color: bool,
    /// Only ASCII (`LANG=C`): marks, arrows and table borders are transliterated.
    pub ascii: bool,
}

impl Style {
    /// The style for this process's stdout: `color` as decided by `--color`, `NO_COLOR` and
    /// `TERM=dumb`; ASCII when the locale ([`locale_is_utf8`]) says so.
    pub fn new(color: bool) -> Style {
        Style {
            color,
            ascii: !locale_is_utf8(),
        }
    }
    fn paint(&self, code: &str, s: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    fn sev(&self, s: Severity) -> String {
        match s {
            Severity::Critical => self.paint("1;31", "✗ CRITICAL"),
            Severity::Unknown => self.paint("1;35", "? UNKNOWN"),
            Severity::Warning => self.paint("1;33", "! WARNING"),
            Severity::Info => self.paint("36", "i INFO"),
        }
    }
    fn bold(&self, s: &str) -> String {
        self.paint("1", s)
    }
    fn mark(&self, m: Mark) -> String {
        match m {
            Mark::Good => self.paint("1;32", "✓"),
            Mark::Warn => self.paint("1;33", "!"),
            Mark::Bad => self.paint("1;31", "✗"),
            Mark::Unknown => self.paint("1;35", "?"),
            Mark::Skip => self.paint("2", "-"),
        }
    }
}

/// Does the locale (`LC_ALL`, else `LC_CTYPE`, else `LANG`) use UTF-8? Unset counts as yes
/// (every current distribution's default); `C`, `POSIX` or another charset say no.
pub fn locale_is_utf8() -> bool {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    match var("LC_ALL")
        .or_else(|| var("LC_CTYPE"))
        .or_else(|| var("LANG"))
    {
        None => true,
        Some(v) => {
            let v = v.to_ascii_lowercase();
            v.contains("utf-8") || v.contains("utf8")
        }
    }
}

/// `s` with fwdoctor's own non-ASCII characters (marks, arrows, dots, table borders) replaced
/// one for one, so column widths stay the same.
pub fn asciify(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '✓' => '+',
            '✗' => 'x',
            '·' => '-',
            '→' => '>',
            '…' => '~',
            '─' | '═' | '╌' => '-',
            '│' | '┆' => '|',
            '┌' | '┐' | '└' | '┘' | '├' | '┤' | '┬' | '┴' | '┼' | '╞' | '╡' | '╪' => {
                '+'
            }
            c => c,
        })
        .collect()
}

/// One area's state in the doctor summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mark {
    Good,
    Warn,
    Bad,
    Unknown,
    /// Not there, and not needed (no ufw, host-only by design).
    Skip,
}

pub fn render(input: &ReportInput, verbosity: Verbosity, style: &Style) -> String {
    let out = render_unicode(input, verbosity, style);
    if style.ascii { asciify(&out) } else { out }
}

fn render_unicode(input: &ReportInput, verbosity: Verbosity, style: &Style) -> String {
    let mut out = String::new();
    let a = input.analysis;
    let width = text_width();
    if verbosity != Verbosity::Quiet {
        out.push_str(&header(input));
        out.push('\n');
        out.push_str(&doctor(input, verbosity, style, width));
        out.push('\n');
        for f in &a.findings {
            finding(&mut out, input, f, verbosity, style, width);
        }
        if !a.ports.is_empty() {
            out.push_str(&ports_table(input, style));
            out.push('\n');
        }
        for n in &input.model.notes {
            out.push_str(&wrap(&format!("note: {n}"), width, 0, 6));
        }
        if !a.plan.is_empty() {
            out.push_str(&plan(input, style, width));
            out.push('\n');
        }
        let hidden: usize = a.findings.iter().map(|f| f.evidence.len()).sum();
        if verbosity == Verbosity::Normal && hidden > 0 {
            let _ = writeln!(
                out,
                "{}",
                style.paint(
                    "2",
                    &format!(
                        "(add -v for the evidence behind these findings: {hidden} line{})",
                        if hidden == 1 { "" } else { "s" }
                    )
                )
            );
        }
    }
    let mark = match a.status {
        Status::Ok => style.paint("1;32", "✓"),
        Status::Warning => style.paint("1;33", "!"),
        Status::Critical => style.paint("1;31", "✗"),
        Status::Unknown => style.paint("1;35", "?"),
    };
    let _ = writeln!(out, "{mark} {}", summary_line(input));
    out
}

/// The doctor-style summary: one ✓/!/✗ line per area checked (the firewall stacks read,
/// Docker's API, forwarding, each published port, ufw/firewalld/snap), then, on a host whose
/// firewall is fine, where to look next. `-v` adds what was checked.
fn doctor(input: &ReportInput, verbosity: Verbosity, style: &Style, width: usize) -> String {
    use crate::collect::SourceState;
    let m = input.model;
    let a = input.analysis;
    let has = |check: &str| a.findings.iter().any(|f| f.check == check);
    let mut lines: Vec<(Mark, String)> = Vec::new();

    // The firewall stacks.
    let firewall_source =
        |k: &str| k.contains("tables") && k.ends_with("-save") || k == "nft-ruleset";
    let unread: Vec<String> = m
        .sources
        .iter()
        .filter(|(k, st)| {
            firewall_source(k) && !matches!(st.status, SourceState::Ok | SourceState::Missing)
        })
        .map(|(k, st)| format!("{k} {}", st.status.as_str()))
        .collect();
    let mut stacks: Vec<String> = Vec::new();
    for stack in [
        crate::model::Stack::Legacy,
        crate::model::Stack::IptablesNft,
        crate::model::Stack::Nft,
    ] {
        let tables: Vec<_> = m.tables_of(stack).collect();
        if !tables.is_empty() {
            let rules: usize = tables.iter().map(|t| t.rule_count()).sum();
            stacks.push(format!(
                "{stack} {} ({rules} rule{})",
                plural(tables.len(), "table"),
                if rules == 1 { "" } else { "s" }
            ));
        }
    }
    let read = if stacks.is_empty() {
        "no tables".to_string()
    } else {
        stacks.join(", ")
    };
    lines.push(if unread.is_empty() {
        let mark = if has("split-forward-drop") || has("mixed-backends") {
            Mark::Warn
        } else {
            Mark::Good
        };
        (mark, format!("firewall stacks read: {read}"))
    } else {
        (
            Mark::Unknown,
            format!(
                "firewall stacks: not read: {} (read: {read})",
                unread.join(", ")
            ),
        )
    });

    // Docker's API.
    let info = m.sources.get(crate::collect::evidence::files::source_name(
        crate::collect::evidence::files::DOCKER_INFO,
    ));
    lines.push(match (&m.docker, info) {
        (Some(d), _) => (
            Mark::Good,
            format!(
                "Docker API: Docker {}{}, {}, {}",
                d.version.as_deref().unwrap_or("?"),
                if m.docker_is_snap() { " (snap)" } else { "" },
                plural(d.containers.len(), "container"),
                plural(d.networks.len(), "network")
            ),
        ),
        (None, Some(st)) if st.status == SourceState::Missing => {
            (Mark::Skip, "Docker API: no Docker daemon found".to_string())
        }
        (None, Some(st)) => (
            Mark::Unknown,
            format!(
                "Docker API: {}{}",
                st.status.as_str(),
                if st.reason.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", st.reason)
                }
            ),
        ),
        (None, None) => (Mark::Unknown, "Docker API: not captured".to_string()),
    });

    // Forwarding.
    let forwarding = |key: &str| match m.sysctl(key) {
        Some("1") => Some(true),
        Some(_) => Some(false),
        None => None,
    };
    let v4 = forwarding("net.ipv4.ip_forward");
    let v6 = forwarding("net.ipv6.conf.all.forwarding");
    // IPv6 forwarding matters where a Docker network routes IPv6 (as ip-forward-disabled
    // judges); without Docker's API, wherever a port is published over IPv6.
    let v6_needed = match &m.docker {
        Some(d) => d
            .networks
            .iter()
            .any(|n| n.enable_ipv6 && n.driver == "bridge"),
        None => a
            .ports
            .iter()
            .any(|p| p.port.family == crate::model::Family::Ip6),
    };
    let word = |v: Option<bool>| match v {
        Some(true) => "on",
        Some(false) => "off",
        None => "not read",
    };
    let fwd_mark = match (v4, v6_needed.then_some(v6).flatten()) {
        (Some(false), _) | (_, Some(false)) => Mark::Bad,
        (None, _) => Mark::Unknown,
        _ => Mark::Good,
    };
    lines.push((
        fwd_mark,
        format!(
            "forwarding: IPv4 {}, IPv6 {}{}",
            word(v4),
            word(v6),
            if v6_needed || v6 != Some(false) {
                ""
            } else {
                " (no IPv6 network needs it)"
            }
        ),
    ));

    // Each published port.
    let on_purpose = |label: &str| {
        a.findings
            .iter()
            .any(|f| f.severity == Severity::Info && plan::names_port(&f.summary, label))
    };
    for p in &a.ports {
        let label = p.port.label();
        let to = p
            .port
            .container
            .as_deref()
            .map(|c| format!(" → {}", printable(c)))
            .unwrap_or_default();
        let to = if p.port.owner == crate::model::Runtime::Docker {
            to
        } else {
            format!(" ({}){to}", p.port.owner.as_str())
        };
        let name = format!(
            "port {}/{}{to}",
            printable(&sockaddr_text(&p.port.host_ip, p.port.host_port)),
            printable(&p.port.proto)
        );
        lines.push(match p.verdict {
            _ if p.port.is_host_only() => (Mark::Skip, format!("{name}: host-only by design")),
            PortState::Reachable => (Mark::Good, format!("{name}: reachable from outside")),
            PortState::Blocked if on_purpose(&label) => (
                Mark::Warn,
                format!("{name}: blocked on purpose by your rule"),
            ),
            PortState::Blocked => (Mark::Bad, format!("{name}: blocked from outside")),
            PortState::Unknown => (Mark::Unknown, format!("{name}: unknown")),
        });
    }
    if a.ports.is_empty() && m.docker.is_some() {
        lines.push((Mark::Skip, "published ports: none".to_string()));
    }

    // ufw, firewalld, the snap.
    let ufw = match &m.ufw {
        Some(u) if u.active => format!(
            "ufw active (incoming {})",
            u.default_incoming.as_deref().unwrap_or("?")
        ),
        Some(_) => "ufw inactive".to_string(),
        None => "no ufw".to_string(),
    };
    let firewalld = match m.firewalld_running {
        Some(true) => "firewalld running",
        Some(false) => "firewalld not running",
        None => "no firewalld",
    };
    let snap = if m.docker_is_snap() {
        "Docker from the snap"
    } else {
        "Docker not from the snap"
    };
    let host_mark = if has("ufw-docker-bypass") || has("snap-docker") {
        Mark::Warn
    } else {
        Mark::Good
    };
    lines.push((host_mark, format!("{ufw} · {firewalld} · {snap}")));

    let mut out = String::new();
    for (mark, text) in &lines {
        let first = format!("{} ", style.mark(*mark));
        out.push_str(&first);
        out.push_str(wrap(text, width, 2, 2).trim_start());
    }
    let all_reachable = !a.ports.is_empty()
        && a.ports
            .iter()
            .all(|p| p.verdict == PortState::Reachable || p.port.is_host_only());
    if a.status == Status::Ok && all_reachable {
        let example = a
            .ports
            .iter()
            .find(|p| !p.port.is_host_only())
            .and_then(|p| p.port.container.as_deref())
            .unwrap_or("CONTAINER");
        out.push_str(&wrap(
            &format!(
                "The firewall lets every published port through. If a client still cannot connect, look next at: the app's bind address inside the container (it must listen on 0.0.0.0, not 127.0.0.1: `docker exec {} ss -ltn`), a cloud security group or the provider's firewall, and the client's own network.",
                printable(example)
            ),
            width,
            0,
            0,
        ));
    }
    if verbosity == Verbosity::Verbose {
        let names: Vec<&str> = crate::analyze::checks::ALL.iter().map(|c| c.name).collect();
        out.push_str(&wrap(
            &format!("checked: {}", names.join(", ")),
            width,
            0,
            2,
        ));
        let sources: Vec<String> = m
            .sources
            .iter()
            .map(|(k, st)| format!("{k} {}", st.status.as_str()))
            .collect();
        out.push_str(&wrap(
            &format!("evidence read: {}", sources.join(", ")),
            width,
            0,
            2,
        ));
    }
    out
}

/// "1 table", "3 tables".
fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

/// The width prose is wrapped to: `COLUMNS`, else the terminal's, else 80 (a pipe, a file, a
/// mail); at most 100 and at least 40.
pub fn text_width() -> usize {
    let w = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .or_else(|| {
            terminal_size::terminal_size_of(std::io::stdout())
                .map(|(terminal_size::Width(w), _)| usize::from(w))
        })
        .unwrap_or(80);
    w.clamp(40, 100)
}

/// Greedy word wrap of `text` to `width` columns: the first line indented by `first`, the
/// others by `rest`; every line ends with a newline. A word longer than a line stays whole.
/// `text` is one paragraph, shown [`printable`]: a line break in it is data (a chain name, a
/// comment) and stays visible as `\x0a` rather than starting a line.
pub fn wrap(text: &str, width: usize, first: usize, rest: usize) -> String {
    let mut out = String::new();
    let mut line = " ".repeat(first);
    let mut len = first;
    let mut empty = true;
    for word in printable(text).split_whitespace() {
        let w = word.chars().count();
        if !empty && len + 1 + w > width {
            out.push_str(&line);
            out.push('\n');
            line = " ".repeat(rest);
            len = rest;
            empty = true;
        }
        if !empty {
            line.push(' ');
            len += 1;
        }
        line.push_str(word);
        len += w;
        empty = false;
    }
    out.push_str(&line);
    out.push('\n');
    out
}

fn header(input: &ReportInput) -> String {
    let m = input.model;
    let mut s = format!(
        "fwdoctor {} · {}\n",
        env!("CARGO_PKG_VERSION"),
        printable(&m.origin)
    );
    let docker = match &m.docker {
        Some(d) => format!(
            "Docker {}{}",
            d.version.as_deref().unwrap_or("?"),
            if m.docker_is_snap() { " (snap)" } else { "" }
        ),
        None => match m.sources.get("docker-info") {
            Some(st) if st.status == crate::collect::SourceState::Missing => {
                "no Docker daemon found".to_string()
            }
            Some(st) => format!("Docker API {}", st.status.as_str()),
            None => "Docker API not captured".to_string(),
        },
    };
    let rules = m
        .docker_rules
        .iter()
        .map(|d| format!("{} {}, {}", d.stack, d.family, d.layout.describe()))
        .collect::<Vec<_>>()
        .join("; ");
    let line = format!(
        "{docker} · Docker's rules: {} · system iptables: {}",
        if rules.is_empty() {
            "none found".into()
        } else {
            rules
        },
        m.system_iptables
            .map_or("unknown".to_string(), |s| s.to_string())
    );
    s.push_str(&wrap(&line, text_width(), 0, 2));
    s
}

fn finding(
    out: &mut String,
    input: &ReportInput,
    f: &Finding,
    verbosity: Verbosity,
    style: &Style,
    width: usize,
) {
    let _ = writeln!(out, "{} {}", style.sev(f.severity), style.bold(f.check));
    out.push_str(&wrap(&f.summary, width, 2, 2));
    if !f.why.is_empty() {
        out.push_str(&wrap(&format!("why: {}", f.why), width, 2, 7));
    }
    if verbosity == Verbosity::Verbose && !f.evidence.is_empty() {
        let _ = writeln!(out, "  evidence:");
        for e in &f.evidence {
            let src = e
                .source
                .as_deref()
                .map(|s| format!("  ({})", printable(s)))
                .unwrap_or_default();
            // One line, even for a tool's stderr: a newline in evidence text may come from a
            // rule comment, and would forge a line of the report.
            let text = printable(e.text.trim_end());
            let _ = writeln!(out, "    {}: {text}{src}", printable(&e.location));
        }
    }
    let steps = steps_of(input, f);
    if !steps.is_empty() {
        let _ = writeln!(out, "  fix: {} of the plan below", step_list(&steps));
    }
    if !f.fix.note.is_empty() && verbosity == Verbosity::Verbose {
        out.push_str(&wrap(&format!("note: {}", f.fix.note), width, 2, 8));
    }
    out.push('\n');
}

/// The plan's step numbers (from 1) that resolve finding `f`: the steps naming its check and,
/// when both name ports, one of its ports.
fn steps_of(input: &ReportInput, f: &Finding) -> Vec<usize> {
    let own: Vec<String> = input
        .analysis
        .ports
        .iter()
        .map(|p| p.port.label())
        .filter(|l| plan::names_port(&f.summary, l))
        .collect();
    input
        .analysis
        .plan
        .iter()
        .enumerate()
        .filter(|(_, s)| s.resolves.contains(&f.check))
        .filter(|(_, s)| {
            own.is_empty() || s.ports.is_empty() || s.ports.iter().any(|p| own.contains(p))
        })
        .map(|(i, _)| i + 1)
        .collect()
}

/// "step 2", "steps 1, 3-5".
fn step_list(steps: &[usize]) -> String {
    let mut runs: Vec<(usize, usize)> = Vec::new();
    for &n in steps {
        match runs.last_mut() {
            Some((_, end)) if *end + 1 == n => *end = n,
            _ => runs.push((n, n)),
        }
    }
    let text = runs
        .iter()
        .map(|&(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}-{b}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    format!("step{} {text}", if steps.len() == 1 { "" } else { "s" })
}

/// The host's fix plan as a block that is itself a valid shell script: every line that is not
/// a command is a `#` comment, commands are never wrapped.
fn plan(input: &ReportInput, style: &Style, width: usize) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}",
        style.bold("To fix this host, in order (lines starting with # are notes):")
    );
    for (i, step) in input.analysis.plan.iter().enumerate() {
        let when = match step.kind {
            StepKind::Immediate => "now",
            StepKind::Lasting => "for good",
            StepKind::Manual => "by hand",
        };
        let mut fixes = step.resolves.join(", ");
        if !step.ports.is_empty() {
            let _ = write!(fixes, " ({})", step.ports.join(", "));
        }
        let head = comment(&format!("{}. {when} · fixes {fixes}", i + 1), width, 4);
        out.push_str(&style.paint("2", head.trim_end()));
        out.push('\n');
        match &step.command {
            Some(c) => {
                let _ = writeln!(out, "    {}", printable(c));
            }
            None => out.push_str(&comment(&step.text, width, 4)),
        }
    }
    out
}

/// Prose as `#` comment lines, wrapped to `width`: pasted along with commands, it runs nothing
/// (backticks in it included).
fn comment(text: &str, width: usize, indent: usize) -> String {
    let pad = " ".repeat(indent);
    wrap(text, width.saturating_sub(indent + 2), 0, 0)
        .lines()
        .map(|l| format!("{pad}# {l}\n"))
        .collect()
}

/// From this width on the ports table has a column per path; below it one line per blocked
/// path follows the table.
const PATH_COLUMNS_FROM: u16 = 100;

/// The other paths' short names (the outside path is the table's verdict column).
const OTHER_PATHS: [(&str, &str); 3] = [
    ("container_direct", "direct"),
    ("host_loopback", "lo"),
    ("host_address", "own addr"),
];

fn state_mark(s: PortState) -> &'static str {
    match s {
        PortState::Reachable => "✓",
        PortState::Blocked => "✗",
        PortState::Unknown => "?",
    }
}

/// Why a path is blocked: its blockers, else its reason.
fn path_why(v: &PathVerdict) -> String {
    if v.blocked_by.is_empty() {
        printable(&v.reason).into_owned()
    } else {
        printable(
            &v.blocked_by
                .iter()
                .map(|b| b.describe())
                .collect::<Vec<_>>()
                .join("; and "),
        )
        .into_owned()
    }
}

fn ports_table(input: &ReportInput, style: &Style) -> String {
    let width = terminal_width();
    let wide = width.is_none_or(|w| w >= PATH_COLUMNS_FROM);
    let mut t = Table::new();
    t.load_style(if style.ascii {
        ASCII_FULL_CONDENSED
    } else {
        UTF8_FULL_CONDENSED
    });
    let mut header = vec![
        "port",
        "container",
        if wide { "outside" } else { "from outside" },
    ];
    if wide {
        header.extend(OTHER_PATHS.iter().map(|(_, short)| *short));
    }
    header.push("blocked by / why");
    t.set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header);
    if let Some(w) = width {
        t.set_width(w);
    }
    let mut below = String::new();
    let mut traces = Vec::new();
    for p in &input.analysis.ports {
        // No colour inside cells: escape codes would upset the column widths.
        let verdict = match p.verdict {
            _ if p.port.is_host_only() => "- host-only",
            PortState::Reachable => "✓ reachable",
            PortState::Blocked => "✗ blocked",
            PortState::Unknown => "? unknown",
        };
        let container = match (
            &p.port.container,
            p.port.container_ip,
            p.port.container_port,
        ) {
            // The name says which container; its address is in `trace` and the JSON report.
            (Some(n), Some(ip), Some(cp)) if !wide || ip.is_ipv4() => {
                format!("{} {}", printable(n), sockaddr(ip, cp))
            }
            (Some(n), Some(_), Some(cp)) => format!("{}:{cp}", printable(n)),
            (None, Some(ip), Some(cp)) => sockaddr(ip, cp),
            (Some(n), _, Some(cp)) => format!("{} :{cp}", printable(n)),
            _ => "-".into(),
        };
        // Another runtime's port (Podman's): say whose.
        let container = if p.port.owner == crate::model::Runtime::Docker {
            container
        } else {
            format!("{} {container}", p.port.owner.as_str())
        };
        let label = format!(
            "{}/{}",
            printable(&sockaddr_text(&p.port.host_ip, p.port.host_port)),
            printable(&p.port.proto)
        );
        // A reachable port's "why" is only the other paths' blockers: its own story is in
        // the JSON report and `trace`.
        let outside_why = path_why(&p.paths.outside);
        let mut why = Vec::new();
        if p.verdict != PortState::Reachable {
            why.push(outside_why.clone());
        }
        let mut row = vec![label.clone(), container, verdict.to_string()];
        for (name, short) in OTHER_PATHS {
            let Some((_, v)) = p.paths.all().into_iter().find(|(n, _)| *n == name) else {
                continue;
            };
            if name == "container_direct" && p.port.no_direct_address() {
                if wide {
                    row.push("-".into());
                }
                continue;
            }
            if wide {
                row.push(state_mark(v.verdict).to_string());
                if v.verdict == PortState::Blocked {
                    let w = path_why(v);
                    if w == outside_why && p.verdict == PortState::Blocked {
                        why.push(format!("{short}: the same"));
                    } else {
                        why.push(format!("{short}: {w}"));
                    }
                }
            } else if v.verdict == PortState::Blocked {
                let line = format!("{label} {short}: ✗ blocked: {}", path_why(v));
                below.push_str(&wrap(&line, usize::from(width.unwrap_or(80)), 2, 4));
            }
        }
        for (name, v) in p.paths.all() {
            if v.verdict == PortState::Blocked
                && !(name == "outside" && p.port.is_host_only())
                && let Some(cmd) = p.port.trace_command(name)
            {
                traces.push(format!("  {cmd}   # {label} {name}"));
            }
        }
        why.retain(|w| !w.is_empty());
        row.push(why.join("; "));
        t.add_row(row);
    }
    // Every column but the last keeps its content's width: the words wrap, not the ports.
    let last = t.column_count().saturating_sub(1);
    for c in t.column_iter_mut().take(last) {
        c.set_constraint(ColumnConstraint::ContentWidth);
    }
    let mut out = format!("{t}\n");
    out.push_str(&below);
    let direct_by_docker = input.analysis.ports.iter().any(|p| {
        p.paths.container_direct.verdict == PortState::Blocked
            && p.paths.container_direct.reason == crate::analyze::ports::DOCKER_DIRECT_ACCESS_DROP
    });
    if direct_by_docker {
        let text = format!(
            "direct ✗ is {}; {}",
            crate::analyze::ports::DOCKER_DIRECT_ACCESS_DROP,
            crate::analyze::fix::direct_routing(input.model)
        );
        out.push_str(&wrap(&text, usize::from(width.unwrap_or(80)), 0, 2));
    }
    if !traces.is_empty() {
        let _ = writeln!(out, "trace a blocked path:");
        for l in traces {
            let _ = writeln!(out, "{}", printable(&l));
        }
    }
    out
}

/// `0.0.0.0:8080`, `[::]:8080`
fn sockaddr_text(host_ip: &str, port: u16) -> String {
    match host_ip.parse::<std::net::IpAddr>() {
        Ok(ip) => sockaddr(ip, port),
        Err(_) => format!("{host_ip}:{port}"),
    }
}

/// The width the ports table fits: `COLUMNS`, else the terminal's, else 80 (a pipe, a file,
/// a mail), at least 40. Unlike prose it may use a terminal wider than 100 columns.
fn terminal_width() -> Option<u16> {
    let w = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<u16>().ok())
        .or_else(|| {
            terminal_size::terminal_size_of(std::io::stdout()).map(|(terminal_size::Width(w), _)| w)
        })
        .unwrap_or(80);
    Some(w.max(40))
}
