//! `fwdoctor fix --apply` on the report's bug with real packets: the lab (`lab/lab.sh run
//! report-bug`) builds its own host and client namespaces with a real dockerd whose rules are
//! in iptables-nft, plus `iptables-legacy -P FORWARD DROP`; a script run inside the lab's host
//! namespace applies the fix and curls from the client namespace.
//!
//! * Without confirmation (`--confirm-timeout 1`, stdin at EOF) the fix is rolled back: the
//!   legacy and iptables-nft rulesets afterwards equal the backup's saves (timestamp comments
//!   and counters aside), and curl from outside fails again.
//! * A re-check that fails (scenario `forward-off-and-legacy-drop`, fixing only
//!   `split-forward-drop`: with the legacy policy fixed, `ip_forward=0` still blocks the port)
//!   rolls back at once, to the saved rulesets.
//! * With `yes` typed once the re-check passed, curl from outside works during the
//!   confirmation window and after.
//! * Every stack's restore is exact: iptables-nft, a native nft table, a sysctl.
//! * The reverse split, a native nft forward drop and `ip_forward=0` are fixed the same way:
//!   curl from outside fails before and works after `yes`.
//! * The dry run, `--apply` with no terminal and no `--yes`, and a plan whose only fix is the
//!   user's own DOCKER-USER drop (scenario `docker-user-drop`) change nothing; nor does the
//!   plan for Podman's port behind Docker's DROP (scenario `podman-beside-docker`), whose
//!   DOCKER-USER accepts are printed, never applied.
//!
//! They need root and the lab's packages; without them they fail, naming what is missing.
//! Everything happens in the lab's namespaces; the lab tears down (by pid) on every exit, and
//! the script kills its own fwdoctor by pid on exit.

use std::path::{Path, PathBuf};
use std::process::Command;

fn lab_sh() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("lab/lab.sh")
}

fn require_lab_prereqs() {
    let out = Command::new("bash")
        .arg(lab_sh())
        .arg("prereqs")
        .output()
        .expect("bash lab/lab.sh prereqs");
    assert!(
        out.status.success(),
        "the lab tests need root and the lab's packages; {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
}

/// Run inside the lab's host netns: $1 fwdoctor, $2 work dir, $3 `timeout` or `confirm` (with
/// `--apply --yes`) or `plain`, then fix's arguments.
const SCRIPT: &str = r#"
set -u
FW=$1; W=$2; MODE=$3; shift 3
curl_out() { ip netns exec "$LAB_CLIENT" curl -s -m 3 -o /dev/null -w '%{http_code}' "http://10.99.0.1:${CURL_PORT:-8080}/" || true; }
iptables-legacy-save > "$W/legacy-before.txt"
iptables-nft-save > "$W/nft-before.txt"
nft list ruleset > "$W/ruleset-before.txt"
sysctl -n net.ipv4.ip_forward > "$W/forward-before"
curl_out > "$W/curl-before"
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null' EXIT
if [ "$MODE" = plain ]; then
  "$FW" fix "$@" --state-dir "$W/state" </dev/null >"$W/out" 2>"$W/err"
  echo $? > "$W/rc"
elif [ "$MODE" = timeout ]; then
  "$FW" fix "$@" --apply --yes --confirm-timeout 1 --state-dir "$W/state" </dev/null >"$W/out" 2>"$W/err"
  echo $? > "$W/rc"
else
  mkfifo "$W/in"
  "$FW" fix "$@" --apply --yes --confirm-timeout 60 --state-dir "$W/state" <"$W/in" >"$W/out" 2>"$W/err" &
  pid=$!
  exec 3>"$W/in"
  for _ in $(seq 600); do
    grep -q 'Type yes' "$W/err" && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  curl_out > "$W/curl-during"
  echo yes >&3
  exec 3>&-
  wait "$pid"; echo $? > "$W/rc"; pid=
fi
iptables-legacy-save > "$W/legacy-after.txt"
iptables-nft-save > "$W/nft-after.txt"
nft list ruleset > "$W/ruleset-after.txt"
sysctl -n net.ipv4.ip_forward > "$W/forward-after"
curl_out > "$W/curl-after"
"#;

struct Run {
    dir: tempfile::TempDir,
    log: String,
}

impl Run {
    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(name))
            .unwrap_or_else(|e| panic!("{name}: {e}\n{}", self.log))
    }
    /// The one backup directory fix made.
    fn backup(&self) -> PathBuf {
        let dirs: Vec<_> = std::fs::read_dir(self.dir.path().join("state"))
            .unwrap_or_else(|e| panic!("state dir: {e}\n{}", self.log))
            .map(|e| e.unwrap().path())
            .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("fix-"))
            .collect();
        assert_eq!(dirs.len(), 1, "{dirs:?}\n{}", self.log);
        dirs[0].clone()
    }
}

fn run(scenario: &str, mode: &str, selection: &[&str]) -> Run {
    run_port(scenario, 8080, mode, selection)
}

/// [`run`], curling `port` from the client.
fn run_port(scenario: &str, port: u16, mode: &str, selection: &[&str]) -> Run {
    require_lab_prereqs();
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("fix.sh");
    std::fs::write(&script, SCRIPT).unwrap();
    let out = Command::new("timeout")
        .args(["-k", "60", "400", "bash"])
        .arg(lab_sh())
        .args(["run", scenario, "--", "bash"])
        .arg(&script)
        .arg(env!("CARGO_BIN_EXE_fwdoctor"))
        .arg(dir.path())
        .arg(mode)
        .args(selection)
        .env_remove("SSH_CONNECTION")
        .env("CURL_PORT", port.to_string())
        .output()
        .unwrap();
    let mut log = format!(
        "lab exit {:?}\n--- lab stderr ---\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    for f in ["out", "err"] {
        if let Ok(t) = std::fs::read_to_string(dir.path().join(f)) {
            log.push_str(&format!("\n--- fwdoctor {f} ---\n{t}"));
        }
    }
    assert_eq!(out.status.code(), Some(0), "{log}");
    Run { dir, log }
}

/// A save without its timestamp comments and counters.
fn norm(s: &str) -> String {
    fwdoctor::apply::normalize(s)
}

fn assert_same(a: &str, b: &str, what: &str, log: &str) {
    assert_eq!(norm(a), norm(b), "{what}\n{log}");
}

#[test]
fn without_confirmation_the_fix_is_rolled_back_to_the_saved_rulesets() {
    let r = run("report-bug", "timeout", &[]);
    assert_ne!(
        r.read("curl-before"),
        "200",
        "the bug is not there\n{}",
        r.log
    );
    assert_eq!(r.read("rc").trim(), "1", "{}", r.log);
    let err = r.read("err");
    assert!(
        err.contains("re-check passed: 8080/tcp now reachable"),
        "{}",
        r.log
    );
    assert!(
        err.contains("no confirmation in time: restoring from"),
        "{}",
        r.log
    );
    assert!(
        err.contains("restored: the rulesets are identical"),
        "{}",
        r.log
    );
    let saved = std::fs::read_to_string(r.backup().join("iptables-legacy-save.txt")).unwrap();
    assert!(saved.contains(":FORWARD DROP"), "{saved}");
    assert_same(
        &saved,
        &r.read("legacy-after.txt"),
        "legacy after rollback vs the backup",
        &r.log,
    );
    assert_same(
        &r.read("legacy-before.txt"),
        &r.read("legacy-after.txt"),
        "legacy before vs after",
        &r.log,
    );
    assert_same(
        &r.read("nft-before.txt"),
        &r.read("nft-after.txt"),
        "iptables-nft untouched",
        &r.log,
    );
    assert_ne!(
        r.read("curl-after"),
        "200",
        "still reachable after the rollback\n{}",
        r.log
    );
    let restore = std::fs::read_to_string(r.backup().join("RESTORE.txt")).unwrap();
    assert!(
        restore.starts_with("sudo iptables-legacy-restore -T filter < "),
        "{restore}"
    );
}

#[test]
fn with_confirmation_curl_from_outside_works() {
    let r = run("report-bug", "confirm", &[]);
    assert_ne!(
        r.read("curl-before"),
        "200",
        "the bug is not there\n{}",
        r.log
    );
    assert_eq!(r.read("curl-during"), "200", "{}", r.log);
    assert_eq!(r.read("rc").trim(), "0", "{}", r.log);
    assert!(r.read("err").contains("kept."), "{}", r.log);
    assert_eq!(r.read("curl-after"), "200", "{}", r.log);
    let after = r.read("legacy-after.txt");
    assert!(after.contains(":FORWARD ACCEPT"), "{after}");
    // Only the policy changed: the rest of the legacy ruleset is the saved one.
    let saved = std::fs::read_to_string(r.backup().join("iptables-legacy-save.txt")).unwrap();
    assert_same(
        &saved.replace(":FORWARD DROP", ":FORWARD ACCEPT"),
        &after,
        "legacy after the kept fix",
        &r.log,
    );
    assert!(Path::new(&r.backup()).join("RESTORE.txt").exists());
}

#[test]
fn a_failed_re_check_rolls_back_at_once() {
    let r = run(
        "forward-off-and-legacy-drop",
        "timeout",
        &["split-forward-drop"],
    );
    assert_eq!(r.read("rc").trim(), "1", "{}", r.log);
    let err = r.read("err");
    assert!(
        err.contains("the re-check failed: port 8080/tcp is still blocked"),
        "{}",
        r.log
    );
    assert!(!err.contains("Type yes"), "{}", r.log);
    assert!(
        err.contains("restored: the rulesets are identical"),
        "{}",
        r.log
    );
    let saved = std::fs::read_to_string(r.backup().join("iptables-legacy-save.txt")).unwrap();
    assert_same(
        &saved,
        &r.read("legacy-after.txt"),
        "legacy after rollback vs the backup",
        &r.log,
    );
    assert_same(
        &r.read("legacy-before.txt"),
        &r.read("legacy-after.txt"),
        "legacy before vs after",
        &r.log,
    );
}

/// The other stacks' restores: iptables-nft (`-T filter`), a native nft table (restored alone
/// in one `nft -f` transaction), a sysctl. Each fix works (the re-check passes), and without
/// confirmation everything is back as it was.
#[test]
fn every_stack_is_restored_exactly() {
    for (scenario, save) in [
        ("reverse-split", "iptables-nft-save.txt"),
        ("nft-native-forward-drop", "nft-inet-filter.nft"),
        ("ip-forward-off", "sysctl.conf"),
    ] {
        let r = run(scenario, "timeout", &[]);
        let ctx = format!("{scenario}\n{}", r.log);
        assert_ne!(r.read("curl-before"), "200", "{ctx}");
        assert_eq!(r.read("rc").trim(), "1", "{ctx}");
        let err = r.read("err");
        assert!(err.contains("re-check passed: 8080/tcp"), "{ctx}");
        assert!(
            err.contains("restored: the rulesets are identical"),
            "{ctx}"
        );
        assert!(r.backup().join(save).exists(), "no {save}: {ctx}");
        for (a, b) in [
            ("legacy-before.txt", "legacy-after.txt"),
            ("nft-before.txt", "nft-after.txt"),
            ("ruleset-before.txt", "ruleset-after.txt"),
            ("forward-before", "forward-after"),
        ] {
            assert_same(&r.read(a), &r.read(b), &format!("{a} vs {b}"), &ctx);
        }
        assert_ne!(r.read("curl-after"), "200", "{ctx}");
    }
}

#[test]
fn the_dry_run_the_refusals_and_a_docker_user_drop_change_nothing() {
    for (scenario, args, code, says) in [
        (
            "report-bug",
            &[][..],
            "0",
            "dry run: nothing changed. `sudo fwdoctor fix --apply` runs the 1 [apply] step(s)",
        ),
        (
            "report-bug",
            &["--apply"][..],
            "3",
            "fwdoctor fix: refused: no terminal to ask on: give --yes",
        ),
        (
            "docker-user-drop",
            &["--apply", "--yes"][..],
            "3",
            "fwdoctor fix: refused: no step of this plan is one --apply runs",
        ),
    ] {
        let r = run(scenario, "plain", args);
        let ctx = format!("{scenario} {args:?}\n{}", r.log);
        assert_eq!(r.read("rc").trim(), code, "{ctx}");
        let said = r.read("out") + &r.read("err");
        assert!(said.contains(says), "{ctx}");
        assert!(
            !r.dir.path().join("state").exists(),
            "a backup was made: {ctx}"
        );
        for (a, b) in [
            ("legacy-before.txt", "legacy-after.txt"),
            ("nft-before.txt", "nft-after.txt"),
            ("ruleset-before.txt", "ruleset-after.txt"),
        ] {
            assert_same(&r.read(a), &r.read(b), &format!("{a} vs {b}"), &ctx);
        }
        assert_eq!(r.read("curl-before"), r.read("curl-after"), "{ctx}");
    }
}

/// The reverse split, a native nft forward drop and `ip_forward=0`: curl from outside fails
/// before, works in the confirmation window, and still after `yes`.
#[test]
fn the_other_bugs_are_fixed_for_real_packets() {
    for scenario in ["reverse-split", "nft-native-forward-drop", "ip-forward-off"] {
        let r = run(scenario, "confirm", &[]);
        let ctx = format!("{scenario}\n{}", r.log);
        assert_ne!(r.read("curl-before"), "200", "{ctx}");
        assert_eq!(r.read("curl-during"), "200", "{ctx}");
        assert_eq!(r.read("rc").trim(), "0", "{ctx}");
        assert!(r.read("err").contains("kept."), "{ctx}");
        assert_eq!(r.read("curl-after"), "200", "{ctx}");
    }
}

/// Podman's port behind Docker's FORWARD policy DROP (lab/podman.sh, a real rootful podman
/// beside dockerd): the plan's fix is the DOCKER-USER accepts for cni-podman0, and `fix
/// --apply` never writes DOCKER-USER (the user's chain): it prints them, refuses, and changes
/// nothing — curl from outside still fails. (The accepts themselves are proven by the
/// `podman-beside-docker-user-accept` fixture, whose curl truth is reachable.)
#[test]
fn podmans_fix_is_printed_never_applied_and_nothing_changes() {
    let r = run_port("podman-beside-docker", 8090, "timeout", &[]);
    assert_ne!(
        r.read("curl-before"),
        "200",
        "the bug is not there\n{}",
        r.log
    );
    assert_ne!(r.read("rc").trim(), "0", "{}", r.log);
    let out = r.read("out");
    assert!(
        out.contains("sudo iptables-nft -I DOCKER-USER -o cni-podman0 -j ACCEPT"),
        "{out}"
    );
    assert!(out.contains("resolves: other-bridge-blocked"), "{out}");
    assert!(r.read("err").contains("refused"), "{}", r.log);
    assert_same(
        &r.read("nft-before.txt"),
        &r.read("nft-after.txt"),
        "iptables-nft after the refused fix",
        &r.log,
    );
    assert_ne!(r.read("curl-after"), "200", "{}", r.log);
}
