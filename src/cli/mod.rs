//! The command line: parse arguments, run the pipeline, print, exit with the status code.

pub mod args;
pub mod commands;
pub mod fix;
pub mod friendly;

use clap::{CommandFactory, FromArgMatches};

/// Run fwdoctor with the process's arguments; returns the exit code.
pub fn main() -> i32 {
    let argv: Vec<String> = std::env::args().collect();
    run(argv)
}

/// Run with explicit arguments (`argv[0]` first).
pub fn run(mut argv: Vec<String>) -> i32 {
    // Built once: the typo corrections, the grouped help and the parser all read it.
    let cmd = args::Cli::command();
    let mut notes = Vec::new();
    if let Err(e) = friendly::correct_argv(&cmd, &mut argv, &mut notes) {
        eprintln!("fwdoctor: {e}");
        return 3;
    }
    for n in &notes {
        eprintln!("{n}");
    }
    let help = friendly::grouped_help(&cmd);
    let cmd = cmd.help_template(format!(
        "{{about}}\n\n{{usage-heading}} {{usage}}\n\n{help}\nOptions:\n{{options}}{{after-help}}"
    ));
    let parsed = cmd
        .try_get_matches_from(&argv)
        .and_then(|m| args::Cli::from_arg_matches(&m));
    let cli = match parsed {
        Ok(c) => c,
        Err(e) => {
            let code = match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => 0,
                _ => 3,
            };
            let _ = e.print();
            return code;
        }
    };
    match commands::dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            // An error may quote the evidence (a parse error shows the line): no escape
            // sequence from it reaches the terminal.
            eprintln!("fwdoctor: {}", crate::report::printable(&format!("{e:#}")));
            3
        }
    }
}
