//! fwdoctor in a real terminal (tmux): the screen of `fwdoctor check` on the report's bug shows
//! the finding, the rule it blames and the fix. tmux is required (scripts/deps.sh installs it):
//! without it this test fails rather than skips.

use std::process::Command;
use std::time::{Duration, Instant};

const BUG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/lab/report-bug");

/// Kills the tmux session when dropped, also when an assertion fails.
struct Session(String);

impl Drop for Session {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.0])
            .output();
    }
}

fn tmux(args: &[&str]) -> std::process::Output {
    Command::new("tmux")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run tmux {args:?}: {e} (install it: scripts/deps.sh)"))
}

fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[test]
fn the_report_on_screen_shows_the_finding_the_blamed_rule_and_the_fix() {
    let bin = assert_cmd::cargo::cargo_bin("fwdoctor");
    let name = format!("fwdoctor-test-{}", std::process::id());
    let cmd = format!(
        "{} check --from {}; sleep 30",
        sh_quote(bin.to_str().unwrap()),
        sh_quote(BUG)
    );
    let out = tmux(&[
        "new-session",
        "-d",
        "-s",
        &name,
        "-x",
        "120",
        "-y",
        "50",
        "-e",
        "TERM=xterm-256color",
        "-e",
        "COLUMNS=120",
        &cmd,
    ]);
    assert!(
        out.status.success(),
        "tmux new-session: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _session = Session(name.clone());

    let deadline = Instant::now() + Duration::from_secs(20);
    let screen = loop {
        // From the start of the scrollback: the report is taller than the pane.
        let out = tmux(&["capture-pane", "-p", "-J", "-S", "-", "-t", &name]);
        let screen = String::from_utf8_lossy(&out.stdout).into_owned();
        if screen.contains("critical: ") && screen.contains("published ports blocked") {
            break screen;
        }
        assert!(
            Instant::now() < deadline,
            "no summary line on screen after 20 s:\n{screen}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    for want in [
        "CRITICAL split-forward-drop",
        "legacy ip filter FORWARD",
        "policy DROP",
        "sudo iptables-legacy -t filter -P FORWARD ACCEPT",
        "✗ critical: 2 critical, 1 warning · 1 of 1 published ports blocked",
    ] {
        assert!(screen.contains(want), "{want:?} not on screen:\n{screen}");
    }
    // On a terminal the report is coloured (auto), and the escape codes do not reach the text.
    let out = tmux(&["capture-pane", "-p", "-e", "-t", &name]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("\x1b["),
        "colour on a terminal"
    );
}
