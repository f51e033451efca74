//! iptables-save / `iptables -S` text: parse never panics; what parses prints and parses back
//! to the same tables.
#![no_main]
use fwdoctor::model::{Family, Stack};
use fwdoctor::parse::iptables_save::{parse, print};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for (stack, family) in [(Stack::Legacy, Family::Ip), (Stack::IptablesNft, Family::Ip6)] {
        let Ok(tables) = parse(text, "fuzz.save", stack, family) else {
            continue;
        };
        let printed = print(&tables);
        let again = parse(&printed, "printed.save", stack, family)
            .unwrap_or_else(|e| panic!("printed text does not parse: {e}\n{printed}"));
        assert_eq!(tables.len(), again.len(), "{printed}");
        // And printing is stable: print(parse(print(x))) == print(x).
        assert_eq!(print(&again), printed);
        for (a, b) in tables.iter().zip(&again) {
            assert_eq!(a.name, b.name);
            assert_eq!(a.chains.len(), b.chains.len(), "{printed}");
            for (ca, cb) in a.chains.iter().zip(&b.chains) {
                assert_eq!(ca.name, cb.name);
                // `print` writes `[0:0]` for a chain without counters (an `-S` listing).
                let strip = |b: &Option<fwdoctor::model::BaseChain>| {
                    b.clone().map(|mut b| {
                        b.counters = b.counters.filter(|c| c.packets != 0 || c.bytes != 0);
                        b
                    })
                };
                assert_eq!(strip(&ca.base), strip(&cb.base));
                assert_eq!(ca.rules.len(), cb.rules.len());
                for (ra, rb) in ca.rules.iter().zip(&cb.rules) {
                    assert_eq!(ra.matches, rb.matches, "{printed}");
                    assert_eq!(ra.action, rb.action, "{printed}");
                    assert_eq!(ra.counters, rb.counters, "{printed}");
                }
            }
        }
    }
});
