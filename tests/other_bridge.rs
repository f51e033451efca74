//! `other-bridge-blocked`: Podman's published port (read from its DNAT rules) blocked by
//! Docker's FORWARD policy DROP fires with a fix for that bridge in that stack, and does not
//! fire once DOCKER-USER accepts the bridge's traffic. Captures written here, in a temp dir:
//! a save file and `ip-addr.json`, as `check --from DIR` reads any subset of a capture.

use serde_json::Value;
use std::path::Path;
use std::process::Command;

/// Docker 20.10's classic rules for web1 (172.17.0.2, -p 8080:80) with FORWARD policy DROP,
/// CNI's podman rules for pweb1 (10.88.0.2, -p 8090:80) as lab/podman.sh captured them, and
/// `extra` filter rules (DOCKER-USER's) before Docker's RETURN.
fn save(bridge: &str, extra: &str) -> String {
    format!(
        "*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:CNI-ADMIN - [0:0]
:CNI-FORWARD - [0:0]
:DOCKER - [0:0]
:DOCKER-ISOLATION-STAGE-1 - [0:0]
:DOCKER-ISOLATION-STAGE-2 - [0:0]
:DOCKER-USER - [0:0]
-A FORWARD -m comment --comment \"CNI firewall plugin rules\" -j CNI-FORWARD
-A FORWARD -j DOCKER-USER
-A FORWARD -j DOCKER-ISOLATION-STAGE-1
-A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A FORWARD -o docker0 -j DOCKER
-A FORWARD -i docker0 ! -o docker0 -j ACCEPT
-A FORWARD -i docker0 -o docker0 -j ACCEPT
-A CNI-FORWARD -m comment --comment \"CNI firewall plugin admin overrides\" -j CNI-ADMIN
-A CNI-FORWARD -d 10.88.0.2/32 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A CNI-FORWARD -s 10.88.0.2/32 -j ACCEPT
-A DOCKER -d 172.17.0.2/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 80 -j ACCEPT
-A DOCKER-ISOLATION-STAGE-1 -i docker0 ! -o docker0 -j DOCKER-ISOLATION-STAGE-2
-A DOCKER-ISOLATION-STAGE-1 -j RETURN
-A DOCKER-ISOLATION-STAGE-2 -o docker0 -j DROP
-A DOCKER-ISOLATION-STAGE-2 -j RETURN
{extra}-A DOCKER-USER -j RETURN
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:CNI-DN-2865a4cc911be3a02f69a - [0:0]
:CNI-HOSTPORT-DNAT - [0:0]
:CNI-HOSTPORT-SETMARK - [0:0]
:DOCKER - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
-A PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT
-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
-A CNI-DN-2865a4cc911be3a02f69a -s 10.88.0.0/16 -p tcp -m tcp --dport 8090 -j CNI-HOSTPORT-SETMARK
-A CNI-DN-2865a4cc911be3a02f69a -p tcp -m tcp --dport 8090 -j DNAT --to-destination 10.88.0.2:80
-A CNI-HOSTPORT-DNAT -p tcp -m comment --comment \"dnat name: \\\"podman\\\" id: \\\"0fc0b5f8c43068453e5762bc518e102b35f726710c192a92e50f251b34da3de1\\\"\" -m multiport --dports 8090 -j CNI-DN-2865a4cc911be3a02f69a
-A CNI-HOSTPORT-SETMARK -j MARK --set-xmark 0x2000/0x2000
-A DOCKER -i docker0 -j RETURN
-A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80
COMMIT
"
    )
    .replace("cni-podman0", bridge)
}

fn ip_addr(bridge: &str) -> String {
    ip_addr_with(bridge, &[])
}

/// `ip -j addr show` of the lab's host, `bridge` holding 10.88.0.1/16, plus `extra` bridges.
fn ip_addr_with(bridge: &str, extra: &[(&str, &str, u8)]) -> String {
    let iface = |name: &str, addr: &str, len: u8| serde_json::json!({"ifname": name, "addr_info": [{"family": "inet", "local": addr, "prefixlen": len}]});
    let mut all = vec![
        iface("lo", "127.0.0.1", 8),
        iface("eth0", "10.99.0.1", 24),
        iface("docker0", "172.17.0.1", 16),
        iface(bridge, "10.88.0.1", 16),
    ];
    all.extend(extra.iter().map(|(n, a, l)| iface(n, a, *l)));
    serde_json::to_string(&all).expect("json")
}

/// `fwdoctor check --format json --from DIR` on a capture of `file` holding `rules`.
fn check(file: &str, rules: &str, bridge: &str) -> Value {
    check_ifaces(file, rules, &ip_addr(bridge))
}

/// [`check`] with `ip-addr.json` given.
fn check_ifaces(file: &str, rules: &str, ifaces: &str) -> Value {
    let dir = tempfile::tempdir().expect("tempdir");
    // The rest of the lab's capture (nft tables, legacy tables loaded, sysctls, Docker's
    // API), so that nothing unread leaves a verdict unknown; its rules and interfaces are
    // replaced. For the legacy stack only the save file: its verdicts stay partial.
    if file == "iptables-nft-save.txt" {
        let lab = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/lab/podman-beside-docker");
        for e in std::fs::read_dir(&lab).expect("lab fixture") {
            let e = e.expect("entry");
            let name = e.file_name().into_string().expect("utf-8 name");
            if !matches!(
                name.as_str(),
                "truth.json"
                    | "expect.json"
                    | "README.md"
                    | "ip-addr.json"
                    | "iptables-nft-save.txt"
            ) {
                std::fs::copy(e.path(), dir.path().join(&name)).expect("copy");
            }
        }
    }
    std::fs::write(dir.path().join(file), rules).expect("write save");
    std::fs::write(dir.path().join("ip-addr.json"), ifaces).expect("write ip-addr");
    if !dir.path().join("sysctl.txt").exists() {
        std::fs::write(
            dir.path().join("sysctl.txt"),
            "net.ipv4.ip_forward = 1\nnet.ipv6.conf.all.forwarding = 0\n",
        )
        .expect("write sysctl");
    }
    run(dir.path())
}

fn run(dir: &Path) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_fwdoctor"))
        .args(["check", "--format", "json", "--from"])
        .arg(dir)
        .output()
        .expect("fwdoctor runs");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn findings<'a>(r: &'a Value, check: &str) -> Vec<&'a Value> {
    r["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["check"] == check)
        .collect()
}

fn port(r: &Value, host_port: u64) -> &Value {
    r["ports"]
        .as_array()
        .expect("ports")
        .iter()
        .find(|p| p["host_port"] == host_port && p["family"] == "ipv4")
        .unwrap_or_else(|| panic!("port {host_port} not in {}", r["ports"]))
}

#[test]
fn podmans_port_behind_dockers_forward_drop_fires_with_docker_user_accepts() {
    let r = check(
        "iptables-nft-save.txt",
        &save("cni-podman0", ""),
        "cni-podman0",
    );
    let p = port(&r, 8090);
    assert_eq!(p["owner"], "podman", "{p}");
    assert_eq!(p["verdict"], "blocked", "{p}");
    assert_eq!(p["container_ip"], "10.88.0.2", "{p}");
    assert_eq!(p["container"], "0fc0b5f8c430", "{p}");
    assert_eq!(port(&r, 8080)["owner"], "docker");
    assert_eq!(port(&r, 8080)["verdict"], "reachable");
    let f = findings(&r, "other-bridge-blocked");
    assert_eq!(f.len(), 1, "{}", r["findings"]);
    let text = f[0].to_string();
    assert!(text.contains("Docker's FORWARD policy DROP"), "{text}");
    assert!(text.contains("cni-podman0"), "{text}");
    let now = f[0]["fix"]["immediate"].as_array().expect("immediate");
    assert_eq!(
        now,
        &[
            "sudo iptables-nft -I DOCKER-USER -o cni-podman0 -j ACCEPT",
            "sudo iptables-nft -I DOCKER-USER -i cni-podman0 -j ACCEPT"
        ],
        "{text}"
    );
    // Podman's port is this check's: published-port-blocked (whose fix would open FORWARD
    // for everything) stays quiet.
    assert!(
        findings(&r, "published-port-blocked").is_empty(),
        "{}",
        r["findings"]
    );
    assert_eq!(r["status"], "critical");
}

#[test]
fn the_docker_user_accepts_for_the_bridge_make_it_reachable_and_the_check_quiet() {
    let extra =
        "-A DOCKER-USER -i cni-podman0 -j ACCEPT\n-A DOCKER-USER -o cni-podman0 -j ACCEPT\n";
    let r = check(
        "iptables-nft-save.txt",
        &save("cni-podman0", extra),
        "cni-podman0",
    );
    assert_eq!(port(&r, 8090)["verdict"], "reachable", "{}", port(&r, 8090));
    assert!(
        findings(&r, "other-bridge-blocked").is_empty(),
        "{}",
        r["findings"]
    );
    assert_eq!(r["status"], "ok", "{}", r["findings"]);
}

#[test]
fn in_the_legacy_stack_the_fix_speaks_iptables_legacy() {
    let r = check("iptables-legacy-save.txt", &save("podman1", ""), "podman1");
    let f = findings(&r, "other-bridge-blocked");
    assert_eq!(f.len(), 1, "{}", r["findings"]);
    let now = f[0]["fix"]["immediate"].to_string();
    assert!(
        now.contains("sudo iptables-legacy -I DOCKER-USER -o podman1 -j ACCEPT"),
        "{now}"
    );
}

#[test]
fn a_bridge_name_from_the_evidence_is_shell_quoted_in_the_fix() {
    // ip-addr.json can name an interface anything (up to 15 bytes); the save file's `-o`
    // word cannot hold a quote, so only ip-addr.json carries it: the route names it.
    let hostile = "podman$(id)'x";
    let r = check("iptables-nft-save.txt", &save("cni-podman0", ""), hostile);
    let f = findings(&r, "other-bridge-blocked");
    assert_eq!(f.len(), 1, "{}", r["findings"]);
    let now: Vec<&str> = f[0]["fix"]["immediate"]
        .as_array()
        .expect("immediate")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(!now.is_empty());
    for cmd in &now {
        assert!(
            cmd.contains(r#"'podman$(id)'\''x'"#),
            "not quoted: {cmd} ({now:?})"
        );
    }
}

#[test]
fn an_lxd_bridges_outgoing_traffic_behind_dockers_drop_fires_and_its_accepts_quiet_it() {
    let lxd = [("lxdbr0", "10.0.3.1", 24)];
    let r = check_ifaces(
        "iptables-nft-save.txt",
        &save("cni-podman0", ""),
        &ip_addr_with("cni-podman0", &lxd),
    );
    let f = findings(&r, "other-bridge-blocked");
    let out: Vec<&&Value> = f
        .iter()
        .filter(|f| {
            f["summary"]
                .as_str()
                .is_some_and(|s| s.starts_with("outgoing"))
        })
        .collect();
    // lxdbr0 has no rule of its own: Docker's DROP; Podman's container is accepted by
    // CNI-FORWARD (-s 10.88.0.2), so only Podman's port is reported for cni-podman0.
    assert_eq!(out.len(), 1, "{}", r["findings"]);
    let text = out[0].to_string();
    assert!(text.contains("lxd's containers on lxdbr0"), "{text}");
    assert!(text.contains("Docker's FORWARD policy DROP"), "{text}");
    assert!(
        text.contains("sudo iptables-nft -I DOCKER-USER -i lxdbr0 -j ACCEPT"),
        "{text}"
    );
    assert_eq!(f.len(), 2, "Podman's port and lxdbr0: {}", r["findings"]);

    let extra = "-A DOCKER-USER -i lxdbr0 -j ACCEPT\n-A DOCKER-USER -o lxdbr0 -j ACCEPT\n";
    let r = check_ifaces(
        "iptables-nft-save.txt",
        &save("cni-podman0", extra),
        &ip_addr_with("cni-podman0", &lxd),
    );
    let f = findings(&r, "other-bridge-blocked");
    assert!(
        f.iter()
            .all(|f| !f["summary"].to_string().contains("lxdbr0")),
        "{}",
        r["findings"]
    );
    assert_eq!(f.len(), 1, "Podman's port only: {}", r["findings"]);
}
