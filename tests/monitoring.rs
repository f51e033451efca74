//! `--format nagios` and `--format prometheus` / `--textfile`, validated with real parsers:
//! pynag's plugin-output and perfdata parser, prometheus_client's exposition parser (and
//! `promtool check metrics` when it is installed). The validators are required: a missing one
//! fails the test. Debian: `apt-get install python3-prometheus-client python3-pynag` (used via
//! /usr/bin/python3); or `python3 -m pip install prometheus-client pynag`. `FWDOCTOR_PYTHON`
//! names another interpreter.

use assert_cmd::Command;
use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::Stdio;

const FACTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/facts");

fn fwdoctor(args: &[&str]) -> (String, i32) {
    let out = Command::cargo_bin("fwdoctor")
        .unwrap()
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.stderr.is_empty(),
        "stdout only: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        String::from_utf8(out.stdout).unwrap(),
        out.status.code().unwrap_or(-1),
    )
}

/// The first Python that has both validators: `$FWDOCTOR_PYTHON`, Debian's `/usr/bin/python3`
/// (python3-prometheus-client, python3-pynag), then `python3` on PATH (pip). Fails otherwise.
fn python_with_validators() -> String {
    let mut tried = Vec::new();
    let candidates = std::env::var("FWDOCTOR_PYTHON")
        .into_iter()
        .chain(["/usr/bin/python3".to_string(), "python3".to_string()]);
    for py in candidates {
        let ok = std::process::Command::new(&py)
            .args(["-c", "import prometheus_client.parser, pynag.Utils"])
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            return py;
        }
        tried.push(py);
    }
    panic!(
        "no Python with prometheus_client and pynag (tried {tried:?}): apt-get install python3-prometheus-client python3-pynag"
    );
}

/// Run a Python validator with `input` on stdin; panics (fails) when Python or the module is
/// missing or the validator rejects the input. Returns its stdout.
fn python(script: &str, input: &str) -> String {
    let mut child = std::process::Command::new(python_with_validators())
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 is needed to validate the monitoring formats");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "validator rejected the output:\n{}\n--- input ---\n{input}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

const NAGIOS_VALIDATOR: &str = r#"
import sys, json
from pynag.Utils import PluginOutput
text = sys.stdin.read()
o = PluginOutput(text)
metrics = []
for m in o.parsed_perfdata.metrics:
    assert m.is_valid(), "invalid perfdata metric: %s" % m
    metrics.append({"label": m.label, "value": float(m.value), "min": m.min})
print(json.dumps({"summary": o.summary, "long_output": o.long_output, "perfdata": metrics}))
"#;

const PROM_VALIDATOR: &str = r#"
import sys, json
from prometheus_client.parser import text_string_to_metric_families
out = []
for fam in text_string_to_metric_families(sys.stdin.read()):
    for s in fam.samples:
        out.append({"name": s.name, "labels": s.labels, "value": s.value, "type": fam.type, "help": fam.documentation})
print(json.dumps(out))
"#;

fn check_nagios(text: &str) -> serde_json::Value {
    serde_json::from_str(&python(NAGIOS_VALIDATOR, text)).unwrap()
}

fn check_prometheus(text: &str) -> Vec<serde_json::Value> {
    if let Ok(mut child) = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "promtool: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    serde_json::from_str(&python(PROM_VALIDATOR, text)).unwrap()
}

fn sample<'a>(
    samples: &'a [serde_json::Value],
    name: &str,
    labels: &[(&str, &str)],
) -> Option<&'a serde_json::Value> {
    samples
        .iter()
        .find(|s| s["name"] == name && labels.iter().all(|(k, v)| s["labels"][*k] == *v))
}

#[test]
fn nagios_output_parses_with_status_line_perfdata_and_long_output() {
    let (text, code) = fwdoctor(&["check", "--from", FACTS, "--format", "nagios"]);
    assert_eq!(code, 2);
    let first = text.lines().next().unwrap();
    assert!(first.starts_with("FWDOCTOR CRITICAL - "), "{first}");
    let v = check_nagios(&text);
    assert!(
        v["summary"]
            .as_str()
            .unwrap()
            .starts_with("FWDOCTOR CRITICAL - 1 critical, 1 unknown, 1 warning")
    );
    let perf: Vec<(String, f64)> = v["perfdata"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["label"].as_str().unwrap().to_string(),
                m["value"].as_f64().unwrap(),
            )
        })
        .collect();
    for (label, value) in [
        // No ruleset was read: the three ports published on all addresses are unknown, not
        // blocked, on IPv4 and on IPv6 (one entry per family); the one on 127.0.0.1 is
        // host-only by design. With no ruleset, Docker's chains are not "missing": the one
        // critical finding is IPv6 forwarding being off.
        ("critical", 1.0),
        ("unknown", 1.0),
        ("warning", 1.0),
        ("info", 0.0),
        // 127.0.0.1:9090 is host-only by design, not blocked.
        ("ports_blocked", 0.0),
        ("ports_unknown", 6.0),
        ("ports_total", 7.0),
    ] {
        assert!(
            perf.contains(&(label.to_string(), value)),
            "{label}={value} in {perf:?}"
        );
    }
    let long = v["long_output"].as_str().unwrap();
    assert!(
        long.contains("[CRITICAL] ip-forward-disabled: net.ipv6.conf.all.forwarding = 0"),
        "{long}"
    );
    assert!(long.contains("[WARNING] snap-docker: "), "{long}");
    assert!(!long.contains('|'), "no perfdata in long output");
}

#[test]
fn nagios_reports_a_run_that_cannot_check_as_unknown_on_stdout() {
    let d = tempfile::tempdir().unwrap();
    let missing = d.path().join("nothing-here");
    let (text, code) = fwdoctor(&[
        "check",
        "--from",
        missing.to_str().unwrap(),
        "--format",
        "nagios",
    ]);
    assert_eq!(code, 3);
    assert!(
        text.starts_with("FWDOCTOR UNKNOWN - evidence-missing: could not check: "),
        "{text}"
    );
    check_nagios(&text);
}

#[test]
fn nagios_ok_line() {
    let d = tempfile::tempdir().unwrap();
    // An empty nft ruleset was read, nothing else: no Docker, nothing to find.
    fs::write(
        d.path().join("nft-ruleset.json"),
        r#"{"nftables": [{"metainfo": {"version": "1.0.6", "json_schema_version": 1}}]}"#,
    )
    .unwrap();
    let (text, code) = fwdoctor(&[
        "check",
        "--from",
        d.path().to_str().unwrap(),
        "--format",
        "nagios",
    ]);
    // The nft parser may not have landed yet: then this run is unknown, still valid output.
    if code == 0 {
        assert!(
            text.starts_with("FWDOCTOR OK - no findings | critical=0;;;0"),
            "{text}"
        );
    }
    check_nagios(&text);
}

#[test]
fn prometheus_exposition_parses_and_has_the_metrics() {
    let (text, code) = fwdoctor(&["check", "--from", FACTS, "--format", "prometheus"]);
    assert_eq!(code, 2);
    let s = check_prometheus(&text);
    let value = |name: &str, labels: &[(&str, &str)]| {
        sample(&s, name, labels)
            .unwrap_or_else(|| panic!("{name}{labels:?} missing:\n{text}"))["value"]
            .as_f64()
            .unwrap()
    };
    assert_eq!(value("fwdoctor_up", &[]), 0.0, "rulesets unread");
    assert_eq!(value("fwdoctor_status", &[]), 2.0);
    assert_eq!(
        value(
            "fwdoctor_findings",
            &[
                ("check", "published-port-blocked"),
                ("severity", "critical")
            ]
        ),
        0.0,
        "no ruleset read: no port is blocked on that evidence"
    );
    assert_eq!(
        value(
            "fwdoctor_findings",
            &[("check", "split-forward-drop"), ("severity", "critical")]
        ),
        0.0
    );
    assert_eq!(
        value(
            "fwdoctor_findings",
            &[("check", "snap-docker"), ("severity", "warning")]
        ),
        1.0
    );
    let port = [
        ("proto", "tcp"),
        ("host_ip", "0.0.0.0"),
        ("host_port", "8080"),
        ("container", "web"),
    ];
    // An unknown port has no 0/1 reachability: only its verdict series says it is unknown.
    assert!(
        sample(&s, "fwdoctor_port_reachable", &port).is_none(),
        "{text}"
    );
    let mut unknown = port.to_vec();
    unknown.push(("verdict", "unknown"));
    assert_eq!(value("fwdoctor_port_verdict", &unknown), 1.0);
    assert!(value("fwdoctor_last_run_timestamp_seconds", &[]) > 1.6e9);
    assert_eq!(
        value(
            "fwdoctor_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        1.0
    );
    assert!(s.iter().all(|x| x["type"] == "gauge"));
}

#[test]
fn textfile_is_written_atomically_and_parses_even_when_the_run_fails() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("textfile");
    fs::create_dir(&dir).unwrap();
    let (_, code) = fwdoctor(&[
        "check",
        "--from",
        FACTS,
        "--quiet",
        "--textfile",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    let names: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        vec!["fwdoctor.prom".to_string()],
        "no temp file left behind"
    );
    let s = check_prometheus(&fs::read_to_string(dir.join("fwdoctor.prom")).unwrap());
    assert_eq!(sample(&s, "fwdoctor_status", &[]).unwrap()["value"], 2.0);

    let missing = d.path().join("no-capture");
    let (_, code) = fwdoctor(&[
        "check",
        "--from",
        missing.to_str().unwrap(),
        "--format",
        "prometheus",
        "--textfile",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(code, 3);
    let s = check_prometheus(&fs::read_to_string(dir.join("fwdoctor.prom")).unwrap());
    assert_eq!(sample(&s, "fwdoctor_up", &[]).unwrap()["value"], 0.0);
    assert_eq!(sample(&s, "fwdoctor_status", &[]).unwrap()["value"], 3.0);
    assert_eq!(
        sample(
            &s,
            "fwdoctor_findings",
            &[("check", "evidence-missing"), ("severity", "unknown")]
        )
        .unwrap()["value"],
        1.0
    );
}

#[test]
fn textfile_in_a_missing_directory_is_an_error_not_a_crash() {
    let d = tempfile::tempdir().unwrap();
    let out = Command::cargo_bin("fwdoctor")
        .unwrap()
        .args(["check", "--from", FACTS, "--quiet", "--textfile"])
        .arg(d.path().join("nope"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "a lost textfile is a lost alert"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot write the textfile"));
    assert!(!Path::new(&d.path().join("nope")).exists());
}

#[test]
fn install_sh_installs_and_removes_the_cron_file_and_the_timer() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    let bin = assert_cmd::cargo::cargo_bin("fwdoctor");
    let sh = |args: &[&str]| {
        let out = std::process::Command::new("sh")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/install.sh"))
            .args(args)
            .env("DESTDIR", root)
            .env("PREFIX", "/opt/fw")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    sh(&[
        "--binary",
        bin.to_str().unwrap(),
        "--cron",
        "--timer",
        "--textfile",
        "/var/lib/prometheus/node-exporter",
    ]);
    let read = |p: &str| fs::read_to_string(root.join(p)).unwrap();
    assert!(root.join("opt/fw/bin/fwdoctor").is_file());
    let cron = read("etc/cron.d/fwdoctor");
    let job = cron.lines().last().unwrap();
    assert_eq!(
        job.split_whitespace().nth(5),
        Some("root"),
        "cron.d: 5 time fields, then the user: {job}"
    );
    assert!(
        job.ends_with(
            "/opt/fw/bin/fwdoctor check --cron --textfile /var/lib/prometheus/node-exporter"
        ),
        "{job}"
    );
    let service = read("etc/systemd/system/fwdoctor.service");
    assert!(service.contains("\nType=oneshot\n"));
    assert!(service.contains("\nExecStart=/opt/fw/bin/fwdoctor check --cron --textfile /var/lib/prometheus/node-exporter\n"));
    assert!(
        service.contains("\nProtectSystem=strict\n") && service.contains("\nNoNewPrivileges=yes\n")
    );
    assert!(
        !service.contains('@'),
        "all placeholders filled:\n{service}"
    );
    let timer = read("etc/systemd/system/fwdoctor.timer");
    assert!(timer.contains("\nPersistent=true\n") && timer.contains("\nRandomizedDelaySec="));

    sh(&["--uninstall", "--timer"]);
    assert!(!root.join("etc/systemd/system/fwdoctor.timer").exists());
    assert!(
        root.join("etc/cron.d/fwdoctor").exists(),
        "only the timer removed"
    );
    sh(&["--uninstall"]);
    assert!(!root.join("etc/cron.d/fwdoctor").exists());
    assert!(!root.join("opt/fw/bin/fwdoctor").exists());
}
