//! The HTTP surface: one axum router with the OAuth endpoints, the MCP endpoint, health,
//! and the HTML pages. Handlers are thin; sealing and opening tokens is in `token/`, mail in `mail/`.

// Handlers return `Result<_, Response>` to short-circuit with a finished page or error;
// an axum `Response` is larger than clippy's default for error variants.
#![allow(clippy::result_large_err)]

pub mod approval_page;
pub mod attachments;
pub mod forwarded;
pub mod health;
pub mod mcp;
pub mod metrics;
pub mod oauth;
pub mod pages;
pub mod panics;
pub mod shutdown;
pub mod trace;

use axum::Router;
use axum::middleware;
use axum::routing::get;
use tokio_util::sync::CancellationToken;
use tower_http::limit::RequestBodyLimitLayer;

use crate::state::AppState;

/// Largest request body outside `/mcp` (forms and registration documents); `/mcp`, whose
/// calls carry inline attachments, sets its own limit from MAX_ATTACHMENT_BYTES.
const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The whole application router. `shutdown` cancels the MCP calls still running (after
/// the drain: [`crate::app::run`]).
pub fn router(state: AppState, shutdown: CancellationToken) -> Router {
    let routes = Router::new()
        .route("/health", get(health::health))
        .route("/metrics", get(metrics::scrape))
        .route("/attachments/{signed_link}", get(attachments::download))
        .merge(oauth::routes())
        .merge(approval_page::routes())
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .merge(
            mcp::routes(&state, shutdown).layer(middleware::from_fn_with_state(
                state.drain.clone(),
                shutdown::refuse_while_draining,
            )),
        )
        .layer(panics::catch_panics())
        .layer(middleware::from_fn_with_state(
            state.metrics.clone(),
            metrics::count_requests,
        ));
    trace::with_request_tracing(routes).with_state(state)
}
