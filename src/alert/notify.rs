//! `--notify CMD`: run `sh -c CMD` with the change report on stdin (mail, curl to a webhook,
//! notify-send). Delivery succeeded when the command exits 0 before its deadline.
//!
//! The command runs in its own process group: at the deadline the whole group is killed, not
//! only `sh`, and nothing waits past the deadline for a pipe that a background grandchild holds.

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

/// Most stderr bytes kept for the failure message.
const MAX_STDERR: usize = 2048;
/// After the command failed, how long its stderr may take to reach end-of-file (a background
/// grandchild may hold it open); what arrived by then is quoted.
const STDERR_GRACE: Duration = Duration::from_millis(500);

/// Run `cmd` through `/bin/sh -c` with `report` on stdin; `Err` says why delivery failed.
pub fn deliver(cmd: &str, report: &str, timeout: Duration) -> Result<(), String> {
    let mut child = Command::new("/bin/sh")
        .arg("-c")
        .arg(cmd)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot start /bin/sh -c {cmd:?}: {e}"))?;
    // Feed stdin from a thread: a command that does not read it must not block us. fwdoctor
    // runs with SIGPIPE at its default (main.rs), so the thread blocks SIGPIPE for itself: a
    // command that exits without reading gets EPIPE here instead of killing fwdoctor.
    if let Some(mut stdin) = child.stdin.take() {
        let report = report.to_string();
        std::thread::spawn(move || {
            use nix::sys::signal::{SigSet, SigmaskHow, Signal, pthread_sigmask};
            let mut pipe = SigSet::empty();
            pipe.add(Signal::SIGPIPE);
            if pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&pipe), None).is_ok() {
                let _ = stdin.write_all(report.as_bytes());
            }
        });
    }
    // The reader thread is detached: a grandchild holding stderr open must not hold us. It
    // keeps what it read so far in `stderr`, and says on `stderr_done` when it saw end-of-file.
    let stderr = Arc::new(Mutex::new(Vec::new()));
    let (stderr_done, stderr_rx) = mpsc::channel::<()>();
    if let Some(mut e) = child.stderr.take() {
        let kept = Arc::clone(&stderr);
        std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            loop {
                match e.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        // Past MAX_STDERR the rest is drained, so the command never blocks.
                        let mut kept = kept.lock().unwrap_or_else(|p| p.into_inner());
                        let room = MAX_STDERR.saturating_sub(kept.len());
                        kept.extend_from_slice(&buf[..n.min(room)]);
                    }
                }
            }
            let _ = stderr_done.send(());
        });
    }
    // A deadline past what `Instant` holds is no deadline (the CLI bounds the timeout anyway).
    let deadline = Instant::now().checked_add(timeout);
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if deadline.is_some_and(|d| Instant::now() >= d) => {
                kill_group(&mut child);
                return Err(format!(
                    "notify command {cmd:?} did not finish within {} s and was killed",
                    timeout.as_secs()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("waiting for notify command {cmd:?}: {e}")),
        }
    };
    if status.success() {
        return Ok(());
    }
    let grace = deadline.map_or(STDERR_GRACE, |d| {
        d.saturating_duration_since(Instant::now())
            .min(STDERR_GRACE)
    });
    let _ = stderr_rx.recv_timeout(grace);
    let err = {
        let kept = stderr.lock().unwrap_or_else(|p| p.into_inner());
        String::from_utf8_lossy(&kept).trim().to_string()
    };
    let how = match status.code() {
        Some(c) => format!("exited with {c}"),
        None => "was killed by a signal".to_string(),
    };
    Err(format!(
        "notify command {cmd:?} {how}{}{err}",
        if err.is_empty() { "" } else { ": " }
    ))
}

/// SIGKILL the command's process group (its pid is the group id: `process_group(0)`), then reap
/// `sh`.
fn kill_group(child: &mut std::process::Child) {
    use nix::sys::signal::{Signal, killpg};
    use nix::unistd::Pid;
    match i32::try_from(child.id()) {
        Ok(pid) => {
            let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
        }
        Err(_) => {
            let _ = child.kill();
        }
    }
    let _ = child.wait();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_on_stdin_and_failures_in_words() {
        let d = tempfile::tempdir().unwrap();
        let out = d.path().join("got");
        let cmd = format!("cat > '{}'", out.display());
        deliver(&cmd, "hello\n", Duration::from_secs(10)).unwrap();
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "hello\n");
        let e = deliver("echo no MTA >&2; exit 7", "x", Duration::from_secs(10)).unwrap_err();
        assert!(e.contains("exited with 7") && e.contains("no MTA"), "{e}");
        // A command that ignores a big report: EPIPE, not SIGPIPE, and its exit code counts.
        let big = "x".repeat(1 << 20);
        let e = deliver("exit 3", &big, Duration::from_secs(10)).unwrap_err();
        assert!(e.contains("exited with 3"), "{e}");
        let e = deliver("exec sleep 5", "x", Duration::from_millis(200)).unwrap_err();
        assert!(e.contains("did not finish"), "{e}");
    }
}
