//! Fact parsers (Docker Engine API JSON, daemon.json, snap tables, sysctl, ufw) on real captured
//! bodies from a lab dockerd 20.10.24 and on the hand examples from the research notes.

use fwdoctor::model::{DaemonConfig, PublishedPort, SnapListing, SnapService};
use fwdoctor::parse::docker::{self, DockerInputs};
use fwdoctor::parse::{snap, sysctl, ufw};
use std::net::IpAddr;
use std::path::PathBuf;

fn data(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/facts")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn port(proto: &str, host_ip: &str, host_port: u16, container_port: u16) -> PublishedPort {
    PublishedPort {
        proto: proto.into(),
        host_ip: host_ip.into(),
        host_port,
        container_port,
    }
}

// ---------------------------------------------------------------- docker: real lab bodies

fn lab_facts() -> fwdoctor::model::DockerFacts {
    let (info, version, containers, networks) = (
        data("docker-info.json"),
        data("docker-version.json"),
        data("docker-containers.json"),
        data("docker-networks.json"),
    );
    docker::parse(&DockerInputs {
        info: Some(&info),
        version: Some(&version),
        containers: Some(&containers),
        networks: Some(&networks),
        daemon_json: None,
    })
    .expect("real bodies parse")
}

#[test]
fn docker_info_fields_from_real_20_10() {
    let facts = lab_facts();
    assert_eq!(facts.version.as_deref(), Some("20.10.24+dfsg1"));
    // 20.10 (API 1.41) predates FirewallBackend (API 1.49).
    assert_eq!(facts.firewall_backend, None);
    assert_eq!(facts.ipv4_forwarding, Some(true));
    assert!(!facts.rootless);
    assert_eq!(facts.root_dir.as_deref(), Some("/tmp/hfacts-lab/data"));
    assert_eq!(facts.daemon_config, DaemonConfig::default());
}

#[test]
fn docker_version_falls_back_to_version_endpoint() {
    let version = data("docker-version.json");
    let facts = docker::parse(&DockerInputs {
        version: Some(&version),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(facts.version.as_deref(), Some("20.10.24+dfsg1"));
    assert!(facts.networks.is_empty() && facts.containers.is_empty());
}

#[test]
fn docker_networks_from_real_body() {
    let facts = lab_facts();
    let by_name = |n: &str| {
        facts
            .networks
            .iter()
            .find(|x| x.name == n)
            .unwrap_or_else(|| panic!("network {n}"))
    };
    assert_eq!(facts.networks.len(), 6);

    let bridge = by_name("bridge");
    assert_eq!(bridge.driver, "bridge");
    assert_eq!(bridge.bridge.as_deref(), Some("docker0"));
    assert_eq!(bridge.subnets, vec!["172.17.0.0/16".parse().unwrap()]);
    assert!(!bridge.internal && !bridge.enable_ipv6);

    // User-defined bridge without a name option: br- + first 12 chars of the id.
    let lab = by_name("lab-net");
    assert_eq!(lab.bridge.as_deref(), Some("br-9ce08abacbbd"));
    assert_eq!(lab.subnets, vec!["172.18.0.0/16".parse().unwrap()]);

    let internal = by_name("lab-internal");
    assert!(internal.internal);
    assert_eq!(internal.bridge.as_deref(), Some("labint0"));
    assert_eq!(internal.subnets, vec!["10.123.0.0/24".parse().unwrap()]);

    let v6 = by_name("lab-v6");
    assert!(v6.enable_ipv6);
    assert_eq!(
        v6.subnets,
        vec![
            "172.30.0.0/24".parse().unwrap(),
            "fd00:dead:beef::/64".parse().unwrap()
        ]
    );

    // host / null drivers have no Linux bridge and no subnets.
    for n in ["host", "none"] {
        assert_eq!(by_name(n).bridge, None, "{n}");
        assert!(by_name(n).subnets.is_empty(), "{n}");
    }
}

#[test]
fn docker_containers_from_real_body() {
    let facts = lab_facts();
    let by_name = |n: &str| {
        facts
            .containers
            .iter()
            .find(|x| x.name == n)
            .unwrap_or_else(|| panic!("container {n}"))
    };
    assert_eq!(facts.containers.len(), 3);

    let web = by_name("web");
    assert!(web.id.starts_with("8c5d87079025"));
    assert_eq!(web.addresses, vec![("bridge".into(), ip("172.17.0.2"))]);
    assert_eq!(
        web.ports,
        vec![
            port("tcp", "0.0.0.0", 8080, 80),
            port("tcp", "::", 8080, 80)
        ]
    );

    // Two networks; the exposed-only 9000/tcp is not a published port.
    let api = by_name("api");
    assert_eq!(
        api.addresses,
        vec![
            ("lab-internal".into(), ip("10.123.0.2")),
            ("lab-net".into(), ip("172.18.0.2")),
        ]
    );
    assert_eq!(
        api.ports,
        vec![
            port("udp", "0.0.0.0", 5353, 53),
            port("udp", "::", 5353, 53),
            port("tcp", "127.0.0.1", 9090, 80),
        ]
    );

    let v6web = by_name("v6web");
    assert_eq!(
        v6web.addresses,
        vec![
            ("lab-v6".into(), ip("172.30.0.2")),
            ("lab-v6".into(), ip("fd00:dead:beef::2")),
        ]
    );
}

// ---------------------------------------------------------------- docker: hand examples

#[test]
fn docker_info_firewall_backend_and_rootless() {
    let info = r#"{"ServerVersion":"29.0.1","FirewallBackend":{"Driver":"nftables+firewalld",
        "Info":[["ReloadedAt","2025-07-16T16:59:14Z"]]},"IPv4Forwarding":false,
        "SecurityOptions":["name=seccomp,profile=builtin","name=rootless","name=cgroupns"],
        "DockerRootDir":"/home/u/.local/share/docker"}"#;
    let facts = docker::parse(&DockerInputs {
        info: Some(info),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(facts.version.as_deref(), Some("29.0.1"));
    assert_eq!(
        facts.firewall_backend.as_deref(),
        Some("nftables+firewalld")
    );
    assert_eq!(facts.ipv4_forwarding, Some(false));
    assert!(facts.rootless);
    assert_eq!(
        facts.root_dir.as_deref(),
        Some("/home/u/.local/share/docker")
    );
}

#[test]
fn docker_missing_optional_fields_are_fine() {
    let facts = docker::parse(&DockerInputs {
        info: Some("{}"),
        networks: Some(r#"[{"Name":"x","Id":"abc","Driver":"bridge","IPAM":{"Config":null},"Options":null}]"#),
        containers: Some(
            r#"[{"Id":"0123456789abcdef","Names":null,"Ports":[{"PrivatePort":80,"PublicPort":8080,"Type":"tcp"},{"PrivatePort":81,"Type":"tcp"}],
                "NetworkSettings":{"Networks":{"bridge":{"IPAddress":"","GlobalIPv6Address":""},"none":null}}}]"#,
        ),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(facts.version, None);
    assert_eq!(facts.ipv4_forwarding, None);
    assert!(!facts.rootless);
    let net = &facts.networks[0];
    assert_eq!(net.bridge.as_deref(), Some("br-abc"));
    assert!(net.subnets.is_empty());
    let c = &facts.containers[0];
    assert_eq!(c.name, "0123456789ab", "no name: short id");
    assert!(c.addresses.is_empty(), "empty IPs skipped");
    assert_eq!(c.ports, vec![port("tcp", "0.0.0.0", 8080, 80)]);
}

#[test]
fn docker_unparsable_subnet_is_skipped() {
    let facts = docker::parse(&DockerInputs {
        networks: Some(
            r#"[{"Name":"n","Driver":"macvlan","IPAM":{"Config":[{"Subnet":"bogus"},{"Subnet":"10.0.0.0/8"},{}]}}]"#,
        ),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(facts.networks[0].bridge, None, "not a bridge driver");
    assert_eq!(
        facts.networks[0].subnets,
        vec!["10.0.0.0/8".parse().unwrap()]
    );
}

#[test]
fn daemon_json_keys() {
    let text = data("docker-daemon.json");
    let facts = docker::parse(&DockerInputs {
        daemon_json: Some(&text),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(
        facts.daemon_config,
        DaemonConfig {
            iptables: Some(true),
            ip6tables: Some(false),
            ip_forward: Some(true),
            userland_proxy: Some(false),
            firewall_backend: Some("nftables".into()),
        }
    );
    assert_eq!(
        docker::parse_daemon_json("  \n").unwrap(),
        DaemonConfig::default()
    );
    assert_eq!(
        docker::parse_daemon_json(r#"{"iptables": false}"#)
            .unwrap()
            .iptables,
        Some(false)
    );
}

// ---------------------------------------------------------------- docker: errors

#[test]
fn docker_invalid_json_names_file_and_line() {
    let err = docker::parse(&DockerInputs {
        info: Some("{\n  \"ServerVersion\": \"20.10\",\n  \"IPv4Forwarding\": tru\n}"),
        ..Default::default()
    })
    .unwrap_err();
    assert_eq!(err.file, "docker-info.json");
    assert_eq!(err.line, 3, "{err}");
    assert!(
        err.to_string()
            .starts_with("docker-info.json:3: invalid JSON"),
        "{err}"
    );

    let err = docker::parse(&DockerInputs {
        daemon_json: Some("{\n  \"iptables\": false,\n}\n"),
        ..Default::default()
    })
    .unwrap_err();
    assert_eq!(
        (err.file.as_str(), err.line),
        ("docker-daemon.json", 3),
        "{err}"
    );

    // Truncated body.
    let err = docker::parse(&DockerInputs {
        networks: Some("[{\"Name\":\n"),
        ..Default::default()
    })
    .unwrap_err();
    assert_eq!(err.file, "docker-networks.json");
    assert!(err.message.contains("truncated"), "{err}");
}

#[test]
fn docker_wrong_shape_is_an_error() {
    let err = docker::parse(&DockerInputs {
        containers: Some("{\"message\": \"page not found\"}"),
        ..Default::default()
    })
    .unwrap_err();
    assert_eq!(err.file, "docker-containers.json");
    assert_eq!(err.line, 1);
    assert!(
        err.message
            .contains("wrong shape, expected the GET /containers/json array"),
        "{err}"
    );

    let err = docker::parse(&DockerInputs {
        info: Some("{\n\"IPv4Forwarding\": \"yes\"\n}"),
        ..Default::default()
    })
    .unwrap_err();
    assert_eq!((err.file.as_str(), err.line), ("docker-info.json", 2));

    let err = docker::parse_daemon_json("[1, 2]").unwrap_err();
    assert_eq!(err.file, "docker-daemon.json");
    let err = docker::parse_daemon_json("{\"userland-proxy\": \"false\"}").unwrap_err();
    assert!(
        err.message.contains("expected a daemon.json object"),
        "{err}"
    );
}

#[test]
fn docker_empty_body_is_an_error() {
    let err = docker::parse(&DockerInputs {
        version: Some(""),
        ..Default::default()
    })
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "docker-version.json: empty file, expected the GET /version object"
    );
}

// ---------------------------------------------------------------- snap

#[test]
fn snap_research_examples() {
    let (services, list, changes) = (
        data("snap-services.txt"),
        data("snap-list.txt"),
        data("snap-changes.txt"),
    );
    let facts = snap::parse(Some(&services), Some(&list), Some(&changes));
    assert_eq!(
        facts.docker_service,
        Some(SnapService {
            name: "docker.dockerd".into(),
            enabled: true,
            active: true
        })
    );
    assert_eq!(
        facts.docker_snap,
        Some(SnapListing {
            version: "28.1.1+1".into(),
            rev: "3265".into(),
            tracking: "latest/candidate".into()
        })
    );
    let ids: Vec<&str> = facts.docker_changes.iter().map(|c| c.id.as_str()).collect();
    // Kept: install/refresh/auto-refresh naming "docker", and the unnamed "Auto-refresh 4 snaps".
    // Dropped: other snaps, the interface connect, "docker-compose".
    assert_eq!(ids, ["5960", "5966", "5970", "5971", "5972"]);
    let first = &facts.docker_changes[0];
    assert_eq!(first.status, "Done");
    assert_eq!(first.spawn, "yesterday at 09:02 CEST");
    assert_eq!(first.ready, "yesterday at 09:03 CEST");
    assert_eq!(first.summary, "Install \"docker\" snap");
    let doing = &facts.docker_changes[4];
    assert_eq!(
        (doing.status.as_str(), doing.ready.as_str()),
        ("Doing", "-")
    );
    assert_eq!(doing.summary, "Auto-refresh snap \"docker\"");
}

#[test]
fn snap_changes_spanish_times_and_abs_time() {
    let text = "\
ID    Status  Spawn                 Ready                 Summary
5966  Done    hoy a las 11:24 CEST   hoy a las 11:24 CEST   Auto-refresh 4 snaps
5967  Done    2017-06-30T00:28:53Z  2017-06-30T00:29:24Z  Auto-refresh snap \"docker\"
";
    let changes = snap::parse(None, None, Some(text)).docker_changes;
    assert_eq!(changes.len(), 2);
    assert_eq!(changes[0].spawn, "hoy a las 11:24 CEST");
    assert_eq!(changes[0].summary, "Auto-refresh 4 snaps");
    assert_eq!(changes[1].ready, "2017-06-30T00:29:24Z");
}

#[test]
fn snap_no_changes_and_missing_sources() {
    assert!(
        snap::parse(None, None, Some("no changes found\n"))
            .docker_changes
            .is_empty()
    );
    assert!(snap::parse(None, None, Some("")).docker_changes.is_empty());
    let facts = snap::parse(None, None, None);
    assert_eq!(facts, Default::default());
}

#[test]
fn snap_without_docker() {
    let services =
        "Service  Startup  Current  Notes\nlxd.daemon  enabled  active  socket-activated\n";
    let list = "Name   Version  Rev    Tracking       Publisher   Notes\nsnapd  2.70     24792  latest/stable  canonical✓  snapd\n";
    let facts = snap::parse(Some(services), Some(list), None);
    assert_eq!(facts.docker_service, None);
    assert_eq!(facts.docker_snap, None);
}

#[test]
fn snap_disabled_service_and_odd_rows() {
    let services = "\
Service         Startup   Current   Notes
garbage
docker.dockerd  disabled  inactive  -
";
    let svc = snap::parse(Some(services), None, None)
        .docker_service
        .unwrap();
    assert!(!svc.enabled && !svc.active);

    let changes = "\
ID  Status  Spawn  Ready  Summary
x
abc  Done  today  today  Install \"docker\" snap
12  Done  today at 1:00 UTC  today at 1:00 UTC  Install \"docker\" snap
";
    let c = snap::parse(None, None, Some(changes)).docker_changes;
    assert_eq!(
        c.len(),
        1,
        "rows without a numeric id or too few columns are skipped"
    );
    assert_eq!(c[0].id, "12");
}

#[test]
fn snap_list_all_prefers_the_enabled_revision() {
    let list = "\
Name    Version   Rev   Tracking       Publisher   Notes
docker  24.0.5    2904  latest/stable  canonical✓  disabled
docker  27.2.0    2963  latest/stable  canonical✓  -
";
    let l = snap::parse(None, Some(list), None).docker_snap.unwrap();
    assert_eq!((l.version.as_str(), l.rev.as_str()), ("27.2.0", "2963"));
}

#[test]
fn snap_never_panics_on_junk() {
    for junk in [
        "\u{0}\u{ffff}  \t  ",
        "a",
        "  \n\n  ",
        "ÄÖ  ü  ✓✓\n✓  ✓",
        "\t\t\t",
    ] {
        let _ = snap::parse(Some(junk), Some(junk), Some(junk));
    }
}

// ---------------------------------------------------------------- sysctl

#[test]
fn sysctl_capture_file() {
    let s = sysctl::parse(&data("sysctl.txt"), "sysctl.txt").unwrap();
    assert_eq!(s.len(), 4);
    assert_eq!(s["net.ipv4.ip_forward"], "1");
    assert_eq!(s["net.ipv6.conf.all.forwarding"], "0");
    assert_eq!(s["net.bridge.bridge-nf-call-iptables"], "1");
}

#[test]
fn sysctl_forms_comments_and_blanks() {
    let text = "# captured\n\nnet.ipv4.ip_forward=0\n  ; old style comment\nkernel.domainname = \nnet/ipv4/conf/eth0.100/forwarding = 1\nnet.ipv4.ip_local_port_range = 32768\t60999\r\n";
    let s = sysctl::parse(text, "sysctl.txt").unwrap();
    assert_eq!(s["net.ipv4.ip_forward"], "0");
    assert_eq!(s["kernel.domainname"], "");
    assert_eq!(s["net.ipv4.conf.eth0/100.forwarding"], "1");
    assert_eq!(s["net.ipv4.ip_local_port_range"], "32768\t60999");
}

#[test]
fn sysctl_line_without_equals_is_an_error() {
    let text = "net.ipv4.ip_forward = 1\n# fine\nsysctl: cannot stat /proc/sys/net/bridge/bridge-nf-call-iptables\n";
    let err = sysctl::parse(text, "sysctl.txt").unwrap_err();
    assert_eq!((err.file.as_str(), err.line), ("sysctl.txt", 3));
    assert!(
        err.to_string()
            .starts_with("sysctl.txt:3: expected `KEY = VALUE`"),
        "{err}"
    );

    let err = sysctl::parse("\n = 1\n", "x.txt").unwrap_err();
    assert_eq!(err.line, 2);
}

// ---------------------------------------------------------------- ufw

#[test]
fn ufw_status_verbose() {
    let u = ufw::parse(&data("ufw-status.txt"));
    assert!(u.active);
    assert_eq!(u.default_incoming.as_deref(), Some("deny"));
    assert_eq!(u.default_routed.as_deref(), Some("disabled"));
}

#[test]
fn ufw_inactive_and_plain_status() {
    let u = ufw::parse("Status: inactive\n");
    assert!(!u.active);
    assert_eq!(u.default_incoming, None);

    let u = ufw::parse(
        "Status: active\n\nTo   Action   From\n--   ------   ----\n22   ALLOW    Anywhere\n",
    );
    assert!(u.active);
    assert_eq!((u.default_incoming, u.default_routed), (None, None));

    let u =
        ufw::parse("Status: active\nDefault: reject (incoming), allow (outgoing), deny (routed)\n");
    assert_eq!(u.default_incoming.as_deref(), Some("reject"));
    assert_eq!(u.default_routed.as_deref(), Some("deny"));

    assert_eq!(ufw::parse(""), Default::default());
    let _ = ufw::parse("Default: (\nDefault: deny (\n:::\n");
}

// ---------------------------------------------------------------- no panics on any input

proptest::proptest! {
    #[test]
    fn fact_parsers_never_panic(text in "(?s).{0,300}") {
        let _ = snap::parse(Some(&text), Some(&text), Some(&text));
        let _ = ufw::parse(&text);
        let _ = sysctl::parse(&text, "sysctl.txt");
        let _ = docker::parse(&DockerInputs {
            info: Some(&text),
            version: Some(&text),
            containers: Some(&text),
            networks: Some(&text),
            daemon_json: Some(&text),
        });
    }

    #[test]
    fn snap_tables_with_spacey_cells_never_panic(
        cells in proptest::collection::vec("[ a-z0-9\"✓:-]{0,12}", 0..30)
    ) {
        let text = format!("ID  Status  Spawn  Ready  Summary\n{}", cells.join("  "));
        let _ = snap::parse(Some(&text), Some(&text), Some(&text));
    }
}
