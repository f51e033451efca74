//! `ufw status verbose`.
//!
//! ```text
//! Status: active
//! Logging: on (low)
//! Default: deny (incoming), allow (outgoing), disabled (routed)
//! New profiles: skip
//! ```
//!
//! `ufw status` without `verbose` has no `Default:` line; an inactive ufw prints only
//! `Status: inactive`. Anything unrecognized is ignored: this parser never fails. A live capture
//! whose ufw.conf does not say `ENABLED=yes` holds that same `Status: inactive` without running
//! ufw (`crate::collect::live`), so it reads as an inactive ufw here.

use crate::model::UfwFacts;

/// Parses `ufw status [verbose]` output into [`UfwFacts`].
///
/// `active` is true only for `Status: active`. The default policies keep ufw's own word
/// (`deny`, `allow`, `reject`, or `disabled` for routed when ufw does not filter forwarding).
pub fn parse(text: &str) -> UfwFacts {
    let mut facts = UfwFacts::default();
    for line in text.lines() {
        let line = line.trim();
        let Some((label, rest)) = line.split_once(':') else {
            continue;
        };
        match label.trim().to_ascii_lowercase().as_str() {
            "status" => facts.active = rest.trim().eq_ignore_ascii_case("active"),
            "default" => {
                for (policy, direction) in rest.split(',').filter_map(policy_and_direction) {
                    match direction.as_str() {
                        "incoming" => facts.default_incoming = Some(policy),
                        "routed" => facts.default_routed = Some(policy),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    facts
}

/// `deny (incoming)` -> ("deny", "incoming"), both lowercased.
fn policy_and_direction(part: &str) -> Option<(String, String)> {
    let (policy, rest) = part.trim().split_once('(')?;
    let direction = rest.split_once(')')?.0;
    let policy = policy.trim().to_ascii_lowercase();
    let direction = direction.trim().to_ascii_lowercase();
    if policy.is_empty() || direction.is_empty() {
        return None;
    }
    Some((policy, direction))
}
