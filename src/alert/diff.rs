//! What changed between the last run's open findings and this run's.

use crate::alert::state::OpenFinding;
use std::collections::HashSet;

/// The comparison of two runs. A finding whose severity changed counts as resolved at the old
/// severity and new at the new one.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Changes {
    /// Open now, not before.
    pub new: Vec<OpenFinding>,
    /// Open before, not now.
    pub resolved: Vec<OpenFinding>,
    /// Open before and now (with this run's summary).
    pub still_open: Vec<OpenFinding>,
}

impl Changes {
    /// Did anything appear or get resolved?
    pub fn any(&self) -> bool {
        !self.new.is_empty() || !self.resolved.is_empty()
    }
}

/// What makes two runs' findings the same finding.
fn identity(f: &OpenFinding) -> (&str, &str) {
    (f.key.as_str(), f.severity.as_str())
}

/// Compare `before` (the last state) with `now`: linear, so a host with thousands of published
/// ports (one finding each) costs the cron run no more than its check.
pub fn compare(before: &[OpenFinding], now: &[OpenFinding]) -> Changes {
    let before_ids: HashSet<(&str, &str)> = before.iter().map(identity).collect();
    let now_ids: HashSet<(&str, &str)> = now.iter().map(identity).collect();
    let mut c = Changes::default();
    for f in now {
        if before_ids.contains(&identity(f)) {
            c.still_open.push(f.clone());
        } else {
            c.new.push(f.clone());
        }
    }
    for b in before {
        if !now_ids.contains(&identity(b)) {
            c.resolved.push(b.clone());
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(key: &str, sev: &str) -> OpenFinding {
        OpenFinding {
            key: key.into(),
            check: "c".into(),
            severity: sev.into(),
            summary: key.into(),
        }
    }

    #[test]
    fn new_resolved_still_open_and_severity_change() {
        let c = compare(
            &[f("a", "critical"), f("b", "warning"), f("d", "warning")],
            &[f("a", "critical"), f("c", "info"), f("d", "critical")],
        );
        assert_eq!(c.still_open, vec![f("a", "critical")]);
        assert_eq!(c.new, vec![f("c", "info"), f("d", "critical")]);
        assert_eq!(c.resolved, vec![f("b", "warning"), f("d", "warning")]);
        assert!(c.any());
        assert!(!compare(&[f("a", "info")], &[f("a", "info")]).any());
    }
}
