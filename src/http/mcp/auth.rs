//! Guards of the MCP endpoint: the Host header must be BASE_URL's host (or an allowed
//! one), and a POST must carry a valid access token. Every token failure is the same 401
//! with a `WWW-Authenticate` challenge pointing at the resource metadata; the reason is
//! logged at debug only. The opened claims travel to the tools as a [`Caller`].

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::app::AppState;
use crate::config::Config;
use crate::token::{AccessClaims, Purpose};

/// The authenticated caller of one MCP request.
#[derive(Clone)]
pub struct Caller(pub Arc<AccessClaims>);

/// Host header values accepted: BASE_URL's host (with and without port) and ALLOWED_HOSTS.
pub fn allowed_hosts(config: &Config) -> Vec<String> {
    let mut hosts = config.base_authorities();
    hosts.extend(
        config
            .allowed_hosts
            .iter()
            .map(|h| h.trim().to_ascii_lowercase()),
    );
    hosts
}

fn host_allowed(config: &Config, request: &Request) -> bool {
    let Some(host) = request
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let host = host.to_ascii_lowercase();
    allowed_hosts(config).contains(&host)
}

pub async fn require_bearer(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    if !host_allowed(&state.config, &request) {
        return (
            StatusCode::FORBIDDEN,
            "Host not allowed: reach this server by its BASE_URL, or add the host to ALLOWED_HOSTS",
        )
            .into_response();
    }
    if request.method() != Method::POST {
        return next.run(request).await;
    }
    match open_bearer(&state, &request) {
        Ok(claims) => {
            request.extensions_mut().insert(Caller(Arc::new(claims)));
            next.run(request).await
        }
        Err(reason) => {
            tracing::debug!(reason, "MCP request without a usable access token");
            unauthorized(&state.config)
        }
    }
}

fn open_bearer(state: &AppState, request: &Request) -> Result<AccessClaims, String> {
    let value = request
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or("no Authorization header")?
        .to_str()
        .map_err(|_| "Authorization header is not text")?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .ok_or("Authorization is not a Bearer token")?;
    state
        .tokens
        .open(Purpose::Access, token.trim())
        .map_err(|e| e.to_string())
}

/// 401 with the challenge MCP clients use to discover the authorization server.
pub fn unauthorized(config: &Config) -> Response {
    let challenge = format!(
        "Bearer error=\"invalid_token\", error_description=\"The access token is missing, invalid or expired\", \
         resource_metadata=\"{}\"",
        config.url("/.well-known/oauth-protected-resource/mcp")
    );
    let mut response = (
        StatusCode::UNAUTHORIZED,
        axum::Json(serde_json::json!({
            "error": "invalid_token",
            "error_description": "The access token is missing, invalid or expired",
        })),
    )
        .into_response();
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}
