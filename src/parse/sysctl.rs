//! `sysctl.txt`: `KEY = VALUE` lines.
//!
//! Accepts both `sysctl` output (`net.ipv4.ip_forward = 1`) and the sysctl.conf spelling
//! (`net.ipv4.ip_forward=1`). Blank lines and comments (`#` or `;`) are skipped. Keys written
//! with `/` separators (as sysctl.conf allows) are normalized to the dotted form.
//! A later duplicate key wins, as it would for `sysctl -p`.

use crate::model::Sysctls;
use crate::parse::ParseError;

/// Parses `text` (read from `file`, used in errors) into a key -> value map.
///
/// A non-comment line without `=`, or with an empty key, is a [`ParseError`] at its 1-based line.
pub fn parse(text: &str, file: &str) -> Result<Sysctls, ParseError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut sysctls = Sysctls::new();
    for (idx, raw) in text.lines().enumerate() {
        let line_no = idx + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err(ParseError::new(
                file,
                line_no,
                format!("expected `KEY = VALUE`, found `{}`", truncate(line, 80)),
            ));
        };
        let key = key.trim();
        if key.is_empty() {
            return Err(ParseError::new(
                file,
                line_no,
                format!("missing key before `=` in `{}`", truncate(line, 80)),
            ));
        }
        sysctls.insert(normalize_key(key), value.trim().to_string());
    }
    Ok(sysctls)
}

/// sysctl.conf allows `/` as the separator; then a `.` is part of a name (`eth0.100`). Like
/// procps, swap the two so the key reads as `sysctl -a` prints it
/// (`net/ipv4/conf/eth0.100/forwarding` -> `net.ipv4.conf.eth0/100.forwarding`).
fn normalize_key(key: &str) -> String {
    match key.find(['.', '/']) {
        Some(i) if key.as_bytes()[i] == b'/' => key
            .chars()
            .map(|c| match c {
                '/' => '.',
                '.' => '/',
                c => c,
            })
            .collect(),
        _ => key.to_string(),
    }
}

/// Shortens `s` to at most `max` characters for an error message.
fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(max).collect();
        out.push('…');
        out
    }
}
