//! A forgiving command line: a mistyped command or check name runs the unique closest one with a
//! note on stderr; when two are equally close nothing runs and both are suggested. The help lists
//! commands grouped by purpose instead of one alphabetical list.

use crate::analyze::checks;
use clap::CommandFactory;

/// Commands by purpose, for the grouped help. Every subcommand must be in one group.
pub const GROUPS: &[(&str, &[&str])] = &[
    ("Diagnose", &["check", "trace"]),
    ("Capture and replay", &["capture"]),
    ("Reference", &["checks", "explain"]),
    ("Set-up", &["completions", "man"]),
];

/// What to do with a word that should name one of `candidates`.
#[derive(Debug, PartialEq, Eq)]
pub enum Resolution {
    /// It is one of them (or an alias).
    Exact,
    /// A unique closest match: run it, and say so.
    Corrected(String),
    /// Two or more equally close: run nothing.
    Ambiguous(Vec<String>),
    /// Nothing close.
    NoMatch,
}

/// Edit distance with transpositions (`chekc` is one step from `check`).
fn distance(a: &str, b: &str) -> usize {
    strsim::damerau_levenshtein(a, b)
}

/// Resolve `word` against `candidates` (all names, aliases included): within 2 edits (1 for
/// words of 4 letters or less), the unique closest wins.
pub fn resolve(word: &str, candidates: &[String]) -> Resolution {
    if candidates.iter().any(|c| c == word) {
        return Resolution::Exact;
    }
    let limit = if word.chars().count() <= 4 { 1 } else { 2 };
    let mut best: Vec<(usize, &String)> = candidates
        .iter()
        .map(|c| (distance(word, c), c))
        .filter(|(d, _)| *d <= limit)
        .collect();
    best.sort();
    let Some(&(d0, _)) = best.first() else {
        // A prefix of exactly one name is also a fair guess (`expl` -> `explain`).
        let prefixed: Vec<&String> = candidates
            .iter()
            .filter(|c| word.len() >= 3 && c.starts_with(word))
            .collect();
        return match prefixed.as_slice() {
            [one] => Resolution::Corrected((*one).clone()),
            [] => Resolution::NoMatch,
            many => Resolution::Ambiguous(many.iter().map(|s| (*s).clone()).collect()),
        };
    };
    let mut tied: Vec<String> = best
        .iter()
        .filter(|(d, _)| *d == d0)
        .map(|(_, c)| (*c).clone())
        .collect();
    tied.dedup();
    if tied.len() == 1 {
        Resolution::Corrected(tied.remove(0))
    } else {
        Resolution::Ambiguous(tied)
    }
}

/// Every subcommand name and alias.
pub fn command_names() -> Vec<String> {
    let cmd = crate::cli::args::Cli::command();
    cmd.get_subcommands()
        .flat_map(|s| {
            std::iter::once(s.get_name().to_string()).chain(s.get_all_aliases().map(str::to_string))
        })
        .chain(["help".to_string()])
        .collect()
}

/// Every check name.
pub fn check_names() -> Vec<String> {
    checks::ALL.iter().map(|c| c.name.to_string()).collect()
}

/// Fix typos in argv before clap sees it: the subcommand (argv[1]) and check names given to
/// `check`, `--skip` and `explain`. Notes go to `notes`; an ambiguous word is an error.
pub fn correct_argv(argv: &mut [String], notes: &mut Vec<String>) -> Result<(), String> {
    let Some(first) = argv.get(1).cloned() else {
        return Ok(());
    };
    if first.starts_with('-') {
        return Ok(());
    }
    let sub = match resolve(&first, &command_names()) {
        Resolution::Exact => first.clone(),
        Resolution::Corrected(c) => {
            notes.push(format!(
                "fwdoctor: `{first}` is not a command; running `{c}`"
            ));
            argv[1] = c.clone();
            c
        }
        Resolution::Ambiguous(v) => {
            return Err(format!(
                "`{first}` is not a command; did you mean {}?",
                or_list(&v)
            ));
        }
        Resolution::NoMatch => return Ok(()), // clap explains
    };
    let canonical = crate::cli::args::Cli::command()
        .get_subcommands()
        .find(|s| s.get_name() == sub || s.get_all_aliases().any(|a| a == sub))
        .map(|s| s.get_name().to_string())
        .unwrap_or(sub);
    if !matches!(canonical.as_str(), "check" | "explain") {
        return Ok(());
    }
    let names = check_names();
    let mut i = 2;
    while i < argv.len() {
        let a = argv[i].clone();
        let target = if a == "--skip" {
            i += 1;
            Some(i)
        } else if a.starts_with('-') {
            if takes_value(&a) {
                i += 1;
            }
            None
        } else {
            Some(i)
        };
        if let Some(t) = target.filter(|&t| t < argv.len()) {
            let word = argv[t].clone();
            match resolve(&word, &names) {
                Resolution::Exact | Resolution::NoMatch => {}
                Resolution::Corrected(c) => {
                    notes.push(format!("fwdoctor: no check named `{word}`; using `{c}`"));
                    argv[t] = c;
                }
                Resolution::Ambiguous(v) => {
                    return Err(format!(
                        "no check named `{word}`; did you mean {}?",
                        or_list(&v)
                    ));
                }
            }
        }
        i += 1;
    }
    Ok(())
}

fn takes_value(flag: &str) -> bool {
    matches!(
        flag,
        "--from"
            | "--timeout"
            | "--format"
            | "--color"
            | "-o"
            | "--output"
            | "--in"
            | "--state-dir"
            | "--notify"
            | "--textfile"
    )
}

fn or_list(v: &[String]) -> String {
    match v {
        [a, b] => format!("`{a}` or `{b}`"),
        _ => v
            .iter()
            .map(|s| format!("`{s}`"))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// The top-level help: commands grouped by purpose, each with its first example.
pub fn grouped_help() -> String {
    let cmd = crate::cli::args::Cli::command();
    let mut out = String::from("Commands:\n");
    for (group, names) in GROUPS {
        out.push_str(&format!("  {group}:\n"));
        for name in *names {
            let Some(sub) = cmd.find_subcommand(name) else {
                continue;
            };
            let about = sub.get_about().map(|a| a.to_string()).unwrap_or_default();
            let aliases: Vec<&str> = sub.get_visible_aliases().collect();
            let alias = if aliases.is_empty() {
                String::new()
            } else {
                format!(" [aliases: {}]", aliases.join(", "))
            };
            out.push_str(&format!("    {name:<12} {about}{alias}\n"));
            if let Some(example) = sub
                .get_after_help()
                .and_then(|h| h.to_string().lines().nth(1).map(|l| l.trim().to_string()))
            {
                out.push_str(&format!("    {:<12}   e.g. {example}\n", ""));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn transposition_is_one_edit() {
        assert_eq!(
            resolve("chekc", &names(&["check", "checks", "capture"])),
            Resolution::Corrected("check".into())
        );
    }

    #[test]
    fn ties_are_ambiguous() {
        assert_eq!(
            resolve("chec", &names(&["check", "chez"])),
            Resolution::Ambiguous(vec!["check".into(), "chez".into()])
        );
    }

    #[test]
    fn far_words_do_not_match() {
        assert_eq!(
            resolve("frobnicate", &names(&["check", "trace"])),
            Resolution::NoMatch
        );
    }

    #[test]
    fn every_command_is_in_a_group() {
        let cmd = crate::cli::args::Cli::command();
        for s in cmd.get_subcommands() {
            assert!(
                GROUPS.iter().any(|(_, n)| n.contains(&s.get_name())),
                "{} is in no help group",
                s.get_name()
            );
        }
    }
}
