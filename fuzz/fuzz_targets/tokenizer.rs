//! The iptables-restore word splitter and its writer twin: split never panics, spans point at
//! the words, and split(quote(s)) == [s].
#![no_main]
use fwdoctor::parse::tokenizer::{quote, split, split_words};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(words) = split_words(text) {
        for w in &words {
            let _ = &text[w.span.clone()];
            if !w.quoted {
                assert_eq!(&text[w.span.clone()], w.text);
            }
        }
    }
    if !text.contains('\0') {
        assert_eq!(split(&quote(text)).expect("quoted text splits"), [text]);
    }
});
