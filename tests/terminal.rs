//! fwdoctor in a real terminal (tmux): the screen of `fwdoctor check` on the report's bug shows
//! the finding, the rule it blames and the fix. tmux is required (scripts/deps.sh installs it):
//! without it this test fails rather than skips.

use std::process::Command;
use std::time::{Duration, Instant};

const BUG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/lab/report-bug");

/// Kills the test's own tmux server when dropped, also when an assertion fails.
struct Session(String);

impl Drop for Session {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.0, "kill-server"])
            .output();
    }
}

/// Runs tmux against a server of the test's own (`-L server`): tests run in parallel, and on a
/// shared default server one test's last `kill-session` shuts the server down under another's
/// `new-session` ("server exited unexpectedly").
fn tmux(server: &str, args: &[&str]) -> std::process::Output {
    Command::new("tmux")
        .args(["-L", server])
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
    let out = tmux(
        &name,
        &[
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
        ],
    );
    assert!(
        out.status.success(),
        "tmux new-session: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _session = Session(name.clone());

    let deadline = Instant::now() + Duration::from_secs(20);
    let screen = loop {
        // From the start of the scrollback: the report is taller than the pane.
        let out = tmux(&name, &["capture-pane", "-p", "-J", "-S", "-", "-t", &name]);
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
    let out = tmux(&name, &["capture-pane", "-p", "-e", "-t", &name]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("\x1b["),
        "colour on a terminal"
    );
}

const HEALTHY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/lab/healthy");

/// The whole scrollback of `fwdoctor check --from DIR` in an 80-column tmux pane, as a person
/// sees it (no `-J`: a line fwdoctor broke stays broken), once the summary line is there.
fn screen_at_80(fixture: &str, tag: &str) -> (String, Session) {
    let bin = assert_cmd::cargo::cargo_bin("fwdoctor");
    let name = format!("fwdoctor-test80-{tag}-{}", std::process::id());
    let cmd = format!(
        "{} check --from {}; sleep 30",
        sh_quote(bin.to_str().unwrap()),
        sh_quote(fixture)
    );
    // No COLUMNS: fwdoctor asks the terminal for its width.
    let out = tmux(
        &name,
        &[
            "new-session",
            "-d",
            "-s",
            &name,
            "-x",
            "80",
            "-y",
            "60",
            "-e",
            "TERM=xterm-256color",
            "-e",
            "LANG=C.UTF-8",
            &cmd,
        ],
    );
    assert!(
        out.status.success(),
        "tmux new-session: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let session = Session(name.clone());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = tmux(&name, &["capture-pane", "-p", "-S", "-", "-t", &name]);
        let screen = String::from_utf8_lossy(&out.stdout).into_owned();
        if screen.contains("published ports blocked") {
            return (screen, session);
        }
        assert!(
            Instant::now() < deadline,
            "no summary line on screen after 20 s:\n{screen}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn at_80_columns_the_bug_shows_the_doctor_summary_and_an_unbroken_plan() {
    let (screen, _session) = screen_at_80(BUG, "bug");
    for want in [
        "✓ Docker API: Docker 20.10.24+dfsg1, 1 container, 3 networks",
        "✓ forwarding: IPv4 on, IPv6 off",
        "✗ port 0.0.0.0:8080/tcp → web1: blocked from outside",
        "  fix: steps 1, 3-7 of the plan below",
        "To fix this host, in order",
        "    # 1. now · fixes split-forward-drop, published-port-blocked (8080/tcp)",
        "    sudo iptables-legacy -t filter -P FORWARD ACCEPT",
    ] {
        assert!(screen.contains(want), "{want:?} not on screen:\n{screen}");
    }
    // The prose fits the pane; the only lines wider than 80 are commands, which the terminal
    // wraps but fwdoctor never breaks: the flush line is the 80 columns it fills, then the rest.
    let flush = "    sudo iptables-legacy -t filter -P FORWARD ACCEPT && sudo iptables-legacy -t filter -F && sudo iptables-legacy -t filter -X";
    let (head, tail) = flush.split_at(80);
    assert!(
        // (tmux drops the space the wrap fell on)
        screen.contains(&format!("{}\n{tail}\n", head.trim_end())),
        "flush command not whole:\n{screen}"
    );
    // Every plan line is a comment or a command, or the terminal's wrap of a full-width one.
    let plan = &screen[screen.find("To fix this host").unwrap()..];
    let mut previous_full = false;
    for line in plan.lines().skip(1).take_while(|l| !l.is_empty()) {
        let l = line.trim_start();
        assert!(
            l.starts_with('#') || l.starts_with("sudo ") || previous_full,
            "a plan line that is neither a comment nor a command: {line:?}\n{screen}"
        );
        previous_full = line.chars().count() >= 79;
    }
}

#[test]
fn at_80_columns_a_healthy_host_shows_what_was_checked_and_where_to_look_next() {
    let (screen, _session) = screen_at_80(HEALTHY, "healthy");
    for want in [
        "✓ firewall stacks read: iptables-nft 2 tables (18 rules)",
        "✓ Docker API: Docker 20.10.24+dfsg1, 1 container, 3 networks",
        "✓ forwarding: IPv4 on, IPv6 off",
        "✓ port 0.0.0.0:8080/tcp → web1: reachable from outside",
        // The lab machine has ufw installed, not enabled (ufw-status.txt: Status: inactive).
        "✓ ufw inactive · no firewalld · Docker not from the snap",
        "The firewall lets every published port through.",
        "a cloud security",
        "✓ ok: no findings",
    ] {
        assert!(screen.contains(want), "{want:?} not on screen:\n{screen}");
    }
    assert!(!screen.contains("To fix this host"), "{screen}");
    // Prose wrapped to the pane: no line past 80 columns outside the ports table.
    for line in screen
        .lines()
        .filter(|l| !l.starts_with(['│', '┌', '└', '╞']))
    {
        assert!(line.chars().count() <= 80, "{line:?}");
    }
}

#[test]
fn term_dumb_gets_no_colour_even_on_a_terminal() {
    let bin = assert_cmd::cargo::cargo_bin("fwdoctor");
    let name = format!("fwdoctor-test-dumb-{}", std::process::id());
    let cmd = format!(
        // In the command: tmux sets TERM in the pane itself.
        "TERM=dumb {} check --from {}; sleep 30",
        sh_quote(bin.to_str().unwrap()),
        sh_quote(BUG)
    );
    let out = tmux(
        &name,
        &[
            "new-session",
            "-d",
            "-s",
            &name,
            "-x",
            "120",
            "-y",
            "50",
            "-e",
            "TERM=dumb",
            &cmd,
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _session = Session(name.clone());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = tmux(&name, &["capture-pane", "-p", "-e", "-S", "-", "-t", &name]);
        let screen = String::from_utf8_lossy(&out.stdout).into_owned();
        if screen.contains("published ports blocked") {
            assert!(
                !screen.contains("\x1b["),
                "colour with TERM=dumb:\n{screen:?}"
            );
            assert!(screen.contains("CRITICAL split-forward-drop"), "{screen}");
            break;
        }
        assert!(Instant::now() < deadline, "no summary line:\n{screen}");
        std::thread::sleep(Duration::from_millis(100));
    }
}
