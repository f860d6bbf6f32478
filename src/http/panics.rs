//! Panics become answers. rmcp runs each MCP request in a task of its own and a panic
//! there drops the reply, so the client would wait for an answer that never comes. Here
//! a panicking tool call becomes a tool result with `isError` ([`guard_tool_call`]), a
//! panicking non-tool MCP request a JSON-RPC internal error ([`guard_request`]), and a
//! panic left anywhere in an HTTP handler a 500 with a JSON body ([`catch_mcp_panics`],
//! [`catch_panics`]). Each is logged at error level with what was running (the tool or
//! method name, never arguments or content); the panic hook prints the panic itself.

use std::any::Any;
use std::panic::AssertUnwindSafe;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures::FutureExt;
use rmcp::ErrorData;
use rmcp::model::{CallToolResponse, CallToolResult, ContentBlock, ErrorCode};
use serde_json::json;
use tower_http::catch_panic::CatchPanicLayer;

/// What a tool may have done before it panicked, which decides what the caller is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolKind {
    /// The tool only reads mail (its `readOnlyHint`): no mail was changed.
    ReadsOnly,
    /// The tool changes or sends mail: it may have done part of that.
    ChangesMail,
}

/// Runs a tool call; a panic in it becomes a tool result with `isError` that says which
/// tool failed and what may have happened, so the model can look before trying again.
pub async fn guard_tool_call<F>(
    tool: &str,
    kind: ToolKind,
    call: F,
) -> Result<CallToolResponse, ErrorData>
where
    F: Future<Output = Result<CallToolResponse, ErrorData>>,
{
    match AssertUnwindSafe(call).catch_unwind().await {
        Ok(outcome) => outcome,
        Err(_) => {
            tracing::error!(tool, "tool panicked; the caller gets an error result");
            let text = tool_panic_text(tool, kind);
            Ok(CallToolResult::error(vec![ContentBlock::text(text)]).into())
        }
    }
}

/// The text of a panicked tool's result: honest about what is known.
fn tool_panic_text(tool: &str, kind: ToolKind) -> String {
    match kind {
        ToolKind::ReadsOnly => format!(
            "internal error in {tool}; this tool only reads, so no mail was changed. \
             Trying again may work; if it fails the same way, the server has a bug to report."
        ),
        ToolKind::ChangesMail => format!(
            "internal error in {tool}; it stopped part-way, so what it was asked to do may \
             have been done, partly done or not done at all. Look at the mailbox (list or \
             search the folders concerned) before trying again."
        ),
    }
}

/// Runs a non-tool MCP request (such as `tools/list`); a panic in it becomes a JSON-RPC
/// internal error naming the method.
pub async fn guard_request<T, F>(method: &str, request: F) -> Result<T, ErrorData>
where
    F: Future<Output = Result<T, ErrorData>>,
{
    match AssertUnwindSafe(request).catch_unwind().await {
        Ok(outcome) => outcome,
        Err(_) => {
            tracing::error!(
                method,
                "MCP request panicked; the caller gets a JSON-RPC error"
            );
            Err(ErrorData::internal_error(
                format!("internal error in {method}; try again"),
                None,
            ))
        }
    }
}

/// A layer that answers a panicking handler with the response its function builds.
pub type PanicLayer = CatchPanicLayer<fn(Box<dyn Any + Send>) -> Response>;

/// For `/mcp`: a panic in its HTTP handling (guards, rmcp's transport) becomes a 500 whose
/// body is a JSON-RPC error (id `null`: the request's id is not known there).
pub fn catch_mcp_panics() -> PanicLayer {
    CatchPanicLayer::custom(mcp_panic_response as fn(Box<dyn Any + Send>) -> Response)
}

/// For every other route: a panic becomes a 500 with an OAuth-style JSON error body.
pub fn catch_panics() -> PanicLayer {
    CatchPanicLayer::custom(http_panic_response as fn(Box<dyn Any + Send>) -> Response)
}

fn mcp_panic_response(_panic: Box<dyn Any + Send>) -> Response {
    tracing::error!(route = "/mcp", "MCP request panicked; answered 500");
    let body = json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": {
            "code": ErrorCode::INTERNAL_ERROR.0,
            "message": "internal error while handling this request; if it changed mail, \
                        look before trying again",
        },
    });
    (StatusCode::INTERNAL_SERVER_ERROR, Json(body)).into_response()
}

fn http_panic_response(_panic: Box<dyn Any + Send>) -> Response {
    tracing::error!("HTTP request panicked; answered 500");
    let body = json!({
        "error": "server_error",
        "error_description": "internal error while handling this request; try again",
    });
    (StatusCode::INTERNAL_SERVER_ERROR, Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::body::{Body, to_bytes};
    use axum::routing::get;
    use tower::ServiceExt;

    use super::*;

    async fn panicking_call() -> Result<CallToolResponse, ErrorData> {
        panic!("boom")
    }

    fn result_of(response: CallToolResponse) -> CallToolResult {
        match response {
            CallToolResponse::Complete(result) => result,
            other => panic!("expected a tool result, got {other:?}"),
        }
    }

    fn text_of(result: &CallToolResult) -> String {
        serde_json::to_value(result).unwrap()["content"][0]["text"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// A tool future that panics is answered with an `isError` result naming the tool,
    /// and a read-only tool says no mail was changed.
    #[tokio::test]
    async fn a_panicking_read_tool_gives_an_error_result() {
        let response = guard_tool_call("get_mail_message", ToolKind::ReadsOnly, panicking_call())
            .await
            .expect("a result, not a protocol error");
        let result = result_of(response);
        assert_eq!(result.is_error, Some(true));
        let text = text_of(&result);
        assert!(
            text.starts_with("internal error in get_mail_message;"),
            "{text}"
        );
        assert!(text.contains("no mail was changed"), "{text}");
    }

    /// A tool that changes mail does not claim nothing changed: it tells the model to look.
    #[tokio::test]
    async fn a_panicking_write_tool_does_not_claim_nothing_changed() {
        let response =
            guard_tool_call("move_mail_message", ToolKind::ChangesMail, panicking_call()).await;
        let text = text_of(&result_of(response.unwrap()));
        assert!(
            text.starts_with("internal error in move_mail_message;"),
            "{text}"
        );
        assert!(!text.contains("nothing was changed"), "{text}");
        assert!(text.contains("before trying again"), "{text}");
    }

    /// A tool call that does not panic is passed through as it is.
    #[tokio::test]
    async fn a_call_that_returns_is_untouched() {
        let ok = CallToolResult::success(vec![ContentBlock::text("fine")]);
        let expected = serde_json::to_value(&ok).unwrap();
        let response = guard_tool_call("list_mailboxes", ToolKind::ReadsOnly, async {
            Ok(ok.into())
        })
        .await;
        let result = result_of(response.unwrap());
        assert_eq!(serde_json::to_value(&result).unwrap(), expected);
    }

    /// A non-tool request that panics becomes a JSON-RPC internal error naming the method.
    #[tokio::test]
    async fn a_panicking_request_gives_an_internal_error() {
        let outcome: Result<(), ErrorData> =
            guard_request("tools/list", async { panic!("boom") }).await;
        let error = outcome.unwrap_err();
        assert_eq!(error.code, ErrorCode::INTERNAL_ERROR);
        assert_eq!(error.message, "internal error in tools/list; try again");
    }

    async fn answer_of(layer: PanicLayer) -> (StatusCode, serde_json::Value) {
        async fn panics() -> &'static str {
            panic!("boom")
        }
        let app = Router::new().route("/", get(panics)).layer(layer);
        let request = axum::http::Request::get("/").body(Body::empty()).unwrap();
        let response = app.oneshot(request).await.unwrap();
        let status = response.status();
        let body = to_bytes(response.into_body(), 64 * 1024).await.unwrap();
        (status, serde_json::from_slice(&body).expect("a JSON body"))
    }

    /// A panicking `/mcp` handler answers 500 with a JSON-RPC error body, not an empty one.
    #[tokio::test]
    async fn a_panicking_mcp_handler_answers_json_rpc() {
        let (status, body) = answer_of(catch_mcp_panics()).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body["jsonrpc"], "2.0");
        assert_eq!(body["id"], serde_json::Value::Null);
        assert_eq!(body["error"]["code"], -32603);
    }

    /// Any other panicking handler answers 500 with an OAuth-style JSON error body.
    #[tokio::test]
    async fn a_panicking_handler_answers_json() {
        let (status, body) = answer_of(catch_panics()).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body["error"], "server_error");
    }
}
