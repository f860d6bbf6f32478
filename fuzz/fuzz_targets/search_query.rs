//! The raw search-query parser: any text is refused with a message or parsed; what it
//! parses is rendered with no CR, LF or NUL outside a `{n+}` literal header, and the
//! rendering (without its `CHARSET UTF-8` prefix), when within the length limit, parses
//! back to the same keys.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mail_mcp::mail::search::{SearchProgram, parse_query};

const CHARSET_PREFIX: &str = "CHARSET UTF-8 ";

/// The longest raw query parse_query takes (its MAX_QUERY_CHARS).
const MAX_QUERY_CHARS: usize = 4000;

fuzz_target!(|data: &[u8]| {
    let Ok(query) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(keys) = parse_query(query) else {
        return;
    };
    let program = SearchProgram::new(keys.clone());
    let quoted = program.to_imap(false);
    assert!(
        !quoted.contains(['\r', '\n', '\0']),
        "a line break or NUL in {quoted:?}"
    );
    let with_literals = program.to_imap(true);
    assert!(
        with_literals
            .match_indices('\n')
            .all(|(i, _)| with_literals[..i].ends_with("+}\r")),
        "a line break outside a literal header in {with_literals:?}"
    );
    assert!(!with_literals.contains('\0'), "NUL in {with_literals:?}");
    let rendered = quoted.strip_prefix(CHARSET_PREFIX).unwrap_or(&quoted);
    // Escaping lengthens a query; the input limit is not meant for what we render.
    if rendered.chars().count() > MAX_QUERY_CHARS {
        return;
    }
    match parse_query(rendered) {
        Ok(again) => assert_eq!(again, keys, "{query:?} rendered as {rendered:?}"),
        Err(err) => panic!("{query:?} rendered as {rendered:?}, which is refused: {err}"),
    }
});
