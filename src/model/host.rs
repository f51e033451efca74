//! Non-firewall facts about the host: Docker, the snap, sysctls, ufw, firewalld.
//! Parsers in `crate::parse` fill these from the evidence.

use serde::Serialize;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// What Docker's Engine API told us.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DockerFacts {
    /// `ServerVersion` from /info (or `Version` from /version), e.g. "20.10.24".
    pub version: Option<String>,
    /// `FirewallBackend.Driver` (API >= 1.49): "iptables", "nftables", "iptables+firewalld".
    pub firewall_backend: Option<String>,
    /// `IPv4Forwarding` from /info.
    pub ipv4_forwarding: Option<bool>,
    /// Rootless daemon (`SecurityOptions` has `name=rootless`): its rules live elsewhere.
    pub rootless: bool,
    /// `DockerRootDir`, which tells a snap daemon (/var/snap/docker/...).
    pub root_dir: Option<String>,
    pub networks: Vec<DockerNetwork>,
    pub containers: Vec<DockerContainer>,
    /// daemon.json: `"iptables": false` etc.
    pub daemon_config: DaemonConfig,
    /// What the parser left out and why (a published port with an invalid address), for the
    /// report's notes.
    pub notes: Vec<String>,
}

/// The daemon.json keys that change the firewall.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DaemonConfig {
    /// `"iptables"`: None = default (true).
    pub iptables: Option<bool>,
    pub ip6tables: Option<bool>,
    pub ip_forward: Option<bool>,
    pub userland_proxy: Option<bool>,
    /// `"firewall-backend"`: "iptables" | "nftables".
    pub firewall_backend: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DockerNetwork {
    pub name: String,
    pub driver: String,
    /// Linux bridge name: `com.docker.network.bridge.name`, or `br-<first 12 of id>`.
    pub bridge: Option<String>,
    pub subnets: Vec<ipnet::IpNet>,
    pub internal: bool,
    pub enable_ipv6: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DockerContainer {
    pub id: String,
    /// First name without the leading '/'.
    pub name: String,
    /// (network name, container IP) for each network it is attached to.
    pub addresses: Vec<(String, IpAddr)>,
    pub ports: Vec<PublishedPort>,
}

/// One `-p` mapping as Docker reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PublishedPort {
    pub proto: String,
    /// "0.0.0.0", "::", "127.0.0.1", ...
    pub host_ip: String,
    pub host_port: u16,
    pub container_port: u16,
}

/// The docker snap, from `snap services` / `snap list` / `snap changes`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SnapFacts {
    /// `docker.dockerd` is listed by `snap services`.
    pub docker_service: Option<SnapService>,
    /// `snap list` row for docker.
    pub docker_snap: Option<SnapListing>,
    /// Refreshes and installs of docker from `snap changes`, newest last.
    pub docker_changes: Vec<SnapChange>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SnapService {
    pub name: String,
    pub enabled: bool,
    pub active: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SnapListing {
    pub version: String,
    pub rev: String,
    pub tracking: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SnapChange {
    pub id: String,
    pub status: String,
    pub spawn: String,
    pub ready: String,
    pub summary: String,
}

/// `sysctl.txt`: `KEY = VALUE` lines.
pub type Sysctls = BTreeMap<String, String>;

/// `ufw status verbose`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct UfwFacts {
    pub active: bool,
    /// "deny", "allow", "reject" for incoming / routed, when shown.
    pub default_incoming: Option<String>,
    pub default_routed: Option<String>,
}

/// One zone of `firewall-cmd --list-all-zones` (firewalld-zones.txt).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FirewalldZone {
    pub name: String,
    /// Marked `(active)`: it has interfaces or sources.
    pub active: bool,
    /// Marked `(default)` (firewalld 1.3 does not mark it).
    pub default: bool,
    /// `default`, `ACCEPT`, `DROP`, `%%REJECT%%`.
    pub target: String,
    pub interfaces: Vec<String>,
    pub sources: Vec<String>,
    /// `forward: yes` (intra-zone forwarding, firewalld >= 0.9).
    pub forward: Option<bool>,
    /// `port=8080:proto=tcp:toport=80:toaddr=172.17.0.2`, one per forward-port.
    pub forward_ports: Vec<String>,
}

/// A network interface of the host with its addresses (`ip -j addr show`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Interface {
    pub name: String,
    /// Addresses with their prefix length (`10.99.0.1/24`).
    pub addrs: Vec<ipnet::IpNet>,
}

/// A Docker bridge: its Linux interface and subnets, from the API, the interfaces, or Docker's
/// MASQUERADE rules.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Bridge {
    pub name: String,
    pub subnets: Vec<ipnet::IpNet>,
}

/// One ipset of the host (`ipset save`), for `-m set --match-set NAME dst|src`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct IpSet {
    pub name: String,
    /// `hash:net`, `hash:ip`, `hash:ip,port`, ...
    pub kind: String,
    /// The set is a plain list of addresses/networks fwdoctor can look a packet's address up
    /// in (`hash:net` / `hash:ip` without `nomatch` entries); else its entries are not kept.
    pub addresses: bool,
    pub entries: Vec<ipnet::IpNet>,
}
