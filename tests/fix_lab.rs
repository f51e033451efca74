//! `fwdoctor fix --apply` on the report's bug with real packets: the lab (`lab/lab.sh run
//! report-bug`) builds its own host and client namespaces with a real dockerd whose rules are
//! in iptables-nft, plus `iptables-legacy -P FORWARD DROP`; a script run inside the lab's host
//! namespace applies the fix and curls from the client namespace.
//!
//! * Without confirmation (`--confirm-timeout 1`, stdin at EOF) the fix is rolled back: the
//!   legacy and iptables-nft rulesets afterwards equal the backup's saves (timestamp comments
//!   and counters aside), and curl from outside fails again.
//! * A fix the model predicts will not open the port (scenario `forward-off-and-legacy-drop`,
//!   fixing only `split-forward-drop`: with the legacy policy fixed, `ip_forward=0` still
//!   blocks it) is refused before anything is saved or changed; a re-check on the real host
//!   that fails rolls back at once (the `--lasting` reverse split below).
//! * With `yes` typed once the re-check passed, curl from outside works during the
//!   confirmation window and after.
//! * Every stack's restore is exact: iptables-nft, a native nft table, a sysctl.
//! * The reverse split, a native nft forward drop and `ip_forward=0` are fixed the same way:
//!   curl from outside fails before and works after `yes`.
//! * The dry run, `--apply` with no terminal and no `--yes`, and a plan whose only fix is the
//!   user's own DOCKER-USER drop (scenario `docker-user-drop`) change nothing; nor does the
//!   plan for Podman's port behind Docker's DROP (scenario `podman-beside-docker`), whose
//!   DOCKER-USER accepts are printed, never applied.
//! * `--lasting`: the sysctl.d file is written with the old one kept beside it (confirmed), or
//!   put back with no backup left (not confirmed); the reverse split's update-alternatives,
//!   legacy flushes and restart of Docker are rolled back, alternatives byte for byte.
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
/// `--apply --yes`) or `plain`, each also as `lasting-…` (with `--lasting`, see `fw`), then
/// fix's arguments.
///
/// `fw` runs fwdoctor; for `lasting-…` in a private mount namespace where `/etc/sysctl.d`,
/// `/etc/alternatives`, `/var/lib/dpkg/alternatives` and `/var/log` are the work dir's copies
/// (the machine's own files never change), and where `systemctl` is a stand-in that records
/// its arguments in `$W/systemctl-calls`: the lab's dockerd is no systemd unit.
const SCRIPT: &str = r#"
set -u
FW=$1; W=$2; MODE=$3; shift 3
LASTING=0
case "$MODE" in lasting-*) LASTING=1; MODE=${MODE#lasting-}; set -- "$@" --lasting ;; esac
mkdir -p "$W/sysctl.d" "$W/alt" "$W/dpkg-alt" "$W/varlog" "$W/shim"
if [ "$LASTING" = 1 ]; then
  cp -a /etc/alternatives/. "$W/alt/"
  cp -a /var/lib/dpkg/alternatives/. "$W/dpkg-alt/"
  [ -f "$W/seed.conf" ] && cp "$W/seed.conf" "$W/sysctl.d/99-docker-forward.conf"
  printf '#!/bin/sh\necho "$*" >> %s/systemctl-calls\n' "$W" > "$W/shim/systemctl"
  chmod 755 "$W/shim/systemctl"
  cp -a "$W/dpkg-alt" "$W/dpkg-alt-before"
  readlink /etc/alternatives/iptables > "$W/alt-before"
fi
fw() {
  if [ "$LASTING" = 1 ]; then
    unshare -m --propagation private sh -c 'W=$1; shift
      mount --bind "$W/sysctl.d" /etc/sysctl.d && mount --bind "$W/alt" /etc/alternatives &&
      mount --bind "$W/dpkg-alt" /var/lib/dpkg/alternatives && mount --bind "$W/varlog" /var/log &&
      PATH="$W/shim:$PATH" exec "$@"' sh "$W" "$FW" "$@"
  else
    exec "$FW" "$@"
  fi
}
curl_out() { ip netns exec "$LAB_CLIENT" curl -s -m 3 -o /dev/null -w '%{http_code}' "http://10.99.0.1:${CURL_PORT:-8080}/" || true; }
iptables-legacy-save > "$W/legacy-before.txt"
iptables-nft-save > "$W/nft-before.txt"
nft list ruleset > "$W/ruleset-before.txt"
sysctl -n net.ipv4.ip_forward > "$W/forward-before"
curl_out > "$W/curl-before"
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null' EXIT
if [ "$MODE" = plain ]; then
  (fw fix "$@" --state-dir "$W/state") </dev/null >"$W/out" 2>"$W/err"
  echo $? > "$W/rc"
elif [ "$MODE" = timeout ]; then
  (fw fix "$@" --apply --yes --confirm-timeout 1 --state-dir "$W/state") </dev/null >"$W/out" 2>"$W/err"
  echo $? > "$W/rc"
else
  mkfifo "$W/in"
  (fw fix "$@" --apply --yes --confirm-timeout 60 --state-dir "$W/state") <"$W/in" >"$W/out" 2>"$W/err" &
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
if [ "$LASTING" = 1 ]; then readlink "$W/alt/iptables" > "$W/alt-after"; fi
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
    run_seeded(scenario, 8080, mode, selection, None)
}

/// [`run`], curling `port` from the client, with `seed` as the
/// `/etc/sysctl.d/99-docker-forward.conf` already there (lasting modes).
fn run_seeded(
    scenario: &str,
    port: u16,
    mode: &str,
    selection: &[&str],
    seed: Option<&str>,
) -> Run {
    require_lab_prereqs();
    let dir = tempfile::tempdir().unwrap();
    if let Some(seed) = seed {
        std::fs::write(dir.path().join("seed.conf"), seed).unwrap();
    }
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

/// Fixing only `split-forward-drop` on a host whose `ip_forward=0` also blocks the port: the
/// model, with the step applied to the evidence, predicts the port stays blocked, so fix
/// refuses before it saves or changes anything. (A re-check on the real host that fails is
/// rolled back at once: `lasting_rollback_restores_alternatives_and_rulesets_and_restarts_docker_again`.)
#[test]
fn a_fix_predicted_not_to_open_the_port_is_refused_before_any_change() {
    let r = run(
        "forward-off-and-legacy-drop",
        "timeout",
        &["split-forward-drop"],
    );
    assert_eq!(r.read("rc").trim(), "3", "{}", r.log);
    let err = r.read("err");
    assert!(
        err.contains(
            "refused: the model predicts these steps would not do it (port 8080/tcp is still blocked"
        ),
        "{}",
        r.log
    );
    assert!(!err.contains("applying:"), "{}", r.log);
    assert!(
        r.read("out").contains(
            "prediction (the rules as the [apply] steps leave them): port 8080/tcp is still blocked"
        ),
        "{}",
        r.log
    );
    assert!(!r.dir.path().join("state").exists(), "{}", r.log);
    assert_same(
        &r.read("legacy-before.txt"),
        &r.read("legacy-after.txt"),
        "legacy before vs after",
        &r.log,
    );
    assert_eq!(r.read("forward-after").trim(), "0", "{}", r.log);
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

/// `--lasting` on `ip_forward=0`, confirmed: the sysctl.d file is written, the file that was
/// there is kept beside it as `NAME.fwdoctor-STAMP.bak`, and curl from outside works.
#[test]
fn lasting_writes_the_config_file_and_keeps_the_old_one_beside_it() {
    let old = "net.ipv4.ip_forward=0\n";
    let r = run_seeded("ip-forward-off", 8080, "lasting-confirm", &[], Some(old));
    let ctx = r.log.clone();
    assert_ne!(r.read("curl-before"), "200", "{ctx}");
    assert_eq!(r.read("rc").trim(), "0", "{ctx}");
    assert!(r.read("err").contains("The lasting steps ran too"), "{ctx}");
    assert_eq!(r.read("curl-after"), "200", "{ctx}");
    assert_eq!(
        r.read("sysctl.d/99-docker-forward.conf"),
        "net.ipv4.ip_forward=1\n",
        "{ctx}"
    );
    let baks: Vec<String> = std::fs::read_dir(r.dir.path().join("sysctl.d"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("99-docker-forward.conf.fwdoctor-") && n.ends_with(".bak"))
        .collect();
    assert_eq!(baks.len(), 1, "{baks:?}\n{ctx}");
    assert_eq!(r.read(&format!("sysctl.d/{}", baks[0])), old, "{ctx}");
}

/// `--lasting` on `ip_forward=0` without confirmation: the file that was there is back, no
/// backup is left beside it, and the sysctl is 0 again.
#[test]
fn lasting_without_confirmation_puts_the_file_back() {
    let old = "# the host's own\nnet.ipv4.ip_forward=0\n";
    let r = run_seeded("ip-forward-off", 8080, "lasting-timeout", &[], Some(old));
    let ctx = r.log.clone();
    assert_eq!(r.read("rc").trim(), "1", "{ctx}");
    assert_eq!(r.read("forward-after").trim(), "0", "{ctx}");
    assert_eq!(r.read("sysctl.d/99-docker-forward.conf"), old, "{ctx}");
    let names: Vec<String> = std::fs::read_dir(r.dir.path().join("sysctl.d"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["99-docker-forward.conf"], "{ctx}");
}

/// `--lasting` on the reverse split without confirmation: update-alternatives, the legacy
/// flushes and the restart of Docker ran; the rollback restores both stacks exactly, puts the
/// alternatives back byte for byte, and restarts Docker again.
#[test]
fn lasting_rollback_restores_alternatives_and_rulesets_and_restarts_docker_again() {
    let r = run("reverse-split", "lasting-timeout", &[]);
    let ctx = r.log.clone();
    let err = r.read("err");
    assert!(
        err.contains("applying: sudo update-alternatives --set iptables"),
        "{ctx}"
    );
    assert!(
        err.contains("applying: sudo iptables-legacy -t nat -F"),
        "{ctx}"
    );
    // The restart (left out of the prediction) did not re-create Docker's rules here: the
    // re-check on the host finds Docker's chains unhooked and rolls back at once.
    assert!(err.contains("the re-check failed: "), "{ctx}");
    assert!(!err.contains("Type yes"), "{ctx}");
    assert!(
        r.read("out")
            .contains("(left out, the re-check after applying decides: step "),
        "{ctx}"
    );
    assert_eq!(r.read("rc").trim(), "1", "{ctx}");
    assert_eq!(
        r.read("systemctl-calls"),
        "restart docker\nrestart docker\n",
        "{ctx}"
    );
    assert_same(
        &r.read("legacy-before.txt"),
        &r.read("legacy-after.txt"),
        "legacy",
        &ctx,
    );
    assert_same(
        &r.read("nft-before.txt"),
        &r.read("nft-after.txt"),
        "iptables-nft",
        &ctx,
    );
    assert_eq!(r.read("alt-before"), r.read("alt-after"), "{ctx}");
    for name in ["iptables", "ip6tables"] {
        assert_eq!(
            r.read(&format!("dpkg-alt-before/{name}")),
            r.read(&format!("dpkg-alt/{name}")),
            "{name}\n{ctx}"
        );
    }
    assert_ne!(r.read("curl-after"), "200", "{ctx}");
}

/// Podman's port behind Docker's FORWARD policy DROP (lab/podman.sh, a real rootful podman
/// beside dockerd): the plan's fix is the DOCKER-USER accepts for cni-podman0, and `fix
/// --apply` never writes DOCKER-USER (the user's chain): it prints them, refuses, and changes
/// nothing — curl from outside still fails. (The accepts themselves are proven by the
/// `podman-beside-docker-user-accept` fixture, whose curl truth is reachable.)
#[test]
fn podmans_fix_is_printed_never_applied_and_nothing_changes() {
    let r = run_seeded("podman-beside-docker", 8090, "timeout", &[], None);
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
