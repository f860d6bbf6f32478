//! MIME parsing as the read tools use it: any bytes as a raw message (`BODY[]`), read
//! with any window and options, and parsed as the original of a reply or forward, give
//! a result or an error, never a panic; a window never holds more than it allows.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mail_mcp::mail::compose::Original;
use mail_mcp::mail::message::{ReadOptions, read_message};

fuzz_target!(|data: &[u8]| {
    let Some((options, raw)) = data.split_first_chunk::<3>() else {
        return;
    };
    let offset = usize::from(options[0]) * 16;
    let max_chars = usize::from(options[1]) + 1;
    let Ok(read) = ReadOptions::new(offset, max_chars, options[2] & 1 == 1) else {
        return;
    };
    let read = read.including_quoted(options[2] & 2 == 2);
    if let Ok(content) = read_message(raw, &read) {
        assert!(content.body.text.chars().count() <= max_chars);
        if let Some(html) = &content.html {
            assert!(html.text.chars().count() <= max_chars);
        }
    }
    if let Ok(original) = Original::parse(raw) {
        let _ = original.author();
    }
});
