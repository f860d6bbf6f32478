//! Guards of the MCP endpoint, in order: the Host header must be BASE_URL's host (or an
//! allowed one); an `Origin` header, when present, must be this server's origin (or an
//! allowed one: DNS-rebinding protection); a POST must carry a valid access token whose
//! scope covers every tool it calls, and whose sign-in (refresh family) was not revoked in
//! the shared store. Every token failure is the same 401 with a `WWW-Authenticate`
//! challenge pointing at the resource metadata, the reason logged at debug only; a revoked
//! sign-in's 401 says to sign in again. A sign-in at an OAuth mail provider gets the
//! provider's access token of the moment (see `upstream`), and a 401 saying to reconnect
//! when the provider ended it. The opened claims travel to the tools as a [`Caller`].

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::body_limit::BodyLimit;
use crate::config::Config;
use crate::http::oauth::scope;
use crate::state::AppState;
use crate::token::{AccessClaims, Purpose, SendPolicy};
use crate::upstream::UpstreamError;

/// The authenticated caller of one MCP request.
#[derive(Clone)]
pub struct Caller(pub Arc<AccessClaims>);

impl Caller {
    pub fn has_scope(&self, wanted: &str) -> bool {
        scope::has(&self.0.scope, wanted)
    }

    /// What the person allowed this connection to do with mail that leaves or cannot be
    /// undone (sealed in the token; see [`SendPolicy`]).
    pub fn policy(&self) -> SendPolicy {
        self.0.policy
    }
}

/// What the guard layer needs: the app and the scope each tool requires.
#[derive(Clone)]
pub struct Guard {
    pub state: AppState,
    pub tool_scopes: Arc<HashMap<String, &'static str>>,
}

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
    allowed_hosts(config).contains(&host.to_ascii_lowercase())
}

fn origin_allowed(config: &Config, request: &Request) -> bool {
    let Some(origin) = request.headers().get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let origin = origin.trim_end_matches('/');
    origin == config.origin()
        || config
            .allowed_origins
            .iter()
            .any(|o| o.trim_end_matches('/') == origin)
}

/// Marks a refusal sent before the request body was read. The server then closes the
/// connection unless the whole body had already arrived; without `Connection: close` a
/// client reuses the connection for its next request (an MCP client's OAuth discovery
/// right after the first 401) and sees "server disconnected" instead of an answer.
fn closing(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

fn forbidden(message: &'static str) -> Response {
    (StatusCode::FORBIDDEN, message).into_response()
}

pub async fn guard(State(guard): State<Guard>, mut request: Request, next: Next) -> Response {
    let config = &guard.state.config;
    if !host_allowed(config, &request) {
        return closing(forbidden(
            "Host not allowed: reach this server by its BASE_URL, or add the host to ALLOWED_HOSTS",
        ));
    }
    if !origin_allowed(config, &request) {
        return closing(forbidden(
            "Origin not allowed: browser pages of other sites may not call this server (ALLOWED_ORIGINS)",
        ));
    }
    accept_both_response_types(&mut request);
    if request.method() != Method::POST {
        return next.run(request).await;
    }
    let claims = match open_bearer(&guard.state, &request) {
        Ok(claims) => claims,
        Err(reason) => {
            tracing::debug!(reason, "MCP request without a usable access token");
            return closing(unauthorized(config));
        }
    };
    if let Some(family) = claims.family.as_deref()
        && let Err(response) = check_family(&guard.state, family).await
    {
        return closing(response);
    }
    let caller = match with_upstream_access(&guard.state, claims).await {
        Ok(claims) => Caller(Arc::new(claims)),
        Err(response) => return closing(response),
    };
    let request = match check_tool_scopes(&guard, &caller, request).await {
        Ok(request) => request,
        Err(response) => return response,
    };
    let mut request = request;
    request.extensions_mut().insert(caller);
    next.run(request).await
}

/// Clients that name only one of JSON and SSE in `Accept` are served anyway (as JSON).
fn accept_both_response_types(request: &mut Request) {
    let accept = request
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let both = accept.contains("application/json") && accept.contains("text/event-stream");
    if !both {
        request.headers_mut().insert(
            header::ACCEPT,
            HeaderValue::from_static("application/json, text/event-stream"),
        );
    }
}

/// A token without every scope is checked against the tools its request calls.
#[allow(clippy::result_large_err)]
async fn check_tool_scopes(
    guard: &Guard,
    caller: &Caller,
    request: Request,
) -> Result<Request, Response> {
    if scope::SUPPORTED
        .iter()
        .all(|s| caller.has_scope(s) || *s == scope::OFFLINE_ACCESS)
    {
        return Ok(request);
    }
    let (parts, body) = request.into_parts();
    let limit = BodyLimit::new(guard.state.config.attachments.max_bytes);
    let bytes = axum::body::to_bytes(body, limit.max_request_bytes)
        .await
        .map_err(|_| limit.too_large())?;
    let missing = called_tools(&bytes)
        .filter_map(|name| guard.tool_scopes.get(&name).copied())
        .find(|needed| !caller.has_scope(needed));
    if let Some(needed) = missing {
        return Err(insufficient_scope(&guard.state.config, needed));
    }
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

/// Names of the tools a JSON-RPC message (or batch) calls.
fn called_tools(body: &[u8]) -> impl Iterator<Item = String> {
    let messages = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Array(batch)) => batch,
        Ok(single) => vec![single],
        Err(_) => Vec::new(),
    };
    messages.into_iter().filter_map(|message| {
        (message.get("method")?.as_str()? == "tools/call")
            .then(|| {
                message
                    .get("params")?
                    .get("name")?
                    .as_str()
                    .map(str::to_string)
            })
            .flatten()
    })
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

/// Refuses an access token whose sign-in (refresh family) was revoked in the shared store:
/// its code was replayed or a stale refresh token of it was presented. One lookup; tokens
/// without a family (issued before tokens carried it, or by `mail_mcp token`) pass. A store
/// that does not answer gets a 503: a revoked token is never let through.
#[allow(clippy::result_large_err)]
async fn check_family(state: &AppState, family: &str) -> Result<(), Response> {
    match state.shared_store.family_revoked(family).await {
        Ok(false) => Ok(()),
        Ok(true) => {
            tracing::info!("an access token of a revoked sign-in was refused");
            Err(revoked(&state.config))
        }
        Err(error) => {
            tracing::error!(%error, "the shared store did not answer");
            Err(store_unavailable())
        }
    }
}

/// For a sign-in at an OAuth mail provider: puts the provider's current access token
/// (cached, or refreshed now) into the account's IMAP and SMTP logins. A grant the
/// provider ended is a 401 saying to reconnect; a provider that does not answer, a 503.
#[allow(clippy::result_large_err)]
async fn with_upstream_access(
    state: &AppState,
    mut claims: AccessClaims,
) -> Result<AccessClaims, Response> {
    let Some(grant) = &claims.upstream else {
        return Ok(claims);
    };
    match state.upstream.access_token(grant).await {
        Ok(token) => {
            claims.account.imap.password = token.clone();
            claims.account.smtp.password = token;
            Ok(claims)
        }
        Err(error @ (UpstreamError::InvalidGrant(_) | UpstreamError::UnknownProvider(_))) => {
            tracing::info!(%error, "the mail provider ended a sign-in");
            Err(invalid_token(
                &state.config,
                "Your mail provider ended this sign-in (access revoked or expired): reconnect this app to sign in again",
            ))
        }
        Err(error) => {
            tracing::warn!(%error, "the mail provider did not give an access token");
            let body = serde_json::json!({
                "error": "temporarily_unavailable",
                "error_description": "your mail provider did not answer; try again in a few seconds",
            });
            let mut response = (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            Err(response)
        }
    }
}

/// 503 when the shared store cannot say whether the token's sign-in was revoked.
fn store_unavailable() -> Response {
    let body = serde_json::json!({
        "error": "temporarily_unavailable",
        "error_description": "the server's shared store did not answer, so it cannot check this sign-in right now; try again in a few seconds",
    });
    let mut response = (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    response
}

fn challenge_response(
    status: StatusCode,
    challenge: String,
    error: &str,
    description: &str,
) -> Response {
    let body = serde_json::json!({ "error": error, "error_description": description });
    let mut response = (status, axum::Json(body)).into_response();
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

/// 401 with the challenge MCP clients use to discover the authorization server.
pub fn unauthorized(config: &Config) -> Response {
    invalid_token(config, "The access token is missing, invalid or expired")
}

/// 401 for an access token of a revoked sign-in: the client must sign in again.
fn revoked(config: &Config) -> Response {
    invalid_token(
        config,
        "This sign-in was revoked because its authorization code or a refresh token was used twice: sign in again",
    )
}

fn invalid_token(config: &Config, description: &str) -> Response {
    let challenge = format!(
        "Bearer error=\"invalid_token\", error_description=\"{description}\", scope=\"{}\", resource_metadata=\"{}\"",
        scope::DEFAULT,
        config.url("/.well-known/oauth-protected-resource/mcp")
    );
    challenge_response(
        StatusCode::UNAUTHORIZED,
        challenge,
        "invalid_token",
        description,
    )
}

/// 403 for a tool the token's scope does not cover (RFC 6750 §3.1).
fn insufficient_scope(config: &Config, needed: &str) -> Response {
    let description =
        format!("This token was granted without {needed}: sign in again and allow it");
    let challenge = format!(
        "Bearer error=\"insufficient_scope\", error_description=\"{description}\", scope=\"{needed}\", resource_metadata=\"{}\"",
        config.url("/.well-known/oauth-protected-resource/mcp")
    );
    challenge_response(
        StatusCode::FORBIDDEN,
        challenge,
        "insufficient_scope",
        &description,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_calls_are_found_in_single_messages_and_batches() {
        let single = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"send_mail_message"}}"#;
        assert_eq!(
            called_tools(single).collect::<Vec<_>>(),
            ["send_mail_message"]
        );
        let batch = br#"[{"method":"tools/list"},{"method":"tools/call","params":{"name":"a"}},{"method":"tools/call","params":{"name":"b"}}]"#;
        assert_eq!(called_tools(batch).collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(called_tools(b"not json").count(), 0);
    }
}
