//! The request span of the trace layer. It names the method and the path with the secret
//! part of an attachment link (`/attachments/<signed_link>`: anyone holding it downloads
//! the file) replaced by `<redacted>`; the query string, which may carry OAuth codes or
//! state, is never recorded.

use axum::http::Request;
use tower_http::trace::MakeSpan;
use tracing::Span;

/// The segment that precedes a secret signed link.
const ATTACHMENTS_SEGMENT: &str = "attachments";

/// Makes the DEBUG span of one request with the redacted path.
#[derive(Clone, Copy, Debug, Default)]
pub struct RedactedSpan;

impl<B> MakeSpan<B> for RedactedSpan {
    fn make_span(&mut self, request: &Request<B>) -> Span {
        tracing::debug_span!(
            "request",
            method = %request.method(),
            path = %redacted_path(request.uri().path()),
            version = ?request.version(),
        )
    }
}

/// `path` with the segment after every `attachments` segment (the signed link) replaced,
/// wherever the server is mounted (a BASE_URL prefix keeps working).
pub fn redacted_path(path: &str) -> String {
    let mut out = Vec::new();
    let mut secret_next = false;
    for segment in path.split('/') {
        if secret_next && !segment.is_empty() {
            out.push("<redacted>");
        } else {
            out.push(segment);
        }
        secret_next = segment == ATTACHMENTS_SEGMENT;
    }
    out.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// No signed attachment link survives in a logged path; other paths stay as they are.
    #[test]
    fn signed_attachment_links_are_redacted_and_other_paths_kept() {
        let cases = [
            ("/attachments/abc.123.sig", "/attachments/<redacted>"),
            (
                "/prefix/attachments/abc.123.sig",
                "/prefix/attachments/<redacted>",
            ),
            ("/attachments/abc/extra", "/attachments/<redacted>/extra"),
            ("/attachments/", "/attachments/"),
            ("/mcp", "/mcp"),
            ("/oauth/authorize", "/oauth/authorize"),
            ("/", "/"),
        ];
        for (path, want) in cases {
            assert_eq!(redacted_path(path), want, "{path}");
        }
    }
}
