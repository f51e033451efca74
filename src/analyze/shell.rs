//! Shell quoting for the commands fwdoctor suggests: every word taken from evidence (rule words,
//! table, chain and interface names) goes through [`quote`], so pasting a suggested command runs
//! exactly that command, whatever the evidence holds (`"$(id>/tmp/pwned)"` in a rule comment
//! stays a comment).

use std::borrow::Cow;

/// Characters that mean nothing to a POSIX shell anywhere in a word, so a word made only of
/// them is left bare: `DOCKER-USER`, `172.17.0.0/16`, `--ctstate`, `RELATED,ESTABLISHED`.
fn is_safe(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_./:=,+@%-".contains(c)
}

/// `word` as one POSIX shell word: bare when it is made of safe characters (and not empty),
/// otherwise in single quotes, each `'` written as `'\''`.
pub fn quote(word: &str) -> Cow<'_, str> {
    if !word.is_empty() && word.chars().all(is_safe) {
        return Cow::Borrowed(word);
    }
    let mut out = String::with_capacity(word.len() + 2);
    out.push('\'');
    for c in word.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    Cow::Owned(out)
}

/// The words as one command line, each [`quote`]d, separated by single spaces.
pub fn join<S: AsRef<str>>(words: &[S]) -> String {
    words
        .iter()
        .map(|w| quote(w.as_ref()))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::process::Command;

    #[test]
    fn safe_words_stay_bare_and_the_rest_is_single_quoted() {
        assert_eq!(quote("DOCKER-USER"), "DOCKER-USER");
        assert_eq!(quote("172.17.0.0/16"), "172.17.0.0/16");
        assert_eq!(quote("RELATED,ESTABLISHED"), "RELATED,ESTABLISHED");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("$(id>/tmp/pwned)"), "'$(id>/tmp/pwned)'");
        assert_eq!(quote("it's"), "'it'\\''s'");
        assert_eq!(quote("`x`;\\\"*?~#!"), "'`x`;\\\"*?~#!'");
        assert_eq!(
            join(&["-m", "comment", "--comment", "a b"]),
            "-m comment --comment 'a b'"
        );
    }

    /// What `/bin/sh` makes of `printf %s WORD`: the word after quote removal and expansion.
    fn through_sh(quoted: &str) -> Vec<u8> {
        let out = Command::new("/bin/sh")
            .arg("-c")
            .arg(format!("printf %s {quoted}"))
            .output()
            .expect("runs /bin/sh");
        assert!(out.status.success(), "sh rejected {quoted:?}: {out:?}");
        out.stdout
    }

    #[test]
    fn the_shell_gives_back_exactly_the_word() {
        for w in [
            "$(touch /tmp/x)",
            "'",
            "''\\'",
            "a\nb",
            " lead",
            "*",
            "~root",
            "-",
            "%s",
        ] {
            assert_eq!(through_sh(&quote(w)), w.as_bytes(), "{w:?}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Any string without NUL (which no argv can hold) survives a real /bin/sh.
        #[test]
        fn round_trip_through_sh(w in "[^\u{0}]{0,40}") {
            prop_assert_eq!(through_sh(&quote(&w)), w.as_bytes());
        }
    }
}
