//! The alert cycle (`check --cron`) on capture directories: first run alerts, an unchanged run is
//! silent, a new finding alerts, a resolution alerts, a failed `--notify` re-alerts; state
//! corruption, lock contention and syslog priorities.

use assert_cmd::Command;
use std::fs;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::Duration;

const FACTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/facts");

/// A capture made of the shared fact fixtures (Docker API, snap, sysctl): no ruleset, so it
/// does not depend on the ruleset parsers.
fn facts_capture(dir: &Path) -> PathBuf {
    let cap = dir.join("capture");
    fs::create_dir_all(&cap).unwrap();
    for e in fs::read_dir(FACTS).unwrap() {
        let e = e.unwrap();
        if e.file_name() != "README.md" {
            fs::copy(e.path(), cap.join(e.file_name())).unwrap();
        }
    }
    cap
}

fn set_sysctl(cap: &Path, ip4: u8, ip6: u8) {
    fs::write(
        cap.join("sysctl.txt"),
        format!(
            "net.ipv4.ip_forward = {ip4}\nnet.ipv6.conf.all.forwarding = {ip6}\nnet.bridge.bridge-nf-call-iptables = 1\nnet.bridge.bridge-nf-call-ip6tables = 1\n"
        ),
    )
    .unwrap();
}

struct Run {
    stdout: String,
    stderr: String,
    code: i32,
}

fn cron(cap: &Path, state: &Path, extra: &[&str]) -> Run {
    let out = Command::cargo_bin("fwdoctor")
        .unwrap()
        .args(["check", "--cron", "--no-syslog", "--from"])
        .arg(cap)
        .arg("--state-dir")
        .arg(state)
        .args(extra)
        .env("FWDOCTOR_SYSLOG_SOCKET", state.join("no-such-socket"))
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    Run {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        code: out.status.code().unwrap_or(-1),
    }
}

#[test]
fn first_run_alerts_then_silent_then_change_and_resolution_alert() {
    let d = tempfile::tempdir().unwrap();
    let cap = facts_capture(d.path());
    let state = d.path().join("state");
    set_sysctl(&cap, 1, 0);

    let r = cron(&cap, &state, &[]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("(first run)"), "{}", r.stdout);
    assert!(r.stdout.contains("note: first run"), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("NEW      critical ip-forward-disabled: net.ipv6"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("fix now: sudo sysctl -w net.ipv6.conf.all.forwarding=1")
    );
    assert!(state.join("state.json").is_file());

    let r = cron(&cap, &state, &[]);
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (0, ""),
        "unchanged run must be silent: {}",
        r.stderr
    );

    // Something appears: IPv4 forwarding is switched off too.
    set_sysctl(&cap, 0, 0);
    let r = cron(&cap, &state, &[]);
    assert_eq!(r.code, 2, "{}", r.stdout);
    assert!(r.stdout.contains("1 new, 0 resolved"), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("NEW      critical ip-forward-disabled: net.ipv4.ip_forward = 0")
    );
    assert!(
        r.stdout
            .contains("OPEN     critical ip-forward-disabled: net.ipv6")
    );
    assert!(!r.stdout.contains("first run"));
    assert_eq!(cron(&cap, &state, &[]).stdout, "");

    // Both resolved.
    set_sysctl(&cap, 1, 1);
    let r = cron(&cap, &state, &[]);
    // No ruleset is in this capture, so what remains open is unknown, not critical.
    assert_eq!(r.code, 3, "unknown from evidence-missing: {}", r.stdout);
    assert!(r.stdout.contains("0 new, 2 resolved"), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("RESOLVED critical ip-forward-disabled: net.ipv4.ip_forward")
    );
    assert_eq!(cron(&cap, &state, &[]).code, 0);
}

#[test]
fn failed_notify_is_reported_and_the_alert_is_sent_again() {
    let d = tempfile::tempdir().unwrap();
    let cap = facts_capture(d.path());
    let state = d.path().join("state");
    set_sysctl(&cap, 1, 1);
    let got = d.path().join("mail");
    let ok = format!("cat > '{}'", got.display());

    let r = cron(&cap, &state, &["--notify", &ok]);
    assert_eq!(
        r.code, 3,
        "unknown: no ruleset in the capture: {}",
        r.stdout
    );
    assert_eq!(
        fs::read_to_string(&got).unwrap(),
        r.stdout,
        "report on stdin"
    );
    fs::remove_file(&got).unwrap();

    // Unchanged: no delivery at all.
    let r = cron(&cap, &state, &["--notify", &ok]);
    assert_eq!((r.code, r.stdout.as_str()), (0, ""));
    assert!(!got.exists(), "nothing changed, nothing sent");

    // A change whose delivery fails: reported, state not advanced.
    set_sysctl(&cap, 0, 1);
    let r = cron(&cap, &state, &["--notify", "echo smtp down >&2; exit 75"]);
    assert!(
        r.stdout
            .contains("NEW      critical ip-forward-disabled: net.ipv4"),
        "{}",
        r.stdout
    );
    assert!(r.stderr.contains("alert delivery failed"), "{}", r.stderr);
    assert!(
        r.stderr.contains("exited with 75: smtp down"),
        "{}",
        r.stderr
    );
    assert_eq!(r.code, 3, "a lost alert exits 3 whatever the findings");

    // Next run: the same alert again, now delivered.
    let r = cron(&cap, &state, &["--notify", &ok]);
    assert!(
        r.stdout
            .contains("NEW      critical ip-forward-disabled: net.ipv4"),
        "{}",
        r.stdout
    );
    assert!(!r.stderr.contains("delivery failed"));
    assert!(
        fs::read_to_string(&got)
            .unwrap()
            .contains("net.ipv4.ip_forward = 0")
    );
    assert_eq!(cron(&cap, &state, &["--notify", &ok]).stdout, "");
}

#[test]
fn failed_delivery_with_status_ok_exits_unknown() {
    let d = tempfile::tempdir().unwrap();
    let cap = d.path().join("empty-capture");
    fs::create_dir_all(&cap).unwrap();
    // Only a sysctl: no Docker, no findings but "no ruleset was read" (unknown).
    set_sysctl(&cap, 1, 1);
    let state = d.path().join("state");
    let r = cron(&cap, &state, &["--notify", "exit 1"]);
    assert_eq!(r.code, 3, "{}", r.stdout);
    assert!(r.stderr.contains("delivery failed"));
    assert!(!state.join("state.json").exists(), "state not advanced");
}

#[test]
fn corrupt_or_foreign_state_is_a_first_run_with_a_note() {
    let d = tempfile::tempdir().unwrap();
    let cap = facts_capture(d.path());
    let state = d.path().join("state");
    fs::create_dir_all(&state).unwrap();
    fs::write(state.join("state.json"), "{\"half\": ").unwrap();
    let r = cron(&cap, &state, &[]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("is not a fwdoctor state file"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("handled as a first run"));
    // The corrupt file was replaced by a good one: the next run is silent.
    assert_eq!(cron(&cap, &state, &[]).stdout, "");
}

#[test]
fn a_run_that_cannot_check_alerts_once_as_unknown() {
    let d = tempfile::tempdir().unwrap();
    let state = d.path().join("state");
    let missing = d.path().join("no-such-capture");
    let r = cron(&missing, &state, &[]);
    assert_eq!(r.code, 3, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("NEW      unknown  evidence-missing: could not check"),
        "{}",
        r.stdout
    );
    let r = cron(&missing, &state, &[]);
    assert_eq!((r.code, r.stdout.as_str()), (0, ""), "same failure, silent");
}

#[test]
fn json_change_report() {
    let d = tempfile::tempdir().unwrap();
    let cap = facts_capture(d.path());
    let state = d.path().join("state");
    set_sysctl(&cap, 0, 1);
    let r = cron(&cap, &state, &["--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["schema"], "fwdoctor-alert/1");
    assert_eq!(v["first_run"], true);
    assert_eq!(v["status"], "critical");
    assert!(
        v["new"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["check"] == "ip-forward-disabled")
    );
    set_sysctl(&cap, 1, 1);
    let r = cron(&cap, &state, &["--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["previous_status"], "critical");
    assert_eq!(v["resolved"][0]["check"], "ip-forward-disabled");
}

#[test]
fn a_second_run_waits_for_the_lock_then_exits_unknown() {
    use nix::fcntl::{Flock, FlockArg};
    let d = tempfile::tempdir().unwrap();
    let cap = facts_capture(d.path());
    let state = d.path().join("state");
    fs::create_dir_all(&state).unwrap();
    let f = fs::File::create(state.join("lock")).unwrap();
    let held = Flock::lock(f, FlockArg::LockExclusive)
        .map_err(|(_, e)| e)
        .unwrap();
    let r = cron(&cap, &state, &["--lock-wait", "1"]);
    assert_eq!(r.code, 3);
    assert!(r.stderr.contains("another fwdoctor run"), "{}", r.stderr);
    assert!(!state.join("state.json").exists());
    drop(held);
    assert_eq!(cron(&cap, &state, &["--lock-wait", "1"]).code, 2);
}

#[test]
fn concurrent_runs_alert_once() {
    let d = tempfile::tempdir().unwrap();
    let cap = facts_capture(d.path());
    let state = d.path().join("state");
    let runs: Vec<Run> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..4)
            .map(|_| s.spawn(|| cron(&cap, &state, &[])))
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let alerts = runs.iter().filter(|r| !r.stdout.is_empty()).count();
    assert_eq!(alerts, 1, "exactly one run reports the first-run alert");
    assert!(runs.iter().all(|r| r.stderr.is_empty()), "no errors");
}

#[test]
fn syslog_gets_one_line_per_change_with_its_priority() {
    let d = tempfile::tempdir().unwrap();
    let cap = facts_capture(d.path());
    let state = d.path().join("state");
    let sock_path = d.path().join("log.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let run = || {
        Command::cargo_bin("fwdoctor")
            .unwrap()
            .args(["check", "--cron", "--from"])
            .arg(&cap)
            .arg("--state-dir")
            .arg(&state)
            .env("FWDOCTOR_SYSLOG_SOCKET", &sock_path)
            .output()
            .unwrap()
    };
    let lines = || {
        let mut v = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = sock.recv(&mut buf) {
            v.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
        v
    };
    set_sysctl(&cap, 0, 1);
    run();
    let first = lines();
    let ip4 = first
        .iter()
        .find(|l| l.contains("ip-forward-disabled"))
        .expect("a line for the new finding");
    assert!(ip4.starts_with("<26>fwdoctor["), "daemon.crit: {ip4}");
    assert!(ip4.contains("]: new critical ip-forward-disabled: net.ipv4.ip_forward = 0"));
    assert!(
        first
            .iter()
            .any(|l| l.starts_with("<28>") && l.contains("snap-docker")),
        "warning: {first:?}"
    );
    assert!(
        first
            .iter()
            .any(|l| l.starts_with("<27>") && l.contains("evidence-missing")),
        "unknown: {first:?}"
    );
    // ip-forward-disabled, evidence-missing, snap-docker: with no ruleset read, Docker's chains
    // are not "missing" and the ports are unknown (not "blocked"), so neither
    // docker-chains-missing nor published-port-blocked has anything to say.
    assert_eq!(first.len(), 3, "one line per new finding: {first:?}");

    run();
    assert!(lines().is_empty(), "no change, no log");

    set_sysctl(&cap, 1, 1);
    run();
    let resolved = lines();
    assert_eq!(resolved.len(), 1, "{resolved:?}");
    for l in &resolved {
        assert!(l.starts_with("<29>fwdoctor["), "daemon.notice: {l}");
        assert!(
            l.contains("]: resolved critical ip-forward-disabled: net.ipv4"),
            "{l}"
        );
    }
}

/// Docker's classic iptables layout in iptables-nft, one published port (8080 -> 172.17.0.2:80).
const NFT_DOCKER: &str = "\
# Generated by iptables-nft-save v1.8.9 (nf_tables)
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:DOCKER - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER
-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
-A POSTROUTING -s 172.17.0.2/32 -d 172.17.0.2/32 -p tcp -m tcp --dport 80 -j MASQUERADE
-A DOCKER -i docker0 -j RETURN
-A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:DOCKER - [0:0]
:DOCKER-ISOLATION-STAGE-1 - [0:0]
:DOCKER-ISOLATION-STAGE-2 - [0:0]
:DOCKER-USER - [0:0]
-A FORWARD -j DOCKER-USER
-A FORWARD -j DOCKER-ISOLATION-STAGE-1
-A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A FORWARD -o docker0 -j DOCKER
-A FORWARD -i docker0 ! -o docker0 -j ACCEPT
-A FORWARD -i docker0 -o docker0 -j ACCEPT
-A DOCKER -d 172.17.0.2/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 80 -j ACCEPT
-A DOCKER-ISOLATION-STAGE-1 -i docker0 ! -o docker0 -j DOCKER-ISOLATION-STAGE-2
-A DOCKER-ISOLATION-STAGE-1 -j RETURN
-A DOCKER-ISOLATION-STAGE-2 -o docker0 -j DROP
-A DOCKER-ISOLATION-STAGE-2 -j RETURN
-A DOCKER-USER -j RETURN
COMMIT
";

fn legacy_filter(forward_policy: &str) -> String {
    format!(
        "# Generated by iptables-save v1.8.9\n*filter\n:INPUT ACCEPT [0:0]\n:FORWARD {forward_policy} [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n"
    )
}

/// The story on saved rulesets: Docker in iptables-nft, then something (an unattended
/// snap refresh) leaves the legacy FORWARD policy at DROP. Needs the iptables-save parser.
#[test]
fn legacy_forward_drop_appearing_between_runs_alerts_split_forward_drop() {
    let d = tempfile::tempdir().unwrap();
    let cap = d.path().join("capture");
    fs::create_dir_all(&cap).unwrap();
    fs::write(cap.join("iptables-nft-save.txt"), NFT_DOCKER).unwrap();
    fs::write(
        cap.join("iptables-legacy-save.txt"),
        legacy_filter("ACCEPT"),
    )
    .unwrap();
    fs::write(cap.join("legacy-tables.txt"), "filter\n").unwrap();
    fs::write(
        cap.join("iptables-alternative.txt"),
        "/usr/sbin/xtables-nft-multi\n",
    )
    .unwrap();
    set_sysctl(&cap, 1, 0);
    let state = d.path().join("state");

    let r = cron(&cap, &state, &[]);
    assert!(r.stdout.contains("(first run)"), "{}{}", r.stdout, r.stderr);
    assert!(
        !r.stdout.contains("split-forward-drop"),
        "healthy: {}",
        r.stdout
    );
    assert_eq!(cron(&cap, &state, &[]).stdout, "", "unchanged: silent");

    fs::write(cap.join("iptables-legacy-save.txt"), legacy_filter("DROP")).unwrap();
    let r = cron(&cap, &state, &[]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("NEW      critical split-forward-drop: "),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("iptables-legacy -t filter -P FORWARD ACCEPT"),
        "fix line: {}",
        r.stdout
    );
    assert_eq!(
        cron(&cap, &state, &[]).stdout,
        "",
        "still the same drift: silent"
    );

    fs::write(
        cap.join("iptables-legacy-save.txt"),
        legacy_filter("ACCEPT"),
    )
    .unwrap();
    let r = cron(&cap, &state, &[]);
    assert!(
        r.stdout.contains("RESOLVED critical split-forward-drop: "),
        "{}",
        r.stdout
    );
}
