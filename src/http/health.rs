//! `GET /health`: the probe without authentication, for liveness and readiness alike. It
//! answers 200 `{"status":"ok"}` while the server takes calls, and 503
//! `{"status":"draining"}` with `Retry-After` once SIGTERM has begun the drain, so a load
//! balancer or a Kubernetes readiness probe stops sending new calls to this instance while
//! the calls in flight finish.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::state::AppState;

/// The Retry-After of a draining instance's health answer, in seconds.
const RETRY_AFTER_SECS: &str = "5";

#[tracing::instrument(level = "debug", skip_all)]
pub async fn health(State(state): State<AppState>) -> Response {
    let draining = state.drain.is_draining();
    let status = if draining { "draining" } else { "ok" };
    let body = Json(json!({
        "status": status,
        "name": env!("CARGO_PKG_NAME"),
        "version": env!("CARGO_PKG_VERSION"),
    }));
    if !draining {
        return body.into_response();
    }
    let mut response = (StatusCode::SERVICE_UNAVAILABLE, body).into_response();
    response.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from_static(RETRY_AFTER_SECS),
    );
    response
}
