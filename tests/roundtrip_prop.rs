//! Property: for generated iptables-save text, parse -> print -> parse gives the same tables
//! (chains, policies, counters, every rule's matches and action), and printing is stable.
//! Comments and log prefixes are arbitrary strings, quoted as `xtables_save_string` does.

use fwdoctor::model::{Family, Stack, Table};
use fwdoctor::parse::iptables_save::{parse, print};
use fwdoctor::parse::tokenizer::{quote, split};
use proptest::prelude::*;

fn addr() -> impl Strategy<Value = String> {
    (any::<[u8; 4]>(), 0u8..=32)
        .prop_map(|(a, len)| format!("{}.{}.{}.{}/{len}", a[0], a[1], a[2], a[3]))
}

fn iface() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("docker0".to_string()),
        Just("eth0".to_string()),
        Just("br-+".to_string()),
        Just("+".to_string()),
        "[a-z][a-z0-9]{0,6}",
    ]
}

/// Any text without NUL and newline (a save line cannot hold them).
fn free_text() -> impl Strategy<Value = String> {
    "[^\u{0}\n\r]{0,24}"
}

fn option() -> impl Strategy<Value = String> {
    let neg = || prop_oneof![Just(""), Just("! ")];
    prop_oneof![
        (neg(), addr()).prop_map(|(n, a)| format!("{n}-s {a}")),
        (neg(), addr()).prop_map(|(n, a)| format!("{n}-d {a}")),
        (neg(), iface()).prop_map(|(n, i)| format!("{n}-i {i}")),
        (neg(), iface()).prop_map(|(n, i)| format!("{n}-o {i}")),
        free_text().prop_map(|t| format!("-m comment --comment {}", quote(&t))),
        (neg(), any::<u16>(), any::<u16>()).prop_map(|(n, a, b)| {
            let (lo, hi) = (a.min(b), a.max(b));
            format!("-p tcp -m tcp {n}--dport {lo}:{hi}")
        }),
        (
            neg(),
            prop::sample::subsequence(
                vec!["NEW", "ESTABLISHED", "RELATED", "INVALID", "DNAT"],
                1..4
            )
        )
            .prop_map(|(n, s)| format!("-m conntrack {n}--ctstate {}", s.join(","))),
        any::<u32>().prop_map(|m| format!("-m mark --mark 0x{m:x}/0x{m:x}")),
        Just("-m addrtype --dst-type LOCAL".to_string()),
        Just("-m statistic --mode random --probability 0.50000000000".to_string()),
        Just("-m set --match-set allowed src".to_string()),
    ]
}

fn target(chains: usize) -> impl Strategy<Value = String> {
    prop_oneof![
        Just("-j ACCEPT".to_string()),
        Just("-j DROP".to_string()),
        Just("-j RETURN".to_string()),
        Just("-j REJECT --reject-with icmp-port-unreachable".to_string()),
        Just(String::new()),
        (0..chains.max(1)).prop_map(|c| format!("-j USER{c}")),
        (0..chains.max(1)).prop_map(|c| format!("-g USER{c}")),
        free_text().prop_map(|t| format!("-j LOG --log-prefix {}", quote(&t))),
        (any::<[u8; 4]>(), any::<u16>()).prop_map(|(a, p)| format!(
            "-j DNAT --to-destination {}.{}.{}.{}:{p}",
            a[0], a[1], a[2], a[3]
        )),
        Just("-j MASQUERADE --random-fully".to_string()),
        Just("-j NFQUEUE --queue-num 3".to_string()),
        Just("-j MARK --set-xmark 0x4000/0x4000".to_string()),
    ]
}

/// A filter table: built-in chains, `chains` user chains, rules over all of them.
fn save_text() -> impl Strategy<Value = String> {
    (0usize..4).prop_flat_map(|chains| {
        let rule = (
            0..3 + chains,
            prop::collection::vec(option(), 0..5),
            target(chains),
            prop::option::of((any::<u32>(), any::<u32>())),
        );
        (
            prop::collection::vec(prop_oneof![Just("ACCEPT"), Just("DROP")], 3),
            prop::collection::vec(rule, 0..24),
        )
            .prop_map(move |(policies, rules)| {
                let mut names: Vec<String> = ["INPUT", "FORWARD", "OUTPUT"]
                    .iter()
                    .map(|s| s.to_string())
                    .collect();
                names.extend((0..chains).map(|c| format!("USER{c}")));
                let mut out = String::from("*filter\n");
                for (i, n) in names.iter().enumerate() {
                    let policy = policies.get(i).copied().unwrap_or("-");
                    out.push_str(&format!(":{n} {policy} [0:0]\n"));
                }
                for (chain, opts, target, counters) in rules {
                    if let Some((p, b)) = counters {
                        out.push_str(&format!("[{p}:{b}] "));
                    }
                    out.push_str(&format!("-A {}", names[chain % names.len()]));
                    for o in opts.iter().chain(std::iter::once(&target)) {
                        if !o.is_empty() {
                            out.push(' ');
                            out.push_str(o);
                        }
                    }
                    out.push('\n');
                }
                out.push_str("COMMIT\n");
                out
            })
    })
}

fn same(a: &[Table], b: &[Table]) -> Result<(), TestCaseError> {
    prop_assert_eq!(a.len(), b.len());
    for (ta, tb) in a.iter().zip(b) {
        prop_assert_eq!(&ta.name, &tb.name);
        prop_assert_eq!(ta.chains.len(), tb.chains.len());
        for (ca, cb) in ta.chains.iter().zip(&tb.chains) {
            prop_assert_eq!(&ca.name, &cb.name);
            prop_assert_eq!(&ca.base, &cb.base);
            prop_assert_eq!(ca.rules.len(), cb.rules.len());
            for (ra, rb) in ca.rules.iter().zip(&cb.rules) {
                prop_assert_eq!(&ra.text, &rb.text);
                prop_assert_eq!(&ra.matches, &rb.matches);
                prop_assert_eq!(&ra.action, &rb.action);
                prop_assert_eq!(&ra.counters, &rb.counters);
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn parse_print_parse_is_stable(text in save_text()) {
        for (stack, family) in [(Stack::Legacy, Family::Ip), (Stack::IptablesNft, Family::Ip)] {
            let first = parse(&text, "gen.save", stack, family)
                .map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
            let printed = print(&first);
            let second = parse(&printed, "printed.save", stack, family)
                .map_err(|e| TestCaseError::fail(format!("{e}\n{printed}")))?;
            same(&first, &second)?;
            prop_assert_eq!(print(&second), printed);
        }
    }

    #[test]
    fn quoted_words_split_back(s in "[^\u{0}]{0,64}") {
        prop_assert_eq!(split(&quote(&s)).map_err(TestCaseError::fail)?, vec![s]);
    }

    /// Whatever the line, the parser answers (an error or tables), never panics.
    #[test]
    fn arbitrary_lines_never_panic(lines in prop::collection::vec("[ -~\t\"\\\\!]{0,80}", 0..12)) {
        let text = format!("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n{}\nCOMMIT\n", lines.join("\n"));
        let _ = parse(&text, "x.save", Stack::Legacy, Family::Ip);
        let _ = parse(&lines.join("\n"), "x.S", Stack::Legacy, Family::Ip);
    }
}
