//! Argument definitions (clap derive).
//!
//! Every duration is a whole number of seconds bounded by [`MAX_SECS`] (one day): a deadline is
//! `now + SECS`, and a value like 18446744073709551615 would overflow `Instant`. A timeout of 0
//! is refused (nothing could finish); `--lock-wait 0` means "do not wait".

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// The largest number of seconds any duration option takes: one day.
pub const MAX_SECS: u64 = 86_400;

#[derive(Parser, Debug)]
#[command(
    name = "fwdoctor",
    version,
    about = "Finds the firewall rule that kills Docker's published ports when legacy iptables and nf_tables are both live",
    long_about = None,
    after_help = "Exit codes: 0 ok, 1 warning, 2 critical, 3 unknown (could not check)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Diagnose this host (or a capture): every stack, every hook, every published port
    #[command(visible_aliases = ["doctor", "diagnose"],
        after_help = "Examples:\n  sudo fwdoctor check\n  fwdoctor check --from capture-dir/\n  fwdoctor check split-forward-drop --format json\n  fwdoctor check --skip mixed-backends -v\n  fwdoctor check --cron --notify 'mail -s fwdoctor root'\n  fwdoctor check --format nagios"
    )]
    Check(CheckArgs),
    /// Save the evidence (rulesets, Docker API, sysctls) to a directory for `check --from`
    #[command(
        visible_alias = "snapshot",
        after_help = "Examples:\n  sudo fwdoctor capture -o /tmp/fw-capture && sudo tar czf fw.tgz -C /tmp fw-capture\n  sudo fwdoctor capture --paste > fw.md    # paste fw.md into the issue"
    )]
    Capture(CaptureArgs),
    /// Follow one packet through every hook and base chain: which rule accepts or drops it
    #[command(
        visible_alias = "why",
        after_help = "Examples:\n  fwdoctor trace tcp 203.0.113.9 to 10.0.0.5:8080 --in eth0\n  fwdoctor trace tcp any '->' host:8080 --from capture-dir/\n  fwdoctor trace tcp host to 127.0.0.1:8080   (the host's own connection: OUTPUT)\n  fwdoctor trace tcp any to '[fd00::2]:80'     (IPv6; -6 with `any`/`host` alone)\n(quote '->' : unquoted, the shell reads '>' as a redirection)"
    )]
    Trace(TraceArgs),
    /// Apply the fix plan on this host: dry run by default; --apply saves, applies, re-checks, rolls back unless confirmed
    #[command(
        long_about = FIX_ABOUT,
        after_help = "Examples:\n  sudo fwdoctor fix\n  sudo fwdoctor fix split-forward-drop\n  sudo fwdoctor fix --port 8080 --apply\n  sudo fwdoctor fix --apply --yes --confirm-timeout 60\nExit codes: 0 dry run, nothing to fix, declined, or the fix kept; 1 rolled back (nothing changed in the end); 2 a restore failed (restore by hand: the printed commands); 3 refused."
    )]
    Fix(FixArgs),
    /// What a check finds, why it matters, how to fix it
    #[command(
        visible_alias = "docs",
        after_help = "Example:\n  fwdoctor explain split-forward-drop"
    )]
    Explain {
        /// A check name (`fwdoctor checks` lists them), or `fix` for fix's safety rules
        #[arg(value_parser = CheckName, hide_possible_values = true)]
        name: String,
    },
    /// List every check with its severity and summary
    #[command(visible_aliases = ["list", "ls", "list-checks"], after_help = "Example:\n  fwdoctor checks")]
    Checks,
    /// Print a shell completion script
    #[command(
        after_help = "Example:\n  fwdoctor completions bash > ~/.local/share/bash-completion/completions/fwdoctor"
    )]
    Completions {
        /// bash, zsh, fish, elvish or powershell
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff)
    #[command(after_help = "Example:\n  fwdoctor man > /usr/local/share/man/man1/fwdoctor.1")]
    Man,
}

/// `fwdoctor fix --help`: the safety rules.
pub const FIX_ABOUT: &str = "Apply the host's fix plan (the steps `check -v` prints), safely.

Without --apply it only prints the plan: each step, the stack/table/sysctl it changes, the findings and ports it resolves, and whether --apply would run it ([apply]) or only print it ([print]).

Safety rules of --apply (as root, on this host only):
  * asks first (--yes for scripts; with no terminal and no --yes it refuses);
  * runs only immediate firewall and sysctl steps, each by its argv, never through a shell; prose and any change to DOCKER-USER (your own rules) are only printed; a flush without its policy resets is refused;
  * lasting steps only with --lasting: a config file is written through the safe writer with a backup file next to the original (NAME.fwdoctor-TIMESTAMP.bak), update-alternatives' previous choice is saved, Docker is restarted only where the plan says; a rollback puts files and alternatives back too (and restarts Docker again if it was restarted); edits of files that are yours (/etc/nftables.conf, ufw's rules) stay printed;
  * predicts first: applies the [apply] steps to the collected evidence and traces again; refuses a selection the model says will not open its ports, before any change;
  * refuses a step that could cut your SSH connection (SSH_CONNECTION): a DROP policy on INPUT/OUTPUT, a DROP/REJECT rule that can match it, or any step after which the predicted rules drop it; after applying it traces the connection through the new rules and rolls back if it would now be dropped;
  * saves every stack it touches first (iptables-*-save, nft list table, sysctl values) to STATE_DIR/fix-TIMESTAMP/ and prints how to restore by hand;
  * collects again and re-analyses: keeps the change only if the ports it meant to open are reachable and no finding got worse, else restores at once;
  * then waits --confirm-timeout seconds for you to type `yes`; anything else, or nothing, restores the saved rulesets exactly.
Refused (exit 3, one line): not root (for --apply), --from a capture, only manual steps, evidence incomplete (never fix what was not seen).";

#[derive(Args, Debug)]
pub struct FixArgs {
    /// Fix only what this check found (`fwdoctor checks` lists them)
    #[arg(value_name = "CHECK")]
    pub check: Option<String>,
    /// Fix only what blocks this published host port
    #[arg(long, value_name = "PORT")]
    pub port: Option<u16>,
    /// Change the host (default: a dry run that prints the plan)
    #[arg(long)]
    pub apply: bool,
    /// Also run the lasting steps: config files written (a backup file is kept next to each),
    /// update-alternatives, the restart of Docker after a flush; all undone on a rollback
    #[arg(long)]
    pub lasting: bool,
    /// Do not ask before applying (the confirmation after the re-check is still needed)
    #[arg(long, requires = "apply")]
    pub yes: bool,
    /// Seconds to wait for `yes` after the re-check before restoring (1 to 86400)
    #[arg(long, default_value_t = 30, value_name = "SECS", requires = "apply",
        value_parser = clap::value_parser!(u64).range(1..=MAX_SECS))]
    pub confirm_timeout: u64,
    /// Where the backups go, in fix-TIMESTAMP/ [env: FWDOCTOR_STATE_DIR] [default: /var/lib/fwdoctor]
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    #[command(flatten)]
    pub source: SourceArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Human,
    Json,
    /// Nagios/Icinga plugin output: status line with perfdata, then long output
    Nagios,
    /// Prometheus text exposition (node_exporter textfile format)
    Prometheus,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Args, Debug, Clone)]
pub struct SourceArgs {
    /// Read a capture directory (or one pasted iptables-save / `iptables -S` file) instead of this host
    #[arg(long, value_name = "PATH", value_hint = clap::ValueHint::AnyPath)]
    pub from: Option<PathBuf>,
    /// Seconds a source on a live host may print nothing before it counts as hung (1 to 86400)
    #[arg(long, default_value_t = 30, value_name = "SECS",
        value_parser = clap::value_parser!(u64).range(1..=MAX_SECS))]
    pub timeout: u64,
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Run only these checks (by name)
    #[arg(value_name = "CHECK", value_parser = CheckName, hide_possible_values = true)]
    pub only: Vec<String>,
    /// Skip these checks (by name; repeatable)
    #[arg(long, value_name = "CHECK", value_parser = CheckName, hide_possible_values = true)]
    pub skip: Vec<String>,
    #[command(flatten)]
    pub source: SourceArgs,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Human, help_heading = "Output")]
    pub format: Format,
    /// Show the evidence lines (exact rules with stack, table, chain, file:line)
    #[arg(short, long, help_heading = "Output")]
    pub verbose: bool,
    /// Only the summary line
    #[arg(short, long, conflicts_with = "verbose", help_heading = "Output")]
    pub quiet: bool,
    /// Colour: auto (on a terminal, unless NO_COLOR is set), always, never
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, help_heading = "Output")]
    pub color: ColorChoice,
    #[command(flatten, next_help_heading = "Monitoring")]
    pub alert: AlertArgs,
}

/// Alert mode and monitoring outputs of `check`.
#[derive(Args, Debug, Clone)]
pub struct AlertArgs {
    /// Alert mode: print nothing and exit 0 when the findings are those of the last run; else a short report of what changed, exit code = status
    #[arg(long)]
    pub cron: bool,
    /// Where alert mode keeps its state [env: FWDOCTOR_STATE_DIR] [default: /var/lib/fwdoctor]
    #[arg(long, value_name = "DIR", requires = "cron")]
    pub state_dir: Option<PathBuf>,
    /// When something changed, run `sh -c CMD` with the report on stdin; the state advances only if it exits 0
    #[arg(long, value_name = "CMD", requires = "cron")]
    pub notify: Option<String>,
    /// Seconds the --notify command may take (1 to 86400)
    #[arg(long, default_value_t = 60, value_name = "SECS", requires = "notify",
        value_parser = clap::value_parser!(u64).range(1..=MAX_SECS))]
    pub notify_timeout: u64,
    /// Do not log changes to syslog (/dev/log)
    #[arg(long, requires = "cron")]
    pub no_syslog: bool,
    /// Seconds to wait for another alert run holding the state lock, then exit 3 (0 to 86400)
    #[arg(long, default_value_t = 60, value_name = "SECS", requires = "cron",
        value_parser = clap::value_parser!(u64).range(0..=MAX_SECS))]
    pub lock_wait: u64,
    /// Also write the Prometheus exposition to DIR/fwdoctor.prom, atomically (node_exporter textfile collector)
    #[arg(long, value_name = "DIR")]
    pub textfile: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct CaptureArgs {
    /// Directory to write (created if missing)
    #[arg(short, long, value_name = "DIR", required_unless_present = "paste")]
    pub output: Option<PathBuf>,
    /// Print the capture as one markdown block for a GitHub comment instead (`check --from FILE` reads it back)
    #[arg(long, conflicts_with = "output")]
    pub paste: bool,
    /// With --paste: print this capture directory instead of reading this host
    #[arg(long, value_name = "DIR", requires = "paste")]
    pub from: Option<PathBuf>,
    /// Seconds a source may print nothing before it counts as hung (1 to 86400)
    #[arg(long, default_value_t = 30, value_name = "SECS",
        value_parser = clap::value_parser!(u64).range(1..=MAX_SECS))]
    pub timeout: u64,
}

/// The formats `trace` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TraceFormat {
    Human,
    /// Schema `fwdoctor-trace/1` (README: "JSON schemas")
    Json,
}

#[derive(Args, Debug)]
pub struct TraceArgs {
    /// [PROTO] [SRC to] DST:PORT, or just a PORT: `8080`, `host:8080`, `0.0.0.0:8080`,
    /// `tcp 203.0.113.9 to 10.0.0.5:8080`; SRC may be `any`, DST may be `host`
    #[arg(required_unless_present = "port", num_args = 1.., value_name = "FLOW")]
    pub flow: Vec<String>,
    /// The host port to trace (tcp from any client outside, unless FLOW says more)
    #[arg(long, value_name = "PORT")]
    pub port: Option<u16>,
    /// Interface the packet comes in on (default: the host's outside interface)
    #[arg(long = "in", value_name = "IFACE")]
    pub in_iface: Option<String>,
    /// Trace IPv6 when no address says the family (`any`, `host`)
    #[arg(short = '6', long = "ipv6")]
    pub ipv6: bool,
    #[command(flatten)]
    pub source: SourceArgs,
    /// Output format
    #[arg(long, value_enum, default_value_t = TraceFormat::Human)]
    pub format: TraceFormat,
    /// Colour: auto (on a terminal, unless NO_COLOR is set or TERM=dumb), always, never
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

/// A check name as typed: any text is taken (an unknown name gets the friendly "did you mean"
/// error later, where aliases and lists are understood), but shell completions offer the
/// checks' names.
#[derive(Clone, Copy, Debug)]
pub struct CheckName;

impl clap::builder::TypedValueParser for CheckName {
    type Value = String;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<String, clap::Error> {
        clap::builder::StringValueParser::new().parse_ref(cmd, arg, value)
    }

    fn possible_values(
        &self,
    ) -> Option<Box<dyn Iterator<Item = clap::builder::PossibleValue> + '_>> {
        Some(Box::new(crate::analyze::checks::ALL.iter().map(|c| {
            clap::builder::PossibleValue::new(c.name).help(c.summary)
        })))
    }
}
