//! The protocol versions this endpoint serves, and the refusal of any other named in the
//! `MCP-Protocol-Version` header. rmcp answers an unknown version in a 2026-07-28 request
//! (one whose `_meta` names its version) with JSON-RPC -32022 listing the supported
//! versions, but an unknown header alone with a bare text 400; this layer gives that one
//! the same -32022 answer (HTTP 400, `data.requested` and `data.supported`), so every
//! client learns which version to retry with. Everything else passes untouched.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rmcp::model::{ErrorCode, ProtocolVersion};
use serde_json::{Value, json};

use super::body_limit::BodyLimit;

/// The header naming a request's protocol version.
const HEADER: &str = "mcp-protocol-version";

/// The `_meta` key of a 2026-07-28 request's own protocol version.
const META_KEY: &str = "io.modelcontextprotocol/protocolVersion";

/// What the refusal needs: the versions served and the body limit.
#[derive(Clone)]
pub struct Versions {
    pub supported: Arc<[ProtocolVersion]>,
    pub limit: BodyLimit,
}

/// Answers a POST whose `MCP-Protocol-Version` header names a version not served (and
/// whose body does not name its own, which rmcp answers) with -32022.
pub async fn refuse_unsupported(
    State(versions): State<Versions>,
    request: Request,
    next: Next,
) -> Response {
    let Some(requested) = unsupported_header(&versions, &request) else {
        return next.run(request).await;
    };
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, versions.limit.max_request_bytes).await else {
        return versions.limit.too_large();
    };
    let message = serde_json::from_slice::<Value>(&bytes).unwrap_or_default();
    if message
        .pointer(&format!("/params/_meta/{}", META_KEY.replace('/', "~1")))
        .is_some()
    {
        return next
            .run(Request::from_parts(parts, Body::from(bytes)))
            .await;
    }
    tracing::debug!(
        requested,
        "an MCP request of an unsupported protocol version"
    );
    let id = message.get("id").cloned().unwrap_or(Value::Null);
    refusal(id, &requested, &versions.supported)
}

/// The header's version, when it is text and not one of the versions served.
fn unsupported_header(versions: &Versions, request: &Request) -> Option<String> {
    if request.method() != Method::POST {
        return None;
    }
    let value = request.headers().get(HEADER)?.to_str().ok()?.trim();
    let served = versions.supported.iter().any(|v| v.as_str() == value);
    (!served).then(|| value.to_string())
}

/// HTTP 400 with JSON-RPC -32022 (UnsupportedProtocolVersion), as the 2026-07-28
/// specification has it.
fn refusal(id: Value, requested: &str, supported: &[ProtocolVersion]) -> Response {
    let body = refusal_body(id, requested, supported);
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}

/// The JSON-RPC error: `data` as the specification defines it, the message listing the
/// supported versions for a person reading it.
fn refusal_body(id: Value, requested: &str, supported: &[ProtocolVersion]) -> Value {
    let listed: Vec<&str> = supported.iter().map(ProtocolVersion::as_str).collect();
    json!({
        "jsonrpc": "2.0",
        "id": id,
        "error": {
            "code": ErrorCode::UNSUPPORTED_PROTOCOL_VERSION.0,
            "message": format!(
                "unsupported MCP protocol version {requested}: this server supports {}",
                listed.join(", ")
            ),
            "data": {"requested": requested, "supported": listed},
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refusal_names_the_requested_and_the_supported_versions() {
        let body = refusal_body(json!(7), "2099-01-01", ProtocolVersion::KNOWN_VERSIONS);
        assert_eq!(body["id"], 7);
        let error = &body["error"];
        assert_eq!(error["code"], -32022);
        assert_eq!(error["data"]["requested"], "2099-01-01");
        assert_eq!(
            error["data"]["supported"],
            json!([
                "2024-11-05",
                "2025-03-26",
                "2025-06-18",
                "2025-11-25",
                "2026-07-28"
            ])
        );
        let message = error["message"].as_str().unwrap();
        assert!(message.contains("2099-01-01") && message.contains("2025-11-25, 2026-07-28"));
    }
}
