//! The human report: findings grouped by severity with ✗/!/✓ marks, what to run under each, a
//! ports table, one summary line. Colour only on a terminal (NO_COLOR honoured by the caller).

use crate::analyze::ports::PortState;
use crate::analyze::{Finding, Severity, Status};
use crate::report::{ReportInput, Verbosity, summary_line};
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
    if verbosity != Verbosity::Quiet {
        out.push_str(&header(input));
        out.push('\n');
        for f in &a.findings {
            finding(&mut out, f, verbosity, style);
        }
        if !a.ports.is_empty() {
            out.push_str(&ports_table(input));
            out.push('\n');
        }
        for n in &input.model.notes {
            let _ = writeln!(out, "note: {n}");
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

fn header(input: &ReportInput) -> String {
    let m = input.model;
    let mut s = format!("fwdoctor {} · {}\n", env!("CARGO_PKG_VERSION"), m.origin);
    let docker = match &m.docker {
        Some(d) => format!(
            "Docker {}{}",
            d.version.as_deref().unwrap_or("?"),
            if m.docker_is_snap() { " (snap)" } else { "" }
        ),
        None => "Docker API not read".to_string(),
    };
    let rules = m
        .docker_rules
        .iter()
        .map(|d| format!("{} {} ({})", d.stack, d.family, d.layout.describe()))
        .collect::<Vec<_>>()
        .join("; ");
    let _ = writeln!(
        s,
        "{docker} · Docker's rules: {} · system iptables: {}",
        if rules.is_empty() {
            "none found".into()
        } else {
            rules
        },
        m.system_iptables
            .map_or("unknown".to_string(), |s| s.to_string())
    );
    s
}

fn finding(out: &mut String, f: &Finding, verbosity: Verbosity, style: &Style) {
    let _ = writeln!(out, "{} {}", style.sev(f.severity), style.bold(f.check));
    let _ = writeln!(out, "  {}", f.summary);
    if !f.why.is_empty() {
        let _ = writeln!(out, "  why: {}", f.why);
    }
    let show_evidence = verbosity == Verbosity::Verbose || f.severity >= Severity::Critical;
    if show_evidence && !f.evidence.is_empty() {
        let _ = writeln!(out, "  evidence:");
        for e in &f.evidence {
            let src = e
                .source
                .as_deref()
                .map(|s| format!("  ({s})"))
                .unwrap_or_default();
            let _ = writeln!(out, "    {}: {}{}", e.location, e.text, src);
        }
    }
    if !f.fix.immediate.is_empty() {
        let _ = writeln!(out, "  fix now:");
        for c in &f.fix.immediate {
            let _ = writeln!(out, "    {c}");
        }
    }
    if !f.fix.lasting.is_empty() {
        let _ = writeln!(out, "  fix for good:");
        for c in &f.fix.lasting {
            let _ = writeln!(out, "    {c}");
        }
    }
    if !f.fix.note.is_empty() && verbosity == Verbosity::Verbose {
        let _ = writeln!(out, "  note: {}", f.fix.note);
    }
    out.push('\n');
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
        let container = match (&p.container, p.container_ip, p.container_port) {
            (Some(n), Some(ip), Some(cp)) => format!("{n} {ip}:{cp}"),
            (None, Some(ip), Some(cp)) => format!("{ip}:{cp}"),
            (Some(n), _, Some(cp)) => format!("{n} :{cp}"),
            _ => "-".into(),
        };
        let why = match &p.blocked_by {
            Some(b) => format!(
                "{} {} {} {}: {}",
                b.stack, b.family, b.table, b.chain, b.rule
            ),
            None => p.reason.clone(),
        };
        t.add_row(vec![
            format!("{}:{}/{}", p.host_ip, p.host_port, p.proto),
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
