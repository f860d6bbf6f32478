//! The MCP endpoint: rmcp's Streamable HTTP service in stateless mode (JSON responses),
//! mounted at `/mcp` (and `/mcp/`) behind the guard layer (Host, Origin, bearer token,
//! scope). The service factory runs per request; the caller's account reaches tools
//! through request extensions. Request bodies are bounded by [`body_limit`]. Protocol
//! versions: 2026-07-28 (no `initialize`: per-request `_meta`, `server/discover`, the
//! `Mcp-Method` / `Mcp-Name` headers, all checked by rmcp) and, through `initialize`,
//! 2024-11-05 to 2025-11-25; any other is refused with the list ([`versions`]). Long bulk
//! runs of 2026-07-28 clients that declare the Tasks extension become tasks ([`tasks`]).

pub mod approval;
pub mod auth;
pub mod body_limit;
pub mod drafts_only;
pub mod policy;
pub mod server;
pub mod tasks;
pub mod tools;
pub mod versions;

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::middleware;
use rmcp::ServerHandler;
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio_util::sync::CancellationToken;

use crate::state::AppState;
pub use auth::Caller;
pub use server::MailServer;

/// `/mcp`, with its guards.
pub fn routes(state: &AppState, shutdown: CancellationToken) -> Router<AppState> {
    let server = MailServer::new(state.clone());
    let tool_scopes: HashMap<String, &'static str> = server
        .tools()
        .iter()
        .map(|tool| (tool.name.to_string(), tools::required_scope(tool)))
        .collect();
    let limit = body_limit::BodyLimit::new(state.config.attachments.max_bytes);
    let versions = versions::Versions {
        supported: server.supported_protocol_versions().into_owned().into(),
        limit,
    };
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_sse_keep_alive(None)
        .with_allowed_hosts(auth::allowed_hosts(&state.config))
        .with_max_request_body_bytes(limit.max_request_bytes)
        .with_cancellation_token(shutdown.child_token());
    let service = StreamableHttpService::new(
        move || Ok(server.clone()),
        Arc::new(NeverSessionManager::default()),
        config,
    );
    let guard = auth::Guard {
        state: state.clone(),
        tool_scopes: Arc::new(tool_scopes),
    };
    Router::new()
        .route_service("/mcp", service.clone())
        .route_service("/mcp/", service)
        .layer(middleware::from_fn_with_state(
            versions,
            versions::refuse_unsupported,
        ))
        .layer(middleware::from_fn_with_state(guard, auth::guard))
        .layer(middleware::from_fn_with_state(
            limit,
            body_limit::refuse_oversized,
        ))
        .layer(crate::http::panics::catch_mcp_panics())
}
