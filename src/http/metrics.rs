//! `/metrics` and what feeds it from the HTTP side: every answered request counted by its
//! route *template* (axum's [`MatchedPath`], never the raw path: paths can carry signed
//! links) and status, and every MCP tool call by tool and outcome ([`count_tool_call`]).
//! The series themselves live in [`crate::metrics`].
//!
//! Access: with `METRICS_TOKEN` set, `GET /metrics` wants `Authorization: Bearer <token>`
//! (compared in constant time) and answers 401 with a JSON body otherwise; without it,
//! `/metrics` is off and answers 404, so that a hosted server never shows its figures to
//! anyone by accident.

use std::panic::AssertUnwindSafe;

use axum::Json;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::FutureExt;
use rmcp::ErrorData;
use rmcp::model::CallToolResponse;
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::metrics::{Metrics, PoolSizes, ToolOutcome, UNMATCHED_ROUTE};
use crate::state::AppState;

/// The media type of the OpenMetrics text format, which Prometheus scrapes.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Middleware: counts the request by its matched route template and the answer's status.
pub async fn count_requests(
    State(metrics): State<Metrics>,
    request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED_ROUTE.to_owned(), |path| path.as_str().to_owned());
    let response = next.run(request).await;
    metrics.http_request(&route, response.status().as_u16());
    response
}

/// Runs a tool call and counts how it ended. `tool` must be a name the server offers (or
/// [`crate::metrics::UNKNOWN_TOOL`]). A panic is counted, then passed on to the panic
/// guard around this, which answers it.
pub async fn count_tool_call<F>(
    metrics: &Metrics,
    tool: &str,
    call: F,
) -> Result<CallToolResponse, ErrorData>
where
    F: Future<Output = Result<CallToolResponse, ErrorData>>,
{
    match AssertUnwindSafe(call).catch_unwind().await {
        Ok(outcome) => {
            metrics.tool_call(tool, tool_outcome(&outcome));
            outcome
        }
        Err(panic) => {
            metrics.tool_call(tool, ToolOutcome::Panic);
            std::panic::resume_unwind(panic)
        }
    }
}

fn tool_outcome(outcome: &Result<CallToolResponse, ErrorData>) -> ToolOutcome {
    match outcome {
        Ok(CallToolResponse::Complete(result)) if result.is_error == Some(true) => {
            ToolOutcome::ToolError
        }
        Ok(_) => ToolOutcome::Ok,
        Err(_) => ToolOutcome::ProtocolError,
    }
}

/// `GET /metrics`: the exposition, for the bearer of METRICS_TOKEN.
pub async fn scrape(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(token) = state.config.metrics_token.as_deref() else {
        let body = json!({
            "error": "not_found",
            "error_description": "metrics are off on this server (the operator sets METRICS_TOKEN to turn them on)",
        });
        return (StatusCode::NOT_FOUND, Json(body)).into_response();
    };
    if !bearer_matches(&headers, token) {
        let body = json!({
            "error": "invalid_token",
            "error_description": "GET /metrics needs Authorization: Bearer <METRICS_TOKEN>",
        });
        let mut response = (StatusCode::UNAUTHORIZED, Json(body)).into_response();
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"metrics\""),
        );
        return response;
    }
    let stats = state.imap.pool_stats();
    let pools = PoolSizes {
        imap_idle: stats.idle,
        imap_accounts: stats.accounts,
        smtp_idle: state.smtp.idle_connections(),
    };
    let text = state.metrics.render(pools);
    ([(header::CONTENT_TYPE, OPENMETRICS)], text).into_response()
}

/// True when the request carries `Authorization: Bearer <token>`; compared as SHA-256
/// digests in constant time, so that neither the content nor the length leaks by timing.
fn bearer_matches(headers: &HeaderMap, token: &str) -> bool {
    let Some(given) = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
    else {
        return false;
    };
    let given = Sha256::digest(given.trim().as_bytes());
    let wanted = Sha256::digest(token.as_bytes());
    given.ct_eq(&wanted).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_authorization(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, value.parse().unwrap());
        headers
    }

    /// Only the exact token after `Bearer ` opens /metrics.
    #[test]
    fn only_the_exact_bearer_matches() {
        assert!(bearer_matches(
            &with_authorization("Bearer s3cret"),
            "s3cret"
        ));
        for wrong in [
            "Bearer s3cre",
            "Bearer s3cret2",
            "Basic s3cret",
            "s3cret",
            "Bearer ",
        ] {
            assert!(
                !bearer_matches(&with_authorization(wrong), "s3cret"),
                "{wrong}"
            );
        }
        assert!(!bearer_matches(&HeaderMap::new(), "s3cret"));
    }
}
