//! `POST /oauth/register`: RFC 7591 dynamic client registration. The metadata is checked
//! against the redirect policy and sealed into the client_id; 201 with the client, or 400
//! with `invalid_redirect_uri` / `invalid_client_metadata`.

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::{ErrorCode, OAuthError};
use crate::oauth_clients::registration::{self, RegistrationError, RegistrationRequest};
use crate::state::AppState;

#[tracing::instrument(skip_all)]
pub async fn register(
    State(state): State<AppState>,
    body: Result<Json<RegistrationRequest>, JsonRejection>,
) -> Response {
    let Ok(Json(request)) = body else {
        return error(
            ErrorCode::InvalidClientMetadata,
            "the body must be a JSON object of client metadata",
        );
    };
    match registration::register(&state.tokens, &state.config.redirect_policy, request) {
        Ok(registered) => {
            tracing::info!(method = %registered.token_endpoint_auth_method, "client registered");
            let mut response = (StatusCode::CREATED, Json(registered)).into_response();
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(RegistrationError::InvalidRedirectUri(description)) => {
            error(ErrorCode::InvalidRedirectUri, &description)
        }
        Err(RegistrationError::InvalidClientMetadata(description)) => {
            error(ErrorCode::InvalidClientMetadata, &description)
        }
        Err(RegistrationError::Server) => OAuthError::server_error().into_response(),
    }
}

fn error(code: ErrorCode, description: &str) -> Response {
    OAuthError::new(code, description).into_response()
}
