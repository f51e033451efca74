//! Failing sources on a live `fwdoctor check`: a tool that hangs, fails, is denied or prints
//! garbage; a Docker socket that is absent, denied, answers HTTP 500 or a truncated body; not
//! root; a partial capture. Each must end as `unknown` naming the source and the reason, never
//! as a verdict, and the run must take about the timeout, not the sum of the sources.
//!
//! Live runs happen inside a private, empty network namespace (`unshare -n`), so the host's
//! own firewall is neither read nor touched; the fake tools are shell scripts first on `PATH`.
//! They need root (as CI runs); without it each test says so and passes.

mod common;

use common::Fakes;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

/// These tests run fwdoctor live in a private network namespace: they need root and
/// `unshare -n` (CI has both). Without them they fail rather than skip.
fn root() {
    let ok = nix::unistd::geteuid().is_root()
        && Command::new("unshare")
            .args(["-n", "true"])
            .status()
            .is_ok_and(|s| s.success());
    assert!(
        ok,
        "these tests need root and `unshare -n` (run them as root, as CI does)"
    );
}

const HANG: &str = "exec sleep 1000";

/// The unprivileged tools a check also runs, made quiet and quick so that only the source under
/// test decides (and no host tool like `snap` or `ufw` slows a run).
fn quiet_extras(f: &Fakes) {
    for t in ["snap", "ufw", "firewall-cmd"] {
        f.tool(t, "echo \"$0: not here\" >&2; exit 127");
    }
}

struct Run {
    code: i32,
    json: serde_json::Value,
    stderr: String,
    elapsed: Duration,
}

/// `unshare -n [setpriv ...] fwdoctor check --format json --timeout T`, PATH = fakes first.
fn live(f: &Fakes, timeout: u64, docker_host: Option<&Path>, as_nobody: bool) -> Run {
    let mut cmd = Command::new("unshare");
    cmd.arg("-n");
    if as_nobody {
        cmd.args([
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
        ]);
    }
    cmd.arg(env!("CARGO_BIN_EXE_fwdoctor"))
        .args(["check", "--format", "json", "--timeout"])
        .arg(timeout.to_string())
        .env("PATH", f.path_env())
        .env_remove("DOCKER_HOST");
    match docker_host {
        Some(p) => cmd.env("DOCKER_HOST", format!("unix://{}", p.display())),
        // Nothing listens there: Docker is "not installed" in this namespace.
        None => cmd.env("DOCKER_HOST", "unix:///nonexistent/fwdoctor-test.sock"),
    };
    let start = Instant::now();
    let out = cmd.output().expect("runs unshare");
    let elapsed = start.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "{stderr}");
    let json = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    Run {
        code: out.status.code().unwrap_or(-1),
        json,
        stderr,
        elapsed,
    }
}

/// The `evidence-missing` finding's evidence lines as `location: text`.
/// A live check (5 s timeout) with `tool` faked by the shell `script`, the other tools quiet.
fn live_with(tool: &str, script: &str) -> Run {
    root();
    let f = Fakes::new();
    quiet_extras(&f);
    f.tool(tool, script);
    live(&f, 5, None, false)
}

fn missing(r: &Run) -> Vec<String> {
    r.json["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| f["check"] == "evidence-missing")
        .flat_map(|f| f["evidence"].as_array().cloned().unwrap_or_default())
        .map(|e| {
            format!(
                "{}: {}",
                e["location"].as_str().unwrap_or(""),
                e["text"].as_str().unwrap_or("")
            )
        })
        .collect()
}

fn assert_unknown_naming(r: &Run, source: &str, reason: &str) {
    assert_eq!(r.code, 3, "exit: {}\n{:#}\n{}", r.code, r.json, r.stderr);
    assert_eq!(r.json["status"], "unknown", "{:#}", r.json);
    assert_names(r, source, reason);
}

/// An `evidence-missing` line names `source` and `reason` (whatever the overall status: a
/// critical finding from the evidence that was read outranks unknown).
fn assert_names(r: &Run, source: &str, reason: &str) {
    assert!(r.code == 2 || r.code == 3, "exit {}: {:#}", r.code, r.json);
    let lines = missing(r);
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&format!("{source}: ")) && l.contains(reason)),
        "no evidence-missing line for {source} with {reason:?}: {lines:#?}"
    );
}

#[test]
fn a_hanging_tool_times_out_and_the_run_takes_the_timeout_not_the_sum() {
    root();
    let f = Fakes::new();
    quiet_extras(&f);
    for t in ["iptables-nft-save", "ip6tables-nft-save", "nft", "ip"] {
        f.tool(t, HANG);
    }
    let r = live(&f, 1, None, false);
    assert_unknown_naming(&r, "iptables-nft-save", "timeout");
    assert_unknown_naming(&r, "nft-ruleset", "timeout");
    // Four sources hang for the 1 s timeout each; in parallel the run takes about 1 s.
    assert!(
        r.elapsed < Duration::from_millis(3000),
        "took {:?}: the sources did not run in parallel",
        r.elapsed
    );
}

#[test]
fn slow_sources_run_in_parallel() {
    root();
    let f = Fakes::new();
    quiet_extras(&f);
    // Each prints a valid empty answer after 1 s; the sum would be 4 s.
    f.tool("iptables-nft-save", "sleep 1; exit 0")
        .tool("ip6tables-nft-save", "sleep 1; exit 0")
        .tool("nft", "sleep 1; echo '{\"nftables\": []}'")
        .tool("ip", "sleep 1; echo '[]'");
    let r = live(&f, 10, None, false);
    assert!(r.code <= 2, "{:#}\n{}", r.json, r.stderr);
    assert!(
        r.elapsed < Duration::from_millis(2800),
        "took {:?} for four 1 s sources",
        r.elapsed
    );
}

#[test]
fn a_tool_denied_says_so_and_suggests_sudo() {
    let r = live_with(
        "iptables-nft-save",
        "echo 'iptables-nft-save v1.8.9 (nf_tables): Could not fetch rule set generation id: Permission denied (you must be root)' >&2; exit 4",
    );
    assert_unknown_naming(&r, "iptables-nft-save", "denied");
    let fix = r.json["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|f| f["check"] == "evidence-missing")
        .map(|f| f["fix"].to_string())
        .unwrap_or_default();
    assert!(fix.contains("sudo"), "{fix}");
}

#[test]
fn a_tool_failing_is_unknown_with_its_exit_code_and_stderr() {
    let r = live_with(
        "nft",
        "echo 'netlink: Error: cache initialization failed: Protocol not supported' >&2; exit 1",
    );
    assert_unknown_naming(&r, "nft-ruleset", "exited with code 1");
    assert_unknown_naming(&r, "nft-ruleset", "Protocol not supported");
}

#[test]
fn a_tool_killed_by_a_signal_is_unknown_naming_the_signal() {
    // Seen for real: iptables-nft-save 1.8.9 (libnftnl 1.2.4) overflowed its stack and died of
    // SIGSEGV on a 250k-rule table (benches/scale.rs, README "Scale"), after printing part of
    // the dump. A partial dump must not be read as the ruleset.
    let r = live_with(
        "iptables-nft-save",
        "printf '*filter\\n:INPUT ACCEPT [0:0]\\n'; kill -SEGV $$",
    );
    assert_unknown_naming(&r, "iptables-nft-save", "killed by signal 11");
}

#[test]
fn a_tool_printing_non_utf8_is_unknown() {
    let r = live_with("iptables-nft-save", "printf '*filter\\n\\377\\376\\n'");
    assert_unknown_naming(&r, "iptables-nft-save", "not UTF-8");
}

#[test]
fn a_tool_printing_garbage_stops_the_check_naming_source_and_line() {
    let r = live_with(
        "iptables-nft-save",
        "printf '*filter\\n:INPUT ACCEPT [0:0]\\nSegmentation fault (core dumped)\\n'",
    );
    assert_eq!(r.code, 3, "{:#}\n{}", r.json, r.stderr);
    assert!(
        r.stderr.contains("iptables-nft-save.txt:3:"),
        "stderr: {}",
        r.stderr
    );
    // No verdict from garbage: the JSON document (issue 17) says unknown, with the error.
    assert_eq!(r.json["status"], "unknown", "{:#}", r.json);
    assert!(
        r.json["error"]
            .as_str()
            .is_some_and(|e| e.contains("iptables-nft-save.txt:3:")),
        "{:#}",
        r.json
    );
    assert!(r.json["ports"].as_array().is_some_and(Vec::is_empty));
}

#[test]
fn not_root_is_unknown_and_suggests_sudo() {
    root();
    let f = Fakes::new();
    quiet_extras(&f);
    // The real tools, as nobody, in an empty namespace.
    let r = live(&f, 10, None, true);
    assert_eq!(r.code, 3, "{:#}\n{}", r.json, r.stderr);
    assert_eq!(r.json["status"], "unknown");
    let lines = missing(&r);
    assert!(
        lines.iter().any(|l| l.contains("denied")),
        "{lines:#?}\n{:#}",
        r.json
    );
    assert!(
        r.json.to_string().contains("sudo fwdoctor check"),
        "{:#}",
        r.json
    );
}

// ---------------------------------------------------------------------------------------------
// Docker's socket

/// A fake dockerd answering every request with `reply(path)`, reachable by nobody too.
fn fake_docker(dir: &Path, reply: fn(&str) -> Vec<u8>) -> PathBuf {
    let path = common::fake_docker(
        dir,
        move |p: &str, conn: &mut std::os::unix::net::UnixStream| {
            let _ = conn.write_all(&reply(p));
        },
    );
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).expect("chmod");
    path
}

fn http(status: &str, headers: &str, body: &str) -> Vec<u8> {
    format!("HTTP/1.0 {status}\r\nContent-Type: application/json\r\n{headers}\r\n{body}")
        .into_bytes()
}

fn no_rules_tools(f: &Fakes) {
    quiet_extras(f);
    f.tool("iptables-nft-save", "exit 0")
        .tool("ip6tables-nft-save", "exit 0")
        .tool("nft", "echo '{\"nftables\": []}'");
}

#[test]
fn docker_answering_500_is_unknown_not_a_verdict() {
    root();
    let dir = tempfile::tempdir().expect("tempdir");
    let sock = fake_docker(dir.path(), |_| {
        http(
            "500 Internal Server Error",
            "",
            "{\"message\":\"layer store is locked\"}",
        )
    });
    let f = Fakes::new();
    no_rules_tools(&f);
    let r = live(&f, 5, Some(&sock), false);
    assert_unknown_naming(&r, "docker-info", "HTTP 500");
    assert_unknown_naming(&r, "docker-containers", "layer store is locked");
}

#[test]
fn docker_truncated_body_is_unknown() {
    root();
    let dir = tempfile::tempdir().expect("tempdir");
    let sock = fake_docker(dir.path(), |path| match path {
        "/containers/json" => http(
            "200 OK",
            "",
            "[{\"Id\":\"abc\",\"Names\":[\"/web\"],\"Ports\":[{\"IP\":\"0.0.0.0\",\"Private",
        ),
        "/info" => http(
            "200 OK",
            "Content-Length: 400\r\n",
            "{\"ServerVersion\":\"27.0.1\"}",
        ),
        "/version" => http("200 OK", "", "{\"Version\":\"27.0.1\"}"),
        _ => http("200 OK", "", "[]"),
    });
    let f = Fakes::new();
    no_rules_tools(&f);
    let r = live(&f, 5, Some(&sock), false);
    // Docker answered /version, so docker-chains-missing (critical) is a true finding here.
    assert_names(&r, "docker-containers", "truncated or invalid JSON");
    assert_names(&r, "docker-info", "truncated body");
    // No port is claimed reachable or blocked from half an answer.
    assert!(
        r.json["ports"].as_array().is_none_or(|p| p.is_empty()),
        "{:#}",
        r.json
    );
}

#[test]
fn docker_chunk_size_overflow_does_not_panic() {
    root();
    let dir = tempfile::tempdir().expect("tempdir");
    let sock = fake_docker(dir.path(), |_| {
        http(
            "200 OK",
            "Transfer-Encoding: chunked\r\n",
            "ffffffffffffffff\r\n[]\r\n0\r\n\r\n",
        )
    });
    let f = Fakes::new();
    no_rules_tools(&f);
    let r = live(&f, 5, Some(&sock), false);
    assert_unknown_naming(&r, "docker-info", "truncated");
}

#[test]
fn docker_silent_times_out_within_the_timeout() {
    root();
    let dir = tempfile::tempdir().expect("tempdir");
    let sock = fake_docker(dir.path(), |_| {
        thread::sleep(Duration::from_secs(30));
        Vec::new()
    });
    let f = Fakes::new();
    no_rules_tools(&f);
    let r = live(&f, 1, Some(&sock), false);
    assert_unknown_naming(&r, "docker-info", "timeout");
    assert!(r.elapsed < Duration::from_millis(3000), "{:?}", r.elapsed);
}

#[test]
fn docker_socket_denied_for_nobody() {
    root();
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let sock = fake_docker(dir.path(), |_| http("200 OK", "", "{}"));
    std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let f = Fakes::new();
    no_rules_tools(&f);
    let r = live(&f, 5, Some(&sock), true);
    assert_unknown_naming(&r, "docker-info", "permission denied");
}

#[test]
fn docker_absent_is_not_an_error() {
    root();
    let f = Fakes::new();
    no_rules_tools(&f);
    let r = live(&f, 5, None, false);
    assert!(
        missing(&r).iter().all(|l| !l.starts_with("docker")),
        "{:#?}",
        missing(&r)
    );
    assert_ne!(r.code, 3, "{:#}", r.json);
}

// ---------------------------------------------------------------------------------------------
// Partial captures (no root needed)

#[test]
fn partial_capture_is_unknown_naming_what_is_missing() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("meta.json"),
        r#"{"format":"fwdoctor-capture/1","sources":{
            "iptables-nft-save":{"status":"ok","command":"iptables-nft-save"},
            "iptables-legacy-save":{"status":"timeout","command":"iptables-legacy-save","reason":"iptables-legacy-save did not finish within 30.0 s (killed)"},
            "legacy-tables":{"status":"ok","command":"cat /proc/net/ip_tables_names"}}}"#,
    )
    .expect("meta");
    std::fs::write(
        dir.path().join("iptables-nft-save.txt"),
        "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n",
    )
    .expect("save");
    std::fs::write(dir.path().join("legacy-tables.txt"), "filter\n").expect("tables");
    let out = Command::new(env!("CARGO_BIN_EXE_fwdoctor"))
        .args(["check", "--format", "json", "--from"])
        .arg(dir.path())
        .output()
        .expect("runs");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let r = Run {
        code: out.status.code().unwrap_or(-1),
        json,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        elapsed: Duration::ZERO,
    };
    assert_unknown_naming(&r, "iptables-legacy-save", "timeout");
    // A file meta.json calls ok that is not there is missing, not "no rules".
    std::fs::remove_file(dir.path().join("iptables-nft-save.txt")).expect("rm");
    let out = Command::new(env!("CARGO_BIN_EXE_fwdoctor"))
        .args(["check", "--format", "json", "--from"])
        .arg(dir.path())
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(3));
}

/// A process named `firewalld` (a shell blocked on its stdin, no child) until dropped: a live
/// check then asks firewall-cmd instead of concluding from /proc that firewalld is not running.
/// Tests that start one or need none hold [`FIREWALLD_PROCESSES`].
struct FakeFirewalld(std::process::Child);

static FIREWALLD_PROCESSES: std::sync::Mutex<()> = std::sync::Mutex::new(());

impl FakeFirewalld {
    fn start(f: &Fakes) -> FakeFirewalld {
        let dir = f.dir.path().join("daemon");
        std::fs::create_dir(&dir).expect("mkdir");
        common::write_tool(&dir, "firewalld", "read never");
        let child = Command::new(dir.join("firewalld"))
            .stdin(std::process::Stdio::piped())
            .spawn()
            .expect("starts the fake firewalld");
        let comm = Path::new("/proc").join(child.id().to_string()).join("comm");
        for _ in 0..100 {
            if std::fs::read_to_string(&comm).is_ok_and(|c| c.trim() == "firewalld") {
                break;
            }
            thread::sleep(Duration::from_millis(10));
        }
        FakeFirewalld(child)
    }
}

impl Drop for FakeFirewalld {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// firewall-cmd, a Python program, costs a tenth of a second of CPU to start: with no firewalld
/// process it is not run, and "not running" says why; with one, it is asked.
#[test]
fn firewall_cmd_runs_only_when_a_firewalld_process_exists() {
    root();
    let _alone = FIREWALLD_PROCESSES
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let f = Fakes::new();
    quiet_extras(&f);
    let ran = f.dir.path().join("firewall-cmd-ran");
    f.tool(
        "firewall-cmd",
        &format!("echo \"$@\" >> '{}'; echo running", ran.display()),
    );
    let firewalld = FakeFirewalld::start(&f);
    let r = live(&f, 5, None, false);
    let asked = std::fs::read_to_string(&ran).unwrap_or_default();
    assert!(
        asked.contains("--state") && asked.contains("--list-all-zones"),
        "firewall-cmd was not asked although a firewalld process runs: {asked:?}"
    );
    assert_eq!(r.json["host"]["firewalld_running"], true, "{:#}", r.json);
    drop(firewalld);
    // Without one it is not run, on a host that runs no firewalld itself (CI's; on one that
    // does, the real one is asked, which the first half already proved).
    let real_firewalld = std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
        std::fs::read_to_string(e.path().join("comm")).is_ok_and(|c| c.trim() == "firewalld")
    });
    if !real_firewalld {
        std::fs::remove_file(&ran).expect("firewall-cmd ran before");
        let r = live(&f, 5, None, false);
        assert!(
            !ran.exists(),
            "firewall-cmd was run without a firewalld process"
        );
        assert_eq!(r.json["host"]["firewalld_running"], false, "{:#}", r.json);
        assert_eq!(
            r.json["host"]["sources"]["firewalld-state"], "ok",
            "{:#}",
            r.json
        );
    }
}

/// Without a D-Bus system bus firewalld cannot run: firewall-cmd's "Failed to connect to socket
/// /run/dbus/system_bus_socket" is the answer "not running", not a failed source. (Run in a
/// private mount namespace whose /run/dbus is empty, so the machine's bus, if any, is hidden;
/// a fake firewalld process makes the check ask firewall-cmd.)
#[test]
fn no_system_bus_means_firewalld_is_not_running() {
    root();
    let f = Fakes::new();
    quiet_extras(&f);
    f.tool(
        "firewall-cmd",
        "echo 'Error: DBUS_ERROR: Failed to connect to socket /run/dbus/system_bus_socket: No such file or directory' >&2; exit 36",
    );
    let _alone = FIREWALLD_PROCESSES
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let _firewalld = FakeFirewalld::start(&f);
    let out = Command::new("unshare")
        .args(["-n", "-m", "--propagation", "private", "sh", "-c"])
        .arg(
            "if [ -d /run/dbus ]; then mount -t tmpfs fwdoctor-test /run/dbus || exit 99; fi; exec \"$@\"",
        )
        .arg("sh")
        .arg(env!("CARGO_BIN_EXE_fwdoctor"))
        .args(["check", "--format", "json", "--timeout", "5"])
        .env("PATH", f.path_env())
        .env_remove("DBUS_SYSTEM_BUS_ADDRESS")
        .env("DOCKER_HOST", "unix:///nonexistent/fwdoctor-test.sock")
        .output()
        .expect("runs unshare");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(json["host"]["firewalld_running"], false, "{json:#}");
    for source in ["firewalld-state", "firewalld-zones"] {
        assert_eq!(json["host"]["sources"][source], "ok", "{source}: {json:#}");
    }
}
