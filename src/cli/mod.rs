//! The command line: parse arguments, run the pipeline, print, exit with the status code.

pub mod args;
pub mod commands;

use clap::Parser;

/// Run fwdoctor with the process's arguments; returns the exit code.
pub fn main() -> i32 {
    let argv: Vec<String> = std::env::args().collect();
    run(argv)
}

/// Run with explicit arguments (argv[0] first).
pub fn run(argv: Vec<String>) -> i32 {
    let cli = match args::Cli::try_parse_from(&argv) {
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
            eprintln!("fwdoctor: {e:#}");
            3
        }
    }
}
