//! `fwdoctor fix` without changing anything: the dry run's content for the lab captures (through
//! the library, since the CLI refuses `--from`), the selection, and every refusal.

use assert_cmd::Command;
use fwdoctor::analyze::{self, Analysis, plan::StepKind};
use fwdoctor::apply::{self, Mode, Selection, SshFlow};
use fwdoctor::model::Model;
use std::path::Path;

const LAB: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/lab");

fn analysis_of(dir: &Path) -> Analysis {
    let ev = fwdoctor::collect::capture::read(dir).unwrap();
    let model = Model::build(&ev).unwrap();
    analyze::analyze(&model, &[], &[])
}

fn lab(name: &str) -> Analysis {
    analysis_of(&Path::new(LAB).join(name))
}

fn all() -> Selection {
    Selection::default()
}

#[test]
fn the_report_bug_dry_run_applies_the_policy_and_only_prints_the_rest() {
    let planned = apply::select(&lab("report-bug"), &all(), None).unwrap();
    let text = apply::render(&planned);
    let first = &planned[0];
    assert_eq!(first.mode, Mode::Apply, "{text}");
    assert_eq!(
        first.step.argv,
        [["iptables-legacy", "-t", "filter", "-P", "FORWARD", "ACCEPT"]]
    );
    assert!(
        text.contains(
            " 1. [apply] (now) sudo iptables-legacy -t filter -P FORWARD ACCEPT\n       changes: legacy ip filter\n       resolves: split-forward-drop, published-port-blocked\n       opens: 8080/tcp\n"
        ),
        "{text}"
    );
    // Exactly one step runs: the read-only save, the lasting flush and the prose are printed.
    assert_eq!(
        planned.iter().filter(|p| p.mode == Mode::Apply).count(),
        1,
        "{text}"
    );
    let flush = planned
        .iter()
        .find(|p| p.step.argv.iter().any(|a| a.contains(&"-F".to_string())))
        .expect("the lasting flush is in the plan");
    assert!(matches!(&flush.mode, Mode::Print(w) if w.starts_with("lasting")));
    assert!(text.contains("not run: changes nothing"), "{text}");
    assert!(text.contains("not run: for you to do"), "{text}");
}

#[test]
fn a_docker_user_rule_is_left_alone() {
    let planned = apply::select(&lab("docker-user-drop"), &all(), None).unwrap();
    let del = planned
        .iter()
        .find(|p| p.step.argv.iter().flatten().any(|w| w == "DOCKER-USER"))
        .expect("the plan has the DOCKER-USER step");
    assert_eq!(
        del.mode,
        Mode::Print("DOCKER-USER holds rules you chose: fix never changes them".into())
    );
}

#[test]
fn the_other_lab_bugs_get_an_applicable_step() {
    for (name, prog) in [
        ("reverse-split", "iptables-nft"),
        ("nft-native-forward-drop", "nft"),
        ("ip-forward-off", "sysctl"),
    ] {
        let planned = apply::select(&lab(name), &all(), None).unwrap();
        let run: Vec<_> = planned.iter().filter(|p| p.mode == Mode::Apply).collect();
        assert!(
            !run.is_empty() && run.iter().all(|p| p.step.argv[0][0] == prog),
            "{name}: {}",
            apply::render(&planned)
        );
        if prog == "sysctl" {
            assert!(apply::render(&planned).contains("changes: sysctl net.ipv4.ip_forward"));
        }
    }
}

#[test]
fn selection_by_check_and_by_port() {
    let a = lab("report-bug");
    let mixed = apply::select(
        &a,
        &Selection {
            check: Some("mixed-backends".into()),
            port: None,
            ..Default::default()
        },
        None,
    )
    .unwrap();
    assert!(!mixed.is_empty());
    assert!(
        mixed
            .iter()
            .all(|p| p.step.resolves.contains(&"mixed-backends"))
    );
    assert!(mixed.len() < a.plan.len());
    let port = apply::select(
        &a,
        &Selection {
            check: None,
            port: Some(8080),
            ..Default::default()
        },
        None,
    )
    .unwrap();
    assert!(
        !port.is_empty()
            && port
                .iter()
                .all(|p| p.step.ports.iter().any(|l| l == "8080/tcp"))
    );
    let none = apply::select(
        &a,
        &Selection {
            check: None,
            port: Some(9999),
            ..Default::default()
        },
        None,
    )
    .unwrap_err();
    assert_eq!(
        none.0,
        "no published port 9999 on this host (`fwdoctor check` lists them)"
    );
    let bad = apply::select(
        &a,
        &Selection {
            check: Some("no-such-check".into()),
            port: None,
            ..Default::default()
        },
        None,
    )
    .unwrap_err();
    assert!(bad.0.starts_with("no check named `no-such-check`"));
}

#[test]
fn incomplete_evidence_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cap = dir.path().join("cap");
    std::fs::create_dir(&cap).unwrap();
    for e in std::fs::read_dir(Path::new(LAB).join("report-bug")).unwrap() {
        let e = e.unwrap();
        if e.file_name() != "nft-chains.json" {
            std::fs::copy(e.path(), cap.join(e.file_name())).unwrap();
        }
    }
    let r = apply::select(&analysis_of(&cap), &all(), None).unwrap_err();
    assert!(r.0.starts_with("the evidence is incomplete: "), "{r}");
    assert!(
        r.0.ends_with("fix never changes what it could not see"),
        "{r}"
    );
    assert!(!r.0.contains('\n'));
}

#[test]
fn a_plan_of_only_manual_steps_is_refused() {
    let mut a = lab("report-bug");
    a.plan.retain(|s| s.kind == StepKind::Manual);
    assert!(!a.plan.is_empty());
    let r = apply::select(&a, &all(), None).unwrap_err();
    assert!(r.0.starts_with("the plan has only manual steps"), "{r}");
}

#[test]
fn a_step_that_could_cut_the_ssh_connection_is_refused() {
    let mut a = lab("report-bug");
    let mut step = a.plan[0].clone();
    step.argv = vec![
        ["iptables-legacy", "-t", "filter", "-P", "INPUT", "DROP"]
            .map(String::from)
            .to_vec(),
    ];
    step.command = Some("sudo iptables-legacy -t filter -P INPUT DROP".into());
    a.plan.insert(0, step);
    let ssh = SshFlow::parse("10.99.0.2 40000 10.99.0.1 22").unwrap();
    let planned = apply::select(&a, &all(), Some(&ssh)).unwrap();
    assert!(
        matches!(&planned[0].mode, Mode::Print(w) if w.starts_with("refused: it could cut your SSH connection from 10.99.0.2")),
        "{:?}",
        planned[0].mode
    );
    // The fix itself (FORWARD ACCEPT) does not touch the connection.
    assert_eq!(planned[1].mode, Mode::Apply);
    // Without an SSH session the same step is not refused for it.
    let planned = apply::select(&a, &all(), None).unwrap();
    assert_eq!(planned[0].mode, Mode::Apply);
}

#[test]
fn the_re_check_names_what_got_worse() {
    let before = lab("report-bug");
    let healthy = lab("healthy");
    assert!(apply::got_worse(&before, &healthy, &["8080/tcp".into()]).is_empty());
    let worse = apply::got_worse(&healthy, &before, &["8080/tcp".into()]);
    assert!(
        worse.iter().any(|w| w == "port 8080/tcp is still blocked"),
        "{worse:?}"
    );
    assert!(
        worse
            .iter()
            .any(|w| w.starts_with("new critical finding: split-forward-drop")),
        "{worse:?}"
    );
}

fn fwdoctor(args: &[&str]) -> std::process::Output {
    Command::cargo_bin("fwdoctor")
        .unwrap()
        .args(args)
        .env_remove("SSH_CONNECTION")
        .output()
        .unwrap()
}

fn one_line_refusal(out: &std::process::Output, starts: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with(&format!("fwdoctor fix: refused: {starts}")),
        "{err}"
    );
    assert!(out.stdout.is_empty(), "{out:?}");
}

#[test]
fn cli_refuses_a_capture() {
    let cap = format!("{LAB}/report-bug");
    for args in [
        vec!["fix", "--from", &cap],
        vec!["fix", "--apply", "--yes", "--from", &cap],
    ] {
        one_line_refusal(&fwdoctor(&args), "fix works on this host only");
    }
}

#[test]
fn cli_refuses_an_unknown_check_before_reading_the_host() {
    one_line_refusal(&fwdoctor(&["fix", "no-such-check"]), "no check named");
}

#[test]
fn cli_refuses_apply_without_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test needs root to drop to another user (run it as root, as CI does)"
    );
    let out = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_fwdoctor"))
        .args(["fix", "--apply", "--yes"])
        .env_remove("SSH_CONNECTION")
        .output()
        .unwrap();
    one_line_refusal(&out, "--apply changes the firewall: run it as root");
}

#[test]
fn cli_refuses_a_zero_confirm_timeout_and_yes_without_apply() {
    for args in [
        vec!["fix", "--apply", "--confirm-timeout", "0"],
        vec!["fix", "--yes"],
    ] {
        let out = fwdoctor(&args);
        assert_eq!(out.status.code(), Some(3), "{out:?}");
    }
}

#[test]
fn help_and_explain_name_the_safety_rules() {
    let out = fwdoctor(&["fix", "--help"]);
    let help = String::from_utf8_lossy(&out.stdout);
    for rule in [
        "never through a shell",
        "SSH_CONNECTION",
        "--confirm-timeout",
        "DOCKER-USER",
        "never fix what was not seen",
    ] {
        assert!(help.contains(rule), "--help lacks {rule:?}:\n{help}");
    }
    let out = fwdoctor(&["explain", "fix"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("--confirm-timeout"));
}

/// `--lasting` runs the lasting steps of known shapes: the legacy flush (with its policy reset),
/// the sysctl.d file; the copy of a save is fix's own backup; a `grep` to read stays printed.
#[test]
fn lasting_runs_the_lasting_steps_it_can_undo() {
    let lasting = Selection {
        lasting: true,
        ..Default::default()
    };
    let report = apply::select(&lab("report-bug"), &lasting, None).unwrap();
    let text = apply::render(&report);
    let mode = |planned: &[apply::Planned], starts: &str| {
        planned
            .iter()
            .find(|p| {
                p.step
                    .command
                    .as_deref()
                    .is_some_and(|c| c.starts_with(starts))
            })
            .unwrap_or_else(|| panic!("no step {starts}"))
            .mode
            .clone()
    };
    assert_eq!(
        mode(
            &report,
            "sudo iptables-legacy -t filter -P FORWARD ACCEPT && sudo iptables-legacy -t filter -F"
        ),
        Mode::Apply,
        "{text}"
    );
    assert_eq!(
        mode(&report, "sudo iptables-legacy-save | sudo tee"),
        Mode::Print("fix's own backup keeps this copy".into()),
        "{text}"
    );
    let without = apply::select(&lab("report-bug"), &all(), None).unwrap();
    assert_eq!(
        mode(
            &without,
            "sudo iptables-legacy -t filter -P FORWARD ACCEPT && sudo iptables-legacy -t filter -F"
        ),
        Mode::Print("lasting: printed only; `--lasting` runs it too".into())
    );
    let forward = apply::select(&lab("ip-forward-off"), &lasting, None).unwrap();
    assert_eq!(
        mode(&forward, "echo net.ipv4.ip_forward=1 | sudo tee"),
        Mode::Apply
    );
    assert!(matches!(mode(&forward, "grep -rn"), Mode::Print(_)));
    let reverse = apply::select(&lab("reverse-split"), &lasting, None).unwrap();
    assert_eq!(
        mode(&reverse, "sudo update-alternatives --set iptables"),
        Mode::Apply
    );
    assert_eq!(mode(&reverse, "sudo systemctl restart docker"), Mode::Apply);
}

fn evidence_of(name: &str) -> fwdoctor::collect::evidence::Evidence {
    fwdoctor::collect::capture::read(&Path::new(LAB).join(name)).unwrap()
}

fn analysis_of_evidence(ev: &fwdoctor::collect::evidence::Evidence) -> Analysis {
    analyze::analyze(&Model::build(ev).unwrap(), &[], &[])
}

fn applied(planned: &[apply::Planned]) -> Vec<&analyze::plan::Step> {
    planned
        .iter()
        .filter(|p| p.mode == Mode::Apply)
        .map(|p| &p.step)
        .collect()
}

/// Before anything runs, the [apply] steps are applied to the evidence and traced: the
/// report's bug is predicted fixed; `split-forward-drop` alone on a host with `ip_forward=0`
/// too is predicted not to open the port (fix refuses it before any change).
#[test]
fn the_model_predicts_what_the_steps_do() {
    let ev = evidence_of("report-bug");
    let a = analysis_of_evidence(&ev);
    let planned = apply::select(&a, &all(), None).unwrap();
    let steps = applied(&planned);
    let o = apply::predict::outcome(&ev, &a, &steps, &["8080/tcp".into()], None).unwrap();
    assert!(o.worse.is_empty(), "{:?}", o.worse);
    assert_eq!(o.opens, ["8080/tcp"]);
    assert!(o.left_out.is_empty(), "{:?}", o.left_out);

    let ev = evidence_of("forward-off-and-legacy-drop");
    let a = analysis_of_evidence(&ev);
    let sel = Selection {
        check: Some("split-forward-drop".into()),
        ..Default::default()
    };
    let planned = apply::select(&a, &sel, None).unwrap();
    let steps = applied(&planned);
    assert!(!steps.is_empty());
    let o = apply::predict::outcome(&ev, &a, &steps, &["8080/tcp".into()], None).unwrap();
    assert!(
        o.worse
            .iter()
            .any(|w| w == "port 8080/tcp is still blocked"),
        "{:?}",
        o.worse
    );
    assert!(o.opens.is_empty());
}

/// A step the argv check lets through (deleting the rule that accepts SSH under an INPUT
/// policy DROP) is caught by tracing the connection through the rules as the step leaves
/// them, and named by its number.
#[test]
fn a_step_that_would_cut_ssh_is_found_by_the_trace_before_it_runs() {
    let mut ev = evidence_of("report-bug");
    let save = ev
        .get(fwdoctor::collect::evidence::files::IPTABLES_LEGACY)
        .unwrap()
        .to_string();
    let w = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
    let save = apply::predict::edit_save(&save, &w("-t filter -P INPUT DROP")).unwrap();
    let save =
        apply::predict::edit_save(&save, &w("-t filter -A INPUT -p tcp --dport 22 -j ACCEPT"))
            .unwrap();
    ev.insert(fwdoctor::collect::evidence::files::IPTABLES_LEGACY, save);
    let a = analysis_of_evidence(&ev);
    let ssh = SshFlow::parse("10.99.0.2 40000 10.99.0.1 22").unwrap();
    let mut planned = apply::select(&a, &all(), Some(&ssh)).unwrap();
    let cut = w("iptables-legacy -t filter -D INPUT -p tcp --dport 22 -j ACCEPT");
    assert_eq!(ssh.blocked_by(&cut), None, "the argv check alone misses it");
    let mut step = planned[0].step.clone();
    step.argv = vec![cut];
    planned.push(apply::Planned {
        step,
        mode: Mode::Apply,
    });
    let steps = applied(&planned);
    let o = apply::predict::outcome(&ev, &a, &steps, &[], Some(&ssh)).unwrap();
    let (k, why) = o.cuts_ssh.expect("the cut is predicted");
    assert_eq!(k, steps.len(), "the last step cuts it");
    assert_eq!(why, "dropped by legacy ip filter INPUT: policy DROP");
    // Without that step nothing cuts it.
    let o = apply::predict::outcome(&ev, &a, &steps[..steps.len() - 1], &[], Some(&ssh)).unwrap();
    assert_eq!(o.cuts_ssh, None);
}
