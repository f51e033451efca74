//! Every fix fwdoctor suggests runs as pasted, on every fixture's report:
//!
//! * the human report's plan block ("To fix this host, in order") is, as printed at 80 columns,
//!   a shell script that passes `bash -n` and `shellcheck` (Debian's package, installed by
//!   scripts/deps.sh): prose is `#` comments, commands are never wrapped;
//! * so does every command of the JSON report's `plan` and of every finding's `fix`, each alone;
//! * no command holds a placeholder for a value the capture knows (`PORT`, `NUMBER`, `HANDLE`);
//! * the plan holds each step once, every step says which findings it resolves, and a flush of
//!   a stack that holds Docker's rules is followed by the restart that rebuilds them.
//!
//! shellcheck is required: without it these tests fail rather than skip.

mod common;

use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn fixture_dirs() -> Vec<PathBuf> {
    let out = common::fixture_dirs_with(&["meta.json"]);
    assert!(out.len() >= 15, "expected the lab and realworld fixtures");
    out
}

fn fwdoctor(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_fwdoctor"))
        .arg("check")
        .args(args)
        .arg("--from")
        .arg(dir)
        .env("NO_COLOR", "1")
        .env("COLUMNS", "80")
        .env("LANG", "C.UTF-8")
        .output()
        .expect("fwdoctor runs");
    assert!(
        matches!(out.status.code(), Some(0..=3)),
        "{}: {out:?}",
        dir.display()
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}

/// The problems `bash -n` and shellcheck find in `script` (empty: none).
fn shell_problems(script: &str) -> String {
    let mut problems = String::new();
    let bash = Command::new("bash")
        .args(["-n", "-c", script])
        .output()
        .expect("runs bash");
    if !bash.status.success() {
        problems.push_str(&String::from_utf8_lossy(&bash.stderr));
    }
    let mut sc = Command::new("shellcheck")
        .args(["--shell=bash", "--format=gcc", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("shellcheck runs (Debian's shellcheck: scripts/deps.sh installs it)");
    sc.stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let out = sc.wait_with_output().unwrap();
    if !out.status.success() {
        problems.push_str(&String::from_utf8_lossy(&out.stdout));
        problems.push_str(&String::from_utf8_lossy(&out.stderr));
    }
    problems
}

/// The plan block of a human report: the lines after its heading, up to the blank line.
fn plan_block(report: &str) -> Option<String> {
    let start = report.find("To fix this host, in order")?;
    let body = &report[start..];
    let body = &body[body.find('\n')? + 1..];
    let end = body.find("\n\n").unwrap_or(body.len());
    Some(format!("{}\n", &body[..end]))
}

#[test]
fn shellcheck_knows_a_broken_paste_when_it_sees_one() {
    // The test's own judge: the three ways the old reports failed are each caught.
    assert!(!shell_problems("sudo iptables-legacy-save > /root/x\n").is_empty());
    assert!(!shell_problems("    Move what you still need to nf_tables, then flush\n").is_empty());
    assert!(!shell_problems("    # 4. for good: fixes a,\n      b (8080/tcp)\n").is_empty());
    assert_eq!(
        shell_problems("    # a note\n    sudo iptables-nft -t filter -F\n"),
        ""
    );
}

#[test]
fn every_fixtures_plan_block_is_a_script_that_passes_bash_n_and_shellcheck() {
    let mut failures = Vec::new();
    let mut with_plan = 0;
    for dir in fixture_dirs() {
        let json: Value = serde_json::from_str(&fwdoctor(&dir, &["--format", "json"])).unwrap();
        let human = fwdoctor(&dir, &[]);
        let steps = json["plan"].as_array().expect("plan array").len();
        match plan_block(&human) {
            None if steps == 0 => continue,
            None => failures.push(format!("{}: {steps} steps, no plan block", dir.display())),
            Some(block) => {
                with_plan += 1;
                // One numbered heading per step, the command of each step on a line whole.
                for (i, s) in json["plan"].as_array().unwrap().iter().enumerate() {
                    if !block.contains(&format!("    # {}. ", i + 1)) {
                        failures.push(format!("{}: no heading for step {}", dir.display(), i + 1));
                    }
                    if let Some(c) = s["command"].as_str()
                        && !block.lines().any(|l| l.trim_start() == c)
                    {
                        failures.push(format!("{}: command split: {c}", dir.display()));
                    }
                }
                let p = shell_problems(&block);
                if !p.is_empty() {
                    failures.push(format!("{}:\n{block}\n{p}", dir.display()));
                }
            }
        }
    }
    assert!(with_plan >= 10, "only {with_plan} fixtures had a plan");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_suggested_command_alone_passes_bash_n_and_shellcheck_and_has_no_placeholder() {
    let placeholders = [
        "PORT",
        "NUMBER",
        "HANDLE",
        "TRUSTED_NET",
        "CONTAINER",
        "IFACE",
    ];
    let mut failures = Vec::new();
    let mut commands = 0;
    for dir in fixture_dirs() {
        let json: Value = serde_json::from_str(&fwdoctor(&dir, &["--format", "json"])).unwrap();
        let mut lines: Vec<String> = json["plan"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|s| s["command"].as_str().map(String::from))
            .collect();
        for f in json["findings"].as_array().unwrap() {
            for field in ["immediate", "lasting"] {
                for l in f["fix"][field].as_array().unwrap() {
                    let l = l.as_str().unwrap();
                    if !l.starts_with(|c: char| c.is_ascii_uppercase()) {
                        lines.push(l.to_string());
                    }
                }
            }
        }
        for line in lines {
            commands += 1;
            let p = shell_problems(&format!("{line}\n"));
            if !p.is_empty() {
                failures.push(format!("{}: {line}\n{p}", dir.display()));
            }
            // A value the reader must give is a `${NAME:?...}` that stops the line, never a
            // bare word the command would take literally.
            let code = line.split("   # ").next().unwrap();
            for w in code.split_whitespace() {
                if placeholders.contains(&w.trim_matches(|c| c == '\'' || c == '"')) {
                    failures.push(format!("{}: placeholder {w} in {line}", dir.display()));
                }
            }
        }
    }
    assert!(commands >= 30, "only {commands} commands");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_plan_holds_each_step_once_names_what_it_resolves_and_restarts_docker_after_a_flush() {
    for dir in fixture_dirs() {
        let json: Value = serde_json::from_str(&fwdoctor(&dir, &["--format", "json"])).unwrap();
        let plan = json["plan"].as_array().unwrap();
        let name = dir.display();
        let mut keys = Vec::new();
        for s in plan {
            assert!(!s["resolves"].as_array().unwrap().is_empty(), "{name}: {s}");
            let kind = s["kind"].as_str().unwrap();
            assert!(["immediate", "lasting", "manual"].contains(&kind), "{s}");
            let key = match s["command"].as_str() {
                Some(c) => c.split("   # ").next().unwrap().to_string(),
                None => {
                    assert_eq!(kind, "manual", "{name}: a step without command: {s}");
                    s["text"].as_str().unwrap().to_string()
                }
            };
            assert!(!keys.contains(&key), "{name}: step twice: {key}");
            keys.push(key);
        }
        // Every finding with a fix has its steps in the plan.
        for f in json["findings"].as_array().unwrap() {
            let has_fix = ["immediate", "lasting"]
                .iter()
                .any(|k| !f["fix"][k].as_array().unwrap().is_empty());
            let in_plan = plan
                .iter()
                .any(|s| s["resolves"].as_array().unwrap().contains(&f["check"]));
            assert_eq!(has_fix, in_plan, "{name}: {}", f["check"]);
        }
        // A flush of a stack Docker's rules are in is followed by Docker's restart.
        let docker_stacks: Vec<&str> = json["host"]["docker_rules"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|d| d["stack"].as_str())
            .collect();
        let flushes = |s: &Value| {
            s["argv"].as_array().is_some_and(|cmds| {
                cmds.iter().any(|argv| {
                    let w: Vec<&str> = argv
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|w| w.as_str().unwrap())
                        .collect();
                    let stack = if w[0].ends_with("-legacy") {
                        "legacy"
                    } else if w[0].ends_with("-nft") {
                        "iptables-nft"
                    } else {
                        return false;
                    };
                    w.contains(&"-F") && docker_stacks.contains(&stack)
                })
            })
        };
        if let Some(last) = plan.iter().rposition(flushes) {
            assert!(
                plan[last + 1..].iter().any(|s| s["command"]
                    .as_str()
                    .is_some_and(|c| c.contains("restart docker"))),
                "{name}: no restart of Docker after the flush of its stack"
            );
        }
    }
}
