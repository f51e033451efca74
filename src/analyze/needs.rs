//! What a verdict needs: the one place that decides whether the evidence behind a verdict is
//! enough for a clean one.
//!
//! A packet's verdict depends on every base chain of every stack on the hooks it crosses, and
//! on the kernel's forwarding switch when it is forwarded. A DROP that was seen is final: no
//! unseen rule can undo it. An ACCEPT is only as good as what was read: if a stack, a table or
//! the forwarding sysctl the packet depends on was not shown, an unseen DROP could be there,
//! and the verdict is unknown, naming what is missing and the command that shows it. The trace
//! engine asks [`missing`] at the end of every trace, so `check`, `trace` and every check
//! built on them judge the same way.
//!
//! | a verdict for a packet of family F that crosses hooks H needs | unseen when |
//! |---|---|
//! | every stack's tables of F with base chains on H: legacy, iptables-nft, native nft | its dump was not read (not root, partial capture, a paste of one command), or an `iptables -S` listing showed other tables only |
//! | for legacy, that none is loaded, if its dump is absent | neither `legacy-tables.txt` (`/proc/net/ip_tables_names`) nor the live collector said so |
//! | the forwarding sysctl of F, when forwarded | `sysctl.txt` lacks it |

use crate::model::coverage::forwarding_sysctl;
use crate::model::{Family, Hook, Model};
use serde::Serialize;

/// Evidence a verdict needs and did not have.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Gap {
    /// What was not seen: `legacy ip`, `native nft tables`, `sysctl net.ipv4.ip_forward`.
    pub what: String,
    /// Why it was not seen.
    pub why: String,
    /// The command that shows it (to run, or to paste the output of).
    pub read_with: String,
}

/// The evidence a verdict for a packet of `family` that crossed `hooks` (forwarded or not)
/// depends on but did not have.
pub fn missing(model: &Model, family: Family, hooks: &[Hook], forwarded: bool) -> Vec<Gap> {
    let mut gaps: Vec<Gap> = model
        .unseen
        .rules
        .iter()
        .filter(|p| p.touches(family, hooks))
        .map(|p| Gap {
            what: p.describe(),
            why: p.why.clone(),
            read_with: p.read_with.clone(),
        })
        .collect();
    let key = forwarding_sysctl(family);
    if forwarded && model.unseen.sysctls.contains(&key) {
        gaps.push(Gap {
            what: format!("sysctl {key}"),
            why: "not captured: with forwarding off the kernel drops every forwarded packet".into(),
            read_with: format!("sysctl {key}"),
        });
    }
    gaps
}

/// The commands that show what `gaps` lack, each once, in order.
pub fn commands(gaps: &[Gap]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for g in gaps {
        if !out.contains(&g.read_with) {
            out.push(g.read_with.clone());
        }
    }
    out
}
