//! Discovery: RFC 9728 protected-resource metadata for the MCP endpoint and RFC 8414
//! authorization-server metadata. Every URL is built from BASE_URL, path prefix included.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use super::scope;
use crate::state::AppState;

/// `GET /.well-known/oauth-protected-resource[/mcp]`.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn protected_resource(State(state): State<AppState>) -> Json<Value> {
    let config = &state.config;
    Json(json!({
        "resource": config.resource(),
        "authorization_servers": [config.base_url],
        "bearer_methods_supported": ["header"],
        "scopes_supported": scope::SUPPORTED,
        "resource_name": "mail_mcp",
    }))
}

/// `GET /.well-known/oauth-authorization-server`.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn authorization_server(State(state): State<AppState>) -> Json<Value> {
    let config = &state.config;
    Json(json!({
        "issuer": config.base_url,
        "authorization_endpoint": config.url("/oauth/authorize"),
        "token_endpoint": config.url("/oauth/token"),
        "registration_endpoint": config.url("/oauth/register"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic", "none"],
        "client_id_metadata_document_supported": config.client_metadata_documents,
        "scopes_supported": scope::SUPPORTED,
        "authorization_response_iss_parameter_supported": true,
    }))
}
