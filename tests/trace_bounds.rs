//! Every trace ends, and soon, whatever the ruleset: a loop of gotos (which never deepens the
//! call stack), a tree of jumps that doubles at each level (decidable, or through matches the
//! engine cannot decide, so it follows both ways), 24 levels as the legacy kernel accepts and
//! 64. Each is an `iptables-save` file with two Docker-published ports: 9090 goes through the
//! hostile chains and is `unknown`, naming them; 8080 does not and still gets its verdict.
//! A deep but acyclic chain of jumps is still decided.

#[path = "../benches/common/worst.rs"]
mod worst;

use assert_cmd::Command;
use std::time::Duration;
use worst::{diamond, goto_ring, linear, ruleset};

/// Far above what these take now (milliseconds to a few seconds each, in a debug build), far
/// below the minutes and gigabytes they took before the bounds.
const LIMIT: Duration = Duration::from_secs(60);

struct Run {
    code: Option<i32>,
    stdout: String,
}

fn fwdoctor(args: &[&str], file: &std::path::Path) -> Run {
    let out = Command::cargo_bin("fwdoctor")
        .unwrap()
        .args(args)
        .arg("--from")
        .arg(file)
        .env("COLUMNS", "400")
        .timeout(LIMIT)
        .output()
        .unwrap();
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
    }
}

/// The JSON report's verdict of `port`.
fn port_verdict(report: &str, port: u64) -> String {
    let v: serde_json::Value = serde_json::from_str(report).expect("json report");
    let entry = v["ports"]
        .as_array()
        .expect("ports")
        .iter()
        .find(|p| p["host_port"] == port)
        .unwrap_or_else(|| panic!("port {port} in {report}"));
    entry["verdict"].as_str().unwrap().to_string()
}

/// A capture in `dir` holding `text` as the iptables-nft dump and every other part of the
/// firewall empty (no legacy table, no native nft table, forwarding on), so a verdict from it
/// needs nothing the capture lacks.
fn capture_of(dir: &std::path::Path, text: &str) -> std::path::PathBuf {
    let cap = dir.join("capture");
    std::fs::create_dir(&cap).unwrap();
    for (file, content) in [
        ("iptables-nft-save.txt", text),
        ("legacy-tables.txt", ""),
        ("nft-ruleset.json", r#"{"nftables": []}"#),
        ("sysctl.txt", "net.ipv4.ip_forward = 1\n"),
    ] {
        std::fs::write(cap.join(file), content).unwrap();
    }
    cap
}

/// `check` and `trace` of `text` end within [`LIMIT`] (not killed), port 9090 is unknown with
/// `expect` in the output, port 8080 keeps its verdict.
fn assert_bounded(name: &str, text: &str, expect: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let file = capture_of(dir.path(), text);

    let check = fwdoctor(&["check", "--format", "json"], &file);
    assert_eq!(check.code, Some(3), "{name}: check exit\n{}", check.stdout);
    assert_eq!(port_verdict(&check.stdout, 9090), "unknown", "{name}");
    assert_eq!(port_verdict(&check.stdout, 8080), "reachable", "{name}");
    let human = fwdoctor(&["check"], &file);
    for e in expect {
        assert!(
            human.stdout.contains(e),
            "{name}: {e:?} in\n{}",
            human.stdout
        );
    }

    let trace = fwdoctor(&["trace", "tcp", "any", "->", "host:9090"], &file);
    assert_eq!(trace.code, Some(3), "{name}: trace exit\n{}", trace.stdout);
    assert!(
        trace.stdout.contains("UNKNOWN"),
        "{name}:\n{}",
        trace.stdout
    );
    for e in expect {
        assert!(
            trace.stdout.contains(e),
            "{name}: {e:?} in\n{}",
            trace.stdout
        );
    }
    let other = fwdoctor(&["trace", "tcp", "any", "->", "host:8080"], &file);
    assert_eq!(other.code, Some(0), "{name}: trace 8080\n{}", other.stdout);
}

#[test]
fn a_goto_ring_is_unknown_naming_the_loop() {
    assert_bounded(
        "goto-ring",
        &goto_ring(),
        &[
            "chain L0 is on a loop of jumps (L0 -> L1 -> L0)",
            "malformed",
        ],
    );
}

#[test]
fn a_jump_to_itself_is_unknown_naming_the_loop() {
    let text = ruleset(&["L0".to_string()], &["-A L0 -j L0".to_string()]);
    assert_bounded(
        "self-jump",
        &text,
        &["chain L0 is on a loop of jumps (L0 -> L0)"],
    );
}

#[test]
fn an_undecidable_diamond_of_24_levels_stops_at_the_step_budget() {
    assert_bounded(
        "diamond-24",
        &diamond(24, true),
        &[
            "the trace stopped after 1000000 rule evaluations",
            "filter L",
        ],
    );
}

#[test]
fn an_undecidable_diamond_of_64_levels_stops_at_the_step_budget() {
    assert_bounded(
        "diamond-64",
        &diamond(64, true),
        &[
            "the trace stopped after 1000000 rule evaluations",
            "filter L",
        ],
    );
}

#[test]
fn a_decidable_diamond_is_walked_once_per_chain_and_decided() {
    // 24 levels: 2^24 walks of the bottom chain before each chain's return was remembered.
    let dir = tempfile::tempdir().unwrap();
    let file = capture_of(dir.path(), &diamond(24, false));
    let check = fwdoctor(&["check", "--format", "json"], &file);
    assert_eq!(check.code, Some(0), "{}", check.stdout);
    assert_eq!(port_verdict(&check.stdout, 9090), "reachable");
    assert_eq!(port_verdict(&check.stdout, 8080), "reachable");
}

#[test]
fn a_decidable_diamond_deeper_than_the_jump_limit_is_unknown_naming_the_depth() {
    assert_bounded(
        "deep-diamond",
        &diamond(64, false),
        &["jumps nest deeper than 64", "filter L6"],
    );
}

#[test]
fn a_deep_acyclic_chain_of_jumps_is_still_decided() {
    let dir = tempfile::tempdir().unwrap();
    let file = capture_of(dir.path(), &linear(30));
    let check = fwdoctor(&["check", "--format", "json"], &file);
    assert_eq!(check.code, Some(0), "{}", check.stdout);
    assert_eq!(port_verdict(&check.stdout, 9090), "reachable");
    let trace = fwdoctor(&["trace", "tcp", "any", "->", "host:9090"], &file);
    assert_eq!(trace.code, Some(0), "{}", trace.stdout);
    assert!(
        trace
            .stdout
            .contains("-A L30 -p tcp -m tcp --dport 80 -j ACCEPT")
    );
}

#[test]
fn every_one_of_many_published_ports_gets_its_own_verdict() {
    // Each port's trace evaluates only the DOCKER rules for its own port and container (the
    // chains are indexed), so a check is linear in the ports: 16k take seconds here (a debug
    // build), where walking the chains whole took 11 s in a release build, and so over
    // [`LIMIT`] in this one. The benchmark's `--worst-case` measures 16k and 32k; this test
    // checks that each port still meets its own rules, with the timeout as the guard.
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("capture");
    worst::many_ports_capture(&capture, 16_000);
    let check = fwdoctor(&["check", "--format", "json"], &capture);
    assert_eq!(check.code, Some(0), "{}", &check.stdout[..2000]);
    let v: serde_json::Value = serde_json::from_str(&check.stdout).unwrap();
    let ports = v["ports"].as_array().unwrap();
    let ipv4: Vec<&serde_json::Value> =
        ports.iter().filter(|p| p["host_ip"] == "0.0.0.0").collect();
    assert_eq!(ipv4.len(), 16_000);
    for (i, p) in ipv4.iter().enumerate() {
        assert_eq!(p["host_port"], 10000 + i as u64, "{p}");
        assert_eq!(p["container_port"], 20000 + i as u64, "{p}");
        assert_eq!(p["verdict"], "reachable", "{p}");
    }
}
