//! The IMAP response guard: arbitrary server bytes never panic the scanner; the verdict
//! does not depend on how the stream is cut into reads; where no quote or brace can
//! change the reading (and all is ASCII), the scanner refuses exactly what exceeds the line or depth limit;
//! and what it lets through (under the production limits) never panics imap-proto.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mail_mcp::fuzzing::{default_imap_limits, scan_imap_stream};

/// Small limits, so that the fuzzer reaches them.
const DEPTH: u32 = 6;
const LINE: usize = 64;
const LITERAL: u64 = 40;

fuzz_target!(|data: &[u8]| {
    let Some((&cut, bytes)) = data.split_first() else {
        return;
    };
    let whole = scan_imap_stream(&[bytes], DEPTH, LINE, LITERAL);
    let split = usize::from(cut) % (bytes.len() + 1);
    let (a, b) = bytes.split_at(split);
    assert_eq!(whole, scan_imap_stream(&[a, b], DEPTH, LINE, LITERAL));
    let bytewise: Vec<&[u8]> = bytes.chunks(1).collect();
    assert_eq!(whole, scan_imap_stream(&bytewise, DEPTH, LINE, LITERAL));
    if bytes.is_ascii() && !bytes.iter().any(|b| matches!(b, b'"' | b'{')) {
        assert_eq!(whole.is_ok(), within_plain_limits(bytes), "{whole:?}");
    }
    let (depth, line, literal) = default_imap_limits();
    if scan_imap_stream(&[bytes], depth, line, literal).is_ok() {
        parse_all(bytes);
    }
});

/// Without quotes or literals: every line (with its LF) fits the line limit and no
/// parenthesis nests deeper than the depth limit (a `)` too many counts as none).
fn within_plain_limits(bytes: &[u8]) -> bool {
    bytes.split_inclusive(|&b| b == b'\n').all(|line| {
        let mut depth = 0u32;
        let mut deepest = 0u32;
        for &b in line {
            match b {
                b'(' => depth += 1,
                b')' => depth = depth.saturating_sub(1),
                _ => {}
            }
            deepest = deepest.max(depth);
        }
        line.len() <= LINE && deepest <= DEPTH
    })
}

/// Parses responses one after another as async-imap does, until the bytes run out or
/// stop parsing.
fn parse_all(mut bytes: &[u8]) {
    while !bytes.is_empty() {
        match imap_proto::Response::parse(bytes) {
            Ok((rest, _)) if rest.len() < bytes.len() => bytes = rest,
            _ => return,
        }
    }
}
