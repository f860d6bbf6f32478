//! `GET /attachments/{signed_link}`: downloads of the local attachment store. The bytes are
//! hostile mail content served from our own origin, next to the login page, so every
//! answer is a download that cannot render or run: `Content-Disposition: attachment` with
//! a safe filename, `nosniff`, a sandboxing CSP, and renderable types (HTML, SVG, XML,
//! scripts) served as `application/octet-stream`. The file is streamed, never read whole.
//! A tampered link gets 403, an expired one 410, an unknown or swept one 404, a store that
//! cannot be read 503, each with a one-line plain-text body. The signed link itself is checked by the store.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::attachments::naming::{content_disposition, served_content_type};
use crate::attachments::{AttachmentStoreError, ChunkStream, ObjectInfo};
use crate::state::AppState;

/// Headers on every answer of this endpoint, file or refusal.
const COMMON_HEADERS: [(HeaderName, &str); 4] = [
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (
        header::CONTENT_SECURITY_POLICY,
        "sandbox; default-src 'none'",
    ),
    (header::CACHE_CONTROL, "private, no-store"),
    (header::REFERRER_POLICY, "no-referrer"),
];

#[tracing::instrument(skip_all)]
pub async fn download(State(state): State<AppState>, Path(signed_link): Path<String>) -> Response {
    match state.attachments.open_link(&signed_link).await {
        Ok((info, stream)) => file_response(&info, stream),
        Err(error) => refusal(&error),
    }
}

/// 200 with the file streamed and the download headers.
fn file_response(info: &ObjectInfo, stream: ChunkStream) -> Response {
    let mut response = Body::from_stream(stream).into_response();
    let headers = response.headers_mut();
    for (name, value) in COMMON_HEADERS {
        headers.insert(name, HeaderValue::from_static(value));
    }
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(info.size));
    let disposition = content_disposition(&info.filename);
    let content_type = served_content_type(&info.content_type);
    for (name, value) in [
        (header::CONTENT_DISPOSITION, disposition),
        (header::CONTENT_TYPE, content_type),
    ] {
        let value = HeaderValue::from_str(&value)
            .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"));
        headers.insert(name, value);
    }
    response
}

/// The status and one-line explanation for a link that cannot be served.
fn refusal(error: &AttachmentStoreError) -> Response {
    let (status, message) = match error {
        AttachmentStoreError::LinkInvalid => (
            StatusCode::FORBIDDEN,
            "This attachment link is not valid: it was altered or not issued by this server.",
        ),
        AttachmentStoreError::LinkExpired => (
            StatusCode::GONE,
            "This attachment link has expired. Ask for the message again to get a new link.",
        ),
        AttachmentStoreError::NotFound => (
            StatusCode::NOT_FOUND,
            "No such attachment: it may have expired and been removed.",
        ),
        AttachmentStoreError::Backend { .. } => {
            tracing::warn!(error = %error, source = ?std::error::Error::source(error), "attachment download failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "The attachment store could not be read right now. Try again in a moment.",
            )
        }
        other => {
            tracing::warn!(error = %other, source = ?std::error::Error::source(other), "attachment download failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "The attachment could not be read. Try again later.",
            )
        }
    };
    let mut response = (status, format!("{message}\n")).into_response();
    let headers = response.headers_mut();
    for (name, value) in COMMON_HEADERS {
        headers.insert(name, HeaderValue::from_static(value));
    }
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(filename: &str, content_type: &str) -> ObjectInfo {
        ObjectInfo {
            filename: filename.into(),
            content_type: content_type.into(),
            size: 3,
            created: None,
            expires: None,
            owner: None,
        }
    }

    fn empty() -> ChunkStream {
        Box::pin(futures::stream::empty())
    }

    #[test]
    fn files_are_downloads_that_cannot_render() {
        let response = file_response(&info("page.html", "text/html"), empty());
        let headers = response.headers();
        let cases = [
            ("content-type", "application/octet-stream"),
            (
                "content-disposition",
                "attachment; filename=\"page.html\"; filename*=UTF-8''page.html",
            ),
            ("x-content-type-options", "nosniff"),
            ("content-security-policy", "sandbox; default-src 'none'"),
            ("cache-control", "private, no-store"),
            ("content-length", "3"),
        ];
        for (name, value) in cases {
            assert_eq!(headers[name], value, "{name}");
        }
        let pdf = file_response(&info("a.pdf", "application/pdf"), empty());
        assert_eq!(pdf.headers()["content-type"], "application/pdf");
    }

    #[test]
    fn refusals_map_to_distinct_statuses_with_plain_text() {
        let cases = [
            (AttachmentStoreError::LinkInvalid, StatusCode::FORBIDDEN),
            (AttachmentStoreError::LinkExpired, StatusCode::GONE),
            (AttachmentStoreError::NotFound, StatusCode::NOT_FOUND),
            (
                AttachmentStoreError::backend("read the attachment", "disk on fire"),
                StatusCode::SERVICE_UNAVAILABLE,
            ),
        ];
        for (error, status) in cases {
            let response = refusal(&error);
            assert_eq!(response.status(), status, "{error}");
            assert_eq!(
                response.headers()["content-type"],
                "text/plain; charset=utf-8"
            );
            assert_eq!(response.headers()["x-content-type-options"], "nosniff");
        }
    }
}
