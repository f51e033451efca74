//! `fwdoctor fix`: the dry run, the refusals, and `--apply`'s sequence (ask, save, apply,
//! re-check, confirm or restore). The pieces without a terminal are in [`crate::apply`], whose
//! docs list the safety rules.
//!
//! Once the first change is made, nothing may stop fwdoctor before it has either been
//! confirmed or restored: SIGHUP (the SSH session died), SIGINT and SIGPIPE are ignored, and
//! progress is written with errors ignored (a vanished terminal must not panic the process
//! before the restore).

use crate::analyze::{self, plan::Step};
use crate::apply::{self, Backup, Mode, Selection, SshFlow, predict};
use crate::cli::args::FixArgs;
use crate::collect::evidence::Evidence;
use crate::model::Model;
use anyhow::Result;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

/// Exit code: the change was rolled back (nothing changed in the end).
pub const ROLLED_BACK: i32 = 1;
/// Exit code: a restore failed; the host may be left changed.
pub const RESTORE_FAILED: i32 = 2;
/// Exit code: refused.
pub const REFUSED: i32 = 3;

fn refuse(why: &str) -> Result<i32> {
    say(&format!("fwdoctor fix: refused: {why}"));
    Ok(REFUSED)
}

/// A line on stderr; a write error is ignored (see the module docs).
fn say(line: &str) {
    let mut e = std::io::stderr();
    let _ = writeln!(e, "{line}");
    let _ = e.flush();
}

/// Lines typed on stdin, read by one thread for the whole run.
struct Input {
    rx: mpsc::Receiver<String>,
}

impl Input {
    fn start() -> Input {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::stdin().lock().lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Input { rx }
    }
    /// Forget what was typed before the question.
    fn drain(&self) {
        while self.rx.try_recv().is_ok() {}
    }
    fn line(&self, timeout: Option<Duration>) -> Option<String> {
        match timeout {
            Some(t) => self.rx.recv_timeout(t).ok(),
            None => self.rx.recv().ok(),
        }
    }
}

fn analyse_live(timeout: u64) -> Result<(Evidence, Model, analyze::Analysis)> {
    let (ev, model) = crate::cli::commands::live_model(Duration::from_secs(timeout))?;
    let analysis = analyze::analyze(&model, &[], &[]);
    Ok((ev, model, analysis))
}

/// The ports the steps mean to open, each once.
fn meant_ports(steps: &[&Step]) -> Vec<String> {
    let mut m: Vec<String> = Vec::new();
    for p in steps.iter().flat_map(|s| &s.ports) {
        if !m.contains(p) {
            m.push(p.clone());
        }
    }
    m
}

/// The prediction, as one paragraph: what the model says the [apply] steps do. `numbers`: each
/// step's number in the printed plan.
fn describe_prediction(o: &predict::Outcome, numbers: &[usize], ssh: Option<&SshFlow>) -> String {
    let mut text = String::from("prediction (the rules as the [apply] steps leave them): ");
    if let (Some((k, why)), Some(ssh)) = (&o.cuts_ssh, ssh) {
        text.push_str(&format!(
            "step {} would cut your SSH connection from {} ({why}); ",
            numbers[k - 1],
            ssh.client
        ));
    }
    if o.worse.is_empty() {
        if o.opens.is_empty() {
            text.push_str("nothing gets worse");
        } else {
            text.push_str(&format!(
                "{} reachable, nothing else worse",
                o.opens.join(", ")
            ));
        }
    } else {
        text.push_str(&o.worse.join("; "));
    }
    if !o.left_out.is_empty() {
        let left: Vec<String> = o
            .left_out
            .iter()
            .map(|(k, why)| format!("step {}: {why}", numbers[k - 1]))
            .collect();
        text.push_str(&format!(
            " (left out, the re-check after applying decides: {})",
            left.join("; ")
        ));
    }
    crate::report::printable(&text).into_owned()
}

fn state_dir(a: &FixArgs) -> PathBuf {
    a.state_dir
        .clone()
        .or_else(|| std::env::var_os("FWDOCTOR_STATE_DIR").map(Into::into))
        .unwrap_or_else(|| crate::alert::state::DEFAULT_DIR.into())
}

pub fn run(a: FixArgs) -> Result<i32> {
    if a.source.from.is_some() {
        return refuse(
            "fix works on this host only, never on a capture (--from); `fwdoctor check --from PATH -v` prints its plan",
        );
    }
    if a.apply && !nix::unistd::geteuid().is_root() {
        return refuse(
            "--apply changes the firewall: run it as root; without --apply fix only prints the plan",
        );
    }
    if let Some(name) = &a.check
        && analyze::checks::find(name).is_none()
    {
        return refuse(&format!(
            "no check named `{}`; `fwdoctor checks` lists them",
            crate::report::printable(name)
        ));
    }
    let sel = Selection {
        check: a.check.clone(),
        port: a.port,
        lasting: a.lasting,
    };
    let ssh = SshFlow::from_env();
    let (ev, model, before) = analyse_live(a.source.timeout)?;
    let planned = match apply::select(&before, &sel, ssh.as_ref()) {
        Ok(p) => p,
        Err(r) => return refuse(&r.0),
    };
    if planned.is_empty() {
        println!("nothing to fix: the plan has no step for this selection");
        return Ok(0);
    }
    print!("{}", apply::render(&planned));
    let todo: Vec<&Step> = planned
        .iter()
        .filter(|p| p.mode == Mode::Apply)
        .map(|p| &p.step)
        .collect();
    let numbers: Vec<usize> = planned
        .iter()
        .enumerate()
        .filter(|(_, p)| p.mode == Mode::Apply)
        .map(|(i, _)| i + 1)
        .collect();
    let meant = meant_ports(&todo);
    let prediction = if todo.is_empty() {
        None
    } else {
        let p = predict::outcome(&ev, &before, &todo, &meant, ssh.as_ref());
        match &p {
            Ok(o) => println!("\n{}", describe_prediction(o, &numbers, ssh.as_ref())),
            Err(e) => println!(
                "\nprediction: none ({}); the re-check after applying decides",
                crate::report::printable(e)
            ),
        }
        p.ok()
    };
    drop(ev);
    if !a.apply {
        let mut again = String::from("sudo fwdoctor fix");
        if let Some(c) = &a.check {
            again.push(' ');
            again.push_str(&crate::analyze::shell::quote(c));
        }
        if let Some(p) = a.port {
            again.push_str(&format!(" --port {p}"));
        }
        if a.lasting {
            again.push_str(" --lasting");
        }
        println!(
            "\ndry run: nothing changed. `{again} --apply` runs the {} [apply] step(s): it saves what they touch, re-checks, and restores unless you confirm.",
            todo.len()
        );
        return Ok(0);
    }
    if todo.is_empty() {
        return refuse("no step of this plan is one --apply runs (see [print] above for why)");
    }
    if let Some(o) = &prediction {
        if let (Some((k, why)), Some(ssh)) = (&o.cuts_ssh, ssh.as_ref()) {
            return refuse(&format!(
                "step {} would cut your SSH connection from {} ({}); nothing changed",
                numbers[k - 1],
                ssh.client,
                crate::report::printable(why)
            ));
        }
        if !o.worse.is_empty() && o.left_out.is_empty() {
            return refuse(&format!(
                "the model predicts these steps would not do it ({}); nothing changed: `fwdoctor fix` without a selection takes the whole plan",
                crate::report::printable(&o.worse.join("; "))
            ));
        }
    }
    let input = Input::start();
    if !a.yes {
        if !std::io::stdin().is_terminal() {
            return refuse("no terminal to ask on: give --yes to apply without asking");
        }
        say(&format!(
            "Apply the {} [apply] step(s) above? [y/N]",
            todo.len()
        ));
        let answer = input.line(None).unwrap_or_default();
        if !matches!(answer.trim(), "y" | "Y" | "yes" | "YES") {
            say("nothing changed");
            return Ok(0);
        }
    }
    // From the first change on, nothing may end the process before a confirm or a restore.
    // SAFETY: setting signal dispositions to ignore; no handler runs.
    unsafe {
        use nix::sys::signal::{SigHandler, Signal, signal};
        for s in [Signal::SIGHUP, Signal::SIGINT, Signal::SIGPIPE] {
            let _ = signal(s, SigHandler::SigIgn);
        }
    }
    let backup = match Backup::save(&state_dir(&a), &todo) {
        Ok(b) => b,
        Err(e) => {
            return refuse(&format!(
                "cannot save the rulesets first ({e}); nothing changed"
            ));
        }
    };
    say(&format!(
        "saved to {}; to restore by hand:\n{}",
        backup.dir.path().display(),
        backup.by_hand().trim_end()
    ));
    let code = apply_saved(
        &a,
        &input,
        &backup,
        &todo,
        (&model, &before),
        &meant,
        ssh.as_ref(),
    );
    // The process ends next: freeing the models costs time for nothing.
    std::mem::forget(model);
    std::mem::forget(before);
    Ok(code)
}

/// Apply `todo`, re-check, confirm or restore; the exit code.
fn apply_saved(
    a: &FixArgs,
    input: &Input,
    backup: &Backup,
    todo: &[&Step],
    (model, before): (&Model, &analyze::Analysis),
    meant: &[String],
    ssh: Option<&SshFlow>,
) -> i32 {
    let mut restarted: Option<Vec<String>> = None;
    for (i, step) in todo.iter().enumerate() {
        let line = step.command.as_deref().unwrap_or_default();
        say(&format!("applying: {}", crate::report::printable(line)));
        let result = apply::run_step(step);
        if let Some(apply::lasting::Action::RestartDocker(argv)) = apply::lasting::action_of(step) {
            // Even a failed restart may have stopped Docker: a restore starts it again.
            restarted = Some(argv);
        }
        if let Err(e) = result {
            return restore(
                backup,
                restarted.as_deref(),
                &format!("step {} failed: {e}", i + 1),
            );
        }
    }
    let restarted = restarted.as_deref();
    let (_, after_model, after) = match analyse_live(a.source.timeout) {
        Ok(x) => x,
        Err(e) => {
            return restore(
                backup,
                restarted,
                &format!("the re-check could not read the host: {e:#}"),
            );
        }
    };
    let mut worse = apply::got_worse(before, &after, meant);
    if let Some(ssh) = ssh {
        let (was, now) = (ssh.accepted(model), ssh.accepted(&after_model));
        if (was[0] && !now[0]) || (was[1] && !now[1]) {
            worse.push(format!(
                "your SSH connection from {} would now be dropped",
                ssh.client
            ));
        }
    }
    if !worse.is_empty() {
        return restore(
            backup,
            restarted,
            &format!("the re-check failed: {}", worse.join("; ")),
        );
    }
    let opened = if meant.is_empty() {
        String::new()
    } else {
        format!("{} now reachable; ", meant.join(", "))
    };
    say(&format!(
        "re-check passed: {opened}no finding got worse. Type yes within {} s to keep it; anything else, or nothing, restores.",
        a.confirm_timeout
    ));
    input.drain();
    let answer = input.line(Some(Duration::from_secs(a.confirm_timeout)));
    if answer.as_deref().map(str::trim) == Some("yes") {
        let lasting = todo
            .iter()
            .any(|s| s.kind == analyze::plan::StepKind::Lasting);
        let how_long = if lasting {
            "The lasting steps ran too; `fwdoctor check` after the next reboot shows whether anything else loads the old rules."
        } else {
            "This fix lasts until a reboot or a daemon rewrites the rules: `fwdoctor fix --lasting` runs the lasting steps too."
        };
        say(&format!(
            "kept. The backup stays in {}. {how_long}",
            backup.dir.path().display()
        ));
        return 0;
    }
    restore(
        backup,
        restarted,
        match answer {
            Some(_) => "not confirmed",
            None => "no confirmation in time",
        },
    )
}

/// Restore everything saved, say why and how it went; the exit code.
fn restore(backup: &Backup, restarted: Option<&[String]>, why: &str) -> i32 {
    say(&format!(
        "{}: restoring from {}",
        crate::report::printable(why),
        backup.dir.path().display()
    ));
    let problems = backup.restore(restarted);
    if problems.is_empty() {
        if restarted.is_some() {
            say(&format!(
                "restored, and Docker restarted again so that its rules match its containers: compare the other rules with the saves in {} if in doubt",
                backup.dir.path().display()
            ));
        } else {
            say(
                "restored: the rulesets are identical to the saved ones (comments and counters aside)",
            );
        }
        return ROLLED_BACK;
    }
    for p in &problems {
        say(&format!("restore problem: {p}"));
    }
    say(&format!(
        "THE HOST MAY BE LEFT CHANGED: restore by hand:\n{}",
        backup.by_hand().trim_end()
    ));
    RESTORE_FAILED
}
