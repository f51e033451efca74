//! `--format prometheus` and `--textfile DIR`: the text exposition format for node_exporter's
//! textfile collector. Fixed HELP strings, base units, no timestamps; the file is replaced
//! atomically (`DIR/fwdoctor.prom`).
//!
//! Metrics: `fwdoctor_up` (1 when the run read all the evidence it needs and decided every
//! verdict: no `evidence-missing` finding), `fwdoctor_status`, `fwdoctor_findings{check,severity}`
//! (every registered check, 0 when it found nothing), `fwdoctor_port_reachable` and
//! `fwdoctor_port_verdict{verdict}` per published port, `fwdoctor_last_run_timestamp_seconds`,
//! `fwdoctor_build_info{version}`.

use crate::analyze::checks;
use crate::analyze::ports::{PortState, PortVerdict};
use crate::report::ReportInput;
use crate::safe_fs::TrustedDir;
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// The file written in the textfile directory.
pub const TEXTFILE: &str = "fwdoctor.prom";

/// Render the exposition; `now` is the run's Unix time in seconds.
pub fn render(input: &ReportInput, now: f64) -> String {
    let a = input.analysis;
    let mut out = String::new();
    let mut family = |name: &str, help: &str, samples: &[(String, String)]| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} gauge");
        let mut seen = std::collections::HashSet::new();
        for (labels, value) in samples {
            // Two ports with the same labels would be a duplicate series: keep the first.
            if seen.insert(labels) {
                let _ = writeln!(out, "{name}{labels} {value}");
            }
        }
    };
    let up = !a.findings.iter().any(|f| f.check == "evidence-missing");
    family(
        "fwdoctor_up",
        "1 if fwdoctor read every source it needs and decided every port verdict, 0 if not (see fwdoctor_findings{check=\"evidence-missing\"}).",
        &[(String::new(), u8::from(up).to_string())],
    );
    family(
        "fwdoctor_status",
        "Overall status of the last run: 0 ok, 1 warning, 2 critical, 3 unknown (the exit code).",
        &[(String::new(), a.status.exit_code().to_string())],
    );

    let mut pairs: Vec<(&str, &str)> = checks::ALL
        .iter()
        .map(|c| (c.name, c.severity.as_str()))
        .collect();
    for f in &a.findings {
        if !pairs.contains(&(f.check, f.severity.as_str())) {
            pairs.push((f.check, f.severity.as_str()));
        }
    }
    let findings: Vec<(String, String)> = pairs
        .iter()
        .map(|(check, sev)| {
            let n = a
                .findings
                .iter()
                .filter(|f| f.check == *check && f.severity.as_str() == *sev)
                .count();
            (
                labels(&[("check", check), ("severity", sev)]),
                n.to_string(),
            )
        })
        .collect();
    family(
        "fwdoctor_findings",
        "Open findings of the last run, by check and severity.",
        &findings,
    );

    let reachable: Vec<(String, String)> = a
        .ports
        .iter()
        .filter(|p| p.verdict != PortState::Unknown)
        .map(|p| {
            (
                port_labels(p, None),
                u8::from(p.verdict == PortState::Reachable).to_string(),
            )
        })
        .collect();
    family(
        "fwdoctor_port_reachable",
        "1 if a new connection from outside the host reaches the published port, 0 if it is dropped; absent when the verdict is unknown.",
        &reachable,
    );
    let mut verdicts = Vec::new();
    for p in &a.ports {
        for (v, name) in [
            (PortState::Reachable, "reachable"),
            (PortState::Blocked, "blocked"),
            (PortState::Unknown, "unknown"),
        ] {
            verdicts.push((
                port_labels(p, Some(name)),
                u8::from(p.verdict == v).to_string(),
            ));
        }
    }
    family(
        "fwdoctor_port_verdict",
        "Verdict of each published port for a new connection from outside the host (1 for the current verdict).",
        &verdicts,
    );
    family(
        "fwdoctor_last_run_timestamp_seconds",
        "Unix time of the last fwdoctor run.",
        &[(String::new(), format!("{now:.3}"))],
    );
    family(
        "fwdoctor_build_info",
        "fwdoctor version (value is always 1).",
        &[(
            labels(&[("version", env!("CARGO_PKG_VERSION"))]),
            "1".to_string(),
        )],
    );
    out
}

/// Write the exposition to `DIR/fwdoctor.prom`, atomically (mode 0644); returns the path.
/// `DIR` must exist and be trusted ([`TrustedDir`]: owned by root or the caller, not writable
/// by anyone else), or it is refused with the reason.
pub fn write_textfile(dir: &Path, exposition: &str) -> std::io::Result<PathBuf> {
    if !dir.is_dir() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!(
                "{} is not a directory (node_exporter's --collector.textfile.directory)",
                dir.display()
            ),
        ));
    }
    TrustedDir::existing(dir)?.replace(TEXTFILE, exposition.as_bytes(), 0o644)
}

fn port_labels(p: &PortVerdict, verdict: Option<&str>) -> String {
    let port = p.port.host_port.to_string();
    let mut l = vec![
        ("proto", p.port.proto.as_str()),
        ("host_ip", p.port.host_ip.as_str()),
        ("host_port", port.as_str()),
        ("container", p.port.container.as_deref().unwrap_or("")),
    ];
    if let Some(v) = verdict {
        l.push(("verdict", v));
    }
    labels(&l)
}

fn labels(pairs: &[(&str, &str)]) -> String {
    let inner = pairs
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect::<Vec<_>>()
        .join(",");
    format!("{{{inner}}}")
}

/// Label value escaping of the text format (backslash, double quote, newline), after the
/// other control characters from the evidence are made visible ([`crate::report::printable`]
/// turns a newline into `\x0a` too, so none is left to escape).
fn escape(v: &str) -> String {
    crate::report::printable(v)
        .replace('\\', r"\\")
        .replace('"', "\\\"")
}
