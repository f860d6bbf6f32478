//! The OAuth 2.1 authorization server: discovery metadata, the authorize endpoint with its
//! login page, sign-in at OAuth mail providers, and the token endpoint. One endpoint per file; shared rules (PKCE, errors,
//! the login-form guard, scopes) in their own files.

pub mod authorize;
pub mod error;
pub mod form_guard;
pub mod login;
pub mod mail_choice;
pub mod metadata;
pub mod pkce;
pub mod provider_signin;
pub mod register;
pub mod scope;
pub mod token_endpoint;

use axum::Router;
use axum::routing::{get, post};

use crate::http::pages;
use crate::state::AppState;

pub use error::{ErrorCode, OAuthError};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/.well-known/oauth-protected-resource",
            get(metadata::protected_resource),
        )
        .route(
            "/.well-known/oauth-protected-resource/mcp",
            get(metadata::protected_resource),
        )
        .route(
            "/.well-known/oauth-protected-resource/{*resource_path}",
            get(metadata::protected_resource),
        )
        .route(
            "/.well-known/oauth-authorization-server",
            get(metadata::authorization_server),
        )
        // RFC 8414 §3.1: an issuer with a path (BASE_URL behind a prefix) puts it after
        // the well-known name; OpenID-style discovery is asked for too by some clients.
        .route(
            "/.well-known/oauth-authorization-server/{*issuer_path}",
            get(metadata::authorization_server),
        )
        .route(
            "/.well-known/openid-configuration",
            get(metadata::authorization_server),
        )
        .route("/oauth/register", post(register::register))
        .route(
            "/oauth/authorize",
            get(authorize::authorize).post(login::login),
        )
        .route("/oauth/token", post(token_endpoint::grant))
        .route("/oauth/provider/start", post(provider_signin::start))
        .route("/oauth/provider/callback", get(provider_signin::callback))
        .route("/oauth/style.css", get(pages::stylesheet))
}
