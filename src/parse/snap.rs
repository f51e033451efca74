//! `snap services`, `snap list`, `snap changes` tables.
//!
//! snapd prints all three through a tabwriter: a header row first, then one row per item, with
//! columns separated by two or more spaces. Cells themselves may hold single spaces (human
//! times such as `today at 11:24 CEST`), so columns are split on runs of two or more spaces, and
//! the last column keeps the rest of the line verbatim. Headers may be localized, so columns are
//! found by position (English header names are used when present, for older layouts).
//!
//! These parsers never fail: odd rows are skipped, and a source that holds no table (e.g.
//! `no changes found`) yields nothing.

use crate::model::{SnapChange, SnapFacts, SnapListing, SnapService};

/// The docker snap's daemon as `snap services` names it.
const DOCKER_SERVICE: &str = "docker.dockerd";
/// The docker snap's name in `snap list`.
const DOCKER_SNAP: &str = "docker";

/// Parses the three snap sources (each None when not captured) into [`SnapFacts`].
pub fn parse(services: Option<&str>, list: Option<&str>, changes: Option<&str>) -> SnapFacts {
    SnapFacts {
        docker_service: services.and_then(parse_docker_service),
        docker_snap: list.and_then(parse_docker_listing),
        docker_changes: changes.map(parse_docker_changes).unwrap_or_default(),
    }
}

/// The `docker.dockerd` row of `snap services` (`Service  Startup  Current  Notes`).
pub fn parse_docker_service(text: &str) -> Option<SnapService> {
    let table = Table::parse(text, 4)?;
    table
        .rows
        .iter()
        .find(|row| row.first().map(String::as_str) == Some(DOCKER_SERVICE))
        .map(|row| SnapService {
            name: DOCKER_SERVICE.to_string(),
            enabled: cell(row, 1).eq_ignore_ascii_case("enabled"),
            active: cell(row, 2).eq_ignore_ascii_case("active"),
        })
}

/// The `docker` row of `snap list` (`Name  Version  Rev  Tracking  Publisher  Notes`).
///
/// With `snap list --all` several revisions may be listed; the one whose Notes do not say
/// `disabled` is the revision in use.
pub fn parse_docker_listing(text: &str) -> Option<SnapListing> {
    let table = Table::parse(text, 6)?;
    let version = table.column("Version").unwrap_or(1);
    let rev = table.column("Rev").unwrap_or(2);
    // Very old snapd had no Tracking column (`Name Version Rev Developer Notes`).
    let tracking = match table.column("Tracking") {
        Some(i) => Some(i),
        None if table.header_is_english() => None,
        None => Some(3),
    };
    let notes = table.column("Notes");

    let docker_rows: Vec<&Vec<String>> = table
        .rows
        .iter()
        .filter(|row| row.first().map(String::as_str) == Some(DOCKER_SNAP))
        .collect();
    let is_disabled = |row: &Vec<String>| {
        notes
            .map(|i| cell(row, i).split(',').any(|n| n.trim() == "disabled"))
            .unwrap_or(false)
    };
    let row = docker_rows
        .iter()
        .find(|row| !is_disabled(row))
        .or_else(|| docker_rows.first())?;
    Some(SnapListing {
        version: cell(row, version).to_string(),
        rev: cell(row, rev).to_string(),
        tracking: tracking.map(|i| cell(row, i)).unwrap_or("").to_string(),
    })
}

/// Rows of `snap changes` (`ID  Status  Spawn  Ready  Summary`) that concern docker, in the
/// order snap printed them (oldest first).
///
/// Kept: summaries naming the `"docker"` snap (`Auto-refresh snap "docker"`,
/// `Refresh "docker" snap`, `Install "docker" snap`, `Auto-refresh snaps "a", "docker"`, ...)
/// and the multi-snap refreshes that do not name their snaps (`Auto-refresh 4 snaps`), which may
/// include docker.
pub fn parse_docker_changes(text: &str) -> Vec<SnapChange> {
    let Some(table) = Table::parse(text, 5) else {
        return Vec::new();
    };
    table
        .rows
        .iter()
        .filter(|row| row.len() == 5)
        .filter(|row| !row[0].is_empty() && row[0].chars().all(|c| c.is_ascii_digit()))
        .filter(|row| concerns_docker(&row[4]))
        .map(|row| SnapChange {
            id: row[0].clone(),
            status: row[1].clone(),
            spawn: row[2].clone(),
            ready: row[3].clone(),
            summary: row[4].clone(),
        })
        .collect()
}

/// True when a change summary names the docker snap or is an unnamed multi-snap refresh.
fn concerns_docker(summary: &str) -> bool {
    summary.contains("\"docker\"") || is_unnamed_multi_refresh(summary)
}

/// `Auto-refresh 4 snaps`, `Refresh 2 snaps`: a refresh whose snaps are not listed.
fn is_unnamed_multi_refresh(summary: &str) -> bool {
    let mut words = summary.split_whitespace();
    let verb = words.next().unwrap_or("");
    let count = words.next().unwrap_or("");
    let noun = words.next().unwrap_or("");
    matches!(verb, "Auto-refresh" | "Refresh")
        && !count.is_empty()
        && count.chars().all(|c| c.is_ascii_digit())
        && noun.trim_end_matches(':') == "snaps"
}

fn cell(row: &[String], i: usize) -> &str {
    row.get(i).map(String::as_str).unwrap_or("")
}

/// A tabwriter table: the header cells and the data rows.
struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// Splits `text` into a header and rows of at most `max_cols` cells. Returns None when the
    /// first non-blank line is not a multi-column header (e.g. `no changes found`).
    fn parse(text: &str, max_cols: usize) -> Option<Table> {
        let mut lines = text.lines().filter(|l| !l.trim().is_empty());
        let header = split_columns(lines.next()?, usize::MAX);
        if header.len() < 2 {
            return None;
        }
        let rows = lines.map(|l| split_columns(l, max_cols)).collect();
        Some(Table { header, rows })
    }

    /// Index of the column whose header is `name` (English output only).
    fn column(&self, name: &str) -> Option<usize> {
        self.header.iter().position(|h| h == name)
    }

    fn header_is_english(&self) -> bool {
        self.header.first().map(String::as_str) == Some("Name")
    }
}

/// Splits a line on runs of two or more spaces (or tabs) into at most `max_cols` trimmed
/// cells; the last cell keeps the remainder of the line, inner spacing included.
fn split_columns(line: &str, max_cols: usize) -> Vec<String> {
    let line = line.trim();
    let mut cells = Vec::new();
    let mut start = 0;
    let bytes = line.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if cells.len() + 1 >= max_cols {
            break;
        }
        let is_gap_start = bytes[i] == b'\t'
            || (bytes[i] == b' ' && bytes.get(i + 1).is_some_and(|&b| b == b' ' || b == b'\t'));
        if is_gap_start {
            let mut j = i;
            while j < bytes.len() && (bytes[j] == b' ' || bytes[j] == b'\t') {
                j += 1;
            }
            cells.push(line[start..i].trim().to_string());
            start = j;
            i = j;
        } else {
            i += 1;
        }
    }
    if start < line.len() || cells.is_empty() {
        cells.push(line[start..].trim().to_string());
    }
    cells
}

#[cfg(test)]
mod tests {
    use super::split_columns;

    #[test]
    fn splits_on_two_spaces_only() {
        assert_eq!(
            split_columns(
                "5966  Done    today at 11:24 CEST   -  Auto-refresh 4 snaps",
                5
            ),
            vec![
                "5966",
                "Done",
                "today at 11:24 CEST",
                "-",
                "Auto-refresh 4 snaps"
            ]
        );
    }

    #[test]
    fn last_column_keeps_the_rest() {
        assert_eq!(split_columns("a  b  c  d", 2), vec!["a", "b  c  d"]);
    }

    #[test]
    fn multibyte_cells_are_fine() {
        assert_eq!(
            split_columns("docker  28.1.1+1  3265  latest/candidate  canonical✓  -", 6),
            vec![
                "docker",
                "28.1.1+1",
                "3265",
                "latest/candidate",
                "canonical✓",
                "-"
            ]
        );
    }
}
