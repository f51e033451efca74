//! `firewall-cmd --list-all-zones` (firewalld-zones.txt).
//!
//! ```text
//! docker (active)
//!   target: ACCEPT
//!   interfaces: docker0
//!   forward-ports:
//!         port=8080:proto=tcp:toport=80:toaddr=172.17.0.2
//! public (default, active)
//!   target: default
//!   interfaces: eth0
//! ```
//!
//! A zone starts at a line in column 0 (its name, then `(active)`, `(default)` or both); its
//! settings are indented `key: value` lines. firewalld 1.x puts each forward-port and rich rule
//! on an indented line of its own after the key. firewalld 1.3 marks only active zones, so the
//! default zone is known here only when firewall-cmd says so. "FirewallD is not running" (or
//! "not running") gives no zones. A setting before any zone is an error that names the line.

use crate::model::FirewalldZone;
use crate::parse::ParseError;

/// Parses `firewall-cmd --list-all-zones` (also `--list-all`, one zone) into its zones.
pub fn parse_zones(text: &str, file: &str) -> Result<Vec<FirewalldZone>, ParseError> {
    let mut zones: Vec<FirewalldZone> = Vec::new();
    // The multi-line key the current indented continuation lines belong to.
    let mut list_key: Option<String> = None;
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let trimmed = raw.trim();
        if !raw.starts_with([' ', '\t']) {
            if trimmed.eq_ignore_ascii_case("not running")
                || trimmed.to_ascii_lowercase().contains("is not running")
            {
                return Ok(Vec::new());
            }
            let (name, marks) = match trimmed.split_once(' ') {
                Some((n, rest)) => (n, rest.trim()),
                None => (trimmed, ""),
            };
            if name.is_empty()
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
                || !(marks.is_empty() || (marks.starts_with('(') && marks.ends_with(')')))
            {
                return Err(ParseError::new(
                    file,
                    line_no,
                    format!("expected a zone name line, found `{}`", shorten(trimmed)),
                ));
            }
            let marks = marks.trim_matches(|c| c == '(' || c == ')');
            let has = |m: &str| marks.split(',').any(|w| w.trim() == m);
            zones.push(FirewalldZone {
                name: name.to_string(),
                active: has("active"),
                default: has("default"),
                ..FirewalldZone::default()
            });
            list_key = None;
            continue;
        }
        let Some(zone) = zones.last_mut() else {
            return Err(ParseError::new(
                file,
                line_no,
                "a zone setting before any zone name",
            ));
        };
        match trimmed.split_once(':') {
            Some((key, value)) if is_key(key) => {
                let value = value.trim();
                let words = || value.split_whitespace().map(str::to_string);
                match key {
                    "target" => zone.target = value.to_string(),
                    "interfaces" => zone.interfaces = words().collect(),
                    "sources" => zone.sources = words().collect(),
                    "forward" => zone.forward = Some(value == "yes"),
                    "forward-ports" => zone.forward_ports = words().collect(),
                    _ => {}
                }
                list_key = Some(key.to_string());
            }
            // A continuation line of a multi-line key (a forward-port, a rich rule).
            _ => {
                if list_key.as_deref() == Some("forward-ports") {
                    zone.forward_ports.push(trimmed.to_string());
                }
            }
        }
    }
    Ok(zones)
}

/// At most 80 characters of a line, for an error message.
fn shorten(s: &str) -> String {
    match s.char_indices().nth(80) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// A settings key of `--list-all`: lower-case words joined by `-` (`rich rules` has a space).
fn is_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b == b'-' || b == b' ')
}

#[cfg(test)]
mod tests {
    use super::*;

    const LISTING: &str = "\
block
  target: %%REJECT%%
  interfaces: 
  forward: yes

docker (active)
  target: ACCEPT
  icmp-block-inversion: no
  interfaces: docker0 br-1a2b
  sources: 
  forward: yes
  forward-ports: 
  rich rules: 

public (default, active)
  target: default
  interfaces: eth0
  services: dhcpv6-client ssh
  forward-ports: 
\tport=8080:proto=tcp:toport=80:toaddr=172.17.0.2
  rich rules: 
\trule family=\"ipv4\" source address=\"192.0.2.0/24\" accept
";

    #[test]
    fn zones_their_marks_interfaces_and_forward_ports() {
        let z = parse_zones(LISTING, "firewalld-zones.txt").unwrap();
        assert_eq!(z.len(), 3);
        assert_eq!((z[0].name.as_str(), z[0].active), ("block", false));
        assert_eq!(z[1].name, "docker");
        assert!(z[1].active && !z[1].default);
        assert_eq!(z[1].target, "ACCEPT");
        assert_eq!(z[1].interfaces, ["docker0", "br-1a2b"]);
        assert!(z[2].active && z[2].default);
        assert_eq!(
            z[2].forward_ports,
            ["port=8080:proto=tcp:toport=80:toaddr=172.17.0.2"]
        );
    }

    #[test]
    fn not_running_is_no_zones_and_garbage_names_its_line() {
        assert!(
            parse_zones("FirewallD is not running\n", "f")
                .unwrap()
                .is_empty()
        );
        let e = parse_zones("  target: ACCEPT\n", "firewalld-zones.txt").unwrap_err();
        assert_eq!((e.file.as_str(), e.line), ("firewalld-zones.txt", 1));
        let e = parse_zones("docker\n  target: x\nrm -rf / (x\n", "z").unwrap_err();
        assert_eq!(e.line, 3);
    }
}
