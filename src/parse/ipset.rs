//! `ipset-save.txt`: the output of `ipset save` (`create NAME TYPE [OPTIONS]`, `add NAME ENTRY`).
//!
//! Only the address sets a packet's addresses can be looked up in are modelled: `hash:net` and
//! `hash:ip` (entries `192.0.2.0/24`, `172.17.0.2`, IPv6 alike). Docker 28.0.0's
//! `docker-ext-bridges-v4` / `-v6` are `hash:net`. Other types (`hash:ip,port`, `bitmap:port`,
//! `list:set`, ...) are kept by name with no entries and `addresses: false`, so a rule that
//! uses them stays unknown. Entry options (`timeout 30`, `nomatch`, ...) are read: an entry
//! with `nomatch` makes the set not an address list fwdoctor can judge.

use crate::model::IpSet;
use crate::parse::ParseError;
use ipnet::IpNet;
use std::net::IpAddr;

/// Parses `text` (read from `file`, used in errors) into its sets, in file order.
///
/// An `add` to a set no `create` line declared, a line that is neither, or an address entry
/// that does not parse, is a [`ParseError`] at its 1-based line.
pub fn parse(text: &str, file: &str) -> Result<Vec<IpSet>, ParseError> {
    let mut sets: Vec<IpSet> = Vec::new();
    for (idx, raw) in text.lines().enumerate() {
        let line_no = idx + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut words = line.split_whitespace();
        match (words.next(), words.next(), words.next()) {
            (Some("create"), Some(name), Some(kind)) => {
                let addresses = matches!(kind, "hash:net" | "hash:ip");
                sets.push(IpSet {
                    name: name.to_string(),
                    kind: kind.to_string(),
                    addresses,
                    entries: Vec::new(),
                });
            }
            (Some("add"), Some(name), Some(entry)) => {
                let Some(set) = sets.iter_mut().find(|s| s.name == name) else {
                    return Err(ParseError::new(
                        file,
                        line_no,
                        format!("`add` to set {name:?}, which no `create` line declared"),
                    ));
                };
                if !set.addresses {
                    continue;
                }
                if words.any(|w| w == "nomatch") {
                    set.addresses = false;
                    set.entries.clear();
                    continue;
                }
                let net = entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| {
                        ParseError::new(
                            file,
                            line_no,
                            format!("set {name:?}: entry `{entry}` is not an address or network"),
                        )
                    })?;
                set.entries.push(net);
            }
            _ => {
                return Err(ParseError::new(
                    file,
                    line_no,
                    format!(
                        "expected `create NAME TYPE ...` or `add NAME ENTRY`, found `{}`",
                        line.chars().take(80).collect::<String>()
                    ),
                ));
            }
        }
    }
    Ok(sets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_28_0_0_ext_bridges_set() {
        // `ipset save` in the lab's docker28.0.0 layout.
        let text = "create docker-ext-bridges-v4 hash:net family inet hashsize 1024 maxelem 65536 bucketsize 12 initval 0x5c0d0b5e\n\
                    add docker-ext-bridges-v4 172.17.0.0/16\n\
                    add docker-ext-bridges-v4 192.0.2.0/24\n";
        let sets = parse(text, "ipset-save.txt").unwrap();
        assert_eq!(sets.len(), 1);
        assert!(sets[0].addresses);
        assert_eq!(
            sets[0].entries,
            vec![
                "172.17.0.0/16".parse::<IpNet>().unwrap(),
                "192.0.2.0/24".parse().unwrap()
            ]
        );
    }

    #[test]
    fn single_addresses_other_types_and_nomatch() {
        let text = "create a hash:ip family inet\nadd a 10.0.0.1 timeout 30\n\
                    create p hash:ip,port family inet\nadd p 10.0.0.1,tcp:80\n\
                    create n hash:net family inet\nadd n 10.0.0.0/8\nadd n 10.1.0.0/16 nomatch\n";
        let sets = parse(text, "f").unwrap();
        assert_eq!(
            sets[0].entries,
            vec!["10.0.0.1/32".parse::<IpNet>().unwrap()]
        );
        assert!(!sets[1].addresses && sets[1].entries.is_empty());
        assert!(!sets[2].addresses, "nomatch entries are not modelled");
    }

    #[test]
    fn errors_name_file_and_line() {
        let e = parse("create a hash:net\nadd b 10.0.0.0/8\n", "ipset-save.txt").unwrap_err();
        assert_eq!((e.file.as_str(), e.line), ("ipset-save.txt", 2));
        let e = parse("create a hash:net\nadd a nonsense\n", "ipset-save.txt").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("nonsense"));
        let e = parse("\nflush\n", "x").unwrap_err();
        assert_eq!(e.line, 2);
    }
}
