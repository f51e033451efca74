//! Every fixture under fixtures/ is checked with `fwdoctor check --from DIR --format json`:
//! - `expect.json` gives the exit code, status, findings that must and must not appear;
//! - `truth.json` (lab captures) gives what curl really did: every published port's verdict
//!   must equal what curl saw from outside.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn fixture_dirs() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let mut out = Vec::new();
    for group in std::fs::read_dir(&root).expect("fixtures/ exists") {
        let group = group.expect("readable").path();
        if !group.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(&group).expect("readable") {
            let f = f.expect("readable").path();
            if f.join("expect.json").exists() || f.join("truth.json").exists() {
                out.push(f);
            }
        }
    }
    out.sort();
    out
}

fn check(dir: &Path) -> (i32, Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_fwdoctor"))
        .args(["check", "--format", "json", "--from"])
        .arg(dir)
        .output()
        .expect("fwdoctor runs");
    let code = out.status.code().expect("exit code");
    let json: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{}: no JSON report ({e}); stderr: {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (code, json)
}

fn read_json(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).expect("readable")).expect("valid JSON")
}

#[test]
fn every_fixture_meets_its_expectations() {
    let dirs = fixture_dirs();
    assert!(
        dirs.len() >= 8,
        "expected the lab and realworld fixtures, found {}",
        dirs.len()
    );
    let mut failures = Vec::new();
    for dir in &dirs {
        let (code, report) = check(dir);
        let name = dir
            .strip_prefix(env!("CARGO_MANIFEST_DIR"))
            .unwrap_or(dir)
            .display()
            .to_string();
        let checks: Vec<&str> = report["findings"]
            .as_array()
            .expect("findings array")
            .iter()
            .filter_map(|f| f["check"].as_str())
            .collect();
        if dir.join("expect.json").exists() {
            let e = read_json(&dir.join("expect.json"));
            if let Some(want) = e["exit"].as_i64()
                && i64::from(code) != want
            {
                failures.push(format!("{name}: exit {code}, expected {want}"));
            }
            if let Some(want) = e["status"].as_str()
                && report["status"] != want
            {
                failures.push(format!(
                    "{name}: status {}, expected {want}",
                    report["status"]
                ));
            }
            for c in e["findings"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                if !checks.contains(&c) {
                    failures.push(format!("{name}: missing finding {c} (got {checks:?})"));
                }
            }
            for c in e["absent"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                if checks.contains(&c) {
                    failures.push(format!("{name}: unexpected finding {c}"));
                }
            }
            for want in e["layouts"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                let layouts = report["host"]["docker_rules"].to_string();
                if !layouts.contains(&format!("\"{want}\"")) {
                    failures.push(format!(
                        "{name}: Docker layout {want} not detected ({layouts})"
                    ));
                }
            }
            for want in e["ports"].as_array().into_iter().flatten() {
                let got = report["ports"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|p| p["host_port"] == want["host_port"]);
                match got {
                    Some(p) if p["verdict"] == want["verdict"] => {}
                    Some(p) => failures.push(format!(
                        "{name}: port {}: verdict {}, expected {}",
                        want["host_port"], p["verdict"], want["verdict"]
                    )),
                    None => failures.push(format!(
                        "{name}: port {} not in the report",
                        want["host_port"]
                    )),
                }
            }
            for (i, needle) in e["mentions"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .enumerate()
            {
                if !report["findings"].to_string().contains(needle) {
                    failures.push(format!("{name}: findings do not mention #{i} `{needle}`"));
                }
            }
        }
        if dir.join("truth.json").exists() {
            let truth = read_json(&dir.join("truth.json"));
            let ports = report["ports"].as_array().expect("ports array");
            // A stopped container publishes nothing: Docker lists running containers only.
            for t in truth["ports"]
                .as_array()
                .expect("truth ports")
                .iter()
                .filter(|t| t["container_state"].as_str().is_none_or(|s| s == "running"))
            {
                let port = t["host_port"].as_u64();
                let proto = t["proto"].as_str().unwrap_or("tcp");
                let Some(p) = ports
                    .iter()
                    .find(|p| p["host_port"].as_u64() == port && p["proto"] == proto)
                else {
                    failures.push(format!("{name}: port {port:?}/{proto} not in the report"));
                    continue;
                };
                let want = t["outside"].as_str().expect("outside verdict");
                if p["verdict"] != want {
                    failures.push(format!(
                        "{name}: port {port:?}: verdict {} but curl from outside was {want} ({})",
                        p["verdict"], p["reason"]
                    ));
                }
                // Without Docker's API (lab/layouts.sh: rules loaded by hand, no daemon) nothing
                // says whether docker-proxy serves 127.0.0.1: `unknown` is the honest answer
                // there, the opposite of what curl saw never is.
                let loopback = &p["paths"]["host_loopback"]["verdict"];
                let no_docker_api = !dir.join("docker-containers.json").exists();
                if let Some(want) = t["host_loopback"].as_str()
                    && loopback != want
                    && !(no_docker_api && loopback == "unknown")
                {
                    failures.push(format!(
                        "{name}: port {port:?}: host_loopback {} but curl from the host to 127.0.0.1 was {want}",
                        p["paths"]["host_loopback"]["verdict"]
                    ));
                }
                if p["paths"]["outside"]["verdict"] != p["verdict"] {
                    failures.push(format!(
                        "{name}: port {port:?}: paths.outside {} differs from the verdict {}",
                        p["paths"]["outside"]["verdict"], p["verdict"]
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} fixture failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// `fwdoctor trace` on the report's bug names the legacy FORWARD policy DROP as the drop, and
/// shows the iptables-nft rules that accepted the same packet on the same hook.
#[test]
fn trace_on_the_reports_bug_names_the_drop_and_the_accepts() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/lab/report-bug");
    let out = Command::new(env!("CARGO_BIN_EXE_fwdoctor"))
        .args([
            "trace",
            "tcp",
            "any",
            "->",
            "host:8080",
            "--format",
            "json",
            "--from",
        ])
        .arg(&dir)
        .output()
        .expect("fwdoctor runs");
    assert_eq!(out.status.code(), Some(2), "a dropped packet exits 2");
    let t: Value = serde_json::from_slice(&out.stdout).expect("JSON trace");
    assert_eq!(t["verdict"]["verdict"], "drop");
    let by = &t["verdict"]["by"];
    assert_eq!(by["stack"], "legacy");
    assert_eq!(by["table"], "filter");
    assert_eq!(by["chain"], "FORWARD");
    assert_eq!(by["rule"], "policy DROP");
    let steps = t["steps"].as_array().expect("steps");
    let nft_forward = steps
        .iter()
        .find(|s| s["hook"] == "forward" && s["stack"] == "iptables-nft")
        .expect("the iptables-nft FORWARD chain is in the trace");
    assert_eq!(nft_forward["verdict"]["verdict"], "accept");
    let accepted_by = nft_forward["verdict"]["by"]["rule"]
        .as_str()
        .expect("accepting rule");
    assert!(
        accepted_by.contains("-A DOCKER -d 172.17.0.2/32") && accepted_by.ends_with("-j ACCEPT"),
        "{accepted_by}"
    );
    // The DNAT in nat PREROUTING happened first.
    assert!(
        steps
            .iter()
            .any(|s| s["hook"] == "prerouting" && s["rewrote"] == "172.17.0.2:80")
    );

    let human = Command::new(env!("CARGO_BIN_EXE_fwdoctor"))
        .args(["trace", "tcp", "any", "->", "host:8080", "--from"])
        .arg(&dir)
        .output()
        .expect("fwdoctor runs");
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(
        text.contains("verdict: DROPPED by legacy ip filter FORWARD: policy DROP"),
        "{text}"
    );
    assert!(
        text.contains("iptables-nft filter FORWARD: accept"),
        "{text}"
    );
}

/// Every Docker 28/29 layout scenario of lab/layouts.sh has its fixture: the capture, curl's
/// truth, the README saying where its rules came from, and the expectations this file checks.
#[test]
fn every_layout_scenario_has_its_fixture() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let script = std::fs::read_to_string(root.join("lab/layouts.sh")).expect("lab/layouts.sh");
    let names: Vec<String> = script
        .lines()
        .filter_map(|l| {
            let l = l.trim().strip_prefix('"')?.strip_suffix('"')?;
            let (layout, breakage) = l.split_once(' ')?;
            layout
                .starts_with("docker")
                .then(|| format!("{layout}-{breakage}"))
        })
        .collect();
    assert!(names.len() >= 15, "layout scenarios found: {names:?}");
    let mut missing = Vec::new();
    for n in &names {
        let dir = root.join("fixtures/lab").join(n);
        for f in ["meta.json", "truth.json", "expect.json", "README.md"] {
            if !dir.join(f).exists() {
                missing.push(format!("fixtures/lab/{n}/{f}"));
            }
        }
        let readme = std::fs::read_to_string(dir.join("README.md")).unwrap_or_default();
        if !readme.contains("integration/network/bridge/") {
            missing.push(format!("fixtures/lab/{n}/README.md: no moby source path"));
        }
    }
    assert!(missing.is_empty(), "missing: {missing:?}");
}
