//! OAuth errors as RFC 6749 §5.2 JSON: `{error, error_description}`, `Cache-Control:
//! no-store`, 400, or 401 with a `WWW-Authenticate` challenge for a failed client login.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An error of the token endpoint (and registration later).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    pub code: &'static str,
    pub description: String,
    /// The client authenticated with HTTP Basic: answer 401 with a Basic challenge.
    pub basic_challenge: bool,
}

impl OAuthError {
    fn new(code: &'static str, description: impl Into<String>) -> Self {
        OAuthError {
            code,
            description: description.into(),
            basic_challenge: false,
        }
    }
    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new("invalid_request", description)
    }
    pub fn invalid_client(description: impl Into<String>) -> Self {
        Self::new("invalid_client", description)
    }
    pub fn invalid_grant(description: impl Into<String>) -> Self {
        Self::new("invalid_grant", description)
    }
    pub fn unsupported_grant_type(grant: &str) -> Self {
        Self::new(
            "unsupported_grant_type",
            format!(
                "grant_type '{grant}' is not supported: use authorization_code or refresh_token"
            ),
        )
    }
    pub fn invalid_scope(description: impl Into<String>) -> Self {
        Self::new("invalid_scope", description)
    }
    /// The shared store (replay protection) did not answer: the client may retry.
    pub fn temporarily_unavailable() -> Self {
        Self::new(
            "temporarily_unavailable",
            "the server cannot check this grant right now; try again shortly",
        )
    }
    pub fn server_error() -> Self {
        Self::new("server_error", "the server could not complete the request")
    }

    fn status(&self) -> StatusCode {
        match self.code {
            "invalid_client" => StatusCode::UNAUTHORIZED,
            "server_error" => StatusCode::INTERNAL_SERVER_ERROR,
            "temporarily_unavailable" => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = json!({ "error": self.code, "error_description": self.description });
        let mut response = (status, Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        if status == StatusCode::UNAUTHORIZED {
            let challenge = if self.basic_challenge {
                "Basic realm=\"mail_mcp\""
            } else {
                "Bearer realm=\"mail_mcp\""
            };
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        response
    }
}
