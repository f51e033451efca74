//! A lost alert is a failed run: when `--notify` fails (non-zero exit or timeout) or the
//! `--textfile` cannot be written, fwdoctor exits 3 and says so on stderr, whatever the findings
//! (the systemd unit counts 1 and 2 as success, so 2 would hide the loss), and a failed delivery
//! is tried again on the next run.

use assert_cmd::Command;
use std::fs;
use std::path::Path;
use std::time::Duration;

/// A real lab capture whose status is critical (legacy FORWARD policy DROP under Docker on
/// iptables-nft).
const CRITICAL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/lab/report-bug");

struct Run {
    stdout: String,
    stderr: String,
    code: i32,
}

impl Run {
    fn context(&self) -> String {
        format!(
            "exit {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// `fwdoctor check --from CRITICAL ARGS...`, syslog pointed at a socket that does not exist.
fn fwdoctor(args: &[&str], scratch: &Path) -> Run {
    let out = Command::cargo_bin("fwdoctor")
        .unwrap()
        .args(["check", "--from", CRITICAL])
        .args(args)
        .env("FWDOCTOR_SYSLOG_SOCKET", scratch.join("no-such-socket"))
        .timeout(Duration::from_secs(120))
        .output()
        .unwrap();
    Run {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        code: out.status.code().unwrap_or(-1),
    }
}

/// `--cron` with its state in `state`.
fn cron(extra: &[&str], state: &Path) -> Run {
    let state_arg = state.to_str().expect("temp paths are UTF-8");
    let mut args = vec!["--cron", "--no-syslog", "--state-dir", state_arg];
    args.extend_from_slice(extra);
    fwdoctor(&args, state)
}

#[test]
fn failed_notify_on_a_critical_change_exits_3_and_is_tried_again() {
    let d = tempfile::tempdir().unwrap();
    let state = d.path().join("state");

    let r = cron(&["--notify", "false"], &state);
    assert_eq!(
        r.code,
        3,
        "a lost alert must fail the unit\n{}",
        r.context()
    );
    assert!(
        r.stderr.contains("alert delivery failed"),
        "{}",
        r.context()
    );
    assert!(
        r.stdout.contains("NEW      critical split-forward-drop"),
        "the report is still printed\n{}",
        r.context()
    );
    assert!(
        !state.join("state.json").exists(),
        "the state must not move past an undelivered alert"
    );

    // The next run alerts again instead of staying silent.
    let r = cron(&["--notify", "false"], &state);
    assert_eq!(r.code, 3, "{}", r.context());
    assert!(
        r.stdout.contains("NEW      critical split-forward-drop"),
        "{}",
        r.context()
    );

    // Delivered at last: the status's own code, nothing on stderr, and then silence.
    let mail = d.path().join("mail");
    let ok = format!("cat > '{}'", mail.display());
    let r = cron(&["--notify", &ok], &state);
    assert_eq!(
        r.code,
        2,
        "delivered critical alert exits 2\n{}",
        r.context()
    );
    assert_eq!(r.stderr, "", "{}", r.context());
    assert!(
        fs::read_to_string(&mail)
            .unwrap()
            .contains("split-forward-drop")
    );
    let r = cron(&["--notify", &ok], &state);
    assert_eq!((r.code, r.stdout.as_str()), (0, ""), "{}", r.context());
}

#[test]
fn notify_that_times_out_exits_3() {
    let d = tempfile::tempdir().unwrap();
    let state = d.path().join("state");
    let r = cron(
        &["--notify", "exec sleep 30", "--notify-timeout", "1"],
        &state,
    );
    assert_eq!(r.code, 3, "{}", r.context());
    assert!(r.stderr.contains("did not finish"), "{}", r.context());
    assert!(!state.join("state.json").exists());
}

#[test]
fn failed_delivery_keeps_the_json_report_valid() {
    let d = tempfile::tempdir().unwrap();
    let state = d.path().join("state");
    let r = cron(&["--notify", "false", "--format", "json"], &state);
    assert_eq!(r.code, 3, "{}", r.context());
    serde_json::from_str::<serde_json::Value>(&r.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e})\n{}", r.context()));
    assert!(
        r.stderr.contains("alert delivery failed"),
        "{}",
        r.context()
    );
}

#[test]
fn textfile_in_a_missing_directory_exits_3_on_a_critical_host() {
    let d = tempfile::tempdir().unwrap();
    let state = d.path().join("state");
    let missing = d.path().join("no-such-dir").join("textfile");
    let missing = missing.to_str().unwrap();

    let r = fwdoctor(&["--quiet", "--textfile", missing], d.path());
    assert_eq!(r.code, 3, "{}", r.context());
    assert!(
        r.stderr.contains("cannot write the textfile"),
        "{}",
        r.context()
    );

    let mail = d.path().join("mail");
    let ok = format!("cat > '{}'", mail.display());
    let r = cron(&["--notify", &ok, "--textfile", missing], &state);
    assert_eq!(r.code, 3, "{}", r.context());
    assert!(
        r.stderr.contains("cannot write the textfile"),
        "{}",
        r.context()
    );
}
