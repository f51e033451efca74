//! `nft list ruleset` text (also `nft list table …`, `nft -a -s list …`, and files in the same
//! syntax such as `/etc/nftables.conf`) into [`Table`]s.
//!
//! # One mapping for text and JSON
//!
//! The text is not mapped onto the model directly: each table, set, map, chain and rule is
//! written as the object `nft -j list ruleset` prints for it (the JSON tree of
//! [`crate::parse::nft_json`]), and that parser's builder turns them into tables. So a ruleset
//! read as text and as JSON gives the same model (`tests/nft_differential.rs` checks it against
//! real nft: load into a private network namespace, dump both ways, compare), apart from what
//! only one format carries: line numbers (text), handles (JSON, and text with `-a`), and the
//! source file name.
//!
//! # What is read
//!
//! * `table FAMILY NAME { … }` (family `ip` when left out), with `chain`, `set` and `map`
//!   blocks; other objects (`counter`, `quota`, `flowtable`, `ct helper`, …) are skipped but
//!   mark the table as native, as in JSON.
//! * Base chains: `type T hook H [device D] priority P; policy X;` where P is a number or a
//!   keyword with an offset (`filter + 10`, `dstnat`, `srcnat - 5`, `raw`, `mangle`,
//!   `security`; the bridge family's own `filter` = -200, `out`, `dstnat`, `srcnat`).
//! * Rules, one per line (an anonymous set may span lines), with `counter packets N bytes M`,
//!   `comment "…"` and `# handle N`. Statements the mapping knows become the JSON objects nft
//!   prints for them; anything else (`xt match "addrtype"` and other untranslated iptables
//!   extensions, `numgen`, `tcp option …`) is kept as an opaque unknown match with its text. An
//!   opaque rule without a verdict the parser can see has an unknown action: the trace reports
//!   `unknown` rather than guessing.
//! * `# Warning: table ip nat is managed by iptables-nft, do not touch!` (nft's stderr, often
//!   pasted with the ruleset) marks that table as iptables-nft's.
//! * File syntax: `flush ruleset`, `define NAME = VALUE` / `$NAME`, `add table|chain|rule …`,
//!   `#` comments, `;` separators, `\` line continuations. `include` is only resolved by
//!   [`parse_with_includes`]; [`parse`] rejects it.
//!
//! # Which tables are iptables-nft's
//!
//! The JSON parser's test (see its docs), with one difference: nft prints iptables-nft's `xt`
//! expressions translated (`-m conntrack --ctstate` as `ct state`, `-j DNAT` as `dnat to`), so in
//! text those native-looking statements do not make a table native. A table written by
//! `iptables-restore-translate` (`ip filter` with uppercase builtin chains and native
//! expressions) therefore reads as iptables-nft from text and as native from JSON.
//!
//! # Errors
//!
//! Structure errors (unbalanced braces, unknown family, hook, type or priority, a chain outside a
//! table, an undefined `$variable`, an unterminated string) name the file and line; a rule
//! statement the parser does not know is never an error (it is kept opaque).
//!
//! # On every core
//!
//! Plain `nft list ruleset` text (no `include`, `define` or `$`; each table in one block, its
//! sets before its chains) is cut into pieces of chain lines, parsed on every core
//! ([`crate::parse::parallel`]) and put together in file order: the same model and the same
//! first error as on one thread ([`parse_in_pieces`]; any other text is read on one thread).

use crate::model::{Chain, Family, Rule, Table};
use crate::parse::ParseError;
use crate::parse::nft_json::{self, Builder, J, RuleContext, unqualified_meta};
use crate::parse::parallel;
use std::borrow::Cow;
use std::collections::HashMap;
use std::net::IpAddr;

/// Parse `nft list ruleset` text. `file` names the input in errors and `Table::source`.
pub fn parse(text: &str, file: &str) -> Result<Vec<Table>, ParseError> {
    parse_with_includes(text, file, &mut |_, line| {
        Err(ParseError::new(
            file,
            line,
            "`include` is not read here (only in files on disk)",
        ))
    })
}

/// An `include "PATH"` resolver: the text of the included file and the name to report it by.
pub type IncludeResolver<'r> =
    dyn FnMut(&str, usize) -> Result<Vec<(String, String)>, ParseError> + 'r;

/// [`parse`], with `include "PATH"` lines replaced by the files `resolve` returns for PATH (a
/// glob may give several; errors in them name their own file and line).
pub fn parse_with_includes(
    text: &str,
    file: &str,
    resolve: &mut IncludeResolver<'_>,
) -> Result<Vec<Table>, ParseError> {
    if parallel::cores() > 1
        && let Some(result) = parse_in_pieces(text, file, PIECE_LINES)
    {
        return result;
    }
    let mut sources: Vec<Source<'_>> = vec![(file.to_string(), Cow::Borrowed(text))];
    // About one token per 4 bytes of `nft list ruleset` text: reserved once, not regrown.
    let mut toks = Vec::with_capacity(text.len() / 4 + 16);
    let mut defines = HashMap::new();
    tokenize_into(0, &mut sources, &mut toks, &mut defines, resolve, 0, 1)?;
    let mut p = Parser::new(&toks, &sources, Target::Build(Builder::new(file)));
    p.ruleset()?;
    match p.target {
        Target::Build(b) => b.finish(),
        Target::Collect(_) => Err(ParseError::new(file, 0, "internal: no builder")),
    }
}

// ---------------------------------------------------------------------------------------------
// The text cut in pieces and parsed on every core.
//
// `nft list ruleset` text is tables of chain blocks, one rule a line. When the text has no
// `include`, `define`, `$variable` or `\` line continuation, and a cheap line scan (braces
// counted outside strings and comments; the lines scanned on every core, then walked in order)
// finds only that shape, the chain blocks are cut into
// pieces of about [`PIECE_LINES`] lines at chain boundaries, and inside a chain at a rule line's
// end (a big chain such as kube's KUBE-SERVICES splits too). The rest, the skeleton (table
// lines, sets, maps, other objects, comments before tables), is parsed first by the one-thread
// parser into the builder; each piece is then tokenized and parsed on a worker
// (`parse::parallel`), its rules converted there with its table's sets by the builder's own
// code, and the chains handed to the builder's tables in file order as the pieces come back
// (while later ones are still parsed; the tables reserve their chains first). Exactly the one-thread model,
// because the planner only accepts texts where the builder would see the same thing: every
// table in one block, its sets and other objects before its first chain (so a rule converted
// early sees the sets the builder would convert it with), no chain outside a chain line. Each
// piece's tokens carry their real lines; the first error in file order is the one returned
// (`for_each_in_order`). Anything else, or an error in the skeleton, is left to the one-thread
// parse of the whole text (the skeleton's error might not be the first).

/// Lines per piece: enough that a hand-over is noise, small enough that the pieces' tokens
/// stay in cache and both cores stay busy to the end.
const PIECE_LINES: usize = 1024;

/// What a text cut in pieces is made of.
#[derive(Default)]
struct Plan<'s> {
    /// The lines outside the pieces, as (first line, text) runs in file order.
    skeleton: Vec<(usize, &'s str)>,
    /// The tables, in file order (each declared once).
    tables: Vec<(Family, &'s str)>,
    /// Chain blocks in each table (reserved in the model before the chains come).
    chains: Vec<usize>,
    pieces: Vec<Piece<'s>>,
}

/// Consecutive lines of one table's chain blocks.
struct Piece<'s> {
    /// Into [`Plan::tables`].
    table: usize,
    first_line: usize,
    text: &'s str,
    /// The chain the piece starts inside (its block opened, and a rule read, in the piece
    /// before).
    inside: Option<&'s str>,
    /// The piece stops inside a chain (after a rule line; the next piece continues it).
    ends_inside: bool,
}

/// Why a piece gave no chains.
enum PieceError {
    Parse(ParseError),
    /// Not what the planner promised: parse the whole text on one thread.
    Unsure,
}

impl Collector<'_> {
    fn unsure(&mut self) -> ParseError {
        self.unsure = true;
        ParseError::new(self.file, 0, "internal: not a piece of chains")
    }
}

/// Chain lines that are settings, not rules (the chain is declared at its first rule).
const CHAIN_SETTINGS: &[&[u8]] = &[b"type", b"policy", b"comment", b"devices", b"flags"];

/// One line as the planner sees it.
struct LineScan<'l> {
    /// The code: the line up to a comment, trimmed.
    code: &'l [u8],
    /// The first word (or `{`, `}`, `;`), empty for a blank or comment line.
    first: &'l [u8],
    /// Braces: the change over the line, and its lowest point (from 0 at the line's start).
    delta: i32,
    min: i32,
}

/// Bytes the line scan stops at (a table: one load a byte, the scan's whole cost).
static SCAN_STOP: [bool; 256] = {
    let mut t = [false; 256];
    let stops = *b"\"#{};$\\";
    let mut i = 0;
    while i < stops.len() {
        t[stops[i] as usize] = true;
        i += 1;
    }
    t
};

fn scan_stop(c: u8) -> bool {
    SCAN_STOP[c as usize]
}

/// At a statement start: `define` or `include` (which only the one-thread parser reads).
fn file_syntax_at(l: &[u8], mut i: usize) -> bool {
    while i < l.len() && matches!(l[i], b' ' | b'\t' | b'\r') {
        i += 1;
    }
    l[i..].starts_with(b"define") || l[i..].starts_with(b"include")
}

/// Scan one line (without its `\n`); None if the planner cannot be sure of it: a string not
/// closed on the line, a `$`, a `\`, `define` or `include` at a statement start.
fn scan_line(l: &[u8]) -> Option<LineScan<'_>> {
    if file_syntax_at(l, 0) {
        return None;
    }
    let (mut delta, mut min) = (0i32, 0i32);
    let mut code_end = l.len();
    let mut i = 0;
    loop {
        while i < l.len() && !scan_stop(l[i]) {
            i += 1;
        }
        if i >= l.len() {
            break;
        }
        match l[i] {
            b'"' => {
                i += 1;
                loop {
                    match l.get(i) {
                        None => return None,
                        Some(b'"') => break,
                        Some(b'\\') if matches!(l.get(i + 1), Some(b'"' | b'\\')) => i += 2,
                        Some(_) => i += 1,
                    }
                }
            }
            b'#' => {
                code_end = i;
                break;
            }
            c @ (b'{' | b'}' | b';') => {
                if c == b'{' {
                    delta += 1;
                } else if c == b'}' {
                    delta -= 1;
                    min = min.min(delta);
                }
                if file_syntax_at(l, i + 1) {
                    return None;
                }
            }
            _ => return None,
        }
        i += 1;
    }
    let code = l[..code_end].trim_ascii();
    let first = match code.first() {
        None => &code[..0],
        Some(b'{' | b'}' | b';') => &code[..1],
        Some(_) => {
            let n = code
                .iter()
                .position(|&c| is_delimiter(c))
                .unwrap_or(code.len());
            &code[..n]
        }
    };
    Some(LineScan {
        code,
        first,
        delta,
        min,
    })
}

/// A line's [`LineScan`] kept small (positions in the text; braces that fit a byte).
#[derive(Clone, Copy)]
struct Scanned {
    /// Where the line ends (its `\n`, or the end of the text).
    end: u32,
    code: u32,
    code_len: u32,
    first_len: u16,
    delta: i8,
    min: i8,
}

/// Bytes of text per line-scan job.
const SCAN_CHUNK: usize = 256 * 1024;

/// Every line of `text` scanned (on every core), or None if one is unsure (see
/// [`scan_line`]). The text is under 4 GiB (checked by the caller).
fn scan_lines(text: &str) -> Option<Vec<Scanned>> {
    let b = text.as_bytes();
    let mut chunks = Vec::new();
    let mut start = 0;
    while start < b.len() {
        let want = (start + SCAN_CHUNK).min(b.len());
        let end = memchr::memchr(b'\n', &b[want..]).map_or(b.len(), |n| want + n + 1);
        chunks.push((start, end.max(want)));
        start = end.max(want);
    }
    let scan = |&(from, to): &(usize, usize)| -> Result<Vec<Scanned>, ()> {
        let mut out = Vec::with_capacity((to - from) / 40 + 1);
        let mut pos = from;
        while pos < to {
            let end = memchr::memchr(b'\n', &b[pos..to]).map_or(to, |n| pos + n);
            let l = scan_line(&b[pos..end]).ok_or(())?;
            let code = l.code.as_ptr() as usize - b.as_ptr() as usize;
            out.push(Scanned {
                end: u32::try_from(end).map_err(|_| ())?,
                code: u32::try_from(code).map_err(|_| ())?,
                code_len: u32::try_from(l.code.len()).map_err(|_| ())?,
                first_len: u16::try_from(l.first.len()).map_err(|_| ())?,
                delta: i8::try_from(l.delta).map_err(|_| ())?,
                min: i8::try_from(l.min).map_err(|_| ())?,
            });
            pos = end + 1;
        }
        Ok(out)
    };
    let mut lines = Vec::with_capacity(b.len() / 40 + 1);
    parallel::for_each_in_order(&chunks, scan, |part| lines.extend(part)).ok()?;
    Some(lines)
}

/// `KEYWORD [WORD] WORD {`: the words between the keyword and `{`, if the code is exactly that
/// (words without delimiters, which the tokenizer reads as they are).
fn header_words<'l>(code: &'l [u8], keyword: &[u8]) -> Option<Vec<&'l str>> {
    let inner = code.strip_prefix(keyword)?.strip_suffix(b"{")?;
    if inner.first().is_some_and(|c| !c.is_ascii_whitespace()) {
        return None;
    }
    let inner = std::str::from_utf8(inner).ok()?;
    let words: Vec<&str> = inner.split_ascii_whitespace().collect();
    if words.iter().any(|w| w.bytes().any(is_delimiter)) {
        return None;
    }
    Some(words)
}

/// An open piece: start byte, first line, the chain it starts inside, lines so far.
type OpenPiece<'s> = (usize, usize, Option<&'s str>, usize);

fn close_piece<'s>(plan: &mut Plan<'s>, text: &'s str, p: OpenPiece<'s>, end: usize) {
    plan.pieces.push(Piece {
        table: plan.tables.len().saturating_sub(1),
        first_line: p.1,
        text: &text[p.0..end],
        inside: p.2,
        ends_inside: false,
    });
}

/// Cut `text` in pieces, or None if it is not plain `nft list ruleset` shape (see above).
fn plan(text: &str, piece_lines: usize) -> Option<Plan<'_>> {
    let b = text.as_bytes();
    if u32::try_from(b.len()).is_err() {
        return None;
    }
    let lines = scan_lines(text)?;
    let mut plan = Plan::default();
    let mut seen = std::collections::HashSet::new();
    let mut depth = 0i32;
    // The chain being read: its name, and whether a rule line was read (declared).
    let mut chain: Option<(&str, bool)> = None;
    let mut table_has_chain = false;
    // The open piece (start byte, first line, chain it starts inside, lines) and skeleton
    // run (start byte, first line).
    let mut piece: Option<OpenPiece<'_>> = None;
    let mut skel: Option<(usize, usize)> = None;
    let (mut pos, mut line_no) = (0usize, 1usize);
    for s in &lines {
        let end = s.end as usize;
        let next = (end + 1).min(b.len());
        let code = &b[s.code as usize..s.code as usize + s.code_len as usize];
        let l = LineScan {
            code,
            first: &code[..usize::from(s.first_len)],
            delta: i32::from(s.delta),
            min: i32::from(s.min),
        };
        let in_piece;
        if let Some((_, declared)) = &mut chain {
            if depth == 2 && l.code == b"}" {
                chain = None;
                depth = 1;
            } else {
                if depth + l.min < 2 {
                    return None;
                }
                if depth == 2 && !l.first.is_empty() && !CHAIN_SETTINGS.contains(&l.first) {
                    *declared = true;
                }
                depth += l.delta;
            }
            in_piece = true;
        } else if depth == 0 {
            if l.first == b"table" {
                let words = header_words(l.code, b"table")?;
                let (family, name) = match words[..] {
                    [name] => (Family::Ip, name),
                    [family, name] => (Family::parse(family)?, name),
                    _ => return None,
                };
                if !seen.insert((family, name)) {
                    return None;
                }
                plan.tables.push((family, name));
                plan.chains.push(0);
                table_has_chain = false;
                depth = 1;
            } else if !l.code.is_empty() {
                return None;
            }
            in_piece = false;
        } else if depth == 1 && l.first == b"chain" && l.delta == 0 && l.min == 0 {
            // A chain block on one line (`chain input { type …; policy …; jump c; }`): the
            // worker reads it whole (and gives up on anything after it but another chain).
            table_has_chain = true;
            if let Some(n) = plan.chains.last_mut() {
                *n += 1;
            }
            in_piece = true;
        } else if depth == 1 && l.first == b"chain" {
            let words = header_words(l.code, b"chain")?;
            let [name] = words[..] else { return None };
            chain = Some((name, false));
            table_has_chain = true;
            if let Some(n) = plan.chains.last_mut() {
                *n += 1;
            }
            depth = 2;
            in_piece = true;
        } else if depth == 1 && l.code == b"}" {
            depth = 0;
            in_piece = false;
        } else if l.code.is_empty() {
            in_piece = piece.is_some();
        } else {
            // A set, map or other object (or a line of one), before the table's chains.
            if table_has_chain
                || depth + l.min < 1
                || memchr::memmem::find(l.code, b"chain").is_some()
            {
                return None;
            }
            depth += l.delta;
            in_piece = false;
        }
        if in_piece {
            if let Some((start, first)) = skel.take() {
                plan.skeleton.push((first, &text[start..pos]));
            }
            let p = piece.get_or_insert((pos, line_no, None, 0));
            p.3 += 1;
            let full = p.3 >= piece_lines;
            match chain {
                Some((name, true)) if full && depth == 2 => {
                    if let Some(p) = piece.take() {
                        close_piece(&mut plan, text, p, next);
                    }
                    if let Some(last) = plan.pieces.last_mut() {
                        last.ends_inside = true;
                    }
                    piece = Some((next, line_no + 1, Some(name), 0));
                }
                None if full => {
                    if let Some(p) = piece.take() {
                        close_piece(&mut plan, text, p, next);
                    }
                }
                _ => {}
            }
        } else {
            if let Some(p) = piece.take() {
                close_piece(&mut plan, text, p, pos);
            }
            skel.get_or_insert((pos, line_no));
        }
        pos = next;
        line_no += 1;
    }
    if depth != 0 || chain.is_some() || piece.is_some() || plan.pieces.is_empty() {
        return None;
    }
    if let Some((start, first)) = skel.take() {
        plan.skeleton.push((first, &text[start..]));
    }
    Some(plan)
}

/// [`parse`] with the text cut in pieces of about `piece_lines` lines parsed on every core
/// ([`crate::parse::parallel::cores`]; one thread inside
/// [`crate::parse::parallel::on_this_thread_only`]), or None if the text is not one the pieces
/// can be sure of (then [`parse`] reads it on one thread). The same model and the same first
/// error as the one-thread parse. Public for the tests that check that.
#[doc(hidden)]
pub fn parse_in_pieces(
    text: &str,
    file: &str,
    piece_lines: usize,
) -> Option<Result<Vec<Table>, ParseError>> {
    let plan = plan(text, piece_lines.max(1))?;
    let mut sources: Vec<Source<'_>> = plan
        .skeleton
        .iter()
        .map(|(_, t)| (file.to_string(), Cow::Borrowed(*t)))
        .collect();
    let mut toks = Vec::new();
    for (i, (line, _)) in plan.skeleton.iter().enumerate() {
        let mut no_include = |_: &str, line: usize| -> Result<Vec<(String, String)>, ParseError> {
            Err(ParseError::new(file, line, "`include`"))
        };
        tokenize_into(
            i,
            &mut sources,
            &mut toks,
            &mut HashMap::new(),
            &mut no_include,
            0,
            *line,
        )
        .ok()?;
    }
    let mut p = Parser::new(&toks, &sources, Target::Build(Builder::new(file)));
    p.ruleset().ok()?;
    let Target::Build(mut builder) = p.target else {
        return None;
    };
    let positions: Vec<usize> = plan
        .tables
        .iter()
        .map(|(family, name)| builder.table_position(*family, name))
        .collect::<Option<_>>()?;
    for (t, n) in positions.iter().zip(&plan.chains) {
        builder.reserve_chains(*t, *n);
    }
    let mut marks = Vec::new();
    let mut unsure = false;
    let (contexts, mut sink) = builder.split_for_pieces();
    let pool = TokenPool::default();
    // The chains go to their tables as the pieces come back in order, while later pieces are
    // still being parsed.
    let parsed = parallel::for_each_in_order(
        &plan.pieces,
        |piece| {
            let t = positions[piece.table];
            parse_piece(piece, file, plan.tables[piece.table], contexts[t], &pool)
                .map(|out| (t, piece.inside, out))
        },
        |(t, inside, (parts, shaped, piece_marks))| {
            for part in parts {
                match part {
                    Part::Declared(chain) => sink.add_chain(t, chain),
                    Part::Continued(rules) => {
                        unsure |= !inside.is_some_and(|name| sink.add_rules(t, name, rules));
                    }
                }
            }
            sink.and_iptables_shaped(t, shaped);
            marks.extend(piece_marks);
        },
    );
    match parsed {
        Ok(()) if unsure => return None,
        Ok(()) => {}
        Err(PieceError::Parse(e)) => return Some(Err(e)),
        Err(PieceError::Unsure) => return None,
    }
    for (family, name) in marks {
        builder.mark_iptables_nft(family, &name);
    }
    Some(builder.finish())
}

/// A piece's chains and rules (on a worker): its parts, whether its rules are all
/// iptables-shaped, and the iptables-nft warnings in it.
type PieceOut = (Vec<Part>, bool, Vec<(Family, String)>);

/// Token vectors of pieces done, for the next pieces: a piece's tokens take about a megabyte,
/// and a new one each time costs its page faults again.
type TokenPool<'s> = std::sync::Mutex<Vec<Vec<Token<'s>>>>;

fn parse_piece<'s>(
    piece: &Piece<'s>,
    file: &str,
    (family, table): (Family, &str),
    cx: RuleContext<'_, '_>,
    pool: &TokenPool<'s>,
) -> Result<PieceOut, PieceError> {
    let mut toks = pool
        .lock()
        .ok()
        .and_then(|mut p| p.pop())
        .unwrap_or_default();
    toks.clear();
    toks.reserve(piece.text.len() / 4 + 16);
    let result = parse_piece_with(piece, file, (family, table), cx, &mut toks);
    toks.clear();
    if let Ok(mut p) = pool.lock() {
        p.push(toks);
    }
    result
}

fn parse_piece_with<'s>(
    piece: &Piece<'s>,
    file: &str,
    (family, table): (Family, &str),
    cx: RuleContext<'_, '_>,
    toks: &mut Vec<Token<'s>>,
) -> Result<PieceOut, PieceError> {
    let mut sources: Vec<Source<'s>> = vec![(file.to_string(), Cow::Borrowed(piece.text))];
    let mut no_include = |_: &str, line: usize| -> Result<Vec<(String, String)>, ParseError> {
        Err(ParseError::new(file, line, "`include`"))
    };
    tokenize_into(
        0,
        &mut sources,
        toks,
        &mut HashMap::new(),
        &mut no_include,
        0,
        piece.first_line,
    )
    .map_err(PieceError::Parse)?;
    let collector = Collector {
        file,
        cx,
        parts: Vec::new(),
        shaped: true,
        marks: Vec::new(),
        unsure: false,
    };
    let mut p = Parser::new(toks, &sources, Target::Collect(collector));
    p.ends_inside_chain = piece.ends_inside;
    let result = (|| {
        if let Some(name) = piece.inside {
            if let Target::Collect(c) = &mut p.target {
                c.parts.push(Part::Continued(Vec::new()));
            }
            let line = p.line();
            p.chain_body(family, table, name, line, true)?;
        }
        loop {
            p.skip_separators();
            match p.peek() {
                None => return Ok(true),
                Some(Tok::Word(w)) if w == "chain" => {
                    p.pos += 1;
                    p.chain(family, table)?;
                }
                Some(_) => return Ok(false),
            }
        }
    })();
    let Target::Collect(c) = p.target else {
        return Err(PieceError::Unsure);
    };
    match result {
        _ if c.unsure => Err(PieceError::Unsure),
        Ok(true) => Ok((c.parts, c.shaped, c.marks)),
        Ok(false) => Err(PieceError::Unsure),
        Err(e) => Err(PieceError::Parse(e)),
    }
}

// ---------------------------------------------------------------------------------------------
// Tokens.

#[derive(Debug, Clone, PartialEq)]
enum Tok<'s> {
    Word(Cow<'s, str>),
    Str(Cow<'s, str>),
    LBrace,
    RBrace,
    Semi,
    Comma,
    Newline,
    Comment(Cow<'s, str>),
}

#[derive(Debug, Clone)]
struct Token<'s> {
    tok: Tok<'s>,
    /// Index into the parser's sources (the file and its includes). The four numbers are
    /// `u32` (a source is at most 4 GiB, checked): a smaller token, fewer pages to touch.
    src: u32,
    line: u32,
    /// Byte range in the source text (for opaque statements).
    start: u32,
    end: u32,
}

impl Token<'_> {
    fn src(&self) -> usize {
        self.src as usize
    }
    fn line(&self) -> usize {
        self.line as usize
    }
}

const MAX_INCLUDE_DEPTH: usize = 16;

/// A source: its name and text (the input itself borrowed, included files owned).
type Source<'s> = (String, Cow<'s, str>);

fn tokenize_into<'s>(
    src: usize,
    sources: &mut Vec<Source<'s>>,
    out: &mut Vec<Token<'s>>,
    defines: &mut HashMap<String, Vec<Tok<'s>>>,
    resolve: &mut IncludeResolver<'_>,
    depth: usize,
    first_line: usize,
) -> Result<(), ParseError> {
    let (file, source) = sources[src].clone();
    let text: &str = &source;
    // Words, strings and comments borrow from the input; an included file's are copied (it
    // is owned by `sources`, which grows while tokens are taken).
    let slice = |a: usize, b: usize| -> Cow<'s, str> {
        match &source {
            Cow::Borrowed(t) => Cow::Borrowed(&t[a..b]),
            Cow::Owned(t) => Cow::Owned(t[a..b].to_string()),
        }
    };
    let err = |line: usize, msg: String| ParseError::new(&file, line, msg);
    if u32::try_from(text.len()).is_err() || u32::try_from(src).is_err() {
        return Err(err(0, "too large to read (over 4 GiB)".to_string()));
    }
    let src = src as u32;
    let b = text.as_bytes();
    let mut i = 0;
    let mut line = first_line;
    let mut at_statement_start = true;
    let push = |out: &mut Vec<Token<'s>>, tok: Tok<'s>, line: usize, start: usize, end: usize| {
        // In range: the text is under 4 GiB (checked above), so are its positions and lines.
        out.push(Token {
            tok,
            src,
            line: line as u32,
            start: start as u32,
            end: end as u32,
        })
    };
    while i < b.len() {
        let c = b[i];
        let start = i;
        match c {
            b'\n' => {
                push(out, Tok::Newline, line, i, i + 1);
                line += 1;
                i += 1;
                at_statement_start = true;
                continue;
            }
            b' ' | b'\t' | b'\r' => {
                i += 1;
                continue;
            }
            b'\\' if b.get(i + 1) == Some(&b'\n') => {
                i += 2;
                line += 1;
                continue;
            }
            b'#' => {
                let end = memchr_newline(b, i).unwrap_or(b.len());
                let raw = &text[i + 1..end];
                let from = i + 1 + (raw.len() - raw.trim_start().len());
                let to = from + raw.trim().len();
                push(out, Tok::Comment(slice(from, to)), line, i, end);
                i = end;
                continue;
            }
            b'{' | b'}' | b';' | b',' => {
                let tok = match c {
                    b'{' => Tok::LBrace,
                    b'}' => Tok::RBrace,
                    b';' => Tok::Semi,
                    _ => Tok::Comma,
                };
                at_statement_start = matches!(tok, Tok::LBrace | Tok::RBrace | Tok::Semi);
                push(out, tok, line, i, i + 1);
                i += 1;
                continue;
            }
            b'"' => {
                // Unescaped (the common case): a slice of the input; else a copy.
                let mut s: Option<String> = None;
                let mut j = i + 1;
                loop {
                    match b.get(j) {
                        None | Some(b'\n') => {
                            return Err(err(line, "unterminated string".to_string()));
                        }
                        Some(b'"') => break,
                        Some(b'\\') if matches!(b.get(j + 1), Some(b'"' | b'\\')) => {
                            s.get_or_insert_with(|| text[i + 1..j].to_string())
                                .push(b[j + 1] as char);
                            j += 2;
                        }
                        Some(_) => {
                            let ch = text[j..].chars().next().unwrap_or('?');
                            if let Some(s) = &mut s {
                                s.push(ch);
                            }
                            j += ch.len_utf8();
                        }
                    }
                }
                let value = match s {
                    Some(s) => Cow::Owned(s),
                    None => slice(i + 1, j),
                };
                push(out, Tok::Str(value), line, i, j + 1);
                i = j + 1;
                at_statement_start = false;
                continue;
            }
            _ => {}
        }
        let mut j = i;
        while j < b.len() && !is_delimiter(b[j]) {
            j += 1;
        }
        if j == i {
            // A byte that starts no token (a stray `\`): a word of its own.
            j = i + text[i..].chars().next().map_or(1, char::len_utf8);
        }
        let word = &text[i..j];
        i = j;
        if at_statement_start && word == "define" {
            let name_end = text[i..].find('=').map(|n| i + n);
            let stmt_end = text[i..].find(['\n', ';']).map_or(b.len(), |n| i + n);
            let Some(eq) = name_end.filter(|e| *e < stmt_end) else {
                return Err(err(line, "`define` without `NAME = VALUE`".to_string()));
            };
            let name = text[i..eq].trim().to_string();
            if name.is_empty() || name.contains(char::is_whitespace) {
                return Err(err(line, format!("bad define name {name:?}")));
            }
            let mut value_toks = Vec::new();
            let mut value_sources = vec![(file.clone(), slice(eq + 1, stmt_end))];
            tokenize_into(
                0,
                &mut value_sources,
                &mut value_toks,
                defines,
                resolve,
                depth,
                1,
            )
            .map_err(|e| err(line, format!("define {name}: {}", e.message)))?;
            let toks: Vec<Tok<'s>> = value_toks
                .into_iter()
                .map(|t| t.tok)
                .filter(|t| !matches!(t, Tok::Newline | Tok::Comment(_)))
                .collect();
            if toks.is_empty() {
                return Err(err(line, format!("define {name} has no value")));
            }
            defines.insert(name, toks);
            i = stmt_end;
            continue;
        }
        if at_statement_start && word == "include" {
            let (path, end) = match out_next_string(text, i) {
                Some(x) => x,
                None => return Err(err(line, "`include` without a quoted path".to_string())),
            };
            if depth >= MAX_INCLUDE_DEPTH {
                return Err(err(line, format!("include {path:?}: nested too deep")));
            }
            for (name, included) in resolve(&path, line)? {
                sources.push((name, Cow::Owned(included)));
                let idx = sources.len() - 1;
                tokenize_into(idx, sources, out, defines, resolve, depth + 1, 1)?;
                push(out, Tok::Newline, line, start, start);
            }
            i = end;
            continue;
        }
        if let Some(var) = word.strip_prefix('$') {
            let Some(value) = defines.get(var) else {
                return Err(err(line, format!("undefined variable ${var}")));
            };
            for t in value.clone() {
                push(out, t, line, start, j);
            }
        } else {
            push(out, Tok::Word(slice(start, j)), line, start, j);
        }
        at_statement_start = false;
    }
    Ok(())
}

/// Bytes that end a word.
fn is_delimiter(c: u8) -> bool {
    matches!(
        c,
        b' ' | b'\t' | b'\r' | b'\n' | b'{' | b'}' | b';' | b',' | b'"' | b'#'
    )
}

/// The next `\n` at or after `from`.
fn memchr_newline(b: &[u8], from: usize) -> Option<usize> {
    b[from..].iter().position(|&c| c == b'\n').map(|n| from + n)
}

/// The quoted string after `include` and the byte after it.
fn out_next_string(text: &str, from: usize) -> Option<(String, usize)> {
    let rest = &text[from..];
    let open = rest.find('"')?;
    if !rest[..open].trim().is_empty() {
        return None;
    }
    let close = rest[open + 1..].find(['"', '\n'])?;
    if rest.as_bytes()[open + 1 + close] != b'"' {
        return None;
    }
    Some((
        rest[open + 1..open + 1 + close].to_string(),
        from + open + close + 2,
    ))
}

// ---------------------------------------------------------------------------------------------
// Structure.

struct Parser<'t, 'c> {
    toks: &'t [Token<'t>],
    pos: usize,
    sources: &'t [Source<'t>],
    target: Target<'t, 'c>,
    /// Objects handed to the builder so far (its `nftables[i]` index).
    objects: usize,
    /// The tokens are a piece of the text that stops inside a chain (continued by the next
    /// piece): their end closes that chain's block for now.
    ends_inside_chain: bool,
}

/// Where a parser's objects go.
enum Target<'t, 'c> {
    /// The whole text, or the skeleton of one cut in pieces (tables, sets, maps): the builder.
    Build(Builder<'t, 't>),
    /// A piece of chains: converted right here (on a worker), the builder gets them later.
    Collect(Collector<'c>),
}

/// A piece's chains and rules, converted as the builder would convert them.
struct Collector<'c> {
    file: &'c str,
    /// The piece's table: its sets and maps (all declared before its first chain: the planner
    /// checks it, so they are the sets the builder would convert these rules with).
    cx: RuleContext<'c, 'c>,
    parts: Vec<Part>,
    /// Every rule of the piece is iptables-shaped (the builder's stack test, and-ed).
    shaped: bool,
    /// nft's "managed by iptables-nft" warnings met in the piece.
    marks: Vec<(Family, String)>,
    /// The piece held something the planner should have kept out of it: parse it all again
    /// on one thread (never guess).
    unsure: bool,
}

/// A piece's output, in order: chains declared in it (with their rules), or rules of the chain
/// it starts inside.
enum Part {
    Declared(Chain),
    Continued(Vec<Rule>),
}

/// A rule's text, split into statements later.
struct RuleToks<'t> {
    toks: &'t [Token<'t>],
    handle: Option<u64>,
}

/// A string of the input: borrowed, no copy.
fn s(v: &str) -> J<'_> {
    J::S(Cow::Borrowed(v))
}

/// A string made while reading (a joined type, a key with its prefix).
fn so<'t>(v: String) -> J<'t> {
    J::S(Cow::Owned(v))
}

/// A string nft's grammar fixes (a key, a family): no copy.
fn st<'t>(v: &'static str) -> J<'t> {
    J::S(Cow::Borrowed(v))
}

/// An object's field (`obj(vec![f("key", value), …])`): the key is one of nft's.
fn f<'t>(key: &'static str, value: J<'t>) -> (Cow<'t, str>, J<'t>) {
    (Cow::Borrowed(key), value)
}

fn obj<'t>(fields: Vec<(Cow<'t, str>, J<'t>)>) -> J<'t> {
    J::O(fields)
}

fn single<'t>(kind: &'t str, body: J<'t>) -> J<'t> {
    J::O(vec![(Cow::Borrowed(kind), body)])
}

impl<'t, 'c> Parser<'t, 'c> {
    fn new(toks: &'t [Token<'t>], sources: &'t [Source<'t>], target: Target<'t, 'c>) -> Self {
        Parser {
            toks,
            pos: 0,
            sources,
            target,
            objects: 0,
            ends_inside_chain: false,
        }
    }
    fn peek(&self) -> Option<&'t Tok<'t>> {
        self.toks.get(self.pos).map(|t| &t.tok)
    }
    fn line(&self) -> usize {
        self.toks
            .get(self.pos)
            .or_else(|| self.toks.last())
            .map_or(0, Token::line)
    }
    fn err(&self, msg: impl Into<String>) -> ParseError {
        let file = self
            .toks
            .get(self.pos)
            .or_else(|| self.toks.last())
            .map_or(self.sources[0].0.as_str(), |t| &self.sources[t.src()].0);
        ParseError::new(file, self.line(), msg)
    }
    fn next_word(&mut self, what: &str) -> Result<&'t str, ParseError> {
        match self.peek() {
            Some(Tok::Word(w)) | Some(Tok::Str(w)) => {
                self.pos += 1;
                Ok(w)
            }
            other => Err(self.err(format!("expected {what}, found {}", describe(other)))),
        }
    }
    fn expect(&mut self, tok: Tok<'_>, what: &str) -> Result<(), ParseError> {
        if self.peek() == Some(&tok) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.err(format!("expected {what}, found {}", describe(self.peek()))))
        }
    }
    fn skip_separators(&mut self) {
        while let Some(t) = self.peek() {
            match t {
                Tok::Newline | Tok::Semi => self.pos += 1,
                Tok::Comment(c) => {
                    if let Some((family, name)) = iptables_nft_warning(c) {
                        match &mut self.target {
                            Target::Build(b) => b.mark_iptables_nft(family, &name),
                            Target::Collect(c) => c.marks.push((family, name)),
                        }
                    }
                    self.pos += 1;
                }
                _ => break,
            }
        }
    }
    /// Skip to the end of the statement (newline or `;` outside braces).
    fn skip_statement(&mut self) -> Result<(), ParseError> {
        let mut depth = 0usize;
        while let Some(t) = self.peek() {
            match t {
                Tok::LBrace => depth += 1,
                Tok::RBrace if depth == 0 => return Ok(()),
                Tok::RBrace => depth -= 1,
                Tok::Newline | Tok::Semi if depth == 0 => return Ok(()),
                _ => {}
            }
            self.pos += 1;
        }
        if depth > 0 {
            return Err(self.err("unbalanced `{`"));
        }
        Ok(())
    }
    /// Skip a `{ … }` block, the `{` being next.
    fn skip_block(&mut self) -> Result<(), ParseError> {
        self.expect(Tok::LBrace, "`{`")?;
        let mut depth = 1usize;
        while let Some(t) = self.peek() {
            self.pos += 1;
            match t {
                Tok::LBrace => depth += 1,
                Tok::RBrace => {
                    depth -= 1;
                    if depth == 0 {
                        return Ok(());
                    }
                }
                _ => {}
            }
        }
        Err(self.err("unbalanced `{`: the block is not closed"))
    }
    fn add(&mut self, kind: &str, line: usize, body: J<'t>) -> Result<(), ParseError> {
        let i = self.objects;
        self.objects += 1;
        match &mut self.target {
            Target::Build(b) => {
                b.for_text(line);
                b.item(i, kind, body)
            }
            Target::Collect(c) if kind == "chain" => {
                c.parts.push(Part::Declared(nft_json::chain_model(
                    c.file, line, i, &body,
                )?));
                Ok(())
            }
            Target::Collect(c) => Err(c.unsure()),
        }
    }

    fn ruleset(&mut self) -> Result<(), ParseError> {
        loop {
            self.skip_separators();
            let Some(tok) = self.peek() else {
                return Ok(());
            };
            let word = match tok {
                Tok::Word(w) => &**w,
                other => return Err(self.err(format!("unexpected {}", describe(Some(other))))),
            };
            match word {
                "table" => {
                    self.pos += 1;
                    self.table()?;
                }
                "flush" => {
                    self.pos += 1;
                    let what = self.next_word("`ruleset`")?;
                    if what != "ruleset" {
                        return Err(self.err(format!(
                            "`flush {what}` is not supported here (only `flush ruleset`)"
                        )));
                    }
                    let file = &self.sources[0].0;
                    match &mut self.target {
                        Target::Build(b) => *b = Builder::new(file),
                        Target::Collect(c) => return Err(c.unsure()),
                    }
                }
                "add" | "create" => {
                    self.pos += 1;
                    self.add_command()?;
                }
                other => {
                    return Err(self.err(format!(
                        "unexpected `{other}`: expected `table`, `flush ruleset`, `add` or \
                         `define`"
                    )));
                }
            }
        }
    }

    /// `[family] name` of a table.
    fn table_id(&mut self) -> Result<(Family, &'t str), ParseError> {
        let first = self.next_word("a table family or name")?;
        let family_given = matches!(self.peek(), Some(Tok::Word(_) | Tok::Str(_)));
        if family_given {
            let family = Family::parse(first)
                .ok_or_else(|| self.err(format!("unknown table family `{first}`")))?;
            let name = self.next_word("a table name")?;
            Ok((family, name))
        } else {
            Ok((Family::Ip, first))
        }
    }

    fn declare_table(
        &mut self,
        family: Family,
        name: &'t str,
        line: usize,
    ) -> Result<(), ParseError> {
        self.add(
            "table",
            line,
            obj(vec![f("family", st(family.as_str())), f("name", s(name))]),
        )
    }

    fn table(&mut self) -> Result<(), ParseError> {
        let line = self.line();
        let (family, name) = self.table_id()?;
        self.declare_table(family, name, line)?;
        self.expect(Tok::LBrace, "`{` after the table name")?;
        loop {
            self.skip_separators();
            let line = self.line();
            match self.peek() {
                None => return Err(self.err(format!("table {family} {name} is not closed"))),
                Some(Tok::RBrace) => {
                    self.pos += 1;
                    return Ok(());
                }
                Some(Tok::Word(w)) => {
                    self.pos += 1;
                    match &**w {
                        "chain" => self.chain(family, name)?,
                        "set" | "map" => self.set(family, name, w, line)?,
                        "flags" | "comment" => self.skip_statement()?,
                        "counter" | "quota" | "limit" | "flowtable" | "secmark" | "synproxy"
                        | "ct" => {
                            if w == "ct" {
                                self.next_word("`helper`, `timeout` or `expectation`")?;
                            }
                            let obj_name = self.next_word("an object name")?;
                            self.skip_block()?;
                            let kind = if w == "ct" { "ct helper" } else { &**w };
                            self.add(
                                kind,
                                line,
                                obj(vec![
                                    f("family", st(family.as_str())),
                                    f("table", s(name)),
                                    f("name", s(obj_name)),
                                ]),
                            )?;
                        }
                        other => {
                            return Err(self.err(format!(
                                "unexpected `{other}` in table {family} {name}: expected \
                                 `chain`, `set`, `map` or `}}`"
                            )));
                        }
                    }
                }
                Some(other) => {
                    return Err(self.err(format!(
                        "unexpected {} in table {family} {name}",
                        describe(Some(other))
                    )));
                }
            }
        }
    }

    /// `chain NAME { … }`, after `chain`.
    fn chain(&mut self, family: Family, table: &'t str) -> Result<(), ParseError> {
        let line = self.line();
        let name = self.next_word("a chain name")?;
        self.expect(Tok::LBrace, "`{` after the chain name")?;
        self.chain_body(family, table, name, line, false)
    }

    /// The inside of chain `name`'s block, after `{` (or, `declared`, from a rule line on: a
    /// piece that starts inside the chain), to its `}`.
    fn chain_body(
        &mut self,
        family: Family,
        table: &'t str,
        name: &'t str,
        line: usize,
        mut declared: bool,
    ) -> Result<(), ParseError> {
        let mut header = ChainHeader::default();
        loop {
            // A comment line right after `{` carries the chain's handle; skip it.
            self.skip_separators();
            match self.peek() {
                None if self.ends_inside_chain && declared => return Ok(()),
                None => return Err(self.err(format!("chain {name} is not closed"))),
                Some(Tok::RBrace) => {
                    self.pos += 1;
                    if !declared {
                        self.declare_chain(family, table, name, line, &header)?;
                    }
                    return Ok(());
                }
                Some(Tok::Word(w))
                    if matches!(&**w, "type" | "policy" | "comment" | "devices" | "flags") =>
                {
                    if declared && w == "type" {
                        return Err(self.err("`type … hook …` after the chain's first rule"));
                    }
                    self.chain_setting(&mut header)?;
                }
                Some(_) => {
                    if !declared {
                        self.declare_chain(family, table, name, line, &header)?;
                        declared = true;
                    }
                    self.rule_line(family, table, name)?;
                }
            }
        }
    }

    fn chain_setting(&mut self, h: &mut ChainHeader) -> Result<(), ParseError> {
        let word = self.next_word("a chain setting")?;
        match word {
            "type" => {
                let line = self.line();
                let ty = self.next_word("a chain type")?;
                if !matches!(ty, "filter" | "nat" | "route") {
                    return Err(self.err(format!("unknown chain type `{ty}`")));
                }
                let kw = self.next_word("`hook`")?;
                if kw != "hook" {
                    return Err(self.err(format!("expected `hook`, found `{kw}`")));
                }
                let hook = self.next_word("a hook")?;
                if crate::model::Hook::parse(hook).is_none() || hook.contains(char::is_uppercase) {
                    return Err(self.err(format!("unknown hook `{hook}`")));
                }
                let mut kw = self.next_word("`priority`")?;
                if kw == "device" {
                    self.next_word("a device name")?;
                    kw = self.next_word("`priority`")?;
                } else if kw == "devices" {
                    self.expect_word("=")?;
                    self.skip_block()?;
                    kw = self.next_word("`priority`")?;
                }
                if kw != "priority" {
                    return Err(self.err(format!("expected `priority`, found `{kw}`")));
                }
                let mut prio = String::new();
                while let Some(Tok::Word(w)) = self.peek() {
                    if w == "policy" {
                        break;
                    }
                    prio.push_str(w);
                    self.pos += 1;
                }
                h.base = Some((ty.to_string(), hook.to_string(), prio, line));
            }
            "policy" => {
                let p = self.next_word("a policy")?;
                if !matches!(p, "accept" | "drop") {
                    return Err(self.err(format!("unknown policy `{p}`")));
                }
                h.policy = Some(p.to_string());
            }
            _ => self.skip_statement()?,
        }
        Ok(())
    }

    fn expect_word(&mut self, w: &str) -> Result<(), ParseError> {
        let got = self.next_word(&format!("`{w}`"))?;
        if got != w {
            return Err(self.err(format!("expected `{w}`, found `{got}`")));
        }
        Ok(())
    }

    fn declare_chain(
        &mut self,
        family: Family,
        table: &'t str,
        name: &'t str,
        line: usize,
        h: &ChainHeader,
    ) -> Result<(), ParseError> {
        let mut fields = vec![
            f("family", st(family.as_str())),
            f("table", s(table)),
            f("name", s(name)),
        ];
        if let Some((ty, hook, prio, type_line)) = &h.base {
            let Some(n) = priority_value(family, prio) else {
                let file = &self.sources[0].0;
                return Err(ParseError::new(
                    file,
                    *type_line,
                    format!("chain {name}: bad priority `{prio}`"),
                ));
            };
            fields.push(f("type", so(ty.clone())));
            fields.push(f("hook", so(hook.clone())));
            fields.push(f("prio", J::I(i64::from(n))));
            if let Some(p) = &h.policy {
                fields.push(f("policy", so(p.clone())));
            }
        } else if h.policy.is_some() {
            return Err(self.err(format!("chain {name}: a policy without `type … hook …`")));
        }
        self.add("chain", line, obj(fields))
    }

    /// One rule line inside a chain block.
    fn rule_line(
        &mut self,
        family: Family,
        table: &'t str,
        chain: &'t str,
    ) -> Result<(), ParseError> {
        let line = self.line();
        let start = self.pos;
        self.skip_statement()?;
        let mut toks = &self.toks[start..self.pos];
        let mut handle = None;
        // A trailing `# handle N` (nft -a), or any other comment, ends the rule.
        while let Some((last, rest)) = toks.split_last() {
            match &last.tok {
                Tok::Comment(c) => {
                    if let Some(n) = c
                        .strip_prefix("handle ")
                        .and_then(|n| n.trim().parse().ok())
                    {
                        handle = Some(n);
                    }
                    toks = rest;
                }
                _ => break,
            }
        }
        if toks.is_empty() {
            return Ok(());
        }
        self.add_rule(family, table, chain, line, RuleToks { toks, handle })
    }

    fn add_rule(
        &mut self,
        family: Family,
        table: &'t str,
        chain: &'t str,
        line: usize,
        rule: RuleToks<'t>,
    ) -> Result<(), ParseError> {
        let (exprs, comment) = Stmts {
            toks: rule.toks,
            pos: 0,
            family,
            sources: self.sources,
        }
        .all()?;
        if let Target::Collect(c) = &mut self.target {
            // A piece on a worker: the rule of the chain being read, converted here (no
            // object: the builder would take the same parts out of it).
            let (r, shaped) = nft_json::text_rule(&c.cx, &exprs, comment, rule.handle, line);
            c.shaped &= shaped;
            return match c.parts.last_mut() {
                Some(Part::Declared(ch)) if &*ch.name == chain => {
                    ch.rules.push(r);
                    Ok(())
                }
                Some(Part::Continued(rules)) => {
                    rules.push(r);
                    Ok(())
                }
                _ => Err(c.unsure()),
            };
        }
        let mut fields = vec![
            f("family", st(family.as_str())),
            f("table", s(table)),
            f("chain", s(chain)),
        ];
        if let Some(h) = rule.handle {
            fields.push(f("handle", J::U(h)));
        }
        fields.push(f("expr", J::A(exprs)));
        if let Some(c) = comment {
            fields.push(f("comment", s(c)));
        }
        self.add("rule", line, obj(fields))
    }

    /// `set NAME { … }` / `map NAME { … }`, after the keyword.
    fn set(
        &mut self,
        family: Family,
        table: &'t str,
        kind: &str,
        line: usize,
    ) -> Result<(), ParseError> {
        let name = self.next_word("a set name")?;
        self.expect(Tok::LBrace, "`{` after the set name")?;
        let mut ty: Option<J<'t>> = None;
        let mut map_data: Option<String> = None;
        let mut elems: Vec<J<'t>> = Vec::new();
        loop {
            self.skip_separators();
            match self.peek() {
                None => return Err(self.err(format!("{kind} {name} is not closed"))),
                Some(Tok::RBrace) => {
                    self.pos += 1;
                    break;
                }
                Some(Tok::Word(w)) if w == "type" || w == "typeof" => {
                    let typeof_ = w == "typeof";
                    self.pos += 1;
                    let start = self.pos;
                    self.skip_statement()?;
                    let words: Vec<&str> = self.toks[start..self.pos]
                        .iter()
                        .filter_map(|t| match &t.tok {
                            Tok::Word(w) => Some(&**w),
                            _ => None,
                        })
                        .collect();
                    let (key, data) = match words.iter().position(|w| *w == ":") {
                        Some(i) => (&words[..i], Some(words[i + 1..].join(" "))),
                        None => (&words[..], None),
                    };
                    let parts: Vec<&[&str]> = key.split(|w| *w == ".").collect();
                    ty = Some(if parts.len() > 1 {
                        J::A(parts.iter().map(|p| so(p.join(" "))).collect())
                    } else if typeof_ {
                        so(key.join(" "))
                    } else {
                        s(key.first().copied().unwrap_or(""))
                    });
                    map_data = data;
                }
                Some(Tok::Word(w)) if w == "elements" => {
                    self.pos += 1;
                    self.expect_word("=")?;
                    let body = self.toks;
                    let mut st = Stmts {
                        toks: body,
                        pos: self.pos,
                        family,
                        sources: self.sources,
                    };
                    match st.set_literal(true) {
                        Some(J::O(mut f)) if f.len() == 1 => {
                            if let (_, J::A(a)) = f.remove(0) {
                                elems = a;
                            }
                            self.pos = st.pos;
                        }
                        _ => {
                            self.pos = st.pos;
                            return Err(
                                self.err(format!("{kind} {name}: bad `elements = {{ … }}`"))
                            );
                        }
                    }
                }
                Some(_) => self.skip_statement()?,
            }
        }
        if kind == "map" && map_data.is_none() {
            return Err(self.err(format!("map {name}: no `type KEY : VALUE`")));
        }
        let mut fields = vec![
            f("family", st(family.as_str())),
            f("name", s(name)),
            f("table", s(table)),
            f("type", ty.unwrap_or_else(|| s(""))),
        ];
        if let Some(d) = map_data {
            fields.push(f("map", so(d)));
        }
        fields.push(f("elem", J::A(elems)));
        self.add(kind, line, obj(fields))
    }

    /// `add table …`, `add chain …`, `add rule …` (after `add`).
    fn add_command(&mut self) -> Result<(), ParseError> {
        let line = self.line();
        let what = self.next_word("`table`, `chain` or `rule`")?;
        match what {
            "table" => {
                let (family, name) = self.table_id()?;
                self.declare_table(family, name, line)?;
                if self.peek() == Some(&Tok::LBrace) {
                    return Err(self.err("`add table … {` : use `table … {` for a block"));
                }
                Ok(())
            }
            "chain" => {
                let (family, table) = self.table_id()?;
                let name = self.next_word("a chain name")?;
                let mut header = ChainHeader::default();
                if self.peek() == Some(&Tok::LBrace) {
                    self.pos += 1;
                    loop {
                        self.skip_separators();
                        match self.peek() {
                            Some(Tok::RBrace) => {
                                self.pos += 1;
                                break;
                            }
                            None => return Err(self.err(format!("chain {name} is not closed"))),
                            _ => self.chain_setting(&mut header)?,
                        }
                    }
                }
                self.declare_chain(family, table, name, line, &header)
            }
            "rule" => {
                let (family, table) = self.table_id()?;
                let chain = self.next_word("a chain name")?;
                let start = self.pos;
                self.skip_statement()?;
                let toks = &self.toks[start..self.pos];
                let toks = match toks.last() {
                    Some(Token {
                        tok: Tok::Comment(_),
                        ..
                    }) => &toks[..toks.len() - 1],
                    _ => toks,
                };
                self.add_rule(family, table, chain, line, RuleToks { toks, handle: None })
            }
            other => Err(self.err(format!(
                "`add {other}` is not supported here (only table, chain and rule)"
            ))),
        }
    }
}

#[derive(Default)]
struct ChainHeader {
    /// (type, hook, priority text, line)
    base: Option<(String, String, String, usize)>,
    policy: Option<String>,
}

fn describe(t: Option<&Tok<'_>>) -> String {
    match t {
        None => "the end of the input".to_string(),
        Some(Tok::Word(w)) => format!("`{w}`"),
        Some(Tok::Str(w)) => format!("\"{w}\""),
        Some(Tok::LBrace) => "`{`".to_string(),
        Some(Tok::RBrace) => "`}`".to_string(),
        Some(Tok::Semi) => "`;`".to_string(),
        Some(Tok::Comma) => "`,`".to_string(),
        Some(Tok::Newline) => "the end of the line".to_string(),
        Some(Tok::Comment(_)) => "a comment".to_string(),
    }
}

/// `Warning: table ip nat is managed by iptables-nft, do not touch!`
fn iptables_nft_warning(comment: &str) -> Option<(Family, String)> {
    let rest = comment.strip_prefix("Warning: table ")?;
    let (id, tail) = rest.split_once(" is managed by iptables-nft")?;
    let _ = tail;
    let (family, name) = id.split_once(' ')?;
    Some((Family::parse(family)?, name.to_string()))
}

/// A chain priority as written (spaces removed): `-100`, `filter`, `filter+10`, `dstnat-5`.
pub fn priority_value(family: Family, text: &str) -> Option<i32> {
    if let Ok(n) = text.parse::<i32>() {
        return Some(n);
    }
    let split = text.find(['+', '-']).unwrap_or(text.len());
    let (word, rest) = text.split_at(split);
    let base = if family == Family::Bridge {
        match word {
            "dstnat" => -300,
            "filter" => -200,
            "out" => 100,
            "srcnat" => 300,
            _ => return None,
        }
    } else {
        crate::model::nft_priority_keyword(word)?
    };
    if rest.is_empty() {
        return Some(base);
    }
    let n: i32 = rest[1..].parse().ok()?;
    if rest.starts_with('-') {
        base.checked_sub(n)
    } else {
        base.checked_add(n)
    }
}

// ---------------------------------------------------------------------------------------------
// Rule statements -> the JSON objects nft -j prints for them.

struct Stmts<'t> {
    toks: &'t [Token<'t>],
    pos: usize,
    family: Family,
    sources: &'t [Source<'t>],
}

const VERDICTS: &[&str] = &["accept", "drop", "return", "continue"];
const PAYLOAD_PROTOCOLS: &[&str] = &[
    "ip", "ip6", "tcp", "udp", "udplite", "sctp", "dccp", "th", "icmp", "icmpv6", "ether", "vlan",
    "arp", "ah", "esp", "comp", "igmp",
];

impl<'t> Stmts<'t> {
    fn peek(&self) -> Option<&'t Tok<'t>> {
        self.toks.get(self.pos).map(|t| &t.tok)
    }
    fn peek_word(&self) -> Option<&'t str> {
        match self.peek() {
            Some(Tok::Word(w)) => Some(w),
            _ => None,
        }
    }
    fn word(&mut self) -> Option<&'t str> {
        let w = self.peek_word()?;
        self.pos += 1;
        Some(w)
    }
    fn word_or_str(&mut self) -> Option<&'t str> {
        match self.peek() {
            Some(Tok::Word(w)) | Some(Tok::Str(w)) => {
                self.pos += 1;
                Some(w)
            }
            _ => None,
        }
    }
    fn eat(&mut self, w: &str) -> bool {
        if self.peek_word() == Some(w) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    fn at_end(&self) -> bool {
        self.pos >= self.toks.len()
    }

    /// All statements, and the rule's comment.
    fn all(mut self) -> Result<(Vec<J<'t>>, Option<&'t str>), ParseError> {
        let mut out = Vec::new();
        let mut comment = None;
        while !self.at_end() {
            if self.peek() == Some(&Tok::Newline) {
                self.pos += 1;
                continue;
            }
            if self.eat("comment") {
                match self.peek() {
                    Some(Tok::Str(c)) => {
                        comment = Some(&**c);
                        self.pos += 1;
                        continue;
                    }
                    _ => self.pos -= 1,
                }
            }
            let start = self.pos;
            match self.stmt() {
                Some(j) => out.push(j),
                None => {
                    self.pos = start;
                    let (opaque, tail, trailing_comment) = self.opaque_tail();
                    out.push(so(opaque));
                    out.extend(tail);
                    if trailing_comment.is_some() {
                        comment = trailing_comment;
                    }
                    break;
                }
            }
        }
        Ok((out, comment))
    }

    /// The rest of the rule kept as written, with a trailing verdict and comment split off.
    fn opaque_tail(&mut self) -> (String, Option<J<'t>>, Option<&'t str>) {
        let mut end = self.toks.len();
        let mut comment = None;
        if end >= self.pos + 2
            && matches!(&self.toks[end - 2].tok, Tok::Word(w) if w == "comment")
            && let Tok::Str(c) = &self.toks[end - 1].tok
        {
            comment = Some(&**c);
            end -= 2;
        }
        let mut verdict = None;
        if end > self.pos
            && let Tok::Word(w) = &self.toks[end - 1].tok
        {
            if VERDICTS.contains(&&**w) && end - 1 > self.pos {
                verdict = Some(single(w, J::Null));
                end -= 1;
            } else if end >= self.pos + 3
                && let Tok::Word(kw) = &self.toks[end - 2].tok
                && (kw == "jump" || kw == "goto")
            {
                verdict = Some(single(kw, obj(vec![f("target", s(w))])));
                end -= 2;
            }
        }
        let first = &self.toks[self.pos];
        let last = &self.toks[end.max(self.pos + 1) - 1];
        let text = &self.sources[first.src()].1;
        let (from, to) = (first.start as usize, last.end as usize);
        let raw = if first.src == last.src && from <= to && to <= text.len() {
            text[from..to]
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        } else {
            String::from("?")
        };
        self.pos = self.toks.len();
        (raw, verdict, comment)
    }

    fn stmt(&mut self) -> Option<J<'t>> {
        let w = self.peek_word()?;
        let simple = |kind: &'t str| Some(single(kind, J::Null));
        match w {
            v if VERDICTS.contains(&v) => {
                self.pos += 1;
                simple(v)
            }
            "jump" | "goto" => {
                self.pos += 1;
                let target = self.word_or_str()?;
                Some(single(w, obj(vec![f("target", s(target))])))
            }
            "counter" => {
                self.pos += 1;
                if self.eat("packets") {
                    let p = self.word()?.parse::<u64>().ok()?;
                    if !self.eat("bytes") {
                        return None;
                    }
                    let b = self.word()?.parse::<u64>().ok()?;
                    Some(single(
                        "counter",
                        obj(vec![f("packets", J::U(p)), f("bytes", J::U(b))]),
                    ))
                } else if self.eat("name") {
                    let n = self.word_or_str()?;
                    Some(single("counter", s(n)))
                } else {
                    Some(single("counter", J::O(Vec::new())))
                }
            }
            "xt" => {
                self.pos += 1;
                let ty = self.word()?;
                if !matches!(ty, "match" | "target" | "watcher") {
                    return None;
                }
                let name = self.word_or_str()?;
                Some(single(
                    "xt",
                    obj(vec![f("type", s(ty)), f("name", s(name))]),
                ))
            }
            "notrack" => {
                self.pos += 1;
                simple("notrack")
            }
            "log" => {
                self.pos += 1;
                let mut fields = Vec::new();
                loop {
                    match self.peek_word() {
                        Some("prefix") => {
                            self.pos += 1;
                            match self.peek() {
                                Some(Tok::Str(p)) => {
                                    self.pos += 1;
                                    fields.push(f("prefix", s(p)));
                                }
                                _ => return None,
                            }
                        }
                        Some(k @ ("level" | "group" | "snaplen" | "queue-threshold")) => {
                            self.pos += 1;
                            let v = self.word()?;
                            fields.push(f(known(k), value_word(v)));
                        }
                        Some("flags") => return None,
                        _ => break,
                    }
                }
                Some(single(
                    "log",
                    if fields.is_empty() {
                        J::Null
                    } else {
                        obj(fields)
                    },
                ))
            }
            "limit" => {
                self.pos += 1;
                if !self.eat("rate") {
                    return None;
                }
                let over = self.eat("over");
                let first = self.word()?;
                let (rate, unit, per) = match first.split_once('/') {
                    Some((r, per)) => (r.parse::<u64>().ok()?, None, per),
                    None => {
                        let rate = first.parse::<u64>().ok()?;
                        let (unit, per) = self.word()?.split_once('/')?;
                        (rate, Some(unit), per)
                    }
                };
                let mut fields = vec![f("rate", J::U(rate))];
                if self.eat("burst") {
                    let b = self.word()?.parse::<u64>().ok()?;
                    self.word()?; // packets | bytes
                    fields.push(f("burst", J::U(b)));
                }
                fields.push(f("per", s(per)));
                if let Some(u) = unit {
                    fields.push(f("rate_unit", s(u)));
                }
                if over {
                    fields.push(f("inv", J::Bool(true)));
                }
                Some(single("limit", obj(fields)))
            }
            "reject" => {
                self.pos += 1;
                let (ty, code) = if self.eat("with") {
                    let ty = self.word()?;
                    match ty {
                        "tcp" => {
                            if !self.eat("reset") {
                                return None;
                            }
                            ("tcp reset".to_string(), None)
                        }
                        "icmp" | "icmpv6" | "icmpx" => {
                            // `with icmp type host-unreachable` (older) or `with icmp host-unreachable`.
                            self.eat("type");
                            (ty.to_string(), Some(self.word()?.to_string()))
                        }
                        _ => return None,
                    }
                } else {
                    let ty = match self.family {
                        Family::Ip => "icmp",
                        Family::Ip6 => "icmpv6",
                        _ => "icmpx",
                    };
                    (ty.to_string(), Some("port-unreachable".to_string()))
                };
                let mut fields = vec![f("type", so(ty))];
                if let Some(c) = code {
                    fields.push(f("expr", so(c)));
                }
                Some(single("reject", obj(fields)))
            }
            "masquerade" | "snat" | "dnat" | "redirect" => {
                self.pos += 1;
                self.nat(w)
            }
            _ => self.expr_stmt(),
        }
    }

    fn nat(&mut self, kind: &'t str) -> Option<J<'t>> {
        let mut fields = Vec::new();
        if matches!(kind, "snat" | "dnat")
            && let Some(fam @ ("ip" | "ip6")) = self.peek_word()
        {
            self.pos += 1;
            fields.push(f("family", s(fam)));
        }
        if self.eat("to") {
            // `dnat to tcp dport map { 80 : 172.17.0.2 }`
            let start = self.pos;
            if let Some(key) = self.expr()
                && self.eat("map")
            {
                let data = self.set_literal(false)?;
                fields.push(f(
                    "addr",
                    single("map", obj(vec![f("key", key), f("data", data)])),
                ));
                return Some(single(kind, obj(fields)));
            }
            self.pos = start;
            let target = self.word()?;
            let (addr, port) = split_nat_target(target)?;
            if let Some(a) = addr {
                if !matches!(kind, "snat" | "dnat") {
                    return None;
                }
                fields.push(f("addr", nat_value(a)?));
            }
            if let Some(p) = port {
                fields.push(f("port", value_word(p)));
            }
        }
        if matches!(
            self.peek_word(),
            Some("random" | "fully-random" | "persistent")
        ) {
            return None;
        }
        Some(single(
            kind,
            if fields.is_empty() {
                J::Null
            } else {
                obj(fields)
            },
        ))
    }

    /// A statement that starts with an expression: a match, `vmap`, or `… set VALUE`.
    fn expr_stmt(&mut self) -> Option<J<'t>> {
        let left = self.expr()?;
        match self.peek_word() {
            Some("vmap") => {
                self.pos += 1;
                let data = match self.peek() {
                    Some(Tok::Word(w)) if w.starts_with('@') => {
                        self.pos += 1;
                        s(w)
                    }
                    Some(Tok::LBrace) => self.set_literal(false)?,
                    _ => return None,
                };
                Some(single("vmap", obj(vec![f("key", left), f("data", data)])))
            }
            Some("set") => {
                self.pos += 1;
                let start = self.pos;
                // `meta mark set mark and 0xff00ffff xor 0x40000`: nft prints the mark it
                // reads back unqualified.
                let v = if self.peek_word() == Some("mark") {
                    self.pos += 1;
                    self.binary(single("meta", obj(vec![f("key", s("mark"))])))?
                } else {
                    match self.expr() {
                        Some(e) => e,
                        None => {
                            self.pos = start;
                            self.value()?
                        }
                    }
                };
                Some(single("mangle", obj(vec![f("key", left), f("value", v)])))
            }
            _ => {
                let op = match self.peek_word() {
                    Some(op @ ("==" | "!=" | "<" | ">" | "<=" | ">=")) => {
                        self.pos += 1;
                        op
                    }
                    Some("eq") => {
                        self.pos += 1;
                        "=="
                    }
                    Some("ne") => {
                        self.pos += 1;
                        "!="
                    }
                    _ => "==",
                };
                let mut left = left;
                let mut right = self.value_list()?;
                // `tcp flags syn / syn,ack`: value / mask.
                if self.eat("/") {
                    let mask = self.value_list()?;
                    left = single("&", J::A(vec![left, mask]));
                } else if self.at_value_end() {
                } else {
                    return None;
                }
                if matches!(&right, J::A(a) if a.len() == 1)
                    && let J::A(mut a) = right
                {
                    right = a.remove(0);
                }
                Some(single(
                    "match",
                    obj(vec![
                        f("op", st(known(op))),
                        f("left", left),
                        f("right", right),
                    ]),
                ))
            }
        }
    }

    /// After a match's value: the next statement starts (or the rule ends).
    fn at_value_end(&self) -> bool {
        !matches!(self.peek(), Some(Tok::Comma | Tok::LBrace | Tok::RBrace))
    }

    fn expr(&mut self) -> Option<J<'t>> {
        let first = self.primary()?;
        let mut parts = vec![self.binary(first)?];
        while self.eat(".") {
            let p = self.primary()?;
            parts.push(self.binary(p)?);
        }
        Some(if parts.len() == 1 {
            parts.remove(0)
        } else {
            single("concat", J::A(parts))
        })
    }

    fn binary(&mut self, mut left: J<'t>) -> Option<J<'t>> {
        // nft prints a statement's operators as words (`meta mark set mark and 0xff00ffff xor
        // 0x40000`, iptables-nft's `-j MARK --set-xmark` translated).
        let op_of = |w: &str| match w {
            "&" | "and" => Some("&"),
            "|" | "or" => Some("|"),
            "^" | "xor" => Some("^"),
            "<<" | "lshift" => Some("<<"),
            ">>" | "rshift" => Some(">>"),
            _ => None,
        };
        while let Some(op) = self.peek_word().and_then(op_of) {
            self.pos += 1;
            let v = self.value()?;
            left = single(op, J::A(vec![left, v]));
        }
        Some(left)
    }

    fn primary(&mut self) -> Option<J<'t>> {
        let w = self.word()?;
        Some(match w {
            "meta" => {
                let key = self.word()?;
                single("meta", obj(vec![f("key", s(key))]))
            }
            k if unqualified_meta(k) => single("meta", obj(vec![f("key", s(k))])),
            "ct" => {
                let mut fields = Vec::new();
                let mut dir = None;
                if let Some(d @ ("original" | "reply")) = self.peek_word() {
                    self.pos += 1;
                    dir = Some(d);
                }
                let mut key = self.word()?.to_string();
                if matches!(key.as_str(), "ip" | "ip6") {
                    key = format!("{key} {}", self.word()?);
                }
                if matches!(key.as_str(), "helper" | "timeout" | "expectation" | "count") {
                    return None;
                }
                fields.push(f("key", so(key)));
                if let Some(d) = dir {
                    fields.push(f("dir", s(d)));
                }
                single("ct", obj(fields))
            }
            "fib" => {
                let mut flags = vec![s(self.word()?)];
                while self.eat(".") {
                    flags.push(s(self.word()?));
                }
                let result = self.word()?;
                if !matches!(result, "type" | "oif" | "oifname") {
                    return None;
                }
                single(
                    "fib",
                    obj(vec![f("result", s(result)), f("flags", J::A(flags))]),
                )
            }
            "rt" | "socket" | "osf" | "ipsec" => {
                let key = self.word()?;
                single(w, obj(vec![f("key", s(key))]))
            }
            p if PAYLOAD_PROTOCOLS.contains(&p) => {
                let field = self.word()?;
                if matches!(field, "option" | "at") || field.contains(',') {
                    return None;
                }
                single(
                    "payload",
                    obj(vec![f("protocol", s(p)), f("field", s(field))]),
                )
            }
            _ => return None,
        })
    }

    /// A value or a comma list of values (`established,related`, a JSON array).
    fn value_list(&mut self) -> Option<J<'t>> {
        if self.peek() == Some(&Tok::LBrace) {
            return self.set_literal(false);
        }
        let mut vals = vec![self.value()?];
        while self.peek() == Some(&Tok::Comma) {
            self.pos += 1;
            vals.push(self.value()?);
        }
        Some(if vals.len() == 1 {
            vals.remove(0)
        } else {
            J::A(vals)
        })
    }

    /// A single value: a word, a string, `@set`, or a concatenation `a . b`.
    fn value(&mut self) -> Option<J<'t>> {
        let first = self.atom()?;
        if self.peek_word() != Some(".") {
            return Some(first);
        }
        let mut parts = vec![first];
        while self.eat(".") {
            parts.push(self.atom()?);
        }
        Some(single("concat", J::A(parts)))
    }

    fn atom(&mut self) -> Option<J<'t>> {
        match self.peek()? {
            Tok::Str(v) => {
                self.pos += 1;
                Some(s(v))
            }
            Tok::Word(w) => {
                if matches!(&**w, "." | "/" | "==" | "!=" | ":" | "=") {
                    return None;
                }
                self.pos += 1;
                Some(value_word(w))
            }
            _ => None,
        }
    }

    /// `{ a, b, c }` (newlines allowed) as `{"set": [...]}`; map elements `k : v` are pairs.
    fn set_literal(&mut self, named: bool) -> Option<J<'t>> {
        if self.peek() != Some(&Tok::LBrace) {
            return None;
        }
        self.pos += 1;
        let mut elems = Vec::new();
        loop {
            while matches!(
                self.peek(),
                Some(Tok::Newline | Tok::Comma | Tok::Comment(_))
            ) {
                self.pos += 1;
            }
            match self.peek()? {
                Tok::RBrace => {
                    self.pos += 1;
                    break;
                }
                _ => {
                    let key = self.value()?;
                    let key = self.elem_options(key)?;
                    if self.eat(":") {
                        let data = match self.peek_word() {
                            Some(v) if VERDICTS.contains(&v) => {
                                self.pos += 1;
                                single(v, J::Null)
                            }
                            Some(v @ ("jump" | "goto")) => {
                                self.pos += 1;
                                let t = self.word_or_str()?;
                                single(v, obj(vec![f("target", s(t))]))
                            }
                            _ => self.value()?,
                        };
                        elems.push(J::A(vec![key, data]));
                    } else {
                        elems.push(key);
                    }
                }
            }
        }
        let _ = named;
        Some(single("set", J::A(elems)))
    }

    /// `10.0.0.1 timeout 1h expires 30m comment "x"`: nft -j wraps such an element as
    /// `{"elem": {"val": …, …}}`.
    fn elem_options(&mut self, val: J<'t>) -> Option<J<'t>> {
        let mut fields = Vec::new();
        while let Some(k @ ("timeout" | "expires" | "comment" | "counter")) = self.peek_word() {
            self.pos += 1;
            if k == "counter" {
                if self.eat("packets") {
                    self.word()?;
                    self.eat("bytes");
                    self.word()?;
                }
                continue;
            }
            let v = self.word_or_str()?;
            fields.push(f(known(k), s(v)));
        }
        if fields.is_empty() {
            return Some(val);
        }
        let mut all = vec![f("val", val)];
        all.extend(fields);
        Some(single("elem", obj(all)))
    }
}

/// The static copy of a keyword already matched against these.
fn known(k: &str) -> &'static str {
    const KNOWN: &[&str] = &[
        "level",
        "group",
        "snaplen",
        "queue-threshold",
        "timeout",
        "expires",
        "comment",
        "==",
        "!=",
        "<",
        ">",
        "<=",
        ">=",
    ];
    KNOWN.iter().find(|w| **w == k).copied().unwrap_or("?")
}

/// A bare word as nft -j writes it: numbers as numbers, `a-b` ranges, `addr/len` prefixes,
/// anything else a string.
fn value_word(w: &str) -> J<'_> {
    match w {
        "exists" => return J::Bool(true),
        "missing" => return J::Bool(false),
        _ => {}
    }
    if let Some(n) = number(w) {
        return J::U(n);
    }
    if let Some((addr, len)) = w.rsplit_once('/')
        && addr.parse::<IpAddr>().is_ok()
        && let Ok(len) = len.parse::<u64>()
    {
        return single("prefix", obj(vec![f("addr", s(addr)), f("len", J::U(len))]));
    }
    if let Some((a, b)) = w.split_once('-') {
        if let (Some(x), Some(y)) = (number(a), number(b)) {
            return single("range", J::A(vec![J::U(x), J::U(y)]));
        }
        if a.parse::<IpAddr>().is_ok() && b.parse::<IpAddr>().is_ok() {
            return single("range", J::A(vec![s(a), s(b)]));
        }
    }
    s(w)
}

fn number(w: &str) -> Option<u64> {
    if let Some(hex) = w.strip_prefix("0x") {
        return u64::from_str_radix(hex, 16).ok();
    }
    if w.bytes().all(|b| b.is_ascii_digit()) && !w.is_empty() {
        return w.parse().ok();
    }
    None
}

/// A NAT address: an address, a prefix or a range; anything else (a map) is not understood.
fn nat_value(a: &str) -> Option<J<'_>> {
    if a.parse::<IpAddr>().is_ok() {
        return Some(s(a));
    }
    match value_word(a) {
        j @ J::O(_) => Some(j),
        _ => None,
    }
}

/// `172.17.0.2:80`, `[fd00::2]:80`, `fd00::2`, `:80`, `172.17.0.2` -> (address, port).
fn split_nat_target(t: &str) -> Option<(Option<&str>, Option<&str>)> {
    if let Some(port) = t.strip_prefix(':') {
        return Some((None, Some(port)));
    }
    if let Some(rest) = t.strip_prefix('[') {
        let (addr, after) = rest.split_once(']')?;
        return Some((Some(addr), after.strip_prefix(':')));
    }
    if t.parse::<IpAddr>().is_ok() || t.matches(':').count() > 1 {
        return Some((Some(t), None));
    }
    match t.split_once(':') {
        Some((a, p)) => Some((Some(a), Some(p))),
        None => Some((Some(t), None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Action, Match, Stack};

    /// A rule that names a set declared after it is held back (with every rule after it) until
    /// the end, thousands of them: the model is the one the set declared first gives, rule for
    /// rule and in order, lines aside.
    #[test]
    fn held_back_rules_give_the_model_the_set_declared_first_gives() {
        let n = 4400;
        let rules = |chain: &str| -> String {
            (0..n)
                .map(|r| match r % 3 {
                    0 => format!(
                        "\t\ttcp dport {} counter accept comment \"{chain}{r}\"\n",
                        r + 1
                    ),
                    1 if r > n / 2 => "\t\tip saddr @late drop\n".to_string(),
                    _ => format!("\t\tiifname \"eth{r}\" jump other\n"),
                })
                .collect()
        };
        let set = "\tset late { type ipv4_addr; elements = { 10.9.9.9 } }\n";
        let body = format!(
            "\tchain other {{\n\t}}\n\tchain a {{\n{}\t}}\n\tchain b {{\n{}\t}}\n",
            rules("a"),
            rules("b")
        );
        let late = parse(&format!("table ip t {{\n{body}{set}}}\n"), "late.nft").unwrap();
        let first = parse(&format!("table ip t {{\n{set}{body}}}\n"), "first.nft").unwrap();
        let rules_of = |tables: &[Table], chain: &str| -> Vec<crate::model::Rule> {
            let mut rs = tables[0].chain(chain).unwrap().rules.clone();
            for r in &mut rs {
                r.line = 0;
            }
            rs
        };
        for chain in ["a", "b"] {
            let (l, f) = (rules_of(&late, chain), rules_of(&first, chain));
            assert_eq!(l.len(), n, "chain {chain}");
            assert!(l == f, "chain {chain}: held back, the rules differ");
        }
        // In order, each at its own line.
        let a = &late[0].chain("a").unwrap().rules;
        assert!(a.windows(2).all(|w| w[0].line + 1 == w[1].line));
        let held = (n / 2 + 1..n).find(|r| r % 3 == 1).unwrap();
        assert_eq!(a[held].action, Action::Drop, "the first @late rule");
        assert!(!a[held].matches.is_empty(), "its @late match");
    }

    /// Rules for chains of one name in several tables, alternating (`add rule`), each land in
    /// their own table's chain: the builder's last-chain shortcut checks family, table and
    /// chain names.
    #[test]
    fn alternating_rules_land_in_their_own_table_s_chain() {
        let text = "table ip t {\n chain c {\n }\n}\ntable ip6 t {\n chain c {\n }\n}\n\
table ip u {\n chain c {\n }\n chain d {\n }\n}\n\
add rule ip t c tcp dport 1 accept\nadd rule ip6 t c tcp dport 2 accept\n\
add rule ip u c tcp dport 3 accept\nadd rule ip u d tcp dport 4 accept\n\
add rule ip t c tcp dport 5 accept\n";
        let tables = parse(text, "x").unwrap();
        let lines = |family: Family, table: &str, chain: &str| -> Vec<usize> {
            let t = tables
                .iter()
                .find(|t| t.family == family && t.name == table)
                .unwrap();
            t.chain(chain)
                .unwrap()
                .rules
                .iter()
                .map(|r| r.line)
                .collect()
        };
        assert_eq!(lines(Family::Ip, "t", "c"), vec![15, 19]);
        assert_eq!(lines(Family::Ip6, "t", "c"), vec![16]);
        assert_eq!(lines(Family::Ip, "u", "c"), vec![17]);
        assert_eq!(lines(Family::Ip, "u", "d"), vec![18]);
    }

    #[test]
    fn priorities_in_words_and_numbers() {
        assert_eq!(priority_value(Family::Inet, "filter+10"), Some(10));
        assert_eq!(priority_value(Family::Ip, "dstnat"), Some(-100));
        assert_eq!(priority_value(Family::Ip, "srcnat-5"), Some(95));
        assert_eq!(priority_value(Family::Ip, "-150"), Some(-150));
        assert_eq!(priority_value(Family::Bridge, "filter"), Some(-200));
        assert_eq!(priority_value(Family::Ip, "bogus"), None);
    }

    /// nft 1.0.6's text for tailscale's `-j MARK --set-xmark` and ufw's ip6 `-m rt --rt-type 0`:
    /// translations of iptables-nft rules, which leave the table iptables-nft's.
    #[test]
    fn translated_mark_and_rt_rules_leave_a_table_iptables_nft_s() {
        let text = "table ip filter {\n\
\tchain ts-forward {\n\
\t\tiifname \"tailscale0\" counter packets 0 bytes 0 meta mark set mark and 0xff00ffff xor 0x40000\n\
\t\tmeta mark & 0x00ff0000 == 0x00040000 counter packets 0 bytes 0 accept\n\
\t}\n\
}\n\
table ip6 filter {\n\
\tchain ufw6-before-input {\n\
\t\trt type 0 counter packets 0 bytes 0 drop\n\
\t}\n\
}\n";
        let tables = parse(text, "nft-ruleset.txt").unwrap();
        assert_eq!(tables.len(), 2);
        assert!(tables.iter().all(|t| t.stack == Stack::IptablesNft));
        let mark = &tables[0].chain("ts-forward").unwrap().rules[0];
        assert_eq!(
            mark.action,
            Action::Continue {
                name: Some("meta mark set meta mark & 4278255615 ^ 262144".into())
            }
        );
        assert_eq!(mark.matches.len(), 1, "{:?}", mark.matches);
    }

    #[test]
    fn a_docker_table_with_handles_and_warning() {
        let text = "# Warning: table ip filter is managed by iptables-nft, do not touch!\n\
table ip filter { # handle 1\n\
\tchain FORWARD { # handle 2\n\
\t\ttype filter hook forward priority filter; policy drop;\n\
\t\toifname \"docker0\" ct state related,established counter packets 3 bytes 180 accept # handle 7\n\
\t\txt match \"addrtype\" counter packets 0 bytes 0 jump DOCKER # handle 8\n\
\t}\n\
\tchain DOCKER { # handle 3\n\
\t}\n\
}\n";
        let tables = parse(text, "nft-ruleset.txt").unwrap();
        assert_eq!(tables.len(), 1);
        let t = &tables[0];
        assert_eq!(t.stack, Stack::IptablesNft);
        let fwd = t.chain("FORWARD").unwrap();
        assert_eq!(fwd.line, 3);
        let base = fwd.base.as_ref().unwrap();
        assert_eq!(base.policy, crate::model::Policy::Drop);
        assert_eq!(fwd.rules.len(), 2);
        let r = &fwd.rules[0];
        assert_eq!(r.line, 5);
        assert_eq!(r.handle.map(|h| h.get()), Some(7));
        assert_eq!(r.action, Action::Accept);
        assert_eq!(r.counters.as_ref().map(|c| c.packets), Some(3));
        assert!(matches!(r.matches[1], Match::CtState { .. }));
        let xt = &fwd.rules[1];
        assert_eq!(
            xt.matches[0],
            Match::Unknown {
                text: "xt match \"addrtype\"".into()
            }
        );
        assert_eq!(xt.action, Action::jump("DOCKER"));
    }

    #[test]
    fn unknown_statement_is_opaque_and_keeps_its_verdict() {
        let text = "table inet t {\n chain c {\n  type filter hook forward priority 0; policy accept;\n  numgen inc mod 2 0 drop\n  tcp option maxseg size 1400\n }\n}\n";
        let t = &parse(text, "x").unwrap()[0];
        let rules = &t.chain("c").unwrap().rules;
        assert_eq!(rules[0].action, Action::Drop);
        assert_eq!(
            rules[0].matches.to_vec(),
            vec![Match::Unknown {
                text: "numgen inc mod 2 0".into()
            }]
        );
        assert!(matches!(rules[1].action, Action::Unknown { .. }));
    }

    #[test]
    fn file_syntax_defines_flush_and_add() {
        let text = "#!/usr/sbin/nft -f\nflush ruleset\ndefine WEB = { 80, 443 }\n\
table inet filter {\n chain input {\n  type filter hook input priority 0; policy drop;\n\
  tcp dport $WEB accept\n }\n}\nadd rule inet filter input iifname \"lo\" accept\n";
        let t = &parse(text, "/etc/nftables.conf").unwrap()[0];
        let rules = &t.chain("input").unwrap().rules;
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[0].line, 7);
        assert_eq!(rules[1].line, 10);
        assert!(
            rules[0]
                .matches
                .iter()
                .any(|m| matches!(m, Match::Port { ranges, .. } if ranges.len() == 2))
        );
    }

    #[test]
    fn flush_ruleset_forgets_what_came_before() {
        let text = "table ip a {\n}\nflush ruleset\ntable ip b {\n}\n";
        let tables = parse(text, "x").unwrap();
        assert_eq!(tables.len(), 1);
        assert_eq!(tables[0].name, "b");
    }

    #[test]
    fn errors_name_file_and_line() {
        for (text, line) in [
            (
                "table ip t {\n chain c {\n  type filter hook sideways priority 0;\n }\n}\n",
                3,
            ),
            ("table ip t {\n chain c {\n", 2),
            ("table foo t {\n}\n", 1),
            (
                "table ip t {\n chain c {\n  type filter hook input priority bogus;\n }\n}\n",
                3,
            ),
            (
                "table ip t {\n chain c {\n  tcp dport $NOPE accept\n }\n}\n",
                3,
            ),
            (
                "table ip t {\n chain c {\n  iifname \"lo accept\n }\n}\n",
                3,
            ),
            ("chain ip t c {\n}\n", 1),
            ("include \"/etc/x.nft\"\n", 1),
        ] {
            let e = parse(text, "f.nft").unwrap_err();
            assert_eq!((e.file.as_str(), e.line), ("f.nft", line), "{text:?}: {e}");
        }
    }

    // ---- The text cut in pieces (parse_in_pieces) against the one-thread parse.

    /// Everything of the model (lines, handles, stacks, sources), and every chain found by
    /// its name where it is (the chain index's layout aside: it may have been reserved).
    fn model(tables: &[Table]) -> String {
        let mut out = String::new();
        for t in tables {
            out.push_str(&format!(
                "{} {} {} {}\n{:#?}\n",
                t.stack, t.family, t.name, t.source, *t.chains
            ));
            for (i, c) in t.chains.iter().enumerate() {
                assert_eq!(t.chain_index(&c.name), Some(i), "{}", c.name);
            }
        }
        out
    }

    /// The one-thread parse's model.
    fn one_thread(text: &str) -> Result<String, ParseError> {
        parallel::on_this_thread_only(|| parse(text, "f.nft")).map(|t| model(&t))
    }

    /// The first line where two models differ, with a few before it.
    fn first_difference(a: &str, b: &str) -> String {
        let (a, b): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
        let i = (0..a.len().max(b.len()))
            .find(|&i| a.get(i) != b.get(i))
            .unwrap_or(0);
        let from = i.saturating_sub(8);
        format!(
            "line {i}:\n{}\n--- vs ---\n{}",
            a[from.min(a.len())..(i + 1).min(a.len())].join("\n"),
            b[from.min(b.len())..(i + 1).min(b.len())].join("\n")
        )
    }

    /// Cut in pieces of `n` lines: the pieces must be taken (not the fallback) and give the
    /// one-thread model.
    fn assert_pieces_same(text: &str, n: usize) {
        let pieces = parse_in_pieces(text, "f.nft", n)
            .unwrap_or_else(|| panic!("not cut in pieces (n = {n}):\n{text}"))
            .map(|t| model(&t));
        let one = one_thread(text);
        match (&pieces, &one) {
            (Ok(p), Ok(o)) => assert!(
                p == o,
                "pieces of {n} lines differ from the one-thread parse at {}",
                first_difference(p, o)
            ),
            _ => panic!("{n}: {pieces:?} vs {one:?}"),
        }
    }

    /// Several tables (one name in two families), sets and maps over several lines, a counter,
    /// chains with and without rules, a chain of settings only, comments, `# handle`, an
    /// anonymous set over three lines, strings with braces, `#` and `;`, nft's iptables-nft
    /// warning, blank lines between chains.
    const EDGE: &str = r#"# Warning: table ip nat is managed by iptables-nft, do not touch!
table ip filter { # handle 1
	set allowed {
		type ipv4_addr
		flags interval
		elements = { 10.0.0.0/8,
			     192.168.1.1 }
	}
	map ports {
		type inet_service : verdict
		elements = { 80 : jump web, 443 : accept }
	}
	counter hits {
		packets 0 bytes 0
	}
	chain empty { # handle 2
	}
	chain one_line { type filter hook forward priority 0; policy accept; jump web; }

	chain settings_only {
		type filter hook output priority filter + 10; policy accept;
		comment "no rules { here } # really"
	}
	chain web { # handle 3
		ip saddr @allowed tcp dport 80 accept comment "web { } # ; rule" # handle 4
		tcp dport {
			8080,
			8443
		} counter packets 1 bytes 60 accept
		iifname "br-{x}" oifname "a#b" drop
		tcp dport vmap @ports
		return
	}
	chain INPUT {
		type filter hook input priority 0; policy drop;
		ct state established,related accept
		jump web
		xt match "addrtype" counter packets 0 bytes 0
		# Warning: table ip filter is managed by iptables-nft, do not touch!
		ip daddr 10.0.0.1 drop
	}
}
table ip6 filter {
	chain web {
		ip6 saddr fd00::/8 accept
	}
}
table nat {
	chain PREROUTING {
		type nat hook prerouting priority dstnat; policy accept;
		tcp dport 8080 counter dnat to 172.17.0.2:80
		fib daddr type local counter jump DOCKER
	}
	chain DOCKER {
		iifname "docker0" counter return
	}
}
table inet other {
	set s6 { type ipv6_addr; elements = { ::1 } }
	chain c {
		ip6 daddr @s6 drop
		meta l4proto { tcp, udp } th dport 53 accept
	}
}
"#;

    /// A big kube-like text: many small chains and one that dominates, rules of every kind.
    fn big_text(chains: usize, big: usize) -> String {
        let mut t = String::from("table ip nat {\n\tset svc { type ipv4_addr; }\n");
        t.push_str("\tchain KUBE-SERVICES {\n");
        for r in 0..big {
            t.push_str(&format!(
                "\t\tip daddr 10.96.{}.{} tcp dport {} counter packets 0 bytes 0 jump KUBE-SVC-{} comment \"ns/svc{r}:p {{x}}\"\n",
                r / 250,
                r % 250,
                1 + r % 60000,
                r % chains
            ));
        }
        t.push_str("\t}\n");
        for c in 0..chains {
            t.push_str(&format!("\n\tchain KUBE-SVC-{c} {{\n"));
            for r in 0..(c % 4) {
                t.push_str(&format!(
                    "\t\tmeta mark & 0x00004000 == 0x00004000 counter jump KUBE-SEP-{c}-{r}\n"
                ));
            }
            if c % 7 == 0 {
                t.push_str("\t\ttcp dport {\n\t\t\t80,\n\t\t\t443\n\t\t} ip daddr @svc accept\n");
            }
            t.push_str("\t}\n");
        }
        t.push_str("}\ntable ip filter {\n\tchain FORWARD {\n\t\ttype filter hook forward priority filter; policy drop;\n");
        for r in 0..big / 2 {
            t.push_str(&format!(
                "\t\tiifname \"veth{r}\" oifname \"docker0\" accept\n"
            ));
        }
        t.push_str("\t}\n}\n");
        t
    }

    #[test]
    fn pieces_give_the_one_thread_model_on_edge_cases() {
        for n in [1, 2, 3, 4, 5, 7, 11, 1024] {
            assert_pieces_same(EDGE, n);
        }
        // Pieces of 2 lines: many, some starting inside a chain (`web`, after a rule line).
        let p = plan(EDGE, 2).expect("planned");
        assert!(p.pieces.len() > 8, "{}", p.pieces.len());
        assert!(p.pieces.iter().any(|p| p.inside == Some("web")));
        assert!(p.pieces.iter().any(|p| p.inside == Some("INPUT")));
        assert_eq!(p.tables.len(), 4);
    }

    #[test]
    fn pieces_give_the_one_thread_model_on_every_test_file() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/nft");
        let mut cut = 0;
        for e in std::fs::read_dir(dir).expect("tests/data/nft") {
            let path = e.expect("entry").path();
            if !path.extension().is_some_and(|x| x == "nft" || x == "txt") {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("read");
            if plan(&text, 1).is_none() {
                // `add …` commands (iptables-restore-translate's output): one thread.
                assert!(text.contains("\nadd "), "{} not cut", path.display());
                continue;
            }
            for n in [1, 3, 1024] {
                assert_pieces_same(&text, n);
            }
            cut += 1;
        }
        assert!(cut >= 8, "only {cut} files cut in pieces");
    }

    #[test]
    fn pieces_give_the_one_thread_model_on_a_big_text_with_a_dominant_chain() {
        let text = big_text(3000, 6000);
        for n in [PIECE_LINES, 97] {
            assert_pieces_same(&text, n);
        }
        let p = plan(&text, PIECE_LINES).expect("planned");
        assert!(
            p.pieces
                .iter()
                .filter(|p| p.inside == Some("KUBE-SERVICES"))
                .count()
                >= 4,
            "the dominant chain is split"
        );
        // And `parse` itself (on every core, when there are several) gives the same.
        let all = parse(&text, "f.nft").map(|t| model(&t));
        assert!(all == one_thread(&text));
        let rules: usize = parse(&text, "f.nft")
            .expect("parses")
            .iter()
            .map(|t| t.rule_count())
            .sum();
        assert_eq!(rules, 6000 + 3000 / 4 * 6 + 3000 / 7 + 1 + 3000);
    }

    #[test]
    fn the_first_error_in_file_order_wins_across_pieces() {
        // Errors in chains of several pieces: a bad hook (line 3), a setting after the first
        // rule in a chain continued from the piece before (line 12), a bad priority (line 17).
        let text = "table ip t {\n\
                    \tchain a {\n\
                    \t\ttype filter hook sideways priority 0;\n\
                    \t\tip saddr 1.2.3.4 drop\n\
                    \t}\n\
                    \tchain b {\n\
                    \t\tip saddr 1.2.3.5 drop\n\
                    \t\tip saddr 1.2.3.6 drop\n\
                    \t\tip saddr 1.2.3.7 drop\n\
                    \t\tip saddr 1.2.3.8 drop\n\
                    \t\tip saddr 1.2.3.9 drop\n\
                    \t\ttype filter hook input priority 0;\n\
                    \t}\n\
                    }\n\
                    table ip u {\n\
                    \tchain c {\n\
                    \t\ttype filter hook input priority bogus;\n\
                    \t}\n\
                    }\n";
        let one = parallel::on_this_thread_only(|| parse(text, "f.nft")).unwrap_err();
        assert_eq!((one.file.as_str(), one.line), ("f.nft", 3), "{one}");
        for n in [1, 2, 3] {
            let p = plan(text, n).expect("planned");
            assert!(p.pieces.len() >= 4, "{n}: {} pieces", p.pieces.len());
            let e = parse_in_pieces(text, "f.nft", n).expect("cut").unwrap_err();
            assert_eq!(e, one, "{n}");
        }
        // Without chain a's error, chain b's (in a piece that starts inside b), then c's.
        let text = text.replacen("sideways", "input", 1);
        let text_b = text.as_str();
        let one = parallel::on_this_thread_only(|| parse(text_b, "f.nft")).unwrap_err();
        assert_eq!(one.line, 12, "{one}");
        let p = plan(text_b, 2).expect("planned");
        assert!(
            p.pieces
                .iter()
                .any(|p| p.inside == Some("b") && p.first_line <= 12)
        );
        for n in [1, 2, 3] {
            assert_eq!(
                parse_in_pieces(text_b, "f.nft", n)
                    .expect("cut")
                    .unwrap_err(),
                one
            );
        }
        let text_c = text_b.replacen(
            "1.2.3.9 drop\n\t\ttype filter hook input priority 0;\n",
            "1.2.3.9 drop\n",
            1,
        );
        let one = parallel::on_this_thread_only(|| parse(&text_c, "f.nft")).unwrap_err();
        assert_eq!(one.line, 16, "{one}");
        assert_eq!(
            parse_in_pieces(&text_c, "f.nft", 1)
                .expect("cut")
                .unwrap_err(),
            one
        );
        // An error in the skeleton (a set) after a chain's error: one thread reads it all,
        // and the chain's error, first in the file, is the one.
        let text_d = text.replacen(
            "table ip u {\n",
            "table ip u {\n\tset s { type ipv4_addr; elements = { 1.2.3.4 } \n",
            1,
        );
        assert!(parse_in_pieces(&text_d, "f.nft", 1).is_none());
        assert_eq!(parse(&text_d, "f.nft").unwrap_err().line, 12);
    }

    #[test]
    fn texts_the_pieces_cannot_be_sure_of_are_read_on_one_thread() {
        let chain = "\tchain c {\n\t\tip saddr 1.2.3.4 drop\n\t}\n";
        for text in [
            format!("define X = 1.2.3.4\ntable ip t {{\n{chain}}}\n"),
            "table ip t {\n\tchain c {\n\t\tip saddr $X drop\n\t}\n}\n".to_string(),
            format!("include \"/x\"\ntable ip t {{\n{chain}}}\n"),
            format!("flush ruleset\ntable ip t {{\n{chain}}}\n"),
            format!("table ip t {{\n{chain}}}\nadd rule ip t c drop\n"),
            "table ip t {\n\tchain c {\n\t\tip saddr \\\n 1.2.3.4 drop\n\t}\n}\n".to_string(),
            format!("table ip t {{\n{chain}}}\ntable ip t {{\n\tchain d {{\n\t}}\n}}\n"),
            format!("table ip t {{\n{chain}\tset s {{ type ipv4_addr; }}\n}}\n"),
            "table ip t { chain c { drop; } }\n".to_string(),
            "table ip t {\n\tchain c {\n\t\tdrop }\n}\n".to_string(),
            "table ip t {\n\tchain c {\n\t\tiifname \"x drop\n\t}\n}\n".to_string(),
            format!("table ip t {{\n{chain}"),
            "table ip t {\n\tset s { type ipv4_addr; }\n}\n".to_string(),
        ] {
            assert!(plan(&text, 1).is_none(), "planned: {text}");
            assert!(parse_in_pieces(&text, "f.nft", 1).is_none());
            let all = parse(&text, "f.nft").map(|t| model(&t));
            assert!(all == one_thread(&text), "{text}");
        }
    }
}
