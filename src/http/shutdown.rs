//! Refusing new MCP calls while the server drains at shutdown ([`crate::drain::Drain`]): a
//! call that arrives then gets 503 with `Retry-After` and a JSON-RPC error body (a load
//! balancer or the client sends it again, to another instance or after the restart); a
//! call let in is counted as in flight until its answer is ready.

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::drain::Drain;

/// The Retry-After of a call refused while draining, in seconds.
const RETRY_AFTER_SECS: &str = "5";

/// JSON-RPC's "server error" code for a call refused during shutdown.
const SHUTTING_DOWN: i32 = -32000;

/// Middleware for `/mcp`: 503 while draining, else the call runs counted as in flight.
pub async fn refuse_while_draining(
    State(drain): State<Drain>,
    request: Request,
    next: Next,
) -> Response {
    let Some(_in_flight) = drain.enter() else {
        return shutting_down();
    };
    next.run(request).await
}

/// The answer to a call that arrives during shutdown.
fn shutting_down() -> Response {
    let body = json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": {
            "code": SHUTTING_DOWN,
            "message": "the server is shutting down and takes no new calls; nothing was done: \
                        send the request again in a few seconds",
        },
    });
    let mut response = (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
    response.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from_static(RETRY_AFTER_SECS),
    );
    response
}
