//! The check registry. Each check is one module with its name, severity, summary and docs
//! (`fwdoctor explain NAME` prints them). Names are a stable public interface (DESIGN.md).

use crate::analyze::Check;

pub mod docker_backend_differs;
pub mod docker_chains_missing;
pub mod docker_user_blocks;
pub mod evidence_missing;
pub mod firewalld_blocks;
pub mod ip_forward_disabled;
pub mod legacy_tables_empty;
pub mod mixed_backends;
pub mod next_boot_blocks;
pub mod other_bridge_blocked;
pub mod published_port_blocked;
pub mod snap_docker;
pub mod split_forward_drop;
pub mod ufw_docker_bypass;

/// Every check, in report order.
pub const ALL: &[&Check] = &[
    &evidence_missing::CHECK,
    &split_forward_drop::CHECK,
    &published_port_blocked::CHECK,
    &firewalld_blocks::CHECK,
    &other_bridge_blocked::CHECK,
    &next_boot_blocks::CHECK,
    &docker_chains_missing::CHECK,
    &ip_forward_disabled::CHECK,
    &mixed_backends::CHECK,
    &docker_backend_differs::CHECK,
    &snap_docker::CHECK,
    &ufw_docker_bypass::CHECK,
    &docker_user_blocks::CHECK,
    &legacy_tables_empty::CHECK,
];

/// Look a check up by its exact name.
pub fn find(name: &str) -> Option<&'static Check> {
    ALL.iter().copied().find(|c| c.name == name)
}
