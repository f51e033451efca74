//! One fix plan per host: every finding's fix lines merged into one ordered, deduplicated list
//! of steps, each saying which findings (and published ports) it resolves.
//!
//! A step is either a command (pasted as it is, or applied by a machine from its `argv`) or a
//! sentence for a person (`manual`). Order: every finding's "fix now" lines first (worst finding
//! first), then the lasting ones, each finding's own order kept; a line two findings share is
//! one step. A flush of a stack that holds Docker's rules is followed by the restart of Docker
//! that rebuilds them.

use crate::analyze::Finding;
use crate::analyze::ports::{PortState, PortVerdict};
use crate::model::{Family, Model, Stack};
use serde::Serialize;

/// How a step takes effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StepKind {
    /// A command that fixes it now (lost on reboot or when a daemon rewrites its rules).
    Immediate,
    /// A command that keeps it fixed.
    Lasting,
    /// Something a person does or decides: prose, or a command that needs a value only they
    /// know (it stops with a message until they give it).
    Manual,
}

/// A table a step changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Touch {
    pub stack: Stack,
    pub family: Family,
    pub table: String,
}

/// One step of the plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    pub kind: StepKind,
    /// The command line, exactly as the report shows it (it may end in a `# comment`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// The programs `command` runs, in order, each only when the one before succeeded (`&&`),
    /// with `sudo` dropped: what a tool running as root executes. Empty for a manual step and
    /// for a line that is not such a plain chain of commands.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub argv: Vec<Vec<String>>,
    /// The file the last program's output is saved to (`| sudo tee FILE` in `command`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_to: Option<String>,
    /// The sentence of a manual step without a command, or the comment after a command.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub text: String,
    /// The tables the step changes (empty for a step that only reads or restarts).
    pub touches: Vec<Touch>,
    /// The checks whose findings this step resolves (or helps resolve).
    pub resolves: Vec<&'static str>,
    /// The published ports (`8080/tcp`) it unblocks.
    pub ports: Vec<String>,
}

impl Step {
    /// The line that identifies the step: its command without fwdoctor's trailing comment
    /// (`   # ...`), or its sentence. Two findings asking for the same key share one step.
    pub fn key(&self) -> &str {
        match &self.command {
            Some(c) => c.split("   # ").next().unwrap_or(c).trim_end(),
            None => &self.text,
        }
    }
}

/// Is this fix line a sentence? Prose starts with a capital letter; commands never do.
pub fn is_prose(line: &str) -> bool {
    line.starts_with(|c: char| c.is_ascii_uppercase())
}

/// One of a finding's fix lists ("now" or "for good").
type FixLines = fn(&Finding) -> &Vec<String>;

/// The plan for `findings` (in the order the report shows them).
pub fn plan(model: &Model, findings: &[Finding], ports: &[PortVerdict]) -> Vec<Step> {
    let mut steps: Vec<Step> = Vec::new();
    let restart = restart_docker(model);
    let phases: [(bool, FixLines); 2] = [(true, |f| &f.fix.immediate), (false, |f| &f.fix.lasting)];
    for (now, lines_of) in phases {
        for f in findings {
            let fixed_ports = ports_named(&f.summary, ports);
            for line in lines_of(f) {
                let mut step = step_of(model, line, now);
                if let Some(i) = steps.iter().position(|s| s.key() == step.key()) {
                    let mut old = steps.remove(i);
                    // A restart of Docker goes where it is needed last: after every flush.
                    let keep_here = step.key() != restart;
                    merge(&mut old, f.check, &fixed_ports);
                    if keep_here {
                        steps.insert(i, old);
                        continue;
                    }
                    old.kind = old.kind.min_with(step.kind);
                    step = old;
                } else {
                    merge(&mut step, f.check, &fixed_ports);
                }
                steps.push(step);
            }
        }
    }
    restart_after_flush(model, &mut steps, restart);
    steps
}

impl StepKind {
    /// Of the same command asked for now and for good, "now" wins.
    fn min_with(self, other: StepKind) -> StepKind {
        if self == StepKind::Immediate || other == StepKind::Immediate {
            StepKind::Immediate
        } else {
            self
        }
    }
}

fn merge(step: &mut Step, check: &'static str, ports: &[String]) {
    if !step.resolves.contains(&check) {
        step.resolves.push(check);
    }
    for p in ports {
        if !step.ports.contains(p) {
            step.ports.push(p.clone());
        }
    }
}

/// The blocked ports a finding's summary names ("port 8080/tcp ...").
fn ports_named(summary: &str, ports: &[PortVerdict]) -> Vec<String> {
    let mut out = Vec::new();
    for p in ports.iter().filter(|p| p.verdict == PortState::Blocked) {
        let label = p.port.label();
        if names_port(summary, &label) && !out.contains(&label) {
            out.push(label);
        }
    }
    out
}

/// Does a finding's summary name port `label` (`8080/tcp`) as a port ("port 8080/tcp",
/// "ports 80/tcp, 8080/tcp")?
pub fn names_port(summary: &str, label: &str) -> bool {
    summary.match_indices(label).any(|(i, _)| {
        let before = &summary[..i];
        let after = summary[i + label.len()..].chars().next();
        // `8080/tcp` is not `8080/tcp (IPv6)`: the other family's entry of the same port.
        let other_family = summary[i + label.len()..].starts_with(" (IPv6)");
        (before.ends_with("port ") || before.ends_with("ports ") || before.ends_with(", "))
            && !after.is_some_and(|c| c.is_ascii_alphanumeric())
            && !other_family
    })
}

/// `sudo systemctl restart docker`, or the snap's.
fn restart_docker(model: &Model) -> &'static str {
    if model.docker_is_snap() {
        "sudo snap restart docker"
    } else {
        "sudo systemctl restart docker"
    }
}

/// After the last step that flushes a stack holding Docker's rules, Docker must restart (it
/// re-creates its rules only when it starts): add the restart when no step after it does.
fn restart_after_flush(model: &Model, steps: &mut Vec<Step>, restart: &str) {
    let docker_stacks: Vec<Stack> = model.docker_rules.iter().map(|d| d.stack).collect();
    let Some(last_flush) = steps.iter().rposition(|s| {
        s.argv
            .iter()
            .any(|argv| flushed_stack(argv).is_some_and(|st| docker_stacks.contains(&st)))
    }) else {
        return;
    };
    if steps[last_flush + 1..].iter().any(|s| s.key() == restart) {
        return;
    }
    let resolves = steps[last_flush].resolves.clone();
    let mut step = step_of(model, restart, false);
    step.text = "Docker's own rules were in the flushed tables: it re-creates them".into();
    step.resolves = resolves;
    steps.insert(last_flush + 1, step);
}

/// The stack an iptables `-F` (or `nft flush`) empties.
fn flushed_stack(argv: &[String]) -> Option<Stack> {
    let prog = argv.first()?;
    if prog == "nft" && argv.iter().any(|w| w == "flush") {
        return Some(Stack::Nft);
    }
    let (stack, _) = iptables_program(prog)?;
    argv.iter()
        .any(|w| w == "-F" || w == "--flush")
        .then_some(stack?)
}

/// `iptables-legacy` → (Some(legacy), ip); plain `iptables` → (None, ip): the system's.
fn iptables_program(prog: &str) -> Option<(Option<Stack>, Family)> {
    let (family, rest) = if let Some(r) = prog.strip_prefix("ip6tables") {
        (Family::Ip6, r)
    } else {
        (Family::Ip, prog.strip_prefix("iptables")?)
    };
    let stack = match rest {
        "" => None,
        "-legacy" => Some(Stack::Legacy),
        "-nft" => Some(Stack::IptablesNft),
        _ => return None,
    };
    Some((stack, family))
}

/// One fix line as a step.
fn step_of(model: &Model, line: &str, now: bool) -> Step {
    let mut step = Step {
        kind: if now {
            StepKind::Immediate
        } else {
            StepKind::Lasting
        },
        command: None,
        argv: Vec::new(),
        output_to: None,
        text: String::new(),
        touches: Vec::new(),
        resolves: Vec::new(),
        ports: Vec::new(),
    };
    if is_prose(line) {
        step.kind = StepKind::Manual;
        step.text = line.to_string();
        return step;
    }
    step.command = Some(line.to_string());
    let Some(parsed) = parse_line(line) else {
        // A value only the reader knows (`${TRUSTED_NET:?...}`), or more shell than a chain.
        if line.contains("${") {
            step.kind = StepKind::Manual;
        }
        return step;
    };
    step.text = parsed.comment;
    step.output_to = parsed.output_to;
    step.argv = parsed
        .commands
        .into_iter()
        .map(|mut argv| {
            if argv.first().is_some_and(|w| w == "sudo") {
                argv.remove(0);
            }
            argv
        })
        .collect();
    for argv in &step.argv {
        if let Some(t) = touch(model, argv)
            && !step.touches.contains(&t)
        {
            step.touches.push(t);
        }
    }
    step
}

/// The table one program changes: iptables with a change (`-P -A -I -D -F -X -N -R -Z`) in
/// `-t TABLE` (filter by default), or an nft rule/chain/table change in `FAMILY TABLE`.
fn touch(model: &Model, argv: &[String]) -> Option<Touch> {
    let prog = argv.first()?;
    if prog == "nft" {
        let verb = argv.get(1)?;
        if !["insert", "add", "delete", "flush", "replace"].contains(&verb.as_str()) {
            return None;
        }
        let family = Family::parse(argv.get(3)?)?;
        return Some(Touch {
            stack: Stack::Nft,
            family,
            table: argv.get(4)?.clone(),
        });
    }
    let (stack, family) = iptables_program(prog)?;
    let stack = stack.or(model.system_iptables)?;
    let changes = ["-P", "-A", "-I", "-D", "-F", "-X", "-N", "-R", "-Z"];
    if !argv.iter().any(|w| changes.contains(&w.as_str())) {
        return None;
    }
    let table = argv
        .iter()
        .position(|w| w == "-t" || w == "--table")
        .and_then(|i| argv.get(i + 1))
        .cloned()
        .unwrap_or_else(|| "filter".into());
    Some(Touch {
        stack,
        family,
        table,
    })
}

/// A command line read back into argv: plain words and quotes, `&&` between commands, an
/// optional `| sudo tee FILE [>/dev/null]` at the end, an optional `# comment`.
#[derive(Debug, PartialEq)]
struct ParsedLine {
    commands: Vec<Vec<String>>,
    output_to: Option<String>,
    comment: String,
}

#[derive(Debug, PartialEq)]
enum Token {
    Word(String),
    Op(String),
}

/// `None` when the line holds shell this reader does not model (expansions, `;`, other
/// redirections): such a step is pasted, never applied word by word.
fn parse_line(line: &str) -> Option<ParsedLine> {
    let (tokens, comment) = lex(line)?;
    let mut commands = vec![Vec::new()];
    let mut output_to = None;
    let mut it = tokens.into_iter().peekable();
    while let Some(t) = it.next() {
        match t {
            Token::Word(w) => commands.last_mut()?.push(w),
            Token::Op(op) if op == "&&" => commands.push(Vec::new()),
            Token::Op(op) if op == "|" => {
                let rest: Vec<Token> = it.by_ref().collect();
                let words = |s: &[&str]| s.iter().map(|w| Token::Word(w.to_string())).collect();
                let file = match rest.get(2) {
                    Some(Token::Word(f)) => f.clone(),
                    _ => return None,
                };
                let mut plain: Vec<Token> = words(&["sudo", "tee"]);
                plain.push(Token::Word(file.clone()));
                let mut quiet: Vec<Token> = words(&["sudo", "tee"]);
                quiet.push(Token::Word(file.clone()));
                quiet.push(Token::Op(">".into()));
                quiet.push(Token::Word("/dev/null".into()));
                if rest != plain && rest != quiet {
                    return None;
                }
                output_to = Some(file);
            }
            Token::Op(_) => return None,
        }
    }
    if commands.iter().any(Vec::is_empty) {
        return None;
    }
    Some(ParsedLine {
        commands,
        output_to,
        comment,
    })
}

fn lex(line: &str) -> Option<(Vec<Token>, String)> {
    let mut tokens = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => {
                if let Some(w) = word.take() {
                    tokens.push(Token::Word(w));
                }
            }
            '#' if word.is_none() => {
                let comment: String = chars.collect();
                return Some((tokens, comment.trim().to_string()));
            }
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next()? {
                        '\'' => break,
                        c => w.push(c),
                    }
                }
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next()? {
                        '"' => break,
                        '$' | '`' => return None,
                        '\\' => {
                            let n = chars.next()?;
                            if !"$`\"\\".contains(n) {
                                w.push('\\');
                            }
                            w.push(n);
                        }
                        c => w.push(c),
                    }
                }
            }
            '\\' => word.get_or_insert_with(String::new).push(chars.next()?),
            '$' | '`' | '*' | '?' | '[' | '~' | '(' | ')' | '<' | ';' => return None,
            '&' | '|' | '>' => {
                if let Some(w) = word.take() {
                    tokens.push(Token::Word(w));
                }
                let mut op = c.to_string();
                if c == '&' {
                    chars.next_if_eq(&'&')?;
                    op.push('&');
                } else if chars.peek() == Some(&c) {
                    return None;
                }
                tokens.push(Token::Op(op));
            }
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    if let Some(w) = word.take() {
        tokens.push(Token::Word(w));
    }
    Some((tokens, String::new()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &[&str]) -> Vec<String> {
        s.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn a_command_line_reads_back_into_the_argv_it_runs() {
        let p = parse_line(
            "sudo iptables-legacy -t filter -P FORWARD ACCEPT && sudo iptables-legacy -t filter -F",
        )
        .unwrap();
        assert_eq!(
            p.commands,
            [
                words(&[
                    "sudo",
                    "iptables-legacy",
                    "-t",
                    "filter",
                    "-P",
                    "FORWARD",
                    "ACCEPT"
                ]),
                words(&["sudo", "iptables-legacy", "-t", "filter", "-F"]),
            ]
        );
        let p = parse_line(
            "sudo iptables-legacy-save | sudo tee /root/x.before-fwdoctor >/dev/null   # keep a copy",
        )
        .unwrap();
        assert_eq!(p.commands, [words(&["sudo", "iptables-legacy-save"])]);
        assert_eq!(p.output_to.as_deref(), Some("/root/x.before-fwdoctor"));
        assert_eq!(p.comment, "keep a copy");
        let p =
            parse_line(r#"sudo nft insert rule ip 'my fw' fwd oifname '"br-x"' accept"#).unwrap();
        assert_eq!(p.commands[0][5], "my fw");
        assert_eq!(p.commands[0][8], "\"br-x\"");
        assert_eq!(
            parse_line("sudo iptables -I DOCKER-USER ! -s \"${NET:?set NET}\" -j DROP"),
            None
        );
        assert_eq!(parse_line("sudo iptables-save > /root/x"), None);
        assert_eq!(parse_line("a; b"), None);
        assert_eq!(parse_line("a | grep x"), None);
    }

    #[test]
    fn a_step_names_the_table_it_changes() {
        let model = Model::default();
        let s = step_of(&model, "sudo ip6tables-legacy -t nat -F", false);
        assert_eq!(
            s.touches,
            [Touch {
                stack: Stack::Legacy,
                family: Family::Ip6,
                table: "nat".into()
            }]
        );
        assert_eq!(s.argv, [words(&["ip6tables-legacy", "-t", "nat", "-F"])]);
        let read = step_of(&model, "sudo iptables-legacy-save   # review", true);
        assert!(read.touches.is_empty());
        assert_eq!(read.kind, StepKind::Immediate);
        let prose = step_of(&model, "Find what writes legacy rules.", false);
        assert_eq!(prose.kind, StepKind::Manual);
        assert!(prose.command.is_none());
    }
}
