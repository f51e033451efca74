//! Worst-case rulesets for the trace engine, as `iptables-save` text, and a capture with many
//! published ports: shared by `benches/scale.rs` (`--worst-case`) and `tests/trace_bounds.rs`
//! (`#[path]`-included): not part of the product.
//!
//! Each ruleset has two Docker-published ports: 9090 (to 172.17.0.3) goes through the hostile
//! chains `L0`, `L1`, ..., 8080 (to 172.17.0.2) does not.

#![allow(dead_code)]

use std::fmt::Write as _;
use std::path::Path;

/// The ruleset, with `hostile` (chain declarations and rules) reached from FORWARD by the
/// packets to 172.17.0.3 (port 9090) only.
pub fn ruleset(chains: &[String], rules: &[String]) -> String {
    let mut out = String::from(
        "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n:DOCKER - [0:0]\n\
         -A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER\n\
         -A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80\n\
         -A DOCKER ! -i docker0 -p tcp -m tcp --dport 9090 -j DNAT --to-destination 172.17.0.3:80\n\
         COMMIT\n*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n",
    );
    for c in chains {
        let _ = writeln!(out, ":{c} - [0:0]");
    }
    out.push_str("-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n");
    out.push_str("-A FORWARD -d 172.17.0.3/32 -j L0\n");
    for r in rules {
        let _ = writeln!(out, "{r}");
    }
    out.push_str("-A FORWARD -d 172.17.0.2/32 -p tcp -m tcp --dport 80 -j ACCEPT\n");
    out.push_str("-A FORWARD -d 172.17.0.3/32 -p tcp -m tcp --dport 80 -j ACCEPT\nCOMMIT\n");
    out
}

/// `-A FORWARD -g L0`-like ring: L0 goes to L1, L1 back to L0.
pub fn goto_ring() -> String {
    let chains = ["L0".to_string(), "L1".to_string()];
    let rules = ["-A L0 -g L1".to_string(), "-A L1 -g L0".to_string()];
    ruleset(&chains, &rules).replace("-d 172.17.0.3/32 -j L0", "-d 172.17.0.3/32 -g L0")
}

/// Each level jumps twice to the next; `undecidable` puts a `-m mark` match (which the engine
/// does not model) on each jump and a `-m mark ... -j DROP` at the bottom.
pub fn diamond(levels: usize, undecidable: bool) -> String {
    let chains: Vec<String> = (0..=levels).map(|i| format!("L{i}")).collect();
    let mut rules = Vec::new();
    for i in 0..levels {
        for k in 0..2 {
            rules.push(if undecidable {
                format!("-A L{i} -m mark --mark 0x{:x} -j L{}", 2 * i + k + 1, i + 1)
            } else {
                format!("-A L{i} -j L{}", i + 1)
            });
        }
    }
    if undecidable {
        rules.push(format!("-A L{levels} -m mark --mark 0xffff -j DROP"));
    }
    ruleset(&chains, &rules)
}

/// `levels` chains, each jumping to the next; the last accepts.
pub fn linear(levels: usize) -> String {
    let chains: Vec<String> = (0..=levels).map(|i| format!("L{i}")).collect();
    let mut rules: Vec<String> = (0..levels)
        .map(|i| format!("-A L{i} -j L{}", i + 1))
        .collect();
    rules.push(format!("-A L{levels} -p tcp -m tcp --dport 80 -j ACCEPT"));
    ruleset(&chains, &rules)
}

/// A capture directory at `dir` (the `healthy` lab fixture's host facts) whose one Docker
/// container per 1000 ports publishes `ports` ports (10000 and up, IPv4 and IPv6 entries as
/// Docker lists them), with Docker's DNAT and ACCEPT rule for each.
pub fn many_ports_capture(dir: &Path, ports: usize) {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/lab/healthy");
    std::fs::create_dir_all(dir).expect("capture dir");
    for f in [
        "ip-addr.json",
        "sysctl.txt",
        "iptables-alternative.txt",
        "legacy-tables.txt",
        "nft-chains.json",
        "docker-info.json",
        "docker-version.json",
        "docker-networks.json",
        "meta.json",
    ] {
        std::fs::copy(fixture.join(f), dir.join(f)).expect("copy fixture file");
    }
    let container_ip = |i: usize| format!("172.17.{}.{}", 2 + i / 250, 2 + i % 250);
    let (mut accept, mut dnat) = (String::new(), String::new());
    for i in 0..ports {
        let ip = container_ip(i / 1000);
        let _ = writeln!(
            accept,
            "-A DOCKER -d {ip}/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport {} -j ACCEPT",
            20000 + i
        );
        let _ = writeln!(
            dnat,
            "-A DOCKER ! -i docker0 -p tcp -m tcp --dport {} -j DNAT --to-destination {ip}:{}",
            10000 + i,
            20000 + i
        );
    }
    let save = std::fs::read_to_string(fixture.join("iptables-nft-save.txt"))
        .expect("fixture")
        .replace(
            "-A DOCKER -d 172.17.0.2/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 80 -j ACCEPT\n",
            &accept,
        )
        .replace(
            "-A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80\n",
            &dnat,
        );
    std::fs::write(dir.join("iptables-nft-save.txt"), save).expect("write save");
    let mut containers = Vec::new();
    for c in 0..ports.div_ceil(1000) {
        let published: Vec<String> = (c * 1000..ports.min(c * 1000 + 1000))
            .flat_map(|i| {
                ["0.0.0.0", "::"].map(|ip| {
                    format!(
                        r#"{{"IP":"{ip}","PrivatePort":{},"PublicPort":{},"Type":"tcp"}}"#,
                        20000 + i,
                        10000 + i
                    )
                })
            })
            .collect();
        containers.push(format!(
            r#"{{"Id":"{c:064x}","Names":["/web{c}"],"Image":"lab:1","State":"running","Status":"Up","Ports":[{}],"Labels":{{}},"HostConfig":{{"NetworkMode":"default"}},"NetworkSettings":{{"Networks":{{"bridge":{{"NetworkID":"0e2c6f2ec5bc","IPAddress":"{}","IPPrefixLen":16,"Gateway":"172.17.0.1","GlobalIPv6Address":"","MacAddress":"02:42:ac:11:00:02"}}}}}},"Mounts":[]}}"#,
            published.join(","),
            container_ip(c)
        ));
    }
    std::fs::write(
        dir.join("docker-containers.json"),
        format!("[{}]", containers.join(",")),
    )
    .expect("write containers");
}
