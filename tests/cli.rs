//! The command line as a new user meets it: typos, ties, aliases, check subsets and skips,
//! `explain`, `checks`, exit codes on the lab fixtures, completions and the man page.

use assert_cmd::Command;
use predicates::prelude::*;
use predicates::str::contains;

const BUG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/lab/report-bug");
const HEALTHY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/lab/healthy");
const HARMLESS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/fixtures/lab/legacy-leftovers-harmless"
);

fn fw() -> Command {
    let mut c = Command::cargo_bin("fwdoctor").unwrap();
    c.env_remove("NO_COLOR").env("COLUMNS", "100");
    c
}

/// The check names in a human report's finding headings (`✗ CRITICAL split-forward-drop`).
fn reported_checks(stdout: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(stdout)
        .lines()
        .filter(|l| {
            ["✗ CRITICAL ", "! WARNING ", "i INFO ", "? UNKNOWN "]
                .iter()
                .any(|p| l.starts_with(p))
        })
        .filter_map(|l| l.split_whitespace().nth(2).map(String::from))
        .collect()
}

#[test]
fn a_mistyped_command_runs_the_closest_with_a_note() {
    fw().args(["chekc", "--from", BUG, "-q"])
        .assert()
        .code(2)
        .stderr("fwdoctor: `chekc` is not a command; running `check`\n")
        .stdout(contains("critical:"));
    fw().args(["explian", "snap-docker"])
        .assert()
        .success()
        .stderr(contains("running `explain`"))
        .stdout(contains("snap-docker (warning)"));
}

#[test]
fn a_tie_runs_nothing_and_names_both() {
    // `checkz` is one edit from `check` and from `checks`.
    fw().args(["checkz", "--from", BUG])
        .assert()
        .code(3)
        .stdout("")
        .stderr(contains("did you mean `check` or `checks`?"));
    // `docker` starts three check names.
    fw().args(["explain", "docker"])
        .assert()
        .code(3)
        .stdout("")
        .stderr(contains(
            "`docker-chains-missing`, `docker-backend-differs` or `docker-user-blocks`",
        ));
    fw().args(["check", "--from", BUG, "--skip", "docker"])
        .assert()
        .code(3)
        .stdout("");
}

#[test]
fn two_aliases_of_one_command_are_no_tie() {
    // `lst` is one edit from `ls` and from `list`: both are `checks`.
    fw().arg("lst")
        .assert()
        .success()
        .stderr(contains("running `checks`"))
        .stdout(contains("split-forward-drop"));
}

#[test]
fn a_word_far_from_every_command_is_a_usage_error() {
    fw().arg("frobnicate")
        .assert()
        .code(3)
        .stderr(contains("unrecognized subcommand"));
}

#[test]
fn aliases_work_and_are_in_the_help() {
    let list = fw()
        .arg("checks")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    for alias in ["ls", "list", "list-checks"] {
        fw().arg(alias).assert().success().stdout(list.clone());
    }
    fw().args(["doctor", "--from", BUG, "-q"]).assert().code(2);
    fw().args(["docs", "mixed-backends"]).assert().success();
    fw().arg("--help").assert().success().stdout(
        contains("[aliases: list, ls,")
            .and(contains("[aliases: doctor, diagnose]"))
            .and(contains("[aliases: why]")),
    );
}

#[test]
fn help_is_grouped_by_purpose_with_examples() {
    let out = fw()
        .arg("--help")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let help = String::from_utf8(out).unwrap();
    let pos = |s: &str| {
        help.find(s)
            .unwrap_or_else(|| panic!("no {s:?} in\n{help}"))
    };
    assert!(pos("  Diagnose:") < pos("  Capture and replay:"));
    assert!(pos("  Capture and replay:") < pos("  Monitoring"));
    assert!(pos("  Monitoring") < pos("  Reference:"));
    assert!(pos("check --cron") > pos("  Monitoring"));
    assert_eq!(
        help.matches("e.g. fwdoctor").count() + help.matches("e.g. sudo fwdoctor").count(),
        11
    );
    for l in help.lines().filter(|l| !l.trim_start().starts_with("e.g.")) {
        assert!(l.chars().count() <= 100, "longer than 100 columns: {l}");
    }
    // `help` (the subcommand) prints the same.
    fw().arg("help").assert().success().stdout(help.clone());
}

#[test]
fn a_subset_reports_only_the_named_checks() {
    let out = fw()
        .args(["check", "split-forward-drop", "--from", BUG])
        .assert()
        .code(2)
        .get_output()
        .stdout
        .clone();
    assert_eq!(reported_checks(&out), ["split-forward-drop"]);
    // Without the subset the same capture has more to say.
    let all = fw()
        .args(["check", "--from", BUG])
        .assert()
        .code(2)
        .get_output()
        .stdout
        .clone();
    assert!(reported_checks(&all).len() > 1);
}

#[test]
fn a_mistyped_check_name_is_corrected_in_subsets_and_skips() {
    let out = fw()
        .args(["check", "split-forwrd-drop", "--from", BUG])
        .assert()
        .code(2)
        .stderr("fwdoctor: no check named `split-forwrd-drop`; using `split-forward-drop`\n")
        .get_output()
        .stdout
        .clone();
    assert_eq!(reported_checks(&out), ["split-forward-drop"]);
    let out = fw()
        .args(["check", "--from", BUG, "--skip", "mixed-backend"])
        .assert()
        .code(2)
        .stderr(contains("using `mixed-backends`"))
        .get_output()
        .stdout
        .clone();
    let got = reported_checks(&out);
    assert!(!got.contains(&"mixed-backends".to_string()), "{got:?}");
    assert!(got.contains(&"split-forward-drop".to_string()), "{got:?}");
}

#[test]
fn skipping_the_only_problem_changes_the_exit_code() {
    // legacy-leftovers-harmless warns (mixed-backends) and nothing else.
    fw().args(["check", "--from", HARMLESS, "-q"])
        .assert()
        .code(1);
    fw().args([
        "check",
        "--from",
        HARMLESS,
        "-q",
        "--skip",
        "mixed-backends",
    ])
    .assert()
    .code(0);
    fw().args(["check", "--from", HARMLESS, "-q", "--skip=mixed-backends"])
        .assert()
        .code(0);
}

#[test]
fn an_unknown_check_name_is_an_error_not_an_empty_run() {
    fw().args(["check", "no-such-check", "--from", HEALTHY])
        .assert()
        .code(3)
        .stdout("")
        .stderr(contains("no check named `no-such-check`").and(contains("fwdoctor checks")));
    fw().args(["explain", "no-such-check"]).assert().code(3);
}

#[test]
fn checks_lists_every_check_with_severity_and_summary() {
    let out = fw()
        .arg("checks")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    for (name, sev) in [
        ("split-forward-drop", "critical"),
        ("published-port-blocked", "critical"),
        ("docker-chains-missing", "critical"),
        ("ip-forward-disabled", "critical"),
        ("mixed-backends", "warning"),
        ("docker-backend-differs", "warning"),
        ("snap-docker", "warning"),
        ("ufw-docker-bypass", "warning"),
        ("docker-user-blocks", "info"),
        ("legacy-tables-empty", "info"),
        ("evidence-missing", "unknown"),
    ] {
        let line = text
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("{name} not listed:\n{text}"));
        assert_eq!(line.split_whitespace().nth(1), Some(sev), "{line}");
        assert!(line.split_whitespace().count() > 3, "no summary: {line}");
    }
}

#[test]
fn explain_prints_what_why_and_how_for_every_check() {
    let out = fw()
        .arg("checks")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let names: Vec<String> = String::from_utf8(out)
        .unwrap()
        .lines()
        .skip(1)
        .filter(|l| !l.starts_with(' ') && l.contains("  "))
        .filter_map(|l| l.split_whitespace().next().map(String::from))
        .collect();
    // Every registered check is listed (a count written here would conflict with every new check).
    assert_eq!(
        names.len(),
        fwdoctor::analyze::checks::ALL.len(),
        "{names:?}"
    );
    for new in ["firewalld-blocks", "other-bridge-blocked"] {
        assert!(names.iter().any(|n| n == new), "{new}: {names:?}");
    }
    for n in names {
        fw().args(["explain", &n]).assert().success().stdout(
            contains(format!("{n} ("))
                .and(contains("What it finds"))
                .and(contains("Why it matters"))
                .and(contains("How to fix")),
        );
    }
}

#[test]
fn exit_codes_follow_the_status() {
    fw().args(["check", "--from", HEALTHY, "-q"])
        .assert()
        .code(0)
        .stdout(predicate::str::starts_with("✓ ok:"));
    fw().args(["check", "--from", HARMLESS, "-q"])
        .assert()
        .code(1)
        .stdout(predicate::str::starts_with("! warning:"));
    fw().args(["check", "--from", BUG, "-q"])
        .assert()
        .code(2)
        .stdout(predicate::str::starts_with("✗ critical:"));
    fw().args(["check", "--from", "/nonexistent/capture"])
        .assert()
        .code(3)
        .stdout("")
        .stderr(contains("/nonexistent/capture"));
    let d = tempfile::tempdir().unwrap();
    let bad = d.path().join("pasted.txt");
    std::fs::write(&bad, "this is not a ruleset\n").unwrap();
    fw().args(["check", "--from"])
        .arg(&bad)
        .assert()
        .code(3)
        .stderr(contains("neither iptables-save"));
    // A usage error is unknown too, not clap's 2 (which would read as critical).
    fw().args(["check", "--no-such-flag"]).assert().code(3);
    fw().args(["check", "-v", "-q", "--from", BUG])
        .assert()
        .code(3);
}

#[test]
fn quiet_prints_only_the_summary_line() {
    fw().args(["check", "--from", BUG, "-q"])
        .assert()
        .code(2)
        .stdout("✗ critical: 2 critical, 1 warning · 1 of 1 published ports blocked\n");
}

#[test]
fn normal_output_names_the_rule_and_the_fix_and_verbose_adds_the_evidence() {
    let out = fw()
        .args(["check", "--from", BUG])
        .assert()
        .code(2)
        .get_output()
        .stdout
        .clone();
    let normal = String::from_utf8(out).unwrap();
    assert!(
        normal.contains("legacy ip filter FORWARD: policy DROP drops traffic"),
        "{normal}"
    );
    assert!(normal.contains("  why: "), "{normal}");
    assert!(normal.contains("    sudo iptables-legacy -t filter -P FORWARD ACCEPT\n"));
    assert!(
        !normal.contains("evidence:"),
        "evidence only with -v:\n{normal}"
    );
    assert!(normal.contains("add -v for the evidence"));
    assert!(!normal.contains('\x1b'), "no colour off a terminal");

    let out = fw()
        .args(["check", "--from", BUG, "-v"])
        .assert()
        .code(2)
        .get_output()
        .stdout
        .clone();
    let verbose = String::from_utf8(out).unwrap();
    assert!(verbose.contains("  evidence:\n"));
    assert!(
        verbose
            .contains("    legacy ip filter FORWARD: policy DROP  (iptables-legacy-save.txt:4)\n")
    );
    assert!(verbose.contains("iptables-nft ip filter DOCKER: -A DOCKER -d 172.17.0.2/32"));
}

#[test]
fn color_always_never_and_no_color() {
    fw().args(["check", "--from", BUG, "-q", "--color", "always"])
        .assert()
        .stdout(contains("\x1b[1;31m✗\x1b[0m"));
    fw().args(["check", "--from", BUG, "--color", "never"])
        .assert()
        .stdout(contains('\x1b').not());
    // NO_COLOR only changes `auto`; stdout is a pipe here, so auto is off anyway. An explicit
    // `always` wins over NO_COLOR (the NO_COLOR convention: a user-level default).
    fw().env("NO_COLOR", "1")
        .args(["check", "--from", BUG, "-q", "--color", "auto"])
        .assert()
        .stdout(contains('\x1b').not());
    fw().env("NO_COLOR", "1")
        .args(["check", "--from", BUG, "-q", "--color", "always"])
        .assert()
        .stdout(contains('\x1b'));
}

#[test]
fn completions_for_bash_zsh_and_fish() {
    for (shell, marker) in [
        ("bash", "complete -F _fwdoctor"),
        ("zsh", "#compdef fwdoctor"),
        ("fish", "complete -c fwdoctor"),
    ] {
        fw().args(["completions", shell])
            .assert()
            .success()
            .stdout(contains(marker).and(contains("explain")));
    }
    fw().args(["completions", "tcsh"]).assert().code(3);
}

/// What bash offers for the words typed so far, from the generated script run in a real bash.
fn bash_completes(words: &[&str]) -> Vec<String> {
    let script = fw().args(["completions", "bash"]).output().unwrap().stdout;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("fwdoctor.bash"), &script).unwrap();
    std::fs::create_dir(dir.path().join("captures")).unwrap();
    let line = words.join(" ");
    let program = format!(
        "source ./fwdoctor.bash; COMP_WORDS=({line}); COMP_CWORD={}; COMP_LINE='{line}'; \
         _fwdoctor fwdoctor \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"; \
         printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        words.len() - 1
    );
    let out = std::process::Command::new("bash")
        .args(["--norc", "-c", &program])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn bash_offers_check_names_and_paths() {
    for words in [
        &["fwdoctor", "check", "--skip", "split"][..],
        &["fwdoctor", "explain", "split"],
        &["fwdoctor", "check", "split"],
    ] {
        assert_eq!(bash_completes(words), ["split-forward-drop"], "{words:?}");
    }
    assert_eq!(
        bash_completes(&["fwdoctor", "check", "--skip", "''"]).len(),
        fwdoctor::analyze::checks::ALL.len()
    );
    // --from completes paths (the script asks bash for file-name handling: `captures/`, no
    // space after a directory).
    assert_eq!(
        bash_completes(&["fwdoctor", "check", "--from", "capt"]),
        ["captures"]
    );
    let script = fw().args(["completions", "bash"]).output().unwrap().stdout;
    assert!(String::from_utf8_lossy(&script).contains("compopt -o filenames"));
    // Commands by name, aliases not offered beside them.
    let commands = bash_completes(&["fwdoctor", "''"]);
    for name in ["check", "trace", "capture", "explain", "checks"] {
        assert!(commands.iter().any(|c| c == name), "{commands:?}");
    }
    for alias in [
        "doctor", "diagnose", "snapshot", "why", "docs", "ls", "list",
    ] {
        assert!(
            !commands.iter().any(|c| c == alias),
            "{alias} offered: {commands:?}"
        );
    }
    for shell in ["zsh", "fish"] {
        fw().args(["completions", shell])
            .assert()
            .success()
            .stdout(contains("split-forward-drop").and(contains("ufw-docker-bypass")));
    }
}

#[test]
fn man_page_has_the_commands_the_checks_and_the_exit_status() {
    let out = fw()
        .arg("man")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let man = String::from_utf8(out).unwrap();
    assert!(man.contains(".TH fwdoctor 1"));
    for s in [
        ".SH COMMANDS",
        ".SH MONITORING",
        ".SH CHECKS",
        ".SH EXIT STATUS",
    ] {
        assert!(man.contains(s), "{s} missing");
    }
    for name in [
        "split\\-forward\\-drop",
        "evidence\\-missing",
        "legacy\\-tables\\-empty",
    ] {
        assert!(man.contains(&format!("\\fB{name}\\fR")), "{name} missing");
    }
    assert!(man.contains("fwdoctor check"));
    assert!(
        !man.contains("fwdoctor\\-check(1)"),
        "no reference to a page that is not there"
    );
}

/// As `nobody` in a private network namespace (so the host's own rules do not matter): the
/// report names each unread source and why, says how to run it, and claims nothing — status
/// unknown, exit 3. Needs root to drop to `nobody` (CI runs as root); fails, not skips, without.
#[test]
fn not_root_names_what_could_not_be_read_and_how_to_run_it() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test needs root to run fwdoctor as nobody (unshare -n, setpriv)"
    );
    let bin = assert_cmd::cargo::cargo_bin("fwdoctor");
    let out = std::process::Command::new("unshare")
        .args([
            "-n",
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
        ])
        .arg(&bin)
        .arg("check")
        .env("COLUMNS", "100")
        .current_dir("/")
        .output()
        .expect("unshare and setpriv (util-linux)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{stdout}");
    let flat = stdout.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(flat.contains("? UNKNOWN evidence-missing"), "{stdout}");
    assert!(
        flat.contains(
            "permission denied (not root): iptables-legacy-save, iptables-nft-save, nft-ruleset"
        ),
        "{stdout}"
    );
    assert!(flat.contains("No ruleset was read at all"), "{stdout}");
    assert!(stdout.contains("\n    sudo fwdoctor check\n"), "{stdout}");
    assert!(
        stdout.ends_with("? unknown: 1 unknown · published ports unknown\n"),
        "no verdict on ports it could not see:\n{stdout}"
    );
    // The doctor summary may tick what it did read (ufw's state), never the firewall or a port.
    assert!(flat.contains("? firewall stacks: not read:"), "{stdout}");
    assert!(
        !flat.contains("CRITICAL") && !flat.contains("✓ ok") && !flat.contains("✓ port"),
        "{stdout}"
    );
}

#[test]
fn a_full_disk_on_stdout_is_exit_3_with_a_message_never_a_panic() {
    let healthy = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/lab/healthy");
    for args in [
        &["check", "--from", healthy][..],
        &["check", "--from", healthy, "--format", "json"],
        &["trace", "tcp", "any", "to", "host:8080", "--from", healthy],
        &["checks"],
        &["explain", "split-forward-drop"],
        &["completions", "bash"],
        &["man"],
    ] {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_fwdoctor"))
            .args(args)
            .stdout(full)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(
            stderr.contains("No space left on device"),
            "{args:?}: {stderr}"
        );
    }
}
