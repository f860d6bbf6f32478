//! Request tracing: every request gets a request id (`x-request-id`: the caller's when it
//! sent a usable one, else a new UUID), echoed in the response, and an INFO span that
//! every log line of the request is written in (so each line carries the id). The span
//! names the id, the method and the path with the secret part of an attachment link
//! (`/attachments/<signed_link>`: anyone holding it downloads the file) replaced by
//! `<redacted>`; the query string, which may carry OAuth codes or state, is never recorded.

use axum::Router;
use axum::extract::Request as AxumRequest;
use axum::http::{HeaderName, Request};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{MakeSpan, TraceLayer};
use tracing::Span;

/// The header that carries the request id, in and out.
pub static REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The longest request id taken from a caller; longer ones are replaced.
const MAX_REQUEST_ID_LEN: usize = 128;

/// `router` with request ids and the request span around all of it.
pub fn with_request_tracing<S>(router: Router<S>) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    router
        .layer(TraceLayer::new_for_http().make_span_with(RedactedSpan))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID_HEADER.clone()))
        .layer(SetRequestIdLayer::new(
            REQUEST_ID_HEADER.clone(),
            MakeRequestUuid,
        ))
        .layer(axum::middleware::map_request(drop_unusable_request_id))
}

/// Removes a caller's `x-request-id` that is not a short token of visible ASCII, so a
/// fresh id replaces it rather than odd text reaching the logs.
async fn drop_unusable_request_id(mut request: AxumRequest) -> AxumRequest {
    let usable = request
        .headers()
        .get(&REQUEST_ID_HEADER)
        .and_then(|value| value.to_str().ok())
        .is_some_and(is_usable_request_id);
    if !usable {
        request.headers_mut().remove(&REQUEST_ID_HEADER);
    }
    request
}

/// 1 to [`MAX_REQUEST_ID_LEN`] letters, digits and `-_.:`.
fn is_usable_request_id(id: &str) -> bool {
    (1..=MAX_REQUEST_ID_LEN).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// The segment that precedes a secret signed link.
const ATTACHMENTS_SEGMENT: &str = "attachments";

/// Makes the INFO span of one request with its id and the redacted path.
#[derive(Clone, Copy, Debug, Default)]
pub struct RedactedSpan;

impl<B> MakeSpan<B> for RedactedSpan {
    fn make_span(&mut self, request: &Request<B>) -> Span {
        let request_id = request
            .headers()
            .get(&REQUEST_ID_HEADER)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("-");
        tracing::info_span!(
            "request",
            request_id,
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
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use axum::body::Body;
    use axum::routing::get;
    use tower::ServiceExt;
    use tracing_subscriber::filter::EnvFilter;
    use tracing_subscriber::prelude::*;

    use super::*;
    use crate::logging::{LogFormat, layer};

    /// A writer that keeps what was logged.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// A router that logs a line inside a nested span of its own, as handlers do.
    fn logging_router() -> Router {
        with_request_tracing(Router::new().route(
            "/attachments/{link}",
            get(|| async {
                let inner = tracing::info_span!("tool", tool = "get_mail_message");
                let _entered = inner.enter();
                tracing::info!("handler line");
                "ok"
            }),
        ))
    }

    /// The JSON lines of one request through [`logging_router`] with `request_id` sent.
    async fn json_lines_of(request_id: Option<&str>) -> (Vec<serde_json::Value>, String) {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::registry().with(layer(
            LogFormat::Json,
            move || writer.clone(),
            EnvFilter::new("info"),
        ));
        let _default = tracing::subscriber::set_default(subscriber);
        let mut request = Request::get("/attachments/secret.link.sig");
        if let Some(id) = request_id {
            request = request.header("x-request-id", id);
        }
        let response = logging_router()
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let echoed = response.headers()[&REQUEST_ID_HEADER]
            .to_str()
            .unwrap()
            .to_owned();
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        assert!(!text.contains("secret.link.sig"), "{text}");
        let lines = text
            .lines()
            .map(|line| serde_json::from_str(line).expect("one JSON object a line"))
            .collect();
        (lines, echoed)
    }

    /// Every line logged while serving a request carries the request's id (in its
    /// `request` span, also under nested spans), the same id the response echoes; a
    /// caller's usable id is kept, and a new UUID is made when it sent none.
    #[tokio::test]
    async fn each_line_of_a_request_carries_its_id() {
        let (lines, echoed) = json_lines_of(Some("req-42")).await;
        assert_eq!(echoed, "req-42");
        assert!(!lines.is_empty());
        for line in &lines {
            assert_eq!(line["spans"][0]["name"], "request", "{line}");
            assert_eq!(line["spans"][0]["request_id"], "req-42", "{line}");
        }
        let (lines, echoed) = json_lines_of(None).await;
        assert!(uuid::Uuid::parse_str(&echoed).is_ok(), "{echoed}");
        assert_eq!(lines[0]["spans"][0]["request_id"], echoed.as_str());
    }

    /// A caller's request id that is too long or holds odd characters is replaced by a
    /// fresh one, in the logs and in the response.
    #[tokio::test]
    async fn unusable_request_ids_are_replaced() {
        let long = "a".repeat(MAX_REQUEST_ID_LEN + 1);
        for bad in [long.as_str(), "a b", "x\"y", "{}"] {
            let (lines, echoed) = json_lines_of(Some(bad)).await;
            assert!(uuid::Uuid::parse_str(&echoed).is_ok(), "{bad}: {echoed}");
            assert_eq!(lines[0]["spans"][0]["request_id"], echoed.as_str());
        }
    }

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
