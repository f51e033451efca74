//! Alert mode (`fwdoctor check --cron`): compare this run's findings with the last run's and
//! speak only when something appeared or was resolved.
//!
//! The cycle, under an exclusive lock on the state directory ([`lock`]):
//! read the last state ([`state`]; missing or corrupt = first run, with a note) -> compare by
//! stable keys ([`key`], [`diff`]) -> when something changed (or on a first run): render the
//! change report ([`render`]), log one syslog line per change ([`syslog`]), run `--notify`
//! ([`notify`]) -> write the new state atomically ([`crate::safe_fs::TrustedDir::replace`])
//! unless delivery failed, so a failed alert is sent again next run.
//!
//! Output and exit code: nothing and exit 0 when nothing changed; otherwise the report on
//! stdout and the status's exit code (0 ok, 1 warning, 2 critical, 3 unknown). When delivery
//! or the state write fails, the failure is reported on stderr and in syslog, and the exit code
//! is 3 whatever the findings ([`DELIVERY_FAILED`]): the systemd unit counts 1 and 2 as success,
//! so only 3 shows a lost alert as a failed unit. A state directory that cannot be used
//! (read-only, refused as writable by another user, its lock file refused) is such a failure
//! too: the report of every open finding is still printed, with the reason once.

pub mod diff;
pub mod key;
pub mod lock;
pub mod notify;
pub mod render;
pub mod state;
pub mod syslog;

use crate::analyze::Analysis;
use crate::safe_fs::TrustedDir;
use anyhow::Result;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How an alert run behaves (from the `check` flags).
#[derive(Debug, Clone)]
pub struct Options {
    /// Where `state.json` and `lock` live.
    pub state_dir: PathBuf,
    /// `--notify CMD`, run with the report on stdin when something changed.
    pub notify: Option<String>,
    /// How long the notify command may take.
    pub notify_timeout: Duration,
    /// Log one line per change to syslog.
    pub syslog: bool,
    /// How long to wait for another run's lock.
    pub lock_wait: Duration,
    /// Render the change report as JSON instead of text.
    pub json: bool,
    /// The `fwdoctor check --verbose ...` that shows the details of this run: the same
    /// evidence and checks (`--from`, `--only`, `--skip`, `--timeout` as given).
    pub details: String,
}

/// The exit code of a run whose alert (or state, or textfile) could not be written or
/// delivered, whatever the findings: `unknown`, the one code the systemd unit counts as failed.
pub const DELIVERY_FAILED: i32 = 3;

/// What an alert run produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// What to print on stdout (empty when nothing changed).
    pub stdout: String,
    /// What to print on stderr: why delivery or the state write failed (empty when all went well).
    pub stderr: String,
    /// The process's exit code.
    pub exit_code: i32,
}

/// Run one alert cycle for `analysis`; `host` names the host (or capture) in the report.
/// Fails only when another run holds the state directory's lock for the whole wait.
pub fn run(opts: &Options, analysis: &Analysis, host: &str) -> Result<Outcome> {
    let mut notes = Vec::new();
    let mut failures = Vec::new();
    // The state directory, created when missing and checked, with its lock held. When it
    // cannot be used the report still goes out, with the reason said once.
    let held = match TrustedDir::create(&opts.state_dir, 0o755) {
        Ok(dir) => match lock::acquire(&dir, opts.lock_wait) {
            Ok(lock) => Ok((dir, lock)),
            Err(e @ lock::LockError::Busy { .. }) => return Err(e.into()),
            Err(e) => Err(e.to_string()),
        },
        Err(e) => Err(e.to_string()),
    };
    let held = match held {
        Ok(held) => Some(held),
        Err(why) => {
            failures.push(format!(
                "{why}; no state is kept, so every open finding is reported, and again next run"
            ));
            None
        }
    };
    let (previous, before) = match held.as_ref().map(|(dir, _)| state::load(dir)) {
        None => (None, Vec::new()),
        Some(state::Loaded::Found(s)) => (state::status(&s.status), s.findings),
        Some(state::Loaded::Missing) => {
            notes.push(format!(
                "first run: no state in {} yet; every open finding is reported as new",
                opts.state_dir.display()
            ));
            (None, Vec::new())
        }
        Some(state::Loaded::Corrupt(why)) => {
            notes.push(format!("{why}; handled as a first run"));
            (None, Vec::new())
        }
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let next = state::State::of(analysis, now);
    let changes = diff::compare(&before, &next.findings);

    if let Some((dir, _)) = &held
        && previous.is_some()
        && !changes.any()
    {
        // Same findings: stay silent, but remember the run (and the newest summaries).
        return Ok(match state::save(dir, &next) {
            Ok(()) => Outcome {
                stdout: String::new(),
                stderr: String::new(),
                exit_code: 0,
            },
            Err(e) => Outcome {
                stdout: String::new(),
                stderr: format!("fwdoctor: {e}\n"),
                exit_code: DELIVERY_FAILED,
            },
        });
    }

    let report = render::Report {
        analysis,
        changes: &changes,
        previous,
        host: host.to_string(),
        notes: &notes,
        details: &opts.details,
    };
    let stdout = if opts.json {
        let mut s = serde_json::to_string_pretty(&render::json(&report))?;
        s.push('\n');
        s
    } else {
        render::text(&report)
    };
    let log = opts.syslog.then(syslog::Syslog::open).flatten();
    if let Some(log) = &log {
        log_changes(log, &changes);
    }

    if let Some(cmd) = &opts.notify
        && let Err(e) = notify::deliver(cmd, &stdout, opts.notify_timeout)
    {
        failures.push(format!(
            "alert delivery failed: {e}; the state was not advanced, so this alert is sent again next run"
        ));
    }
    if failures.is_empty()
        && let Some((dir, _)) = &held
        && let Err(e) = state::save(dir, &next)
    {
        failures.push(format!("{e}; this alert is sent again next run"));
    }
    let mut stderr = String::new();
    let mut exit_code = analysis.status.exit_code();
    for f in failures {
        if let Some(log) = &log {
            log.send(syslog::Priority::Err, &f);
        }
        stderr.push_str(&format!("fwdoctor: {f}\n"));
        exit_code = DELIVERY_FAILED;
    }
    Ok(Outcome {
        stdout,
        stderr,
        exit_code,
    })
}

fn log_changes(log: &syslog::Syslog, changes: &diff::Changes) {
    for f in &changes.new {
        let prio =
            state::severity(&f.severity).map_or(syslog::Priority::Err, syslog::Priority::of_new);
        log.send(
            prio,
            &format!("new {} {}: {}", f.severity, f.check, f.summary),
        );
    }
    for f in &changes.resolved {
        log.send(
            syslog::Priority::Notice,
            &format!("resolved {} {}: {}", f.severity, f.check, f.summary),
        );
    }
}

/// The name of this host for the report (`/proc/sys/kernel/hostname`), or `localhost`.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}
