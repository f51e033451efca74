//! One alert run at a time per state directory: an exclusive `flock(2)` on `STATE_DIR/lock`,
//! held from reading the state to writing it. A second run waits for the first (polling, up to
//! `--lock-wait` seconds) and then gives up with a clear error (exit 3). The lock dies with
//! the process, so a killed run never leaves a stale lock; the file keeps the holder's pid for
//! the message.
//!
//! The file is opened through [`TrustedDir::open_lock`]: never through a symbolic link, never
//! truncated before the lock is held, and only when it is a regular file.

use crate::safe_fs::{self, TrustedDir};
use nix::fcntl::{Flock, FlockArg};
use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The lock file's name inside the state directory.
pub const FILE: &str = "lock";
const POLL: Duration = Duration::from_millis(100);

/// A held lock; released on drop.
pub struct StateLock {
    _lock: Flock<File>,
}

/// Why the lock was not taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// The lock file could not be opened (or was refused: a link, not a regular file).
    #[error("cannot open the lock file {path}: {error}")]
    Open {
        /// The lock file.
        path: PathBuf,
        /// The error (not a `source`: it is part of the message, said once).
        error: std::io::Error,
    },
    /// Another run held the lock for the whole wait.
    #[error("another fwdoctor run{holder} holds {path}; gave up after {waited} s (--lock-wait)")]
    Busy {
        /// The lock file.
        path: PathBuf,
        /// ` (pid N)` when known.
        holder: String,
        /// Seconds waited.
        waited: u64,
    },
    /// flock itself failed.
    #[error("cannot lock {path}: {errno}")]
    Flock {
        /// The lock file.
        path: PathBuf,
        /// The error.
        errno: nix::errno::Errno,
    },
}

/// Take the lock of state directory `dir`, waiting up to `wait`.
pub fn acquire(dir: &TrustedDir, wait: Duration) -> Result<StateLock, LockError> {
    let path = dir.join(FILE);
    let deadline = Instant::now() + wait;
    let mut file = dir.open_lock(FILE).map_err(|error| LockError::Open {
        path: path.clone(),
        error,
    })?;
    loop {
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(mut lock) => {
                let _ = lock.set_len(0);
                let _ = lock.rewind();
                let _ = writeln!(lock, "{}", std::process::id());
                return Ok(StateLock { _lock: lock });
            }
            Err((f, nix::errno::Errno::EWOULDBLOCK)) => {
                if Instant::now() >= deadline {
                    return Err(LockError::Busy {
                        holder: holder(&path),
                        path,
                        waited: wait.as_secs(),
                    });
                }
                file = f;
                std::thread::sleep(POLL);
            }
            Err((_, errno)) => return Err(LockError::Flock { path, errno }),
        }
    }
}

/// ` (pid N)` from the lock file, read without following a link and at most a few bytes.
fn holder(path: &std::path::Path) -> String {
    let mut s = String::new();
    let _ = safe_fs::open_input(path, safe_fs::Links::Refuse, 64)
        .and_then(|(f, _)| f.take(64).read_to_string(&mut s));
    match s.trim().parse::<u32>() {
        Ok(pid) => format!(" (pid {pid})"),
        Err(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_waits_then_fails_and_works_after_release() {
        let d = tempfile::tempdir().unwrap();
        let d = TrustedDir::existing(d.path()).unwrap();
        let first = acquire(&d, Duration::ZERO).unwrap();
        let err = acquire(&d, Duration::from_millis(250)).err().unwrap();
        assert!(err.to_string().contains("another fwdoctor run"), "{err}");
        assert!(
            err.to_string()
                .contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        drop(first);
        assert!(acquire(&d, Duration::ZERO).is_ok());
    }
}
