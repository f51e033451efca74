//! Alert mode on a live lab host (`lab/lab.sh`, a real dockerd in network namespaces): the
//! issue's story. Scenario `healthy`; fwdoctor runs `check --cron` twice (the second silent),
//! then `iptables-legacy -P FORWARD DROP` drifts the firewall inside the namespace, and the
//! third run must alert a new critical `split-forward-drop`.
//!
//! Needs root and the lab's packages (see lab/README.md); a missing prerequisite FAILS the test.

use std::path::PathBuf;
use std::process::Command;

const SCRIPT: &str = r#"
F=$1; OUT=$2; STATE=$OUT/state
run() { "$F" check --cron --no-syslog --state-dir "$STATE" >"$OUT/$1.txt" 2>"$OUT/$1.err"; echo $? >"$OUT/$1.code"; }
run first
run unchanged
iptables-legacy -P FORWARD DROP || exit 99
run drifted
run drifted-again
"#;

fn lab_sh() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("lab/lab.sh")
}

#[test]
fn lab_legacy_forward_drop_between_two_runs_alerts() {
    assert!(
        lab_sh().is_file(),
        "lab/lab.sh is missing (the lab harness from branch h-lab)"
    );
    let pre = Command::new("bash")
        .arg(lab_sh())
        .arg("prereqs")
        .output()
        .unwrap();
    assert!(
        pre.status.success(),
        "the live lab tests need root and the lab's packages; {}",
        String::from_utf8_lossy(&pre.stderr).trim()
    );
    let out_dir = tempfile::tempdir().unwrap();
    let out = Command::new("timeout")
        .args(["-k", "60", "300", "bash"])
        .arg(lab_sh())
        .args(["run", "healthy", "--", "sh", "-c", SCRIPT, "sh"])
        .arg(env!("CARGO_BIN_EXE_fwdoctor"))
        .arg(out_dir.path())
        .output()
        .unwrap();
    let lab_log = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "the lab run failed:\n{lab_log}");
    let read = |name: &str| {
        std::fs::read_to_string(out_dir.path().join(name))
            .unwrap_or_else(|e| panic!("{name}: {e}\n{lab_log}"))
    };
    let code = |run: &str| read(&format!("{run}.code")).trim().parse::<i32>().unwrap();
    let ctx = |run: &str| {
        format!(
            "{run}: exit {}\n{}{}",
            code(run),
            read(&format!("{run}.txt")),
            read(&format!("{run}.err"))
        )
    };

    let first = read("first.txt");
    assert!(first.contains("(first run)"), "{}", ctx("first"));
    assert!(
        !first.contains("split-forward-drop"),
        "healthy host: {}",
        ctx("first")
    );
    assert_eq!(code("first"), 0, "healthy host is ok: {}", ctx("first"));

    assert_eq!(read("unchanged.txt"), "", "{}", ctx("unchanged"));
    assert_eq!(code("unchanged"), 0);

    let drifted = read("drifted.txt");
    assert_eq!(code("drifted"), 2, "{}", ctx("drifted"));
    assert!(drifted.contains("(was ok)"), "{}", ctx("drifted"));
    assert!(
        drifted.contains(
            "NEW      critical split-forward-drop: legacy ip filter FORWARD: policy DROP"
        ),
        "{}",
        ctx("drifted")
    );
    assert!(
        drifted.contains("-P FORWARD ACCEPT"),
        "the fix: {}",
        ctx("drifted")
    );

    assert_eq!(
        read("drifted-again.txt"),
        "",
        "the same drift is not re-sent: {}",
        ctx("drifted-again")
    );
    assert_eq!(code("drifted-again"), 0);
}
