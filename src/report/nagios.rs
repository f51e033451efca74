//! `--format nagios`: the Nagios/Icinga plugin output. One status line
//! `FWDOCTOR CRITICAL - <counts> | perfdata`, then one long-output line per finding; stdout only,
//! no colour; the exit code is the status's. Every piece of evidence text is one line without
//! `|` ([`crate::report::printable`]), so the data can never forge a status line or perfdata.

use crate::analyze::ports::PortState;
use crate::analyze::{Severity, Status};
use crate::report::{ReportInput, printable};
use std::fmt::Write;

/// Render the plugin output (ends with a newline).
pub fn render(input: &ReportInput) -> String {
    let a = input.analysis;
    let count = |s: Severity| a.findings.iter().filter(|f| f.severity == s).count();
    // Entries (a port per family it is published on); a host-only port is not blocked.
    let ports = |v: PortState| {
        a.ports
            .iter()
            .filter(|p| p.verdict == v && !p.port.is_host_only())
            .count()
    };
    let mut counts = Vec::new();
    for s in [
        Severity::Critical,
        Severity::Unknown,
        Severity::Warning,
        Severity::Info,
    ] {
        let n = count(s);
        if n > 0 {
            counts.push(format!("{n} {s}"));
        }
    }
    let mut text = match a.findings.first() {
        // One problem: say what it is (notifications often carry only this line).
        Some(f) if a.findings.len() == 1 && f.severity > Severity::Info => {
            format!("{}: {}", f.check, f.summary)
        }
        _ if counts.is_empty() => "no findings".to_string(),
        _ => counts.join(", "),
    };
    if !a.ports.is_empty() {
        let _ = write!(
            text,
            "; {} of {} published port entries blocked",
            ports(PortState::Blocked),
            a.ports.len()
        );
    }
    let perf = [
        ("critical", count(Severity::Critical)),
        ("unknown", count(Severity::Unknown)),
        ("warning", count(Severity::Warning)),
        ("info", count(Severity::Info)),
        ("ports_blocked", ports(PortState::Blocked)),
        ("ports_unknown", ports(PortState::Unknown)),
        ("ports_total", a.ports.len()),
    ]
    .iter()
    .map(|(label, n)| format!("{label}={n};;;0"))
    .collect::<Vec<_>>()
    .join(" ");
    let mut out = format!("FWDOCTOR {} - {} | {perf}\n", word(a.status), clean(&text));
    for f in &a.findings {
        let _ = writeln!(
            out,
            "[{}] {}: {}",
            f.severity.as_str().to_uppercase(),
            f.check,
            clean(&f.summary)
        );
    }
    for p in a.ports.iter().filter(|p| p.verdict != PortState::Reachable) {
        let _ = writeln!(
            out,
            "port {}:{}/{} {}: {}",
            clean(&p.port.host_ip),
            p.port.host_port,
            clean(&p.port.proto),
            match p.verdict {
                PortState::Blocked => "blocked",
                _ => "unknown",
            },
            clean(&p.reason)
        );
    }
    out
}

/// `OK`, `WARNING`, `CRITICAL`, `UNKNOWN`.
pub fn word(s: Status) -> &'static str {
    match s {
        Status::Ok => "OK",
        Status::Warning => "WARNING",
        Status::Critical => "CRITICAL",
        Status::Unknown => "UNKNOWN",
    }
}

/// One line, and no `|` (it starts perfdata in any line of plugin output).
fn clean(s: &str) -> String {
    printable(s).replace('|', "/")
}
