//! Collection: commands with deadlines, the Docker Engine API client, capture directories.
//! Nothing here reads or touches the host firewall.

use fwdoctor::collect::capture::{self, STACK_UNKNOWN};
use fwdoctor::collect::command::{self, SpawnError};
use fwdoctor::collect::docker_api::{self, ApiError};
use fwdoctor::collect::evidence::{CAPTURE_FORMAT, files};
use fwdoctor::collect::live;
use fwdoctor::collect::{Evidence, SourceState, SourceStatus};
use std::io::{Read, Write};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant, UNIX_EPOCH};

// ---------------------------------------------------------------------------------------------
// command

#[test]
fn command_times_out_quickly() {
    let start = Instant::now();
    let out = command::run("sleep", &["5"], Duration::from_millis(200));
    assert!(out.timed_out);
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    let (status, content) = out.into_source();
    assert_eq!(status.status, SourceState::Timeout);
    assert!(content.is_none());
}

#[test]
fn command_timeout_does_not_hang_on_a_grandchild_holding_the_pipe() {
    // The shell forks `sleep`, which keeps stdout open after the shell is killed.
    let start = Instant::now();
    let out = command::run(
        "sh",
        &["-c", "sleep 5; echo done"],
        Duration::from_millis(200),
    );
    assert!(out.timed_out);
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn command_drains_huge_output() {
    // 20 MB on stdout and 1 MB on stderr: far beyond the pipe buffers.
    let script = "head -c 1000000 /dev/zero | tr '\\0' e >&2; \
                  yes 0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLM | head -c 20000000";
    let out = command::run("sh", &["-c", script], Duration::from_secs(20));
    assert!(!out.timed_out);
    assert_eq!(out.exit_code, Some(0));
    assert_eq!(out.stdout.len(), 20_000_000);
    assert_eq!(out.stderr.len(), 1_000_000);
    let (status, content) = out.into_source();
    assert_eq!(status.status, SourceState::Ok);
    assert_eq!(content.map(|c| c.len()), Some(20_000_000));
    assert!(
        status.stderr.len() < 5000,
        "meta.json keeps only the start of stderr"
    );
}

#[test]
fn command_big_stdout_is_the_commands_own_pages_mapped_and_small_stdout_a_buffer() {
    // 2 MB: over the mapping threshold; the output is never copied into a growing buffer.
    let out = command::run(
        "sh",
        &["-c", "head -c 2000000 /dev/zero | tr '\\0' a; echo"],
        Duration::from_secs(20),
    );
    assert!(out.success(), "{out:?}");
    assert!(out.stdout.is_mapped(), "a 2 MB output was copied");
    assert_eq!(out.stdout.len(), 2_000_001);
    assert!(out.stdout[..2_000_000].iter().all(|&b| b == b'a'));
    let (status, content) = out.into_source();
    assert_eq!(status.status, SourceState::Ok);
    let text = content.expect("ok has its text");
    assert_eq!(text.len(), 2_000_001);
    assert!(text.ends_with("a\n"));

    let out = command::run("sh", &["-c", "echo small"], Duration::from_secs(5));
    assert!(!out.stdout.is_mapped());
    assert_eq!(&out.stdout[..], b"small\n");
}

#[test]
fn command_output_cannot_be_changed_by_a_grandchild_after_it_is_read() {
    // The shell prints 2 MB and exits; a grandchild it left behind (stderr elsewhere, so
    // nothing waits for it) then opens the same stdout file again and writes over its start.
    let dir = tempfile::tempdir().unwrap();
    let mark = dir.path().join("dd-status");
    let script = format!(
        "head -c 2000000 /dev/zero | tr '\\0' a
         (sleep 0.5; echo late | dd of=/proc/self/fd/1 conv=notrunc 2>/dev/null; echo $? > {}) \
         2>/dev/null &",
        mark.display()
    );
    let out = command::run("sh", &["-c", &script], Duration::from_secs(20));
    assert!(out.success(), "{out:?}");
    assert!(out.stdout.is_mapped());
    let deadline = Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(&mark).is_ok_and(|s| s.ends_with('\n')) {
        assert!(Instant::now() < deadline, "the grandchild never ran");
        thread::sleep(Duration::from_millis(50));
    }
    let status = std::fs::read_to_string(&mark).unwrap();
    assert_ne!(status.trim(), "0", "the grandchild's write went through");
    assert_eq!(out.stdout.len(), 2_000_000);
    assert!(
        out.stdout.iter().all(|&b| b == b'a'),
        "the text changed after it was read: {:?}",
        String::from_utf8_lossy(&out.stdout[..8])
    );
}

#[test]
fn command_missing_binary() {
    let out = command::run("fwdoctor-no-such-binary", &["--x"], Duration::from_secs(1));
    assert_eq!(out.spawn_error, Some(SpawnError::NotFound));
    let (status, content) = out.into_source();
    assert_eq!(status.status, SourceState::Missing);
    assert_eq!(status.reason, "fwdoctor-no-such-binary not found");
    assert_eq!(status.command, "fwdoctor-no-such-binary --x");
    assert!(content.is_none());
}

#[test]
fn command_nonzero_exit_fails() {
    let out = command::run(
        "sh",
        &["-c", "echo partial; echo boom >&2; exit 3"],
        Duration::from_secs(5),
    );
    assert_eq!(out.exit_code, Some(3));
    let (status, content) = out.into_source();
    assert_eq!(status.status, SourceState::Failed);
    assert_eq!(status.exit_code, Some(3));
    assert_eq!(status.stderr, "boom");
    assert!(content.is_none());
}

#[test]
fn command_denied_by_stderr_message() {
    let out = command::run(
        "sh",
        &[
            "-c",
            "echo 'iptables-nft-save: Could not fetch rule set generation id: \
             Permission denied (you must be root)' >&2; exit 4",
        ],
        Duration::from_secs(5),
    );
    let (status, _) = out.into_source();
    assert_eq!(status.status, SourceState::Denied);
    assert_eq!(status.exit_code, Some(4));
}

#[test]
fn command_keeps_exact_stdout_and_stderr_warning_on_success() {
    let out = command::run(
        "sh",
        &[
            "-c",
            "printf '*filter\\n:INPUT ACCEPT [0:0]\\nCOMMIT\\n'; echo '# Warning: iptables-legacy tables present' >&2",
        ],
        Duration::from_secs(5),
    );
    let (status, content) = out.into_source();
    assert_eq!(status.status, SourceState::Ok);
    assert_eq!(
        content.as_deref(),
        Some("*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n")
    );
    assert_eq!(status.stderr, "# Warning: iptables-legacy tables present");
}

#[test]
fn command_non_utf8_stdout_fails() {
    let out = command::run("printf", &["ok\\377\\n"], Duration::from_secs(5));
    assert_eq!(out.exit_code, Some(0));
    let (status, content) = out.into_source();
    assert_eq!(status.status, SourceState::Failed);
    assert!(status.reason.contains("not UTF-8"), "{}", status.reason);
    assert!(content.is_none());
}

#[test]
fn command_runs_with_lc_all_c() {
    let out = command::run("sh", &["-c", "echo $LC_ALL"], Duration::from_secs(5));
    assert_eq!(out.stdout_str().unwrap(), "C\n");
}

#[test]
fn command_accepts_listed_exit_codes() {
    let out = command::run(
        "sh",
        &["-c", "echo not running; exit 252"],
        Duration::from_secs(5),
    );
    let (status, content) = out.into_source_accepting(&[0, 252]);
    assert_eq!(status.status, SourceState::Ok);
    assert_eq!(content.as_deref(), Some("not running\n"));
}

#[test]
fn find_binary_searches_path_and_sbin() {
    assert!(command::find_binary("sh").is_some());
    assert_eq!(command::find_binary("fwdoctor-no-such-binary"), None);
    assert_eq!(
        command::find_binary("/bin/sh"),
        Some(PathBuf::from("/bin/sh"))
    );
}

// ---------------------------------------------------------------------------------------------
// Docker Engine API against a fake daemon

/// A fake daemon on a Unix socket: accepts one connection, reads the request, sends `reply`
/// (unless `None`: then stays silent for `hold`), closes. Returns the socket path and the
/// request it received.
fn fake_daemon(
    dir: &Path,
    reply: Option<Vec<u8>>,
    hold: Duration,
) -> (PathBuf, thread::JoinHandle<String>) {
    let path = dir.join("docker.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let handle = thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut request = Vec::new();
        let mut buf = [0u8; 1024];
        while !request.ends_with(b"\r\n\r\n") {
            match conn.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => request.extend_from_slice(&buf[..n]),
            }
        }
        match reply {
            Some(bytes) => {
                let _ = conn.write_all(&bytes);
            }
            None => thread::sleep(hold),
        }
        String::from_utf8_lossy(&request).into_owned()
    });
    (path, handle)
}

fn http(status: &str, headers: &str, body: &str) -> Vec<u8> {
    format!("HTTP/1.0 {status}\r\nContent-Type: application/json\r\nApi-Version: 1.41\r\n{headers}\r\n{body}")
        .into_bytes()
}

#[test]
fn docker_get_ok() {
    let dir = tempfile::tempdir().unwrap();
    let body = r#"{"ServerVersion":"20.10.24","IPv4Forwarding":true}"#;
    let (sock, server) = fake_daemon(dir.path(), Some(http("200 OK", "", body)), Duration::ZERO);
    let got = docker_api::get(&sock, "/info", Duration::from_secs(5)).unwrap();
    assert_eq!(got, body);
    let request = server.join().unwrap();
    assert!(request.starts_with("GET /info HTTP/1.0\r\n"), "{request}");
}

#[test]
fn docker_get_content_length_is_honoured() {
    let dir = tempfile::tempdir().unwrap();
    let body = r#"[{"Id":"abc"}]"#;
    let headers = format!("Content-Length: {}\r\n", body.len());
    let (sock, _server) = fake_daemon(
        dir.path(),
        Some(http("200 OK", &headers, body)),
        Duration::ZERO,
    );
    let got = docker_api::get(&sock, "/containers/json", Duration::from_secs(5)).unwrap();
    assert_eq!(got, body);
}

#[test]
fn docker_get_http_error() {
    let dir = tempfile::tempdir().unwrap();
    let body = r#"{"message":"client version 1.41 is too old"}"#;
    let (sock, _server) = fake_daemon(
        dir.path(),
        Some(http("500 Internal Server Error", "", body)),
        Duration::ZERO,
    );
    let err = docker_api::get(&sock, "/info", Duration::from_secs(5)).unwrap_err();
    assert_eq!(
        err,
        ApiError::Http {
            status: 500,
            message: "client version 1.41 is too old".into()
        }
    );
    assert_eq!(err.state(), SourceState::Failed);
}

#[test]
fn docker_get_truncated_json() {
    let dir = tempfile::tempdir().unwrap();
    let (sock, _server) = fake_daemon(
        dir.path(),
        Some(http("200 OK", "", r#"{"ServerVersion":"20.1"#)),
        Duration::ZERO,
    );
    let err = docker_api::get(&sock, "/info", Duration::from_secs(5)).unwrap_err();
    assert!(
        matches!(&err, ApiError::Failed(m) if m.contains("truncated or invalid JSON")),
        "{err}"
    );
}

#[test]
fn docker_get_truncated_by_content_length() {
    let dir = tempfile::tempdir().unwrap();
    let (sock, _server) = fake_daemon(
        dir.path(),
        Some(http("200 OK", "Content-Length: 100\r\n", "{}")),
        Duration::ZERO,
    );
    let err = docker_api::get(&sock, "/info", Duration::from_secs(5)).unwrap_err();
    assert!(
        matches!(&err, ApiError::Failed(m) if m.contains("truncated body")),
        "{err}"
    );
}

#[test]
fn docker_get_chunked() {
    let dir = tempfile::tempdir().unwrap();
    let body = "6\r\n{\"Id\":\r\n6;ext=1\r\n\"abc\"}\r\n0\r\n\r\n";
    let (sock, _server) = fake_daemon(
        dir.path(),
        Some(http("200 OK", "Transfer-Encoding: chunked\r\n", body)),
        Duration::ZERO,
    );
    let got = docker_api::get(&sock, "/version", Duration::from_secs(5)).unwrap();
    assert_eq!(got, r#"{"Id":"abc"}"#);
}

#[test]
fn docker_get_truncated_chunked() {
    let dir = tempfile::tempdir().unwrap();
    let (sock, _server) = fake_daemon(
        dir.path(),
        Some(http(
            "200 OK",
            "Transfer-Encoding: chunked\r\n",
            "20\r\n{\"Id\":",
        )),
        Duration::ZERO,
    );
    let err = docker_api::get(&sock, "/version", Duration::from_secs(5)).unwrap_err();
    assert!(
        matches!(&err, ApiError::Failed(m) if m.contains("chunk")),
        "{err}"
    );
}

#[test]
fn docker_get_garbage() {
    let dir = tempfile::tempdir().unwrap();
    let (sock, _server) = fake_daemon(
        dir.path(),
        Some(b"SSH-2.0-OpenSSH_9.2\r\n".to_vec()),
        Duration::ZERO,
    );
    let err = docker_api::get(&sock, "/info", Duration::from_secs(5)).unwrap_err();
    assert_eq!(err.state(), SourceState::Failed, "{err}");
}

#[test]
fn docker_get_silence_times_out() {
    let dir = tempfile::tempdir().unwrap();
    let (sock, _server) = fake_daemon(dir.path(), None, Duration::from_secs(3));
    let start = Instant::now();
    let err = docker_api::get(&sock, "/info", Duration::from_millis(200)).unwrap_err();
    assert!(matches!(err, ApiError::Timeout(_)), "{err}");
    assert_eq!(err.state(), SourceState::Timeout);
    assert!(start.elapsed() < Duration::from_secs(2));
}

#[test]
fn docker_get_missing_socket() {
    let dir = tempfile::tempdir().unwrap();
    let err = docker_api::get(
        &dir.path().join("nope.sock"),
        "/info",
        Duration::from_secs(1),
    )
    .unwrap_err();
    assert_eq!(err.state(), SourceState::Missing, "{err}");
}

#[test]
fn docker_get_refused_on_stale_socket() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("docker.sock");
    drop(UnixListener::bind(&path).unwrap()); // the file stays, nobody listens
    let err = docker_api::get(&path, "/info", Duration::from_secs(1)).unwrap_err();
    assert_eq!(err.state(), SourceState::Failed, "{err}");
    assert!(err.to_string().contains("refused"), "{err}");
}

#[test]
fn docker_socket_lookup() {
    let dir = tempfile::tempdir().unwrap();
    let present = dir.path().join("present.sock");
    std::fs::write(&present, "").unwrap();
    let absent = dir.path().join("absent.sock");
    let candidates = [absent.as_path(), present.as_path()];

    let got = docker_api::socket_path_from(Some("unix:///run/user/1000/docker.sock"), &candidates);
    assert_eq!(got.unwrap(), PathBuf::from("/run/user/1000/docker.sock"));
    assert_eq!(
        docker_api::socket_path_from(None, &candidates).unwrap(),
        present
    );
    // A remote DOCKER_HOST is skipped: the local daemon is the one that writes local rules.
    assert_eq!(
        docker_api::socket_path_from(Some("tcp://10.0.0.1:2375"), &candidates).unwrap(),
        present
    );
    let err =
        docker_api::socket_path_from(Some("tcp://10.0.0.1:2375"), &[absent.as_path()]).unwrap_err();
    assert_eq!(err.state(), SourceState::Missing);
    assert!(
        err.to_string().contains("DOCKER_HOST=tcp://10.0.0.1:2375"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------------
// capture directories

const NFT_SAVE: &str =
    "# Generated by iptables-nft-save v1.8.9 (nf_tables) on Sat Nov 29 10:00:00 2026
*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:DOCKER - [0:0]
-A FORWARD -o docker0 -j DOCKER
-A DOCKER -d 172.17.0.2/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 80 -j ACCEPT
COMMIT
# Completed on Sat Nov 29 10:00:00 2026
";

const LEGACY_SAVE: &str = "# Generated by iptables-save v1.8.7 (legacy) on Sat Nov 29 10:00:00 2026
*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
COMMIT
# Completed on Sat Nov 29 10:00:00 2026
";

fn sample_evidence() -> Evidence {
    let mut ev = Evidence::default();
    ev.meta.captured_at = "2026-11-29T10:00:00Z".into();
    ev.meta.hostname = "web1".into();
    ev.meta.kernel = "6.1.0-28-amd64".into();
    ev.meta.os_release = "Debian GNU/Linux 12 (bookworm)".into();
    ev.insert(files::IPTABLES_NFT, NFT_SAVE);
    ev.insert(files::LEGACY_TABLES, "");
    ev.insert(files::SYSCTL, "net.ipv4.ip_forward = 1\n");
    let ok = |cmd: &str| SourceStatus {
        status: SourceState::Ok,
        command: cmd.into(),
        exit_code: Some(0),
        stderr: String::new(),
        reason: String::new(),
    };
    ev.meta.sources.insert(
        "iptables-nft-save".into(),
        ok("/usr/sbin/iptables-nft-save"),
    );
    ev.meta
        .sources
        .insert("legacy-tables".into(), ok("cat /proc/net/ip_tables_names"));
    ev.meta
        .sources
        .insert("sysctl".into(), ok("cat /proc/sys/net/ipv4/ip_forward"));
    ev.meta.sources.insert(
        "iptables-legacy-save".into(),
        SourceStatus {
            status: SourceState::Missing,
            command: "iptables-legacy-save".into(),
            exit_code: None,
            stderr: String::new(),
            reason: format!("{} loaded", live::NO_LEGACY_TABLES),
        },
    );
    ev
}

#[test]
fn capture_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cap");
    let ev = sample_evidence();
    capture::write(&out, &ev).unwrap();

    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("meta.json")).unwrap()).unwrap();
    assert_eq!(meta["format"], CAPTURE_FORMAT);
    assert_eq!(meta["sources"]["iptables-legacy-save"]["status"], "missing");
    assert_eq!(
        std::fs::read_to_string(out.join(files::IPTABLES_NFT)).unwrap(),
        NFT_SAVE
    );
    assert_eq!(std::fs::read(out.join(files::LEGACY_TABLES)).unwrap(), b"");
    assert!(!out.join(files::IPTABLES_LEGACY).exists());

    let back = capture::read(&out).unwrap();
    assert_eq!(back.meta, ev.meta);
    assert_eq!(back.files, ev.files);
    assert_eq!(back.origin, out.display().to_string());
}

#[test]
fn capture_overwrite_removes_stale_files_and_keeps_others() {
    let dir = tempfile::tempdir().unwrap();
    let ev = sample_evidence();
    capture::write(dir.path(), &ev).unwrap();
    std::fs::write(dir.path().join("README.md"), "notes").unwrap();

    let mut second = ev.clone();
    second.files.remove(files::SYSCTL);
    second.insert(files::IPTABLES_LEGACY, LEGACY_SAVE);
    capture::write(dir.path(), &second).unwrap();

    assert!(
        !dir.path().join(files::SYSCTL).exists(),
        "stale file removed"
    );
    assert!(dir.path().join("README.md").exists(), "foreign file kept");
    assert_eq!(capture::read(dir.path()).unwrap().files, second.files);
}

#[test]
fn capture_refuses_non_empty_foreign_directory() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("thesis.tex"), "precious").unwrap();
    let err = capture::write(dir.path(), &sample_evidence()).unwrap_err();
    assert!(err.to_string().contains("not a capture"), "{err:#}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("thesis.tex")).unwrap(),
        "precious"
    );
}

#[test]
fn capture_read_ignores_foreign_files_and_accepts_a_bare_pair() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(files::IPTABLES_NFT), NFT_SAVE).unwrap();
    std::fs::write(dir.path().join(files::IPTABLES_LEGACY), LEGACY_SAVE).unwrap();
    std::fs::write(dir.path().join("truth.json"), "{not json").unwrap();
    std::fs::write(dir.path().join("README.md"), [0xff, 0xfe]).unwrap();
    let ev = capture::read(dir.path()).unwrap();
    assert_eq!(ev.files.len(), 2);
    assert_eq!(ev.get(files::IPTABLES_LEGACY), Some(LEGACY_SAVE));
    assert_eq!(ev.meta.format, CAPTURE_FORMAT);
    assert!(ev.meta.sources.is_empty());
}

#[test]
fn capture_read_bad_meta_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("meta.json"),
        "{\n  \"format\": \"fwdoctor-capture/1\",\n  \"sources\": {,}\n}\n",
    )
    .unwrap();
    let err = format!("{:#}", capture::read(dir.path()).unwrap_err());
    assert!(err.contains("meta.json"), "{err}");
    assert!(err.contains("line 3"), "{err}");
}

#[test]
fn capture_read_rejects_other_format() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("meta.json"),
        r#"{"format":"fwdoctor-capture/9"}"#,
    )
    .unwrap();
    let err = format!("{:#}", capture::read(dir.path()).unwrap_err());
    assert!(err.contains("unsupported capture format"), "{err}");
}

#[test]
fn capture_read_empty_dir_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "hello").unwrap();
    let err = format!("{:#}", capture::read(dir.path()).unwrap_err());
    assert!(err.contains("is not a capture"), "{err}");
}

#[test]
fn capture_read_non_utf8_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(files::IPTABLES_NFT), b"*filter\n\xff\n").unwrap();
    let err = format!("{:#}", capture::read(dir.path()).unwrap_err());
    assert!(err.contains(files::IPTABLES_NFT), "{err}");
    assert!(err.contains("not UTF-8"), "{err}");
}

#[test]
fn capture_read_downgrades_ok_source_without_file() {
    let dir = tempfile::tempdir().unwrap();
    let ev = sample_evidence();
    capture::write(dir.path(), &ev).unwrap();
    std::fs::remove_file(dir.path().join(files::SYSCTL)).unwrap();
    let back = capture::read(dir.path()).unwrap();
    assert_eq!(
        back.status(files::SYSCTL).unwrap().status,
        SourceState::Missing
    );
}

#[test]
fn capture_read_missing_path_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    assert!(capture::read(&dir.path().join("nope")).is_err());
}

// ---------------------------------------------------------------------------------------------
// single pasted files

fn read_single(name: &str, text: &str) -> Evidence {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    let ev = capture::read(&path).unwrap();
    assert_eq!(ev.origin, path.display().to_string());
    ev
}

#[test]
fn single_file_nf_tables_header() {
    let ev = read_single("paste.txt", NFT_SAVE);
    assert_eq!(ev.files.keys().collect::<Vec<_>>(), [files::IPTABLES_NFT]);
    assert_eq!(ev.get(files::IPTABLES_NFT), Some(NFT_SAVE));
    assert_eq!(
        ev.status(files::IPTABLES_NFT).unwrap().status,
        SourceState::Ok
    );
}

#[test]
fn single_file_legacy_header() {
    let ev = read_single("paste.txt", LEGACY_SAVE);
    assert_eq!(ev.get(files::IPTABLES_LEGACY), Some(LEGACY_SAVE));
    // iptables before 1.8 printed no "(legacy)": still legacy.
    let old = LEGACY_SAVE.replace("v1.8.7 (legacy)", "v1.6.1");
    let ev = read_single("paste.txt", &old);
    assert_eq!(
        ev.files.keys().collect::<Vec<_>>(),
        [files::IPTABLES_LEGACY]
    );
}

#[test]
fn single_file_dash_s_form() {
    let text = "-P INPUT ACCEPT\n-P FORWARD DROP\n-P OUTPUT ACCEPT\n-N DOCKER\n\
                -A FORWARD -o docker0 -j DOCKER\n";
    let ev = read_single("iptables-S.txt", text);
    assert_eq!(ev.get(files::IPTABLES_NFT), Some(text));
    assert_eq!(
        ev.status(files::IPTABLES_NFT).unwrap().reason,
        STACK_UNKNOWN
    );
}

#[test]
fn single_file_ip6_by_header_and_by_address() {
    let v6 = NFT_SAVE
        .replace("iptables-nft-save", "ip6tables-nft-save")
        .replace("172.17.0.2/32", "fd00::2/128");
    let ev = read_single("paste.txt", &v6);
    assert_eq!(ev.files.keys().collect::<Vec<_>>(), [files::IP6TABLES_NFT]);

    let text = "-P FORWARD DROP\n-A FORWARD -s fe80::/10 -j ACCEPT\n";
    let ev = read_single("paste.txt", text);
    assert_eq!(ev.files.keys().collect::<Vec<_>>(), [files::IP6TABLES_NFT]);

    // Port ranges and MAC addresses are not IPv6.
    let text =
        "-A INPUT -p tcp --dport 1000:2000 -m mac --mac-source 00:11:22:33:44:55 -j ACCEPT\n";
    let ev = read_single("paste.txt", text);
    assert_eq!(ev.files.keys().collect::<Vec<_>>(), [files::IPTABLES_NFT]);
}

#[test]
fn single_file_with_both_stacks_is_split() {
    let text = format!("# Warning: iptables-legacy tables present\n{NFT_SAVE}{LEGACY_SAVE}");
    let ev = read_single("paste.txt", &text);
    assert_eq!(
        ev.get(files::IPTABLES_NFT),
        Some(format!("# Warning: iptables-legacy tables present\n{NFT_SAVE}").as_str())
    );
    // Padded with blank lines, so its line numbers are those of the pasted file.
    let before = text.len() - LEGACY_SAVE.len();
    let pad = "\n".repeat(text[..before].matches('\n').count());
    assert_eq!(
        ev.get(files::IPTABLES_LEGACY),
        Some(format!("{pad}{LEGACY_SAVE}").as_str())
    );
}

#[test]
fn single_file_nft_json() {
    let json = r#"{"nftables": [{"metainfo": {"version": "1.0.6", "json_schema_version": 1}}]}"#;
    let ev = read_single("ruleset.json", json);
    // The paste reader ends every section with a newline; the JSON is the same.
    assert_eq!(ev.get(files::NFT_RULESET).map(str::trim_end), Some(json));

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("info.json");
    std::fs::write(&path, r#"{"ServerVersion": "29.0"}"#).unwrap();
    assert!(capture::read(&path).is_err());
}

#[test]
fn single_file_named_like_a_capture_file_keeps_its_name() {
    let ev = read_single(files::IPTABLES_LEGACY, NFT_SAVE);
    assert_eq!(
        ev.files.keys().collect::<Vec<_>>(),
        [files::IPTABLES_LEGACY]
    );
}

#[test]
fn single_file_garbage_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("letter.txt");
    std::fs::write(&path, "Dear maintainer,\nmy ports are gone.\n").unwrap();
    let err = format!("{:#}", capture::read(&path).unwrap_err());
    assert!(err.contains("letter.txt"), "{err}");
    std::fs::write(&path, b"\xff\xfe").unwrap();
    assert!(capture::read(&path).is_err());
}

// ---------------------------------------------------------------------------------------------
// live helpers

#[test]
fn rfc3339_and_civil_dates() {
    assert_eq!(live::rfc3339_utc(UNIX_EPOCH), "1970-01-01T00:00:00Z");
    let t = UNIX_EPOCH + Duration::from_secs(951_782_400 + 3_723); // 2000-02-29 01:02:03
    assert_eq!(live::rfc3339_utc(t), "2000-02-29T01:02:03Z");
    assert_eq!(live::civil_from_days(-1), (1969, 12, 31));
    assert_eq!(live::civil_from_days(20_786), (2026, 11, 29));
}

#[test]
fn os_release_pretty_name() {
    let text = "NAME=\"Ubuntu\"\nPRETTY_NAME=\"Ubuntu 24.04.1 LTS\"\nID=ubuntu\n";
    assert_eq!(live::pretty_name(text), "Ubuntu 24.04.1 LTS");
    assert_eq!(live::pretty_name("PRETTY_NAME=Alpine\n"), "Alpine");
    assert_eq!(live::pretty_name("ID=x\n"), "");
}

/// A real capture, taken in a private netns with a legacy `FORWARD DROP` and an iptables-nft
/// `DOCKER` chain (iptables 1.8.9, no Docker daemon).
#[test]
fn real_capture_fixture_reads() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/collect/netns-split");
    let ev = capture::read(&dir).unwrap();
    assert_eq!(ev.get(files::LEGACY_TABLES), Some("filter\n"));
    assert!(
        ev.get(files::IPTABLES_LEGACY)
            .unwrap()
            .contains(":FORWARD DROP")
    );
    assert_eq!(
        ev.status(files::DOCKER_INFO).unwrap().status,
        SourceState::Missing
    );
    assert!(
        ev.status(files::IPTABLES_NFT)
            .unwrap()
            .stderr
            .contains("legacy tables present")
    );
    // Each save file, pasted alone, lands back under its own name.
    for file in [
        files::IPTABLES_LEGACY,
        files::IP6TABLES_LEGACY,
        files::IPTABLES_NFT,
    ] {
        let pasted = read_single("paste.txt", ev.get(file).unwrap());
        assert_eq!(pasted.files.keys().collect::<Vec<_>>(), [file]);
    }
}

#[test]
fn single_file_early_nft_header() {
    let text = NFT_SAVE.replace(
        "iptables-nft-save v1.8.9 (nf_tables)",
        "xtables-save v1.8.0",
    );
    let ev = read_single("paste.txt", &text);
    assert_eq!(ev.files.keys().collect::<Vec<_>>(), [files::IPTABLES_NFT]);
}
