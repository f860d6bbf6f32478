//! Entry points for the fuzz targets of `fuzz/` into code that is otherwise private to
//! the crate. Hidden from the documentation and not an API: nothing here gives more than
//! its caller already holds (the scanner is pure; sealing needs the keyring itself).

use crate::mail::imap::guard::{ResponseLimits, ResponseScanner};
use crate::token::{TokenCodec, TokenError};

/// Scans `chunks`, in order, as one IMAP server's byte stream with these limits, the way
/// the guard in front of async-imap does; `Err` is the refusal's message.
pub fn scan_imap_stream(
    chunks: &[&[u8]],
    max_depth: u32,
    max_line_bytes: usize,
    max_literal_bytes: u64,
) -> Result<(), String> {
    let mut scanner = ResponseScanner::new(ResponseLimits {
        max_depth,
        max_line_bytes,
        max_literal_bytes,
    });
    chunks
        .iter()
        .try_for_each(|chunk| scanner.scan(chunk))
        .map_err(|refusal| refusal.to_string())
}

/// The limits the guard applies in production: depth, line bytes, literal bytes.
pub fn default_imap_limits() -> (u32, usize, u64) {
    let limits = ResponseLimits::DEFAULT;
    (
        limits.max_depth,
        limits.max_line_bytes,
        limits.max_literal_bytes,
    )
}

/// Seals `payload` (any bytes, not necessarily JSON claims) with the codec's primary key
/// as a token of this server's shape, so that opening can be fuzzed past decryption.
pub fn seal_raw_payload(codec: &TokenCodec, payload: &[u8]) -> Result<String, TokenError> {
    codec.seal_raw(payload)
}
