//! The human report's text as people and scripts get it: the doctor summary and `-v` on a
//! healthy host, `unknown` naming its real cause with the fix for that cause, width and
//! ASCII/colour by the environment, and JSON even when the input is bad.

use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const LAB: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/lab");

fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_fwdoctor"));
    cmd.args(args)
        .env_remove("COLUMNS")
        .env_remove("LC_ALL")
        .env_remove("LC_CTYPE")
        .env("LANG", "C.UTF-8")
        .env("NO_COLOR", "1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("fwdoctor runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("UTF-8")
}

fn lab(name: &str) -> String {
    format!("{LAB}/{name}")
}

/// A copy of lab capture `name` whose Docker sources say `status` with `reason`.
fn docker_down(name: &str, status: &str, reason: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let cap = tmp.path().join(name);
    fs::create_dir_all(&cap).unwrap();
    for e in fs::read_dir(Path::new(LAB).join(name)).unwrap() {
        let e = e.unwrap();
        let file = e.file_name().into_string().unwrap();
        if !file.starts_with("docker-") {
            fs::copy(e.path(), cap.join(&file)).unwrap();
        }
    }
    let mut meta: Value =
        serde_json::from_str(&fs::read_to_string(cap.join("meta.json")).unwrap()).unwrap();
    for k in [
        "docker-info",
        "docker-containers",
        "docker-networks",
        "docker-version",
    ] {
        meta["sources"][k] = serde_json::json!({
            "status": status, "command": "GET /info on unix:///var/run/docker.sock", "reason": reason
        });
    }
    fs::write(cap.join("meta.json"), meta.to_string()).unwrap();
    (tmp, cap)
}

#[test]
fn a_healthy_host_gets_a_line_per_area_and_v_shows_what_was_checked() {
    let out = stdout(&run(&["check", "--from", &lab("healthy")], &[]));
    for want in [
        "✓ firewall stacks read:",
        "✓ Docker API: Docker 20.10.24+dfsg1",
        "✓ forwarding: IPv4 on",
        "✓ port 0.0.0.0:8080/tcp → web1: reachable from outside",
        // The lab machine has ufw installed, not enabled (ufw-status.txt: Status: inactive).
        "✓ ufw inactive · no firewalld · Docker not from the snap",
        "look next at: the app's bind address",
    ] {
        assert!(out.contains(want), "{want:?} missing:\n{out}");
    }
    assert!(!out.contains("checked:"), "{out}");
    // Where ufw is not installed, the line says so.
    let tmp = tempfile::tempdir().unwrap();
    let no_ufw = tmp.path().join("healthy");
    fs::create_dir_all(&no_ufw).unwrap();
    for e in fs::read_dir(lab("healthy")).unwrap() {
        let e = e.unwrap();
        if e.file_name() != "ufw-status.txt" {
            fs::copy(e.path(), no_ufw.join(e.file_name())).unwrap();
        }
    }
    let mut meta: Value =
        serde_json::from_str(&fs::read_to_string(no_ufw.join("meta.json")).unwrap()).unwrap();
    meta["sources"]["ufw-status"] = serde_json::json!({
        "status": "missing", "command": "ufw status verbose", "reason": "ufw not found"
    });
    fs::write(no_ufw.join("meta.json"), meta.to_string()).unwrap();
    let out = stdout(&run(&["check", "--from", no_ufw.to_str().unwrap()], &[]));
    assert!(
        out.contains("✓ no ufw · no firewalld · Docker not from the snap"),
        "{out}"
    );
    assert!(!out.contains("ufw inactive"), "{out}");
    let verbose = stdout(&run(&["check", "-v", "--from", &lab("healthy")], &[]));
    let flat = verbose.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        flat.contains("checked: evidence-missing, split-forward-drop,"),
        "{verbose}"
    );
    assert!(
        flat.contains("evidence read: docker-containers ok,"),
        "{verbose}"
    );
}

#[test]
fn a_blocked_port_and_a_rule_on_purpose_get_their_marks() {
    let out = stdout(&run(&["check", "--from", &lab("docker-user-drop")], &[]));
    assert!(
        out.contains("✓ port 0.0.0.0:8080/tcp → web1: reachable"),
        "{out}"
    );
    assert!(
        out.contains("! port 0.0.0.0:8081/tcp → web2: blocked on purpose"),
        "{out}"
    );
    let bug = stdout(&run(&["check", "--from", &lab("ip-forward-off")], &[]));
    assert!(bug.contains("✗ forwarding: IPv4 off"), "{bug}");
}

#[test]
fn a_dead_docker_socket_says_so_and_the_fix_starts_docker() {
    let (_tmp, cap) = docker_down("healthy", "failed", "connection refused");
    let out = run(&["check", "--from", cap.to_str().unwrap()], &[]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(3), "{text}");
    // The cause without -v, and the fix that follows from it.
    assert!(
        text.contains("failed: docker-info (connection refused)"),
        "{text}"
    );
    assert!(
        text.contains("? Docker API: failed (connection refused)"),
        "{text}"
    );
    assert!(
        text.contains("\n    sudo systemctl start docker   # Docker's API did not answer\n"),
        "{text}"
    );
    assert!(!text.contains("apt-get install"), "{text}");
}

#[test]
fn a_timeout_is_fixed_with_a_longer_timeout() {
    let (_tmp, cap) = docker_down("healthy", "timeout", "no output for 30 s");
    let text = stdout(&run(&["check", "--from", cap.to_str().unwrap()], &[]));
    assert!(text.contains("timed out (raise --timeout)"), "{text}");
    assert!(
        text.contains("\n    sudo fwdoctor check --timeout 120"),
        "{text}"
    );
    assert!(!text.contains("apt-get install"), "{text}");
    let zero = run(&["check", "--timeout", "0"], &[]);
    assert!(!zero.status.success() && zero.stdout.is_empty(), "{zero:?}");
    assert!(String::from_utf8_lossy(&zero.stderr).contains("--timeout"));
}

#[test]
fn piped_prose_wraps_at_80_and_columns_sets_the_width() {
    for fixture in [
        "report-bug",
        "docker-user-drop",
        "forward-off-and-legacy-drop",
    ] {
        let out = stdout(&run(&["check", "--from", &lab(fixture)], &[]));
        for line in out.lines() {
            let table = line.starts_with(['│', '┌', '└', '╞']);
            // Commands (the plan's lines that are not `#` notes) are never wrapped.
            let command = line.starts_with("    ") && !line.trim_start().starts_with('#');
            assert!(
                table || command || line.chars().count() <= 80,
                "{fixture}: {line:?} is wider than 80"
            );
        }
    }
    let wide = stdout(&run(
        &["check", "--from", &lab("report-bug")],
        &[("COLUMNS", "120")],
    ));
    assert!(
        wide.lines()
            .any(|l| !l.starts_with(['│', '┌', '└', '╞', ' ']) && l.chars().count() > 80),
        "{wide}"
    );
}

#[test]
fn lang_c_gets_ascii_and_utf8_gets_the_marks() {
    let ascii = run(&["check", "--from", &lab("report-bug")], &[("LANG", "C")]);
    assert!(ascii.stdout.is_ascii(), "{}", stdout(&ascii));
    let text = stdout(&ascii);
    assert!(
        text.contains("x port 0.0.0.0:8080/tcp > web1: blocked"),
        "{text}"
    );
    assert!(text.contains("+ Docker API"), "{text}");
    assert!(
        text.contains("x critical: 2 critical, 1 warning - 1 of 1"),
        "{text}"
    );
    // LC_ALL wins over LANG, as in every libc.
    let posix = run(
        &["check", "--from", &lab("healthy")],
        &[("LANG", "en_US.UTF-8"), ("LC_ALL", "POSIX")],
    );
    assert!(posix.stdout.is_ascii());
    let utf8 = stdout(&run(&["check", "--from", &lab("healthy")], &[]));
    assert!(utf8.contains("✓ ok"), "{utf8}");
}

#[test]
fn json_on_bad_input_is_a_json_document_with_status_unknown_and_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("paste.txt");
    fs::write(&bad, "<<garbage\n").unwrap();
    let out = run(
        &["check", "--format", "json", "--from", bad.to_str().unwrap()],
        &[],
    );
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let doc: Value = serde_json::from_slice(&out.stdout).expect("a JSON document");
    assert_eq!(doc["schema"], "fwdoctor-report/1");
    assert_eq!(doc["status"], "unknown");
    let error = doc["error"].as_str().unwrap();
    assert!(error.contains("paste.txt"), "{error}");
    assert_eq!(doc["findings"][0]["check"], "evidence-missing");
    // A missing path too; stderr still says it for a person.
    let missing = run(
        &[
            "check",
            "--format",
            "json",
            "--from",
            "/nonexistent/capture",
        ],
        &[],
    );
    let doc: Value = serde_json::from_slice(&missing.stdout).expect("a JSON document");
    assert!(
        doc["error"]
            .as_str()
            .unwrap()
            .contains("/nonexistent/capture")
    );
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/capture"));
    // The human format still fails with the error on stderr only.
    let human = run(&["check", "--from", bad.to_str().unwrap()], &[]);
    assert!(human.stdout.is_empty() && !human.status.success());
}

#[test]
fn the_json_report_carries_the_plan_in_a_shape_a_machine_can_apply() {
    let out = run(
        &["check", "--format", "json", "--from", &lab("report-bug")],
        &[],
    );
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let plan = doc["plan"].as_array().unwrap();
    let first = &plan[0];
    assert_eq!(first["kind"], "immediate");
    assert_eq!(
        first["command"],
        "sudo iptables-legacy -t filter -P FORWARD ACCEPT"
    );
    assert_eq!(
        first["argv"],
        serde_json::json!([["iptables-legacy", "-t", "filter", "-P", "FORWARD", "ACCEPT"]])
    );
    assert_eq!(
        first["touches"],
        serde_json::json!([{"stack": "legacy", "family": "ip", "table": "filter"}])
    );
    assert_eq!(
        first["resolves"],
        serde_json::json!(["split-forward-drop", "published-port-blocked"])
    );
    assert_eq!(first["ports"], serde_json::json!(["8080/tcp"]));
    let backup = plan
        .iter()
        .find(|s| s["output_to"].is_string())
        .expect("a backup step");
    assert_eq!(backup["output_to"], "/root/iptables-legacy.before-fwdoctor");
    assert_eq!(
        backup["argv"],
        serde_json::json!([["iptables-legacy-save"]])
    );
    assert!(
        plan.iter()
            .any(|s| s["kind"] == "manual" && s["command"].is_null())
    );
}

#[test]
fn the_cron_mails_details_line_repeats_the_options_it_ran_with() {
    let state = tempfile::tempdir().unwrap();
    let out = run(
        &[
            "check",
            "--cron",
            "--no-syslog",
            "--skip",
            "mixed-backends",
            "--from",
            &lab("report-bug"),
        ],
        &[("FWDOCTOR_STATE_DIR", state.path().to_str().unwrap())],
    );
    let text = stdout(&out);
    let want = format!(
        "Details: sudo fwdoctor check --verbose --from {} --skip mixed-backends   (exit 2)",
        lab("report-bug")
    );
    assert!(text.contains(&want), "{want:?} not in:\n{text}");
}

#[test]
fn a_full_disk_on_stdout_exits_3_with_a_message_and_no_panic() {
    for args in [
        vec!["check", "--from", LAB_HEALTHY],
        vec!["check", "--format", "json", "--from", LAB_HEALTHY],
        vec!["explain", "split-forward-drop"],
    ] {
        let full = fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_fwdoctor"))
            .args(&args)
            .stdout(full)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {stderr}");
        assert!(
            stderr.contains("cannot write the report to stdout: No space left on device"),
            "{args:?}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

const LAB_HEALTHY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/lab/healthy");

/// The first line of `fwdoctor trace ARGS --from report-bug`, and its exit code.
fn trace_head(args: &[&str]) -> (Option<i32>, String, String) {
    let mut all: Vec<&str> = vec!["trace"];
    all.extend_from_slice(args);
    let bug = lab("report-bug");
    all.extend(["--from", &bug]);
    let out = run(&all, &[]);
    let text = stdout(&out);
    (
        out.status.code(),
        text.lines().next().unwrap_or("").to_string(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The capture's one outside interface: the one with an IPv4 address that is neither loopback
/// nor a Docker bridge (ip-addr.json; the lab names it after its run).
fn outside_interface(cap: &str) -> String {
    let addrs: Value =
        serde_json::from_str(&fs::read_to_string(Path::new(cap).join("ip-addr.json")).unwrap())
            .unwrap();
    let names: Vec<&str> = addrs
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| {
            (i["addr_info"].as_array().into_iter().flatten()).any(|a| a["family"] == "inet")
        })
        .map(|i| i["ifname"].as_str().unwrap())
        .filter(|n| *n != "lo" && *n != "docker0" && !n.starts_with("br-"))
        .collect();
    assert_eq!(names.len(), 1, "{cap}: outside interfaces {names:?}");
    names[0].to_string()
}

#[test]
fn trace_takes_what_people_type() {
    let want = format!(
        "tcp client-outside -> host:8080 in {}",
        outside_interface(&lab("report-bug"))
    );
    for args in [
        &["8080"][..],
        &["host:8080"],
        &["--port", "8080"],
        &["0.0.0.0:8080"],
        &["tcp", "8080"],
        &["tcp", "any", "->", "host:8080"],
    ] {
        let (code, head, err) = trace_head(args);
        assert_eq!(head, want, "{args:?}: {err}");
        // The report's bug: the legacy FORWARD policy drops it.
        assert_eq!(code, Some(2), "{args:?}");
    }
    // What the shell leaves of an unquoted `->`: a hint, not "expected PROTO ...".
    let (code, _, err) = trace_head(&["tcp", "any", "-"]);
    assert_ne!(code, Some(0));
    assert!(
        err.contains("unquoted `->`") && err.contains("write `to`"),
        "{err}"
    );
    // --in must name an interface the capture knows, and says which it knows.
    let (_, _, err) = trace_head(&["8080", "--in", "eth9"]);
    assert!(
        err.contains("--in eth9: no such interface") && err.contains("docker0"),
        "{err}"
    );
    // --help offers only the formats trace takes.
    let help = stdout(&run(&["trace", "--help"], &[]));
    assert!(help.contains("json") && !help.contains("nagios") && !help.contains("prometheus"));
}

#[test]
fn trace_json_has_a_schema_echoes_the_flow_and_uses_checks_evidence_lines() {
    let bug = lab("report-bug");
    let out = run(&["trace", "8080", "--format", "json", "--from", &bug], &[]);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["schema"], "fwdoctor-trace/1");
    assert_eq!(
        doc["flow"],
        serde_json::json!({"family": "ip", "proto": "tcp", "src": null, "dst": null,
                           "dport": 8080, "sport": null, "in": outside_interface(&bug)})
    );
    assert_eq!(
        doc["evidence"],
        serde_json::json!([{"location": "legacy ip filter FORWARD", "text": "policy DROP",
                            "source": "iptables-legacy-save.txt:4"}])
    );
    // The same shape as the check report's evidence for the same rule.
    let check = run(&["check", "--format", "json", "--from", &bug], &[]);
    let report: Value = serde_json::from_slice(&check.stdout).unwrap();
    let lines: Vec<&Value> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|f| f["evidence"].as_array().unwrap())
        .collect();
    assert!(lines.contains(&&doc["evidence"][0]), "{lines:?}");
}

#[test]
fn trace_has_colour_on_request_and_none_by_default_in_a_pipe() {
    let bug = lab("report-bug");
    let plain = run(&["trace", "8080", "--from", &bug], &[]);
    assert!(!stdout(&plain).contains("\x1b["));
    let coloured = run(&["trace", "8080", "--color", "always", "--from", &bug], &[]);
    assert!(
        stdout(&coloured).contains("\x1b[1;31m"),
        "{}",
        stdout(&coloured)
    );
}

#[test]
fn the_readme_documents_both_json_schemas_and_the_man_page_points_there() {
    let readme = fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = &readme[readme
        .find("## JSON schemas")
        .expect("a JSON schemas section")..];
    for want in [
        "`fwdoctor-report/1`",
        "`fwdoctor-trace/1`",
        "`plan`",
        "`argv`",
        "`touches`",
    ] {
        assert!(
            section.contains(want),
            "{want} not in the README's JSON schemas"
        );
    }
    assert!(
        !readme.contains("see `shared/DESIGN.md`"),
        "a path outside the repo"
    );
    let man = stdout(&run(&["man"], &[]));
    assert!(man.contains("fwdoctor-report/1") && man.contains("fwdoctor-trace/1"));
    assert!(man.contains("JSON schemas"));
}

#[test]
fn a_host_only_port_is_not_shown_blocked_beside_a_summary_that_counts_it_apart() {
    let facts = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/facts");
    for columns in ["80", "120"] {
        let text = stdout(&run(&["check", "--from", facts], &[("COLUMNS", columns)]));
        let row = text
            .lines()
            .find(|l| l.contains("127.0.0.1:9090/tcp") && l.contains('│'))
            .unwrap_or_else(|| panic!("no table row for 9090:\n{text}"));
        assert!(row.contains("host-only") && !row.contains('✗'), "{row}");
        assert!(
            text.contains("0 of 4 published ports blocked (1 host-only by design)"),
            "{text}"
        );
    }
    let nagios = stdout(&run(&["check", "--from", facts, "--format", "nagios"], &[]));
    assert!(nagios.contains("ports_blocked=0;"), "{nagios}");
}

/// Direct access to a container blocked by Docker 28+'s own raw drop is explained as Docker's
/// filter with the daemon.json key that lifts it; a direct path blocked by another rule too, and
/// a Docker 20.10 host, get no such note.
#[test]
fn docker_s_own_direct_access_drop_is_explained_with_its_daemon_json_key() {
    for name in [
        "docker28.0.0-healthy",
        "docker28.2-healthy",
        "docker29-iptables-healthy",
        "docker29-nftables-healthy",
    ] {
        let text = stdout(&run(
            &["check", "--from", &lab(name)],
            &[("COLUMNS", "300")],
        ));
        assert!(
            text.contains("direct ✗ is Docker's own filter (28+)")
                && text.contains("`\"allow-direct-routing\": true` in /etc/docker/daemon.json")
                && text.contains("sudo systemctl restart docker"),
            "{name}:\n{text}"
        );
        let json: Value = serde_json::from_slice(
            &run(&["check", "--from", &lab(name), "--format", "json"], &[]).stdout,
        )
        .unwrap();
        assert_eq!(
            json["ports"][0]["paths"]["container_direct"]["reason"],
            "Docker's own filter (28+): packets to a container's address must come in on its bridge",
            "{name}"
        );
    }
    for name in [
        "docker29-iptables-nft-inet-forward-drop",
        "report-bug",
        "healthy",
    ] {
        let text = stdout(&run(&["check", "--from", &lab(name)], &[]));
        assert!(!text.contains("allow-direct-routing"), "{name}:\n{text}");
    }
}
