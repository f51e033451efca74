//! Live lab tests: a real dockerd in network namespaces (`lab/lab.sh`), real packets, and
//! `fwdoctor check` run inside the scenario's host namespace.
//!
//! They need root and the lab's packages (iptables nftables docker.io busybox-static curl
//! iproute2), which CI has. When a prerequisite is missing they FAIL with a message naming
//! it; they never skip. Each scenario takes a few seconds.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

fn lab_sh() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("lab")
        .join("lab.sh")
}

/// Fails the test, naming what is missing, unless root and every lab tool are there.
fn require_lab_prereqs() {
    let out = Command::new("bash")
        .arg(lab_sh())
        .arg("prereqs")
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run `bash lab/lab.sh prereqs`: {e} (is bash installed?)")
        });
    assert!(
        out.status.success(),
        "the live lab tests need root and the lab's packages; {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
}

struct LabRun {
    code: i32,
    stdout: String,
    stderr: String,
    truth: Value,
}

impl LabRun {
    fn context(&self) -> String {
        format!(
            "exit code {}\n--- stdout ---\n{}\n--- stderr (lab log) ---\n{}",
            self.code, self.stdout, self.stderr
        )
    }

    fn report(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("fwdoctor's stdout is not JSON ({e})\n{}", self.context()))
    }

    /// The curl truth for one published port (`outside`, `host`, ...).
    fn truth_port(&self, host_port: u64) -> &Value {
        self.truth["ports"]
            .as_array()
            .and_then(|ports| ports.iter().find(|p| p["host_port"] == host_port))
            .unwrap_or_else(|| panic!("truth.json has no port {host_port}: {}", self.truth))
    }
}

/// `lab/lab.sh run SCENARIO -- fwdoctor ARGS...`: sets the scenario up, records the curl truth,
/// runs fwdoctor inside the host netns, tears down.
fn lab_run_fwdoctor(scenario: &str, args: &[&str]) -> LabRun {
    require_lab_prereqs();
    let truth_dir = tempfile::tempdir().expect("temp dir for truth.json");
    let out = Command::new("timeout")
        // the lab bounds each of its own waits; this bounds fwdoctor too
        .args(["-k", "60", "300", "bash"])
        .arg(lab_sh())
        .args(["run", scenario, "--", env!("CARGO_BIN_EXE_fwdoctor")])
        .args(args)
        .env("LAB_TRUTH_DIR", truth_dir.path())
        .output()
        .unwrap_or_else(|e| panic!("cannot run lab/lab.sh: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let code = out
        .status
        .code()
        .unwrap_or_else(|| panic!("lab/lab.sh killed by a signal\n{stderr}"));
    // lab.sh logs "command exited N" only when the scenario came up and fwdoctor ran; any
    // other ending is the lab's own failure, not fwdoctor's verdict.
    let marker = format!("] command exited {code}");
    assert!(
        stderr.contains(&marker),
        "the lab did not get as far as running fwdoctor in scenario {scenario} (exit {code}):\n{stderr}"
    );
    let truth_text = std::fs::read_to_string(truth_dir.path().join("truth.json"))
        .unwrap_or_else(|e| panic!("lab wrote no truth.json ({e})\n{stderr}"));
    let truth = serde_json::from_str(&truth_text)
        .unwrap_or_else(|e| panic!("truth.json is not JSON ({e}): {truth_text}"));
    LabRun {
        code,
        stdout,
        stderr,
        truth,
    }
}

fn findings<'a>(report: &'a Value, run: &LabRun) -> &'a Vec<Value> {
    report["findings"]
        .as_array()
        .unwrap_or_else(|| panic!("report has no findings array\n{}", run.context()))
}

fn report_port<'a>(report: &'a Value, host_port: u64, run: &LabRun) -> &'a Value {
    report["ports"]
        .as_array()
        .and_then(|ports| ports.iter().find(|p| p["host_port"] == host_port))
        .unwrap_or_else(|| panic!("report lists no port {host_port}\n{}", run.context()))
}

/// The seed report, reproduced: Docker's rules in nf_tables, `iptables-legacy -P FORWARD DROP`.
#[test]
fn lab_report_bug_is_critical_split_forward_drop() {
    let run = lab_run_fwdoctor("report-bug", &["check", "--format", "json"]);

    // The lab really reproduced the bug (else the assertions below test nothing).
    let truth = run.truth_port(8080);
    assert_eq!(
        truth["outside"], "blocked",
        "lab: port 8080 should be blocked from outside: {}",
        run.truth
    );
    assert_eq!(
        truth["host"], "reachable",
        "lab: port 8080 should answer on the host: {}",
        run.truth
    );

    let report = run.report();
    assert_eq!(
        run.code,
        2,
        "exit code must be 2 (critical)\n{}",
        run.context()
    );
    assert_eq!(report["status"], "critical", "{}", run.context());

    let finding = findings(&report, &run)
        .iter()
        .find(|f| f["check"] == "split-forward-drop")
        .unwrap_or_else(|| panic!("no split-forward-drop finding\n{}", run.context()));
    let text = finding.to_string();
    for needle in ["legacy", "filter", "FORWARD", "policy DROP"] {
        assert!(
            text.contains(needle),
            "the split-forward-drop finding should name {needle:?}: {finding:#}"
        );
    }

    let port = report_port(&report, 8080, &run);
    assert_eq!(
        port["verdict"],
        "blocked",
        "port 8080: {port:#}\n{}",
        run.context()
    );
    assert_eq!(port["blocked_by"]["stack"], "legacy", "port 8080: {port:#}");
    assert_eq!(
        port["blocked_by"]["chain"], "FORWARD",
        "port 8080: {port:#}"
    );
}

/// Docker on nf_tables and nothing else: all is well.
#[test]
fn lab_healthy_is_ok() {
    let run = lab_run_fwdoctor("healthy", &["check", "--format", "json"]);

    let truth = run.truth_port(8080);
    assert_eq!(
        truth["outside"], "reachable",
        "lab: port 8080 should be reachable: {}",
        run.truth
    );

    let report = run.report();
    assert_eq!(run.code, 0, "exit code must be 0 (ok)\n{}", run.context());
    assert_eq!(report["status"], "ok", "{}", run.context());
    let port = report_port(&report, 8080, &run);
    assert_eq!(
        port["verdict"],
        "reachable",
        "port 8080: {port:#}\n{}",
        run.context()
    );
}

/// Every file under `dir` (or `dir` itself) with its content, sorted by path.
fn file_contents(dir: &std::path::Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
    if dir.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.expect("readable entry").path())
            .collect();
        entries.sort();
        for e in entries {
            file_contents(&e, out);
        }
    } else if let Ok(bytes) = std::fs::read(dir) {
        out.push((dir.to_path_buf(), bytes));
    }
}

fn machine_ufw_files() -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    file_contents(std::path::Path::new("/etc/ufw"), &mut out);
    file_contents(std::path::Path::new("/etc/default/ufw"), &mut out);
    assert!(
        !out.is_empty(),
        "/etc/ufw is empty or absent: scripts/deps.sh installs ufw"
    );
    out
}

/// Debian's real ufw enabled in the lab's private copy of /etc/ufw, then dockerd publishing a
/// port: reachable from outside, `ufw-docker-bypass`; the machine's ufw files never change.
#[test]
fn lab_real_ufw_is_bypassed_and_the_machines_ufw_files_stay_unchanged() {
    let before = machine_ufw_files();
    let run = lab_run_fwdoctor("ufw-enabled-docker-publish", &["check", "--format", "json"]);
    assert_eq!(
        machine_ufw_files(),
        before,
        "the machine's /etc/ufw or /etc/default/ufw changed\n{}",
        run.context()
    );
    assert_eq!(
        run.truth_port(8080)["outside"],
        "reachable",
        "{}",
        run.truth
    );
    let report = run.report();
    let checks: Vec<&str> = findings(&report, &run)
        .iter()
        .filter_map(|f| f["check"].as_str())
        .collect();
    assert!(
        checks.contains(&"ufw-docker-bypass"),
        "{checks:?}\n{}",
        run.context()
    );
    assert_eq!(report_port(&report, 8080, &run)["verdict"], "reachable");
}

/// Docker 28.0.0's layout loaded by hand (lab/layouts.sh) with a host REJECT the daemon
/// appended below: curl is blocked (the reply meets the REJECT) and fwdoctor names that rule.
#[test]
fn lab_docker28_0_0_host_reject_is_blocked_by_the_reply() {
    let run = lab_run_fwdoctor(
        "docker28.0.0-host-reject-before-docker",
        &["check", "--format", "json"],
    );
    assert_eq!(run.truth_port(8080)["outside"], "blocked", "{}", run.truth);
    let report = run.report();
    let port = report_port(&report, 8080, &run);
    assert_eq!(port["verdict"], "blocked", "{port:#}\n{}", run.context());
    assert!(
        port["reason"]
            .as_str()
            .is_some_and(|r| r.contains("-A FORWARD -j REJECT")),
        "{port:#}"
    );
}

fn machine_firewalld_files() -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    file_contents(std::path::Path::new("/etc/firewalld"), &mut out);
    assert!(
        !out.is_empty(),
        "/etc/firewalld is empty or absent: scripts/deps.sh installs firewalld"
    );
    out
}

/// Debian's real firewalld 1.3 on the lab's own D-Bus bus, dockerd beside it, and firewalld
/// 2.3's StrictForwardPorts layout loaded into its table (lab/firewalld.sh): curl is blocked, the
/// live check (its firewall-cmd asks the lab's firewalld) blames firewalld and fixes it with
/// firewall-cmd; the machine's /etc/firewalld never changes.
#[test]
fn lab_real_firewalld_strict_forward_ports_is_firewalld_blocks() {
    let before = machine_firewalld_files();
    let run = lab_run_fwdoctor(
        "firewalld-strict-forward-ports",
        &["check", "--format", "json"],
    );
    assert_eq!(
        machine_firewalld_files(),
        before,
        "the machine's /etc/firewalld changed\n{}",
        run.context()
    );
    assert_eq!(run.truth_port(8080)["outside"], "blocked", "{}", run.truth);
    let report = run.report();
    assert_eq!(
        report["host"]["firewalld_running"],
        true,
        "{}",
        run.context()
    );
    let f = findings(&report, &run)
        .iter()
        .find(|f| f["check"] == "firewalld-blocks")
        .unwrap_or_else(|| panic!("no firewalld-blocks\n{}", run.context()));
    let fix = f["fix"].to_string();
    assert!(
        fix.contains("sudo firewall-cmd --add-forward-port=port=8080:proto=tcp:toport=80:toaddr=")
            && fix.contains("sudo firewall-cmd --permanent --add-forward-port=port=8080"),
        "{fix}"
    );
    assert!(
        !findings(&report, &run)
            .iter()
            .any(|f| f["check"] == "split-forward-drop"),
        "{}",
        run.context()
    );
    assert_eq!(report_port(&report, 8080, &run)["verdict"], "blocked");
}

/// curl from the lab's client netns to the host's published port: the page, or "" when blocked.
fn curl_from_client(client: &str, port: u16) -> String {
    let out = Command::new("ip")
        .args(["netns", "exec", client, "curl", "-s", "-m", "2"])
        .arg(format!("http://10.99.0.1:{port}/"))
        .output()
        .expect("ip netns exec CLIENT curl");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Waits (at most `secs`) for `path` to exist.
fn wait_for(path: &std::path::Path, secs: u64) -> bool {
    let end = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while std::time::Instant::now() < end {
        if path.exists() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    path.exists()
}

/// firewalld-blocks' own fix pasted for real: in firewalld-started-after-docker (firewalld's
/// start removed Docker's rules; the port goes to docker-proxy through firewalld's INPUT, which
/// rejects it) the live report's `firewall-cmd` line, run on the lab's bus, makes the port
/// reachable from the client netns again.
#[test]
fn lab_firewalld_blocks_fix_makes_the_port_reachable_for_real() {
    require_lab_prereqs();
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    // Inside the lab's host netns (and firewalld's mount namespace): report, then wait for the
    // test's commands, run them, wait for the test to finish its curls. Every wait is bounded.
    let script = r#"d=$2
"$1" check --format json > "$d/report.json"
printf '%s' "$LAB_CLIENT" > "$d/client"
i=0; while [ ! -e "$d/cmd" ] && [ $i -lt 300 ]; do sleep 0.2; i=$((i+1)); done
[ -e "$d/cmd" ] && sh -e "$d/cmd" > "$d/cmd.log" 2>&1; echo $? > "$d/done"
i=0; while [ ! -e "$d/finish" ] && [ $i -lt 300 ]; do sleep 0.2; i=$((i+1)); done
"#;
    let child = Command::new("timeout")
        .args(["-k", "30", "240", "bash"])
        .arg(lab_sh())
        .args([
            "run",
            "firewalld-started-after-docker",
            "--",
            "sh",
            "-c",
            script,
            "sh",
        ])
        .arg(env!("CARGO_BIN_EXE_fwdoctor"))
        .arg(d)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(d.join("lab.log")).expect("lab.log"))
        .spawn()
        .expect("lab/lab.sh run");
    // Whatever happens below, the scenario is told to finish and is waited for (its teardown
    // stops everything it started, by pid).
    struct Finish<'a>(&'a std::path::Path, std::process::Child);
    impl Drop for Finish<'_> {
        fn drop(&mut self) {
            if !self.0.join("cmd").exists() {
                let _ = std::fs::write(self.0.join("cmd"), "");
            }
            let _ = std::fs::write(self.0.join("finish"), "");
            let _ = self.1.wait();
        }
    }
    let guard = Finish(d, child);
    let log = || std::fs::read_to_string(d.join("lab.log")).unwrap_or_default();
    assert!(
        wait_for(&d.join("client"), 120),
        "the lab did not report\n{}",
        log()
    );
    let client = std::fs::read_to_string(d.join("client")).unwrap();
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("report.json")).unwrap())
            .unwrap_or_else(|e| panic!("no JSON report ({e})\n{}", log()));
    assert!(
        !curl_from_client(&client, 8080).contains("fwdoctor-lab-"),
        "reachable before the fix"
    );
    // The plan's "now" steps that unblock port 8080 for firewalld-blocks: what the report tells
    // the user to paste for it (the restart of Docker, for its missing chains and the
    // containers' egress, is another step).
    let fix: Vec<String> = report["plan"]
        .as_array()
        .expect("plan")
        .iter()
        .filter(|s| s["kind"] == "immediate")
        .filter(|s| {
            s["resolves"]
                .as_array()
                .is_some_and(|r| r.iter().any(|c| c == "firewalld-blocks"))
                && s["ports"]
                    .as_array()
                    .is_some_and(|p| p.iter().any(|p| p == "8080/tcp"))
        })
        .filter_map(|s| s["command"].as_str().map(String::from))
        .collect();
    assert_eq!(fix, ["sudo firewall-cmd --add-port=8080/tcp"], "{report}");
    let cmds: Vec<&str> = fix.iter().map(|c| c.trim_start_matches("sudo ")).collect();
    std::fs::write(d.join("cmd"), cmds.join("\n") + "\n").unwrap();
    assert!(wait_for(&d.join("done"), 60), "commands not run\n{}", log());
    assert_eq!(
        std::fs::read_to_string(d.join("done")).unwrap().trim(),
        "0",
        "{}",
        std::fs::read_to_string(d.join("cmd.log")).unwrap_or_default()
    );
    assert!(
        curl_from_client(&client, 8080).contains("fwdoctor-lab-"),
        "still blocked after {cmds:?}\n{}",
        log()
    );
    drop(guard);
}

/// Files with their contents, and paths with whether each exists.
type MachineState = (Vec<(PathBuf, Vec<u8>)>, Vec<(&'static str, bool)>);

/// The machine's podman and CNI files, and whether each path podman writes by default exists.
fn machine_podman_state() -> MachineState {
    let mut files = Vec::new();
    file_contents(std::path::Path::new("/etc/containers"), &mut files);
    file_contents(std::path::Path::new("/etc/cni"), &mut files);
    assert!(
        !files.is_empty(),
        "/etc/containers is empty or absent: scripts/deps.sh installs podman"
    );
    let paths = [
        "/var/lib/cni",
        "/var/lib/containers",
        "/run/containers",
        "/run/libpod",
        "/run/cni",
        "/dev/shm/libpod_lock",
    ]
    .map(|p| (p, std::path::Path::new(p).exists()))
    .to_vec();
    (files, paths)
}

/// Debian's real rootful podman (CNI) beside dockerd (lab/podman.sh): Docker's FORWARD policy
/// DROP blocks Podman's port from outside, and the live check names it `other-bridge-blocked`
/// with DOCKER-USER accepts for cni-podman0; the machine's podman files never change and no
/// process or namespace of the run is left.
#[test]
fn lab_podman_beside_docker_is_blocked_by_dockers_forward_drop() {
    let before = machine_podman_state();
    let run = lab_run_fwdoctor("podman-beside-docker", &["check", "--format", "json"]);
    assert_eq!(
        machine_podman_state(),
        before,
        "the machine's podman/CNI files or paths changed\n{}",
        run.context()
    );
    let truth = run.truth_port(8090);
    assert_eq!(truth["owner"], "podman", "{}", run.truth);
    assert_eq!(truth["outside"], "blocked", "{}", run.truth);
    assert_eq!(truth["host"], "reachable", "{}", run.truth);
    assert_eq!(
        run.truth_port(8080)["outside"],
        "reachable",
        "{}",
        run.truth
    );
    let report = run.report();
    assert_eq!(run.code, 2, "{}", run.context());
    let port = report_port(&report, 8090, &run);
    assert_eq!(port["owner"], "podman", "{port:#}");
    assert_eq!(port["verdict"], "blocked", "{port:#}\n{}", run.context());
    assert_eq!(report_port(&report, 8080, &run)["verdict"], "reachable");
    let f: Vec<&Value> = findings(&report, &run)
        .iter()
        .filter(|f| f["check"] == "other-bridge-blocked")
        .collect();
    assert_eq!(f.len(), 1, "{}", run.context());
    assert!(
        f[0]["fix"]["immediate"]
            .to_string()
            .contains("sudo iptables-nft -I DOCKER-USER -o cni-podman0 -j ACCEPT"),
        "{:#}",
        f[0]
    );
    // Teardown left nothing of podman's: no conmon of this run, no lab namespace.
    assert!(
        !run.stderr.contains("WARNING: still alive"),
        "{}",
        run.context()
    );
    let pids = Command::new("pgrep")
        .args(["-f", "/tmp/fwl\\..*/podman"])
        .output()
        .expect("pgrep");
    assert!(
        String::from_utf8_lossy(&pids.stdout).trim().is_empty(),
        "processes of a lab podman are left: {}",
        String::from_utf8_lossy(&pids.stdout)
    );
}
