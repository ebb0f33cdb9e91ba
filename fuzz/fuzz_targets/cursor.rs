//! The changefeed cursor (`export --since`): never a panic; an accepted cursor is non-negative and
//! what `cursor_text` writes for it parses back to it.
#![no_main]

use jingtu::export::changefeed::{cursor_text, parse_cursor};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(seq) = parse_cursor(text) {
        assert!(seq >= 0);
        assert_eq!(parse_cursor(&cursor_text(seq)).unwrap(), seq);
    }
});
