//! The human report, read like a doctor's: for each finding what is wrong, why it matters and
//! what to run; then a ports table and one summary line. `-v` adds the evidence (the exact rules
//! with stack, table, chain and file:line); `-q` prints the summary line only. Colour only on a
//! terminal (NO_COLOR honoured by the caller). Prose wraps at the terminal's width (at most
//! 100 columns); commands never wrap, so they stay copy-pasteable. Every piece of evidence text
//! goes through [`printable`]; the colour codes are added around fwdoctor's own words only.

use crate::analyze::ports::PortState;
use crate::analyze::{Finding, Severity, Status};
use crate::report::{ReportInput, Verbosity, printable, summary_line};
use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};
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

fn ports_table(input: &ReportInput) -> String {
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED);
    t.set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(vec![
            "port",
            "container",
            "from outside",
            "blocked by / why",
        ]);
    if let Some(w) = terminal_width() {
        t.set_width(w);
    }
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
            (Some(n), Some(ip), Some(cp)) => format!("{} {ip}:{cp}", printable(n)),
            (None, Some(ip), Some(cp)) => format!("{ip}:{cp}"),
            (Some(n), _, Some(cp)) => format!("{} :{cp}", printable(n)),
            _ => "-".into(),
        };
        let blockers = &p.paths.outside.blocked_by;
        let why = if blockers.is_empty() {
            printable(&p.reason).into_owned()
        } else {
            printable(
                &blockers
                    .iter()
                    .map(|b| b.describe())
                    .collect::<Vec<_>>()
                    .join("; and "),
            )
            .into_owned()
        };
        t.add_row(vec![
            format!(
                "{}:{}/{}",
                printable(&p.port.host_ip),
                p.port.host_port,
                printable(&p.port.proto)
            ),
            container,
            verdict.to_string(),
            why,
        ]);
    }
    format!("{t}\n")
}

fn terminal_width() -> Option<u16> {
    std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok())
}
