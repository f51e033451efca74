//! `snap services`, `snap list`, `snap changes` tables.

use crate::model::SnapFacts;

pub fn parse(services: Option<&str>, list: Option<&str>, changes: Option<&str>) -> SnapFacts {
    let _ = (services, list, changes);
    SnapFacts::default()
}
