//! Issue 13: never a clean verdict from a partial view. Each test takes evidence away from a
//! real lab capture (or runs where rules cannot be read) and checks that no verdict is `ok`,
//! `reachable` or `ACCEPTED` where what it needed was missing, and that the report says what
//! to run to read it.

use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const FWDOCTOR: &str = env!("CARGO_BIN_EXE_fwdoctor");

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/lab")
        .join(name)
}

/// A copy of lab fixture `name` in `dir`, without the files in `drop`.
fn copy_without(name: &str, drop: &[&str], dir: &Path) -> PathBuf {
    let cap = dir.join(name);
    fs::create_dir(&cap).unwrap();
    for e in fs::read_dir(fixture(name)).unwrap() {
        let e = e.unwrap();
        let file = e.file_name().into_string().unwrap();
        if !drop.contains(&file.as_str()) {
            fs::copy(e.path(), cap.join(&file)).unwrap();
        }
    }
    cap
}

fn run(args: &[&str], from: &Path) -> Output {
    Command::new(FWDOCTOR)
        .args(args)
        .arg("--from")
        .arg(from)
        .env("COLUMNS", "100")
        .output()
        .unwrap()
}

fn report(from: &Path) -> (i32, Value) {
    let out = run(&["check", "--format", "json"], from);
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{}: no JSON ({e}): {}",
            from.display(),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap(), json)
}

fn verdicts(r: &Value) -> Vec<String> {
    r["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["verdict"].as_str().unwrap().to_string())
        .collect()
}

/// `fwdoctor ARGS` live, in a network namespace of its own (`unshare -n`: nothing of this
/// machine's firewall is read), as root or, with `as_nobody`, as uid 65534.
fn live(args: &[&str], env: &[(&str, &str)], as_nobody: bool) -> Output {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test needs root (unshare -n, setpriv)"
    );
    let mut cmd = Command::new("unshare");
    cmd.arg("-n");
    if as_nobody {
        cmd.args([
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
        ]);
    }
    cmd.arg(FWDOCTOR)
        .args(args)
        .envs(env.iter().copied())
        .env("COLUMNS", "300")
        .current_dir("/")
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn a_capture_without_the_loaded_legacy_stacks_dump_is_unknown_and_says_what_to_paste() {
    let d = tempfile::tempdir().unwrap();
    let cap = copy_without("report-bug", &["iptables-legacy-save.txt"], d.path());
    let (code, r) = report(&cap);
    assert_eq!(code, 3, "{r:#}");
    assert_eq!(r["status"], "unknown");
    // IPv4 and IPv6 (docker-proxy carries `::` to the container's IPv4, through the unread
    // legacy stack too).
    assert_eq!(verdicts(&r), ["unknown", "unknown"]);
    let findings = r["findings"].to_string();
    assert!(
        findings.contains("legacy tables are loaded (filter)"),
        "{findings}"
    );
    assert!(findings.contains("sudo iptables-legacy-save"), "{findings}");
    let unseen = &r["host"]["unseen"]["rules"];
    assert_eq!(unseen[0]["stack"], "legacy", "{unseen}");
    assert_eq!(
        unseen[0]["read_with"], "sudo iptables-legacy-save",
        "{unseen}"
    );

    let human = text(&run(&["check"], &cap));
    assert!(!human.contains("✓ ok"), "{human}");
    let trace = run(&["trace", "tcp", "any", "to", "host:8080"], &cap);
    assert_eq!(trace.status.code(), Some(3), "{}", text(&trace));
    let t = text(&trace);
    assert!(!t.contains("ACCEPTED"), "{t}");
    assert!(
        t.contains("UNKNOWN") && t.contains("sudo iptables-legacy-save"),
        "{t}"
    );
}

/// Every lab capture whose port curl reached, with one part of the firewall taken away: the
/// port is never `reachable` and the run never `ok`.
#[test]
fn no_lab_capture_missing_a_part_of_the_firewall_gives_ok_or_reachable() {
    // The captures' layout: nft-chains.json names every nf_tables table, the saves show
    // iptables-nft's, an nft-table-FAMILY-NAME.json any other.
    let parts: &[&[&str]] = &[
        &["nft-chains.json"],
        &["sysctl.txt"],
        &["iptables-nft-save.txt"],
        &["iptables-nft-save.txt", "nft-chains.json"],
        &["iptables-legacy-save.txt"],
    ];
    let mut checked = 0;
    for name in [
        "healthy",
        "docker-user-drop",
        "legacy-leftovers-harmless",
        "input-drop",
    ] {
        for drop in parts {
            if !drop.iter().all(|f| fixture(name).join(f).exists()) {
                continue;
            }
            let d = tempfile::tempdir().unwrap();
            let cap = copy_without(name, drop, d.path());
            let (code, r) = report(&cap);
            assert_ne!(r["status"], "ok", "{name} without {drop:?}: {r:#}");
            assert_ne!(code, 0, "{name} without {drop:?}");
            // docker-proxy's path (IPv6 to a container without IPv6) never crosses FORWARD:
            // forwarding, the one thing sysctl.txt tells, does not decide it.
            let needs_it = |p: &&Value| !(*drop == ["sysctl.txt"] && p["path"] == "docker-proxy");
            let wrong: Vec<&Value> = (r["ports"].as_array().into_iter().flatten())
                .filter(needs_it)
                .filter(|p| p["verdict"] == "reachable")
                .collect();
            assert!(wrong.is_empty(), "{name} without {drop:?}: {wrong:?}");
            checked += 1;
        }
    }
    assert!(checked >= 10, "only {checked} cases checked");
}

#[test]
fn a_pasted_nft_save_carrying_the_legacy_warning_is_unknown_naming_iptables_legacy_save() {
    let d = tempfile::tempdir().unwrap();
    let save = fs::read_to_string(fixture("report-bug").join("iptables-nft-save.txt")).unwrap();
    let paste = d.path().join("paste.txt");
    fs::write(
        &paste,
        format!(
            "# Warning: iptables-legacy tables present, use iptables-legacy-save to see them\n{save}"
        ),
    )
    .unwrap();
    let (code, r) = report(&paste);
    assert_eq!(code, 3, "{r:#}");
    let findings = r["findings"].to_string();
    assert!(
        findings.contains("iptables-legacy tables present"),
        "{findings}"
    );
    assert!(findings.contains("sudo iptables-legacy-save"), "{findings}");
    assert!(!verdicts(&r).iter().any(|v| v == "reachable"));
}

#[test]
fn an_iptables_s_listing_of_the_filter_table_says_nat_was_not_shown() {
    let d = tempfile::tempdir().unwrap();
    let listing = d.path().join("listing.txt");
    fs::write(
        &listing,
        "-P INPUT ACCEPT\n-P FORWARD DROP\n-P OUTPUT ACCEPT\n-N DOCKER\n-N DOCKER-USER\n\
         -A FORWARD -j DOCKER-USER\n-A FORWARD -o docker0 -j DOCKER\n-A DOCKER-USER -j RETURN\n",
    )
    .unwrap();
    let (code, r) = report(&listing);
    assert_eq!(code, 3, "{r:#}");
    let findings = r["findings"].to_string();
    assert!(
        findings.contains("only filter was shown"),
        "an -S listing of filter: {findings}"
    );
    assert!(findings.contains("nat"), "{findings}");
    assert!(
        findings.contains("published ports unknown"),
        "no DNAT can be seen: {findings}"
    );
}

#[test]
fn trace_as_an_ordinary_user_is_unknown_not_accepted() {
    let out = live(&["trace", "tcp", "any", "to", "host:22"], &[], true);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(3), "{t}");
    assert!(!t.contains("ACCEPTED"), "{t}");
    assert!(t.contains("UNKNOWN"), "{t}");
    assert!(
        t.contains("sudo iptables-nft-save"),
        "says what to run: {t}"
    );
}

#[test]
fn two_blockers_are_both_named_each_with_its_fix() {
    let (code, r) = report(&fixture("forward-off-and-legacy-drop"));
    assert_eq!(code, 2);
    let port = &r["ports"][0];
    let blockers = port["paths"]["outside"]["blocked_by"].as_array().unwrap();
    assert_eq!(blockers.len(), 2, "{port:#}");
    assert!(
        blockers[0]["kernel"]
            .as_str()
            .unwrap()
            .contains("net.ipv4.ip_forward = 0")
    );
    assert_eq!(blockers[1]["stack"], "legacy");
    assert_eq!(blockers[1]["rule"], "policy DROP");
    let checks: Vec<&str> = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["check"].as_str().unwrap())
        .collect();
    for c in [
        "ip-forward-disabled",
        "split-forward-drop",
        "published-port-blocked",
    ] {
        assert!(checks.contains(&c), "{c} missing from {checks:?}");
    }
    let trace = text(&run(
        &["trace", "tcp", "any", "to", "host:8080"],
        &fixture("forward-off-and-legacy-drop"),
    ));
    assert!(
        trace.contains("DROPPED: the kernel does not forward")
            && trace
                .contains("and, with that fixed, DROPPED by legacy ip filter FORWARD: policy DROP"),
        "{trace}"
    );
}

/// A deliberate drop in the user's own nft table is reported once, as on purpose: never also
/// as a critical split.
#[test]
fn a_drop_rule_in_the_users_nft_table_is_on_purpose_and_not_also_a_split() {
    let d = tempfile::tempdir().unwrap();
    let cap = copy_without("healthy", &[], d.path());
    // The capture's layout: the chain in nft-chains.json, the table in its own
    // `nft -j list table inet mine` file.
    let chain = serde_json::json!({"chain": {"family": "inet", "table": "mine", "name": "forward",
        "handle": 1, "type": "filter", "hook": "forward", "prio": 0, "policy": "accept"}});
    let path = cap.join("nft-chains.json");
    let mut doc: Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
    doc["nftables"].as_array_mut().unwrap().push(chain.clone());
    fs::write(&path, doc.to_string()).unwrap();
    let table = serde_json::json!({"nftables": [
        {"metainfo": {"version": "1.0.6", "json_schema_version": 1}},
        {"table": {"family": "inet", "name": "mine", "handle": 50}},
        chain,
        {"rule": {"family": "inet", "table": "mine", "chain": "forward", "handle": 2, "expr": [
            {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 80}},
            {"drop": null}]}}]});
    fs::write(cap.join("nft-table-inet-mine.json"), table.to_string()).unwrap();
    let (code, r) = report(&cap);
    let checks: Vec<&str> = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["check"].as_str().unwrap())
        .collect();
    assert_eq!(checks, ["docker-user-blocks"], "{r:#}");
    assert_eq!(code, 0);
    // IPv6 goes to docker-proxy, whose own connection to the container is the host's: OUTPUT,
    // not the forward hook the rule sits on.
    assert_eq!(verdicts(&r), ["blocked", "reachable"]);
}

/// "`curl localhost` works" is said only where the host's own connection does get through.
#[test]
fn the_why_of_a_blocked_port_follows_the_hosts_own_connection() {
    let why = |name: &str| {
        let (_, r) = report(&fixture(name));
        r["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["check"] == "published-port-blocked")
            .map(|f| f["why"].as_str().unwrap().to_string())
            .unwrap_or_else(|| panic!("{name}: no published-port-blocked"))
    };
    // curl from the host to 127.0.0.1 worked in the lab (truth.json: host_loopback reachable).
    assert!(why("report-bug").contains("`curl localhost:8080` on the host itself works"));
    // It failed there too: nothing serves the port once the DNAT is gone and no proxy listens.
    let w = why("docker-chains-flushed-no-proxy");
    assert!(!w.contains("works"), "{w}");
    assert!(w.contains("fails too"), "{w}");
}

/// A split needs Docker's rules accepting on the hook: a legacy INPUT policy DROP beside an
/// iptables-nft INPUT that accepts by policy only is no split.
#[test]
fn a_legacy_input_drop_is_not_called_a_split_of_docker_s_rules() {
    let (_, r) = report(&fixture("input-drop"));
    assert!(
        !r["findings"].to_string().contains("split-forward-drop"),
        "{r:#}"
    );
    assert_eq!(
        r["ports"][0]["paths"]["host_loopback"]["verdict"],
        "blocked"
    );
}

#[test]
fn docker_host_over_tcp_is_unknown_and_says_why() {
    let out = live(
        &["check"],
        &[("DOCKER_HOST", "tcp://127.0.0.1:2375")],
        false,
    );
    let t = text(&out);
    assert_eq!(out.status.code(), Some(3), "{t}");
    assert!(t.contains("Docker's API was not read"), "{t}");
    assert!(t.contains("DOCKER_HOST=tcp://127.0.0.1:2375"), "{t}");
}

#[test]
fn no_docker_daemon_says_what_was_and_was_not_checked() {
    let out = live(
        &["check"],
        &[(
            "DOCKER_HOST",
            "unix:///nonexistent/fwdoctor-test/docker.sock",
        )],
        false,
    );
    let t = text(&out);
    let last = t.lines().last().unwrap_or_default();
    assert!(
        last.contains("no Docker daemon found") && last.contains("no published ports to check"),
        "{t}"
    );
    assert!(
        last.contains("/nonexistent/fwdoctor-test/docker.sock"),
        "{t}"
    );
}

/// A kernel without legacy xtables (6.17+ without CONFIG_NETFILTER_XTABLES_LEGACY) is not a
/// kernel that merely has no legacy table loaded: the report says what it means for Docker.
#[test]
fn a_kernel_without_legacy_xtables_is_named_with_what_it_means() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/lab/healthy");
    let dir = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(&src).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dir.path().join(e.file_name())).unwrap();
    }
    std::fs::remove_file(dir.path().join("legacy-tables.txt")).unwrap();
    let meta_path = dir.path().join("meta.json");
    let mut meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&meta_path).unwrap()).unwrap();
    meta["sources"]["legacy-tables"] = serde_json::json!({
        "status": "missing",
        "command": "cat /proc/net/ip_tables_names",
        "reason": "no legacy tables: /proc/net/ip_tables_names is absent and this kernel has no legacy xtables (kernel 6.17.0-1-amd64: ip_tables is neither built in nor a module)"
    });
    std::fs::write(&meta_path, meta.to_string()).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_fwdoctor"))
        .args(["check", "--format", "json", "--from"])
        .arg(dir.path())
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let notes = report["notes"].to_string();
    assert!(
        notes.contains("this kernel has no legacy xtables") && notes.contains("iptables-nft"),
        "{notes}"
    );
    // The healthy host stays healthy: Docker's rules are in iptables-nft.
    assert_eq!(report["status"], "ok", "{}", report["findings"]);
}
