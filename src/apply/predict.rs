//! What the host would look like after the steps, before any of them runs: each step's
//! argv applied to the evidence it changes (an iptables save, the sysctls), and the model
//! built again from that evidence, so the trace engine can follow the caller's SSH connection
//! and the published ports through the rules as they would be.
//!
//! Only what is exactly known is predicted: `iptables*`/`ip6tables*` policies, flushes, chain
//! deletion and creation, rule inserts, appends and deletes (the argv is turned into the
//! save's own `-A CHAIN …` line and read by the same parser), and `sysctl -w`. A step of any
//! other kind (`nft`, a file, `update-alternatives`, a restart of Docker) is left out and
//! named: the re-check after applying, on the re-collected host, still decides.

use crate::analyze::plan::Step;
use crate::collect::evidence::{Evidence, files};
use crate::report::printable;

/// The evidence after the steps that can be predicted, and the steps that could not.
pub struct Prediction {
    pub evidence: Evidence,
    /// 1-based numbers (in the given order) of the steps left out, each with why.
    pub left_out: Vec<(usize, String)>,
}

/// The built-in chains iptables creates with a table.
fn builtin_chains(table: &str) -> &'static [&'static str] {
    match table {
        "filter" | "security" => &["INPUT", "FORWARD", "OUTPUT"],
        "nat" => &["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"],
        "mangle" => &["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"],
        "raw" => &["PREROUTING", "OUTPUT"],
        _ => &[],
    }
}

/// The save file a program's rules are in.
fn save_file_of(prog: &str) -> Option<&'static str> {
    Some(match prog {
        "iptables-legacy" => files::IPTABLES_LEGACY,
        "ip6tables-legacy" => files::IP6TABLES_LEGACY,
        "iptables-nft" => files::IPTABLES_NFT,
        "ip6tables-nft" => files::IP6TABLES_NFT,
        _ => return None,
    })
}

/// A word as iptables-save writes it: quoted when it holds a space or a quote.
fn save_word(w: &str) -> String {
    if w.is_empty() || w.contains([' ', '"', '\t']) {
        format!("\"{}\"", w.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        w.to_string()
    }
}

/// One iptables command, as far as a save is concerned.
#[derive(Debug, PartialEq, Eq)]
enum Edit {
    Policy {
        chain: String,
        policy: String,
    },
    Flush {
        chain: Option<String>,
    },
    DeleteChain {
        chain: Option<String>,
    },
    NewChain {
        chain: String,
    },
    Insert {
        chain: String,
        at: usize,
        rule: String,
    },
    Append {
        chain: String,
        rule: String,
    },
    Delete {
        chain: String,
        rule: String,
    },
}

/// `-t TABLE` and the edit of an iptables argv (program name excluded).
fn edit_of(args: &[String]) -> Result<(String, Edit), String> {
    let mut table = "filter".to_string();
    let mut rest: Vec<&str> = Vec::new();
    let mut it = args.iter().map(String::as_str).peekable();
    while let Some(w) = it.next() {
        match w {
            "-t" | "--table" => table = it.next().ok_or("-t without a table")?.to_string(),
            "-w" | "--wait" => {
                if it.peek().is_some_and(|n| n.parse::<f64>().is_ok()) {
                    it.next();
                }
            }
            _ => rest.push(w),
        }
    }
    let Some((&cmd, after)) = rest.split_first() else {
        return Err("no command".into());
    };
    let chain = after.first().map(|c| c.to_string());
    let need_chain = || {
        chain
            .clone()
            .ok_or_else(|| format!("{cmd} without a chain"))
    };
    let rule_of = |words: &[&str]| -> String {
        words
            .iter()
            .map(|w| save_word(w))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let edit = match cmd {
        "-P" | "--policy" => Edit::Policy {
            chain: need_chain()?,
            policy: after.get(1).ok_or("-P without a policy")?.to_string(),
        },
        "-F" | "--flush" => Edit::Flush { chain },
        "-X" | "--delete-chain" => Edit::DeleteChain { chain },
        "-N" | "--new-chain" => Edit::NewChain {
            chain: need_chain()?,
        },
        "-I" | "--insert" => {
            let (at, words) = match after.get(1).and_then(|n| n.parse::<usize>().ok()) {
                Some(n) if n >= 1 => (n, &after[2..]),
                _ => (1, after.get(1..).unwrap_or(&[])),
            };
            Edit::Insert {
                chain: need_chain()?,
                at,
                rule: rule_of(words),
            }
        }
        "-A" | "--append" => Edit::Append {
            chain: need_chain()?,
            rule: rule_of(after.get(1..).unwrap_or(&[])),
        },
        "-D" | "--delete" => {
            if after.len() == 2 && after[1].parse::<usize>().is_ok() {
                return Err("a delete by rule number".into());
            }
            Edit::Delete {
                chain: need_chain()?,
                rule: rule_of(after.get(1..).unwrap_or(&[])),
            }
        }
        other => return Err(format!("the command {}", printable(other))),
    };
    Ok((table, edit))
}

/// `save` after one iptables command (`args` without the program name).
pub fn edit_save(save: &str, args: &[String]) -> Result<String, String> {
    let (table, edit) = edit_of(args)?;
    let mut lines: Vec<String> = save.lines().map(str::to_string).collect();
    let header = format!("*{table}");
    let start = match lines.iter().position(|l| *l == header) {
        Some(i) => i,
        None => {
            // The command loads the table, with its built-in chains, as the kernel does.
            let at = lines.len();
            lines.push(header);
            for c in builtin_chains(&table) {
                lines.push(format!(":{c} ACCEPT [0:0]"));
            }
            lines.push("COMMIT".into());
            at
        }
    };
    let end = start
        + lines[start..]
            .iter()
            .position(|l| l == "COMMIT")
            .ok_or_else(|| format!("table {table} has no COMMIT"))?;
    let declared = |lines: &[String], chain: &str| {
        lines[start..end]
            .iter()
            .position(|l| l.strip_prefix(':').and_then(|d| d.split(' ').next()) == Some(chain))
            .map(|i| start + i)
    };
    let rule_prefix = |chain: &str| format!("-A {chain} ");
    let rules_of = |lines: &[String], chain: &str| -> Vec<usize> {
        let p = rule_prefix(chain);
        (start..end)
            .filter(|&i| lines[i].starts_with(&p) || lines[i] == format!("-A {chain}"))
            .collect()
    };
    match edit {
        Edit::Policy { chain, policy } => {
            let i =
                declared(&lines, &chain).ok_or_else(|| format!("no chain {chain} in {table}"))?;
            let counters = lines[i].rsplit(' ').next().unwrap_or("[0:0]").to_string();
            if !builtin_chains(&table).contains(&chain.as_str()) {
                return Err(format!("{chain} is not a built-in chain"));
            }
            lines[i] = format!(":{chain} {policy} {counters}");
        }
        Edit::Flush { chain } => {
            let gone: Vec<usize> = match &chain {
                Some(c) => rules_of(&lines, c),
                None => (start..end)
                    .filter(|&i| lines[i].starts_with("-A "))
                    .collect(),
            };
            for i in gone.into_iter().rev() {
                lines.remove(i);
            }
        }
        Edit::DeleteChain { chain } => {
            let builtin = builtin_chains(&table);
            let gone: Vec<usize> = (start..end)
                .filter(|&i| {
                    let Some(name) = lines[i].strip_prefix(':').and_then(|d| d.split(' ').next())
                    else {
                        return false;
                    };
                    !builtin.contains(&name) && chain.as_deref().is_none_or(|c| c == name)
                })
                .collect();
            for &i in &gone {
                let name = lines[i][1..].split(' ').next().unwrap_or("");
                if !rules_of(&lines, name).is_empty() {
                    return Err(format!("chain {name} is not empty"));
                }
            }
            for i in gone.into_iter().rev() {
                lines.remove(i);
            }
        }
        Edit::NewChain { chain } => {
            if declared(&lines, &chain).is_some() {
                return Err(format!("chain {chain} exists"));
            }
            let last_decl = (start..end)
                .rfind(|&i| lines[i].starts_with(':'))
                .unwrap_or(start);
            lines.insert(last_decl + 1, format!(":{chain} - [0:0]"));
        }
        Edit::Insert { chain, at, rule } => {
            declared(&lines, &chain).ok_or_else(|| format!("no chain {chain} in {table}"))?;
            let existing = rules_of(&lines, &chain);
            let line = format!("-A {chain} {rule}");
            let pos = match existing.get(at - 1) {
                Some(&i) => i,
                None if at == existing.len() + 1 => existing.last().map_or(end, |&i| i + 1),
                None => return Err(format!("{chain} has fewer than {at} rules")),
            };
            lines.insert(pos, line);
        }
        Edit::Append { chain, rule } => {
            declared(&lines, &chain).ok_or_else(|| format!("no chain {chain} in {table}"))?;
            let pos = rules_of(&lines, &chain).last().map_or(end, |&i| i + 1);
            lines.insert(pos, format!("-A {chain} {rule}"));
        }
        Edit::Delete { chain, rule } => {
            let line = format!("-A {chain} {rule}");
            let i = rules_of(&lines, &chain)
                .into_iter()
                .find(|&i| lines[i] == line)
                .ok_or_else(|| format!("no rule `{}` to delete in {chain}", printable(&line)))?;
            lines.remove(i);
        }
    }
    let mut out = lines.join("\n");
    out.push('\n');
    Ok(out)
}

/// `sysctl.txt` (`key = value` lines) with `key` set to `value`.
fn edit_sysctl(text: &str, key: &str, value: &str) -> String {
    let mut out = String::new();
    let mut found = false;
    for l in text.lines() {
        if l.split('=').next().map(str::trim) == Some(key) {
            out.push_str(&format!("{key} = {value}\n"));
            found = true;
        } else {
            out.push_str(l);
            out.push('\n');
        }
    }
    if !found {
        out.push_str(&format!("{key} = {value}\n"));
    }
    out
}

/// Why one program's argv cannot be predicted, or its change applied to `ev`.
fn apply_argv(ev: &mut Evidence, argv: &[String]) -> Result<(), String> {
    let Some(prog) = argv.first() else {
        return Err("no program".into());
    };
    if prog == "sysctl" && argv.get(1).is_some_and(|w| w == "-w") {
        let text = ev.get(files::SYSCTL).ok_or("the sysctls were not read")?;
        let mut text = text.to_string();
        for kv in &argv[2..] {
            let (k, v) = kv.split_once('=').ok_or("sysctl -w without KEY=VALUE")?;
            text = edit_sysctl(&text, k.trim(), v.trim());
        }
        ev.insert(files::SYSCTL, text);
        return Ok(());
    }
    let file = save_file_of(prog).ok_or_else(|| format!("{} is not predicted", printable(prog)))?;
    let save = ev
        .get(file)
        .ok_or_else(|| format!("{file} was not read"))?
        .to_string();
    let edited = edit_save(&save, &argv[1..])?;
    ev.insert(file, edited);
    Ok(())
}

/// `ev` after `steps`, in order; a step whose every program can be predicted is applied whole,
/// any other is left out (see [`Prediction::left_out`]).
pub fn after(ev: &Evidence, steps: &[&Step]) -> Prediction {
    let mut evidence = ev.clone();
    let mut left_out = Vec::new();
    for (n, step) in steps.iter().enumerate() {
        if step.output_to.is_some() || step.argv.is_empty() {
            left_out.push((n + 1, "not a firewall command".to_string()));
            continue;
        }
        let mut trial = evidence.clone();
        match step.argv.iter().try_for_each(|a| apply_argv(&mut trial, a)) {
            Ok(()) => evidence = trial,
            Err(why) => left_out.push((n + 1, why)),
        }
    }
    Prediction { evidence, left_out }
}

/// What the model predicts for the steps about to run.
#[derive(Debug, Default)]
pub struct Outcome {
    /// What would get worse (as [`super::got_worse`] says it), with every step predicted.
    pub worse: Vec<String>,
    /// The first step after which the caller's SSH connection would be dropped, and the trace's
    /// word on it.
    pub cuts_ssh: Option<(usize, String)>,
    /// Steps the prediction left out, with why.
    pub left_out: Vec<(usize, String)>,
    /// The ports (`8080/tcp`) reachable in the predicted model, of those the steps meant to open.
    pub opens: Vec<String>,
}

/// Build the model of predicted evidence, or why it cannot be built.
fn model_of(ev: &Evidence) -> Result<crate::model::Model, String> {
    crate::model::Model::build(ev).map_err(|e| format!("the predicted rules do not read: {e}"))
}

/// Trace the caller's connection and the published ports through the rules as `steps` leave
/// them (those that can be predicted).
pub fn outcome(
    ev: &Evidence,
    before: &crate::analyze::Analysis,
    steps: &[&Step],
    meant: &[String],
    ssh: Option<&super::SshFlow>,
) -> Result<Outcome, String> {
    let whole = after(ev, steps);
    let model = model_of(&whole.evidence)?;
    let mut out = Outcome {
        left_out: whole.left_out,
        ..Outcome::default()
    };
    if let Some(ssh) = ssh {
        let was = ssh.accepted(&model_of(ev)?);
        let cut = |m: &crate::model::Model| {
            let now = ssh.accepted(m);
            (was[0] && !now[0]) || (was[1] && !now[1])
        };
        if cut(&model) {
            // The first step that cuts it: predict step by step.
            for k in 1..=steps.len() {
                let part = after(ev, &steps[..k]);
                if cut(&model_of(&part.evidence)?) {
                    out.cuts_ssh = Some((k, ssh.why_dropped(&model_of(&part.evidence)?)));
                    break;
                }
            }
        }
    }
    let predicted = crate::analyze::analyze(&model, &[], &[]);
    out.worse = super::got_worse(before, &predicted, meant);
    out.opens = meant
        .iter()
        .filter(|l| {
            predicted.ports.iter().any(|p| {
                &p.port.label() == *l && p.verdict == crate::analyze::ports::PortState::Reachable
            })
        })
        .cloned()
        .collect();
    std::mem::forget(model);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    const SAVE: &str = "# Generated by iptables-save v1.8.9\n*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [3:180]\n:OUTPUT ACCEPT [0:0]\n:OLD - [0:0]\n-A FORWARD -j OLD\n-A FORWARD -o docker0 -j ACCEPT\n-A OLD -j RETURN\nCOMMIT\n";

    #[test]
    fn policies_flushes_and_chains() {
        let s = edit_save(SAVE, &w("-t filter -P FORWARD ACCEPT")).unwrap();
        assert!(s.contains(":FORWARD ACCEPT [3:180]\n"), "{s}");
        let s = edit_save(&s, &w("-t filter -F")).unwrap();
        assert!(!s.contains("-A "), "{s}");
        let s = edit_save(&s, &w("-t filter -X")).unwrap();
        assert!(!s.contains(":OLD"), "{s}");
        assert!(s.contains(":INPUT ACCEPT"), "{s}");
        assert!(edit_save(SAVE, &w("-X OLD")).is_err(), "OLD is not empty");
        assert!(edit_save(SAVE, &w("-P OLD ACCEPT")).is_err());
    }

    #[test]
    fn inserts_appends_and_deletes_keep_iptables_order() {
        let s = edit_save(SAVE, &w("-I FORWARD -i cni-podman0 -j ACCEPT")).unwrap();
        assert!(
            s.contains("-A FORWARD -i cni-podman0 -j ACCEPT\n-A FORWARD -j OLD\n"),
            "{s}"
        );
        let s = edit_save(SAVE, &w("-I FORWARD 2 -j DROP")).unwrap();
        assert!(
            s.contains("-A FORWARD -j OLD\n-A FORWARD -j DROP\n-A FORWARD -o docker0"),
            "{s}"
        );
        let s = edit_save(SAVE, &w("-A FORWARD -j DROP")).unwrap();
        assert!(
            s.contains("-A FORWARD -o docker0 -j ACCEPT\n-A FORWARD -j DROP\n-A OLD"),
            "{s}"
        );
        let s = edit_save(SAVE, &w("-D FORWARD -j OLD")).unwrap();
        assert!(!s.contains("-A FORWARD -j OLD"), "{s}");
        assert!(edit_save(SAVE, &w("-D FORWARD -j NOPE")).is_err());
        assert!(edit_save(SAVE, &w("-D FORWARD 1")).is_err());
        let comment: Vec<String> = [
            "-A",
            "INPUT",
            "-m",
            "comment",
            "--comment",
            "a b",
            "-j",
            "ACCEPT",
        ]
        .map(String::from)
        .to_vec();
        let s = edit_save(SAVE, &comment).unwrap();
        assert!(
            s.contains("-A INPUT -m comment --comment \"a b\" -j ACCEPT\n"),
            "{s}"
        );
    }

    #[test]
    fn a_policy_on_a_table_not_loaded_loads_it() {
        let s = edit_save("", &w("-t filter -P FORWARD ACCEPT")).unwrap();
        assert_eq!(
            s,
            "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n"
        );
    }

    #[test]
    fn sysctls_are_set() {
        let t = edit_sysctl(
            "net.ipv4.ip_forward = 0\nx = 1\n",
            "net.ipv4.ip_forward",
            "1",
        );
        assert_eq!(t, "net.ipv4.ip_forward = 1\nx = 1\n");
        assert_eq!(edit_sysctl("", "a.b", "2"), "a.b = 2\n");
    }
}
