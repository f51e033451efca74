//! `--notify CMD`: run `sh -c CMD` with the change report on stdin (mail, curl to a webhook,
//! notify-send). Delivery succeeded when the command exits 0 before its deadline.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Most stderr bytes kept for the failure message.
const MAX_STDERR: usize = 2048;

/// Run `cmd` through `/bin/sh -c` with `report` on stdin; `Err` says why delivery failed.
pub fn deliver(cmd: &str, report: &str, timeout: Duration) -> Result<(), String> {
    let mut child = Command::new("/bin/sh")
        .arg("-c")
        .arg(cmd)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
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
    let stderr = child.stderr.take().map(|mut e| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = (&mut e).take(MAX_STDERR as u64).read_to_end(&mut buf);
            // Drain the rest so the command never blocks on a full pipe.
            let _ = std::io::copy(&mut e, &mut std::io::sink());
            String::from_utf8_lossy(&buf).trim().to_string()
        })
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
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
    let err = stderr.and_then(|h| h.join().ok()).unwrap_or_default();
    let how = match status.code() {
        Some(c) => format!("exited with {c}"),
        None => "was killed by a signal".to_string(),
    };
    Err(format!(
        "notify command {cmd:?} {how}{}{err}",
        if err.is_empty() { "" } else { ": " }
    ))
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
