//! The human report, read like a doctor's: for each finding what is wrong, why it matters and
//! what to run; then a ports table and one summary line. `-v` adds the evidence (the exact rules
//! with stack, table, chain and file:line); `-q` prints the summary line only. Colour only on a
//! terminal (NO_COLOR honoured by the caller). Prose wraps at the terminal's width (at most
//! 100 columns); commands never wrap, so they stay copy-pasteable. Every piece of evidence text
//! goes through [`printable`]; the colour codes are added around fwdoctor's own words only.

use crate::analyze::ports::{PathVerdict, PortState, sockaddr};
use crate::analyze::{Finding, Severity, Status};
use crate::report::{ReportInput, Verbosity, printable, summary_line};
use comfy_table::{ColumnConstraint, ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};
use std::fmt::Write;

pub struct Style {
    pub color: bool,
}

impl Style {
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
}

pub fn render(input: &ReportInput, verbosity: Verbosity, style: &Style) -> String {
    let mut out = String::new();
    let a = input.analysis;
    let width = text_width();
    if verbosity != Verbosity::Quiet {
        out.push_str(&header(input));
        out.push('\n');
        for f in &a.findings {
            finding(&mut out, f, verbosity, style, width);
        }
        if !a.ports.is_empty() {
            out.push_str(&ports_table(input));
            out.push('\n');
        }
        for n in &input.model.notes {
            out.push_str(&wrap(&format!("note: {n}"), width, 0, 6));
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

/// The width prose is wrapped to: `COLUMNS`, else the terminal's, else 100; at most 100 and
/// at least 40.
pub fn text_width() -> usize {
    let w = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .or_else(|| {
            terminal_size::terminal_size_of(std::io::stdout())
                .map(|(terminal_size::Width(w), _)| usize::from(w))
        })
        .unwrap_or(100);
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

fn finding(out: &mut String, f: &Finding, verbosity: Verbosity, style: &Style, width: usize) {
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
    fix_lines(out, "fix now:", &f.fix.immediate, width);
    fix_lines(out, "fix for good:", &f.fix.lasting, width);
    if !f.fix.note.is_empty() && verbosity == Verbosity::Verbose {
        out.push_str(&wrap(&format!("note: {}", f.fix.note), width, 2, 8));
    }
    out.push('\n');
}

/// Commands as they are (copy-pasteable, never wrapped); a line of prose (it starts with a
/// capital letter) wraps.
fn fix_lines(out: &mut String, heading: &str, lines: &[String], width: usize) {
    if lines.is_empty() {
        return;
    }
    let _ = writeln!(out, "  {heading}");
    for l in lines {
        if l.starts_with(|c: char| c.is_ascii_uppercase()) {
            out.push_str(&wrap(l, width, 4, 4));
        } else {
            let _ = writeln!(out, "    {}", printable(l));
        }
    }
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

fn ports_table(input: &ReportInput) -> String {
    let width = terminal_width();
    let wide = width.is_none_or(|w| w >= PATH_COLUMNS_FROM);
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED);
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
                let _ = writeln!(below, "  {label} {short}: ✗ blocked: {}", path_why(v));
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

fn terminal_width() -> Option<u16> {
    std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok())
}
