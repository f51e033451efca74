//! [`Text`]: the strings a rule keeps (its line, comment, chain and interface names), stored as
//! slices of the evidence file they were read from.
//!
//! A 100k-rule ruleset is a 15 MB file; copying every rule's line and words into strings of
//! their own doubled the memory of a check and made a million small allocations. A `Text` is a
//! reference-counted pointer to the whole source plus a byte range, so the file is held once
//! and a rule costs no allocation for its strings. Text that is not in a source (nft rules
//! rendered from JSON, names normalised by a parser) gets a buffer of its own.

use crate::collect::mapped_file::MappedFile;
use serde::{Serialize, Serializer};
use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::sync::Arc;

/// A whole evidence file, shared by every [`Text`] cut from it.
pub type Source = Arc<SourceText>;

/// The text of an evidence file: a string moved in without a copy, or a big file read into
/// memory of its own ([`MappedFile`]) and checked to be UTF-8 once: that memory is private and
/// read-only, so the check holds for as long as the text lives.
#[derive(Debug)]
pub struct SourceText(Backing);

#[derive(Debug)]
enum Backing {
    Owned(String),
    Mapped(MappedFile),
    /// The text of another source, under a reference count of its own (see
    /// [`SourceText::handle`]).
    Handle(Source),
}

impl SourceText {
    /// The file's text, or the file back with the error when it is not UTF-8.
    pub fn mapped(file: MappedFile) -> Result<SourceText, (MappedFile, std::str::Utf8Error)> {
        match check_utf8(file.bytes()) {
            Ok(()) => Ok(SourceText(Backing::Mapped(file))),
            Err(e) => Err((file, e)),
        }
    }

    /// A new reference-counted handle on the same text, for one thread to cut its
    /// [`Text`]s from. Every `Text` counts a reference to its source; when two cores cut
    /// thousands of them from one source, they take turns on that one counter's cache line
    /// (4.5 % of the CPU of a 10k-rule parse on two cores, next to nothing on one). Texts cut
    /// from a handle count on the handle, and the handle once on the source.
    pub fn handle(source: &Source) -> Source {
        Arc::new(SourceText(Backing::Handle(Arc::clone(source))))
    }

    pub fn as_str(&self) -> &str {
        match &self.0 {
            Backing::Owned(s) => s,
            Backing::Handle(s) => s.as_str(),
            // SAFETY: checked to be UTF-8 in `mapped`; the bytes are a private read-only copy
            // (not a mapping of the file), so no other process can change them since.
            Backing::Mapped(m) => unsafe { std::str::from_utf8_unchecked(m.bytes()) },
        }
    }
}

/// Texts from this size on are checked in two halves on two threads.
const CHECK_IN_HALVES: usize = 4 << 20;

/// [`std::str::from_utf8`]'s check of `bytes`; a big text is checked in two halves side by
/// side (1.2 ms of a 15 MB save, before anything else can read it), split after a newline,
/// which is never inside a character. A text that fails is checked again in one pass, for
/// the error's position.
fn check_utf8(bytes: &[u8]) -> Result<(), std::str::Utf8Error> {
    if bytes.len() >= CHECK_IN_HALVES
        && let Some(newline) = memchr::memchr(b'\n', &bytes[bytes.len() / 2..])
    {
        let (first, second) = bytes.split_at(bytes.len() / 2 + newline + 1);
        let both = std::thread::scope(|scope| {
            let second = scope.spawn(|| std::str::from_utf8(second).is_ok());
            std::str::from_utf8(first).is_ok() && second.join().unwrap_or(false)
        });
        if both {
            return Ok(());
        }
    }
    std::str::from_utf8(bytes).map(|_| ())
}

impl Deref for SourceText {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl From<String> for SourceText {
    fn from(s: String) -> SourceText {
        SourceText(Backing::Owned(s))
    }
}

impl From<&str> for SourceText {
    fn from(s: &str) -> SourceText {
        SourceText(Backing::Owned(s.to_string()))
    }
}

impl PartialEq for SourceText {
    fn eq(&self, other: &SourceText) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for SourceText {}

impl fmt::Display for SourceText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An immutable string: a range of a shared buffer. Compares, hashes, prints and serialises
/// as the `str` it stands for.
#[derive(Clone)]
pub struct Text {
    buf: Source,
    start: u32,
    end: u32,
}

impl Text {
    /// The slice `part` of `source`, sharing its buffer. `part` must point into `source`
    /// (a subslice of it); anything else, or a source past 4 GiB, is copied instead.
    pub fn slice_of(source: &Source, part: &str) -> Text {
        let base = source.as_ptr() as usize;
        let at = part.as_ptr() as usize;
        match at.checked_sub(base) {
            Some(start)
                if start + part.len() <= source.len()
                    && u32::try_from(start + part.len()).is_ok() =>
            {
                Text {
                    buf: Arc::clone(source),
                    start: start as u32,
                    end: (start + part.len()) as u32,
                }
            }
            _ => Text::from(part),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.buf[self.start as usize..self.end as usize]
    }
}

impl Default for Text {
    fn default() -> Text {
        Text::from("")
    }
}

impl Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Text {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for Text {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Text {
        let end = u32::try_from(s.len()).expect("a rule's text is far below 4 GiB");
        Text {
            buf: Arc::new(s.into()),
            start: 0,
            end,
        }
    }
}

impl From<String> for Text {
    fn from(s: String) -> Text {
        let end = u32::try_from(s.len()).expect("a rule's text is far below 4 GiB");
        Text {
            buf: Arc::new(s.into()),
            start: 0,
            end,
        }
    }
}

impl From<&String> for Text {
    fn from(s: &String) -> Text {
        Text::from(s.as_str())
    }
}

impl From<Text> for String {
    fn from(t: Text) -> String {
        t.as_str().to_string()
    }
}

impl PartialEq for Text {
    fn eq(&self, other: &Text) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Text {}

impl PartialEq<str> for Text {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Text {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for Text {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other.as_str()
    }
}

impl PartialEq<Text> for str {
    fn eq(&self, other: &Text) -> bool {
        self == other.as_str()
    }
}

impl PartialEq<Text> for &str {
    fn eq(&self, other: &Text) -> bool {
        *self == other.as_str()
    }
}

impl PartialOrd for Text {
    fn partial_cmp(&self, other: &Text) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Text {
    fn cmp(&self, other: &Text) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl Hash for Text {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.as_str(), f)
    }
}

impl Serialize for Text {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_big_text_is_checked_as_one_pass_would() {
        let line = "-A KUBE-SEP-X -m comment --comment \"ns/svc ✓\" -j KUBE-MARK-MASQ\n";
        let mut text = line.repeat(CHECK_IN_HALVES / line.len() + 2).into_bytes();
        assert!(text.len() >= CHECK_IN_HALVES);
        assert!(check_utf8(&text).is_ok());
        for at in [10, text.len() / 2 + 3, text.len() - 2] {
            let saved = text[at];
            text[at] = 0xff;
            let e = check_utf8(&text).expect_err("a stray 0xff");
            assert_eq!(e.valid_up_to(), at, "the error's position");
            assert_eq!(Some(e), std::str::from_utf8(&text).err());
            text[at] = saved;
        }
    }

    #[test]
    fn a_slice_shares_the_source() {
        let source: Source = Arc::new("-A FORWARD -j DOCKER".into());
        let t = Text::slice_of(&source, &source[3..10]);
        assert_eq!(t, "FORWARD");
        assert!(Arc::ptr_eq(&t.buf, &source));
    }

    #[test]
    fn a_handle_cuts_texts_of_the_same_source_without_a_copy() {
        let source: Source = Arc::new("-A FORWARD -j DOCKER".into());
        let handle = SourceText::handle(&source);
        assert_eq!(handle.as_ptr(), source.as_ptr());
        let t = Text::slice_of(&handle, &source[3..10]);
        assert_eq!(t, "FORWARD");
        assert!(Arc::ptr_eq(&t.buf, &handle), "counted on the handle");
        assert_eq!(
            Arc::strong_count(&source),
            2,
            "the handle holds the source once"
        );
        drop((source, handle));
        assert_eq!(t, "FORWARD", "the text keeps both alive");
    }

    #[test]
    fn text_outside_the_source_is_copied() {
        let source: Source = Arc::new("abc".into());
        let t = Text::slice_of(&source, "elsewhere");
        assert_eq!(t, "elsewhere");
        assert!(!Arc::ptr_eq(&t.buf, &source));
    }

    #[test]
    fn compares_as_its_string() {
        let source: Source = Arc::new("x docker0 y".into());
        let a = Text::slice_of(&source, &source[2..9]);
        assert_eq!(a, Text::from("docker0"));
        assert_eq!(format!("{a} {a:?}"), "docker0 \"docker0\"");
        assert_eq!(serde_json::to_string(&a).unwrap(), "\"docker0\"");
    }
}
