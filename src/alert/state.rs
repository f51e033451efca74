//! The alert state: the findings that were open after the last delivered run, kept as JSON in
//! `STATE_DIR/state.json` (schema `fwdoctor-state/1`), replaced atomically through
//! [`TrustedDir::replace`] and read without following a link.

use crate::alert::key;
use crate::analyze::{Analysis, Severity, Status};
use crate::safe_fs::{self, TrustedDir};
use serde::{Deserialize, Serialize};
use std::io;
use std::path::{Path, PathBuf};

/// The state file's schema tag.
pub const SCHEMA: &str = "fwdoctor-state/1";
/// The state file's name inside the state directory.
pub const FILE: &str = "state.json";
/// The default state directory (FHS `/var/lib` for state).
pub const DEFAULT_DIR: &str = "/var/lib/fwdoctor";
/// The largest state file read: far above any real one (a few hundred bytes per finding).
const MAX_LEN: u64 = 16 << 20;

/// One open finding as remembered between runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenFinding {
    /// The identity across runs ([`key::key`]).
    pub key: String,
    /// The check's name.
    pub check: String,
    /// `critical`, `unknown`, `warning` or `info`.
    pub severity: String,
    /// The summary as it was when last seen (shown for resolved findings).
    pub summary: String,
}

/// What `state.json` holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// The overall status of that run (`ok`, `warning`, `critical`, `unknown`).
    pub status: String,
    /// Unix time of that run.
    pub updated_at: u64,
    /// Its open findings, each key once.
    pub findings: Vec<OpenFinding>,
}

impl State {
    /// The state that an analysis leaves: its findings, each key once (the worst wins, since
    /// findings come sorted worst first).
    pub fn of(analysis: &Analysis, now: u64) -> State {
        let mut findings: Vec<OpenFinding> = Vec::new();
        for f in &analysis.findings {
            let key = key::key(f);
            if findings.iter().any(|o| o.key == key) {
                continue;
            }
            findings.push(OpenFinding {
                key,
                check: f.check.to_string(),
                severity: f.severity.as_str().to_string(),
                summary: f.summary.clone(),
            });
        }
        State {
            schema: SCHEMA.to_string(),
            status: analysis.status.as_str().to_string(),
            updated_at: now,
            findings,
        }
    }
}

/// The outcome of reading the state file.
#[derive(Debug)]
pub enum Loaded {
    /// The last run's state.
    Found(State),
    /// No state file: the first run.
    Missing,
    /// A state file that cannot be used; the reason. Handled as a first run.
    Corrupt(String),
}

/// `DIR/state.json`.
pub fn path(dir: &Path) -> PathBuf {
    dir.join(FILE)
}

/// Read the state file; never fails: a missing or unusable file (a link, a FIFO, too big)
/// is reported as such.
pub fn load(dir: &TrustedDir) -> Loaded {
    let p = dir.join(FILE);
    let read = safe_fs::open_input(&p, safe_fs::Links::Refuse, MAX_LEN).and_then(|(f, _)| {
        let mut text = String::new();
        io::Read::read_to_string(&mut io::Read::take(f, MAX_LEN), &mut text).map(|_| text)
    });
    let text = match read {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Loaded::Missing,
        Err(e) if e.to_string().contains(&p.display().to_string()) => {
            return Loaded::Corrupt(e.to_string());
        }
        Err(e) => return Loaded::Corrupt(format!("cannot read {}: {e}", p.display())),
    };
    match serde_json::from_str::<State>(&text) {
        Ok(s) if s.schema != SCHEMA => Loaded::Corrupt(format!(
            "{} has schema `{}`, expected `{SCHEMA}`",
            p.display(),
            s.schema
        )),
        Ok(s) => Loaded::Found(s),
        Err(e) => Loaded::Corrupt(format!("{} is not a fwdoctor state file: {e}", p.display())),
    }
}

/// Write the state file atomically (mode 0644).
pub fn save(dir: &TrustedDir, state: &State) -> io::Result<()> {
    let mut text = serde_json::to_string_pretty(state).map_err(io::Error::other)?;
    text.push('\n');
    dir.replace(FILE, text.as_bytes(), 0o644).map(drop)
}

/// Parse a severity name as stored in the state file.
pub fn severity(name: &str) -> Option<Severity> {
    match name {
        "critical" => Some(Severity::Critical),
        "unknown" => Some(Severity::Unknown),
        "warning" => Some(Severity::Warning),
        "info" => Some(Severity::Info),
        _ => None,
    }
}

/// Parse a status name as stored in the state file.
pub fn status(name: &str) -> Option<Status> {
    match name {
        "ok" => Some(Status::Ok),
        "warning" => Some(Status::Warning),
        "critical" => Some(Status::Critical),
        "unknown" => Some(Status::Unknown),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_bad_files() {
        let tmp = tempfile::tempdir().unwrap();
        let d = TrustedDir::existing(tmp.path()).unwrap();
        assert!(matches!(load(&d), Loaded::Missing));
        let s = State {
            schema: SCHEMA.into(),
            status: "ok".into(),
            updated_at: 1,
            findings: vec![],
        };
        save(&d, &s).unwrap();
        assert!(matches!(load(&d), Loaded::Found(ref t) if *t == s));
        std::fs::write(path(d.path()), "{not json").unwrap();
        assert!(matches!(load(&d), Loaded::Corrupt(_)));
        std::fs::write(
            path(d.path()),
            r#"{"schema":"other/9","status":"ok","updated_at":1,"findings":[]}"#,
        )
        .unwrap();
        assert!(matches!(load(&d), Loaded::Corrupt(_)));
        std::fs::remove_file(path(d.path())).unwrap();
        std::os::unix::fs::symlink("/etc/hostname", path(d.path())).unwrap();
        assert!(
            matches!(load(&d), Loaded::Corrupt(ref why) if why.contains("symbolic link")),
            "a link is not followed"
        );
    }
}
