//! The small text sources: snap services/list/changes, sysctl, ufw status, `ip -j addr`.
#![no_main]
use fwdoctor::parse::{ip_addr, snap, sysctl, ufw};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = snap::parse(Some(text), Some(text), Some(text));
    let _ = sysctl::parse(text, "sysctl.txt");
    let _ = ufw::parse(text);
    let _ = ip_addr::parse(text, "ip-addr.json");
});
