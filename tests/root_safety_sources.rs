//! Hostile sources and a root run: a Docker socket that streams huge bodies, programs planted
//! in the current directory or a user's `PATH` directory, a ufw that is not enabled, a
//! `--notify` command whose grandchild outlives it, evidence text full of escape sequences, and
//! durations that overflow `Instant`.
//!
//! Live runs happen inside a private network namespace (`unshare -n`, plus `-m` with a tmpfs
//! over /etc for the ufw.conf cases), so the host's firewall and files are neither read nor
//! touched; fake tools are shell scripts in directories the test creates. The live tests need
//! root and fail without it (CI runs them as root).

mod common;

use common::{Fakes, write_tool};
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

const FWDOCTOR: &str = env!("CARGO_BIN_EXE_fwdoctor");

/// These tests run fwdoctor live in private namespaces: they need root and `unshare`.
fn root() {
    let ok = nix::unistd::geteuid().is_root()
        && Command::new("unshare")
            .args(["-n", "-m", "true"])
            .status()
            .is_ok_and(|s| s.success());
    assert!(
        ok,
        "these tests need root and `unshare -n -m` (run them as root, as CI does)"
    );
}

/// Every ruleset tool answers "no rules"; snap, ufw and firewall-cmd are absent.
fn no_rules_tools(f: &Fakes) {
    for t in ["snap", "ufw", "firewall-cmd"] {
        f.tool(t, "echo \"$0: not here\" >&2; exit 127");
    }
    f.tool("iptables-nft-save", "exit 0")
        .tool("ip6tables-nft-save", "exit 0")
        .tool("nft", "echo '{\"nftables\": []}'");
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

fn run(cmd: &mut Command) -> Run {
    let start = Instant::now();
    let out = cmd.output().expect("runs");
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        elapsed: start.elapsed(),
    };
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    run
}

/// `unshare -n /usr/bin/time fwdoctor ARGS` with `PATH` and `DOCKER_HOST` given; `maxrss=KiB`
/// ends stderr.
fn live(path_env: &str, docker_host: Option<&Path>, args: &[&str]) -> Run {
    let mut cmd = Command::new("unshare");
    cmd.args(["-n", "/usr/bin/time", "-f", "maxrss=%M", FWDOCTOR])
        .args(args)
        .env("PATH", path_env)
        .env(
            "DOCKER_HOST",
            match docker_host {
                Some(p) => format!("unix://{}", p.display()),
                None => "unix:///nonexistent/fwdoctor-test.sock".into(),
            },
        );
    run(&mut cmd)
}

/// The peak RSS `/usr/bin/time` reported, in MiB.
fn max_rss_mib(r: &Run) -> u64 {
    let kib: u64 = r
        .stderr
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("maxrss="))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no maxrss line in stderr: {}", r.stderr));
    kib / 1024
}

fn json(r: &Run) -> serde_json::Value {
    serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", r.stdout, r.stderr))
}

/// The `evidence-missing` finding's evidence lines as `location: text`.
fn missing(j: &serde_json::Value) -> Vec<String> {
    j["findings"]
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

// ---------------------------------------------------------------------------------------------
// A hostile Docker socket

/// What the fake daemon sends for one path.
#[derive(Clone, Copy)]
enum Reply {
    /// A small valid body.
    Small(&'static str),
    /// Headers, then `[` and `{"Id":"x"},` over and over until fwdoctor hangs up.
    Endless,
    /// A complete, valid body of `n` bytes: `[{},{},...,{}]`.
    ManyObjects(usize),
}

/// A fake dockerd answering every request with `reply(path)`, until the test ends.
fn fake_docker(dir: &Path, reply: fn(&str) -> Reply) -> PathBuf {
    common::fake_docker(
        dir,
        move |path: &str, conn: &mut std::os::unix::net::UnixStream| {
            let head = "HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n";
            let _ = conn.write_all(head.as_bytes());
            match reply(path) {
                Reply::Small(body) => {
                    let _ = conn.write_all(body.as_bytes());
                }
                Reply::Endless => {
                    let chunk = "{\"Id\":\"x\"},".repeat(64 * 1024);
                    let _ = conn.write_all(b"[");
                    // Stops when fwdoctor closes the connection, or after 4 GiB.
                    for _ in 0..6_000 {
                        if conn.write_all(chunk.as_bytes()).is_err() {
                            break;
                        }
                    }
                }
                Reply::ManyObjects(n) => {
                    let mut body = "{},".repeat(n / 3);
                    body.pop();
                    let _ = conn.write_all(format!("[{body}]").as_bytes());
                }
            }
        },
    )
}

const INFO: &str = "{\"ServerVersion\":\"27.0.1\"}";
const VERSION: &str = "{\"Version\":\"27.0.1\"}";

#[test]
fn docker_streaming_endless_bodies_is_failed_in_time_with_bounded_memory() {
    root();
    let dir = tempfile::tempdir().expect("tempdir");
    // All four endpoints stream without end: fwdoctor stops reading each at its cap.
    let sock = fake_docker(dir.path(), |_| Reply::Endless);
    let f = Fakes::new();
    no_rules_tools(&f);
    let r = live(
        &f.path_env(),
        Some(&sock),
        &["check", "--format", "json", "--timeout", "20"],
    );
    let j = json(&r);
    assert_eq!(r.code, 3, "{j:#}\n{}", r.stderr);
    let lines = missing(&j);
    for (source, cap) in [
        ("docker-containers", "64 MiB"),
        ("docker-networks", "16 MiB"),
        ("docker-info", "8 MiB"),
    ] {
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with(&format!("{source}: failed"))
                    && l.contains(&format!("larger than {cap}"))),
            "{source} not failed at {cap}: {lines:#?}"
        );
    }
    assert!(r.elapsed < Duration::from_secs(20), "{:?}", r.elapsed);
    // Caps 64 + 16 + 8 + 8 MiB; before, 4 x 256 MiB were read.
    let rss = max_rss_mib(&r);
    assert!(rss < 300, "peak RSS {rss} MiB");
}

#[test]
fn docker_valid_body_of_millions_of_objects_is_refused_without_building_them() {
    root();
    let dir = tempfile::tempdir().expect("tempdir");
    let sock = fake_docker(dir.path(), |path| match path {
        "/info" => Reply::Small(INFO),
        "/version" => Reply::Small(VERSION),
        "/networks" => Reply::Small("[]"),
        // 12 MiB, under the cap: 4 million empty container objects (twice the values allowed).
        // Deserialized, each was two 96-byte structs: over 700 MiB.
        _ => Reply::ManyObjects(12 * 1024 * 1024),
    });
    let f = Fakes::new();
    no_rules_tools(&f);
    let r = live(
        &f.path_env(),
        Some(&sock),
        &["check", "--format", "json", "--timeout", "20"],
    );
    assert_eq!(r.code, 3, "{}\n{}", r.stdout, r.stderr);
    let all = format!("{}{}", r.stdout, r.stderr);
    assert!(
        all.contains("docker-containers.json") && all.contains("JSON values"),
        "{all}"
    );
    let rss = max_rss_mib(&r);
    assert!(rss < 200, "peak RSS {rss} MiB");
}

#[test]
fn docker_socket_of_another_user_is_read_with_a_warning() {
    root();
    let dir = tempfile::tempdir().expect("tempdir");
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).expect("chmod");
    let sock = fake_docker(dir.path(), |path| match path {
        "/info" => Reply::Small(INFO),
        "/version" => Reply::Small(VERSION),
        _ => Reply::Small("[]"),
    });
    nix::unistd::chown(
        &sock,
        Some(nix::unistd::Uid::from_raw(65534)),
        Some(nix::unistd::Gid::from_raw(65534)),
    )
    .expect("chown");
    let f = Fakes::new();
    no_rules_tools(&f);
    let r = live(
        &f.path_env(),
        Some(&sock),
        &["check", "--format", "json", "--timeout", "5"],
    );
    let j = json(&r);
    let notes = j["notes"].to_string();
    assert!(
        notes.contains("owned by uid 65534") && notes.contains("answers for the Docker daemon"),
        "{j:#}"
    );
}

// ---------------------------------------------------------------------------------------------
// Programs looked up as root

#[test]
fn as_root_relative_and_foreign_path_entries_are_not_searched() {
    root();
    let work = tempfile::tempdir().expect("tempdir");
    let marker = work.path().join("planted-ran");
    let planted = format!("touch '{}'; echo '{{\"nftables\": []}}'", marker.display());
    // The attacker's current directory, and a PATH directory the attacker owns.
    let cwd = work.path().join("cwd");
    let theirs = work.path().join("theirs");
    for d in [&cwd, &theirs] {
        fs::create_dir(d).expect("mkdir");
        fs::set_permissions(d, fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    for t in [
        "nft",
        "iptables-nft-save",
        "ip6tables-nft-save",
        "ufw",
        "snap",
    ] {
        write_tool(&cwd, t, &planted);
        write_tool(&theirs, t, &planted);
    }
    let nobody = Some(nix::unistd::Uid::from_raw(65534));
    nix::unistd::chown(&theirs, nobody, None).expect("chown");
    let f = Fakes::new();
    no_rules_tools(&f);
    let path_env = format!(":.:cwd:{}:{}", theirs.display(), f.path_env());
    let mut cmd = Command::new("unshare");
    cmd.args([
        "-n",
        FWDOCTOR,
        "check",
        "--format",
        "json",
        "--timeout",
        "5",
    ])
    .current_dir(&cwd)
    .env("PATH", path_env)
    .env("DOCKER_HOST", "unix:///nonexistent/fwdoctor-test.sock");
    let r = run(&mut cmd);
    assert!(!marker.exists(), "a planted tool ran: {}", r.stdout);
    // The root-owned directory of fakes first on PATH is still used (tests and the lab).
    assert_ne!(json(&r)["host"]["sources"]["nft-ruleset"], "missing");
}

#[test]
fn find_binary_as_root_takes_only_root_only_directories() {
    use fwdoctor::collect::command::find_binary_in;
    root();
    let d = tempfile::tempdir().expect("tempdir");
    let mine = d.path().join("mine");
    let theirs = d.path().join("theirs");
    let open = d.path().join("open");
    for (dir, mode) in [(&mine, 0o755), (&theirs, 0o755), (&open, 0o777)] {
        fs::create_dir(dir).unwrap();
        fs::set_permissions(dir, fs::Permissions::from_mode(mode)).unwrap();
        write_tool(dir, "fwdoctor-test-tool", "exit 0");
    }
    let path_of = |dir: &Path| Some(dir.as_os_str().to_owned());
    let tool = "fwdoctor-test-tool";
    nix::unistd::chown(&theirs, Some(nix::unistd::Uid::from_raw(65534)), None).unwrap();
    assert_eq!(
        find_binary_in(tool, path_of(&mine).as_deref(), true),
        Some(mine.join(tool))
    );
    assert_eq!(
        find_binary_in(tool, path_of(&theirs).as_deref(), true),
        None
    );
    // Not root: the user's own directories are theirs to trust.
    assert_eq!(
        find_binary_in(tool, path_of(&theirs).as_deref(), false),
        Some(theirs.join(tool))
    );
    assert_eq!(find_binary_in(tool, path_of(&open).as_deref(), true), None);
    // A relative entry is never searched, root or not: the tool sits in `target/.tmpXXXX`,
    // relative to the working directory cargo gives tests (the package root).
    let here = tempfile::Builder::new()
        .tempdir_in("target")
        .expect("tempdir in target");
    write_tool(here.path(), tool, "exit 0");
    let rel = &Path::new("target").join(here.path().file_name().unwrap());
    assert!(
        rel.is_relative() && rel.join(tool).exists(),
        "{}",
        rel.display()
    );
    let relative = std::env::join_paths([rel, Path::new("")]).unwrap();
    assert_eq!(find_binary_in(tool, Some(&relative), false), None);
    assert_eq!(find_binary_in(tool, Some(&relative), true), None);
    // The system directories come after PATH.
    assert!(find_binary_in("sh", None, true).is_some());
}

// ---------------------------------------------------------------------------------------------
// ufw only when enabled

/// `fwdoctor capture` in a private network and mount namespace whose /etc is a tmpfs holding
/// only `ufw/ufw.conf` with `conf`; returns the capture directory and whether ufw ran.
fn capture_with_ufw_conf(conf: &str) -> (tempfile::TempDir, bool) {
    let work = tempfile::tempdir().expect("tempdir");
    let ran = work.path().join("ufw-ran");
    let f = Fakes::new();
    no_rules_tools(&f);
    f.tool(
        "ufw",
        &format!(
            "touch '{}'\nprintf 'Status: active\\nDefault: deny (incoming), allow (outgoing), deny (routed)\\n'",
            ran.display()
        ),
    );
    let conf_file = work.path().join("ufw.conf");
    fs::write(&conf_file, conf).expect("write conf");
    let out = work.path().join("capture");
    let script = r#"mount -t tmpfs fwdoctor-test /etc && mkdir /etc/ufw && cp "$1" /etc/ufw/ufw.conf && shift && exec "$@""#;
    let mut cmd = Command::new("unshare");
    cmd.args(["-n", "-m", "/bin/sh", "-c", script, "sh"])
        .arg(&conf_file)
        .args([FWDOCTOR, "capture", "--timeout", "5", "-o"])
        .arg(&out)
        .env("PATH", f.path_env())
        .env("DOCKER_HOST", "unix:///nonexistent/fwdoctor-test.sock");
    let r = run(&mut cmd);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let ran = ran.exists();
    (work, ran)
}

#[test]
fn ufw_status_runs_only_when_ufw_conf_says_enabled() {
    root();
    let (work, ran) = capture_with_ufw_conf("# ufw\nENABLED=no\nLOGLEVEL=low\n");
    assert!(!ran, "ufw status ran although ufw is not enabled");
    let cap = work.path().join("capture");
    assert_eq!(
        fs::read_to_string(cap.join("ufw-status.txt")).unwrap(),
        "Status: inactive\n"
    );
    let meta: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(cap.join("meta.json")).unwrap()).unwrap();
    let ufw = &meta["sources"]["ufw-status"];
    assert_eq!(ufw["status"], "ok", "{ufw:#}");
    let reason = ufw["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("not enabled") && reason.contains("not run"),
        "{ufw:#}"
    );
    // The model reads that as an inactive ufw.
    let out = Command::new(FWDOCTOR)
        .args(["check", "--format", "json", "--from"])
        .arg(&cap)
        .output()
        .unwrap();
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["host"]["ufw_active"], false, "{j:#}");

    let (work, ran) = capture_with_ufw_conf("ENABLED=yes\n");
    assert!(ran, "ufw status did not run although ufw is enabled");
    let status = fs::read_to_string(work.path().join("capture/ufw-status.txt")).unwrap();
    assert!(status.starts_with("Status: active"), "{status}");
}

#[test]
fn ufw_conf_enabled_is_read_like_the_shell_reads_it() {
    use fwdoctor::collect::live::ufw_enabled;
    assert!(ufw_enabled("ENABLED=yes\n"));
    assert!(ufw_enabled("# x\nENABLED=\"yes\"  # on\n"));
    assert!(!ufw_enabled("ENABLED=no\n"));
    assert!(!ufw_enabled("ENABLED=yes\nENABLED=no\n"));
    assert!(!ufw_enabled("#ENABLED=yes\n"));
    assert!(!ufw_enabled(""));
}

// ---------------------------------------------------------------------------------------------
// --notify: its own process group, no wait for a grandchild's pipe

/// Kills (by pid, from a file the command wrote) the background process a test started.
struct KillOnDrop(PathBuf);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(pid) = fs::read_to_string(&self.0)
            .ok()
            .and_then(|p| p.trim().parse::<i32>().ok())
        {
            let _ =
                nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGKILL);
        }
    }
}

fn alive(pid_file: &Path) -> bool {
    let Some(pid) = fs::read_to_string(pid_file)
        .ok()
        .and_then(|p| p.trim().parse::<i32>().ok())
    else {
        return false;
    };
    // A killed process may linger as a zombie until its new parent reaps it.
    fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit(')')
            .next()
            .is_some_and(|s| !s.trim_start().starts_with('Z'))
    })
}

#[test]
fn notify_timeout_kills_the_whole_group() {
    use fwdoctor::alert::notify::deliver;
    let d = tempfile::tempdir().unwrap();
    let pid_file = d.path().join("pid");
    let _cleanup = KillOnDrop(pid_file.clone());
    let cmd = format!("sleep 30 & echo $! > '{}'; wait", pid_file.display());
    let start = Instant::now();
    let e = deliver(&cmd, "report", Duration::from_secs(1)).unwrap_err();
    assert!(e.contains("did not finish"), "{e}");
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "{:?}",
        start.elapsed()
    );
    let gone = (0..50).any(|_| {
        thread::sleep(Duration::from_millis(20));
        !alive(&pid_file)
    });
    assert!(
        gone,
        "the notify command's background sleep survived the timeout"
    );
}

#[test]
fn notify_failure_does_not_wait_for_a_grandchild_holding_stderr() {
    use fwdoctor::alert::notify::deliver;
    let d = tempfile::tempdir().unwrap();
    let pid_file = d.path().join("pid");
    let _cleanup = KillOnDrop(pid_file.clone());
    let cmd = format!(
        "sleep 25 & echo $! > '{}'; echo no MTA >&2; exit 1",
        pid_file.display()
    );
    let start = Instant::now();
    let e = deliver(&cmd, "report", Duration::from_secs(5)).unwrap_err();
    assert!(e.contains("exited with 1") && e.contains("no MTA"), "{e}");
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
}

// ---------------------------------------------------------------------------------------------
// Escape sequences and newlines in the evidence

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/fixtures/lab/nft-native-forward-drop"
);
const OSC: &str = "\u{1b}]0;pwned\u{7}";
const CLEAR: &str = "\u{1b}[2J";

/// The nft-native-forward-drop lab capture, with its dropping nft chain renamed, a dropping
/// rule with a comment, and the container renamed, all holding escape sequences and a newline;
/// plus a published port whose `IP` forges a Nagios status line.
fn hostile_capture(dir: &Path) -> PathBuf {
    let cap = dir.join("capture");
    fs::create_dir(&cap).unwrap();
    for e in fs::read_dir(FIXTURE).unwrap() {
        let e = e.unwrap();
        fs::copy(e.path(), cap.join(e.file_name())).unwrap();
    }
    let chain = format!("forward{CLEAR}\nINJECTED");
    let comment = format!("{OSC}{CLEAR}\nINJECTED");
    // The capture's layout: the user's table in its own `nft -j list table inet filter` file,
    // its chains also in nft-chains.json.
    for file in ["nft-table-inet-filter.json", "nft-chains.json"] {
        let path = cap.join(file);
        let mut nft: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
        let items = nft["nftables"].as_array_mut().unwrap();
        let mut renamed = 0;
        for item in items.iter_mut() {
            for kind in ["chain", "rule"] {
                let Some(obj) = item.get_mut(kind) else {
                    continue;
                };
                if obj["family"] == "inet" && obj["table"] == "filter" {
                    let key = if kind == "chain" { "name" } else { "chain" };
                    if obj[key] == "forward" {
                        // The chain keeps the fixture's policy drop: behind the hostile rule (a
                        // deliberate drop, docker-user-blocks) it is a second, critical blocker.
                        obj[key] = chain.clone().into();
                        renamed += 1;
                    }
                }
            }
        }
        assert!(renamed > 0, "{file}: no inet filter forward chain");
        if file.starts_with("nft-table-") {
            items.push(serde_json::json!({"rule": {
                "family": "inet", "table": "filter", "chain": chain, "handle": 99,
                "comment": comment, "expr": [{"drop": null}]}}));
        }
        fs::write(&path, nft.to_string()).unwrap();
    }

    let path = cap.join("docker-containers.json");
    let mut containers: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
    let c = &mut containers[0];
    c["Names"] = serde_json::json!([format!("/web1{OSC}{CLEAR}\nINJECTED")]);
    c["Ports"].as_array_mut().unwrap().push(serde_json::json!({
        "IP": "0.0.0.0\nFWDOCTOR OK - all is well", "PrivatePort": 81, "PublicPort": 8081, "Type": "tcp"}));
    fs::write(&path, containers.to_string()).unwrap();

    // A bridge name that would end the suggested nft command and start another.
    let path = cap.join("docker-networks.json");
    let mut networks: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
    for n in networks.as_array_mut().unwrap() {
        if let Some(name) = n.pointer_mut("/Options/com.docker.network.bridge.name") {
            *name = "docker0\"; touch /tmp/pwned; #".into();
        }
    }
    fs::write(&path, networks.to_string()).unwrap();
    cap
}

/// No escape sequence and no line from the evidence: every `INJECTED` follows the visible
/// `\x0a` its newline became. With `colour`, only fwdoctor's own SGR codes (`ESC [ digits ; m`).
fn assert_clean(what: &str, out: &str, colour: bool) {
    assert!(
        !out.contains(OSC) && !out.contains(CLEAR),
        "{what}: {out:?}"
    );
    if colour {
        let sgr = regex::Regex::new("\u{1b}\\[[0-9;]*m").unwrap();
        assert!(
            !sgr.replace_all(out, "").contains('\u{1b}'),
            "{what}: {out:?}"
        );
    } else {
        assert!(!out.contains('\u{1b}'), "{what}: {out:?}");
    }
    assert!(!out.contains('\u{7}'), "{what}: {out:?}");
    assert_eq!(
        out.matches("INJECTED").count(),
        out.matches("\\x0aINJECTED").count(),
        "{what}: a newline from the evidence started a line: {out}"
    );
    assert!(
        !out.lines().any(|l| l.starts_with("FWDOCTOR OK")),
        "{what}: {out}"
    );
}

fn fwdoctor(args: &[&str], cap: &Path) -> Run {
    let mut cmd = Command::new(FWDOCTOR);
    // Wide enough that the ports table never breaks a cell inside an escape.
    cmd.args(args).arg("--from").arg(cap).env("COLUMNS", "400");
    run(&mut cmd)
}

#[test]
fn escape_sequences_and_newlines_from_the_evidence_never_reach_the_output() {
    let d = tempfile::tempdir().unwrap();
    let cap = hostile_capture(d.path());

    let r = fwdoctor(&["check", "-v", "--color", "never"], &cap);
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    // The data is there, escaped: the chain, the comment and the container.
    for shown in [
        "forward\\x1b[2J\\x0aINJECTED",
        "\\x1b]0;pwned\\x07",
        "web1\\x1b]0;pwned",
    ] {
        assert!(r.stdout.contains(shown), "{shown} not in {}", r.stdout);
    }
    // The invalid IP is a note, not a port; the invalid bridge name a note, not in a command.
    assert!(
        r.stdout.contains("not an IP address") && !r.stdout.contains(":8081/"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("not a Linux interface name"),
        "{}",
        r.stdout
    );
    assert!(
        !r.stdout
            .lines()
            .any(|l| l.contains("sudo") && l.contains("pwned;")),
        "{}",
        r.stdout
    );
    assert_clean("check -v", &r.stdout, false);

    let r = fwdoctor(&["check", "-v", "--color", "always"], &cap);
    assert!(
        r.stdout.contains("\u{1b}[1;31m"),
        "colour lost: {}",
        r.stdout
    );
    assert_clean("check -v --color always", &r.stdout, true);

    let r = fwdoctor(&["check", "--format", "nagios"], &cap);
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    assert_clean("nagios", &r.stdout, false);
    let status_lines = r
        .stdout
        .lines()
        .filter(|l| l.starts_with("FWDOCTOR "))
        .count();
    assert_eq!(status_lines, 1, "{}", r.stdout);
    assert!(r.stdout.starts_with("FWDOCTOR CRITICAL - "), "{}", r.stdout);

    let r = fwdoctor(&["trace", "tcp", "any", "->", "host:8080"], &cap);
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("forward\\x1b[2J"), "{}", r.stdout);
    assert_clean("trace", &r.stdout, false);

    let state = d.path().join("state");
    let r = fwdoctor(
        &[
            "check",
            "--cron",
            "--no-syslog",
            "--state-dir",
            state.to_str().unwrap(),
        ],
        &cap,
    );
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("NEW"), "{}", r.stdout);
    assert_clean("cron", &r.stdout, false);
}

// ---------------------------------------------------------------------------------------------
// Durations

#[test]
fn huge_or_zero_durations_are_refused_not_a_panic() {
    let d = tempfile::tempdir().unwrap();
    let huge = u64::MAX.to_string();
    for args in [
        vec!["check", "--timeout", &huge],
        vec!["check", "--timeout", "0"],
        vec!["capture", "-o", "x", "--timeout", "86401"],
        vec!["check", "--cron", "--lock-wait", &huge],
        vec![
            "check",
            "--cron",
            "--notify",
            "true",
            "--notify-timeout",
            &huge,
        ],
        vec![
            "check",
            "--cron",
            "--notify",
            "true",
            "--notify-timeout",
            "0",
        ],
    ] {
        let r = run(Command::new(FWDOCTOR).args(&args).current_dir(d.path()));
        // A usage error: exit 3 (unknown), as every other bad argument.
        assert_eq!(r.code, 3, "{args:?}: {}", r.stderr);
        assert!(
            r.stderr.contains("is not in 1..=86400") || r.stderr.contains("is not in 0..=86400"),
            "{args:?}: {}",
            r.stderr
        );
    }
}
