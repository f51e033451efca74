//! Report: the human report (comfy-table), JSON (`fwdoctor-report/1`), Nagios plugin output,
//! Prometheus exposition; exit codes are the status's (0 ok, 1 warning, 2 critical, 3 unknown).
//!
//! Text from the evidence (rule comments, chain and container names, Docker's error bodies) is
//! written through [`printable`] by every text format (human, trace, Nagios, cron mail): a
//! control character or a bidi override in it is shown as an escape, never sent to the terminal.

pub mod human;
pub mod json;
pub mod nagios;
pub mod prometheus;

use crate::analyze::Analysis;
use crate::model::Model;
use std::borrow::Cow;
use std::fmt::Write;

/// `text` as it may be shown on a terminal or in a mail: every character that could steer the
/// terminal or start a new line is replaced by a visible escape, the rest is unchanged.
///
/// Escaped: C0 controls including tab and newline (a newline inside one field forges a line of
/// output, e.g. a second Nagios status line), DEL and C1 controls as `\xNN`; the Unicode line
/// and paragraph separators and the bidi controls (which reorder what the reader sees) as
/// `\u{NNNN}`. Sanitize each piece of data, not the rendered report: fwdoctor's own colour codes
/// and newlines are not data.
pub fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if !needs_escape(c) {
            out.push(c);
        } else if u32::from(c) < 0x100 {
            let _ = write!(out, "\\x{:02x}", u32::from(c));
        } else {
            let _ = write!(out, "\\u{{{:04x}}}", u32::from(c));
        }
    }
    Cow::Owned(out)
}

/// True for the characters [`printable`] escapes.
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}'
                | '\u{200e}'
                | '\u{200f}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
        )
}

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
    // A port published on both families is one port; it counts as blocked when either is.
    let distinct = |pred: &dyn Fn(&crate::analyze::ports::PortVerdict) -> bool| {
        let mut seen: Vec<(u16, &str)> = (a.ports.iter())
            .filter(|p| pred(p))
            .map(|p| (p.port.host_port, p.port.proto.as_str()))
            .collect();
        seen.sort_unstable();
        seen.dedup();
        seen.len()
    };
    let host_only = |p: &crate::analyze::ports::PortVerdict| p.port.is_host_only();
    let blocked =
        distinct(&|p| p.verdict == crate::analyze::ports::PortState::Blocked && !host_only(p));
    let local = distinct(&host_only);
    let ports = match distinct(&|_| true) {
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
    let plan = crate::analyze::plan::plan(&Model::default(), &findings, &[]);
    Analysis {
        findings,
        ports: Vec::new(),
        status: Status::Unknown,
        plan,
    }
}

#[cfg(test)]
mod tests {
    use super::printable;

    #[test]
    fn printable_escapes_controls_and_bidi_and_keeps_the_rest() {
        assert_eq!(printable("web-1 ✓ 10.0.0.2"), "web-1 ✓ 10.0.0.2");
        assert!(matches!(printable("plain"), std::borrow::Cow::Borrowed(_)));
        assert_eq!(
            printable("a\x1b]0;pwned\x07b\x1b[2J\nc\td\x7f"),
            "a\\x1b]0;pwned\\x07b\\x1b[2J\\x0ac\\x09d\\x7f"
        );
        assert_eq!(printable("\u{9b}31m"), "\\x9b31m");
        assert_eq!(printable("abc\u{202e}fed"), "abc\\u{202e}fed");
        assert_eq!(printable("x\u{2028}y"), "x\\u{2028}y");
    }
}
