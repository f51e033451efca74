//! Parsers: raw evidence text -> model types. Every error names the file and the line.

pub mod docker;
pub mod docker_text;
pub mod firewalld;
pub mod heap;
pub mod ip_addr;
pub mod ipset;
pub mod iptables_list;
pub mod iptables_save;
pub mod nft_json;
pub mod nft_text;
pub mod parallel;
pub mod snap;
pub mod sysctl;
pub mod tokenizer;
pub mod ufw;

use std::fmt;

/// A parse failure, pointing at the file and the 1-based line (0 when not line-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

impl ParseError {
    pub fn new(file: &str, line: usize, message: impl Into<String>) -> ParseError {
        ParseError {
            file: file.to_string(),
            line,
            message: message.into(),
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(f, "{}:{}: {}", self.file, self.line, self.message)
        } else {
            write!(f, "{}: {}", self.file, self.message)
        }
    }
}

impl std::error::Error for ParseError {}
