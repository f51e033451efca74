//! `check --from FILE` on bug-report text: the paste reader (prompts, fences, `<details>`,
//! `iptables -L`, docker/ip/sysctl text) and the `iptables -L` parser, read, modelled and
//! analyzed, never panic; `capture --paste` of what was read reads back to the same files.
#![no_main]
use fwdoctor::collect::paste;
use fwdoctor::model::Model;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = fwdoctor::parse::iptables_list::parse(
        text,
        "list.txt",
        fwdoctor::model::Stack::Legacy,
        fwdoctor::model::Family::Ip,
    );
    let Ok(ev) = paste::read(text, "paste.txt") else {
        return;
    };
    let back = paste::read(&paste::to_markdown(&ev), "comment.md").expect("own paste reads back");
    assert_eq!(
        back.files.keys().collect::<Vec<_>>(),
        ev.files.keys().collect::<Vec<_>>()
    );
    if let Ok(model) = Model::build(&ev) {
        let a = fwdoctor::analyze::analyze(&model, &[], &[]);
        let _ = serde_json::to_string(&a);
    }
});
