//! How large one MCP request may be. Inline attachments arrive base64-encoded inside the
//! JSON-RPC body, so the limit follows MAX_ATTACHMENT_BYTES: 4/3 of it plus room for the
//! rest of the message (text, HTML, addresses, JSON). A larger body is refused with 413
//! and a JSON-RPC error saying the limit, before any of it is read (`Content-Length`);
//! a body sent without a length is cut off by rmcp at the same limit (also 413).

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Room for everything in a request besides its attachments' base64.
pub const MESSAGE_MARGIN_BYTES: u64 = 4 * 1024 * 1024;

/// The largest MCP request body for attachments of `max_attachment_bytes` in all.
pub fn max_request_bytes(max_attachment_bytes: u64) -> usize {
    let base64 = max_attachment_bytes.div_ceil(3).saturating_mul(4);
    usize::try_from(base64.saturating_add(MESSAGE_MARGIN_BYTES)).unwrap_or(usize::MAX)
}

/// The limits a refusal names.
#[derive(Clone, Copy, Debug)]
pub struct BodyLimit {
    pub max_request_bytes: usize,
    pub max_attachment_bytes: u64,
}

impl BodyLimit {
    pub fn new(max_attachment_bytes: u64) -> Self {
        BodyLimit {
            max_request_bytes: max_request_bytes(max_attachment_bytes),
            max_attachment_bytes,
        }
    }

    /// 413 with a JSON-RPC error (no id: the request was not read) saying the limit.
    pub fn too_large(&self) -> Response {
        let message = format!(
            "the request body is larger than {} bytes, the most this server accepts: \
             attachments may hold {} bytes in all (MAX_ATTACHMENT_BYTES), sent as base64 \
             in the request; send large files as attachment URLs or in several messages",
            self.max_request_bytes, self.max_attachment_bytes
        );
        let body = json!({
            "jsonrpc": "2.0",
            "id": null,
            "error": {
                "code": -32600,
                "message": message,
                "data": {"max_request_bytes": self.max_request_bytes},
            },
        });
        (StatusCode::PAYLOAD_TOO_LARGE, Json(body)).into_response()
    }
}

/// Refuses a request whose `Content-Length` is over the limit, without reading it.
pub async fn refuse_oversized(
    State(limit): State<BodyLimit>,
    request: Request,
    next: Next,
) -> Response {
    let length = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match length {
        Some(length) if length > limit.max_request_bytes as u64 => limit.too_large(),
        _ => next.run(request).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_holds_the_attachments_as_base64_and_the_message() {
        let cases = [
            (0, 4 * 1024 * 1024),
            (3, 4 + 4 * 1024 * 1024),
            (25 * 1024 * 1024, 34_952_536 + 4 * 1024 * 1024),
            (u64::MAX, usize::MAX),
        ];
        for (attachments, limit) in cases {
            assert_eq!(max_request_bytes(attachments), limit, "{attachments}");
        }
    }
}
