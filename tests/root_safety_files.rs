//! fwdoctor runs as root on input anyone can send: the files it writes must not be redirected
//! by another user (links, FIFOs, directories they own), captures must not leak secrets, and
//! `check --from` must not read what a capture's links point at, hang on a FIFO or map a
//! huge file. Each test is one attack that worked before `safe_fs`.
//!
//! The attacker is `nobody` (uid 65534): directories are chowned to it, or fwdoctor runs as
//! it through `setpriv`. These tests need root (as CI runs them); without it they fail.

mod common;

use assert_cmd::Command;
use common::Fakes;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const NOBODY: u32 = 65534;

fn root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "these tests need root (run them as root, as CI does)"
    );
}

fn chown_to_nobody(path: &Path) {
    std::os::unix::fs::lchown(path, Some(NOBODY), Some(NOBODY)).unwrap();
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A file root owns, with known content and mode, that no run may change.
struct Victim {
    path: PathBuf,
}

const VICTIM_TEXT: &str = "root's file: must not change\n";

impl Victim {
    fn new(dir: &Path) -> Victim {
        let path = dir.join("victim");
        std::fs::write(&path, VICTIM_TEXT).unwrap();
        chmod(&path, 0o600);
        Victim { path }
    }

    fn assert_untouched(&self) {
        let meta = std::fs::metadata(&self.path).unwrap();
        assert_eq!(
            std::fs::read_to_string(&self.path).unwrap(),
            VICTIM_TEXT,
            "the victim's content changed"
        );
        assert_eq!(meta.mode() & 0o7777, 0o600, "the victim's mode changed");
        assert_eq!(meta.uid(), 0, "the victim's owner changed");
    }
}

/// Links to `target` at `dir/.NAME.tmp.PID` for the next few hundred pids: the temporary
/// names fwdoctor used to write through.
fn plant_pid_links(dir: &Path, name: &str, target: &Path) {
    let last: u32 = std::fs::read_to_string("/proc/sys/kernel/ns_last_pid")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    for pid in last + 1..last + 400 {
        symlink(target, dir.join(format!(".{name}.tmp.{pid}"))).unwrap();
        chown_to_nobody(&dir.join(format!(".{name}.tmp.{pid}")));
    }
}

/// A small capture (a bare pair of save files) that everyone may read.
fn capture(base: &Path) -> PathBuf {
    let cap = base.join("cap");
    std::fs::create_dir(&cap).unwrap();
    std::fs::write(
        cap.join("iptables-legacy-save.txt"),
        "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n",
    )
    .unwrap();
    std::fs::write(cap.join("iptables-nft-save.txt"), "").unwrap();
    chmod(&cap, 0o755);
    chmod(&cap.join("iptables-legacy-save.txt"), 0o644);
    chmod(&cap.join("iptables-nft-save.txt"), 0o644);
    cap
}

/// A base directory everyone may traverse (for runs as nobody).
fn base() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    chmod(d.path(), 0o755);
    d
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

fn fwdoctor(args: &[&str]) -> Run {
    let start = Instant::now();
    let out = Command::cargo_bin("fwdoctor")
        .unwrap()
        .args(args)
        .env(
            "FWDOCTOR_SYSLOG_SOCKET",
            "/nonexistent/fwdoctor-test-syslog",
        )
        .timeout(Duration::from_secs(30))
        .output()
        .unwrap();
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        elapsed: start.elapsed(),
    };
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    run
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn a_textfile_directory_another_user_could_change_is_refused_and_nothing_outside_is_touched() {
    root();
    let d = base();
    let victim = Victim::new(d.path());
    let cap = capture(d.path());

    // Owned by nobody, with links at the old temporary names and at the file's own name.
    let theirs = d.path().join("theirs");
    std::fs::create_dir(&theirs).unwrap();
    chown_to_nobody(&theirs);
    plant_pid_links(&theirs, "fwdoctor.prom", &victim.path);
    symlink(&victim.path, theirs.join("fwdoctor.prom")).unwrap();
    let r = fwdoctor(&["check", "--from", s(&cap), "--textfile", s(&theirs)]);
    assert!(
        r.stderr
            .contains(&format!("refusing to write in {}", theirs.display()))
            && r.stderr.contains("owned by uid 65534"),
        "{}",
        r.stderr
    );
    assert!(r.code >= 2, "a textfile not written is not ok: {}", r.code);
    victim.assert_untouched();

    // Root's, but writable by its group: refused too, saying why.
    let shared = d.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    chmod(&shared, 0o775);
    let r = fwdoctor(&["check", "--from", s(&cap), "--textfile", s(&shared)]);
    assert!(r.stderr.contains("writable by its group"), "{}", r.stderr);
    assert!(!shared.join("fwdoctor.prom").exists());

    // Root's own directory: a link left at the file's name is replaced, not followed.
    let ours = d.path().join("ours");
    std::fs::create_dir(&ours).unwrap();
    symlink(&victim.path, ours.join("fwdoctor.prom")).unwrap();
    let r = fwdoctor(&["check", "--from", s(&cap), "--textfile", s(&ours)]);
    assert!(r.stderr.is_empty(), "{}", r.stderr);
    let meta = std::fs::symlink_metadata(ours.join("fwdoctor.prom")).unwrap();
    assert!(meta.is_file() && meta.mode() & 0o777 == 0o644, "{meta:?}");
    victim.assert_untouched();
}

#[test]
fn a_state_directory_another_user_owns_is_refused_and_the_report_still_printed() {
    root();
    let d = base();
    let victim = Victim::new(d.path());
    let cap = capture(d.path());
    let theirs = d.path().join("state");
    std::fs::create_dir(&theirs).unwrap();
    chown_to_nobody(&theirs);
    // The lock used to be opened through this link and truncated.
    symlink(&victim.path, theirs.join("lock")).unwrap();
    plant_pid_links(&theirs, "state.json", &victim.path);
    let r = fwdoctor(&[
        "check",
        "--cron",
        "--no-syslog",
        "--from",
        s(&cap),
        "--state-dir",
        s(&theirs),
    ]);
    victim.assert_untouched();
    // A failure to keep the alert's state is said on stderr and exits 3 (the one code the
    // systemd unit counts as failed), while the report still goes to stdout.
    assert!(
        r.stderr
            .contains(&format!("refusing to write in {}", theirs.display())),
        "{}\n{}",
        r.stdout,
        r.stderr
    );
    assert!(r.stderr.contains("no state is kept"), "{}", r.stderr);
    assert!(!r.stdout.is_empty(), "the report is printed");
    assert_eq!(r.code, 3, "{}", r.code);
}

#[test]
fn a_lock_file_that_is_a_fifo_or_a_link_is_refused_without_hanging() {
    root();
    let d = base();
    let victim = Victim::new(d.path());
    let cap = capture(d.path());
    for (what, plant) in [
        (
            "a FIFO",
            Box::new(|p: &Path| {
                nix::unistd::mkfifo(p, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap()
            }) as Box<dyn Fn(&Path)>,
        ),
        (
            "symbolic link",
            Box::new(|p: &Path| symlink(&victim.path, p).unwrap()),
        ),
    ] {
        let state = tempfile::tempdir_in(d.path()).unwrap();
        plant(&state.path().join("lock"));
        let r = fwdoctor(&[
            "check",
            "--cron",
            "--no-syslog",
            "--from",
            s(&cap),
            "--state-dir",
            s(state.path()),
        ]);
        assert!(
            r.elapsed < Duration::from_secs(10),
            "{what}: {:?}",
            r.elapsed
        );
        assert!(
            r.stderr.contains("cannot open the lock file") && r.stderr.contains(what),
            "{what}: {}\n{}",
            r.stdout,
            r.stderr
        );
        assert!(!state.path().join("state.json").exists(), "{what}");
    }
    victim.assert_untouched();
}

#[test]
fn a_read_only_state_directory_prints_the_report_and_the_error_once() {
    root();
    let d = base();
    let cap = capture(d.path());
    // Root's, mode 0755: nobody cannot create the lock in it.
    let state = d.path().join("state");
    std::fs::create_dir(&state).unwrap();
    let out = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_fwdoctor"))
        .args(["check", "--cron", "--no-syslog", "--from", s(&cap)])
        .args(["--state-dir", s(&state)])
        .env(
            "FWDOCTOR_SYSLOG_SOCKET",
            "/nonexistent/fwdoctor-test-syslog",
        )
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let both = format!("{stdout}{stderr}");
    assert_eq!(out.status.code(), Some(3), "{both}");
    assert_eq!(both.matches("Permission denied").count(), 1, "{both}");
    assert!(
        stderr.contains(&format!("{}", state.join("lock").display())),
        "{both}"
    );
    assert!(
        stdout.contains("NEW") && stdout.contains("legacy-tables-empty"),
        "the report is printed: {both}"
    );
}

/// A fake Docker daemon on a Unix socket answering every request with `reply(path)`.
fn fake_docker(dir: &Path, reply: fn(&str) -> String) -> PathBuf {
    common::fake_docker(
        dir,
        move |path: &str, conn: &mut std::os::unix::net::UnixStream| {
            let body = reply(path);
            let _ = conn.write_all(
                format!(
                    "HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\
                 Content-Length: {}\r\n\r\n{body}",
                    body.len()
                )
                .as_bytes(),
            );
        },
    )
}

const SECRET: &str = "hunter2-s3cret";

fn docker_reply(path: &str) -> String {
    let body = if path.ends_with("/info") {
        format!(
            r#"{{"ServerVersion":"27.3.1","IPv4Forwarding":true,"DockerRootDir":"/var/lib/docker",
            "HttpProxy":"http://alice:{SECRET}@proxy.example:3128","HttpsProxy":"","NoProxy":"",
            "SecurityOptions":["name=seccomp,profile=builtin"]}}"#
        )
    } else if path.ends_with("/version") {
        r#"{"Version":"27.3.1","ApiVersion":"1.47"}"#.to_string()
    } else if path.contains("/containers/json") {
        format!(
            r#"[{{"Id":"0123456789abcdef","Names":["/web"],"Image":"shop:1",
            "Command":"/app --db-password={SECRET}","Labels":{{"token":"{SECRET}"}},
            "Ports":[{{"IP":"0.0.0.0","PrivatePort":80,"PublicPort":8080,"Type":"tcp"}}],
            "NetworkSettings":{{"Networks":{{"bridge":{{"IPAddress":"172.17.0.2","GlobalIPv6Address":""}}}}}}}}]"#
        )
    } else if path.ends_with("/networks") {
        r#"[{"Name":"bridge","Id":"fedcba9876543210","Driver":"bridge","EnableIPv6":false,
        "Internal":false,"IPAM":{"Config":[{"Subnet":"172.17.0.0/16"}]},
        "Options":{"com.docker.network.bridge.name":"docker0"}}]"#
            .to_string()
    } else {
        "{}".to_string()
    };
    format!("{body}\n")
}

/// `unshare -n fwdoctor capture -o OUT` with quick fake tools and the fake Docker.
fn live_capture(out: &Path, docker: &Path) -> Run {
    let f = Fakes::new();
    for t in ["snap", "ufw", "firewall-cmd"] {
        f.tool(t, "echo \"$0: not here\" >&2; exit 127");
    }
    f.tool(
        "iptables-nft-save",
        "printf '*filter\\n:INPUT ACCEPT [0:0]\\n:FORWARD DROP [0:0]\\n:OUTPUT ACCEPT [0:0]\\n\
         -A INPUT -m comment --comment \"fetch https://bot:hunter2-s3cret@repo.example/x\" -j ACCEPT\\nCOMMIT\\n'",
    )
    .tool("ip6tables-nft-save", "exit 0")
    .tool("nft", "echo '{\"nftables\": []}'");
    let start = Instant::now();
    let o = std::process::Command::new("unshare")
        .arg("-n")
        .arg(env!("CARGO_BIN_EXE_fwdoctor"))
        .args(["capture", "--timeout", "5", "-o", s(out)])
        .env("PATH", f.path_env())
        .env("DOCKER_HOST", format!("unix://{}", docker.display()))
        .output()
        .unwrap();
    Run {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        elapsed: start.elapsed(),
    }
}

#[test]
fn capture_into_a_directory_another_user_owns_is_refused() {
    root();
    let d = base();
    let victim = Victim::new(d.path());
    let docker = fake_docker(d.path(), docker_reply);
    let theirs = d.path().join("fw-capture");
    std::fs::create_dir(&theirs).unwrap();
    chown_to_nobody(&theirs);
    // A `meta.json` makes it "a capture taken before"; the links sit at the old temporary names.
    std::fs::write(theirs.join("meta.json"), "{}").unwrap();
    chown_to_nobody(&theirs.join("meta.json"));
    for name in ["meta.json", "iptables-nft-save.txt", "docker-info.json"] {
        symlink(&victim.path, theirs.join(format!(".{name}.part"))).unwrap();
    }
    let r = live_capture(&theirs, &docker);
    assert_ne!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains(&format!("refusing to write in {}", theirs.display()))
            && r.stderr.contains("owned by uid 65534"),
        "{}",
        r.stderr
    );
    victim.assert_untouched();
    assert_eq!(
        std::fs::read_to_string(theirs.join("meta.json")).unwrap(),
        "{}"
    );
}

#[test]
fn a_capture_is_private_and_holds_no_secret_but_still_checks() {
    root();
    let d = base();
    let docker = fake_docker(d.path(), docker_reply);
    let out = d.path().join("fw-capture");
    let r = live_capture(&out, &docker);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);

    let dir_mode = std::fs::metadata(&out).unwrap().mode() & 0o7777;
    assert_eq!(dir_mode, 0o700, "the capture directory is private");
    let mut names = Vec::new();
    for e in std::fs::read_dir(&out).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        let meta = e.metadata().unwrap();
        assert_eq!(meta.mode() & 0o7777, 0o600, "{name}");
        let text = std::fs::read_to_string(e.path()).unwrap();
        assert!(!text.contains(SECRET), "{name} leaks the secret:\n{text}");
        names.push(name);
    }
    for want in [
        "docker-info.json",
        "docker-containers.json",
        "iptables-nft-save.txt",
    ] {
        assert!(names.iter().any(|n| n == want), "{want} in {names:?}");
    }
    let info: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("docker-info.json")).unwrap())
            .unwrap();
    assert_eq!(info["ServerVersion"], "27.3.1");
    assert!(info.get("HttpProxy").is_none(), "{info}");
    let containers: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("docker-containers.json")).unwrap())
            .unwrap();
    assert!(containers[0].get("Command").is_none(), "{containers}");
    assert!(containers[0].get("Labels").is_none(), "{containers}");
    let rules = std::fs::read_to_string(out.join("iptables-nft-save.txt")).unwrap();
    assert!(rules.contains("https://bot:***@repo.example/x"), "{rules}");

    // What fwdoctor reads survived: the published port is still found.
    let r = fwdoctor(&["check", "--format", "json", "--from", s(&out)]);
    let report: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let ports = report["ports"].as_array().unwrap();
    assert!(
        ports
            .iter()
            .any(|p| p["host_port"] == 8080 && p["container"] == "web"),
        "{}",
        r.stdout
    );
}

/// `check --from DIR` on a capture holding `name` as planted by `plant`: a clear error naming
/// the file, quickly.
fn check_refuses(name: &str, plant: impl Fn(&Path), why: &str) -> Run {
    let d = base();
    let cap = capture(d.path());
    plant(&cap.join(name));
    let r = fwdoctor(&["check", "--format", "json", "--from", s(&cap)]);
    assert_eq!(r.code, 3, "{name}: {}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains(&format!("{}", cap.join(name).display())) && r.stderr.contains(why),
        "{name}: {}",
        r.stderr
    );
    assert!(
        r.elapsed < Duration::from_secs(2),
        "{name}: {:?}",
        r.elapsed
    );
    r
}

#[test]
fn check_from_a_capture_does_not_follow_a_link_to_a_secret() {
    root();
    let secrets = base();
    let secret = secrets.path().join("shadow");
    std::fs::write(&secret, format!("{SECRET}\nsecond line\n")).unwrap();
    let r = check_refuses(
        "legacy-tables.txt",
        |p| symlink(&secret, p).unwrap(),
        "symbolic link",
    );
    assert!(!r.stdout.contains(SECRET) && !r.stderr.contains(SECRET));
}

#[test]
fn check_from_a_capture_with_a_fifo_does_not_hang() {
    root();
    check_refuses(
        "sysctl.txt",
        |p| nix::unistd::mkfifo(p, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap(),
        "a FIFO",
    );
}

#[test]
fn check_from_a_capture_with_a_link_to_dev_zero_does_not_read_forever() {
    root();
    check_refuses(
        "iptables-legacy-save.txt",
        |p| {
            std::fs::remove_file(p).unwrap();
            symlink("/dev/zero", p).unwrap()
        },
        "symbolic link",
    );
    // Named on the command line, the device is opened, and refused as not a file.
    let r = fwdoctor(&["check", "--from", "/dev/zero"]);
    assert_eq!(r.code, 3);
    assert!(r.stderr.contains("a character device"), "{}", r.stderr);
    assert!(r.elapsed < Duration::from_secs(2), "{:?}", r.elapsed);
}

#[test]
fn a_huge_sparse_file_is_refused_before_it_is_read() {
    root();
    let grow = |p: &Path| {
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(p)
            .unwrap();
        f.set_len(5 << 30).unwrap();
    };
    check_refuses("iptables-nft-save.txt", grow, "more than the 1 GiB");
    let d = base();
    let single = d.path().join("pasted.save");
    grow(&single);
    let r = fwdoctor(&["check", "--from", s(&single)]);
    assert_eq!(r.code, 3);
    assert!(
        r.stderr.contains(s(&single)) && r.stderr.contains("5368709120 bytes"),
        "{}",
        r.stderr
    );
    assert!(r.elapsed < Duration::from_secs(2), "{:?}", r.elapsed);
}

/// Not an attack but the decision next to them: the path the user types (`--from latest`,
/// a link to the newest capture) may be a link; only links inside a capture are refused.
#[test]
fn a_link_named_on_the_command_line_is_followed() {
    root();
    let d = base();
    let cap = capture(d.path());
    let link = d.path().join("latest");
    symlink(&cap, &link).unwrap();
    let r = fwdoctor(&["check", "--format", "json", "--from", s(&link)]);
    assert!(r.stdout.contains("fwdoctor-report/1"), "{}", r.stderr);
    let file_link = d.path().join("pasted.save");
    symlink(cap.join("iptables-legacy-save.txt"), &file_link).unwrap();
    let r = fwdoctor(&["check", "--format", "json", "--from", s(&file_link)]);
    assert!(r.stdout.contains("fwdoctor-report/1"), "{}", r.stderr);
}

/// A link another user owns must not choose where fwdoctor writes: `--textfile` through a
/// link in nobody's directory to an empty directory of root's is refused.
#[test]
fn a_link_another_user_owns_does_not_choose_where_fwdoctor_writes() {
    root();
    let d = base();
    let cap = capture(d.path());
    let roots = d.path().join("roots");
    std::fs::create_dir(&roots).unwrap();
    chmod(&roots, 0o700);
    let theirs = d.path().join("theirs");
    std::fs::create_dir(&theirs).unwrap();
    chown_to_nobody(&theirs);
    let link = theirs.join("metrics");
    symlink(&roots, &link).unwrap();
    chown_to_nobody(&link);
    let r = fwdoctor(&["check", "--from", s(&cap), "--textfile", s(&link)]);
    assert!(
        r.stderr.contains("refusing to write in")
            && r.stderr
                .contains(&format!("the symbolic link {}", link.display())),
        "{}",
        r.stderr
    );
    assert!(std::fs::read_dir(&roots).unwrap().next().is_none());
}
