//! iptables-restore's word splitting (`add_param_to_argv` in iptables/xshared.c) and its writer
//! twin (`xtables_save_string` in libxtables/xtables.c).
//!
//! The rules, checked against iptables-restore 1.8.9:
//!
//! * outside quotes, space, tab and newline separate words; runs of them count as one;
//! * `"` opens a quoted section, also in the middle of a word (`xy"ab cd"` is `xyab cd`);
//! * the closing `"` ends the word at once (`"ab"cd` is two words), so `""` is one empty word;
//! * inside quotes `\` takes the next character literally, whatever it is;
//! * outside quotes a backslash is an ordinary character, and `'` never quotes anything.
//!
//! iptables-restore itself lets an unterminated quote run to the end of the line; we report it
//! as an error instead, because in a save dump it always means a damaged or truncated line.

use std::borrow::Cow;
use std::ops::Range;

/// One word of a rule line, as `add_param_to_argv` hands it to the option parser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word<'a> {
    /// The word with its quotes and escapes removed.
    pub text: Cow<'a, str>,
    /// Part of the word was inside `"…"`. A quoted word is always a value, never an option
    /// or a `!`, even when it starts with `-`.
    pub quoted: bool,
    /// Byte range of the word in the line, quotes included.
    pub span: Range<usize>,
}

impl Word<'_> {
    /// Is this word the unquoted option (or `!`) `s`?
    pub fn is(&self, s: &str) -> bool {
        !self.quoted && self.text == s
    }

    /// An unquoted word starting with `-`: an option name, not a value.
    pub fn is_option(&self) -> bool {
        !self.quoted && self.text.starts_with('-')
    }

    /// An unquoted `!`.
    pub fn is_bang(&self) -> bool {
        self.is("!")
    }
}

/// Split one rule line into words exactly as iptables-restore does.
pub fn split(line: &str) -> Result<Vec<String>, String> {
    Ok(split_words(line)?
        .into_iter()
        .map(|w| w.text.into_owned())
        .collect())
}

/// [`split`], keeping for each word whether it was quoted and where it sits in `line`.
///
/// Words without quotes borrow from `line`.
pub fn split_words(line: &str) -> Result<Vec<Word<'_>>, String> {
    let mut words = Vec::new();
    split_words_into(line, &mut words)?;
    Ok(words)
}

const WORD: u8 = 0;
const SEP: u8 = 1;
const QUOTE: u8 = 2;

/// What each byte is to the word splitter: one table load instead of four comparisons in the
/// loop that runs over every byte of a dump.
static CLASS: [u8; 256] = {
    let mut t = [WORD; 256];
    t[b' ' as usize] = SEP;
    t[b'\t' as usize] = SEP;
    t[b'\n' as usize] = SEP;
    t[b'"' as usize] = QUOTE;
    t
};

/// [`split_words`] into a caller's buffer (cleared first), so a parser can reuse one
/// allocation for every line.
pub fn split_words_into<'a>(line: &'a str, words: &mut Vec<Word<'a>>) -> Result<(), String> {
    words.clear();
    let bytes = line.as_bytes();
    let n = bytes.len();
    let is_sep = |b: u8| CLASS[b as usize] == SEP;
    let mut i = 0;
    // Only ASCII bytes are special, and they never occur inside a multi-byte UTF-8 sequence,
    // so every index below is a character boundary.
    loop {
        while i < n && is_sep(bytes[i]) {
            i += 1;
        }
        if i == n {
            return Ok(());
        }
        let start = i;
        i = skip_word_bytes(bytes, i);
        while i < n && CLASS[bytes[i] as usize] == WORD {
            i += 1;
        }
        if i == n || bytes[i] != b'"' {
            words.push(borrowed(line, start, i));
            continue;
        }
        // A quoted section from `open`; inside it `\` takes the next byte literally.
        let open = i;
        i += 1;
        let mut escapes = false;
        i = skip_quoted_bytes(bytes, i);
        while i < n && bytes[i] != b'"' {
            if bytes[i] == b'\\' {
                escapes = true;
                i += 1;
            }
            i += 1;
        }
        if i >= n {
            return Err(format!(
                "unterminated quote (opened at column {})",
                open + 1
            ));
        }
        // `i` is the closing quote, which ends the word at once.
        let text = if start == open && !escapes {
            Cow::Borrowed(&line[open + 1..i])
        } else {
            let mut buf = Vec::with_capacity(i - start);
            buf.extend_from_slice(&bytes[start..open]);
            let mut k = open + 1;
            while k < i {
                if bytes[k] == b'\\' {
                    k += 1;
                }
                buf.push(bytes[k]);
                k += 1;
            }
            Cow::Owned(
                String::from_utf8(buf).map_err(|_| "invalid UTF-8 in a quoted word".to_string())?,
            )
        };
        words.push(Word {
            text,
            quoted: true,
            span: start..i + 1,
        });
        i += 1;
    }
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH_BITS: u64 = ONES * 0x80;
const LOW_BITS: u64 = ONES * 0x7f;

/// The bytes of `x` equal to zero, each marked by its high bit (exact: no false positives).
fn zero_bytes(x: u64) -> u64 {
    !(((x & LOW_BITS) + LOW_BITS) | x | LOW_BITS)
}

/// Past the bytes from `i` that surely are inside a word, eight at a time: stops at or before
/// the first byte below `#`, which every separator and `"` is (so are `!` and control bytes,
/// which the byte loop after this takes as word bytes). The splitter runs over every byte of a
/// dump, so it reads eight at a time where it can.
fn skip_word_bytes(bytes: &[u8], i: usize) -> usize {
    // High bit of each byte: set where the byte is `#` (0x23) or above; bytes of 0x80 and up
    // count as above (`| x`), and 0x7f + 0x5d carries into no other byte.
    skip_until(bytes, i, |x| {
        !(((x & LOW_BITS) + ONES * 0x5d) | x) & HIGH_BITS
    })
}

/// Past the bytes from `i` that are neither `"` nor `\`, eight at a time.
fn skip_quoted_bytes(bytes: &[u8], i: usize) -> usize {
    skip_until(bytes, i, |x| {
        zero_bytes(x ^ (ONES * u64::from(b'"'))) | zero_bytes(x ^ (ONES * u64::from(b'\\')))
    })
}

/// Past whole 8-byte chunks from `i` in which `stops` marks no byte (by its high bit), to the
/// first marked byte; a tail shorter than 8 bytes is left to the caller's byte loop.
fn skip_until(bytes: &[u8], mut i: usize, stops: impl Fn(u64) -> u64) -> usize {
    while let Some(chunk) = bytes.get(i..i + 8) {
        let marked = stops(u64::from_le_bytes(chunk.try_into().unwrap_or_default()));
        if marked != 0 {
            return i + (marked.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    i
}

fn borrowed(line: &str, start: usize, end: usize) -> Word<'_> {
    Word {
        text: Cow::Borrowed(&line[start..end]),
        quoted: false,
        span: start..end,
    }
}

/// Quote a word as iptables-save prints string options (`xtables_save_string`).
///
/// A non-empty word made only of `[A-Za-z0-9_-]` stays bare; anything else, the empty word
/// included, is wrapped in `"…"` with `"`, `\` and `'` backslash-escaped. `split(quote(s))`
/// gives back exactly `[s]` for every `s`.
pub fn quote(word: &str) -> Cow<'_, str> {
    let bare = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if bare {
        return Cow::Borrowed(word);
    }
    let mut out = String::with_capacity(word.len() + 2);
    out.push('"');
    for c in word.chars() {
        if matches!(c, '"' | '\\' | '\'') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sp(s: &str) -> Vec<String> {
        split(s).expect("splits")
    }

    #[test]
    fn whitespace_separates_and_collapses() {
        assert_eq!(sp("a  b\tc\nd"), ["a", "b", "c", "d"]);
        assert_eq!(sp("   "), Vec::<String>::new());
        assert_eq!(sp(""), Vec::<String>::new());
        assert_eq!(sp("  -A  INPUT  "), ["-A", "INPUT"]);
    }

    #[test]
    fn quote_opens_mid_word() {
        assert_eq!(sp(r#"xy"ab cd""#), ["xyab cd"]);
        assert_eq!(sp(r#"--comment x"a b" -j"#), ["--comment", "xa b", "-j"]);
    }

    #[test]
    fn closing_quote_ends_the_word() {
        assert_eq!(sp(r#""ab"cd"#), ["ab", "cd"]);
        assert_eq!(sp(r#""x""y""#), ["x", "y"]);
    }

    #[test]
    fn empty_quotes_are_one_empty_word() {
        assert_eq!(sp(r#"--comment """#), ["--comment", ""]);
        assert_eq!(sp(r#""" """#), ["", ""]);
    }

    #[test]
    fn backslash_escapes_inside_quotes_only() {
        assert_eq!(sp(r#""a \"q\" b\\c it\'s""#), [r#"a "q" b\c it's"#]);
        assert_eq!(sp(r#""\x""#), ["x"]);
        assert_eq!(sp(r"a\b"), [r"a\b"]);
        assert_eq!(sp(r"a\ b"), [r"a\", "b"]);
    }

    #[test]
    fn single_quotes_mean_nothing() {
        assert_eq!(sp("'a b'"), ["'a", "b'"]);
    }

    #[test]
    fn carriage_return_is_an_ordinary_character() {
        assert_eq!(sp("a\r b"), ["a\r", "b"]);
    }

    #[test]
    fn unterminated_quote_is_an_error() {
        let e = split(r#"--comment "abc"#).expect_err("must fail");
        assert!(e.contains("unterminated quote"), "{e}");
        assert!(e.contains("column 11"), "{e}");
        assert!(split(r#""abc\""#).is_err());
    }

    #[test]
    fn words_carry_quoted_bit_and_span() {
        let line = r#"-m comment --comment "-x y" -j ACCEPT"#;
        let w = split_words(line).expect("splits");
        assert_eq!(w.len(), 6);
        assert!(!w[1].quoted && w[1].is("comment"));
        assert!(w[3].quoted && w[3].text == "-x y" && !w[3].is_option());
        assert_eq!(&line[w[3].span.clone()], r#""-x y""#);
        assert_eq!(&line[w[5].span.clone()], "ACCEPT");
        assert!(matches!(w[5].text, Cow::Borrowed(_)));
        let w = split_words(r#"ab"c d"e"#).expect("splits");
        assert_eq!(w[0].span, 0..7);
        assert_eq!(w[1].span, 7..8);
    }

    #[test]
    fn quote_follows_xtables_save_string() {
        assert_eq!(quote("simple"), "simple");
        assert_eq!(quote("a-b_C9"), "a-b_C9");
        assert_eq!(quote("-x"), "-x");
        assert_eq!(quote(""), r#""""#);
        assert_eq!(quote("ns/svc:p80"), r#""ns/svc:p80""#);
        assert_eq!(quote("a b"), r#""a b""#);
        assert_eq!(quote(r#"a "q" b\c it's"#), r#""a \"q\" b\\c it\'s""#);
        assert_eq!(quote(r"a\b"), r#""a\\b""#);
        assert_eq!(quote("été"), r#""été""#);
        assert!(matches!(quote("x"), Cow::Borrowed(_)));
    }

    #[test]
    fn quote_then_split_round_trips() {
        for s in [
            "",
            "simple",
            "-j",
            "!",
            "a b",
            "  lead",
            "tab\there",
            "new\nline",
            r#"""#,
            r"\",
            "'",
            r#"a "q" b\c it's"#,
            "ns/svc:p80",
            "unicode ✓ é",
            r#"\"\\"#,
            "x\r",
        ] {
            assert_eq!(split(&quote(s)).expect("splits"), [s], "for {s:?}");
        }
    }

    /// The rules of the module docs, one byte at a time: what the byte-class scan must
    /// give on any line.
    fn reference(line: &str) -> Result<Vec<(String, bool, Range<usize>)>, ()> {
        let b = line.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < b.len() {
            if matches!(b[i], b' ' | b'\t' | b'\n') {
                i += 1;
                continue;
            }
            let start = i;
            let mut text = Vec::new();
            let mut quoted = false;
            while i < b.len() && !matches!(b[i], b' ' | b'\t' | b'\n') {
                if b[i] == b'"' {
                    quoted = true;
                    i += 1;
                    loop {
                        match b.get(i) {
                            None => return Err(()),
                            Some(b'"') => break,
                            Some(b'\\') => {
                                text.push(*b.get(i + 1).ok_or(())?);
                                i += 2;
                            }
                            Some(&c) => {
                                text.push(c);
                                i += 1;
                            }
                        }
                    }
                    i += 1;
                    break;
                }
                text.push(b[i]);
                i += 1;
            }
            out.push((String::from_utf8(text).map_err(|_| ())?, quoted, start..i));
        }
        Ok(out)
    }

    proptest::proptest! {
        #[test]
        fn splits_like_the_byte_by_byte_rules(line in "[ \t\n\"\\\\ab'é✓!#\x01\x7f-]{0,60}") {
            let got = split_words(&line)
                .map(|ws| ws.into_iter().map(|w| (w.text.into_owned(), w.quoted, w.span)).collect::<Vec<_>>())
                .map_err(|_| ());
            proptest::prop_assert_eq!(got, reference(&line));
        }
    }
}
