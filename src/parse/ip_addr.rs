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

/// `ip addr` text: `2: eth0: <BROADCAST,...> mtu 1500 ...` lines start an interface (a name
/// `veth1@if5` is cut at `@`), `inet ADDR/LEN` and `inet6 ADDR/LEN` lines give its addresses.
/// Other lines are skipped; an `inet` line before any interface is an error naming its line.
pub fn parse_text(text: &str, file: &str) -> Result<Vec<Interface>, ParseError> {
    let mut out: Vec<Interface> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if let Some((index, rest)) = t.split_once(": ")
            && index.parse::<u32>().is_ok()
            && let Some((name, _)) = rest.split_once(": ")
        {
            let name = name.split('@').next().unwrap_or(name);
            out.push(Interface {
                name: name.to_string(),
                addrs: Vec::new(),
            });
            continue;
        }
        let mut words = t.split_whitespace();
        if !matches!(words.next(), Some("inet" | "inet6")) {
            continue;
        }
        let Some(iface) = out.last_mut() else {
            return Err(ParseError::new(
                file,
                i + 1,
                "an address line before any interface line",
            ));
        };
        if let Some(net) = words.next().and_then(|a| a.parse::<ipnet::IpNet>().ok()) {
            iface.addrs.push(net);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn ip_addr_text_gives_interfaces_and_addresses() {
        let text = "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN\n    inet 127.0.0.1/8 scope host lo\n3: docker0: <BROADCAST,MULTICAST,UP> mtu 1500\n    link/ether 02:42:ac:11:00:01 brd ff:ff:ff:ff:ff:ff\n    inet 172.17.0.1/16 brd 172.17.255.255 scope global docker0\n    inet6 fe80::42:acff:fe11:1/64 scope link\n5: veth1@if4: <UP> mtu 1500\n";
        let ifs = super::parse_text(text, "ip-addr.txt").unwrap();
        assert_eq!(ifs.len(), 3);
        assert_eq!(ifs[1].name, "docker0");
        assert_eq!(ifs[1].addrs.len(), 2);
        assert_eq!(ifs[2].name, "veth1");
        assert!(super::parse_text("    inet 1.2.3.4/8\n", "f").is_err());
    }
}
