//! `POST /oauth/token`: the authorization_code grant (client authenticated by
//! client_secret_post or client_secret_basic, code bound to client, redirect URI and PKCE
//! verifier) and the refresh_token grant (bound to the client; returns a new pair).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde_json::json;

use super::{OAuthError, pkce, scope};
use crate::app::AppState;
use crate::clients;
use crate::mail::MailAccount;
use crate::store::RefreshVerdict;
use crate::token::{
    AccessClaims, AuthMethod, CodeClaims, Purpose, RefreshClaims, client_fingerprint,
};

/// The form body of a token request.
#[derive(Deserialize, Default)]
pub struct TokenRequest {
    pub grant_type: Option<String>,
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub refresh_token: Option<String>,
    pub resource: Option<String>,
    pub scope: Option<String>,
}

/// A client that proved who it is.
struct AuthenticatedClient {
    fingerprint: String,
}

#[tracing::instrument(skip_all, fields(grant_type))]
pub async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    axum::Form(request): axum::Form<TokenRequest>,
) -> Response {
    let grant_type = request.grant_type.clone().unwrap_or_default();
    tracing::Span::current().record("grant_type", grant_type.as_str());
    let result = async {
        let client = authenticate_client(&state, &headers, &request).await?;
        match grant_type.as_str() {
            "authorization_code" => exchange_code(&state, &client, &request).await,
            "refresh_token" => refresh(&state, &client, &request).await,
            "" => Err(OAuthError::invalid_request("grant_type is required")),
            other => Err(OAuthError::unsupported_grant_type(other)),
        }
    }
    .await;
    match result {
        Ok(response) => response,
        Err(error) => {
            tracing::info!(error = error.code, description = %error.description, "token request refused");
            error.into_response()
        }
    }
}

/// Client credentials from the Basic header or the form (not both), then checks them.
async fn authenticate_client(
    state: &AppState,
    headers: &HeaderMap,
    request: &TokenRequest,
) -> Result<AuthenticatedClient, OAuthError> {
    let basic = basic_credentials(headers)?;
    let used_basic = basic.is_some();
    let (client_id, secret) = match basic {
        Some((id, secret)) => {
            if request.client_secret.is_some() {
                return Err(OAuthError::invalid_request(
                    "use one client authentication method, not two",
                ));
            }
            (id, Some(secret))
        }
        None => (
            request
                .client_id
                .clone()
                .ok_or_else(|| OAuthError::invalid_client("client_id is required"))?,
            request.client_secret.clone(),
        ),
    };
    let unauthorised = |description: &str| {
        let mut error = OAuthError::invalid_client(description);
        error.basic_challenge = used_basic;
        error
    };
    let client = state.clients.resolve(&client_id).await.map_err(|reason| {
        tracing::debug!(%reason, "token request from an unknown client");
        unauthorised("unknown client")
    })?;
    let public = client.auth_method == AuthMethod::None && client.secret_hash.is_none();
    match (public, secret) {
        (true, None) => {}
        (true, Some(_)) => {
            return Err(unauthorised(
                "this is a public client: send no client_secret",
            ));
        }
        (false, None) => {
            return Err(unauthorised(
                "this client must authenticate with its client_secret",
            ));
        }
        (false, Some(secret)) => {
            if !clients::secret_matches(state.tokens.keyring(), &client_id, &client, &secret) {
                return Err(unauthorised("client authentication failed"));
            }
        }
    }
    Ok(AuthenticatedClient {
        fingerprint: client_fingerprint(&client_id),
    })
}

/// `Authorization: Basic` credentials (form-urlencoded id and secret, RFC 6749 §2.3.1).
fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, OAuthError> {
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return Ok(None);
    };
    let Some(encoded) = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))
    else {
        return Ok(None);
    };
    let malformed = || OAuthError::invalid_client("malformed Basic credentials");
    let decoded = STANDARD.decode(encoded.trim()).map_err(|_| malformed())?;
    let text = String::from_utf8(decoded).map_err(|_| malformed())?;
    let (id, secret) = text.split_once(':').ok_or_else(malformed)?;
    let unescape = |s: &str| {
        url::form_urlencoded::parse(format!("v={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Ok(Some((unescape(id), unescape(secret))))
}

async fn exchange_code(
    state: &AppState,
    client: &AuthenticatedClient,
    request: &TokenRequest,
) -> Result<Response, OAuthError> {
    let code = request
        .code
        .as_deref()
        .ok_or_else(|| OAuthError::invalid_request("code is required"))?;
    let opened = state
        .tokens
        .open_with_id::<CodeClaims>(Purpose::Code, code)
        .map_err(|error| {
            tracing::debug!(%error, "unusable authorization code");
            OAuthError::invalid_grant("the authorization code is invalid or expired")
        })?;
    let claims = opened.claims;
    if claims.client != client.fingerprint {
        return Err(OAuthError::invalid_grant(
            "the authorization code was issued to another client",
        ));
    }
    if request.redirect_uri.as_deref() != Some(claims.redirect_uri.as_str()) {
        return Err(OAuthError::invalid_grant(
            "redirect_uri does not match the authorization request",
        ));
    }
    let verifier = request.code_verifier.as_deref().unwrap_or_default();
    if !pkce::verify_s256(verifier, &claims.code_challenge) {
        return Err(OAuthError::invalid_grant(
            "code_verifier does not match the code_challenge",
        ));
    }
    check_resource(state, request.resource.as_deref())?;
    let first_use = state
        .store
        .consume_once(&format!("code:{}", opened.jti), state.config.lifetimes.code)
        .await
        .map_err(store_unavailable)?;
    if !first_use {
        tracing::warn!("an authorization code was presented twice");
        return Err(OAuthError::invalid_grant(
            "the authorization code was already used",
        ));
    }
    issue_tokens(
        state,
        &client.fingerprint,
        &claims.scope,
        claims.account,
        opened.jti,
    )
}

fn store_unavailable(error: crate::store::StoreError) -> OAuthError {
    tracing::error!(%error, "the shared store did not answer");
    OAuthError::temporarily_unavailable()
}

async fn refresh(
    state: &AppState,
    client: &AuthenticatedClient,
    request: &TokenRequest,
) -> Result<Response, OAuthError> {
    let token = request
        .refresh_token
        .as_deref()
        .ok_or_else(|| OAuthError::invalid_request("refresh_token is required"))?;
    let opened = state
        .tokens
        .open_with_id::<RefreshClaims>(Purpose::Refresh, token)
        .map_err(|error| {
            tracing::debug!(%error, "unusable refresh token");
            OAuthError::invalid_grant("the refresh token is invalid or expired")
        })?;
    let claims = opened.claims;
    if claims.client != client.fingerprint {
        return Err(OAuthError::invalid_grant(
            "the refresh token was issued to another client",
        ));
    }
    check_resource(state, request.resource.as_deref())?;
    let scope = narrowed_scope(&claims.scope, request.scope.as_deref())?;
    let verdict = state
        .store
        .rotate_refresh(&claims.family, &opened.jti, state.config.lifetimes.refresh)
        .await
        .map_err(store_unavailable)?;
    match verdict {
        RefreshVerdict::Fresh => {}
        RefreshVerdict::Reused => {
            tracing::warn!("a refresh token was reused: its whole family is revoked");
            return Err(OAuthError::invalid_grant(
                "the refresh token was already used; every token of this sign-in is revoked: sign in again",
            ));
        }
        RefreshVerdict::FamilyRevoked => {
            return Err(OAuthError::invalid_grant(
                "this sign-in was revoked after a refresh token was reused: sign in again",
            ));
        }
    }
    issue_tokens(
        state,
        &client.fingerprint,
        &scope,
        claims.account,
        claims.family,
    )
}

/// A refresh may ask for fewer scopes than were granted, never more.
fn narrowed_scope(granted: &str, requested: Option<&str>) -> Result<String, OAuthError> {
    let Some(requested) = requested.filter(|s| !s.trim().is_empty()) else {
        return Ok(granted.to_string());
    };
    let requested = scope::normalise(Some(requested))
        .map_err(|unknown| OAuthError::invalid_scope(format!("unknown scope '{unknown}'")))?;
    if let Some(extra) = requested
        .split_ascii_whitespace()
        .find(|s| !scope::has(granted, s))
    {
        return Err(OAuthError::invalid_scope(format!(
            "scope '{extra}' was not granted"
        )));
    }
    Ok(requested)
}

/// RFC 8707: a `resource` given must be this server's MCP endpoint.
fn check_resource(state: &AppState, resource: Option<&str>) -> Result<(), OAuthError> {
    match resource {
        Some(r) if r.trim_end_matches('/') != state.config.resource() => Err(OAuthError {
            code: "invalid_target",
            description: "resource is not this server's MCP endpoint".into(),
            basic_challenge: false,
        }),
        _ => Ok(()),
    }
}

/// Seals an access token and a refresh token of the same grant (rotated on each refresh).
fn issue_tokens(
    state: &AppState,
    client: &str,
    scope: &str,
    account: MailAccount,
    family: String,
) -> Result<Response, OAuthError> {
    let lifetimes = &state.config.lifetimes;
    let access = AccessClaims {
        client: client.to_string(),
        scope: scope.to_string(),
        account: account.clone(),
    };
    let access_token = state
        .tokens
        .seal(Purpose::Access, &access, Some(lifetimes.access))
        .map_err(|_| OAuthError::server_error())?;
    let mut body = json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": lifetimes.access.as_secs(),
        "scope": scope,
    });
    {
        let refresh = RefreshClaims {
            client: client.to_string(),
            scope: scope.to_string(),
            account,
            family,
        };
        let refresh_token = state
            .tokens
            .seal(Purpose::Refresh, &refresh, Some(lifetimes.refresh))
            .map_err(|_| OAuthError::server_error())?;
        body["refresh_token"] = refresh_token.into();
    }
    let mut response = Json(body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    Ok(response)
}
