//! Docker's Engine API answers and daemon.json: never panic. The input is split at NUL bytes
//! into /info, /version, /containers/json, /networks and daemon.json.
#![no_main]
use fwdoctor::parse::docker::{DockerInputs, parse, parse_daemon_json};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut parts = text.split('\0');
    let mut next = || parts.next();
    let inputs = DockerInputs {
        info: next(),
        version: next(),
        containers: next(),
        networks: next(),
        daemon_json: next(),
    };
    let _ = parse(&inputs);
    let _ = parse_daemon_json(text);
});
