//! A whole synthetic capture: the input is split at NUL bytes into capture files (both
//! stacks, nft JSON, Docker, sysctl, addresses, ufw, snap), then build + analyze + every
//! report format. Never panics.
#![no_main]
use fwdoctor::collect::Evidence;
use fwdoctor::collect::evidence::files;
use fwdoctor::model::Model;
use fwdoctor::report::{self, ReportInput};
use libfuzzer_sys::fuzz_target;

const ORDER: &[&str] = &[
    files::IPTABLES_LEGACY,
    files::IPTABLES_NFT,
    files::DOCKER_CONTAINERS,
    files::DOCKER_NETWORKS,
    files::DOCKER_INFO,
    files::SYSCTL,
    files::IP_ADDR,
    files::NFT_RULESET,
    files::IPTABLES_ALTERNATIVE,
    files::LEGACY_TABLES,
    files::UFW_STATUS,
    files::SNAP_SERVICES,
    files::DOCKER_DAEMON,
    files::DOCKERD_CMDLINE,
    files::IP6TABLES_LEGACY,
    files::IP6TABLES_NFT,
];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut ev = Evidence::default();
    for (name, part) in ORDER.iter().zip(text.split('\0')) {
        if !part.is_empty() {
            ev.insert(name, part);
        }
    }
    let Ok(model) = Model::build(&ev) else {
        return;
    };
    let analysis = fwdoctor::analyze::analyze(&model, &[], &[]);
    let input = ReportInput {
        model: &model,
        analysis: &analysis,
    };
    let _ = report::json::render(&input);
    let _ = report::nagios::render(&input);
    let _ = report::prometheus::render(&input, 0.0);
    let _ = report::human::render(
        &input,
        report::Verbosity::Verbose,
        &report::human::Style { color: false },
    );
    let net = fwdoctor::analyze::trace::Net::new(&model);
    for port in [22u16, 80, 8080] {
        let _ = net.trace(&fwdoctor::analyze::trace::Flow::from_outside(
            fwdoctor::model::Family::Ip,
            "tcp",
            port,
        ));
    }
});
