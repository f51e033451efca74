//! Pasted Docker text: `docker info`, `docker version` and `docker ps`.
//!
//! What they say is read (the server's version, `Firewall Backend`, the `WARNING:` lines, the
//! PORTS column as published ports); the rest of each text is left alone. `docker ps` does not
//! show container addresses, so a published port's container is found through Docker's DNAT
//! rule, as without the API.

use crate::model::{DockerContainer, DockerFacts, PublishedPort};
use crate::parse::ParseError;

/// `docker info` text into `facts`: `Server Version`, `Firewall Backend`, `Docker Root Dir`,
/// rootless, and every `WARNING:` line as a note (IPv4 forwarding off is a fact).
pub fn apply_info(facts: &mut DockerFacts, text: &str) {
    let mut in_server = false;
    let mut in_security = false;
    for line in text.lines() {
        let t = line.trim();
        if !line.starts_with(' ') {
            in_server = t.starts_with("Server:");
        }
        if let Some(w) = t.strip_prefix("WARNING:") {
            let w = w.trim();
            if w.starts_with("IPv4 forwarding is disabled") {
                facts.ipv4_forwarding = Some(false);
            }
            facts.notes.push(format!("docker info: WARNING: {w}"));
            continue;
        }
        let Some((key, value)) = t.split_once(':') else {
            if in_security && t.contains("rootless") {
                facts.rootless = true;
            }
            continue;
        };
        let value = value.trim();
        in_security = key == "Security Options" || (in_security && line.starts_with("   "));
        match key {
            "Server Version" if !value.is_empty() => facts.version = Some(value.to_string()),
            "Firewall Backend" if !value.is_empty() => {
                facts.firewall_backend = Some(value.to_string())
            }
            "Docker Root Dir" if !value.is_empty() => facts.root_dir = Some(value.to_string()),
            "name" if in_security && value == "rootless" => facts.rootless = true,
            _ => {}
        }
        let _ = in_server;
    }
}

/// `docker version` text into `facts`: the Server's `Version`.
pub fn apply_version(facts: &mut DockerFacts, text: &str) {
    let mut in_server = false;
    for line in text.lines() {
        if !line.starts_with(' ') {
            in_server = line.trim_start().starts_with("Server");
            continue;
        }
        if in_server
            && let Some(v) = line.trim().strip_prefix("Version:")
            && facts.version.is_none()
        {
            facts.version = Some(v.trim().to_string());
        }
    }
}

/// `docker ps` text: every row's published ports (`0.0.0.0:8080->80/tcp`), by container name.
/// A row whose PORTS column only exposes (`80/tcp`) publishes nothing.
pub fn containers(text: &str, file: &str) -> Result<Vec<DockerContainer>, ParseError> {
    let mut out = Vec::new();
    let mut header_seen = false;
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.starts_with("CONTAINER ID") {
            header_seen = true;
            continue;
        }
        if !header_seen || t.is_empty() {
            continue;
        }
        let words: Vec<&str> = t.split_whitespace().collect();
        let (Some(id), Some(name)) = (words.first(), words.last()) else {
            continue;
        };
        let mut ports = Vec::new();
        for w in &words[1..words.len() - 1] {
            let w = w.trim_end_matches(',');
            if !w.contains("->") {
                continue;
            }
            ports.extend(
                mapping(w).ok_or_else(|| {
                    ParseError::new(file, i + 1, format!("bad PORTS entry `{w}`"))
                })?,
            );
        }
        out.push(DockerContainer {
            id: id.to_string(),
            name: name.to_string(),
            addresses: Vec::new(),
            ports,
        });
    }
    Ok(out)
}

/// `0.0.0.0:8000-8001->80-81/tcp`, `[::]:8080->80/tcp`, `:::8080->80/tcp`.
fn mapping(w: &str) -> Option<Vec<PublishedPort>> {
    let (host, container) = w.split_once("->")?;
    let (cport, proto) = container.split_once('/').unwrap_or((container, "tcp"));
    if !matches!(proto, "tcp" | "udp" | "sctp") {
        return None;
    }
    let (ip, hports) = host.rsplit_once(':')?;
    let ip = ip.trim_start_matches('[').trim_end_matches(']');
    let ip = match ip {
        "" | "::" | ":" => "::".to_string(),
        other => {
            other.parse::<std::net::IpAddr>().ok()?;
            other.to_string()
        }
    };
    let range = |s: &str| -> Option<(u16, u16)> {
        match s.split_once('-') {
            Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
            None => {
                let p = s.parse().ok()?;
                Some((p, p))
            }
        }
    };
    let (h0, h1) = range(hports)?;
    let (c0, _) = range(cport)?;
    if h1 < h0 || h1 - h0 > 1000 {
        return None;
    }
    Some(
        (h0..=h1)
            .map(|h| PublishedPort {
                proto: proto.to_string(),
                host_ip: ip.clone(),
                host_port: h,
                container_port: c0.saturating_add(h - h0),
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_gives_version_backend_and_warnings() {
        let text = "Client:\n Version:    28.0.1\n\nServer:\n Containers: 2\n Server Version: 28.0.1\n Firewall Backend: iptables\n Docker Root Dir: /var/lib/docker\n\nWARNING: bridge-nf-call-iptables is disabled\nWARNING: IPv4 forwarding is disabled\n";
        let mut f = DockerFacts::default();
        apply_info(&mut f, text);
        assert_eq!(f.version.as_deref(), Some("28.0.1"));
        assert_eq!(f.firewall_backend.as_deref(), Some("iptables"));
        assert_eq!(f.ipv4_forwarding, Some(false));
        assert_eq!(f.notes.len(), 2);
    }

    #[test]
    fn version_gives_the_server_version() {
        let text = "Client: Docker Engine - Community\n Version:           27.3.1\n\nServer: Docker Engine - Community\n Engine:\n  Version:          27.3.0\n";
        let mut f = DockerFacts::default();
        apply_version(&mut f, text);
        assert_eq!(f.version.as_deref(), Some("27.3.0"));
    }

    #[test]
    fn ps_ports_are_published_ports() {
        let text = "CONTAINER ID   IMAGE     COMMAND                  CREATED       STATUS       PORTS                                     NAMES\n\
0123456789ab   nginx     \"/docker-entrypoint.…\"   2 hours ago   Up 2 hours   0.0.0.0:8080->80/tcp, :::8080->80/tcp   web\n\
ba9876543210   redis     \"docker-entrypoint.s…\"   2 hours ago   Up 2 hours   6379/tcp                                  cache\n";
        let c = containers(text, "ps").unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].name, "web");
        assert_eq!(c[0].ports.len(), 2);
        assert_eq!(c[0].ports[0].host_port, 8080);
        assert_eq!(c[0].ports[1].host_ip, "::");
        assert!(c[1].ports.is_empty());
        assert!(
            containers(
                "CONTAINER ID  PORTS  NAMES\nx 1.2.3.4:99999->1/tcp y\n",
                "ps"
            )
            .is_err()
        );
    }
}
