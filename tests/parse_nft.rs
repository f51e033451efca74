//! `nft -j list ruleset` parser against real nft 1.0.6 output (see tests/data/nft/README.md).

use fwdoctor::model::{
    Action, AddrType, ChainType, Counters, CtState, Dir, Family, Hook, Match, Policy, Rule, Stack,
    Table, VmapKey,
};
use fwdoctor::parse::nft_json::parse;
use ipnet::IpNet;

fn load(name: &str) -> Vec<Table> {
    let path = format!("{}/tests/data/nft/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    parse(&text, name).unwrap_or_else(|e| panic!("{e}"))
}

fn table<'t>(tables: &'t [Table], family: Family, name: &str) -> &'t Table {
    tables
        .iter()
        .find(|t| t.family == family && t.name == name)
        .unwrap_or_else(|| panic!("no table {family} {name}"))
}

fn rules<'t>(t: &'t Table, chain: &str) -> &'t [Rule] {
    &t.chain(chain)
        .unwrap_or_else(|| panic!("no chain {chain} in {}", t.label()))
        .rules
}

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn jump(chain: &str) -> Action {
    Action::jump(chain)
}

fn iface(dir: Dir, negated: bool, name: &str) -> Match {
    Match::Iface {
        dir,
        negated,
        names: vec![name.into()].into(),
    }
}

fn tcp() -> Match {
    Match::Proto {
        negated: false,
        proto: "tcp".into(),
    }
}

fn port(dir: Dir, negated: bool, ranges: &[(u16, u16)]) -> Match {
    Match::Port {
        dir,
        negated,
        ranges: ranges.to_vec().into(),
    }
}

fn unknown(text: &str) -> Match {
    Match::Unknown { text: text.into() }
}

fn comment(text: &str) -> Match {
    Match::Comment { text: text.into() }
}

const ZERO: Option<Counters> = Some(Counters {
    packets: 0,
    bytes: 0,
});

// ---------------------------------------------------------------------------------------------
// Docker 29, firewall-backend=nftables: table ip docker-bridges (+ an ip6 copy).

#[test]
fn docker29_tables_are_native() {
    let tables = load("docker29-bridges.json");
    assert_eq!(tables.len(), 2);
    for (t, family) in tables.iter().zip([Family::Ip, Family::Ip6]) {
        assert_eq!(t.family, family);
        assert_eq!(t.name, "docker-bridges");
        assert_eq!(t.stack, Stack::Nft);
        assert_eq!(t.source, "docker29-bridges.json");
        assert_eq!(t.chains.len(), 14);
        assert_eq!(t.rule_count(), 21);
    }
}

#[test]
fn docker29_base_chains() {
    let tables = load("docker29-bridges.json");
    let t = table(&tables, Family::Ip, "docker-bridges");
    let base = |name: &str| t.chain(name).unwrap().base.clone().unwrap();

    let fwd = base("filter-FORWARD");
    assert_eq!(fwd.hook, Hook::Forward);
    assert_eq!(fwd.priority, 0);
    assert_eq!(fwd.chain_type, ChainType::Filter);
    assert_eq!(fwd.policy, Policy::Accept);
    assert_eq!(fwd.counters, None);

    let raw = base("raw-PREROUTING");
    assert_eq!((raw.hook, raw.priority), (Hook::Prerouting, -300));
    assert_eq!(raw.chain_type, ChainType::Filter);

    let pre = base("nat-PREROUTING");
    assert_eq!(
        (pre.hook, pre.priority, pre.chain_type),
        (Hook::Prerouting, -100, ChainType::Nat)
    );
    let out = base("nat-OUTPUT");
    assert_eq!((out.hook, out.priority), (Hook::Output, -100));
    let post = base("nat-POSTROUTING");
    assert_eq!((post.hook, post.priority), (Hook::Postrouting, 100));

    assert!(t.chain("nat-prerouting-and-output").unwrap().base.is_none());
    assert!(
        t.chain("filter-forward-in__bridge1")
            .unwrap()
            .base
            .is_none()
    );
    // Empty regular chains are kept.
    assert!(rules(t, "nat-postrouting-in__bridge1").is_empty());
}

#[test]
fn docker29_vmaps_resolve_to_jumps() {
    let tables = load("docker29-bridges.json");
    let t = table(&tables, Family::Ip, "docker-bridges");
    let fwd = rules(t, "filter-FORWARD");
    assert_eq!(fwd.len(), 2);
    assert_eq!(fwd[0].text, "oifname vmap @filter-forward-in-jumps");
    assert!(fwd[0].matches.is_empty());
    assert_eq!(
        fwd[0].action,
        Action::VerdictMap {
            key: VmapKey::Oifname,
            entries: vec![
                ("docker0".to_string(), jump("filter-forward-in__docker0")),
                ("bridge1".to_string(), jump("filter-forward-in__bridge1")),
            ],
        }
    );
    assert_eq!(
        fwd[1].action,
        Action::VerdictMap {
            key: VmapKey::Iifname,
            entries: vec![
                ("docker0".to_string(), jump("filter-forward-out__docker0")),
                ("bridge1".to_string(), jump("filter-forward-out__bridge1")),
            ],
        }
    );
    // Every vmap target exists as a chain.
    for r in fwd.iter().chain(rules(t, "nat-POSTROUTING")) {
        let Action::VerdictMap { entries, .. } = &r.action else {
            panic!("{:?}", r.action)
        };
        for (_, a) in entries {
            let Action::Jump { chain, .. } = a else {
                panic!("{a:?}")
            };
            assert!(t.chain(chain).is_some(), "{chain}");
        }
    }
}

#[test]
fn docker29_dnat_rule() {
    let tables = load("docker29-bridges.json");
    let t = table(&tables, Family::Ip, "docker-bridges");
    let r = &rules(t, "nat-prerouting-and-output")[0];
    assert_eq!(
        r.text,
        r#"iifname != "bridge1" tcp dport 8080 counter dnat to 192.0.2.2:80 comment "DNAT""#
    );
    assert_eq!(r.line, 0);
    assert_eq!(
        *r.matches,
        vec![
            iface(Dir::Src, true, "bridge1"),
            tcp(),
            port(Dir::Dst, false, &[(8080, 8080)]),
            comment("DNAT"),
        ]
    );
    assert_eq!(
        r.action,
        Action::Dnat {
            addr: Some("192.0.2.2".parse().unwrap()),
            port: Some((80, 80)),
        }
    );
    assert_eq!(r.counters.as_deref().copied(), ZERO);

    let t6 = table(&tables, Family::Ip6, "docker-bridges");
    let r6 = &rules(t6, "nat-prerouting-and-output")[0];
    assert_eq!(
        r6.text,
        r#"iifname != "bridge1" tcp dport 8080 counter dnat to [2001:db8::2]:80 comment "DNAT""#
    );
    assert_eq!(
        r6.action,
        Action::Dnat {
            addr: Some("2001:db8::2".parse().unwrap()),
            port: Some((80, 80)),
        }
    );
}

#[test]
fn docker29_other_rules() {
    let tables = load("docker29-bridges.json");
    let t = table(&tables, Family::Ip, "docker-bridges");

    let out = &rules(t, "nat-OUTPUT")[0];
    assert_eq!(
        out.text,
        "ip daddr != 127.0.0.0/8 fib daddr type local counter jump nat-prerouting-and-output"
    );
    assert_eq!(
        *out.matches,
        vec![
            Match::Addr {
                dir: Dir::Dst,
                negated: true,
                nets: vec![net("127.0.0.0/8")].into(),
            },
            Match::AddrType {
                dir: Dir::Dst,
                negated: false,
                types: vec![AddrType::Local].into(),
            },
        ]
    );
    assert_eq!(out.action, jump("nat-prerouting-and-output"));

    let raw = &rules(t, "raw-PREROUTING")[0];
    assert_eq!(
        raw.text,
        r#"ip daddr 192.0.2.2 iifname != "bridge1" counter drop comment "DROP DIRECT ACCESS""#
    );
    assert_eq!(raw.action, Action::Drop);

    let fin = rules(t, "filter-forward-in__bridge1");
    assert_eq!(fin[0].text, "ct state established,related counter accept");
    assert_eq!(
        *fin[0].matches,
        vec![Match::CtState {
            negated: false,
            states: vec![CtState::Established, CtState::Related].into(),
        }]
    );
    assert_eq!(
        *fin[2].matches,
        vec![
            Match::Addr {
                dir: Dir::Dst,
                negated: false,
                nets: vec![net("192.0.2.2/32")].into(),
            },
            tcp(),
            port(Dir::Dst, false, &[(80, 80)]),
        ]
    );
    assert_eq!(
        fin[3].text,
        r#"counter drop comment "UNPUBLISHED PORT DROP""#
    );
    assert_eq!(*fin[3].matches, vec![comment("UNPUBLISHED PORT DROP")]);
    assert_eq!(fin[3].action, Action::Drop);

    let masq = &rules(t, "nat-postrouting-out__bridge1")[0];
    assert_eq!(
        masq.text,
        r#"oifname != "bridge1" ip saddr 192.0.2.0/24 counter masquerade comment "MASQUERADE""#
    );
    assert_eq!(masq.action, Action::Masquerade);
}

// ---------------------------------------------------------------------------------------------
// Docker-classic rules loaded with iptables-nft-restore.

#[test]
fn iptables_nft_tables_are_detected() {
    let tables = load("iptables-nft-docker-classic.json");
    let names: Vec<String> = tables.iter().map(Table::label).collect();
    assert_eq!(
        names,
        [
            "iptables-nft ip raw",
            "iptables-nft ip mangle",
            "iptables-nft ip nat",
            "iptables-nft ip filter",
            "iptables-nft ip6 filter",
        ]
    );
    let filter = table(&tables, Family::Ip, "filter");
    let fwd = filter.chain("FORWARD").unwrap().base.clone().unwrap();
    assert_eq!(
        (fwd.hook, fwd.priority, fwd.policy),
        (Hook::Forward, 0, Policy::Drop)
    );
    let mangle_out = table(&tables, Family::Ip, "mangle")
        .chain("OUTPUT")
        .unwrap();
    assert_eq!(
        mangle_out.base.as_ref().unwrap().chain_type,
        ChainType::Route
    );
}

#[test]
fn iptables_nft_xt_expressions() {
    let tables = load("iptables-nft-docker-classic.json");
    let filter = table(&tables, Family::Ip, "filter");
    let fwd = rules(filter, "FORWARD");
    assert_eq!(fwd[0].text, "counter jump DOCKER-USER");
    assert_eq!(fwd[0].action, jump("DOCKER-USER"));
    // -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT: the xt match has no options.
    assert_eq!(
        fwd[2].text,
        r#"oifname "docker0" xt match "conntrack" counter accept"#
    );
    assert_eq!(
        *fwd[2].matches,
        vec![
            iface(Dir::Dst, false, "docker0"),
            unknown(r#"xt match "conntrack""#)
        ]
    );
    // -o br+ ... -j LOG: the wildcard is "br*" in JSON; LOG does not end the rule.
    assert_eq!(fwd[6].matches[0], iface(Dir::Dst, false, "br+"));
    assert_eq!(
        fwd[6].action,
        Action::Continue {
            name: Some("LOG".into())
        }
    );

    let user = rules(filter, "DOCKER-USER");
    assert_eq!(
        user[0].text,
        r#"ip saddr 10.0.0.0/8 xt match "comment" counter xt target "REJECT""#
    );
    assert_eq!(user[0].action, Action::Reject);

    let nat = table(&tables, Family::Ip, "nat");
    let pre = &rules(nat, "PREROUTING")[0];
    assert_eq!(*pre.matches, vec![unknown(r#"xt match "addrtype""#)]);
    assert_eq!(pre.action, jump("DOCKER"));
    let docker = rules(nat, "DOCKER");
    assert_eq!(
        *docker[1].matches,
        vec![
            iface(Dir::Src, true, "docker0"),
            tcp(),
            port(Dir::Dst, false, &[(8080, 8080)])
        ]
    );
    assert_eq!(
        docker[1].action,
        Action::Unknown {
            text: r#"xt target "DNAT""#.into()
        }
    );
    assert_eq!(
        docker[2].matches[2],
        port(Dir::Dst, false, &[(5353, 5360)]),
        "-p udp --dport 5353:5360 is a native range"
    );
    assert_eq!(rules(nat, "POSTROUTING")[0].action, Action::Masquerade);

    let mark = &rules(table(&tables, Family::Ip, "mangle"), "PREROUTING")[0];
    assert_eq!(
        mark.action,
        Action::Continue {
            name: Some("MARK".into())
        }
    );
}

#[test]
fn iptables_nft_native_bitwise_mark_match() {
    // iptables-nft 1.8.9 writes `-m mark ! --mark 0x4000/0x4000` as a native bitwise match.
    let tables = load("iptables-nft-kube.json");
    assert_eq!(tables.len(), 1);
    let nat = &tables[0];
    assert_eq!(nat.label(), "iptables-nft ip nat");
    let post = rules(nat, "KUBE-POSTROUTING");
    assert_eq!(post[0].text, "meta mark & 16384 != 16384 counter return");
    assert_eq!(
        *post[0].matches,
        vec![unknown("meta mark & 16384 != 16384")]
    );
    assert_eq!(post[0].action, Action::Return);
    assert_eq!(post[2].action, Action::Masquerade);
    let svc = rules(nat, "KUBE-SVC-0000000000000000");
    assert_eq!(
        svc[0].text,
        r#"xt match "comment" xt match "statistic" counter jump KUBE-SEP-0000000000000000"#
    );
}

#[test]
fn translated_tables_with_native_expressions_are_nft() {
    // iptables-restore-translate output loaded with nft: same names and base chains as
    // iptables-nft, but native expressions iptables-nft cannot read back.
    let tables = load("iptables-translated.json");
    let stack = |name: &str| table(&tables, Family::Ip, name).stack;
    assert_eq!(stack("filter"), Stack::Nft, "ct state, log, reject");
    assert_eq!(stack("nat"), Stack::Nft, "fib, masquerade, dnat");
    assert_eq!(stack("mangle"), Stack::Nft, "meta mark set");
    // Only payload/meta matches, counter and drop: iptables-nft reads it (`iptables-nft -t raw -S`).
    assert_eq!(stack("raw"), Stack::IptablesNft);

    let filter = table(&tables, Family::Ip, "filter");
    let user = rules(filter, "DOCKER-USER");
    assert_eq!(
        user[0].text,
        r#"ip saddr 10.0.0.0/8 counter reject with icmp port-unreachable comment "block corp""#
    );
    assert_eq!(user[0].action, Action::Reject);
    assert_eq!(
        *user[1].matches,
        vec![
            Match::CtState {
                negated: false,
                states: vec![CtState::Established, CtState::Related].into(),
            },
            tcp(),
            Match::CtOrigDstPort {
                negated: false,
                ranges: vec![(8080, 8080)].into(),
            },
        ]
    );
    assert_eq!(
        user[2].text,
        "ct original ip daddr 172.17.0.2 counter accept"
    );
    assert_eq!(
        *user[2].matches,
        vec![Match::CtOrigDst {
            negated: false,
            nets: vec![net("172.17.0.2/32")].into(),
        }]
    );
    let multi = &rules(filter, "DOCKER")[1];
    assert_eq!(
        multi.text,
        r#"tcp dport { 22, 80, 1000-2000 } counter accept comment "multi ports""#
    );
    assert_eq!(
        *multi.matches,
        vec![
            tcp(),
            port(Dir::Dst, false, &[(22, 22), (80, 80), (1000, 2000)]),
            comment("multi ports"),
        ]
    );
    let log = &rules(filter, "FORWARD")[6];
    assert_eq!(
        log.text,
        r#"oifname "br*" ct state new counter log prefix "fwd: ""#
    );
    assert_eq!(
        log.action,
        Action::Continue {
            name: Some("log".into())
        }
    );
    let nat = table(&tables, Family::Ip, "nat");
    assert_eq!(
        rules(nat, "DOCKER")[2].action,
        Action::Dnat {
            addr: Some("172.17.0.3".parse().unwrap()),
            port: None,
        }
    );
}

#[test]
fn mixed_ruleset() {
    let tables = load("mixed.json");
    let labels: Vec<String> = tables.iter().map(Table::label).collect();
    assert_eq!(
        labels,
        [
            "iptables-nft ip filter",
            "nft ip docker-bridges",
            "nft ip6 filter"
        ]
    );
    // A native table called `filter` with a lowercase base chain is native.
    let f6 = table(&tables, Family::Ip6, "filter");
    assert_eq!(
        f6.chain("forward").unwrap().base.as_ref().unwrap().hook,
        Hook::Forward
    );
    let user = &rules(table(&tables, Family::Ip, "filter"), "DOCKER-USER")[0];
    assert_eq!(user.action, Action::Drop);
    assert!(user.matches.contains(&unknown(r#"xt match "comment""#)));
}

// ---------------------------------------------------------------------------------------------
// Native ruleset with sets, maps, ranges, fib, reject, log, ...

#[test]
fn native_tables() {
    let tables = load("native.json");
    let labels: Vec<String> = tables.iter().map(Table::label).collect();
    assert_eq!(
        labels,
        [
            "nft inet filter",
            "nft ip nat",
            "nft ip6 filter6",
            "nft netdev ingress",
            "nft bridge br",
        ]
    );
    let nat = table(&tables, Family::Ip, "nat");
    let post = nat.chain("postrouting").unwrap().base.clone().unwrap();
    assert_eq!(post.priority, 110, "srcnat + 10");
    let f6 = table(&tables, Family::Ip6, "filter6");
    let input = f6.chain("input").unwrap().base.clone().unwrap();
    assert_eq!((input.priority, input.policy), (-5, Policy::Accept));
    let ing = table(&tables, Family::Netdev, "ingress");
    let ing = ing.chain("ing").unwrap().base.clone().unwrap();
    assert_eq!((ing.hook, ing.priority), (Hook::Ingress, -500));
}

#[test]
fn native_input_rules() {
    let tables = load("native.json");
    let t = table(&tables, Family::Inet, "filter");
    let input = t.chain("input").unwrap();
    assert_eq!(input.base.as_ref().unwrap().policy, Policy::Drop);
    let r = &input.rules;
    let texts: Vec<&str> = r.iter().map(|r| r.text.as_str()).collect();
    assert_eq!(
        texts,
        [
            "ct state established,related accept",
            "ct state invalid drop",
            r#"iifname "lo" accept"#,
            r#"iifname { "eth0", "eth1" } tcp dport { 22, 80, 443 } accept"#,
            "ip saddr @allowed_nets tcp dport @web_ports counter accept",
            "ip6 saddr @blocked6 drop",
            "ip saddr . tcp dport @pairs accept",
            "tcp dport vmap @port_vmap",
            "meta l4proto { tcp, udp } th dport 53 accept",
            "meta l4proto icmp accept",
            "icmpv6 type { echo-request, nd-neighbor-solicit } accept",
            "fib daddr type local tcp dport 8080-8090 accept",
            "fib daddr type != local drop",
            "meta mark 1 accept",
            "tcp flags syn limit rate 10/second accept",
            r#"udp sport != 1024-65535 counter name "cnt_ssh" drop"#,
            "ip saddr != { 10.0.0.0/8, 192.168.0.0/16 } tcp dport 3306 reject with tcp reset",
            r#"log prefix "input drop: " level info"#,
            "counter reject",
        ]
    );
    assert_eq!(
        *r[1].matches,
        vec![Match::CtState {
            negated: false,
            states: vec![CtState::Invalid].into(),
        }]
    );
    assert_eq!(
        *r[3].matches,
        vec![
            Match::Iface {
                dir: Dir::Src,
                negated: false,
                names: vec!["eth0".into(), "eth1".into()].into(),
            },
            tcp(),
            port(Dir::Dst, false, &[(22, 22), (80, 80), (443, 443)]),
        ]
    );
    // Named sets are expanded.
    assert_eq!(
        *r[4].matches,
        vec![
            Match::Addr {
                dir: Dir::Src,
                negated: false,
                nets: vec![
                    net("10.0.0.0/8"),
                    net("172.16.0.1/32"),
                    net("192.168.1.0/24")
                ]
                .into(),
            },
            tcp(),
            port(Dir::Dst, false, &[(80, 80), (443, 443), (8000, 8100)]),
        ]
    );
    assert_eq!(
        *r[5].matches,
        vec![Match::Addr {
            dir: Dir::Src,
            negated: false,
            nets: vec![net("2001:db8::1/128"), net("2001:db8::2/128")].into(),
        }]
    );
    // Concatenations are too exotic.
    assert_eq!(*r[6].matches, vec![unknown("ip saddr . tcp dport @pairs")]);
    assert_eq!(
        r[7].action,
        Action::VerdictMap {
            key: VmapKey::Other,
            entries: vec![
                ("22".to_string(), Action::Accept),
                ("23".to_string(), Action::Drop)
            ],
        }
    );
    // th dport implies no protocol; a protocol set does not fit Match::Proto.
    assert_eq!(
        *r[8].matches,
        vec![
            unknown("meta l4proto { tcp, udp }"),
            port(Dir::Dst, false, &[(53, 53)])
        ]
    );
    assert_eq!(
        *r[9].matches,
        vec![Match::Proto {
            negated: false,
            proto: "icmp".into(),
        }]
    );
    assert_eq!(r[11].matches[2], port(Dir::Dst, false, &[(8080, 8090)]));
    assert_eq!(
        *r[12].matches,
        vec![Match::AddrType {
            dir: Dir::Dst,
            negated: true,
            types: vec![AddrType::Local].into(),
        }]
    );
    assert_eq!(*r[13].matches, vec![unknown("meta mark 1")]);
    assert_eq!(
        *r[14].matches,
        vec![unknown("tcp flags syn"), unknown("limit rate 10/second")]
    );
    // Named counter: no packet counts in the rule.
    assert_eq!(r[15].counters, None);
    assert_eq!(
        *r[15].matches,
        vec![
            Match::Proto {
                negated: false,
                proto: "udp".into(),
            },
            port(Dir::Src, true, &[(1024, 65535)]),
        ]
    );
    assert_eq!(
        r[16].matches[0],
        Match::Addr {
            dir: Dir::Src,
            negated: true,
            nets: vec![net("10.0.0.0/8"), net("192.168.0.0/16")].into(),
        }
    );
    assert_eq!(r[16].action, Action::Reject);
    assert_eq!(
        r[17].action,
        Action::Continue {
            name: Some("log".into())
        }
    );
    assert_eq!(r[18].action, Action::Reject);
    assert_eq!(r[18].counters.as_deref().copied(), ZERO);
}

#[test]
fn native_forward_rules() {
    let tables = load("native.json");
    let t = table(&tables, Family::Inet, "filter");
    let r = rules(t, "forward");
    let texts: Vec<&str> = r.iter().map(|r| r.text.as_str()).collect();
    assert_eq!(
        texts,
        [
            "ct state established,related accept",
            "meta l4proto tcp ct original proto-dst 8080 accept",
            "ct original ip daddr 172.17.0.2 accept",
            "ct status dnat accept",
            r#"iifname "br-*" oifname "eth0" accept"#,
            r#"iifname vmap { "br0" : goto from_br0, "docker0" : jump from_docker }"#,
            r#"oifname vmap { "eth0" : accept, "eth1" : drop }"#,
            "ip daddr 10.0.0.1-10.0.0.9 drop",
            "tcp dport != { 80, 443 } tcp sport 53 drop",
            "ip protocol tcp accept",
            "jump user_rules",
            "meta mark set 2",
        ]
    );
    assert_eq!(
        *r[1].matches,
        vec![
            tcp(),
            Match::CtOrigDstPort {
                negated: false,
                ranges: vec![(8080, 8080)].into(),
            },
        ]
    );
    assert_eq!(
        *r[3].matches,
        vec![Match::CtState {
            negated: false,
            states: vec![CtState::Dnat].into(),
        }]
    );
    assert_eq!(r[4].matches[0], iface(Dir::Src, false, "br-+"));
    assert_eq!(
        r[5].action,
        Action::VerdictMap {
            key: VmapKey::Iifname,
            entries: vec![
                ("br0".to_string(), Action::goto("from_br0")),
                ("docker0".to_string(), jump("from_docker")),
            ],
        }
    );
    assert_eq!(
        r[6].action,
        Action::VerdictMap {
            key: VmapKey::Oifname,
            entries: vec![
                ("eth0".to_string(), Action::Accept),
                ("eth1".to_string(), Action::Drop)
            ],
        }
    );
    // An address range becomes the covering prefixes.
    assert_eq!(
        *r[7].matches,
        vec![Match::Addr {
            dir: Dir::Dst,
            negated: false,
            nets: ["10.0.0.1/32", "10.0.0.2/31", "10.0.0.4/30", "10.0.0.8/31"]
                .into_iter()
                .map(net)
                .collect(),
        }]
    );
    // `tcp dport != ...` still implies tcp; the implied Proto is not repeated.
    assert_eq!(
        *r[8].matches,
        vec![
            tcp(),
            port(Dir::Dst, true, &[(80, 80), (443, 443)]),
            port(Dir::Src, false, &[(53, 53)]),
        ]
    );
    assert_eq!(*r[9].matches, vec![tcp()]);
    assert_eq!(r[10].action, jump("user_rules"));
    assert_eq!(
        r[11].action,
        Action::Continue {
            name: Some("meta mark set 2".into())
        }
    );

    let from_br0 = rules(t, "from_br0");
    assert_eq!(
        from_br0[0].counters.as_deref().copied(),
        Some(Counters {
            packets: 5,
            bytes: 300
        })
    );
    assert_eq!(from_br0[1].action, Action::Return);
    assert_eq!(rules(t, "from_docker")[1].action, Action::goto("from_br0"));
    let user = rules(t, "user_rules");
    assert_eq!(user[1].text, r#"counter comment "just counting""#);
    assert_eq!(*user[1].matches, vec![comment("just counting")]);
    assert_eq!(
        user[1].action,
        Action::Continue {
            name: Some("counter".into())
        }
    );
}

#[test]
fn native_nat_rules() {
    let tables = load("native.json");
    let r = rules(table(&tables, Family::Ip, "nat"), "prerouting");
    assert_eq!(
        r[0].text,
        "fib daddr type local tcp dport 8080 dnat to 172.17.0.2:80"
    );
    assert_eq!(
        r[2].action,
        Action::Dnat {
            addr: Some("172.17.0.4".parse().unwrap()),
            port: Some((5000, 5010)),
        }
    );
    assert_eq!(r[2].text, "tcp dport 5000 dnat to 172.17.0.4:5000-5010");
    assert_eq!(r[3].text, "tcp dport 3000 redirect to :3001");
    assert_eq!(
        r[3].action,
        Action::Redirect {
            port: Some((3001, 3001))
        }
    );
    // A DNAT through a map: the destination is not a plain address.
    assert_eq!(r[4].text, "dnat to tcp dport map { 81 : 172.17.0.5 }");
    assert!(matches!(r[4].action, Action::Unknown { .. }));
    let post = rules(table(&tables, Family::Ip, "nat"), "postrouting");
    assert_eq!(post[1].text, "ip saddr 10.9.0.0/16 snat to 192.0.2.1");
    assert_eq!(post[1].action, Action::Snat);
    let br = &rules(table(&tables, Family::Bridge, "br"), "brforward")[0];
    assert_eq!(*br.matches, vec![unknown("ether type ip")]);
}

// ---------------------------------------------------------------------------------------------
// Hand-made shapes: priorities as strings, missing policy, odd objects.

fn doc(items: &str) -> String {
    format!(
        r#"{{"nftables": [{{"metainfo": {{"version": "1.0.6", "json_schema_version": 1}}}}, {items}]}}"#
    )
}

#[test]
fn priority_keywords_and_defaults() {
    let text = doc(r#"{"table": {"family": "inet", "name": "t", "handle": 1}},
        {"flowtable": {"family": "inet", "name": "ft", "table": "t", "hook": "ingress", "prio": 0}},
        {"element": {"family": "inet", "table": "t", "name": "s", "elem": [1]}},
        {"chain": {"family": "inet", "table": "t", "name": "a", "type": "filter", "hook": "forward", "prio": "filter"}},
        {"chain": {"family": "inet", "table": "t", "name": "b", "type": "nat", "hook": "prerouting", "prio": "dstnat - 5", "policy": "accept"}},
        {"chain": {"family": "inet", "table": "t", "name": "c", "type": "filter", "hook": "input", "prio": "-7", "policy": "drop"}},
        {"rule": {"family": "inet", "table": "t", "chain": "a", "expr": [{"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": "we\"ird*"}}, {"queue": {"num": 3}}]}},
        {"rule": {"family": "inet", "table": "t", "chain": "a", "expr": [{"match": {"op": "<", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 1024}}, {"xt": {"type": "target", "name": "TPROXY"}}]}},
        {"rule": {"family": "inet", "table": "t", "chain": "a"}}"#);
    let tables = parse(&text, "hand.json").unwrap();
    assert_eq!(tables.len(), 1);
    let t = &tables[0];
    assert_eq!(t.stack, Stack::Nft);
    let base = |n: &str| t.chain(n).unwrap().base.clone().unwrap();
    assert_eq!((base("a").priority, base("a").policy), (0, Policy::Accept));
    assert_eq!(base("b").priority, -105);
    assert_eq!((base("c").priority, base("c").policy), (-7, Policy::Drop));
    let r = rules(t, "a");
    assert_eq!(r[0].text, r#"iifname "we\"ird*" queue num 3"#);
    assert_eq!(*r[0].matches, vec![iface(Dir::Src, false, "we\"ird+")]);
    assert_eq!(
        r[0].action,
        Action::Unknown {
            text: "queue num 3".into()
        }
    );
    assert_eq!(
        *r[1].matches,
        vec![tcp(), port(Dir::Dst, false, &[(0, 1023)])]
    );
    assert_eq!(
        r[1].action,
        Action::Unknown {
            text: r#"xt target "TPROXY""#.into()
        }
    );
    assert_eq!(r[2].text, "");
    assert_eq!(r[2].action, Action::Continue { name: None });
}

#[test]
fn order_of_objects_does_not_matter() {
    // Rules before their chain, a map after the rule that uses it.
    let text = doc(r#"{"table": {"family": "ip", "name": "t"}},
        {"rule": {"family": "ip", "table": "t", "chain": "c", "expr": [{"vmap": {"key": {"meta": {"key": "oifname"}}, "data": "@m"}}]}},
        {"chain": {"family": "ip", "table": "t", "name": "c", "type": "filter", "hook": "forward", "prio": 0, "policy": "drop"}},
        {"chain": {"family": "ip", "table": "t", "name": "x"}},
        {"map": {"family": "ip", "name": "m", "table": "t", "type": "ifname", "map": "verdict", "elem": [["eth*", {"jump": {"target": "x"}}], [{"elem": {"val": "lo", "comment": "loopback"}}, {"accept": null}]]}},
        {"chain": {"family": "ip", "table": "late", "name": "first"}},
        {"rule": {"family": "ip", "table": "late", "chain": "second", "expr": [{"drop": null}]}},
        {"chain": {"family": "ip", "table": "late", "name": "second"}},
        {"table": {"family": "ip", "name": "late"}}"#);
    let tables = parse(&text, "order.json").unwrap();
    let late = table(&tables, Family::Ip, "late");
    let names: Vec<&str> = late.chains.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["first", "second"]);
    assert_eq!(rules(late, "second")[0].action, Action::Drop);
    let r = &rules(&tables[0], "c")[0];
    assert_eq!(
        r.action,
        Action::VerdictMap {
            key: VmapKey::Oifname,
            entries: vec![
                ("eth+".to_string(), jump("x")),
                ("lo".to_string(), Action::Accept)
            ],
        }
    );
}

#[test]
fn iptables_nft_needs_builtin_shape() {
    let chain = |table: &str, name: &str, hook: &str, prio: i32| {
        format!(
            r#"{{"chain": {{"family": "ip", "table": "{table}", "name": "{name}", "type": "filter", "hook": "{hook}", "prio": {prio}, "policy": "accept"}}}}"#
        )
    };
    let stack = |items: String| parse(&doc(&items), "s.json").unwrap()[0].stack;
    let table = |name: &str| format!(r#"{{"table": {{"family": "ip", "name": "{name}"}}}}"#);
    // Builtin shape, no rules.
    assert_eq!(
        stack(format!(
            "{}, {}",
            table("filter"),
            chain("filter", "FORWARD", "forward", 0)
        )),
        Stack::IptablesNft
    );
    // Lowercase base chain name.
    assert_eq!(
        stack(format!(
            "{}, {}",
            table("filter"),
            chain("filter", "forward", "forward", 0)
        )),
        Stack::Nft
    );
    // Non-standard priority.
    assert_eq!(
        stack(format!(
            "{}, {}",
            table("filter"),
            chain("filter", "FORWARD", "forward", -1)
        )),
        Stack::Nft
    );
    // Not an iptables table name.
    assert_eq!(
        stack(format!(
            "{}, {}",
            table("fw"),
            chain("fw", "FORWARD", "forward", 0)
        )),
        Stack::Nft
    );
    // No chains at all.
    assert_eq!(stack(table("filter")), Stack::Nft);
    // A named set makes it native.
    assert_eq!(
        stack(format!(
            r#"{}, {}, {{"set": {{"family": "ip", "name": "s", "table": "filter", "type": "ipv4_addr"}}}}"#,
            table("filter"),
            chain("filter", "FORWARD", "forward", 0)
        )),
        Stack::Nft
    );
    // inet is never iptables-nft.
    let inet = doc(
        r#"{"table": {"family": "inet", "name": "filter"}}, {"chain": {"family": "inet", "table": "filter", "name": "FORWARD", "type": "filter", "hook": "forward", "prio": 0}}"#,
    );
    assert_eq!(parse(&inet, "s.json").unwrap()[0].stack, Stack::Nft);
}

#[test]
fn unknown_set_reference_is_unknown_match() {
    let text = doc(r#"{"table": {"family": "ip", "name": "t"}},
        {"chain": {"family": "ip", "table": "t", "name": "c"}},
        {"rule": {"family": "ip", "table": "t", "chain": "c", "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}}, "right": "@nope"}}, {"vmap": {"key": {"meta": {"key": "iifname"}}, "data": "@gone"}}]}}"#);
    let tables = parse(&text, "u.json").unwrap();
    let r = &rules(&tables[0], "c")[0];
    assert_eq!(*r.matches, vec![unknown("ip saddr @nope")]);
    assert_eq!(
        r.action,
        Action::Unknown {
            text: "iifname vmap @gone".into()
        }
    );
}

// ---------------------------------------------------------------------------------------------
// Errors.

#[test]
fn invalid_json_names_the_line() {
    let e = parse("{\"nftables\": [\n{\"table\": \n", "bad.json").unwrap_err();
    assert_eq!(e.file, "bad.json");
    assert_eq!(e.line, 3);
    assert!(e.message.starts_with("invalid JSON"), "{}", e.message);
    let e = parse("", "empty.json").unwrap_err();
    assert!(e.message.contains("invalid JSON"), "{}", e.message);
    let e = parse("Error: Could not process rule", "x.json").unwrap_err();
    assert_eq!(e.line, 1);
}

#[test]
fn wrong_shapes_are_errors() {
    let cases = [
        (
            r#"{"tables": []}"#,
            "not `nft -j` output: no \"nftables\" array",
        ),
        (r#"[1, 2]"#, "not `nft -j` output: invalid type: sequence"),
        (
            r#"{"nftables": {}}"#,
            "not `nft -j` output: invalid type: map",
        ),
        (r#"{"nftables": [{}]}"#, "expected an object with one key"),
        (
            r#"{"nftables": [{"table": {"family": "ip", "name": "t"}, "chain": {}}]}"#,
            "expected an object with one key",
        ),
        (r#"{"nftables": [42]}"#, "expected an object with one key"),
        (
            r#"{"nftables": [{"chain": {"family": "ip", "table": "t", "name": "c"}}]}"#,
            "refers to table ip t, which is not declared",
        ),
        (
            r#"{"nftables": [{"table": {"family": "ip", "name": "t"}}, {"rule": {"family": "ip", "table": "t", "chain": "c", "expr": []}}]}"#,
            "refers to chain c in table t, which is not declared",
        ),
        (
            r#"{"nftables": [{"table": {"family": "ipx", "name": "t"}}]}"#,
            "unknown family \"ipx\"",
        ),
        (
            r#"{"nftables": [{"table": {"family": "ip", "name": "t"}}, {"chain": {"family": "ip", "table": "t", "name": "c", "hook": "sideways", "prio": 0}}]}"#,
            "unknown hook \"sideways\"",
        ),
        (
            r#"{"nftables": [{"table": {"family": "ip", "name": "t"}}, {"chain": {"family": "ip", "table": "t", "name": "c", "type": "filter", "hook": "input", "prio": "soon"}}]}"#,
            "bad priority",
        ),
        (
            r#"{"nftables": [{"table": {"family": "ip", "name": "t"}}, {"chain": {"family": "ip", "table": "t", "name": "c", "type": "mangle", "hook": "input", "prio": 0}}]}"#,
            "unknown chain type",
        ),
        (
            r#"{"nftables": [{"table": {"family": "ip", "name": "t"}}, {"chain": {"family": "ip", "table": "t", "name": "c"}}, {"rule": {"family": "ip", "table": "t", "chain": "c", "expr": 5}}]}"#,
            "\"expr\" is not a list",
        ),
        (
            r#"{"nftables": [{"table": {"family": "ip"}}]}"#,
            "no \"name\"",
        ),
    ];
    for (text, want) in cases {
        let e = parse(text, "shape.json").unwrap_err();
        assert_eq!(e.file, "shape.json");
        assert!(e.message.contains(want), "{text}: {}", e.message);
    }
}

#[test]
fn garbage_never_panics() {
    // Statements of every odd shape: they must end up as unknowns, not panics.
    let odd = [
        "null",
        "1",
        r#""x""#,
        "[]",
        "{}",
        r#"{"a": 1, "b": 2}"#,
        r#"{"match": null}"#,
        r#"{"match": {"left": 1, "right": 2}}"#,
        r#"{"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 70000}}"#,
        r#"{"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}}, "right": {"prefix": {"addr": "1.2.3.4", "len": 99}}}}"#,
        r#"{"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}}, "right": {"range": ["1.2.3.4", "::1"]}}}"#,
        r#"{"match": {"op": "&", "left": {"ct": {"key": "mark"}}, "right": 1}}"#,
        r#"{"match": {"op": ">", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 65535}}"#,
        r#"{"match": {"op": "==", "left": {"fib": {"result": "type", "flags": ["daddr", "iif"]}}, "right": "local"}}"#,
        r#"{"vmap": {"key": 1, "data": [[1]]}}"#,
        r#"{"vmap": {"key": {"meta": {"key": "iifname"}}, "data": {"set": [["a", {"queue": null}]]}}}"#,
        r#"{"dnat": {"addr": "not-an-ip", "port": "x"}}"#,
        r#"{"jump": {}}"#,
        r#"{"counter": {"packets": -1}}"#,
        r#"{"limit": {"rate": 1, "per": "minute", "inv": true, "burst": 9}}"#,
        r#"{"reject": {"type": "icmp"}}"#,
        r#"{"log": {"group": 2}}"#,
        r#"{"match": {"op": "==", "left": {"&": [{"meta": {"key": "mark"}}, 1]}, "right": 1}}"#,
        r#"{"match": {"op": "==", "left": {"&": 1}, "right": {"|": []}}}"#,
        r#"{"match": {"op": "==", "left": {"weird": {"x": 1}}, "right": {"odd": [1, {"y": null}]}}}"#,
        r#"{"mangle": {"key": {"meta": {"key": "mark"}}, "value": {"|": [{"meta": {"key": "mark"}}, 16384]}}}"#,
        r#"{"mangle": {"key": {"whatever": {}}, "value": {"set": {"nested": {"deeper": 1}}}}}"#,
    ];
    for stmt in odd {
        let text = doc(&format!(
            r#"{{"table": {{"family": "ip", "name": "t"}}}},
            {{"chain": {{"family": "ip", "table": "t", "name": "c"}}}},
            {{"rule": {{"family": "ip", "table": "t", "chain": "c", "expr": [{stmt}, {{"accept": null}}]}}}}"#
        ));
        let tables = parse(&text, "odd.json").unwrap_or_else(|e| panic!("{stmt}: {e}"));
        let r = &rules(&tables[0], "c")[0];
        assert!(!r.text.is_empty(), "{stmt}");
    }
}
