//! The identity of a finding across runs.
//!
//! A finding's summary may hold counters or lists that grow ("…: published port 80/tcp, published
//! port 443/tcp"), and its evidence may carry `file:line` positions that move when a rule is
//! inserted above. Neither may make an unchanged problem look new. The key is
//! `check | subject`, where the subject is, in order:
//!
//! 1. for a finding about one published port (its summary starts with `port `): the summary up to
//!    the first `": "` -- `port 8080/tcp (web:80) on 0.0.0.0 is blocked from outside` -- so two
//!    ports blocked by the same rule stay two findings and a changing reason text does not count;
//! 2. otherwise the first evidence line's location and text, without its `file:line` source and
//!    with counts such as `12 rules` or `3 user chains` written as `N rules` (the dropping rule
//!    of `split-forward-drop`, the sysctl of `ip-forward-disabled`, a table of `mixed-backends`);
//! 3. a finding without evidence: its summary.

use crate::analyze::Finding;
use regex::Regex;
use std::sync::LazyLock;

static COUNTER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b\d+ (rules?|user chains?|chains?|packets?|bytes?)\b").expect("valid regex")
});

/// The stable key of a finding: `check | subject` (see the module docs).
pub fn key(f: &Finding) -> String {
    format!("{} | {}", f.check, subject(f))
}

fn subject(f: &Finding) -> String {
    if f.summary.starts_with("port ") {
        return match f.summary.split_once(": ") {
            Some((head, _)) => head.to_string(),
            None => f.summary.clone(),
        };
    }
    match f.evidence.first() {
        Some(e) => {
            let text = COUNTER.replace_all(&e.text, "N $1");
            format!("{}: {}", e.location, text)
        }
        None => f.summary.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::{EvidenceLine, Fix, Severity};

    fn finding(check: &'static str, summary: &str, evidence: Vec<EvidenceLine>) -> Finding {
        Finding {
            check,
            severity: Severity::Critical,
            summary: summary.into(),
            why: String::new(),
            evidence,
            fix: Fix::default(),
        }
    }

    #[test]
    fn growing_summary_and_moving_line_keep_the_key() {
        let mut e = EvidenceLine::fact("legacy ip filter FORWARD", "policy DROP");
        e.source = Some("iptables-legacy-save.txt:4".into());
        let a = finding(
            "split-forward-drop",
            "x drops: published port 80/tcp",
            vec![e.clone()],
        );
        e.source = Some("iptables-legacy-save.txt:9".into());
        let b = finding(
            "split-forward-drop",
            "x drops: published port 80/tcp, published port 443/tcp",
            vec![e],
        );
        assert_eq!(key(&a), key(&b));
        assert_eq!(
            key(&a),
            "split-forward-drop | legacy ip filter FORWARD: policy DROP"
        );
    }

    #[test]
    fn counters_in_evidence_are_masked() {
        let a = finding(
            "mixed-backends",
            "both",
            vec![EvidenceLine::fact(
                "legacy ip filter",
                "3 rules, 1 user chains",
            )],
        );
        let b = finding(
            "mixed-backends",
            "both",
            vec![EvidenceLine::fact(
                "legacy ip filter",
                "7 rules, 2 user chains",
            )],
        );
        assert_eq!(key(&a), key(&b));
    }

    #[test]
    fn ports_blocked_by_one_rule_are_distinct() {
        let e = vec![EvidenceLine::fact(
            "legacy ip filter FORWARD",
            "policy DROP",
        )];
        let a = finding(
            "published-port-blocked",
            "port 80/tcp on 0.0.0.0 is blocked from outside: a",
            e.clone(),
        );
        let b = finding(
            "published-port-blocked",
            "port 443/tcp on 0.0.0.0 is blocked from outside: a",
            e,
        );
        assert_ne!(key(&a), key(&b));
    }
}
