//! Report: the human report (comfy-table), JSON (`fwdoctor-report/1`), Nagios plugin output,
//! Prometheus exposition; exit codes are the status's (0 ok, 1 warning, 2 critical, 3 unknown).

pub mod human;
pub mod json;
pub mod nagios;
pub mod prometheus;

use crate::analyze::Analysis;
use crate::model::Model;

/// How much the human report shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verbosity {
    /// Only the summary line.
    Quiet,
    Normal,
    /// Plus the evidence lines (rules with stack/table/chain and file:line).
    Verbose,
}

/// What a report is rendered from.
pub struct ReportInput<'a> {
    pub model: &'a Model,
    pub analysis: &'a Analysis,
}

/// One line that says it all: `critical: 2 critical, 1 warning · 1 of 2 published ports blocked`.
pub fn summary_line(input: &ReportInput) -> String {
    use crate::analyze::Severity;
    let a = input.analysis;
    let count = |s: Severity| a.findings.iter().filter(|f| f.severity == s).count();
    let mut parts = Vec::new();
    for (s, name) in [
        (Severity::Critical, "critical"),
        (Severity::Unknown, "unknown"),
        (Severity::Warning, "warning"),
        (Severity::Info, "info"),
    ] {
        let n = count(s);
        if n > 0 {
            parts.push(format!("{n} {name}"));
        }
    }
    let findings = if parts.is_empty() {
        "no findings".to_string()
    } else {
        parts.join(", ")
    };
    let host_only = |p: &&crate::analyze::ports::PortVerdict| p.port.is_host_only();
    let blocked = a
        .ports
        .iter()
        .filter(|p| p.verdict == crate::analyze::ports::PortState::Blocked && !host_only(p))
        .count();
    let local = a.ports.iter().filter(host_only).count();
    let ports = match a.ports.len() {
        // Nothing read is not nothing published: an unknown run claims no ports either way.
        0 if a.status == crate::analyze::Status::Unknown => "published ports unknown".to_string(),
        // Say why there is nothing to check, so "ok" is not read as "Docker's ports work".
        0 if input.model.docker.is_none() && input.model.docker_rules.is_empty() => {
            let docker =
                match input
                    .model
                    .sources
                    .get(crate::collect::evidence::files::source_name(
                        crate::collect::evidence::files::DOCKER_INFO,
                    )) {
                    Some(s) if !s.reason.is_empty() => {
                        format!("no Docker daemon found ({})", s.reason)
                    }
                    Some(_) => "no Docker daemon found".to_string(),
                    None => "Docker's API not captured".to_string(),
                };
            format!("{docker} and no Docker rules in any stack: no published ports to check")
        }
        0 => "no published ports".to_string(),
        n if local > 0 => {
            format!("{blocked} of {n} published ports blocked ({local} host-only by design)")
        }
        n => format!("{blocked} of {n} published ports blocked"),
    };
    format!("{}: {findings} · {ports}", a.status.as_str())
}

/// The analysis of a run that could not check at all (the evidence could not be read or
/// parsed): one `evidence-missing` finding saying why, status unknown. Monitoring formats and
/// alert mode report this instead of failing, so a broken run is seen, not silent.
pub fn failed_analysis(error: &str) -> Analysis {
    use crate::analyze::{EvidenceLine, Finding, Fix, Severity, Status};
    let findings = vec![Finding {
        check: "evidence-missing",
        severity: Severity::Unknown,
        summary: format!("could not check: {error}"),
        why: "Without the evidence fwdoctor cannot say whether published ports work.".into(),
        evidence: vec![EvidenceLine::fact(
            "fwdoctor",
            "the evidence could not be read or parsed",
        )],
        fix: Fix {
            immediate: vec!["sudo fwdoctor check --verbose".into()],
            lasting: Vec::new(),
            note: String::new(),
        },
    }];
    Analysis {
        findings,
        ports: Vec::new(),
        status: Status::Unknown,
    }
}
