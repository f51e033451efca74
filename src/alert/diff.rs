//! What changed between the last run's open findings and this run's.

use crate::alert::state::OpenFinding;

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

/// Compare `before` (the last state) with `now`.
pub fn compare(before: &[OpenFinding], now: &[OpenFinding]) -> Changes {
    let same = |a: &OpenFinding, b: &OpenFinding| a.key == b.key && a.severity == b.severity;
    let mut c = Changes::default();
    for f in now {
        if before.iter().any(|b| same(b, f)) {
            c.still_open.push(f.clone());
        } else {
            c.new.push(f.clone());
        }
    }
    for b in before {
        if !now.iter().any(|f| same(b, f)) {
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
