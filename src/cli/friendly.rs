//! A forgiving command line: a mistyped command or check name runs the unique closest one with a
//! note on stderr; when two are equally close nothing runs and both are suggested. The help lists
//! commands grouped by purpose instead of one alphabetical list.

use crate::analyze::checks;
use clap::Command;

/// One line of the grouped help.
#[derive(Debug)]
pub enum Item {
    /// A subcommand, by name: its summary, aliases and first example come from its clap
    /// definition.
    Command(&'static str),
    /// A way of running a command (`check --cron`), documented here: monitoring is a mode of
    /// `check`, not a command of its own, so cron files and Nagios definitions need one name only.
    Mode {
        usage: &'static str,
        about: &'static str,
        example: &'static str,
    },
}

/// Commands by purpose, for the grouped help. Every subcommand must be in one group.
pub const GROUPS: &[(&str, &[Item])] = &[
    (
        "Diagnose",
        &[
            Item::Command("check"),
            Item::Command("trace"),
            Item::Command("fix"),
        ],
    ),
    ("Capture and replay", &[Item::Command("capture")]),
    (
        "Monitoring (modes of check)",
        &[
            Item::Mode {
                usage: "check --cron",
                about: "Alert mode for cron or a systemd timer: silent while nothing changes, \
                        else a short report of what changed (--notify CMD sends it)",
                example: "fwdoctor check --cron --notify 'mail -s fwdoctor root'",
            },
            Item::Mode {
                usage: "check --format nagios",
                about: "A Nagios/Icinga plugin: one status line with perfdata, exit code 0-3",
                example: "fwdoctor check --format nagios",
            },
            Item::Mode {
                usage: "check --textfile DIR",
                about: "Also write DIR/fwdoctor.prom for node_exporter's textfile collector \
                        (--format prometheus prints it instead)",
                example: "fwdoctor check --cron --textfile /var/lib/node_exporter/textfile_collector",
            },
        ],
    ),
    (
        "Reference",
        &[Item::Command("checks"), Item::Command("explain")],
    ),
    (
        "Set-up",
        &[Item::Command("completions"), Item::Command("man")],
    ),
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

/// Every subcommand name and alias of `cmd` (the CLI's [`clap::Command`]).
pub fn command_names(cmd: &Command) -> Vec<String> {
    cmd.get_subcommands()
        .flat_map(|s| {
            std::iter::once(s.get_name().to_string()).chain(s.get_all_aliases().map(str::to_string))
        })
        .chain(["help".to_string()])
        .collect()
}

/// The subcommand a name or alias stands for (`ls` -> `checks`).
pub fn canonical_command(cmd: &Command, name: &str) -> String {
    cmd.get_subcommands()
        .find(|s| s.get_name() == name || s.get_all_aliases().any(|a| a == name))
        .map_or_else(|| name.to_string(), |s| s.get_name().to_string())
}

/// Resolve a word against the commands and their aliases; a correction or a tie names the
/// commands themselves, and two aliases of one command are no tie (`lst`: `ls`, `list` ->
/// `checks`).
pub fn resolve_command(cmd: &Command, word: &str) -> Resolution {
    match resolve(word, &command_names(cmd)) {
        Resolution::Corrected(c) => Resolution::Corrected(canonical_command(cmd, &c)),
        Resolution::Ambiguous(v) => {
            let mut commands: Vec<String> = Vec::new();
            for c in v.iter().map(|c| canonical_command(cmd, c)) {
                if !commands.contains(&c) {
                    commands.push(c);
                }
            }
            if commands.len() == 1 {
                Resolution::Corrected(commands.remove(0))
            } else {
                Resolution::Ambiguous(commands)
            }
        }
        r => r,
    }
}

/// Every check name.
pub fn check_names() -> Vec<String> {
    checks::ALL.iter().map(|c| c.name.to_string()).collect()
}

/// Fix typos in argv before clap sees it: the subcommand (`argv[1]`) and check names given to
/// `check`, `--skip` and `explain`. Notes go to `notes`; an ambiguous word is an error.
pub fn correct_argv(
    cmd: &Command,
    argv: &mut [String],
    notes: &mut Vec<String>,
) -> Result<(), String> {
    // `trace tcp A -> B:P`: a bare `->` would look like a flag to the parser.
    for a in argv.iter_mut().skip(2) {
        if a == "->" || a == "→" {
            *a = "to".to_string();
        }
    }
    let Some(first) = argv.get(1).cloned() else {
        return Ok(());
    };
    if first.starts_with('-') {
        return Ok(());
    }
    let canonical = match resolve_command(cmd, &first) {
        Resolution::Exact => canonical_command(cmd, &first),
        Resolution::Corrected(c) => {
            notes.push(format!(
                "fwdoctor: `{first}` is not a command; running `{c}`"
            ));
            argv[1] = c.clone();
            c
        }
        Resolution::Ambiguous(v) => {
            return Err(format!(
                "`{first}` is not a command; did you mean {}? (`fwdoctor --help` lists them)",
                or_list(&v)
            ));
        }
        Resolution::NoMatch => return Ok(()), // clap explains
    };
    if !matches!(canonical.as_str(), "check" | "explain") {
        return Ok(());
    }
    let sub = cmd.find_subcommand(&canonical);
    let names = check_names();
    let mut i = 2;
    while i < argv.len() {
        let a = argv[i].clone();
        if a == "--" {
            // Everything after `--` is a check name.
            i += 1;
            continue;
        }
        // (index of the word, prefix to keep: `--skip=` or nothing)
        let target = if a == "--skip" {
            i += 1;
            Some((i, ""))
        } else if a.starts_with("--skip=") {
            Some((i, "--skip="))
        } else if a.starts_with('-') {
            if sub.is_some_and(|s| takes_value(s, &a)) {
                i += 1;
            }
            None
        } else {
            Some((i, ""))
        };
        if let Some((t, prefix)) = target.filter(|&(t, _)| t < argv.len()) {
            let word = argv[t][prefix.len()..].to_string();
            match resolve(&word, &names) {
                Resolution::Exact | Resolution::NoMatch => {}
                Resolution::Corrected(c) => {
                    notes.push(format!("fwdoctor: no check named `{word}`; using `{c}`"));
                    argv[t] = format!("{prefix}{c}");
                }
                Resolution::Ambiguous(v) => {
                    return Err(format!(
                        "no check named `{word}`; did you mean {}? (`fwdoctor checks` lists them)",
                        or_list(&v)
                    ));
                }
            }
        }
        i += 1;
    }
    Ok(())
}

/// Whether `flag` (as written in argv) takes its value from the next word, per `sub`'s clap
/// definition: `--from DIR` does, `--from=DIR` and `-v` do not.
fn takes_value(sub: &clap::Command, flag: &str) -> bool {
    if flag.contains('=') {
        return false;
    }
    let arg = if let Some(long) = flag.strip_prefix("--") {
        sub.get_arguments().find(|a| a.get_long() == Some(long))
    } else {
        // `-o DIR`; in a cluster (`-vo DIR`) only the last short can take the next word.
        flag.chars()
            .last()
            .and_then(|c| sub.get_arguments().find(|a| a.get_short() == Some(c)))
    };
    arg.is_some_and(|a| a.get_action().takes_values())
}

fn or_list(v: &[String]) -> String {
    let quoted: Vec<String> = v.iter().map(|s| format!("`{s}`")).collect();
    match quoted.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

/// The width help text is wrapped to: the terminal's (or `COLUMNS`), at most 100.
pub fn help_width() -> usize {
    crate::report::human::text_width()
}

/// The top-level help: commands grouped by purpose, each with its first example.
pub fn grouped_help(cmd: &Command) -> String {
    let width = help_width();
    const NAME: usize = 22;
    let indent = 4 + NAME + 1;
    let mut out = String::from("Commands:\n");
    let line = |out: &mut String, name: &str, about: &str, example: Option<&str>| {
        let head = format!("    {name:<NAME$} ");
        let text = if head.chars().count() > indent {
            // A long usage gets its own line.
            out.push_str(head.trim_end());
            out.push('\n');
            crate::report::human::wrap(about, width, indent, indent)
        } else {
            let mut t = crate::report::human::wrap(about, width, indent, indent);
            t.replace_range(..indent, &head);
            t
        };
        out.push_str(&text);
        if let Some(e) = example {
            out.push_str(&format!("{:indent$}e.g. {e}\n", ""));
        }
    };
    for (group, items) in GROUPS {
        out.push_str(&format!("  {group}:\n"));
        for item in *items {
            match item {
                Item::Command(name) => {
                    let Some(sub) = cmd.find_subcommand(name) else {
                        continue;
                    };
                    let mut about = sub.get_about().map(|a| a.to_string()).unwrap_or_default();
                    let aliases: Vec<&str> = sub.get_visible_aliases().collect();
                    if !aliases.is_empty() {
                        about.push_str(&format!(" [aliases: {}]", aliases.join(", ")));
                    }
                    let example = sub
                        .get_after_help()
                        .and_then(|h| first_example(&h.to_string()));
                    line(&mut out, name, &about, example.as_deref());
                }
                Item::Mode {
                    usage,
                    about,
                    example,
                } => line(&mut out, usage, about, Some(example)),
            }
        }
    }
    out
}

/// The first line after an `Example:`/`Examples:` heading of an after-help text.
pub fn first_example(after_help: &str) -> Option<String> {
    examples(after_help).into_iter().next()
}

/// The example command lines of an after-help text (the indented lines under `Example(s):`).
pub fn examples(after_help: &str) -> Vec<String> {
    after_help
        .lines()
        .skip_while(|l| !l.starts_with("Example"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .map(|l| l.trim().to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn cli() -> Command {
        crate::cli::args::Cli::command()
    }

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
        // A real tie among fwdoctor's commands: one edit from both.
        assert_eq!(
            resolve_command(&cli(), "checkz"),
            Resolution::Ambiguous(vec!["check".into(), "checks".into()])
        );
    }

    #[test]
    fn two_aliases_of_one_command_are_no_tie() {
        assert_eq!(
            resolve_command(&cli(), "lst"),
            Resolution::Corrected("checks".into())
        );
        assert_eq!(
            resolve_command(&cli(), "doctr"),
            Resolution::Corrected("check".into())
        );
        assert_eq!(resolve_command(&cli(), "ls"), Resolution::Exact);
    }

    #[test]
    fn check_names_resolve_by_edit_and_prefix() {
        let n = check_names();
        assert_eq!(
            resolve("split-forwrd-drop", &n),
            Resolution::Corrected("split-forward-drop".into())
        );
        assert_eq!(
            resolve("mixed-backend", &n),
            Resolution::Corrected("mixed-backends".into())
        );
        assert_eq!(
            resolve("snap", &n),
            Resolution::Corrected("snap-docker".into())
        );
        assert!(matches!(resolve("docker", &n), Resolution::Ambiguous(v) if v.len() == 3));
    }

    #[test]
    fn far_words_do_not_match() {
        assert_eq!(
            resolve("frobnicate", &names(&["check", "trace"])),
            Resolution::NoMatch
        );
    }

    fn corrected(args: &[&str]) -> (Result<(), String>, Vec<String>, Vec<String>) {
        let mut argv: Vec<String> = std::iter::once("fwdoctor")
            .chain(args.iter().copied())
            .map(String::from)
            .collect();
        let mut notes = Vec::new();
        let r = correct_argv(&cli(), &mut argv, &mut notes);
        (r, argv[1..].to_vec(), notes)
    }

    #[test]
    fn flag_values_are_not_check_names() {
        // `--lock-wait 5`, `--state-dir snap` are values, whatever they look like.
        let (r, argv, notes) = corrected(&[
            "check",
            "--cron",
            "--state-dir",
            "snap",
            "--lock-wait",
            "5",
            "--skip=mixd-backends",
            "snap",
        ]);
        assert!(r.is_ok());
        assert_eq!(
            argv,
            names(&[
                "check",
                "--cron",
                "--state-dir",
                "snap",
                "--lock-wait",
                "5",
                "--skip=mixed-backends",
                "snap-docker"
            ])
        );
        assert_eq!(notes.len(), 2, "{notes:?}");
    }

    #[test]
    fn every_command_is_in_a_group_once() {
        let cmd = crate::cli::args::Cli::command();
        for s in cmd.get_subcommands() {
            let n = GROUPS
                .iter()
                .flat_map(|(_, items)| items.iter())
                .filter(|i| matches!(i, Item::Command(c) if *c == s.get_name()))
                .count();
            assert_eq!(n, 1, "{} is in {n} help groups", s.get_name());
        }
        for (_, items) in GROUPS {
            for i in *items {
                if let Item::Command(c) = i {
                    assert!(cmd.find_subcommand(c).is_some(), "no command {c}");
                }
            }
        }
    }

    /// Split an example as sh would for the simple quoting the examples use.
    fn words(example: &str) -> Vec<String> {
        let cut = example
            .find(" && ")
            .or_else(|| example.find(" > "))
            .or_else(|| example.find(" | "))
            .unwrap_or(example.len());
        let mut out = Vec::new();
        let mut cur = String::new();
        let mut quote = false;
        for c in example[..cut].chars() {
            match c {
                '\'' => quote = !quote,
                ' ' if !quote => {
                    if !cur.is_empty() {
                        out.push(std::mem::take(&mut cur));
                    }
                }
                c => cur.push(c),
            }
        }
        if !cur.is_empty() {
            out.push(cur);
        }
        if out.first().is_some_and(|w| w == "sudo") {
            out.remove(0);
        }
        out
    }

    #[test]
    fn every_example_in_the_help_parses() {
        let cmd = crate::cli::args::Cli::command();
        let mut all: Vec<String> = Vec::new();
        for s in cmd.get_subcommands() {
            let ex = examples(
                &s.get_after_help()
                    .map(|h| h.to_string())
                    .unwrap_or_default(),
            );
            assert!(!ex.is_empty(), "{} has no example", s.get_name());
            all.extend(ex);
        }
        for (_, items) in GROUPS {
            for i in *items {
                if let Item::Mode { example, .. } = i {
                    all.push(example.to_string());
                }
            }
        }
        for e in all {
            let mut argv = words(&e);
            assert_eq!(argv[0], "fwdoctor", "{e}");
            let mut notes = Vec::new();
            correct_argv(&cli(), &mut argv, &mut notes).unwrap();
            assert!(notes.is_empty(), "{e}: {notes:?}");
            if let Err(err) = crate::cli::args::Cli::command().try_get_matches_from(&argv) {
                panic!("example `{e}` does not parse: {err}");
            }
        }
    }

    #[test]
    fn grouped_help_fits_in_100_columns_except_examples() {
        let help = grouped_help(&cli());
        for l in help.lines() {
            assert!(
                l.chars().count() <= 100 || l.trim_start().starts_with("e.g."),
                "too long: {l}"
            );
        }
        assert!(help.contains("Monitoring"));
        assert!(help.contains("check --cron"));
    }
}
