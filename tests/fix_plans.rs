//! The commands fwdoctor suggests are safe to paste:
//!
//! * every command line (JSON `fix` fields, and the same lines in the human `-v` report) is
//!   valid shell (`bash -n`), and evaluated by a real `/bin/sh` under fake `sudo`, `iptables-*`
//!   and `nft` that only record their argv, it passes exactly the words of the evidence: a rule
//!   comment `$(touch ...)` stays a comment and creates no file;
//! * a lasting fix that flushes the legacy stack, run for real by the kernel in a throwaway
//!   network namespace (`unshare -n`, gone with its process) loaded with the capture's
//!   iptables-legacy-save, leaves no built-in chain of a flushed table at policy DROP.
//!
//! They need root (for `unshare`, and `iptables-legacy` inside it); without it they fail rather
//! than skip.

use assert_cmd::Command;
use serde_json::Value;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command as Process;

const LAB: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/lab");

fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "these tests need root for `unshare` and iptables-legacy (run them as root, as CI does)"
    );
}

/// A copy of lab capture `name` in `dir`, to be edited.
fn copy_capture(name: &str, dir: &Path) -> PathBuf {
    let cap = dir.join(name);
    fs::create_dir_all(&cap).unwrap();
    for e in fs::read_dir(Path::new(LAB).join(name)).unwrap() {
        let e = e.unwrap();
        fs::copy(e.path(), cap.join(e.file_name())).unwrap();
    }
    cap
}

fn check(cap: &Path, args: &[&str]) -> String {
    let out = Command::cargo_bin("fwdoctor")
        .unwrap()
        .args(["check", "--from"])
        .arg(cap)
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(
        matches!(out.status.code(), Some(0..=3)) && !out.stdout.is_empty(),
        "fwdoctor check failed: {out:?}"
    );
    String::from_utf8(out.stdout).unwrap()
}

fn report(cap: &Path) -> Value {
    serde_json::from_str(&check(cap, &["--format", "json"])).unwrap()
}

/// Is this fix entry a command (the report's rule: prose starts with a capital letter)?
fn is_command(line: &str) -> bool {
    !line.starts_with(|c: char| c.is_ascii_uppercase())
}

/// Every command of one finding's `fix` field (`immediate` or `lasting`).
fn commands_of(finding: &Value, field: &str) -> Vec<String> {
    finding["fix"][field]
        .as_array()
        .unwrap_or_else(|| panic!("finding without fix.{field}: {finding}"))
        .iter()
        .map(|l| l.as_str().unwrap().to_string())
        .filter(|l| is_command(l))
        .collect()
}

/// Every command the report suggests, each once.
fn all_commands(report: &Value) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for f in report["findings"].as_array().unwrap() {
        for c in commands_of(f, "immediate")
            .into_iter()
            .chain(commands_of(f, "lasting"))
        {
            if !out.contains(&c) {
                out.push(c);
            }
        }
    }
    out
}

fn assert_bash_syntax(script: &str) {
    let out = Process::new("bash")
        .args(["-n", "-c", script])
        .output()
        .expect("runs bash");
    assert!(
        out.status.success(),
        "not valid shell: {script}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The absolute path of a system tool (the fakes' PATH holds only fakes).
fn system_binary(name: &str) -> PathBuf {
    ["/usr/bin", "/bin", "/usr/sbin", "/sbin"]
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.exists())
        .unwrap_or_else(|| panic!("{name} not found (util-linux)"))
}

/// Programs a suggested command may start (directly or after `sudo`), faked.
const FAKED: &[&str] = &[
    "sudo",
    "iptables-legacy",
    "iptables-nft",
    "ip6tables-legacy",
    "ip6tables-nft",
    "iptables-legacy-save",
    "ip6tables-legacy-save",
    "nft",
    "systemctl",
    "snap",
    "update-alternatives",
    "sysctl",
    "tee",
    "ufw",
    "firewall-cmd",
    "fwdoctor",
    "grep",
    "apt-get",
];

/// A directory of fake programs that append their argv (NUL-separated, count first) to a log
/// and exit 0, and a scratch working directory.
struct Fakes {
    dir: tempfile::TempDir,
}

impl Fakes {
    fn new() -> Fakes {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("bin")).unwrap();
        fs::create_dir(dir.path().join("work")).unwrap();
        for name in FAKED {
            let path = dir.path().join("bin").join(name);
            fs::write(
                &path,
                format!(
                    "#!/bin/sh\nprintf '%s\\0' \"$#\" {name} \"$@\" >> '{}'\n",
                    dir.path().join("argv.log").display()
                ),
            )
            .unwrap();
            fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        }
        Fakes { dir }
    }

    /// Evaluate `cmd` with `/bin/sh -c`, only the fakes on PATH and TRUSTED_NET set, in a private mount namespace
    /// with a tmpfs on /root (a suggested `> /root/...` backup must not touch the host).
    fn run(&self, cmd: &str) {
        let out = Process::new(system_binary("unshare"))
            .args(["-m", "--propagation", "private", "/bin/sh", "-c"])
            .arg("\"$0\" -t tmpfs fwdoctor-test /root && exec /bin/sh -c \"$1\"")
            .arg(system_binary("mount"))
            .arg(cmd)
            .env_clear()
            .env("PATH", self.dir.path().join("bin"))
            // The one value a plan leaves to the operator (`${TRUSTED_NET:?…}`), set as they would.
            .env("TRUSTED_NET", "192.0.2.0/24")
            .current_dir(self.dir.path().join("work"))
            .output()
            .expect("runs unshare");
        assert!(out.status.success(), "{cmd}: {out:?}");
    }

    /// Each recorded invocation: program name, then its arguments.
    fn invocations(&self) -> Vec<Vec<String>> {
        let log = fs::read(self.dir.path().join("argv.log")).unwrap_or_default();
        let mut fields = log
            .split(|b| *b == 0)
            .map(|f| String::from_utf8(f.to_vec()).unwrap());
        let mut out = Vec::new();
        while let Some(n) = fields.next().filter(|n| !n.is_empty()) {
            let n: usize = n.parse().unwrap();
            out.push(fields.by_ref().take(n + 1).collect());
        }
        out
    }
}

/// Runs every suggested command of `cap` under the fakes, after checking it with `bash -n`
/// and finding it verbatim in the human report. Returns the fakes' record.
fn paste_every_command(cap: &Path) -> Vec<Vec<String>> {
    let commands = all_commands(&report(cap));
    assert!(!commands.is_empty(), "the capture suggests no command");
    let human = check(cap, &["-v"]);
    let fakes = Fakes::new();
    for c in &commands {
        assert!(
            human.contains(&format!("\n    {c}\n")),
            "the human report does not show the command as is: {c}\n{human}"
        );
        assert_bash_syntax(c);
        fakes.run(c);
    }
    let written: Vec<_> = fs::read_dir(fakes.dir.path().join("work"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        written.is_empty(),
        "pasting the commands wrote {written:?} (an unquoted `>`?)"
    );
    fakes.invocations()
}

fn words(ws: &[&str]) -> Vec<String> {
    ws.iter().map(|w| w.to_string()).collect()
}

#[test]
fn a_drop_rule_whose_comment_is_a_command_substitution_is_deleted_word_for_word() {
    require_root();
    let d = tempfile::tempdir().unwrap();
    let cap = copy_capture("report-bug", d.path());
    let pwned = d.path().join("PWNED-x");
    let pwned2 = d.path().join("PWNED-y");
    // iptables-save quoting: `\"` and `\\` inside double quotes.
    let saved_comment = format!(
        r#""$(touch {}) \"b\" \\ 'c' `touch {}`""#,
        pwned.display(),
        pwned2.display()
    );
    let comment = format!(
        r#"$(touch {}) "b" \ 'c' `touch {}`"#,
        pwned.display(),
        pwned2.display()
    );
    fs::write(
        cap.join("iptables-legacy-save.txt"),
        format!(
            "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
             :DOCKER-USER - [0:0]\n-A FORWARD -j DOCKER-USER\n\
             -A DOCKER-USER ! -s 10.0.0.0/8 -m comment --comment {saved_comment} -j DROP\nCOMMIT\n"
        ),
    )
    .unwrap();

    let calls = paste_every_command(&cap);
    let mut expected = words(&[
        "sudo",
        "iptables-legacy",
        "-t",
        "filter",
        "-D",
        "DOCKER-USER",
        "!",
        "-s",
        "10.0.0.0/8",
        "-m",
        "comment",
        "--comment",
    ]);
    expected.push(comment);
    expected.extend(words(&["-j", "DROP"]));
    assert!(
        calls.contains(&expected),
        "no suggested command passes the rule's words: {expected:?}\ngot {calls:#?}"
    );
    assert!(
        !pwned.exists() && !pwned2.exists(),
        "pasting ran the comment"
    );
}

#[test]
fn nft_fix_lines_quote_the_bridge_and_name_a_rule_by_the_captures_handle() {
    require_root();
    let d = tempfile::tempdir().unwrap();
    let cap = copy_capture("nft-native-forward-drop", d.path());
    let pwned = d.path().join("PWNED-z");
    // A bridge name is the operator's (`com.docker.network.bridge.name`), evidence like any other.
    let bridge = format!("d$(touch {})", pwned.display());
    let networks = fs::read_to_string(cap.join("docker-networks.json")).unwrap();
    let mut networks: Value = serde_json::from_str(&networks).unwrap();
    let default = networks
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|n| n["Name"] == "bridge")
        .expect("the default bridge network");
    default["Options"]["com.docker.network.bridge.name"] = bridge.clone().into();
    fs::write(cap.join("docker-networks.json"), networks.to_string()).unwrap();
    // A bridge name that is no interface name is left out of the evidence (parse/docker.rs), so
    // no suggested command carries it; the accepts name the bridges that are real.
    let calls = paste_every_command(&cap);
    assert!(
        calls.iter().flatten().all(|w| !w.contains("touch")),
        "a suggested command carries the bridge name: {calls:#?}"
    );
    assert!(!pwned.exists(), "pasting ran the bridge name");

    // A drop rule instead of the policy: named by handle, never by its text. The capture holds
    // the user's table as `nft -j list table inet filter` (and its chains in nft-chains.json).
    let mut found = 0;
    for file in ["nft-table-inet-filter.json", "nft-chains.json"] {
        let text = fs::read_to_string(cap.join(file)).unwrap();
        let mut doc: Value = serde_json::from_str(&text).unwrap();
        let items = doc["nftables"].as_array_mut().unwrap();
        for it in items.iter_mut() {
            if it["chain"]["family"] == "inet"
                && it["chain"]["table"] == "filter"
                && it["chain"]["name"] == "forward"
            {
                assert_eq!(it["chain"]["policy"], "drop", "{file}: {it}");
                it["chain"]["policy"] = "accept".into();
                found += 1;
            }
        }
        if file.starts_with("nft-table-") {
            items.push(serde_json::json!({"rule": {
                "family": "inet", "table": "filter", "chain": "forward", "handle": 42,
                "comment": format!("$(touch {})", pwned.display()),
                "expr": [{"drop": null}]
            }}));
        }
        fs::write(cap.join(file), doc.to_string()).unwrap();
    }
    assert_eq!(
        found, 2,
        "inet filter forward is in the table's file and the chain list"
    );
    let calls = paste_every_command(&cap);
    let list = words(&[
        "sudo", "nft", "-a", "list", "chain", "inet", "filter", "forward",
    ]);
    assert!(calls.contains(&list), "{list:?} not in {calls:#?}");
    let delete = words(&[
        "sudo", "nft", "delete", "rule", "inet", "filter", "forward", "handle", "42",
    ]);
    assert!(
        calls.contains(&delete),
        "not deleted by the capture's handle: {calls:#?}"
    );
    assert!(!pwned.exists(), "pasting ran the rule's comment");
}

#[test]
fn every_lab_captures_commands_are_valid_shell_and_write_nothing() {
    require_root();
    let mut fixtures: Vec<PathBuf> = fs::read_dir(LAB)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    fixtures.sort();
    assert!(fixtures.len() >= 10, "{fixtures:?}");
    for cap in fixtures {
        if all_commands(&report(&cap)).is_empty() {
            continue; // a healthy capture suggests nothing
        }
        paste_every_command(&cap);
    }
}

#[test]
fn the_trace_suggested_for_an_unknown_verdict_redirects_nothing() {
    require_root();
    let d = tempfile::tempdir().unwrap();
    let cap = copy_capture("report-bug", d.path());
    // A drop behind a match fwdoctor cannot evaluate: the verdict is unknown, the fix is a trace.
    fs::write(
        cap.join("iptables-legacy-save.txt"),
        "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
         -A FORWARD -m u32 --u32 \"0x0>>22&0x3C@0x0=0x1\" -j DROP\nCOMMIT\n",
    )
    .unwrap();
    let calls = paste_every_command(&cap);
    // On a capture, the trace reads the same capture.
    let trace = words(&[
        "fwdoctor",
        "trace",
        "tcp",
        "any",
        "->",
        "host:8080",
        "--from",
        cap.to_str().unwrap(),
    ]);
    assert!(calls.contains(&trace), "{trace:?} not in {calls:#?}");
}

/// `(family tool, table)` of every `-t TABLE -F` in the plan.
fn flushed_tables(plan: &[String]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in plan {
        for part in line.split(" && ") {
            let w: Vec<&str> = part.split_whitespace().collect();
            if let ["sudo", tool, "-t", table, "-F"] = w.as_slice() {
                out.push((tool.to_string(), table.to_string()));
            }
        }
    }
    out
}

/// Tools a lasting plan may call that must not act on this host: `sudo` runs its command (we
/// are root), the rest do nothing. iptables stays real: it acts on the namespace only.
const PLAN_FAKES: &[(&str, &str)] = &[
    ("sudo", "exec \"$@\""),
    ("update-alternatives", "exit 0"),
    ("systemctl", "exit 0"),
    ("snap", "exit 0"),
    ("tee", "cat > /dev/null"),
    ("ufw", "exit 0"),
    ("firewall-cmd", "exit 0"),
];

/// Runs `plan` (every command line of one lasting fix) in a fresh network namespace loaded
/// with the capture's legacy save files, in a private mount namespace with a tmpfs on /root
/// (for the plan's backup copy and the xtables lock), and returns `iptables-legacy-save` then
/// `ip6tables-legacy-save` after it. Both namespaces end with the process.
fn run_in_netns(cap: &Path, plan: &[String]) -> (String, String) {
    let fakes = tempfile::tempdir().unwrap();
    for (name, body) in PLAN_FAKES {
        let path = fakes.path().join(name);
        fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    }
    // A lock of our own: /run/xtables.lock is shared by every namespace, and iptables without
    // -w fails at once when another test (or the host) holds it.
    let mut script = format!(
        "set -e\n'{}' -t tmpfs fwdoctor-test /root\nexport XTABLES_LOCKFILE=/root/xtables.lock\n",
        system_binary("mount").display()
    );
    for (tool, file) in [
        ("iptables-legacy-restore", "iptables-legacy-save.txt"),
        ("ip6tables-legacy-restore", "ip6tables-legacy-save.txt"),
    ] {
        if cap.join(file).exists() {
            script.push_str(&format!("{tool} < '{}'\n", cap.join(file).display()));
        }
    }
    script.push_str(&format!("PATH='{}':$PATH\n", fakes.path().display()));
    for l in plan {
        script.push_str(l);
        script.push('\n');
    }
    script.push_str("iptables-legacy-save\necho '#### ip6'\nip6tables-legacy-save\n");
    assert_bash_syntax(&script);
    let out = Process::new("unshare")
        .args(["-n", "-m", "--propagation", "private", "sh", "-c", &script])
        .output()
        .expect("runs unshare");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "the plan failed in the namespace:\n{script}\n{}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (v4, v6) = stdout.split_once("#### ip6\n").unwrap();
    (v4.to_string(), v6.to_string())
}

/// What is left in a legacy save dump: rules and policies other than ACCEPT, as lines.
fn leftovers(save: &str) -> Vec<&str> {
    save.lines()
        .filter(|l| {
            l.starts_with("-A ")
                || (l.starts_with(':') && !l.contains(" ACCEPT ") && !l.contains(" - ["))
        })
        .collect()
}

/// Every lasting fix of `cap` that flushes (a line with ` -F`), run by the kernel: afterwards
/// each family it flushes holds no rule and no DROP policy in the legacy stack, so nothing is
/// left dropping with its ACCEPT rules gone. Returns how many plans flushed.
fn lasting_flushes_leave_no_drop_policy(cap: &Path) -> usize {
    let mut plans = 0;
    for f in report(cap)["findings"].as_array().unwrap() {
        let plan = commands_of(f, "lasting");
        if !plan.iter().any(|l| l.contains(" -F")) {
            continue;
        }
        plans += 1;
        assert_bash_syntax(&plan.join("\n"));
        let (v4, v6) = run_in_netns(cap, &plan);
        let flushes = |tool: &str| {
            plan.iter()
                .any(|l| l.contains(" -F") && l.replace("ip6tables-legacy", "ip6").contains(tool))
        };
        let flushed = [(flushes("iptables-legacy"), &v4), (flushes("ip6"), &v6)];
        for save in flushed.iter().filter(|(f, _)| *f).map(|(_, s)| s) {
            let left = leftovers(save);
            assert!(
                left.is_empty(),
                "{}: {}'s lasting fix leaves {left:?} in the legacy stack\nplan: {plan:#?}\n{save}",
                cap.display(),
                f["check"]
            );
        }
        // Never a moment with a DROP policy and its ACCEPT rules gone: policies go first.
        for line in &plan {
            if let (Some(p), Some(fl)) = (line.rfind(" -P "), line.find(" -F")) {
                assert!(p < fl, "a policy is reset after the flush: {line}");
            }
        }
    }
    plans
}

#[test]
fn flushing_the_legacy_stack_after_input_drop_does_not_lock_the_admin_out() {
    require_root();
    let cap = Path::new(LAB).join("input-drop");
    assert!(lasting_flushes_leave_no_drop_policy(&cap) >= 1);
}

#[test]
fn flushing_stale_legacy_docker_rules_leaves_no_drop_policy() {
    require_root();
    for name in ["stale-legacy-docker", "report-bug"] {
        let cap = Path::new(LAB).join(name);
        assert!(lasting_flushes_leave_no_drop_policy(&cap) >= 1, "{name}");
    }
}

#[test]
fn the_ip6_legacy_stack_is_flushed_too_and_keeps_no_drop_policy() {
    require_root();
    let d = tempfile::tempdir().unwrap();
    let cap = copy_capture("report-bug", d.path());
    fs::write(
        cap.join("ip6tables-legacy-save.txt"),
        "*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n\
         -A INPUT -i lo -j ACCEPT\nCOMMIT\n",
    )
    .unwrap();
    let r = report(&cap);
    let split = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == "split-forward-drop")
        .expect("split-forward-drop");
    let flushed = flushed_tables(&commands_of(split, "lasting"));
    assert!(
        flushed.contains(&("ip6tables-legacy".into(), "filter".into())),
        "the lasting fix leaves the IPv6 legacy stack alone: {split}"
    );
    assert!(lasting_flushes_leave_no_drop_policy(&cap) >= 1);
}

#[test]
fn docker_is_restarted_after_its_own_legacy_rules_are_flushed() {
    let cap = Path::new(LAB).join("reverse-split");
    // Docker on iptables-legacy here: flushing legacy takes Docker's own rules with it.
    let r = report(&cap);
    let mut plans = 0;
    for f in r["findings"].as_array().unwrap() {
        let plan = commands_of(f, "lasting");
        let Some(last_flush) = plan.iter().rposition(|l| l.contains(" -F")) else {
            continue;
        };
        plans += 1;
        assert!(
            plan[last_flush..]
                .iter()
                .any(|l| l.starts_with("sudo systemctl restart docker")),
            "{}: Docker's legacy rules are flushed but Docker is not restarted after: {plan:#?}",
            f["check"]
        );
    }
    assert!(plans >= 1, "no lasting fix flushes the legacy stack: {r}");
}

/// A port rejected by firewalld's StrictForwardPorts chain (lab capture) is fixed with
/// firewall-cmd, runtime then `--permanent`, each pasted line valid shell; firewalld's own table
/// is never edited with nft (firewalld rewrites it on reload).
#[test]
fn firewalld_strict_forward_ports_is_fixed_with_firewall_cmd_runtime_and_permanent() {
    require_root();
    let cap = Path::new(LAB).join("firewalld-strict-forward-ports");
    let ran = paste_every_command(&cap);
    let spec = "--add-forward-port=port=8080:proto=tcp:toport=80:toaddr=172.17.0.2";
    let runtime = words(&["sudo", "firewall-cmd", spec]);
    let permanent = words(&["sudo", "firewall-cmd", "--permanent", spec]);
    let at = |want: &Vec<String>| ran.iter().position(|r| r == want);
    let (Some(now), Some(lasting)) = (at(&runtime), at(&permanent)) else {
        panic!("no firewall-cmd forward-port, runtime and permanent, in {ran:?}");
    };
    assert!(now < lasting, "runtime first: {ran:?}");
    assert!(
        !ran.iter().any(|r| r.iter().any(|w| w == "nft")),
        "a fix edits firewalld's table with nft: {ran:?}"
    );
    // The port firewalld rejects on the host itself (IPv6 via docker-proxy): --add-port.
    assert!(
        ran.contains(&words(&["sudo", "firewall-cmd", "--add-port=8080/tcp"])),
        "{ran:?}"
    );
}
