//! What each subcommand does.

use crate::alert;
use crate::analyze::trace::{Flow, Net, Route, Trace, Verdict};
use crate::analyze::{self, checks};
use crate::cli::args::{
    CheckArgs, ColorChoice, Command, Format, SourceArgs, TraceArgs, TraceFormat,
};
use crate::collect::{self, Evidence};
use crate::model::{CtState, Family, Model};
use crate::report::{self, ReportInput, Verbosity, human};
use anyhow::{Context as _, Result, bail};
use std::io::IsTerminal;
use std::net::IpAddr;
use std::time::Duration;

pub fn dispatch(cli: crate::cli::args::Cli) -> Result<i32> {
    match cli.command {
        Command::Check(a) => check(a),
        Command::Capture(a) => {
            let ev = match &a.from {
                Some(dir) => collect::capture::read(dir)?,
                None => collect::live::collect(&collect::live::Options {
                    timeout: Duration::from_secs(a.timeout),
                }),
            };
            let Some(output) = &a.output else {
                let markdown = collect::paste::to_markdown(&ev);
                print!("{markdown}");
                let chars = markdown.chars().count();
                if chars > collect::paste::GITHUB_COMMENT_MAX {
                    eprintln!(
                        "fwdoctor: the paste is {chars} characters, more than the {} a GitHub comment holds: attach it as a file, or a `fwdoctor capture -o DIR` tarball",
                        collect::paste::GITHUB_COMMENT_MAX
                    );
                }
                return Ok(0);
            };
            collect::capture::write(output, &ev)
                .with_context(|| format!("writing the capture to {}", output.display()))?;
            let failed: Vec<String> = ev
                .meta
                .sources
                .iter()
                .filter(|(_, s)| {
                    !matches!(
                        s.status,
                        collect::SourceState::Ok | collect::SourceState::Missing
                    )
                })
                .map(|(n, s)| format!("{n} ({})", s.status.as_str()))
                .collect();
            eprintln!(
                "fwdoctor: captured {} sources to {}{}",
                ev.files.len(),
                output.display(),
                if failed.is_empty() {
                    String::new()
                } else {
                    format!("; not read: {}", failed.join(", "))
                }
            );
            Ok(0)
        }
        Command::Trace(a) => trace(a),
        Command::Fix(a) => crate::cli::fix::run(a),
        Command::Explain { name } => {
            if name == "fix" {
                println!("fwdoctor fix\n\n{}", crate::cli::args::FIX_ABOUT);
                return Ok(0);
            }
            let Some(c) = checks::find(&name) else {
                bail!("no check named `{name}`; `fwdoctor checks` lists them");
            };
            println!("{} ({})\n  {}\n\n{}", c.name, c.severity, c.summary, c.docs);
            Ok(0)
        }
        Command::Completions { shell } => {
            // Each command once, by its name: aliases (`doctor`, `ls`, ...) still run, but are
            // not offered beside the names they stand for.
            let names: Vec<String> = <crate::cli::args::Cli as clap::CommandFactory>::command()
                .get_subcommands()
                .map(|s| s.get_name().to_string())
                .collect();
            let mut cmd = <crate::cli::args::Cli as clap::CommandFactory>::command();
            for name in &names {
                cmd = cmd.mut_subcommand(name, |s| s.alias(None));
            }
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut cmd, "fwdoctor", &mut script);
            let mut script = String::from_utf8_lossy(&script).into_owned();
            if shell == clap_complete::Shell::Bash {
                // Paths as bash completes file names: a directory gets its `/` and no space, so
                // `--from captures/` goes on into the directory.
                script = script.replace(
                    r#"COMPREPLY=($(compgen -f "${cur}"))"#,
                    r#"compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f "${cur}"))"#,
                );
            }
            std::io::Write::write_all(&mut std::io::stdout(), script.as_bytes())?;
            Ok(0)
        }
        Command::Man => {
            std::io::Write::write_all(&mut std::io::stdout(), man_page()?.as_bytes())?;
            Ok(0)
        }
        Command::Checks => {
            print!("{}", checks_list());
            Ok(0)
        }
    }
}

/// `fwdoctor checks`: every check with its severity and summary, summaries wrapped.
pub fn checks_list() -> String {
    let width = human::text_width();
    let name_w = checks::ALL.iter().map(|c| c.name.len()).max().unwrap_or(0);
    let indent = name_w + 2 + 8 + 2;
    let mut out = format!("{:name_w$}  {:8}  {}\n", "CHECK", "SEVERITY", "FINDS");
    for c in checks::ALL {
        let mut t = human::wrap(c.summary, width, indent, indent);
        t.replace_range(
            ..indent,
            &format!("{:name_w$}  {:8}  ", c.name, c.severity.as_str()),
        );
        out.push_str(&t);
    }
    out.push_str(&human::wrap(
        "`fwdoctor explain CHECK` tells what a check finds, why it matters and how to fix it; \
         `fwdoctor check CHECK...` runs only those, `--skip CHECK` all but those.",
        width,
        0,
        0,
    ));
    out
}

/// Escape text for roff: backslashes, and a leading `.` or `'` that would read as a request.
fn roff(s: &str) -> String {
    let s = s.replace('\\', "\\e").replace('-', "\\-");
    if s.starts_with('.') || s.starts_with('\'') {
        format!("\\&{s}")
    } else {
        s
    }
}

/// The man page: clap's title, name, synopsis and description; then every command with its
/// options and examples (one page, no fwdoctor-check(1) pages to go missing), the monitoring
/// modes, the checks, the exit status.
pub fn man_page() -> Result<String> {
    use crate::cli::friendly::{self, GROUPS, Item};
    let cmd = <crate::cli::args::Cli as clap::CommandFactory>::command();
    let man = clap_mangen::Man::new(cmd.clone());
    let mut out = Vec::new();
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    man.render_synopsis_section(&mut out)?;
    man.render_description_section(&mut out)?;
    let mut s = String::from_utf8(out)?;
    s.push_str(".SH COMMANDS\n");
    for (group, items) in GROUPS {
        for item in *items {
            let Item::Command(name) = item else { continue };
            let Some(sub) = cmd.find_subcommand(name) else {
                continue;
            };
            let mut sub = sub.clone().bin_name(format!("fwdoctor {name}"));
            let usage = sub.render_usage().to_string();
            let usage = usage.trim_start_matches("Usage:").trim();
            s.push_str(&format!(".SS \"{}\"\n", roff(usage)));
            let about = sub.get_about().map(|a| a.to_string()).unwrap_or_default();
            let aliases: Vec<&str> = sub.get_visible_aliases().collect();
            s.push_str(&roff(&about));
            s.push_str(&format!(" ({group})"));
            if !aliases.is_empty() {
                s.push_str(&format!(". Aliases: {}", roff(&aliases.join(", "))));
            }
            s.push('\n');
            for arg in sub.get_arguments() {
                if arg.is_hide_set() || matches!(arg.get_id().as_str(), "help" | "version") {
                    continue;
                }
                let value = arg
                    .get_value_names()
                    .filter(|_| arg.get_action().takes_values())
                    .map(|v| {
                        v.iter()
                            .map(|v| format!(" \\fI{v}\\fR"))
                            .collect::<String>()
                    })
                    .unwrap_or_default();
                let flag = match (arg.get_short(), arg.get_long()) {
                    (Some(c), Some(l)) => {
                        format!("\\fB\\-{c}\\fR, \\fB\\-\\-{}\\fR{value}", roff(l))
                    }
                    (None, Some(l)) => format!("\\fB\\-\\-{}\\fR{value}", roff(l)),
                    (Some(c), None) => format!("\\fB\\-{c}\\fR{value}"),
                    (None, None) => value.trim().to_string(),
                };
                let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
                let default: Vec<String> = arg
                    .get_default_values()
                    .iter()
                    .map(|v| v.to_string_lossy().into_owned())
                    .collect();
                let default = if default.is_empty() || !arg.get_action().takes_values() {
                    String::new()
                } else {
                    format!(" [default: {}]", default.join(", "))
                };
                s.push_str(&format!(".TP\n{flag}\n{}{}\n", roff(&help), roff(&default)));
            }
            let examples = friendly::examples(
                &sub.get_after_help()
                    .map(|h| h.to_string())
                    .unwrap_or_default(),
            );
            if !examples.is_empty() {
                s.push_str(".PP\nExamples:\n.nf\n");
                for e in examples {
                    s.push_str(&format!("  {}\n", roff(&e)));
                }
                s.push_str(".fi\n");
            }
        }
    }
    s.push_str(".SH MONITORING\n");
    for (_, items) in GROUPS {
        for item in *items {
            if let Item::Mode {
                usage,
                about,
                example,
            } = item
            {
                s.push_str(&format!(
                    ".TP\n\\fBfwdoctor {}\\fR\n{}\n.br\ne.g. {}\n",
                    roff(usage),
                    roff(about),
                    roff(example)
                ));
            }
        }
    }
    s.push_str(".SH CHECKS\n");
    for c in checks::ALL {
        s.push_str(&format!(
            ".TP\n\\fB{}\\fR ({})\n{}\n",
            roff(c.name),
            c.severity,
            roff(c.summary)
        ));
    }
    s.push_str(".PP\n\\fBfwdoctor explain\\fR \\fICHECK\\fR prints what a check finds, why it matters and how to fix it.\n");
    s.push_str(
        ".SH EXIT STATUS\n0 ok, 1 warning, 2 critical, 3 unknown (could not check: bad input, \
         missing evidence, usage error). These are the Nagios plugin codes.\n",
    );
    s.push_str(".SH JSON\n\\fBcheck \\-\\-format json\\fR prints schema \\fBfwdoctor-report/1\\fR (findings, ports, and \\fBplan\\fR: the host's fix steps, each with kind, command, argv, the tables it touches and the findings it resolves); \\fBtrace \\-\\-format json\\fR prints \\fBfwdoctor-trace/1\\fR (the flow, the verdict, the chains, and the deciding rules as evidence lines). Both are documented in the README's \\(lqJSON schemas\\(rq section of fwdoctor's source tree. Bad input still gives a JSON document: status unknown, with \\fBerror\\fR.\n");
    s.push_str(".SH ENVIRONMENT\n.TP\n\\fBNO_COLOR\\fR\nNo colour in the report, even on a terminal (\\fB\\-\\-color auto\\fR); so does \\fBTERM=dumb\\fR.\n.TP\n\\fBLANG\\fR, \\fBLC_ALL\\fR, \\fBLC_CTYPE\\fR\nA locale that is not UTF-8 (\\fBLANG=C\\fR) gets ASCII marks and table borders.\n.TP\n\\fBCOLUMNS\\fR\nThe width prose wraps to (default: the terminal's, 80 in a pipe).\n.TP\n\\fBFWDOCTOR_STATE_DIR\\fR\nWhere \\fBcheck \\-\\-cron\\fR keeps its state and \\fBfix \\-\\-apply\\fR its backups (default /var/lib/fwdoctor).\n.TP\n\\fBSSH_CONNECTION\\fR\n\\fBfix \\-\\-apply\\fR refuses steps that could drop this connection, and rolls back a change that would.\n");
    s.push_str(".SH FIX SAFETY\n.nf\n");
    s.push_str(&roff(crate::cli::args::FIX_ABOUT));
    s.push_str("\n.fi\n");
    Ok(s)
}

/// The evidence and its model, from `--from` or from this host (see [`live_model`]).
pub fn load(src: &SourceArgs) -> Result<(Evidence, Model)> {
    match &src.from {
        Some(p) => {
            let ev = collect::capture::read(p)?;
            let mut model = Model::build(&ev).map_err(anyhow::Error::new)?;
            model.notes.extend(ev.notes.iter().cloned());
            Ok((ev, model))
        }
        None => live_model(Duration::from_secs(src.timeout)),
    }
}

/// This host's evidence and its model. Each save is parsed as soon as it is read, while the
/// other sources are still being read: on a big node the check then ends soon after its
/// slowest dump.
pub fn live_model(timeout: Duration) -> Result<(Evidence, Model)> {
    let early = crate::model::build::EarlyParse::default();
    let ev = collect::live::collect_with(
        &collect::live::Options { timeout },
        &|file, text, share_cores| early.offer(file, text, share_cores),
    );
    let mut model = Model::build_with(&ev, &early).map_err(anyhow::Error::new)?;
    model.notes.extend(ev.notes.iter().cloned());
    Ok((ev, model))
}

pub fn load_model(src: &SourceArgs) -> Result<Model> {
    let (ev, model) = load(src)?;
    // One-shot process: the raw evidence is not needed any more, and freeing it costs time.
    std::mem::forget(ev);
    Ok(model)
}

fn check(a: CheckArgs) -> Result<i32> {
    for name in a.only.iter().chain(a.skip.iter()) {
        if checks::find(name).is_none() {
            bail!("no check named `{name}`; `fwdoctor checks` lists them");
        }
    }
    if a.alert.cron && matches!(a.format, Format::Nagios | Format::Prometheus) {
        bail!("--cron prints a change report (human or json); use --textfile DIR for Prometheus");
    }
    // Monitoring outputs report a run that could not check as `unknown` instead of failing.
    let monitoring = a.alert.cron
        || a.alert.textfile.is_some()
        || matches!(a.format, Format::Nagios | Format::Prometheus);
    // So does JSON: a script reading it gets a document, with the error, not an empty stdout.
    let mut load_error = None;
    let (model, analysis) = match load_model(&a.source) {
        Ok(model) => {
            let analysis = analyze::analyze(&model, &a.only, &a.skip);
            (model, analysis)
        }
        Err(e) if monitoring || a.format == Format::Json => {
            let error = format!("{e:#}");
            if a.format == Format::Json {
                eprintln!("fwdoctor: {error}");
            }
            let analysis = report::failed_analysis(&error);
            load_error = Some(error);
            (Model::default(), analysis)
        }
        Err(e) => return Err(e),
    };
    let input = ReportInput {
        model: &model,
        analysis: &analysis,
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let mut exit = analysis.status.exit_code();
    let mut textfile_failed = false;
    if let Some(dir) = &a.alert.textfile
        && let Err(e) =
            report::prometheus::write_textfile(dir, &report::prometheus::render(&input, now))
    {
        // The writer's error names the directory and why.
        eprintln!("fwdoctor: cannot write the textfile: {e}");
        textfile_failed = true;
    }
    if a.alert.cron {
        let opts = alert::Options {
            state_dir: a
                .alert
                .state_dir
                .clone()
                .or_else(|| std::env::var_os("FWDOCTOR_STATE_DIR").map(Into::into))
                .unwrap_or_else(|| alert::state::DEFAULT_DIR.into()),
            notify: a.alert.notify.clone(),
            notify_timeout: Duration::from_secs(a.alert.notify_timeout),
            syslog: !a.alert.no_syslog,
            lock_wait: Duration::from_secs(a.alert.lock_wait),
            json: a.format == Format::Json,
            details: details_command(&a),
        };
        let host = match &a.source.from {
            Some(_) => model.origin.clone(),
            None => alert::hostname(),
        };
        let out = alert::run(&opts, &analysis, &host)?;
        print!("{}", out.stdout);
        eprint!("{}", out.stderr);
        exit = out.exit_code;
    } else {
        match a.format {
            Format::Json => {
                let mut doc = report::json::render(&input);
                if let Some(error) = load_error {
                    doc["error"] = error.into();
                }
                println!("{}", serde_json::to_string_pretty(&doc)?)
            }
            Format::Nagios => print!("{}", report::nagios::render(&input)),
            Format::Prometheus => print!("{}", report::prometheus::render(&input, now)),
            Format::Human => {
                let verbosity = if a.quiet {
                    Verbosity::Quiet
                } else if a.verbose {
                    Verbosity::Verbose
                } else {
                    Verbosity::Normal
                };
                let color = use_color(a.color);
                print!(
                    "{}",
                    human::render(&input, verbosity, &human::Style::new(color))
                );
            }
        }
    }
    if textfile_failed {
        // A lost textfile is a lost alert: exit 3 whatever the findings (see alert::DELIVERY_FAILED).
        exit = alert::DELIVERY_FAILED;
    }
    // The process ends right after this: freeing a 100k-rule model rule by rule would cost about
    // a third of the run, for memory the kernel takes back anyway.
    std::mem::forget(analysis);
    std::mem::forget(model);
    Ok(exit)
}

/// `sudo fwdoctor check --verbose` with the options of this run that change what it sees:
/// the cron mail's "Details:" line, so the mail points at the same evidence and checks.
fn details_command(a: &CheckArgs) -> String {
    let mut words: Vec<String> = ["sudo", "fwdoctor", "check", "--verbose"]
        .map(String::from)
        .to_vec();
    if let Some(from) = &a.source.from {
        words.push("--from".into());
        words.push(from.display().to_string());
    }
    for (flag, names) in [("--only", &a.only), ("--skip", &a.skip)] {
        for n in names {
            words.push(flag.into());
            words.push(n.clone());
        }
    }
    if a.source.timeout != 30 {
        words.push("--timeout".into());
        words.push(a.source.timeout.to_string());
    }
    crate::analyze::shell::join(&words)
}

pub fn use_color(choice: ColorChoice) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::env::var_os("TERM").is_none_or(|t| t != "dumb")
                && std::io::stdout().is_terminal()
        }
    }
}

/// Parse `PROTO SRC [->|to] DST:PORT`.
///
/// Also what people type: a bare `8080` or `host:8080` (tcp from any client outside), the
/// `0.0.0.0:8080` the ports table shows (the host's addresses), `--port 8080`. A flow ending
/// in a lone `-` is an unquoted `->` whose `>` the shell took as a redirection: that gets a hint.
pub fn parse_flow(words: &[String]) -> Result<Flow> {
    if words.len() >= 2 && words.last().is_some_and(|w| w == "-") {
        bail!(
            "the flow ends in `-`: the shell read the `>` of an unquoted `->` as a redirection (stdout went to a file named after the destination). Quote it (`'->'`) or write `to`: fwdoctor trace tcp any to host:8080"
        );
    }
    let words: Vec<&str> = words
        .iter()
        .map(String::as_str)
        .filter(|w| !matches!(*w, "->" | "to" | "→" | "-"))
        .collect();
    let is_proto = |w: &str| matches!(w.to_ascii_lowercase().as_str(), "tcp" | "udp" | "sctp");
    let bare_port = |w: &str| w.parse::<u16>().is_ok();
    let owned_dst;
    let (proto, src, dst) = match words.as_slice() {
        [d] if bare_port(d) => {
            owned_dst = format!("host:{d}");
            ("tcp", "any", owned_dst.as_str())
        }
        [d] => ("tcp", "any", *d),
        [p, d] if is_proto(p) && bare_port(d) => {
            owned_dst = format!("host:{d}");
            (*p, "any", owned_dst.as_str())
        }
        [p, s, d] => (*p, *s, *d),
        [p, d] if is_proto(p) => (*p, "any", *d),
        [s, d] => ("tcp", *s, *d),
        _ => bail!(
            "expected [PROTO] [SRC to] DST:PORT or a PORT, e.g. `8080`, `host:8080`, `tcp 203.0.113.9 to 10.0.0.5:8080`"
        ),
    };
    let proto = proto.to_ascii_lowercase();
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        bail!("protocol `{proto}`: expected tcp, udp or sctp");
    }
    let (src_addr, sport) = parse_endpoint(src)?;
    let (dst_addr, dport) = parse_endpoint(dst)?;
    let Some(dport) = dport else {
        bail!("destination `{dst}` needs a port: ADDRESS:PORT or host:PORT");
    };
    let family = match (src_addr, dst_addr) {
        (Some(IpAddr::V6(_)), _) | (_, Some(IpAddr::V6(_))) => Family::Ip6,
        _ => Family::Ip,
    };
    Ok(Flow {
        family,
        proto,
        src: src_addr,
        dst: dst_addr,
        dport,
        sport,
        in_iface: None,
        state: CtState::New,
        // `host` as the source: the host's own connection (OUTPUT, not PREROUTING).
        local_origin: src.eq_ignore_ascii_case("host"),
        to_outside: false,
    })
}

fn parse_endpoint(s: &str) -> Result<(Option<IpAddr>, Option<u16>)> {
    let symbolic = |a: &str| matches!(a, "any" | "outside" | "host" | "*");
    if symbolic(s) {
        return Ok((None, None));
    }
    if let Ok(a) = s.parse::<IpAddr>() {
        return Ok((Some(a), None));
    }
    let (addr, port) = if let Some(rest) = s.strip_prefix('[') {
        let (a, p) = rest
            .split_once("]:")
            .context("IPv6 with port is written [ADDR]:PORT")?;
        (a, p)
    } else {
        s.rsplit_once(':')
            .with_context(|| format!("`{s}` is not an address or ADDRESS:PORT"))?
    };
    let port: u16 = port
        .parse()
        .with_context(|| format!("`{port}` is not a port number"))?;
    let addr = if symbolic(addr) {
        None
    } else {
        let a = addr
            .parse::<IpAddr>()
            .with_context(|| format!("`{addr}` is not an IP address"))?;
        // `0.0.0.0:8080` as the ports table shows a port published on all addresses: the
        // host's own (`[::]:8080` likewise).
        (!a.is_unspecified()).then_some(a)
    };
    Ok((addr, Some(port)))
}

fn trace(a: TraceArgs) -> Result<i32> {
    let mut words = a.flow.clone();
    if let Some(port) = a.port {
        if words
            .iter()
            .any(|w| w.contains(':') || w.parse::<u16>().is_ok())
        {
            bail!("--port {port} and a destination port in FLOW: give one of them");
        }
        words.push(format!("host:{port}"));
    }
    let mut flow = parse_flow(&words)?;
    if a.ipv6 {
        if flow.family == Family::Ip && (flow.src.is_some() || flow.dst.is_some()) {
            bail!("-6 asks for IPv6, but an address in the flow is IPv4");
        }
        flow.family = Family::Ip6;
    }
    let model = load_model(&a.source)?;
    if let (Some(name), Some(known)) = (&a.in_iface, &model.interfaces)
        && !known.iter().any(|i| &i.name == name)
    {
        let names: Vec<String> = known
            .iter()
            .map(|i| report::printable(&i.name).into_owned())
            .collect();
        bail!(
            "--in {}: no such interface in the evidence; it knows {}",
            report::printable(name),
            names.join(", ")
        );
    }
    let net = Net::new(&model);
    // A source address of the host's own is the host's own connection too.
    if flow.src.is_some_and(|s| net.is_local(s)) {
        flow.local_origin = true;
    }
    if flow.local_origin {
        if a.in_iface.is_some() {
            bail!("--in applies to packets coming in; the host's own connection starts in OUTPUT");
        }
        let outside = net.outside_address(flow.family).map(|o| o.1);
        flow.dst = flow.dst.or(outside);
        flow.src = flow
            .src
            .or(flow.dst.filter(|d| net.is_local(*d)))
            .or(outside);
    } else {
        flow.in_iface = a.in_iface.clone();
        if flow.in_iface.is_none() && flow.src.is_none() {
            flow.in_iface = net.outside_address(flow.family).map(|o| o.0);
        }
    }
    let t = net.trace(&flow);
    let reply = reply_of(&net, &flow, &t);
    match a.format {
        TraceFormat::Json => {
            let mut v = trace_json(&flow, &t)?;
            if let (Some((_, r)), Some(obj)) = (&reply, v.as_object_mut()) {
                obj.insert("reply".into(), serde_json::to_value(r)?);
            }
            println!("{}", serde_json::to_string_pretty(&v)?)
        }
        TraceFormat::Human => {
            let mut text = render_trace(&flow, &t);
            if let Some((back, r)) = &reply {
                text.push_str("\nreply, from the container back:\n");
                text.push_str(&render_trace(back, r));
            }
            let text = if use_color(a.color) {
                paint_trace(&text)
            } else {
                text
            };
            let text = if report::human::locale_is_utf8() {
                text
            } else {
                report::human::asciify(&text)
            };
            print!("{text}")
        }
    }
    let code = |v: &Verdict| match v {
        Verdict::Accept { .. } => 0,
        Verdict::Drop { .. } | Verdict::KernelDrop { .. } => 2,
        Verdict::Unknown { .. } | Verdict::Unseen { .. } => 3,
    };
    Ok(match &reply {
        Some((_, r)) if code(&t.verdict) == 0 => code(&r.verdict),
        _ => code(&t.verdict),
    })
}

/// The reply of a connection the trace forwarded to a container and accepted: from there back
/// to the client (or to the host, for the host's own connection).
fn reply_of(net: &Net<'_>, flow: &Flow, t: &Trace) -> Option<(Flow, Trace)> {
    let Some(Route::Forward { out_iface }) = &t.route else {
        return None;
    };
    if !matches!(t.verdict, Verdict::Accept { .. }) {
        return None;
    }
    let (Some(ip), port) = t.final_dst? else {
        return None;
    };
    let mut back = Flow::reply_from(flow.family, &flow.proto, ip, port, out_iface.as_deref());
    if let Some(src) = flow.src {
        back.dst = Some(src);
        back.to_outside = false;
    }
    let r = net.trace(&back);
    Some((back, r))
}

/// `trace --format json`, schema `fwdoctor-trace/1`: the flow as understood (echoed), the
/// verdict, each chain the packet crosses, and `evidence`: the rules that decided, in the same
/// evidence-line shape as `check`'s findings.
pub fn trace_json(flow: &Flow, t: &Trace) -> Result<serde_json::Value> {
    let mut evidence: Vec<crate::analyze::EvidenceLine> = Vec::new();
    for v in t.blockers.iter().chain(std::iter::once(&t.verdict)) {
        let line = match v {
            Verdict::Drop { by } => crate::analyze::EvidenceLine::rule(by),
            Verdict::KernelDrop { reason } => {
                crate::analyze::EvidenceLine::fact("kernel", reason.clone())
            }
            _ => continue,
        };
        if !evidence.contains(&line) {
            evidence.push(line);
        }
    }
    let mut doc = serde_json::to_value(t)?;
    let obj = doc
        .as_object_mut()
        .context("a trace serializes to an object")?;
    obj.insert("schema".into(), "fwdoctor-trace/1".into());
    obj.insert(
        "flow".into(),
        serde_json::json!({
            "family": flow.family,
            "proto": flow.proto,
            "src": flow.src,
            "dst": flow.dst,
            "dport": flow.dport,
            "sport": flow.sport,
            "in": flow.in_iface,
        }),
    );
    obj.insert("evidence".into(), serde_json::to_value(evidence)?);
    Ok(doc)
}

/// Colour for the human trace, as `check` has: drops red, accepts green, unknown magenta.
fn paint_trace(text: &str) -> String {
    text.lines()
        .map(|l| {
            let code = if l.contains("DROP") {
                Some("1;31")
            } else if l.contains("unknown") {
                Some("1;35")
            } else if l.trim_end().ends_with("accept") || l.starts_with("verdict: ACCEPT") {
                Some("32")
            } else {
                None
            };
            match code {
                Some(c) => format!("\x1b[{c}m{l}\x1b[0m\n"),
                None => format!("{l}\n"),
            }
        })
        .collect()
}

/// The human trace. Every name and rule from the evidence is shown [`printable`]: a chain name or
/// rule comment holding escape sequences or newlines cannot reach the terminal as such.
pub fn render_trace(flow: &Flow, t: &Trace) -> String {
    use crate::report::printable as p;
    use std::fmt::Write;
    let mut out = String::new();
    let show = |a: Option<IpAddr>, who: &str| a.map_or(who.to_string(), |a| a.to_string());
    let dst = match flow.dst {
        Some(a) => crate::analyze::ports::sockaddr(a, flow.dport),
        None if flow.to_outside => "client-outside".to_string(),
        None => format!("host:{}", flow.dport),
    };
    let src = match (flow.src, flow.sport) {
        (Some(a), Some(port)) => crate::analyze::ports::sockaddr(a, port),
        (a, _) => show(a, "client-outside"),
    };
    let from = if flow.local_origin {
        "from the host itself (OUTPUT)".to_string()
    } else {
        format!(
            "in {}",
            p(flow.in_iface.as_deref().unwrap_or("outside interface"))
        )
    };
    let _ = writeln!(out, "{} {} -> {} {}", p(&flow.proto), src, dst, from);
    let mut last_hook = None;
    for s in &t.steps {
        if last_hook != Some(s.hook) {
            let _ = writeln!(out, "\n{}:", s.hook.as_str().to_uppercase());
            last_hook = Some(s.hook);
        }
        let v = match &s.verdict {
            Verdict::Accept { .. } => "accept".to_string(),
            Verdict::Drop { by } => format!("DROP by {}", p(&by.rule)),
            Verdict::KernelDrop { reason } => format!("DROP: {}", p(reason)),
            Verdict::Unknown { reason, .. } => format!("unknown: {}", p(reason)),
            Verdict::Unseen { .. } => "unknown: not all of it was read".to_string(),
        };
        let _ = writeln!(
            out,
            "  [{:>4}] {} {} {}: {}",
            s.priority,
            s.stack,
            p(&s.table),
            p(&s.chain),
            v
        );
        for r in &s.matched {
            let src = if r.line > 0 {
                format!("  ({}:{})", p(&r.source), r.line)
            } else {
                String::new()
            };
            // iptables rules already name their chain (`-A DOCKER ...`); nft rules do not.
            if r.rule.starts_with("-A ") {
                let _ = writeln!(out, "         {}{}", p(&r.rule), src);
            } else {
                let _ = writeln!(out, "         {}: {}{}", p(&r.chain), p(&r.rule), src);
            }
        }
        for r in &s.passed {
            let _ = writeln!(
                out,
                "         DROP by {} (walked past, to find what else drops it)",
                p(&r.rule)
            );
        }
        if let Some(rw) = &s.rewrote {
            let _ = writeln!(out, "         -> now to {}", p(rw));
        }
    }
    if let Some(route) = &t.route {
        let _ = writeln!(
            out,
            "\nroute: {}",
            match route {
                Route::Local => "to the host itself (INPUT)".to_string(),
                Route::Forward { out_iface } => format!(
                    "forwarded out {}",
                    p(out_iface.as_deref().unwrap_or("(unknown interface)"))
                ),
            }
        );
    }
    let _ = writeln!(
        out,
        "verdict: {}",
        match &t.verdict {
            Verdict::Accept { .. } => "ACCEPTED by every stack".to_string(),
            Verdict::Drop { by } => format!("DROPPED by {}", p(&by.describe())),
            Verdict::KernelDrop { reason } => format!("DROPPED: {}", p(reason)),
            Verdict::Unknown { by, reason } => {
                format!("UNKNOWN at {}: {}", p(&by.describe()), p(reason))
            }
            Verdict::Unseen { .. } =>
                "UNKNOWN: every rule that was read lets it pass, but not all was read".to_string(),
        }
    );
    for b in t.blockers.iter().skip(1) {
        let _ = writeln!(
            out,
            "         and, with that fixed, {}",
            match b {
                Verdict::Drop { by } => format!("DROPPED by {}", p(&by.describe())),
                Verdict::KernelDrop { reason } => format!("DROPPED: {}", p(reason)),
                _ => continue,
            }
        );
    }
    if !t.missing.is_empty() {
        let _ = writeln!(
            out,
            "{}",
            if matches!(t.verdict, Verdict::Unseen { .. }) {
                "not read, and needed for a verdict:"
            } else {
                "not read (it could drop the packet too):"
            }
        );
        for g in &t.missing {
            let _ = writeln!(out, "  {}: {}", p(&g.what), p(&g.why));
        }
        let _ = writeln!(
            out,
            "to read it: {}",
            p(&crate::analyze::needs::commands(&t.missing).join("; "))
        );
    }
    out
}
