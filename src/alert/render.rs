//! The change report: what appeared, what was resolved, what is still open, as short text (for
//! cron mail, `--notify` and the journal) or JSON (`--format json`, schema `fwdoctor-alert/1`).
//! In the text report every piece of evidence text is [`printable`]: a mail client or the
//! terminal `cron` output lands on never sees a control character from a rule or a container.

use crate::alert::diff::Changes;
use crate::alert::state::OpenFinding;
use crate::analyze::{Analysis, Status};
use crate::report::printable;
use serde_json::{Value, json};
use std::fmt::Write;

/// The JSON change report's schema tag.
pub const SCHEMA: &str = "fwdoctor-alert/1";

/// Everything a change report says.
pub struct Report<'a> {
    /// This run's analysis (for the fix lines of new findings and the ports).
    pub analysis: &'a Analysis,
    /// The comparison with the last run.
    pub changes: &'a Changes,
    /// The last run's status, `None` on a first run.
    pub previous: Option<Status>,
    /// Where the report comes from (host name or capture).
    pub host: String,
    /// First-run and state notes.
    pub notes: &'a [String],
    /// The command that shows this run's details (see `alert::Options::details`).
    pub details: &'a str,
}

/// The text report.
pub fn text(r: &Report) -> String {
    let mut out = String::new();
    let c = r.changes;
    let was = match r.previous {
        Some(p) if p != r.analysis.status => format!(" (was {})", p.as_str()),
        Some(_) => String::new(),
        None => " (first run)".to_string(),
    };
    let _ = writeln!(
        out,
        "fwdoctor on {}: {}{was}: {} new, {} resolved, {} still open",
        printable(&r.host),
        r.analysis.status.as_str().to_uppercase(),
        c.new.len(),
        c.resolved.len(),
        c.still_open.len()
    );
    for f in &c.new {
        line(&mut out, "NEW", f);
        if let Some(full) = r
            .analysis
            .findings
            .iter()
            .find(|x| crate::alert::key::key(x) == f.key)
        {
            for cmd in &full.fix.immediate {
                let _ = writeln!(out, "    fix now: {}", printable(cmd));
            }
        }
    }
    for f in &c.resolved {
        line(&mut out, "RESOLVED", f);
    }
    for f in &c.still_open {
        line(&mut out, "OPEN", f);
    }
    let ports = &r.analysis.ports;
    if !ports.is_empty() {
        let blocked = ports
            .iter()
            .filter(|p| p.verdict == crate::analyze::ports::PortState::Blocked)
            .count();
        let _ = writeln!(
            out,
            "ports: {blocked} of {} published ports blocked",
            ports.len()
        );
    }
    for n in r.notes {
        let _ = writeln!(out, "note: {}", printable(n));
    }
    let _ = writeln!(
        out,
        "Details: {}   (exit {})",
        printable(r.details),
        r.analysis.status.exit_code()
    );
    out
}

fn line(out: &mut String, what: &str, f: &OpenFinding) {
    let _ = writeln!(
        out,
        "{what:<8} {:<8} {}: {}",
        printable(&f.severity),
        printable(&f.check),
        printable(&f.summary)
    );
}

/// The JSON report.
pub fn json(r: &Report) -> Value {
    let list = |v: &[OpenFinding]| -> Vec<Value> {
        v.iter()
            .map(|f| json!({"key": f.key, "check": f.check, "severity": f.severity, "summary": f.summary}))
            .collect()
    };
    json!({
        "schema": SCHEMA,
        "host": r.host,
        "status": r.analysis.status,
        "previous_status": r.previous,
        "first_run": r.previous.is_none(),
        "new": list(&r.changes.new),
        "resolved": list(&r.changes.resolved),
        "still_open": list(&r.changes.still_open),
        "notes": r.notes,
    })
}
