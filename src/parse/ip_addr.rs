//! `ip -j addr show`: the host's interfaces and addresses.

use crate::model::Interface;
use crate::parse::ParseError;
use serde::Deserialize;

#[derive(Deserialize)]
struct Link {
    ifname: String,
    #[serde(default)]
    addr_info: Vec<Addr>,
}

#[derive(Deserialize)]
struct Addr {
    local: Option<String>,
    prefixlen: Option<u8>,
}

pub fn parse(text: &str, file: &str) -> Result<Vec<Interface>, ParseError> {
    let links: Vec<Link> = serde_json::from_str(text).map_err(|e| {
        ParseError::new(
            file,
            e.line(),
            format!("not the JSON of `ip -j addr show`: {e}"),
        )
    })?;
    Ok(links
        .into_iter()
        .map(|l| Interface {
            name: l.ifname,
            addrs: l
                .addr_info
                .iter()
                .filter_map(|a| {
                    let ip: std::net::IpAddr = a.local.as_deref()?.parse().ok()?;
                    ipnet::IpNet::new(ip, a.prefixlen?).ok()
                })
                .collect(),
        })
        .collect())
}
