//! Analyze: the checks (a registry, one module per check, each with its docs) and the trace
//! engine that gives every published port a verdict.

pub mod checks;
pub mod context;
pub mod decided;
pub mod fix;
pub mod needs;
pub mod plan;
pub mod ports;
pub mod shell;
pub mod trace;

pub use context::Context;

use serde::Serialize;
use std::fmt;

/// How bad a finding is. Ordered: a report's status is its worst finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    /// Could not check: evidence the verdict needs is missing.
    Unknown,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Unknown => "unknown",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The overall result, with the Nagios/Icinga plugin exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Warning,
    Critical,
    Unknown,
}

impl Status {
    pub fn exit_code(self) -> i32 {
        match self {
            Status::Ok => 0,
            Status::Warning => 1,
            Status::Critical => 2,
            Status::Unknown => 3,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warning => "warning",
            Status::Critical => "critical",
            Status::Unknown => "unknown",
        }
    }
    /// The status of a set of findings: critical beats unknown beats warning; info is ok.
    pub fn of(findings: &[Finding]) -> Status {
        match findings.iter().map(|f| f.severity).max() {
            Some(Severity::Critical) => Status::Critical,
            Some(Severity::Unknown) => Status::Unknown,
            Some(Severity::Warning) => Status::Warning,
            _ => Status::Ok,
        }
    }
}

/// One line of evidence: a rule, a policy, a fact, with where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct EvidenceLine {
    /// "legacy ip filter FORWARD" or a fact's source ("sysctl", "docker", "snap").
    pub location: String,
    /// The rule text, policy or fact.
    pub text: String,
    /// "iptables-legacy-save.txt:12" when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

impl EvidenceLine {
    pub fn fact(location: &str, text: impl Into<String>) -> EvidenceLine {
        EvidenceLine {
            location: location.to_string(),
            text: text.into(),
            source: None,
        }
    }
    pub fn rule(r: &trace::RuleRef) -> EvidenceLine {
        EvidenceLine {
            location: format!("{} {} {} {}", r.stack, r.family, r.table, r.chain),
            text: r.rule.clone(),
            source: (r.line > 0).then(|| format!("{}:{}", r.source, r.line)),
        }
    }
}

/// What to run: now (takes effect at once, lost on reboot or daemon restart) and for good.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Fix {
    /// Commands that fix it now.
    pub immediate: Vec<String>,
    /// Commands or steps that keep it fixed.
    pub lasting: Vec<String>,
    /// Why this fix, for this host (snap vs apt Docker, ufw, firewalld).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub note: String,
}

/// One thing a check found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub check: &'static str,
    pub severity: Severity,
    pub summary: String,
    /// Why it matters, in a sentence or two.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub why: String,
    pub evidence: Vec<EvidenceLine>,
    pub fix: Fix,
}

/// A check: a stable name, a severity, a summary and long docs, like a clippy lint.
pub struct Check {
    pub name: &'static str,
    pub severity: Severity,
    pub summary: &'static str,
    /// "What it finds / Why it matters / How to fix", printed by `fwdoctor explain NAME`.
    pub docs: &'static str,
    pub run: fn(&Context) -> Vec<Finding>,
}

/// Everything one analysis produced.
#[derive(Debug, Clone, Serialize)]
pub struct Analysis {
    pub findings: Vec<Finding>,
    pub ports: Vec<ports::PortVerdict>,
    pub status: Status,
    /// Every finding's fix merged into one ordered plan ([`plan::plan`]).
    pub plan: Vec<plan::Step>,
}

/// Run the checks named in `only` (all when empty), minus `skip`.
pub fn analyze(model: &crate::model::Model, only: &[String], skip: &[String]) -> Analysis {
    let ctx = Context::new(model);
    let mut findings = Vec::new();
    for check in checks::ALL {
        if (!only.is_empty() && !only.iter().any(|n| n == check.name))
            || skip.iter().any(|n| n == check.name)
        {
            continue;
        }
        findings.extend((check.run)(&ctx));
    }
    findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
    let status = Status::of(&findings);
    let plan = plan::plan(model, &findings, &ctx.ports);
    Analysis {
        findings,
        ports: ctx.ports.clone(),
        status,
        plan,
    }
}
