//! Every fixture under fixtures/ is checked with `fwdoctor check --from DIR --format json`:
//! - `expect.json` gives the exit code, status, findings that must and must not appear;
//! - `truth.json` (lab captures) gives what curl really did: every published port's verdict
//!   must equal what curl saw from outside, and every path of every family (`paths.ipv4`,
//!   `paths.ipv6`: outside, container_direct, host_loopback, host_address) what curl saw there.

mod common;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn fixture_dirs() -> Vec<PathBuf> {
    common::fixture_dirs_with(&["expect.json", "truth.json"])
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
    let mut paths_checked = 0;
    let mut clients_checked = 0;
    let mut other_owners_checked = 0;
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
                let Some(p) = ports.iter().find(|p| {
                    p["host_port"].as_u64() == port && p["proto"] == proto && p["family"] == "ipv4"
                }) else {
                    failures.push(format!("{name}: port {port:?}/{proto} not in the report"));
                    continue;
                };
                // Curl from several client addresses (lab_add_client): each must get the
                // verdict of the class of `by_client` holding it, the headline is the one of
                // an address no rule names ("elsewhere").
                let by_client = t["clients"].as_object();
                if let Some(clients) = by_client {
                    clients_checked += judge_clients(&name, p, clients, &mut failures);
                }
                // Whose port it is (lab/podman.sh: Podman's beside Docker's): the report must
                // say the same owner, or no owner only for Docker's.
                if let Some(owner) = t["owner"].as_str() {
                    if p["owner"] != owner {
                        failures.push(format!(
                            "{name}: port {port:?}: owner {} but the lab's port is {owner}'s",
                            p["owner"]
                        ));
                    }
                    if owner != "docker" {
                        other_owners_checked += 1;
                    }
                }
                let want = t["outside"].as_str().expect("outside verdict");
                if by_client.is_none() && p["verdict"] != want {
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
                // Every path of every family curl tried (lab.sh's truth "paths").
                for (family, paths) in t["paths"].as_object().into_iter().flatten() {
                    let Some(entry) = ports.iter().find(|p| {
                        p["host_port"].as_u64() == port
                            && p["proto"] == proto
                            && p["family"] == *family
                    }) else {
                        // Not published over this family (Docker lists no `::` entry): right
                        // only where curl got through on no path of it.
                        let open: Vec<&String> = (paths.as_object().into_iter().flatten())
                            .filter(|(_, v)| *v != "blocked")
                            .map(|(k, _)| k)
                            .collect();
                        if !open.is_empty() {
                            failures.push(format!(
                                "{name}: port {port:?}/{proto} {family}: no entry in the report, but curl got through on {open:?}"
                            ));
                        }
                        continue;
                    };
                    for (path, want) in paths.as_object().expect("paths per family") {
                        // As above: without Docker's API, docker-proxy on loopback is unknown.
                        if no_docker_api
                            && path == "host_loopback"
                            && entry["paths"][path]["verdict"] == "unknown"
                        {
                            continue;
                        }
                        // From the lab's private client: judged by its class above.
                        if by_client.is_some()
                            && family == "ipv4"
                            && matches!(path.as_str(), "outside" | "container_direct")
                        {
                            continue;
                        }
                        paths_checked += 1;
                        let got = &entry["paths"][path];
                        if got["verdict"] != *want {
                            failures.push(format!(
                                "{name}: port {port:?} {family} {path}: {} but curl was {want} ({})",
                                got["verdict"], got["reason"]
                            ));
                        }
                    }
                    if entry["paths"]["outside"]["verdict"] != entry["verdict"] {
                        failures.push(format!(
                            "{name}: port {port:?} {family}: paths.outside differs from the verdict"
                        ));
                    }
                }
            }
        }
    }
    // ufw-docker-recipe-by-client: a private and a public client, in different classes.
    assert!(
        clients_checked >= 2,
        "only {clients_checked} client addresses had a truth to check"
    );
    // podman-beside-docker and its healthy counterpart: Podman's port in each.
    assert!(
        other_owners_checked >= 2,
        "only {other_owners_checked} ports of another runtime had a truth to check"
    );
    // The five ipv6-* lab scenarios at least: one port each, 4 paths x 2 families.
    assert!(
        paths_checked >= 5 * 8,
        "only {paths_checked} paths had a truth to check"
    );
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

fn fwdoctor_in(dir: &str, args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_fwdoctor"))
        .args(args)
        .arg("--from")
        .arg(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("fixtures/lab")
                .join(dir),
        )
        .env("COLUMNS", "100")
        .output()
        .expect("fwdoctor runs");
    (
        out.status.code().expect("exit code"),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// `trace` for each path of a dual-stack port, on the lab capture where curl over IPv6 from
/// outside timed out (ip6tables-legacy FORWARD DROP) and everything else worked.
#[test]
fn trace_follows_every_path_and_family_as_curl_did() {
    let lab = "ipv6-legacy-forward-drop";
    let (code, json) = fwdoctor_in(
        lab,
        &[
            "trace",
            "tcp",
            "any",
            "to",
            "host:8080",
            "-6",
            "--format",
            "json",
        ],
    );
    assert_eq!(code, 2, "{json}");
    let t: Value = serde_json::from_str(&json).expect("JSON trace");
    assert_eq!(t["verdict"]["by"]["stack"], "legacy");
    assert_eq!(t["verdict"]["by"]["family"], "ip6");
    assert_eq!(t["verdict"]["by"]["chain"], "FORWARD");

    // The host's own connections start in OUTPUT: [::1] goes to docker-proxy, the host's own
    // address is DNATed in nat OUTPUT and its reply comes back through INPUT.
    let (code, text) = fwdoctor_in(lab, &["trace", "tcp", "host", "to", "[::1]:8080"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("from the host itself (OUTPUT)"), "{text}");
    assert!(text.starts_with("tcp ::1 -> [::1]:8080"), "{text}");
    let (code, json) = fwdoctor_in(
        lab,
        &[
            "trace",
            "tcp",
            "host",
            "to",
            "host:8080",
            "-6",
            "--format",
            "json",
        ],
    );
    assert_eq!(code, 0, "{json}");
    let t: Value = serde_json::from_str(&json).expect("JSON trace");
    assert_eq!(t["steps"][0]["hook"], "output", "{t:#}");
    assert_eq!(t["reply"]["route"], "local", "{t:#}");
    assert_eq!(t["reply"]["verdict"]["verdict"], "accept", "{t:#}");

    // Straight to the container's IPv6 address: the same legacy drop; IPv4: through, and back.
    let (code, _) = fwdoctor_in(
        lab,
        &["trace", "tcp", "any", "to", "[fd00:d0c::242:ac11:2]:80"],
    );
    assert_eq!(code, 2);
    let (code, json) = fwdoctor_in(
        lab,
        &[
            "trace",
            "tcp",
            "any",
            "to",
            "172.17.0.2:80",
            "--format",
            "json",
        ],
    );
    assert_eq!(code, 0, "{json}");
    let t: Value = serde_json::from_str(&json).expect("JSON trace");
    assert_eq!(t["reply"]["verdict"]["verdict"], "accept", "{t:#}");

    // A reply the host's INPUT drops (legacy INPUT policy DROP, no ESTABLISHED rule): the
    // host's connection to its own address fails, as curl did.
    let (code, json) = fwdoctor_in(
        "input-drop",
        &[
            "trace",
            "tcp",
            "host",
            "to",
            "host:8080",
            "--format",
            "json",
        ],
    );
    assert_eq!(code, 2, "{json}");
    let t: Value = serde_json::from_str(&json).expect("JSON trace");
    assert_eq!(
        t["verdict"]["verdict"], "accept",
        "the way in passes: {t:#}"
    );
    assert_eq!(t["reply"]["verdict"]["by"]["chain"], "INPUT", "{t:#}");

    // `check` names the blocked paths and the trace for each.
    let (code, text) = fwdoctor_in(lab, &["check"]);
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains("port 8080/tcp (IPv6) (web1:80) on :: is blocked from outside"),
        "{text}"
    );
    assert!(
        text.contains("fwdoctor trace tcp any to host:8080 -6"),
        "{text}"
    );
    assert!(
        text.contains("fwdoctor trace tcp any to '[fd00:d0c::242:ac11:2]:80'"),
        "{text}"
    );
    assert!(text.contains("1 of 1 published ports blocked"), "{text}");
    // Below 100 columns, one line per blocked path under the table.
    let out = Command::new(env!("CARGO_BIN_EXE_fwdoctor"))
        .args(["check", "--from"])
        .arg(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("fixtures/lab")
                .join(lab),
        )
        .env("COLUMNS", "80")
        .output()
        .expect("fwdoctor runs");
    let narrow = String::from_utf8_lossy(&out.stdout);
    assert!(
        narrow.contains("[::]:8080/tcp direct: ✗ blocked: legacy ip6 filter FORWARD: policy DROP"),
        "{narrow}"
    );
}

/// Every client address curl tried against the `by_client` class that holds it; returns how
/// many were judged.
fn judge_clients(
    name: &str,
    entry: &Value,
    clients: &serde_json::Map<String, Value>,
    failures: &mut Vec<String>,
) -> usize {
    let classes = entry["by_client"].as_array().cloned().unwrap_or_default();
    if classes.is_empty() {
        failures.push(format!(
            "{name}: curl differed by client address ({clients:?}) but the report has no by_client"
        ));
        return 0;
    }
    let mut judged = 0;
    for (addr, want) in clients {
        let ip: std::net::IpAddr = addr.parse().expect("client address");
        let holds = |c: &&Value| {
            c["from"]
                .as_str()
                .and_then(|f| f.parse::<ipnet::IpNet>().ok())
                .is_some_and(|n| n.contains(&ip))
        };
        let narrowest = classes.iter().filter(holds).max_by_key(|c| {
            c["from"]
                .as_str()
                .and_then(|f| f.parse::<ipnet::IpNet>().ok())
                .map(|n| n.prefix_len())
        });
        let (class, headline) = match narrowest {
            Some(c) => (c, false),
            None => match classes.iter().find(|c| c["from"] == "elsewhere") {
                Some(c) => (c, true),
                None => {
                    failures.push(format!("{name}: no class holds client {addr}"));
                    continue;
                }
            },
        };
        judged += 1;
        if class["verdict"] != *want {
            failures.push(format!(
                "{name}: from {addr} (class {}): {} but curl was {want}",
                class["from"], class["verdict"]
            ));
        }
        if headline && entry["verdict"] != *want {
            failures.push(format!(
                "{name}: headline {} but curl from {addr} (elsewhere) was {want}",
                entry["verdict"]
            ));
        }
    }
    judged
}

/// The lab's firewalld scenarios (lab/firewalld.sh) each have a fixture with curl's truth, an
/// expect.json and a README, captured from a running firewalld (its state and zones).
#[test]
fn every_firewalld_scenario_has_its_fixture() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let script = std::fs::read_to_string(root.join("lab/firewalld.sh")).expect("lab/firewalld.sh");
    let list = script
        .lines()
        .find_map(|l| l.strip_prefix("LAB_FIREWALLD_SCENARIOS=("))
        .expect("LAB_FIREWALLD_SCENARIOS in lab/firewalld.sh");
    let names: Vec<&str> = list.trim_end_matches(')').split_whitespace().collect();
    assert!(names.len() >= 3, "firewalld scenarios found: {names:?}");
    let mut missing = Vec::new();
    for n in &names {
        let dir = root.join("fixtures/lab").join(n);
        for f in ["meta.json", "truth.json", "expect.json", "README.md"] {
            if !dir.join(f).exists() {
                missing.push(format!("fixtures/lab/{n}/{f}"));
            }
        }
        let state = std::fs::read_to_string(dir.join("firewalld-state.txt")).unwrap_or_default();
        if state.trim() != "running" {
            missing.push(format!(
                "fixtures/lab/{n}/firewalld-state.txt: not `running`"
            ));
        }
        let zones = std::fs::read_to_string(dir.join("firewalld-zones.txt")).unwrap_or_default();
        if !zones.lines().any(|l| l.starts_with("public")) {
            missing.push(format!(
                "fixtures/lab/{n}/firewalld-zones.txt: no zones listed"
            ));
        }
    }
    assert!(missing.is_empty(), "missing: {missing:?}");
}

/// firewalld 1.3's real ruleset (`table inet firewalld`, with `icmpv6 type { ... } accept` in
/// filter_PREROUTING, `ct status dnat`, fib and set matches; or its iptables backend's chains)
/// gives a decided verdict on every path of every port: never `unknown`, and no
/// evidence-missing finding.
#[test]
fn firewalld_rulesets_give_decided_verdicts_on_every_path() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/lab");
    let mut paths = 0;
    for n in [
        "firewalld-docker-publish",
        "firewalld-started-after-docker",
        "firewalld-strict-forward-ports",
        "firewalld-iptables-backend",
    ] {
        let dir = root.join(n);
        if n == "firewalld-iptables-backend" {
            // The iptables backend: firewalld's chains in iptables-nft, no nft table of its own.
            let save = std::fs::read_to_string(dir.join("iptables-nft-save.txt")).expect("save");
            assert!(
                save.contains(":INPUT_ZONES") && save.contains("-j IN_public"),
                "{n}"
            );
        } else {
            let nft = std::fs::read_to_string(dir.join("nft-table-inet-firewalld.json"))
                .expect("firewalld's table in the capture");
            assert!(
                nft.contains("\"icmpv6\"") && nft.contains("\"filter_PREROUTING\""),
                "{n}: the capture lacks firewalld's icmpv6 rule in filter_PREROUTING"
            );
        }
        let (_, report) = check(&dir);
        let checks: Vec<&str> = report["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .filter_map(|f| f["check"].as_str())
            .collect();
        assert!(!checks.contains(&"evidence-missing"), "{n}: {checks:?}");
        assert_ne!(report["status"], "unknown", "{n}");
        let ports = report["ports"].as_array().expect("ports");
        assert!(!ports.is_empty(), "{n}: no ports");
        for p in ports {
            assert_ne!(p["verdict"], "unknown", "{n}: {p}");
            for (path, v) in p["paths"].as_object().expect("paths") {
                paths += 1;
                assert_ne!(v["verdict"], "unknown", "{n}: {path} of {p}");
            }
        }
    }
    assert!(paths >= 4 * 2 * 4, "only {paths} paths judged");
}

/// Every scenario of lab/podman.sh has its fixture (capture, curl's truth with the port's
/// owner, README, expectations).
#[test]
fn every_podman_scenario_has_its_fixture() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let script = std::fs::read_to_string(root.join("lab/podman.sh")).expect("lab/podman.sh");
    let list = script
        .lines()
        .find_map(|l| l.strip_prefix("LAB_PODMAN_SCENARIOS=("))
        .expect("LAB_PODMAN_SCENARIOS in lab/podman.sh");
    let names: Vec<&str> = list.trim_end_matches(')').split_whitespace().collect();
    assert!(names.len() >= 2, "podman scenarios found: {names:?}");
    let mut missing = Vec::new();
    for n in &names {
        let dir = root.join("fixtures/lab").join(n);
        for f in ["meta.json", "truth.json", "expect.json", "README.md"] {
            if !dir.join(f).exists() {
                missing.push(format!("fixtures/lab/{n}/{f}"));
            }
        }
        let truth = std::fs::read_to_string(dir.join("truth.json")).unwrap_or_default();
        if !truth.contains("\"owner\": \"podman\"") {
            missing.push(format!("fixtures/lab/{n}/truth.json: no port of Podman's"));
        }
    }
    assert!(missing.is_empty(), "missing: {missing:?}");
}

/// `trace` of Podman's blocked port: DNATed by CNI's chains, forwarded out cni-podman0 (the
/// interface ip-addr.json gives its subnet, not "unknown interface"), dropped by Docker's
/// FORWARD policy; with the DOCKER-USER accepts it is accepted.
#[test]
fn trace_of_podmans_port_names_cni_podman0_and_dockers_drop() {
    let (code, text) = fwdoctor_in(
        "podman-beside-docker",
        &["trace", "tcp", "any", "to", "host:8090"],
    );
    assert!(text.contains("-> now to 10.88.0.2:80"), "{text}");
    assert!(text.contains("route: forwarded out cni-podman0"), "{text}");
    assert!(!text.contains("unknown interface"), "{text}");
    assert!(
        text.contains("verdict: DROPPED by iptables-nft ip filter FORWARD: policy DROP"),
        "{text}"
    );
    assert_ne!(code, 0, "{text}");
    let (_, ok) = fwdoctor_in(
        "podman-beside-docker-user-accept",
        &["trace", "tcp", "any", "to", "host:8090"],
    );
    assert!(ok.contains("route: forwarded out cni-podman0"), "{ok}");
    assert!(
        ok.contains("-A DOCKER-USER -i cni-podman0 -j ACCEPT")
            || ok.contains("-A DOCKER-USER -o cni-podman0 -j ACCEPT"),
        "{ok}"
    );
    assert!(ok.contains("verdict: ACCEPTED"), "{ok}");
}

/// The reply of a published port's connection leaves by the interface the client came in on
/// (the host's outside interface from ip-addr.json), not "unknown interface".
#[test]
fn the_reply_to_the_client_outside_leaves_by_the_outside_interface() {
    let (code, text) = fwdoctor_in("healthy", &["trace", "tcp", "any", "to", "host:8080"]);
    assert_eq!(code, 0, "{text}");
    let inbound = text
        .lines()
        .next()
        .and_then(|l| l.rsplit(" in ").next())
        .expect("the first line names the interface the client comes in by")
        .to_string();
    assert!(inbound.starts_with("fwlh"), "{text}");
    let (_, reply) = text
        .split_once("reply, from the container back:")
        .expect("a reply leg");
    assert!(
        reply.contains(&format!("route: forwarded out {inbound}")),
        "{text}"
    );
    assert!(!text.contains("unknown interface"), "{text}");
}
