//! What each subcommand does.

use crate::alert;
use crate::analyze::trace::{Flow, Net, Route, Trace, Verdict};
use crate::analyze::{self, checks};
use crate::cli::args::{CheckArgs, ColorChoice, Command, Format, SourceArgs, TraceArgs};
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
            let ev = collect::live::collect(&collect::live::Options {
                timeout: Duration::from_secs(a.timeout),
            });
            collect::capture::write(&a.output, &ev)
                .with_context(|| format!("writing the capture to {}", a.output.display()))?;
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
                a.output.display(),
                if failed.is_empty() {
                    String::new()
                } else {
                    format!("; not read: {}", failed.join(", "))
                }
            );
            Ok(0)
        }
        Command::Trace(a) => trace(a),
        Command::Explain { name } => {
            let Some(c) = checks::find(&name) else {
                bail!("no check named `{name}`; `fwdoctor checks` lists them");
            };
            println!("{} ({})\n  {}\n\n{}", c.name, c.severity, c.summary, c.docs);
            Ok(0)
        }
        Command::Completions { shell } => {
            let mut cmd = <crate::cli::args::Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "fwdoctor", &mut std::io::stdout());
            Ok(0)
        }
        Command::Man => {
            let cmd = <crate::cli::args::Cli as clap::CommandFactory>::command();
            let mut out = Vec::new();
            clap_mangen::Man::new(cmd).render(&mut out)?;
            // The checks, as a section of their own.
            let mut extra = String::from(".SH CHECKS\n");
            for c in checks::ALL {
                extra.push_str(&format!(
                    ".TP\n\\fB{}\\fR ({})\n{}\n",
                    c.name, c.severity, c.summary
                ));
            }
            extra.push_str(
                ".SH EXIT STATUS\n0 ok, 1 warning, 2 critical, 3 unknown (could not check).\n",
            );
            use std::io::Write;
            let mut stdout = std::io::stdout();
            stdout.write_all(&out)?;
            stdout.write_all(extra.as_bytes())?;
            Ok(0)
        }
        Command::Checks => {
            let mut t = comfy_table::Table::new();
            t.load_style(comfy_table::presets::NOTHING);
            t.set_header(vec!["check", "severity", "finds"]);
            for c in checks::ALL {
                t.add_row(vec![c.name, c.severity.as_str(), c.summary]);
            }
            println!("{t}");
            Ok(0)
        }
    }
}

/// Evidence from `--from` or from this host.
pub fn load_evidence(src: &SourceArgs) -> Result<Evidence> {
    match &src.from {
        Some(p) => collect::capture::read(p),
        None => Ok(collect::live::collect(&collect::live::Options {
            timeout: Duration::from_secs(src.timeout),
        })),
    }
}

pub fn load_model(src: &SourceArgs) -> Result<Model> {
    let ev = load_evidence(src)?;
    let mut model = Model::build(&ev).map_err(anyhow::Error::new)?;
    model.notes.extend(ev.notes.iter().cloned());
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
    let (model, analysis) = match load_model(&a.source) {
        Ok(model) => {
            let analysis = analyze::analyze(&model, &a.only, &a.skip);
            (model, analysis)
        }
        Err(e) if monitoring => (Model::default(), report::failed_analysis(&format!("{e:#}"))),
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
        eprintln!(
            "fwdoctor: cannot write the textfile in {}: {e}",
            dir.display()
        );
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
        };
        let host = match &a.source.from {
            Some(_) => model.origin.clone(),
            None => alert::hostname(),
        };
        let out = alert::run(&opts, &analysis, &host)?;
        print!("{}", out.stdout);
        exit = out.exit_code;
    } else {
        match a.format {
            Format::Json => println!(
                "{}",
                serde_json::to_string_pretty(&report::json::render(&input))?
            ),
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
                    human::render(&input, verbosity, &human::Style { color })
                );
            }
        }
    }
    if textfile_failed {
        exit = exit.max(alert::worse(analysis.status, analyze::Status::Unknown).exit_code());
    }
    Ok(exit)
}

pub fn use_color(choice: ColorChoice) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::io::stdout().is_terminal()
        }
    }
}

/// Parse `PROTO SRC [->|to] DST:PORT`.
pub fn parse_flow(words: &[String]) -> Result<Flow> {
    let words: Vec<&str> = words
        .iter()
        .map(String::as_str)
        .filter(|w| !matches!(*w, "->" | "to" | "→" | "-"))
        .collect();
    let (proto, src, dst) = match words.as_slice() {
        [p, s, d] => (*p, *s, *d),
        [p, d] => (*p, "any", *d),
        _ => bail!("expected PROTO SRC -> DST:PORT, e.g. `tcp 203.0.113.9 to 10.0.0.5:8080`"),
    };
    let proto = proto.to_ascii_lowercase();
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        bail!("protocol `{proto}`: expected tcp, udp or sctp");
    }
    let (src_addr, sport) = parse_endpoint(src, true)?;
    let (dst_addr, dport) = parse_endpoint(dst, false)?;
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
        local_origin: false,
        to_outside: false,
    })
}

fn parse_endpoint(s: &str, is_src: bool) -> Result<(Option<IpAddr>, Option<u16>)> {
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
        Some(
            addr.parse::<IpAddr>()
                .with_context(|| format!("`{addr}` is not an IP address"))?,
        )
    };
    let _ = is_src;
    Ok((addr, Some(port)))
}

fn trace(a: TraceArgs) -> Result<i32> {
    let mut flow = parse_flow(&a.flow)?;
    let model = load_model(&a.source)?;
    let net = Net::new(&model);
    flow.in_iface = a.in_iface.clone();
    if flow.in_iface.is_none() && flow.src.is_none() {
        flow.in_iface = net.outside_address(flow.family).map(|o| o.0);
    }
    let t = net.trace(&flow);
    match a.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&t)?),
        Format::Human => print!("{}", render_trace(&flow, &t)),
        Format::Nagios | Format::Prometheus => {
            bail!("--format nagios and prometheus apply to `check`; trace prints human or json")
        }
    }
    Ok(match t.verdict {
        Verdict::Accept { .. } => 0,
        Verdict::Drop { .. } => 2,
        Verdict::Unknown { .. } => 3,
    })
}

pub fn render_trace(flow: &Flow, t: &Trace) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let show = |a: Option<IpAddr>, who: &str| a.map_or(who.to_string(), |a| a.to_string());
    let _ = writeln!(
        out,
        "{} {} -> {}:{} in {}",
        flow.proto,
        show(flow.src, "client-outside"),
        show(flow.dst, "host"),
        flow.dport,
        flow.in_iface.as_deref().unwrap_or("outside interface")
    );
    let mut last_hook = None;
    for s in &t.steps {
        if last_hook != Some(s.hook) {
            let _ = writeln!(out, "\n{}:", s.hook.as_str().to_uppercase());
            last_hook = Some(s.hook);
        }
        let v = match &s.verdict {
            Verdict::Accept { .. } => "accept".to_string(),
            Verdict::Drop { by } => format!("DROP by {}", by.rule),
            Verdict::Unknown { reason, .. } => format!("unknown: {reason}"),
        };
        let _ = writeln!(
            out,
            "  [{:>4}] {} {} {}: {}",
            s.priority, s.stack, s.table, s.chain, v
        );
        for r in &s.matched {
            let src = if r.line > 0 {
                format!("  ({}:{})", r.source, r.line)
            } else {
                String::new()
            };
            let _ = writeln!(out, "         {} {}{}", r.chain, r.rule, src);
        }
        if let Some(rw) = &s.rewrote {
            let _ = writeln!(out, "         -> now to {rw}");
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
                    out_iface.as_deref().unwrap_or("(unknown interface)")
                ),
            }
        );
    }
    let _ = writeln!(
        out,
        "verdict: {}",
        match &t.verdict {
            Verdict::Accept { .. } => "ACCEPTED by every stack".to_string(),
            Verdict::Drop { by } => format!("DROPPED by {}", by.describe()),
            Verdict::Unknown { by, reason } => format!("UNKNOWN at {}: {reason}", by.describe()),
        }
    );
    out
}
