//! Bridges that are not Docker's — Podman (`cni-podman*`, `podman*`), LXD (`lxdbr*`), Incus
//! (`incusbr*`), libvirt (`virbr*`) — and the ports Podman publishes, read from its DNAT rules.
//!
//! Such a bridge is a workload like Docker's: a client outside reaches its containers through
//! the FORWARD hook, where Docker's `FORWARD` policy DROP (set when dockerd enables forwarding)
//! drops what their own rules accepted (podman#24486, lxc/incus#2733). Podman publishes ports
//! with DNAT rules as Docker does: CNI's portmap plugin (`CNI-HOSTPORT-DNAT` → `CNI-DN-<hash>`,
//! Debian's podman 4.3), netavark's iptables driver (`NETAVARK-HOSTPORT-DNAT` →
//! `NETAVARK-DN-<hash>`) or its nftables driver (`table inet netavark`).

use crate::model::{Action, Dir, Family, Interface, Match, Stack, Table};
use ipnet::IpNet;
use serde::Serialize;
use std::net::IpAddr;

/// Who runs a bridge or publishes a port. Docker's own bridges are [`crate::model::Bridge`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Runtime {
    Docker,
    Podman,
    /// CNI's portmap plugin on a host with no Podman bridge (containerd, CRI-O, k8s ...).
    Cni,
    Lxd,
    Incus,
    Libvirt,
}

impl Runtime {
    pub fn as_str(self) -> &'static str {
        match self {
            Runtime::Docker => "docker",
            Runtime::Podman => "podman",
            Runtime::Cni => "cni",
            Runtime::Lxd => "lxd",
            Runtime::Incus => "incus",
            Runtime::Libvirt => "libvirt",
        }
    }

    /// The runtime a bridge's name says, when it is one of the known non-Docker bridges.
    pub fn of_bridge(name: &str) -> Option<Runtime> {
        if name.starts_with("cni-podman") || name.starts_with("podman") {
            Some(Runtime::Podman)
        } else if name.starts_with("lxdbr") {
            Some(Runtime::Lxd)
        } else if name.starts_with("incusbr") {
            Some(Runtime::Incus)
        } else if name.starts_with("virbr") {
            Some(Runtime::Libvirt)
        } else {
            None
        }
    }
}

/// A bridge of another runtime, with its connected subnets (from `ip-addr.json`; empty when
/// only a rule named it).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OtherBridge {
    pub name: String,
    pub runtime: Runtime,
    pub subnets: Vec<IpNet>,
}

/// A port another runtime publishes, read back from its DNAT rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuntimePort {
    pub owner: Runtime,
    pub proto: String,
    /// The DNAT rule's `-d` address, if it has one.
    pub host_ip: Option<IpAddr>,
    pub host_port: u16,
    pub container_ip: Option<IpAddr>,
    pub container_port: Option<u16>,
    /// The container's id when the rules name it (CNI's `id: "..."` comment), first 12.
    pub container: Option<String>,
    pub family: Family,
    pub stack: Stack,
    /// The chain holding the DNAT rule (`CNI-DN-…`, `NETAVARK-DN-…`).
    pub chain: String,
}

/// The non-Docker bridges: every interface `ip-addr.json` lists with such a name (its subnets
/// truncated), then every such name a rule matches with `-i`/`-o` (no subnet known).
pub fn bridges(tables: &[Table], interfaces: Option<&[Interface]>) -> Vec<OtherBridge> {
    let mut out: Vec<OtherBridge> = Vec::new();
    for i in interfaces.into_iter().flatten() {
        if let Some(runtime) = Runtime::of_bridge(&i.name) {
            let subnets = i
                .addrs
                .iter()
                .filter(|a| a.prefix_len() < a.max_prefix_len())
                .map(IpNet::trunc)
                .collect();
            out.push(OtherBridge {
                name: i.name.clone(),
                runtime,
                subnets,
            });
        }
    }
    for t in tables {
        for r in t.chains.iter().flat_map(|c| &c.rules) {
            for m in &r.matches {
                let Match::Iface { names, .. } = m else {
                    continue;
                };
                for n in names.iter() {
                    let n = n.as_str().trim_end_matches('+');
                    if let Some(runtime) = Runtime::of_bridge(n)
                        && !n.is_empty()
                        && !out.iter().any(|b| b.name == n)
                    {
                        out.push(OtherBridge {
                            name: n.to_string(),
                            runtime,
                            subnets: Vec::new(),
                        });
                    }
                }
            }
        }
    }
    out
}

/// Is this the chain of a runtime's per-container DNAT rules?
fn dnat_chain(table: &Table, chain: &str) -> bool {
    (table.name == "nat" && (chain.starts_with("CNI-DN-") || chain.starts_with("NETAVARK-DN-")))
        || table.name == "netavark"
}

/// Podman's published ports, from the DNAT rules of CNI's portmap plugin or netavark, in every
/// stack. One entry per (port, protocol, family): a rule repeated in a second stack is one port.
pub fn ports(tables: &[Table], bridges: &[OtherBridge]) -> Vec<RuntimePort> {
    let podman_bridge = bridges.iter().any(|b| b.runtime == Runtime::Podman);
    let mut out: Vec<RuntimePort> = Vec::new();
    for t in tables {
        for c in t.chains.iter().filter(|c| dnat_chain(t, &c.name)) {
            let owner = if c.name.starts_with("CNI-") && !podman_bridge {
                Runtime::Cni
            } else {
                Runtime::Podman
            };
            for r in &c.rules {
                let Action::Dnat { addr, port } = &r.action else {
                    continue;
                };
                let mut proto = "tcp".to_string();
                let mut host_port = None;
                let mut host_ip = None;
                for m in &r.matches {
                    match m {
                        Match::Proto {
                            negated: false,
                            proto: p,
                        } => proto = p.to_string(),
                        Match::Port {
                            dir: Dir::Dst,
                            negated: false,
                            ranges,
                        } => host_port = ranges.first().map(|r| r.0),
                        Match::Addr {
                            dir: Dir::Dst,
                            negated: false,
                            nets,
                        } => host_ip = nets.first().map(IpNet::addr),
                        _ => {}
                    }
                }
                let Some(host_port) = host_port else { continue };
                let family = match addr {
                    Some(IpAddr::V6(_)) => Family::Ip6,
                    Some(IpAddr::V4(_)) => Family::Ip,
                    None if t.family == Family::Ip6 => Family::Ip6,
                    None => Family::Ip,
                };
                if out
                    .iter()
                    .any(|p| (p.host_port, &p.proto, p.family) == (host_port, &proto, family))
                {
                    continue;
                }
                out.push(RuntimePort {
                    owner,
                    proto,
                    host_ip,
                    host_port,
                    container_ip: *addr,
                    container_port: port.map(|p| p.0),
                    container: cni_container_id(t, &c.name),
                    family,
                    stack: t.stack,
                    chain: c.name.to_string(),
                });
            }
        }
    }
    out.sort_by(|a, b| (a.host_port, &a.proto, a.family).cmp(&(b.host_port, &b.proto, b.family)));
    out
}

/// CNI's portmap names the container in the comment of its jump to the chain:
/// `-A CNI-HOSTPORT-DNAT … --comment "dnat name: \"podman\" id: \"<64 hex>\"" … -j CNI-DN-…`.
fn cni_container_id(t: &Table, chain: &str) -> Option<String> {
    let jump =
        t.chains.iter().flat_map(|c| &c.rules).find(
            |r| matches!(&r.action, Action::Jump { chain: to, .. } if to.as_str() == chain),
        )?;
    let text = jump.text.as_str();
    let (_, rest) = text.split_once("id: \\\"")?;
    let id: String = rest.chars().take_while(char::is_ascii_hexdigit).collect();
    (id.len() >= 12).then(|| id[..12].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> Vec<Table> {
        crate::parse::iptables_save::parse(text, "t.txt", Stack::IptablesNft, Family::Ip)
            .expect("parses")
    }

    const CNI: &str = "*nat\n:PREROUTING ACCEPT [0:0]\n:CNI-DN-2865a4cc911be3a02f69a - [0:0]\n:CNI-HOSTPORT-DNAT - [0:0]\n\
-A PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT\n\
-A CNI-DN-2865a4cc911be3a02f69a -s 10.88.0.0/16 -p tcp -m tcp --dport 8090 -j CNI-HOSTPORT-SETMARK\n\
-A CNI-DN-2865a4cc911be3a02f69a -p tcp -m tcp --dport 8090 -j DNAT --to-destination 10.88.0.2:80\n\
-A CNI-HOSTPORT-DNAT -p tcp -m comment --comment \"dnat name: \\\"podman\\\" id: \\\"0fc0b5f8c43068453e5762bc518e102b35f726710c192a92e50f251b34da3de1\\\"\" -m multiport --dports 8090 -j CNI-DN-2865a4cc911be3a02f69a\n\
COMMIT\n";

    #[test]
    fn cni_portmap_dnat_is_a_podman_port_with_its_container_id() {
        let t = table(CNI);
        let ifs = [Interface {
            name: "cni-podman0".into(),
            addrs: vec!["10.88.0.1/16".parse().unwrap()],
        }];
        let b = bridges(&t, Some(&ifs));
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].runtime, Runtime::Podman);
        assert_eq!(b[0].subnets, vec!["10.88.0.0/16".parse::<IpNet>().unwrap()]);
        let p = ports(&t, &b);
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].owner, Runtime::Podman);
        assert_eq!(p[0].host_port, 8090);
        assert_eq!(p[0].container_ip, Some("10.88.0.2".parse().unwrap()));
        assert_eq!(p[0].container_port, Some(80));
        assert_eq!(p[0].container.as_deref(), Some("0fc0b5f8c430"));
        // Without a Podman bridge, CNI's portmap could be any CNI runtime's.
        assert_eq!(ports(&t, &[])[0].owner, Runtime::Cni);
    }

    #[test]
    fn netavark_iptables_dnat_is_a_podman_port() {
        let t = table(
            "*nat\n:NETAVARK-DN-1D8721804F16F - [0:0]\n\
-A NETAVARK-DN-1D8721804F16F -d 192.0.2.7/32 -p tcp -m tcp --dport 8443 -j DNAT --to-destination 10.89.0.3:443\n\
COMMIT\n",
        );
        let p = ports(&t, &[]);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].owner, Runtime::Podman);
        assert_eq!(p[0].host_ip, Some("192.0.2.7".parse().unwrap()));
        assert_eq!((p[0].host_port, p[0].container_port), (8443, Some(443)));
    }

    #[test]
    fn netavark_nftables_dnat_is_a_podman_port() {
        // netavark's nftables driver: `table inet netavark`, per-network `nv_…_dnat` chains.
        let json = r#"{"nftables": [
  {"metainfo": {"version": "1.0.6", "json_schema_version": 1}},
  {"table": {"family": "inet", "name": "netavark", "handle": 1}},
  {"chain": {"family": "inet", "table": "netavark", "name": "NETAVARK-HOSTPORT-DNAT", "handle": 2}},
  {"chain": {"family": "inet", "table": "netavark", "name": "nv_2f259bab_10_88_0_0_nm16_dnat", "handle": 3}},
  {"rule": {"family": "inet", "table": "netavark", "chain": "NETAVARK-HOSTPORT-DNAT", "handle": 4,
    "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 8090}},
             {"jump": {"target": "nv_2f259bab_10_88_0_0_nm16_dnat"}}]}},
  {"rule": {"family": "inet", "table": "netavark", "chain": "nv_2f259bab_10_88_0_0_nm16_dnat", "handle": 5,
    "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 8090}},
             {"dnat": {"family": "ip", "addr": "10.88.0.2", "port": 80}}]}}
]}"#;
        let t = crate::parse::nft_json::parse(json, "nft-ruleset.json").expect("parses");
        let p = ports(&t, &[]);
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].owner, Runtime::Podman);
        assert_eq!(p[0].stack, Stack::Nft);
        assert_eq!(p[0].family, Family::Ip);
        assert_eq!((p[0].host_port, p[0].container_port), (8090, Some(80)));
        assert_eq!(p[0].container_ip, Some("10.88.0.2".parse().unwrap()));
    }

    #[test]
    fn docker_dnat_and_unknown_bridges_are_not_other_runtimes() {
        let t = table(
            "*nat\n:DOCKER - [0:0]\n-A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80\nCOMMIT\n\
*filter\n:FORWARD DROP [0:0]\n-A FORWARD -o virbr0 -j ACCEPT\n-A FORWARD -o eth0 -j ACCEPT\nCOMMIT\n",
        );
        assert!(ports(&t, &[]).is_empty());
        let b = bridges(&t, None);
        assert_eq!(b.len(), 1, "{b:?}");
        assert_eq!(
            (b[0].name.as_str(), b[0].runtime),
            ("virbr0", Runtime::Libvirt)
        );
        for (name, want) in [
            ("podman1", Some(Runtime::Podman)),
            ("lxdbr0", Some(Runtime::Lxd)),
            ("incusbr0", Some(Runtime::Incus)),
            ("docker0", None),
            ("br-0123456789ab", None),
        ] {
            assert_eq!(Runtime::of_bridge(name), want, "{name}");
        }
    }
}
