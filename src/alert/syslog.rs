//! One syslog line per change, sent to `/dev/log` (journald or rsyslog) as an RFC 3164 datagram
//! `<PRI>fwdoctor[PID]: MESSAGE`, facility daemon. Without a socket nothing is sent and nothing
//! fails: syslog is a copy of the alert, not the alert. `FWDOCTOR_SYSLOG_SOCKET` names another
//! socket (tests).

use crate::analyze::Severity;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;

/// The facility: daemon (3).
const FACILITY_DAEMON: u8 = 3;

/// syslog(3) priorities used by fwdoctor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    /// LOG_CRIT (2): a new critical finding.
    Crit = 2,
    /// LOG_ERR (3): a new unknown finding (could not check), a failed delivery.
    Err = 3,
    /// LOG_WARNING (4): a new warning.
    Warning = 4,
    /// LOG_NOTICE (5): a resolved finding.
    Notice = 5,
    /// LOG_INFO (6): a new info finding.
    Info = 6,
}

impl Priority {
    /// The priority of a new finding of `severity`.
    pub fn of_new(severity: Severity) -> Priority {
        match severity {
            Severity::Critical => Priority::Crit,
            Severity::Unknown => Priority::Err,
            Severity::Warning => Priority::Warning,
            Severity::Info => Priority::Info,
        }
    }
}

/// An open syslog socket.
pub struct Syslog {
    sock: UnixDatagram,
    path: PathBuf,
}

impl Syslog {
    /// Connect to `$FWDOCTOR_SYSLOG_SOCKET` or `/dev/log`; `None` when there is no socket.
    pub fn open() -> Option<Syslog> {
        let path = std::env::var_os("FWDOCTOR_SYSLOG_SOCKET")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/dev/log"));
        let sock = UnixDatagram::unbound().ok()?;
        Some(Syslog { sock, path })
    }

    /// Send one line; errors (no listener, stream socket) are ignored.
    pub fn send(&self, priority: Priority, message: &str) {
        let pri = FACILITY_DAEMON * 8 + priority as u8;
        let one_line: String = message
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        let line = format!("<{pri}>fwdoctor[{}]: {one_line}", std::process::id());
        let _ = self.sock.send_to(line.as_bytes(), &self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priorities_follow_severity() {
        assert_eq!(Priority::of_new(Severity::Critical) as u8, 2);
        assert_eq!(Priority::of_new(Severity::Unknown) as u8, 3);
        assert_eq!(Priority::of_new(Severity::Warning) as u8, 4);
        assert_eq!(Priority::of_new(Severity::Info) as u8, 6);
    }
}
