//! `iptables-save` / `ip6tables-save` text, and the `iptables -S` form, into [`Table`]s.
//!
//! Both forms are read line by line and every rule is decoded into [`Match`]es and an
//! [`Action`]. Whatever the model has no variant for (`-m set`, `--tcp-flags`, `-j NFQUEUE`, ...)
//! is kept as [`Match::Unknown`] / [`Action::Unknown`] with its original text.
//!
//! Structural problems that iptables-restore would also reject (a rule outside a table, a rule
//! for an undeclared chain, a missing `COMMIT`, a line longer than its 10 KiB buffer, a broken
//! quote) are errors naming the file and the line.

use crate::model::{
    Action, AddrType, BaseChain, Chain, ChainAt, Counters, CtState, Dir, Family, Match, OneOrMore,
    Policy, Rule, Stack, Table, Text, iptables_base_chain,
    text::{Source, SourceText},
};
use crate::parse::tokenizer::{Word, quote, split_words_into};
use crate::parse::{ParseError, parallel};
use ipnet::IpNet;
use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::ops::Range;
use std::sync::Arc;

/// The longest line iptables-restore reads whole: its `fgets` buffer is 10240 bytes, the
/// terminating NUL included (measured: 10239 bytes restore, 10240 fail).
pub const MAX_LINE_BYTES: usize = 10239;

/// Parse a save dump (or `-S` output) read from `file`, belonging to `stack` and `family`.
///
/// The form is detected: text with a `*table` line is a save dump, otherwise it is read as
/// `iptables -S` output (`-P`, `-N`, `-A` lines, optionally with `-c PKTS BYTES`). An `-S`
/// listing names no table, so the table is inferred from its `-P` chains (`PREROUTING`,
/// `INPUT`, `OUTPUT`, `POSTROUTING` is `nat`, ...; `filter` when unsure). Several listings
/// pasted one after the other (`iptables -S; iptables -t nat -S`) give several tables: a `-P`
/// line after `-N`/`-A` lines, or a repeated `-P`, starts the next one.
///
/// `#` lines and blank lines are skipped, CRLF line ends are accepted. Comparing tables:
/// [`Rule::line`] and [`Chain::line`] are 1-based line numbers in `text`.
pub fn parse(
    text: &str,
    file: &str,
    stack: Stack,
    family: Family,
) -> Result<Vec<Table>, ParseError> {
    parse_shared(&Arc::new(text.into()), file, stack, family)
}

/// [`parse`] of text held in a shared buffer: the rules' texts, comments and names are slices
/// of it ([`Text`]), not copies.
pub fn parse_shared(
    source: &Source,
    file: &str,
    stack: Stack,
    family: Family,
) -> Result<Vec<Table>, ParseError> {
    let text: &str = source;
    if u32::try_from(text.len()).is_err() {
        return Err(ParseError::new(
            file,
            0,
            "larger than 4 GiB: not an iptables-save dump fwdoctor reads",
        ));
    }
    let save_form = lines(text).any(|l| l.text.starts_with('*'));
    let ctx = Ctx {
        file,
        stack,
        family,
        source,
        has_nul: memchr::memchr(0, text.as_bytes()).is_some(),
        tables_complete: save_form,
    };
    if save_form {
        parse_save(text, &ctx)
    } else {
        parse_listing(text, &ctx)
    }
}

/// Render tables as `iptables-save -c` would: `*table`, chain lines (`[0:0]` when a chain has
/// no counters), rules as their [`Rule::text`] with a `[p:b]` prefix when they have counters,
/// and `COMMIT`. [`parse`] reads the result back into equal tables (line numbers aside).
pub fn print(tables: &[Table]) -> String {
    let mut out = String::new();
    for t in tables {
        let _ = writeln!(out, "*{}", t.name);
        for c in &t.chains {
            match &c.base {
                Some(b) => {
                    let k = b.counters.unwrap_or_default();
                    let _ = writeln!(out, ":{} {} [{}:{}]", c.name, b.policy, k.packets, k.bytes);
                }
                None => {
                    let _ = writeln!(out, ":{} - [0:0]", c.name);
                }
            }
        }
        for c in &t.chains {
            for r in &c.rules {
                if let Some(k) = &r.counters {
                    let _ = write!(out, "[{}:{}] ", k.packets, k.bytes);
                }
                if r.text.is_empty() {
                    let _ = write!(out, "-A {}", c.name);
                } else {
                    out.push_str(&r.text);
                }
                end_line(&mut out);
            }
        }
        out.push_str("COMMIT\n");
    }
    out
}

/// End a printed line. A line that ends in `\r` gets a space first: the reader takes `\r\n`
/// for a CRLF line end, where the `\r` was the end of the rule's last word (to iptables too,
/// which splits words on space, tab and newline only).
fn end_line(out: &mut String) {
    if out.ends_with('\r') {
        out.push(' ');
    }
    out.push('\n');
}

#[derive(Clone, Copy)]
struct Ctx<'a> {
    file: &'a str,
    stack: Stack,
    family: Family,
    /// The whole text being parsed.
    source: &'a Source,
    /// The text holds a NUL byte somewhere (checked once, not per line).
    has_nul: bool,
    /// Rules are decoded once every chain of their table is known (the save form), so a
    /// jump to a missing chain is unknown at once; the `-S` form resolves jumps at its end.
    tables_complete: bool,
}

impl<'a> Ctx<'a> {
    /// This context with its texts cut from `handle`, a [`SourceText::handle`] on the same
    /// source: one per worker thread.
    fn cutting_from<'b>(&self, handle: &'b Source) -> Ctx<'b>
    where
        'a: 'b,
    {
        Ctx {
            source: handle,
            ..*self
        }
    }

    /// `part` of the source as a [`Text`] sharing its buffer (copied if it is not a slice of
    /// the source, e.g. a quoted word with escapes).
    fn text(&self, part: &str) -> Text {
        Text::slice_of(self.source, part)
    }

    fn err(&self, line: usize, msg: impl Into<String>) -> ParseError {
        ParseError::new(self.file, line, msg)
    }

    fn new_table(&self, name: &str) -> Table {
        Table::new(self.stack, self.family, name, self.file)
    }
}

/// A non-blank, non-comment line: its 1-based number, the text trimmed, the length before
/// trimming (without the line end).
struct Line<'a> {
    n: usize,
    text: &'a str,
    raw_len: usize,
}

fn lines(text: &str) -> Lines<'_> {
    Lines { text, pos: 0, n: 0 }
}

/// The non-blank, non-comment lines of a text, with a way to jump ahead (past a rule block
/// decoded elsewhere).
struct Lines<'a> {
    text: &'a str,
    /// Byte offset of the next line; past the end when done.
    pos: usize,
    /// Number of the line before `pos`.
    n: usize,
}

impl<'a> Lines<'a> {
    /// Go on at byte `pos` (a line start), which is line `n + 1`.
    fn skip_to(&mut self, pos: usize, n: usize) {
        self.pos = pos;
        self.n = n;
    }
}

impl<'a> Iterator for Lines<'a> {
    type Item = Line<'a>;
    fn next(&mut self) -> Option<Line<'a>> {
        while self.pos <= self.text.len() {
            let rest = &self.text[self.pos..];
            let raw = match memchr::memchr(b'\n', rest.as_bytes()) {
                Some(end) => &rest[..end],
                None => rest,
            };
            self.pos += raw.len() + 1;
            self.n += 1;
            if let Some(line) = significant(raw) {
                return Some(Line {
                    n: self.n,
                    text: line,
                    raw_len: raw.strip_suffix('\r').unwrap_or(raw).len(),
                });
            }
        }
        None
    }
}

/// A raw line (without its `\n`) trimmed, unless it is blank or a `#` comment.
fn significant(raw: &str) -> Option<&str> {
    // Blanks as iptables splits words on them: a vertical tab or a no-break space at the end
    // of a line is part of its last word, not space to trim.
    let l = raw
        .strip_suffix('\r')
        .unwrap_or(raw)
        .trim_matches([' ', '\t']);
    (!l.is_empty() && !l.starts_with('#')).then_some(l)
}

/// `text.split('\n')`, with a vectorised search for the line ends (a tenth of the time of
/// the sequential pass over a big dump went to `str::split`).
fn split_lines(text: &str) -> impl Iterator<Item = &str> {
    let mut start = 0;
    let mut ends = memchr::memchr_iter(b'\n', text.as_bytes());
    let mut done = false;
    std::iter::from_fn(move || {
        if done {
            return None;
        }
        let line = match ends.next() {
            Some(end) => &text[start..end],
            None => {
                done = true;
                &text[start..]
            }
        };
        start += line.len() + 1;
        Some(line)
    })
}

/// A line iptables-restore could read: at most [`MAX_LINE_BYTES`], and no NUL byte (the C
/// tools stop at one, so a save never holds it: it means binary data or a corrupt file).
fn check_line(ctx: &Ctx, n: usize, raw_len: usize, text: &str) -> Result<(), ParseError> {
    if ctx.has_nul
        && let Some(col) = text.bytes().position(|b| b == 0)
    {
        return Err(ctx.err(
            n,
            format!(
                "NUL byte at column {}: not iptables-save text (binary data?)",
                col + 1
            ),
        ));
    }
    if raw_len > MAX_LINE_BYTES {
        return Err(ctx.err(
            n,
            format!(
                "line is {raw_len} bytes long; iptables-restore reads at most {MAX_LINE_BYTES}"
            ),
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Save form
// ---------------------------------------------------------------------------------------------

/// The save form in two passes. The first, sequential, reads the structure (`*table`, chain
/// lines, `COMMIT`) and sets each rule line aside with its chain; at `COMMIT` the table's rule
/// lines are decoded on every core ([`parallel`]) and appended in file order. Errors are the
/// ones a single pass would meet first: a structural error at line L is reported only after
/// the rule lines before L decoded cleanly.
fn parse_save(text: &str, ctx: &Ctx) -> Result<Vec<Table>, ParseError> {
    let mut tables: Vec<Table> = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut open: Option<OpenTable> = None;
    let mut last_line = 0;
    // A structural error: first decode what came before it, whose error would come first.
    let fail = |open: Option<OpenTable>, err: ParseError| match open {
        Some(o) => finish_table(o, ctx).err().unwrap_or(err),
        None => err,
    };

    let mut cursor = lines(text);
    while let Some(Line {
        n,
        text: line,
        raw_len,
    }) = cursor.next()
    {
        last_line = n;
        if let Err(e) = check_line(ctx, n, raw_len, line) {
            return Err(fail(open, e));
        }
        if let Some(o) = open.as_mut()
            && o.rules.is_empty()
            && (line.starts_with('-') || line.starts_with('['))
        {
            // The table's rules start here: as iptables-save writes them, one block up to
            // `COMMIT`, decoded on every core with nothing else in between.
            let start = line_start(text, line);
            let end = memchr::memmem::find(&text.as_bytes()[start..], b"\nCOMMIT")
                .map_or(text.len(), |i| start + i + 1);
            match rule_block(&text[start..end], n, &mut o.table, ctx) {
                Ok(Some(read)) => {
                    cursor.skip_to(end, n - 1 + read.lines);
                    last_line = read.last_rule;
                    continue;
                }
                Ok(None) => {}
                Err(e) => return Err(e),
            }
        }
        if let Some(name) = line.strip_prefix('*') {
            if let Some(o) = open {
                let msg = format!(
                    "COMMIT expected before `*{name}`: table `{}` opened at line {} is not committed",
                    o.table.name, o.at
                );
                return Err(fail(Some(o), ctx.err(n, msg)));
            }
            let name = name.trim();
            if name.is_empty() || name.contains(char::is_whitespace) {
                return Err(ctx.err(n, format!("bad table line `{line}`")));
            }
            if let Some(prev) = seen.get(name) {
                return Err(ctx.err(
                    n,
                    format!("table `{name}` appears twice (first at line {prev})"),
                ));
            }
            seen.insert(name.to_string(), n);
            let mut table = ctx.new_table(name);
            table.reserve_chains(chain_lines_after(text, cursor.pos));
            open = Some(OpenTable {
                table,
                at: n,
                rules: Vec::new(),
                last_chain: None,
            });
        } else if line == "COMMIT" {
            let Some(o) = open.take() else {
                return Err(ctx.err(
                    n,
                    "COMMIT without an open table (no `*table` line before it)",
                ));
            };
            tables.push(finish_table(o, ctx)?);
        } else if let Some(decl) = line.strip_prefix(':') {
            let Some(o) = open.as_mut() else {
                return Err(ctx.err(n, "chain line before any `*table` line"));
            };
            match chain_decl(decl, &o.table.name, ctx) {
                Ok(c) => {
                    let name = c.name.clone();
                    if !o.table.add_new_chain(Chain { line: n, ..c }) {
                        let e = ctx.err(n, format!("chain `{name}` declared twice"));
                        return Err(fail(open, e));
                    }
                }
                Err(m) => return Err(fail(open, ctx.err(n, m))),
            }
        } else if line.starts_with('-') || line.starts_with('[') {
            let Some(o) = open.as_mut() else {
                return Err(ctx.err(n, "rule before any `*table` line"));
            };
            o.set_aside(n, line, text);
        } else {
            let e = ctx.err(n, format!("unrecognised line `{}`", abbreviate(line)));
            return Err(fail(open, e));
        }
    }
    if let Some(o) = open {
        let msg = format!(
            "COMMIT expected at line {}: table `{}` opened at line {} never ends",
            last_line + 1,
            o.table.name,
            o.at
        );
        return Err(fail(Some(o), ctx.err(last_line, msg)));
    }
    Ok(tables)
}

/// The chain lines right after a `*table` line (which ends at byte `from`), blank and comment
/// lines aside: as iptables-save writes a table, all of its chains, so the table reserves its
/// chain list and name index once instead of regrowing them (a chain declared further down
/// only costs a regrowth). Counted on the declaration block alone, not the whole dump.
fn chain_lines_after(text: &str, from: usize) -> usize {
    split_lines(text.get(from..).unwrap_or_default())
        .map(str::trim_start)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .take_while(|l| l.starts_with(':'))
        .count()
}

/// A table between its `*name` and its `COMMIT`.
struct OpenTable<'a> {
    table: Table,
    /// The line of `*name`.
    at: usize,
    /// Rule lines, decoded at `COMMIT`.
    rules: Vec<PendingRule>,
    /// The chain of the previous rule line (iptables-save groups rules by chain).
    last_chain: Option<(&'a str, u32)>,
}

/// A rule line set aside: its number, where it is in the text, and its chain. 16 bytes, as a
/// 250k-rule dump holds a quarter million of them until `COMMIT`.
struct PendingRule {
    n: u32,
    start: u32,
    len: u32,
    /// The chain's index when the `-A NAME` could be read off without the tokenizer;
    /// otherwise [`CHAIN_LATER`] plus how many chains were declared above the line (like
    /// iptables-restore, a rule may only name a chain declared before it).
    chain: u32,
}

/// The chain is found when the rule is decoded (an unusual `-A` line, or an undeclared chain,
/// which is an error then).
const CHAIN_LATER: u32 = 1 << 31;

impl PendingRule {
    fn line<'t>(&self, text: &'t str) -> &'t str {
        &text[self.start as usize..(self.start + self.len) as usize]
    }
}

/// The chain `name` of `table`, looked for first among the few declared after the previous
/// rule's chain: iptables-save prints rules chain by chain in declaration order, so the next
/// chain with rules is usually right there, and the hash lookup (a cache miss on a big table)
/// is saved.
fn chain_after(table: &Table, name: &str, previous: Option<usize>) -> Option<usize> {
    let next = previous.map_or(0, |i| i + 1);
    let ahead = table.chains.get(next..).unwrap_or_default();
    ahead
        .iter()
        .take(4)
        .position(|c| c.name == name)
        .map(|k| next + k)
        .or_else(|| table.chain_index(name))
}

impl<'a> OpenTable<'a> {
    /// `line` (a slice of `text`, which is at most 4 GiB) for decoding at `COMMIT`.
    fn set_aside(&mut self, n: usize, line: &'a str, text: &str) {
        let chain = match quick_chain(line) {
            Some(name) => match self.last_chain {
                Some((last, i)) if last == name => i,
                last => match chain_after(&self.table, name, last.map(|(_, i)| i as usize)) {
                    Some(i) => {
                        let i = i as u32;
                        self.last_chain = Some((name, i));
                        i
                    }
                    None => CHAIN_LATER | self.table.chains.len() as u32,
                },
            },
            None => CHAIN_LATER | self.table.chains.len() as u32,
        };
        self.rules.push(PendingRule {
            n: n as u32,
            start: (line.as_ptr() as usize - text.as_ptr() as usize) as u32,
            len: line.len() as u32,
            chain,
        });
    }
}

/// The chain of `[p:b] -A NAME ...` when NAME is a plain word, else None.
fn quick_chain(line: &str) -> Option<&str> {
    let rest = if line.starts_with('[') {
        line[line.find(']')? + 1..].trim_start()
    } else {
        line
    };
    let rest = rest.strip_prefix("-A ")?;
    let end = rest
        .bytes()
        .position(|b| b == b' ' || b == b'\t')
        .unwrap_or(rest.len());
    let name = &rest[..end];
    (!name.is_empty() && !name.contains('"')).then_some(name)
}

/// Byte offset of the start of the line holding `part` (a slice of `text`).
fn line_start(text: &str, part: &str) -> usize {
    let at = part.as_ptr() as usize - text.as_ptr() as usize;
    memchr::memrchr(b'\n', &text.as_bytes()[..at]).map_or(0, |i| i + 1)
}

/// Bytes per piece of a rule block handed to one core: at most this many...
const PIECE: usize = 256 << 10;
/// ...and at least this many (a thread hand-off per piece stays noise), aiming at
/// [`PIECES_PER_CORE`] pieces per core so that the cores finish together on a small block.
const MIN_PIECE: usize = 32 << 10;
const PIECES_PER_CORE: usize = 8;

/// What a piece of a rule block gave: its rules, in runs of one chain (iptables-save groups
/// a chain's rules, so most chains are one run), each in a vector of exactly its size, ready
/// to become the chain's rules.
struct Piece {
    runs: Vec<(usize, Vec<Rule>)>,
}

/// A rule block read by [`rule_block`].
struct BlockRead {
    /// Lines in the block, blank and comment lines included.
    lines: usize,
    /// The line of its last rule.
    last_rule: usize,
}

/// Why a piece could not be decoded here.
enum PieceStop {
    /// A line that is not a rule (a chain or table line among the rules): the table is read
    /// line by line instead, which keeps its exact order of errors and declarations.
    Irregular,
    /// An error at `line`.
    Bad(usize, String),
}

/// A table's block of rule lines, `block` (whole lines, the first at line `first`), decoded
/// in pieces on every core while nothing else is read: the sequential pass never sees these
/// lines. Some(lines in the block) when done; None when the block holds a line that is not a
/// rule (then nothing was changed, and the table is read line by line).
fn rule_block(
    block: &str,
    first: usize,
    table: &mut Table,
    ctx: &Ctx,
) -> Result<Option<BlockRead>, ParseError> {
    // Pieces of whole lines, each with the number of its first line.
    let piece_len = (block.len() / (parallel::cores() * PIECES_PER_CORE)).clamp(MIN_PIECE, PIECE);
    let mut pieces = Vec::with_capacity(block.len() / piece_len + 1);
    let (mut at, mut n) = (0, first);
    while at < block.len() {
        let end = match block.get(at + piece_len..) {
            Some(rest) => memchr::memchr(b'\n', rest.as_bytes())
                .map_or(block.len(), |i| at + piece_len + i + 1),
            None => block.len(),
        };
        let piece = &block[at..end];
        pieces.push((piece, n));
        n += memchr::memchr_iter(b'\n', piece.as_bytes()).count();
        at = end;
    }
    let lines_in_block = n - first + usize::from(!block.ends_with('\n'));
    let mut rules: Vec<Vec<Rule>> = table
        .chains
        .iter_mut()
        .map(|c| std::mem::take(&mut c.rules))
        .collect();
    let shared = &*table;
    let mut last_rule = first;
    let outcome = parallel::for_each_in_order(
        &pieces,
        |&(piece, n)| decode_piece(piece, n, ctx, shared),
        |p: Piece| {
            if let Some(r) = p.runs.last().and_then(|(_, run)| run.last()) {
                last_rule = r.line;
            }
            for (chain, run) in p.runs {
                let v = &mut rules[chain];
                if v.is_empty() {
                    *v = run;
                } else {
                    v.extend(run);
                }
            }
        },
    );
    for (chain, r) in table.chains.iter_mut().zip(rules) {
        chain.rules = r;
    }
    match outcome {
        Ok(()) => {
            for c in &mut table.chains {
                c.rules.shrink_to_fit();
            }
            Ok(Some(BlockRead {
                lines: lines_in_block,
                last_rule,
            }))
        }
        Err(PieceStop::Irregular) => {
            for c in &mut table.chains {
                c.rules = Vec::new();
            }
            Ok(None)
        }
        Err(PieceStop::Bad(line, msg)) => Err(ctx.err(line, msg)),
    }
}

/// Decode one piece of a rule block, whose first line is line `first`.
fn decode_piece(piece: &str, first: usize, ctx: &Ctx, table: &Table) -> Result<Piece, PieceStop> {
    let handle = SourceText::handle(ctx.source);
    let ctx = &ctx.cutting_from(&handle);
    let mut words = Vec::new();
    let mut scratch = Vec::new();
    let mut runs = Vec::new();
    // The current run of one chain's rules, moved into a vector of its size when it ends.
    let mut run: Vec<Rule> = Vec::new();
    let mut run_chain = usize::MAX;
    let end_run = |chain: usize, run: &mut Vec<Rule>, runs: &mut Vec<(usize, Vec<Rule>)>| {
        if !run.is_empty() {
            let mut exact = Vec::with_capacity(run.len());
            exact.append(run);
            runs.push((chain, exact));
        }
    };
    // The chain of the previous rule, by its name in the line.
    let mut last: Option<(&str, usize)> = None;
    let mut cursor = lines(piece);
    cursor.skip_to(0, first - 1);
    for Line {
        n,
        text: line,
        raw_len,
    } in cursor
    {
        let bad = |e: ParseError| PieceStop::Bad(n, e.message);
        check_line(ctx, n, raw_len, line).map_err(bad)?;
        if !(line.starts_with('-') || line.starts_with('[')) {
            return Err(PieceStop::Irregular);
        }
        let bad = |m: String| PieceStop::Bad(n, m);
        let (prefix, rest) = split_counter_prefix(line).map_err(bad)?;
        split_words_into(rest, &mut words).map_err(bad)?;
        let r = rule_line(rest, &words, prefix, ctx, table, &mut scratch).map_err(bad)?;
        let chain = match (quick_chain(line), last) {
            (Some(name), Some((prev, i))) if name == prev => Some(i),
            (Some(name), _) => {
                let i = chain_after(table, name, last.map(|(_, i)| i));
                last = i.map(|i| (name, i));
                i
            }
            (None, _) => table.chain_index(r.chain),
        };
        let Some(chain) = chain else {
            return Err(PieceStop::Bad(
                n,
                format!(
                    "rule for chain `{}`, which is not declared in table `{}`",
                    r.chain, table.name
                ),
            ));
        };
        if chain != run_chain {
            end_run(run_chain, &mut run, &mut runs);
            run_chain = chain;
        }
        run.push(Rule {
            line: n,
            text: r.text,
            matches: r.matches.into(),
            action: r.action,
            counters: r.counters.map(Box::new),
            handle: None,
        });
    }
    end_run(run_chain, &mut run, &mut runs);
    Ok(Piece { runs })
}

/// Decode the table's rule lines (in parallel) and append them to their chains, in order.
fn finish_table(o: OpenTable, ctx: &Ctx) -> Result<Table, ParseError> {
    let mut table = o.table;
    if o.rules.is_empty() {
        // No rule lines, or one block decoded already (`rule_block`).
        return Ok(table);
    }
    // Exact capacities: most chains of a big ruleset hold one to three rules, where growth
    // slack would be half the memory of the rules.
    let mut counts = vec![0usize; table.chains.len()];
    for r in &o.rules {
        if let Some(c) = counts.get_mut(r.chain as usize) {
            *c += 1;
        }
    }
    let mut rules: Vec<Vec<Rule>> = counts.into_iter().map(Vec::with_capacity).collect();
    let shared = &table;
    parallel::for_each_chunk_in_order(
        &o.rules,
        |chunk| decode_rules(chunk, ctx, shared),
        |decoded| {
            for (chain, rule) in decoded {
                rules[chain].push(rule);
            }
        },
    )?;
    for (chain, r) in table.chains.iter_mut().zip(rules) {
        chain.rules = r;
    }
    Ok(table)
}

/// Decode rule lines of `table`: each rule with the index of its chain.
fn decode_rules(
    pending: &[PendingRule],
    ctx: &Ctx,
    table: &Table,
) -> Result<Vec<(usize, Rule)>, ParseError> {
    let mut words = Vec::new();
    let mut scratch = Vec::new();
    let mut out = Vec::with_capacity(pending.len());
    let handle = SourceText::handle(ctx.source);
    let ctx = &ctx.cutting_from(&handle);
    let text: &str = ctx.source;
    for p in pending {
        let n = p.n as usize;
        let (prefix, rest) = split_counter_prefix(p.line(text)).map_err(|m| ctx.err(n, m))?;
        split_words_into(rest, &mut words).map_err(|m| ctx.err(n, m))?;
        let r =
            rule_line(rest, &words, prefix, ctx, table, &mut scratch).map_err(|m| ctx.err(n, m))?;
        let chain = if p.chain & CHAIN_LATER != 0 {
            let declared = table
                .chain_index(r.chain)
                .filter(|&i| i < (p.chain & !CHAIN_LATER) as usize);
            declared.ok_or_else(|| {
                ctx.err(
                    n,
                    format!(
                        "rule for chain `{}`, which is not declared in table `{}`",
                        r.chain, table.name
                    ),
                )
            })?
        } else {
            p.chain as usize
        };
        out.push((
            chain,
            Rule {
                line: n,
                text: r.text,
                matches: r.matches.into(),
                action: r.action,
                counters: r.counters.map(Box::new),
                handle: None,
            },
        ));
    }
    Ok(out)
}

/// `NAME POLICY [p:b]` after the `:`.
fn chain_decl(decl: &str, table: &str, ctx: &Ctx) -> Result<Chain, String> {
    // Words as iptables-restore splits them (`strtok(" \t\n")`): a `\r` or a no-break space is
    // part of a name, as it is in the tokenizer that reads `-N` and `-A` lines.
    // (A function rather than the pattern `[' ', '\t', '\n']`: together with the `[0:0]` short cut
    // below, 5 % off reading 37k chain lines.)
    fn blank(c: char) -> bool {
        matches!(c, ' ' | '\t' | '\n')
    }
    let (name, policy, counters) = match decl.strip_suffix(" - [0:0]") {
        // The line of nearly every chain of a big table, read without splitting it.
        Some(name)
            if !name.is_empty()
                && memchr::memchr3(b' ', b'\t', b'\n', name.as_bytes()).is_none() =>
        {
            (name, "-", Some(Counters::default()))
        }
        _ => {
            let mut it = decl.split(blank).filter(|w| !w.is_empty());
            let (Some(name), Some(policy)) = (it.next(), it.next()) else {
                return Err(format!(
                    "bad chain line `:{decl}`, expected `:CHAIN POLICY [PKTS:BYTES]`"
                ));
            };
            let counters = it.next().map(parse_counters).transpose()?;
            if let Some(extra) = it.next() {
                return Err(format!("unexpected `{extra}` after the chain counters"));
            }
            (name, policy, counters)
        }
    };
    let base = match iptables_base_chain(table, name) {
        Some((hook, priority, chain_type)) => Some(BaseChain {
            hook,
            priority,
            chain_type,
            policy: parse_policy(policy)?,
            counters,
        }),
        None if policy == "-" => None,
        None => {
            return Err(format!(
                "`{name}` is not a built-in chain of table `{table}`, so its policy must be `-`, not `{policy}`"
            ));
        }
    };
    Ok(Chain {
        name: ctx.text(name),
        base,
        rules: Vec::new(),
        line: 0,
    })
}

fn parse_policy(s: &str) -> Result<Policy, String> {
    match s {
        "ACCEPT" => Ok(Policy::Accept),
        "DROP" => Ok(Policy::Drop),
        _ => Err(format!(
            "bad policy `{s}` for a built-in chain (ACCEPT or DROP)"
        )),
    }
}

/// `[12:720]`.
fn parse_counters(s: &str) -> Result<Counters, String> {
    if s == "[0:0]" {
        // Every user chain's line, and every line of a dump taken without `-c`.
        return Ok(Counters::default());
    }
    let bad = || format!("bad counters `{s}`, expected `[PKTS:BYTES]`");
    let inner = s
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .ok_or_else(bad)?;
    let (p, b) = inner.split_once(':').ok_or_else(bad)?;
    Ok(Counters {
        packets: p.parse().map_err(|_| bad())?,
        bytes: b.parse().map_err(|_| bad())?,
    })
}

/// `[p:b] -A ...` -> counters and the rest (trimmed).
fn split_counter_prefix(line: &str) -> Result<(Option<Counters>, &str), String> {
    if !line.starts_with('[') {
        return Ok((None, line));
    }
    let end = line
        .find(']')
        .ok_or_else(|| format!("bad counters in `{}`", abbreviate(line)))?;
    let counters = parse_counters(&line[..=end])?;
    Ok((Some(counters), line[end + 1..].trim_start()))
}

// ---------------------------------------------------------------------------------------------
// `iptables -S` form
// ---------------------------------------------------------------------------------------------

struct Listing {
    table: Table,
    /// Chains with a `-P` line: (name, policy, counters, line).
    policies: Vec<(Text, Policy, Option<Counters>, usize)>,
    /// The listing's first line.
    line: usize,
    /// A `-N` or `-A` line was seen, so the next `-P` starts another listing.
    past_policies: bool,
}

fn parse_listing(text: &str, ctx: &Ctx) -> Result<Vec<Table>, ParseError> {
    let mut tables = Vec::new();
    let mut cur: Option<Listing> = None;
    let mut words = Vec::new();
    let mut scratch = Vec::new();

    for Line {
        n,
        text: line,
        raw_len,
    } in lines(text)
    {
        check_line(ctx, n, raw_len, line)?;
        split_words_into(line, &mut words).map_err(|m| ctx.err(n, m))?;
        let Some(cmd) = words.first().filter(|w| !w.quoted) else {
            return Err(ctx.err(n, format!("unrecognised line `{}`", abbreviate(line))));
        };
        match cmd.text.as_ref() {
            "-P" | "--policy" => {
                let (name, policy, counters) =
                    policy_line(&words, ctx).map_err(|m| ctx.err(n, m))?;
                let restart = cur.as_ref().is_some_and(|l| {
                    l.past_policies || l.policies.iter().any(|(c, ..)| *c == name)
                });
                if restart && let Some(done) = cur.take() {
                    finish_listing(done, ctx, &mut tables)?;
                }
                let l = cur.get_or_insert_with(|| new_listing(ctx, n));
                l.table.add_chain(Chain {
                    name: name.clone(),
                    base: None,
                    rules: Vec::new(),
                    line: n,
                });
                l.policies.push((name, policy, counters, n));
            }
            "-N" | "--new-chain" => {
                let name = match &words[1..] {
                    [w] => w.text.as_ref(),
                    _ => return Err(ctx.err(n, "expected `-N CHAIN`")),
                };
                // What `iptables -N` refuses, and what a save dump could not name (its chain
                // lines split on blanks): a listing holding it is not `iptables -S` output.
                if name.is_empty()
                    || name.starts_with(['-', '!'])
                    || name.contains([' ', '\t', '\n'])
                {
                    return Err(ctx.err(n, format!("bad chain name `{name}` in `-N`")));
                }
                let l = cur.get_or_insert_with(|| new_listing(ctx, n));
                l.past_policies = true;
                if l.table.chain(name).is_some() {
                    return Err(ctx.err(n, format!("chain `{name}` declared twice")));
                }
                l.table.add_chain(Chain {
                    name: ctx.text(name),
                    base: None,
                    rules: Vec::new(),
                    line: n,
                });
            }
            "-A" | "--append" => {
                let l = cur.get_or_insert_with(|| new_listing(ctx, n));
                l.past_policies = true;
                let rule = rule_line(line, &words, None, ctx, &l.table, &mut scratch)
                    .map_err(|m| ctx.err(n, m))?;
                add_rule(&mut l.table, rule, n).map_err(|m| ctx.err(n, m))?;
            }
            _ => {
                return Err(ctx.err(
                    n,
                    format!(
                        "unrecognised line `{}`: an `iptables -S` listing has only -P, -N and -A lines",
                        abbreviate(line)
                    ),
                ));
            }
        }
    }
    if let Some(l) = cur {
        finish_listing(l, ctx, &mut tables)?;
    }
    Ok(tables)
}

fn new_listing(ctx: &Ctx, line: usize) -> Listing {
    Listing {
        table: ctx.new_table("filter"),
        policies: Vec::new(),
        past_policies: false,
        line,
    }
}

/// `-P CHAIN POLICY [-c PKTS BYTES]`.
fn policy_line(words: &[Word], ctx: &Ctx) -> Result<(Text, Policy, Option<Counters>), String> {
    match words {
        [_, chain, policy] => Ok((ctx.text(&chain.text), parse_policy(&policy.text)?, None)),
        [_, chain, policy, c, p, b] if c.is("-c") || c.is("--set-counters") => Ok((
            ctx.text(&chain.text),
            parse_policy(&policy.text)?,
            Some(counter_pair(&p.text, &b.text)?),
        )),
        _ => Err("expected `-P CHAIN POLICY`".to_string()),
    }
}

fn counter_pair(p: &str, b: &str) -> Result<Counters, String> {
    let bad = || format!("bad counters `-c {p} {b}`");
    Ok(Counters {
        packets: p.parse().map_err(|_| bad())?,
        bytes: b.parse().map_err(|_| bad())?,
    })
}

/// Name the table after its `-P` chains and give those chains their base-chain facts.
/// Name the table after its `-P` chains, give those chains their base-chain facts, and add
/// the table to `tables`.
fn finish_listing(mut l: Listing, ctx: &Ctx, tables: &mut Vec<Table>) -> Result<(), ParseError> {
    let names: Vec<&str> = l.policies.iter().map(|(c, ..)| c.as_str()).collect();
    let table_name = infer_table(&names);
    l.table.name = table_name.to_string();
    if let Some(prev) = tables.iter().find(|t| t.name == table_name) {
        let first = prev.chains.first().map_or(0, |c| c.line);
        return Err(ctx.err(
            l.line,
            format!(
                "a second listing of table `{table_name}` (the first starts at line {first}); \
                 give each listing its own input"
            ),
        ));
    }
    for (name, policy, counters, line) in &l.policies {
        let Some((hook, priority, chain_type)) = iptables_base_chain(table_name, name) else {
            return Err(ctx.err(
                *line,
                format!("`-P {name}`: `{name}` is not a built-in chain of table `{table_name}`"),
            ));
        };
        if let Some(chain) = l.table.chain_mut(name) {
            chain.base = Some(BaseChain {
                hook,
                priority,
                chain_type,
                policy: *policy,
                counters: *counters,
            });
        }
    }
    resolve_jumps(&mut l.table, ctx);
    tables.push(l.table);
    Ok(())
}

/// The table whose built-in chains are exactly `chains`, else the first that has them all.
fn infer_table(chains: &[&str]) -> &'static str {
    const TABLES: [&str; 5] = ["filter", "nat", "mangle", "raw", "security"];
    const HOOKS: [&str; 5] = ["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"];
    let has_all = |t: &str| chains.iter().all(|c| iptables_base_chain(t, c).is_some());
    let builtins = |t: &str| {
        HOOKS
            .iter()
            .filter(|h| iptables_base_chain(t, h).is_some())
            .count()
    };
    TABLES
        .iter()
        .find(|t| has_all(t) && builtins(t) == chains.len())
        .or_else(|| TABLES.iter().find(|t| has_all(t)))
        .copied()
        .unwrap_or("filter")
}

// ---------------------------------------------------------------------------------------------
// Rules
// ---------------------------------------------------------------------------------------------

struct RuleLine<'a> {
    chain: &'a str,
    text: Text,
    matches: Vec<Match>,
    action: Action,
    counters: Option<Counters>,
}

/// `-A CHAIN ...` (already split into `words`) -> the chain and the decoded rule. `counters`
/// are those of a `[p:b]` prefix, if the line had one.
fn rule_line<'a>(
    line: &'a str,
    words: &'a [Word],
    counters: Option<Counters>,
    ctx: &Ctx,
    table: &Table,
    scratch: &mut Vec<Match>,
) -> Result<RuleLine<'a>, String> {
    match words.first() {
        Some(w) if w.is("-A") || w.is("--append") => {}
        Some(w) if !w.quoted && w.text.starts_with('-') => {
            return Err(format!(
                "unsupported command `{}`: only `-A CHAIN ...` rules are read",
                w.text
            ));
        }
        _ => return Err(format!("unrecognised line `{}`", abbreviate(line))),
    }
    let Some(chain) = words.get(1) else {
        return Err("`-A` without a chain name".to_string());
    };
    let d = decode(line, &words[2..], counters, ctx, table, scratch)?;
    let text = match d.cut {
        // Only the tokenizer's blanks: a `\r` before `-c` is part of a word, not space.
        Some(cut) => Text::from(format!(
            "{}{}",
            line[..cut.start].trim_end_matches([' ', '\t', '\n']),
            &line[cut.end..]
        )),
        None => ctx.text(line),
    };
    Ok(RuleLine {
        chain: &chain.text,
        text,
        matches: d.matches,
        action: d.action,
        counters: d.counters,
    })
}

/// Append a decoded rule to its chain, which must be declared: iptables-restore rejects a rule
/// for an unknown chain.
fn add_rule(t: &mut Table, r: RuleLine, line: usize) -> Result<(), String> {
    let Some(chain) = t.chain_mut(r.chain) else {
        return Err(format!(
            "rule for chain `{}`, which is not declared in table `{}`",
            r.chain, t.name
        ));
    };
    chain.rules.push(Rule {
        line,
        text: r.text,
        matches: r.matches.into(),
        action: r.action,
        counters: r.counters.map(Box::new),
        handle: None,
    });
    Ok(())
}

/// `-S` form: jumps and gotos were decoded by name while chains were still being declared;
/// those naming no chain of the finished table become unknown.
fn resolve_jumps(t: &mut Table, ctx: &Ctx) {
    // The table is complete: give back the growth slack of its vectors (a third of the memory
    // of a big ruleset, where most chains hold two or three rules).
    for c in &mut t.chains {
        c.rules.shrink_to_fit();
    }
    let mut missing = Vec::new();
    let mut found = Vec::new();
    for (ci, c) in t.chains.iter().enumerate() {
        for (ri, r) in c.rules.iter().enumerate() {
            if let Action::Jump { chain, at } | Action::Goto { chain, at } = &r.action
                && at.get().is_none()
            {
                match t.chain_index(chain) {
                    Some(i) => found.push((ci, ri, ChainAt::of(i))),
                    None => missing.push((ci, ri)),
                }
            }
        }
    }
    for (ci, ri, found_at) in found {
        if let Action::Jump { at, .. } | Action::Goto { at, .. } =
            &mut t.chains[ci].rules[ri].action
        {
            *at = found_at;
        }
    }
    // Such a rule is read again as a save dump's rule is, its table known whole: the same
    // line gives the same rule in both forms.
    let complete = Ctx {
        tables_complete: true,
        ..*ctx
    };
    let mut scratch = Vec::new();
    let mut decoded = Vec::with_capacity(missing.len());
    for (ci, ri) in missing {
        let r = &t.chains[ci].rules[ri];
        let line: &str = r.text.as_str();
        let action = crate::parse::tokenizer::split_words(line)
            .ok()
            .and_then(|words| {
                rule_line(line, &words, None, &complete, t, &mut scratch)
                    .ok()
                    .map(|again| again.action)
            });
        decoded.push((ci, ri, action));
    }
    for (ci, ri, action) in decoded {
        let r = &mut t.chains[ci].rules[ri];
        r.action = match action {
            Some(a) => a,
            None => match &r.action {
                Action::Goto { chain, .. } => Action::Unknown {
                    text: Text::from(format!("-g {}", quote(chain.as_str()))),
                },
                Action::Jump { chain, .. } => Action::Unknown {
                    text: Text::from(format!("-j {}", quote(chain.as_str()))),
                },
                _ => continue,
            },
        };
    }
}

struct Decoded {
    matches: Vec<Match>,
    action: Action,
    counters: Option<Counters>,
    /// Byte range of an inline `-c PKTS BYTES` to cut from the rule text.
    cut: Option<Range<usize>>,
}

/// Target names that let the packet go on to the next rule.
#[rustfmt::skip]
const CONTINUE_TARGETS: &[&str] = &[
    "LOG", "NFLOG", "ULOG", "MARK", "CONNMARK", "TRACE", "CHECKSUM", "TCPMSS", "CT", "NOTRACK",
    "CLASSIFY", "AUDIT", "SET", "DSCP", "TOS", "TTL", "HL", "IDLETIMER", "LED", "SECMARK",
    "CONNSECMARK", "ECN", "TEE", "HMARK", "RATEEST",
];

/// Target names whose effect the model cannot tell.
#[rustfmt::skip]
const OTHER_TARGETS: &[&str] = &[
    "QUEUE", "NFQUEUE", "TPROXY", "NETMAP", "SYNPROXY", "CLUSTERIP", "TARPIT", "DNPT", "SNPT",
    "MIRROR",
];

/// The source text from word `a` to word `b` (inclusive).
fn raw<'a>(line: &'a str, words: &[Word], a: usize, b: usize) -> &'a str {
    &line[words[a].span.start..words[b].span.end]
}

/// Index past the values following the option at `i`: quoted words and words not starting
/// with `-` (and not `!`).
fn values_end(words: &[Word], i: usize) -> usize {
    // Free text: iptables takes the next word as the value whatever it looks like, and
    // iptables-save prints a lone `-` bare (`--comment -`).
    if FREE_TEXT_OPTIONS.contains(&words[i].text.as_ref()) && i + 1 < words.len() {
        return i + 2;
    }
    let mut j = i + 1;
    while j < words.len() && (words[j].quoted || !(words[j].is_option() || words[j].is_bang())) {
        j += 1;
    }
    j
}

/// Options whose single value is free text.
const FREE_TEXT_OPTIONS: &[&str] = &["--comment", "--log-prefix", "--nflog-prefix"];

/// One option of a match extension: `[!] --name value...`.
#[derive(Clone, Copy)]
struct ModOpt<'w> {
    negated: bool,
    name: &'w str,
    values: &'w [Word<'w>],
    /// Word range, `!` included.
    first: usize,
    last: usize,
}

/// Decode the words after `-A CHAIN`. `scratch` is a buffer the caller keeps from rule to
/// rule: matches gather there and leave in a vector of exactly their number (one allocation
/// per rule instead of a growing and a shrinking one).
fn decode(
    line: &str,
    words: &[Word],
    counters: Option<Counters>,
    ctx: &Ctx,
    table: &Table,
    scratch: &mut Vec<Match>,
) -> Result<Decoded, String> {
    let family = ctx.family;
    let unknown = |text: &str| Match::Unknown {
        text: ctx.text(text),
    };
    scratch.clear();
    let mut d = Decoded {
        matches: std::mem::take(scratch),
        action: Action::Continue { name: None },
        counters,
        cut: None,
    };
    let mut have_target = false;
    let mut proto: Option<Text> = None;
    let mut i = 0;
    while i < words.len() {
        let start = i;
        let negated = words[i].is_bang();
        if negated {
            i += 1;
        }
        let Some(w) = words.get(i) else {
            return Err("`!` at the end of the rule".to_string());
        };
        if w.quoted || !w.text.starts_with('-') {
            return Err(format!("bad argument `{}`", w.text));
        }
        let opt = w.text.as_ref();
        let value = |k: usize| -> Result<&str, String> {
            match words.get(k) {
                Some(v) if v.quoted || !(v.is_option() || v.is_bang()) => Ok(v.text.as_ref()),
                _ => Err(format!("option `{opt}` needs a value")),
            }
        };
        match opt {
            "-s" | "--source" | "--src" | "-d" | "--destination" | "--dst" => {
                let v = value(i + 1)?;
                let dir = if opt.starts_with("-s") || opt.starts_with("--s") {
                    Dir::Src
                } else {
                    Dir::Dst
                };
                d.matches.push(match parse_nets(v, family) {
                    Some(nets) => Match::Addr { dir, negated, nets },
                    None => unknown(raw(line, words, start, i + 1)),
                });
                i += 2;
            }
            "-i" | "--in-interface" | "-o" | "--out-interface" => {
                let v = value(i + 1)?;
                let dir = if opt.starts_with("-i") || opt.starts_with("--i") {
                    Dir::Src
                } else {
                    Dir::Dst
                };
                d.matches.push(Match::Iface {
                    dir,
                    negated,
                    names: ctx.text(v).into(),
                });
                i += 2;
            }
            "-p" | "--protocol" => {
                let v = value(i + 1)?;
                match proto_name(v) {
                    Some(p) if p == "all" && !negated => {}
                    Some(p) if p != "all" => {
                        let p = match p {
                            Cow::Borrowed(p) => ctx.text(p),
                            Cow::Owned(p) => Text::from(p),
                        };
                        if !negated {
                            proto = Some(p.clone());
                        }
                        d.matches.push(Match::Proto { negated, proto: p });
                    }
                    _ => d.matches.push(unknown(raw(line, words, start, i + 1))),
                }
                i += 2;
            }
            "-f" | "--fragment" => {
                d.matches.push(unknown(raw(line, words, start, i)));
                i += 1;
            }
            "-m" | "--match" => {
                if negated {
                    return Err("`!` cannot negate `-m`".to_string());
                }
                let name = value(i + 1)?;
                let (opts, next) = module_opts(words, i + 2);
                let text = |a: usize, b: usize| -> String {
                    format!("{} {}", raw(line, words, i, i + 1), raw(line, words, a, b))
                };
                let whole = raw(line, words, i, next.saturating_sub(1).max(i + 1));
                check_arity(name, &opts)?;
                decode_module(name, &opts, whole, &text, ctx, &mut d.matches);
                i = next;
            }
            "-j" | "--jump" | "-g" | "--goto" => {
                if negated {
                    return Err(format!("`!` cannot negate `{opt}`"));
                }
                if have_target {
                    return Err("more than one target (`-j`/`-g`) in the rule".to_string());
                }
                have_target = true;
                let name = value(i + 1)?;
                let end = target_end(words, i + 2);
                let text = raw(line, words, i, end - 1);
                d.action = if opt.starts_with("-g") || opt == "--goto" {
                    match table.chain_index(name) {
                        None if ctx.tables_complete => Action::Unknown {
                            text: ctx.text(text),
                        },
                        at => Action::Goto {
                            chain: ctx.text(name),
                            at: at.map_or(ChainAt::UNKNOWN, ChainAt::of),
                        },
                    }
                } else {
                    decode_target(name, &words[i + 2..end], text, ctx, table)
                };
                i = end;
            }
            "-c" | "--set-counters" => {
                if negated {
                    return Err("`!` cannot negate `-c`".to_string());
                }
                // iptables takes counters once ("multiple -c flags not allowed"), and
                // `iptables-restore -c` turns a `[p:b]` prefix into `-c p b`.
                if d.counters.is_some() {
                    return Err("counters given twice (`-c` or a `[p:b]` prefix)".to_string());
                }
                let (p, b) = (value(i + 1)?, value(i + 2)?);
                // The rule's text is kept without `-c PKTS BYTES`, so what follows must not be
                // something the option or target before it would take in once the counters
                // are cut: only the end of the rule or a short option (`iptables -S -v` prints
                // ` -c P B` right before ` -j`).
                if let Some(w) = words.get(i + 3)
                    && (w.quoted
                        || w.text.starts_with("--")
                        || !w.text.starts_with('-')
                        || w.text.len() < 2)
                {
                    return Err(format!(
                        "`-c {p} {b}` followed by `{}`: counters end the matches, before `-j`",
                        w.text
                    ));
                }
                d.counters = Some(counter_pair(p, b)?);
                d.cut = Some(words[start].span.start..words[i + 2].span.end);
                i += 3;
            }
            o if o.starts_with("--") => {
                // An extension option with no `-m` before it: iptables loads the protocol's
                // match implicitly (`-p tcp --dport 22`).
                let (opts, next) = module_opts(words, start);
                let name = proto.as_deref().unwrap_or_default();
                let text = |a: usize, b: usize| raw(line, words, a, b).to_string();
                let whole = raw(line, words, start, next - 1);
                if name.is_empty() {
                    d.matches.push(unknown(whole));
                } else {
                    check_arity(name, &opts)?;
                    decode_module(name, &opts, whole, &text, ctx, &mut d.matches);
                }
                i = next;
            }
            _ => {
                let end = values_end(words, i);
                d.matches.push(unknown(raw(line, words, start, end - 1)));
                i = end;
            }
        }
    }
    let exact: Vec<Match> = d.matches.drain(..).collect();
    *scratch = std::mem::replace(&mut d.matches, exact);
    Ok(d)
}

/// The options of one match extension, as word positions: kept inline up to
/// [`ModOpts::INLINE`] (every module Docker and kube-proxy write has one to three), so decoding
/// a rule allocates nothing for them, and small (12 bytes an option), so returning them copies
/// little: with the options themselves inline (56 bytes each) that copy was 5 % of a parse.
struct ModOpts<'w> {
    words: &'w [Word<'w>],
    inline: [OptSpan; ModOpts::INLINE],
    len: usize,
    /// All of them, once there are more than fit inline.
    spilled: Vec<OptSpan>,
}

/// Where one option sits among the words: `[!] --name values...` from `first` to before `end`.
#[derive(Clone, Copy, Default)]
struct OptSpan {
    negated: bool,
    first: u32,
    end: u32,
}

impl<'w> ModOpts<'w> {
    const INLINE: usize = 6;

    fn new(words: &'w [Word<'w>]) -> ModOpts<'w> {
        ModOpts {
            words,
            inline: [OptSpan::default(); ModOpts::INLINE],
            len: 0,
            spilled: Vec::new(),
        }
    }

    fn push(&mut self, o: OptSpan) {
        if self.len < ModOpts::INLINE {
            self.inline[self.len] = o;
        } else {
            if self.spilled.is_empty() {
                self.spilled.extend_from_slice(&self.inline);
            }
            self.spilled.push(o);
        }
        self.len += 1;
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn iter(&self) -> impl Iterator<Item = ModOpt<'w>> + '_ {
        let spans = if self.spilled.is_empty() {
            &self.inline[..self.len]
        } else {
            &self.spilled[..]
        };
        let words = self.words;
        spans.iter().map(move |s| {
            let (first, end) = (s.first as usize, s.end as usize);
            let name = first + usize::from(s.negated);
            ModOpt {
                negated: s.negated,
                name: words[name].text.as_ref(),
                values: &words[name + 1..end],
                first,
                last: end - 1,
            }
        })
    }
}

/// The `[!] --opt values...` after `-m NAME`, from word `i`; returns them and the index past.
fn module_opts<'w>(words: &'w [Word<'w>], mut i: usize) -> (ModOpts<'w>, usize) {
    let mut opts = ModOpts::new(words);
    let position = |i: usize| u32::try_from(i).expect("fewer than 4 billion words in a line");
    loop {
        let first = i;
        let negated = words.get(i).is_some_and(Word::is_bang);
        let k = if negated { i + 1 } else { i };
        match words.get(k) {
            Some(w) if !w.quoted && w.text.starts_with("--") => {
                let end = values_end(words, k);
                opts.push(OptSpan {
                    negated,
                    first: position(first),
                    end: position(end),
                });
                i = end;
            }
            _ => return (opts, first),
        }
    }
}

/// Where the target's options end: at the next short option (`-c`, `-m`, ...) or the end.
fn target_end(words: &[Word], mut i: usize) -> usize {
    while let Some(w) = words.get(i) {
        if !w.quoted && w.text.starts_with('-') && !w.text.starts_with("--") && w.text.len() > 1 {
            break;
        }
        i += 1;
    }
    i
}

/// The options we decode take exactly one value; like iptables, reject a missing value or a
/// stray word after it (`--comment "ab"cd` is `Bad argument `cd'`).
fn check_arity(module: &str, opts: &ModOpts) -> Result<(), String> {
    for o in opts.iter() {
        let single = match module {
            "tcp" | "udp" | "sctp" | "udplite" | "dccp" => matches!(
                o.name,
                "--dport" | "--destination-port" | "--sport" | "--source-port"
            ),
            "multiport" => matches!(
                o.name,
                "--dports" | "--destination-ports" | "--sports" | "--source-ports" | "--ports"
            ),
            "conntrack" => matches!(o.name, "--ctstate" | "--ctorigdstport" | "--ctorigdst"),
            "state" => o.name == "--state",
            "addrtype" => matches!(o.name, "--dst-type" | "--src-type"),
            "comment" => o.name == "--comment",
            _ => false,
        };
        match o.values {
            [_] => {}
            [] if single => return Err(format!("option `{}` needs a value", o.name)),
            [_, extra, ..] if single => return Err(format!("bad argument `{}`", extra.text)),
            _ => {}
        }
    }
    Ok(())
}

/// Decode `-m name opts`. `whole` is the module's full text, `text(a, b)` renders `-m name`
/// followed by the words `a..=b`.
fn decode_module(
    name: &str,
    opts: &ModOpts,
    whole: &str,
    text: &dyn Fn(usize, usize) -> String,
    ctx: &Ctx,
    out: &mut Vec<Match>,
) {
    let family = ctx.family;
    let unknown = |text: &str| Match::Unknown {
        text: ctx.text(text),
    };
    let other = |o: &ModOpt| Match::Unknown {
        text: Text::from(text(o.first, o.last)),
    };
    match name {
        "tcp" | "udp" | "sctp" | "udplite" | "dccp" => {
            for o in opts.iter() {
                let dir = match o.name {
                    "--dport" | "--destination-port" => Some(Dir::Dst),
                    "--sport" | "--source-port" => Some(Dir::Src),
                    _ => None,
                };
                let range = match o.values {
                    [v] => port_range(&v.text, ':'),
                    _ => None,
                };
                out.push(match (dir, range) {
                    (Some(dir), Some(r)) => Match::Port {
                        dir,
                        negated: o.negated,
                        ranges: r.into(),
                    },
                    _ => other(&o),
                });
            }
        }
        "multiport" => {
            for o in opts.iter() {
                let dir = match o.name {
                    "--dports" | "--destination-ports" => Some(Dir::Dst),
                    "--sports" | "--source-ports" => Some(Dir::Src),
                    _ => None,
                };
                let ranges = match o.values {
                    [v] => port_list(&v.text),
                    _ => None,
                };
                out.push(match (dir, ranges) {
                    (Some(dir), Some(ranges)) => Match::Port {
                        dir,
                        negated: o.negated,
                        ranges,
                    },
                    _ => other(&o),
                });
            }
        }
        "conntrack" | "state" => {
            for o in opts.iter() {
                let one = match o.values {
                    [v] => Some(v.text.as_ref()),
                    _ => None,
                };
                let negated = o.negated;
                let m = match (name, o.name, one) {
                    ("conntrack", "--ctstate", Some(v)) | ("state", "--state", Some(v)) => {
                        ct_states(v).map(|states| Match::CtState { negated, states })
                    }
                    ("conntrack", "--ctorigdstport", Some(v)) => {
                        port_range(v, ':').map(|r| Match::CtOrigDstPort {
                            negated,
                            ranges: r.into(),
                        })
                    }
                    ("conntrack", "--ctorigdst", Some(v)) => {
                        parse_nets(v, family).map(|nets| Match::CtOrigDst { negated, nets })
                    }
                    _ => None,
                };
                out.push(m.unwrap_or_else(|| other(&o)));
            }
        }
        "addrtype" => {
            let limited = opts
                .iter()
                .any(|o: ModOpt| matches!(o.name, "--limit-iface-in" | "--limit-iface-out"));
            if limited || opts.is_empty() {
                out.push(unknown(whole));
                return;
            }
            for o in opts.iter() {
                let dir = match o.name {
                    "--dst-type" => Some(Dir::Dst),
                    "--src-type" => Some(Dir::Src),
                    _ => None,
                };
                let types = match o.values {
                    [v] => addr_types(&v.text),
                    _ => None,
                };
                out.push(match (dir, types) {
                    (Some(dir), Some(types)) => Match::AddrType {
                        dir,
                        negated: o.negated,
                        types,
                    },
                    _ => other(&o),
                });
            }
        }
        "comment" => {
            for o in opts.iter() {
                out.push(match (o.name, o.values, o.negated) {
                    ("--comment", [v], false) => Match::Comment {
                        text: ctx.text(&v.text),
                    },
                    _ => other(&o),
                });
            }
        }
        _ => out.push(unknown(whole)),
    }
}

fn decode_target(name: &str, opts: &[Word], text: &str, ctx: &Ctx, table: &Table) -> Action {
    let family = ctx.family;
    // The standard verdicts come before chains, as in libiptc (`iptcc_map_target`), which
    // also refuses to create chains of these names.
    let verdict = matches!(name, "ACCEPT" | "DROP" | "RETURN" | "QUEUE");
    if opts.is_empty()
        && !verdict
        && let Some(at) = table.chain_index(name)
    {
        return Action::Jump {
            chain: ctx.text(name),
            at: ChainAt::of(at),
        };
    }
    let unknown = || Action::Unknown {
        text: ctx.text(text),
    };
    // The value of the target option `--name`, when it is given exactly once with one value.
    let only = |names: &[&str]| -> Option<Option<&str>> {
        let mut found = None;
        let mut i = 0;
        while i < opts.len() {
            if !opts[i].quoted && names.contains(&opts[i].text.as_ref()) {
                if found.is_some() {
                    return None;
                }
                match opts.get(i + 1) {
                    Some(v) if v.quoted || !v.is_option() => {
                        found = Some(v.text.as_ref());
                        i += 1;
                    }
                    _ => return None,
                }
            }
            i += 1;
        }
        Some(found)
    };
    match name {
        "ACCEPT" => Action::Accept,
        "DROP" => Action::Drop,
        "REJECT" => Action::Reject,
        "RETURN" => Action::Return,
        "SNAT" => Action::Snat,
        "MASQUERADE" => Action::Masquerade,
        "DNAT" => match only(&["--to-destination", "--to"]) {
            Some(None) => Action::Dnat {
                addr: None,
                port: None,
            },
            Some(Some(v)) => match dnat_target(v, family) {
                Some((addr, port)) => Action::Dnat { addr, port },
                None => unknown(),
            },
            None => unknown(),
        },
        "REDIRECT" => match only(&["--to-ports", "--to-port"]) {
            Some(None) => Action::Redirect { port: None },
            Some(Some(v)) => match port_range(v, '-') {
                Some(r) => Action::Redirect { port: Some(r) },
                None => unknown(),
            },
            None => unknown(),
        },
        n if CONTINUE_TARGETS.contains(&n) => Action::Continue {
            name: Some(ctx.text(n)),
        },
        n if OTHER_TARGETS.contains(&n) || !opts.is_empty() || n.is_empty() => unknown(),
        // Not a chain of the table (which is complete), nor a target we know.
        _ if ctx.tables_complete => unknown(),
        // A chain declared later (`-S` form) -- checked by `resolve_jumps`.
        n => Action::jump(ctx.text(n)),
    }
}

// ---------------------------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------------------------

/// The protocol's name as the model compares it: lower case, numbers named. Borrowed when
/// the word already is that name (`tcp`, the common case).
fn proto_name(v: &str) -> Option<Cow<'_, str>> {
    if matches!(v, "tcp" | "udp" | "icmp" | "sctp") {
        return Some(Cow::Borrowed(v));
    }
    let lower = v.to_ascii_lowercase();
    let named = match lower.as_str() {
        "0" => "all",
        "1" => "icmp",
        "2" => "igmp",
        "6" => "tcp",
        "17" => "udp",
        "33" => "dccp",
        "41" => "ipv6",
        "47" => "gre",
        "50" => "esp",
        "51" => "ah",
        "58" => "ipv6-icmp",
        "132" => "sctp",
        "136" => "udplite",
        "icmpv6" => "ipv6-icmp",
        s if !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
        {
            return Some(Cow::Owned(lower));
        }
        _ => return None,
    };
    Some(Cow::Owned(named.to_string()))
}

/// `A[/LEN|/MASK][,A...]`, of the table's family. A bare address is a host (/32, /128).
fn parse_nets(v: &str, family: Family) -> Option<OneOrMore<IpNet>> {
    v.split(',').map(|one| parse_net(one, family)).collect()
}

fn parse_net(v: &str, family: Family) -> Option<IpNet> {
    let (addr, mask) = match v.split_once('/') {
        Some((a, m)) => (a, Some(m)),
        None => (v, None),
    };
    let addr: IpAddr = addr.parse().ok()?;
    let fits = match family {
        Family::Ip => addr.is_ipv4(),
        Family::Ip6 => addr.is_ipv6(),
        _ => true,
    };
    if !fits {
        return None;
    }
    let max: u8 = if addr.is_ipv4() { 32 } else { 128 };
    let len = match mask {
        None => max,
        Some(m) if !m.is_empty() && m.bytes().all(|b| b.is_ascii_digit()) => m.parse().ok()?,
        Some(m) => {
            let mask: IpAddr = m.parse().ok()?;
            if mask.is_ipv4() != addr.is_ipv4() {
                return None;
            }
            mask_len(mask)?
        }
    };
    IpNet::new(addr, len).ok().map(|n| n.trunc())
}

/// Prefix length of a contiguous netmask (`255.255.255.0` -> 24).
fn mask_len(mask: IpAddr) -> Option<u8> {
    let (bits, width) = match mask {
        IpAddr::V4(m) => (u128::from(u32::from(m)) << 96, 32),
        IpAddr::V6(m) => (u128::from(m), 128),
    };
    let ones = bits.leading_ones();
    (bits.checked_shl(ones).unwrap_or(0) == 0 && ones <= width).then_some(ones as u8)
}

/// `P`, `P{sep}Q`, `{sep}Q`, `P{sep}`.
fn port_range(v: &str, sep: char) -> Option<(u16, u16)> {
    let port = |s: &str, default: u16| -> Option<u16> {
        if s.is_empty() {
            Some(default)
        } else if s.bytes().all(|b| b.is_ascii_digit()) {
            s.parse().ok()
        } else {
            None
        }
    };
    let (lo, hi) = match v.split_once(sep) {
        Some((a, b)) => (port(a, 0)?, port(b, u16::MAX)?),
        None if !v.is_empty() => {
            let p = port(v, 0)?;
            (p, p)
        }
        None => return None,
    };
    (lo <= hi).then_some((lo, hi))
}

/// multiport `a,b:c`.
fn port_list(v: &str) -> Option<OneOrMore<(u16, u16)>> {
    v.split(',').map(|p| port_range(p, ':')).collect()
}

fn ct_states(v: &str) -> Option<OneOrMore<CtState>> {
    v.split(',').map(CtState::parse).collect()
}

fn addr_types(v: &str) -> Option<OneOrMore<AddrType>> {
    v.split(',')
        .map(|t| {
            Some(match t.to_ascii_uppercase().as_str() {
                "LOCAL" => AddrType::Local,
                "UNICAST" => AddrType::Unicast,
                "BROADCAST" => AddrType::Broadcast,
                "MULTICAST" => AddrType::Multicast,
                "UNSPEC" | "ANYCAST" | "BLACKHOLE" | "UNREACHABLE" | "PROHIBIT" | "THROW"
                | "NAT" | "XRESOLVE" => AddrType::Other,
                _ => return None,
            })
        })
        .collect()
}

/// The new destination of a DNAT: address and port range, either may be absent.
type DnatTo = (Option<IpAddr>, Option<(u16, u16)>);

/// DNAT `--to-destination`: `A`, `A:P`, `A:P-Q`, `:P`, `[A6]:P`, bare `A6`. Address ranges
/// and port bases (`/B`) give None: the model has one address and one port range.
fn dnat_target(v: &str, family: Family) -> Option<DnatTo> {
    let (addr, port) = if let Some(rest) = v.strip_prefix('[') {
        let (a, after) = rest.split_once(']')?;
        match after {
            "" => (a, None),
            p => (a, Some(p.strip_prefix(':')?)),
        }
    } else if family == Family::Ip6 || v.matches(':').count() > 1 {
        (v, None)
    } else {
        match v.split_once(':') {
            Some((a, p)) => (a, Some(p)),
            None => (v, None),
        }
    };
    let addr = if addr.is_empty() {
        None
    } else {
        let a: IpAddr = addr.parse().ok()?;
        let fits = match family {
            Family::Ip => a.is_ipv4(),
            Family::Ip6 => a.is_ipv6(),
            _ => true,
        };
        if !fits {
            return None;
        }
        Some(a)
    };
    let port = match port {
        Some(p) => Some(port_range(p, '-')?),
        None => None,
    };
    if addr.is_none() && port.is_none() {
        return None;
    }
    Some((addr, port))
}

fn abbreviate(line: &str) -> String {
    const MAX: usize = 80;
    match line.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}...", &line[..i]),
        None => line.to_string(),
    }
}
