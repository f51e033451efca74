//! `check --from FILE`: one pasted file, read, modelled and analyzed, never panics.
#![no_main]
use fwdoctor::collect::capture::read_single_text;
use fwdoctor::model::Model;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(ev) = read_single_text("paste.txt", text) else {
        return;
    };
    if let Ok(model) = Model::build(&ev) {
        let a = fwdoctor::analyze::analyze(&model, &[], &[]);
        let _ = serde_json::to_string(&a);
    }
});
