//! Docker Engine API JSON (/info, /version, /containers/json, /networks) and daemon.json.
//!
//! Every body is optional and every field inside it is optional: a daemon that predates a field
//! (e.g. `FirewallBackend`, API 1.49) simply leaves it `None`. What is *not* tolerated is a body
//! that is not JSON or has the wrong shape (an object where an array belongs, a string where a
//! bool belongs); that is a [`ParseError`] naming the capture file and the line serde_json saw.
//!
//! The bodies come from a socket anyone who can bind it controls: a body with more than
//! [`MAX_JSON_VALUES`] values is refused before it is deserialized (a tiny `{}` would otherwise
//! become a 100-byte struct), and a published port whose `IP` is not an address or whose `Type`
//! is not tcp/udp/sctp, or a bridge whose name is not an interface name (it goes into suggested
//! `nft`/`iptables` commands), is left out with a note instead of reaching the report.

use crate::model::{DaemonConfig, DockerContainer, DockerFacts, DockerNetwork, PublishedPort};
use crate::parse::ParseError;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// Capture file name of `GET /info`.
pub const INFO_FILE: &str = "docker-info.json";
/// Capture file name of `GET /version`.
pub const VERSION_FILE: &str = "docker-version.json";
/// Capture file name of `GET /containers/json`.
pub const CONTAINERS_FILE: &str = "docker-containers.json";
/// Capture file name of `GET /networks`.
pub const NETWORKS_FILE: &str = "docker-networks.json";
/// Capture file name of the daemon's `daemon.json`.
pub const DAEMON_JSON_FILE: &str = "docker-daemon.json";

/// Most JSON values (an upper bound: commas plus opening brackets and braces) in one body.
/// A real `/containers/json` entry holds about 80, so this is room for 25 000 containers,
/// while the deserialized wire types stay well under a few hundred MiB whatever the body.
pub const MAX_JSON_VALUES: usize = 2_000_000;

/// Option key holding a bridge network's Linux interface name.
const BRIDGE_NAME_OPTION: &str = "com.docker.network.bridge.name";

/// Inputs are the raw bodies (None when that source was not captured).
#[derive(Debug, Clone, Copy, Default)]
pub struct DockerInputs<'a> {
    /// Body of `GET /info` (`docker-info.json`).
    pub info: Option<&'a str>,
    /// Body of `GET /version` (`docker-version.json`).
    pub version: Option<&'a str>,
    /// Body of `GET /containers/json` (`docker-containers.json`).
    pub containers: Option<&'a str>,
    /// Body of `GET /networks` (`docker-networks.json`).
    pub networks: Option<&'a str>,
    /// Contents of `daemon.json` (`docker-daemon.json`).
    pub daemon_json: Option<&'a str>,
}

/// Parses whatever Docker sources were captured into [`DockerFacts`].
///
/// Missing sources leave their part of the facts at its default. The first malformed source
/// stops the parse with an error naming its capture file.
pub fn parse(inputs: &DockerInputs<'_>) -> Result<DockerFacts, ParseError> {
    let mut facts = DockerFacts::default();

    if let Some(text) = inputs.info {
        let info: Info = from_json(text, INFO_FILE, "the GET /info object")?;
        facts.version = non_empty(info.server_version);
        facts.firewall_backend = info.firewall_backend.and_then(|fb| non_empty(fb.driver));
        facts.ipv4_forwarding = info.ipv4_forwarding;
        facts.rootless = info
            .security_options
            .unwrap_or_default()
            .iter()
            .any(|opt| is_rootless_option(opt));
        facts.root_dir = non_empty(info.docker_root_dir);
    }

    if let Some(text) = inputs.version {
        let version: Version = from_json(text, VERSION_FILE, "the GET /version object")?;
        if facts.version.is_none() {
            facts.version = non_empty(version.version);
        }
    }

    if let Some(text) = inputs.networks {
        let networks: Vec<Network> = from_json(text, NETWORKS_FILE, "the GET /networks array")?;
        let mut notes = Vec::new();
        facts.networks = networks
            .into_iter()
            .map(|n| convert_network(n, &mut notes))
            .collect();
        facts.notes.extend(notes);
    }

    if let Some(text) = inputs.containers {
        let containers: Vec<Container> =
            from_json(text, CONTAINERS_FILE, "the GET /containers/json array")?;
        let mut notes = Vec::new();
        facts.containers = containers
            .into_iter()
            .map(|c| convert_container(c, &mut notes))
            .collect();
        facts.notes.extend(notes);
    }

    if let Some(text) = inputs.daemon_json {
        facts.daemon_config = parse_daemon_json(text)?;
    }

    Ok(facts)
}

/// Parses `daemon.json`, keeping the keys that change Docker's firewall behaviour.
///
/// An empty (or whitespace-only) file is valid and means "all defaults", as dockerd treats it.
pub fn parse_daemon_json(text: &str) -> Result<DaemonConfig, ParseError> {
    if strip_bom(text).trim().is_empty() {
        return Ok(DaemonConfig::default());
    }
    let raw: DaemonJson = from_json(text, DAEMON_JSON_FILE, "a daemon.json object")?;
    Ok(DaemonConfig {
        iptables: raw.iptables,
        ip6tables: raw.ip6tables,
        ip_forward: raw.ip_forward,
        userland_proxy: raw.userland_proxy,
        firewall_backend: non_empty(raw.firewall_backend),
    })
}

/// A name the kernel and Docker accept for a bridge, and safe inside a suggested command:
/// 1 to 15 bytes of letters, digits and `_ . - + @`, not `.` or `..`.
fn is_interface_name(name: &str) -> bool {
    (1..=15).contains(&name.len())
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-+@".contains(&b))
}

/// `SecurityOptions` entries look like `name=rootless` or `name=seccomp,profile=default`.
fn is_rootless_option(opt: &str) -> bool {
    opt.split(',').any(|kv| kv.trim() == "name=rootless")
}

fn convert_network(n: Network, notes: &mut Vec<String>) -> DockerNetwork {
    let name = n.name.unwrap_or_default();
    let driver = n.driver.unwrap_or_default();
    let id = n.id.unwrap_or_default();
    let bridge = n
        .options
        .as_ref()
        .and_then(|o| o.get(BRIDGE_NAME_OPTION))
        .and_then(|v| v.as_deref())
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .or_else(|| {
            // libnetwork names user-defined bridges "br-" + the first 12 characters of the id.
            if driver == "bridge" && !id.is_empty() {
                Some(format!("br-{}", id.chars().take(12).collect::<String>()))
            } else {
                None
            }
        })
        .filter(|bridge| {
            let ok = is_interface_name(bridge);
            if !ok {
                notes.push(format!(
                    "{NETWORKS_FILE}: network \"{name}\" names its bridge \"{bridge}\", which is not a Linux interface name; the bridge is left out"
                ));
            }
            ok
        });
    let subnets = n
        .ipam
        .and_then(|ipam| ipam.config)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|c| c.subnet)
        .filter_map(|s| s.trim().parse::<ipnet::IpNet>().ok())
        .collect();
    DockerNetwork {
        name,
        driver,
        bridge,
        subnets,
        internal: n.internal.unwrap_or(false),
        enable_ipv6: n.enable_ipv6.unwrap_or(false),
    }
}

fn convert_container(c: Container, notes: &mut Vec<String>) -> DockerContainer {
    let id = c.id.unwrap_or_default();
    let name = c
        .names
        .and_then(|n| n.0)
        .map(|n| n.trim_start_matches('/').to_string())
        .filter(|n| !n.is_empty())
        // No name at all: the short id is what `docker ps` would let the user type.
        .unwrap_or_else(|| id.chars().take(12).collect());

    let mut addresses = Vec::new();
    let networks = c
        .network_settings
        .and_then(|ns| ns.networks)
        .unwrap_or_default();
    for (net, ep) in networks {
        let Some(ep) = ep else { continue };
        for addr in [ep.ip_address, ep.global_ipv6_address]
            .into_iter()
            .flatten()
        {
            if let Ok(ip) = addr.trim().parse::<IpAddr>() {
                addresses.push((net.clone(), ip));
            }
        }
    }

    let ports = c
        .ports
        .unwrap_or_default()
        .into_iter()
        .filter_map(|p| {
            // Without a PublicPort the port is only exposed, not published.
            let host_port = p.public_port.filter(|&port| port != 0)?;
            let proto = non_empty(p.kind).unwrap_or_else(|| "tcp".to_string());
            let host_ip = non_empty(p.ip).unwrap_or_else(|| "0.0.0.0".to_string());
            let Ok(ip) = host_ip.parse::<IpAddr>() else {
                notes.push(format!(
                    "{CONTAINERS_FILE}: container \"{name}\" publishes port {host_port} on \"{host_ip}\", which is not an IP address; that port is left out"
                ));
                return None;
            };
            if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
                notes.push(format!(
                    "{CONTAINERS_FILE}: container \"{name}\" publishes port {host_port} with protocol \"{proto}\" (not tcp, udp or sctp); that port is left out"
                ));
                return None;
            }
            Some(PublishedPort {
                proto,
                host_ip: ip.to_string(),
                host_port,
                container_port: p.private_port.unwrap_or(0),
            })
        })
        .collect();

    DockerContainer {
        id,
        name,
        addresses,
        ports,
    }
}

/// Deserializes `text` as `T`, mapping serde_json errors to a [`ParseError`] on `file` at the
/// line serde_json reports. `what` names the expected document, for shape errors.
fn from_json<T: DeserializeOwned>(text: &str, file: &str, what: &str) -> Result<T, ParseError> {
    let text = strip_bom(text);
    if text.trim().is_empty() {
        return Err(ParseError::new(
            file,
            0,
            format!("empty file, expected {what}"),
        ));
    }
    let values = memchr::memchr3_iter(b',', b'{', b'[', text.as_bytes()).count();
    if values > MAX_JSON_VALUES {
        return Err(ParseError::new(
            file,
            0,
            format!(
                "more than {MAX_JSON_VALUES} JSON values ({values} commas and brackets): more \
                 than any Docker daemon sends, not read"
            ),
        ));
    }
    serde_json::from_str(text).map_err(|e| {
        let full = e.to_string();
        let location = format!(" at line {} column {}", e.line(), e.column());
        let message = full.strip_suffix(&location).unwrap_or(&full);
        let column = if e.column() > 0 {
            format!(" (column {})", e.column())
        } else {
            String::new()
        };
        let text = match e.classify() {
            serde_json::error::Category::Data => {
                format!("wrong shape, expected {what}: {message}{column}")
            }
            serde_json::error::Category::Eof => {
                format!("invalid JSON: {message} (truncated?)")
            }
            _ => format!("invalid JSON: {message}{column}"),
        };
        // serde_json reports column 0 when the offending byte is the newline that ended the
        // previous line (e.g. `"x": tru` + newline); point at the line the user must fix.
        let line = if e.column() == 0 && e.line() > 1 {
            e.line() - 1
        } else {
            e.line()
        };
        ParseError::new(file, line, text)
    })
}

fn strip_bom(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

// ---- Wire types: only the fields fwdoctor reads; everything optional, unknown keys ignored.

#[derive(Deserialize)]
struct Info {
    #[serde(rename = "ServerVersion")]
    server_version: Option<String>,
    #[serde(rename = "FirewallBackend")]
    firewall_backend: Option<FirewallBackend>,
    #[serde(rename = "IPv4Forwarding")]
    ipv4_forwarding: Option<bool>,
    #[serde(rename = "SecurityOptions")]
    security_options: Option<Vec<String>>,
    #[serde(rename = "DockerRootDir")]
    docker_root_dir: Option<String>,
}

#[derive(Deserialize)]
struct FirewallBackend {
    #[serde(rename = "Driver")]
    driver: Option<String>,
}

#[derive(Deserialize)]
struct Version {
    #[serde(rename = "Version")]
    version: Option<String>,
}

#[derive(Deserialize)]
struct Network {
    #[serde(rename = "Name")]
    name: Option<String>,
    #[serde(rename = "Id")]
    id: Option<String>,
    #[serde(rename = "Driver")]
    driver: Option<String>,
    #[serde(rename = "EnableIPv6")]
    enable_ipv6: Option<bool>,
    #[serde(rename = "Internal")]
    internal: Option<bool>,
    #[serde(rename = "IPAM")]
    ipam: Option<Ipam>,
    #[serde(rename = "Options")]
    options: Option<BTreeMap<String, Option<String>>>,
}

#[derive(Deserialize)]
struct Ipam {
    #[serde(rename = "Config")]
    config: Option<Vec<IpamConfig>>,
}

#[derive(Deserialize)]
struct IpamConfig {
    #[serde(rename = "Subnet")]
    subnet: Option<String>,
}

#[derive(Deserialize)]
struct Container {
    #[serde(rename = "Id")]
    id: Option<String>,
    /// Only the first name is used; the others are skipped unread.
    #[serde(rename = "Names")]
    names: Option<FirstName>,
    #[serde(rename = "Ports")]
    ports: Option<Vec<Port>>,
    #[serde(rename = "NetworkSettings")]
    network_settings: Option<NetworkSettings>,
}

#[derive(Deserialize)]
struct Port {
    #[serde(rename = "IP")]
    ip: Option<String>,
    #[serde(rename = "PrivatePort")]
    private_port: Option<u16>,
    #[serde(rename = "PublicPort")]
    public_port: Option<u16>,
    #[serde(rename = "Type")]
    kind: Option<String>,
}

#[derive(Deserialize)]
struct NetworkSettings {
    #[serde(rename = "Networks")]
    networks: Option<BTreeMap<String, Option<Endpoint>>>,
}

#[derive(Deserialize)]
struct Endpoint {
    #[serde(rename = "IPAddress")]
    ip_address: Option<String>,
    #[serde(rename = "GlobalIPv6Address")]
    global_ipv6_address: Option<String>,
}

#[derive(Deserialize)]
struct DaemonJson {
    iptables: Option<bool>,
    ip6tables: Option<bool>,
    #[serde(rename = "ip-forward")]
    ip_forward: Option<bool>,
    #[serde(rename = "userland-proxy")]
    userland_proxy: Option<bool>,
    #[serde(rename = "firewall-backend")]
    firewall_backend: Option<String>,
}

/// The first string of a JSON array (`None` when empty); the rest is skipped without allocating.
struct FirstName(Option<String>);

impl<'de> Deserialize<'de> for FirstName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = FirstName;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an array of names")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<FirstName, A::Error> {
                let first = seq.next_element::<String>()?;
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(FirstName(first))
            }
        }
        d.deserialize_seq(Visit)
    }
}
