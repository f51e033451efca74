//! `--format json`: schema `fwdoctor-report/1` (DESIGN.md fixes `schema`, `status`, `findings`
//! and `ports`; the rest is extra context).

use crate::report::ReportInput;
use serde_json::{Value, json};

pub const SCHEMA: &str = "fwdoctor-report/1";

pub fn render(input: &ReportInput) -> Value {
    let m = input.model;
    let docker_rules: Vec<Value> = m
        .docker_rules
        .iter()
        .map(|d| {
            json!({"stack": d.stack, "family": d.family, "layout": d.layout,
                   "forward_hooked": d.forward_hooked, "dnat_rules": d.dnat_rules})
        })
        .collect();
    let tables: Vec<Value> = m
        .tables
        .iter()
        .map(|t| {
            json!({"stack": t.stack, "family": t.family, "table": t.name,
                        "chains": t.chains.len(), "rules": t.rule_count()})
        })
        .collect();
    let sources: serde_json::Map<String, Value> = m
        .sources
        .iter()
        .map(|(k, v)| (k.clone(), json!(v.status)))
        .collect();
    json!({
        "schema": SCHEMA,
        "status": input.analysis.status,
        "fwdoctor_version": env!("CARGO_PKG_VERSION"),
        "origin": m.origin,
        "summary": crate::report::summary_line(input),
        "findings": input.analysis.findings,
        "ports": input.analysis.ports,
        "plan": input.analysis.plan,
        "host": {
            "docker_version": m.docker.as_ref().and_then(|d| d.version.clone()),
            "docker_snap": m.docker_is_snap(),
            "docker_rules": docker_rules,
            "system_iptables": m.system_iptables,
            "legacy_tables_loaded": m.legacy_tables_loaded,
            "ufw_active": m.ufw.as_ref().map(|u| u.active),
            "firewalld_running": m.firewalld_running,
            "tables": tables,
            "sources": sources,
            // What the evidence did not show (README: which evidence a verdict needs).
            "unseen": m.unseen,
        },
        "notes": m.notes,
    })
}
