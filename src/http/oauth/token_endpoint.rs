//! `POST /oauth/token`: the authorization_code grant (client authenticated by
//! client_secret_post or client_secret_basic, code bound to client, redirect URI and PKCE
//! verifier) and the refresh_token grant (bound to the client; returns a new pair).
//!
//! Replay protection: a code works once; a replayed code revokes the refresh family its
//! first exchange started. A refresh family holds one current refresh token (by digest):
//! presenting any other token of the family revokes it. Access tokens carry their family,
//! and the MCP endpoint refuses those of a revoked one (see `http::mcp::auth`). A refresh token is issued only
//! when the granted scope holds `offline_access` (which a request without a scope gets).
//! A sign-in at an OAuth mail provider refreshes the provider's grant with ours, and seals
//! its rotated refresh token into our new refresh token; a grant the provider ended is
//! `invalid_grant` here. Every request is counted per client IP and per client; over the limit the answer is
//! 429 `slow_down` with `Retry-After`, before any work is done.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{ErrorCode, OAuthError, pkce, scope};
use crate::http::forwarded;
use crate::mail::MailAccount;
use crate::oauth_clients;
use crate::shared_store::{LimitError, RefreshVerdict, RequestLimiter, StoreError};
use crate::state::AppState;
use crate::token::{
    AccessClaims, AuthMethod, CLOCK_SKEW_LEEWAY_SECS, CodeClaims, Purpose, RefreshClaims,
    SendPolicy, UpstreamGrant, client_fingerprint, unix_now,
};
use crate::upstream::UpstreamError;

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

/// Why a token request is refused: an OAuth error, or a rate limit.
enum Refusal {
    OAuth(OAuthError),
    Limited(LimitError),
}

impl From<OAuthError> for Refusal {
    fn from(error: OAuthError) -> Self {
        Refusal::OAuth(error)
    }
}

impl From<LimitError> for Refusal {
    fn from(error: LimitError) -> Self {
        Refusal::Limited(error)
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::OAuth(error) => {
                tracing::info!(error = error.code.as_str(), description = %error.description, "token request refused");
                error.into_response()
            }
            Refusal::Limited(LimitError::RetryAfter(wait)) => slow_down(wait),
            // The request limiter counts no sign-ins in flight; should it ever, ask for a retry.
            Refusal::Limited(LimitError::Busy) => slow_down(Duration::from_secs(1)),
            Refusal::Limited(LimitError::Store(error)) => store_unavailable(error).into_response(),
        }
    }
}

/// 429 with `Retry-After` and an RFC 6749 error body (`slow_down`, registered for token
/// endpoint responses; clients that do not know it keep their tokens and retry later).
fn slow_down(wait: Duration) -> Response {
    let seconds = wait.as_secs_f64().ceil().max(1.0) as u64;
    tracing::info!(retry_after = seconds, "token request over the rate limit");
    let error = OAuthError {
        code: ErrorCode::SlowDown,
        description: format!("too many token requests; retry in {seconds} s"),
        basic_challenge: false,
    };
    let mut response = error.into_response();
    *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    response
}

#[tracing::instrument(skip_all, fields(grant_type))]
pub async fn grant(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    axum::Form(request): axum::Form<TokenRequest>,
) -> Response {
    let grant_type = request.grant_type.clone().unwrap_or_default();
    tracing::Span::current().record("grant_type", grant_type.as_str());
    let limiter = RequestLimiter::new(state.shared_store.clone(), state.config.token_limits);
    let result = async {
        limiter
            .count_ip(forwarded::client_ip(
                state.config.trust_forwarded_for,
                peer,
                &headers,
            ))
            .await?;
        let client = authenticate_client(&state, &headers, &request, &limiter).await?;
        let response = match grant_type.as_str() {
            "authorization_code" => exchange_code(&state, &client, &request).await,
            "refresh_token" => refresh(&state, &client, &request).await,
            "" => Err(OAuthError::invalid_request("grant_type is required")),
            other => Err(OAuthError::unsupported_grant_type(other)),
        };
        Ok::<_, Refusal>(response?)
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

/// Client credentials from the Basic header or the form (not both), then checks them.
async fn authenticate_client(
    state: &AppState,
    headers: &HeaderMap,
    request: &TokenRequest,
    limiter: &RequestLimiter,
) -> Result<AuthenticatedClient, Refusal> {
    let basic = basic_credentials(headers)?;
    let used_basic = basic.is_some();
    let (client_id, secret) = match basic {
        Some((id, secret)) => {
            if request.client_secret.is_some() {
                return Err(OAuthError::invalid_request(
                    "use one client authentication method, not two",
                )
                .into());
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
    let client = state
        .oauth_clients
        .resolve(&client_id)
        .await
        .map_err(|reason| {
            tracing::debug!(%reason, "token request from an unknown client");
            unauthorised("unknown client")
        })?;
    limiter.count_client(&client_id).await?;
    let public = client.auth_method == AuthMethod::None && client.secret_hash.is_none();
    match (public, secret) {
        (true, None) => {}
        (true, Some(_)) => {
            return Err(unauthorised("this is a public client: send no client_secret").into());
        }
        (false, None) => {
            return Err(
                unauthorised("this client must authenticate with its client_secret").into(),
            );
        }
        (false, Some(secret)) => {
            if !oauth_clients::secret_matches(state.tokens.keyring(), &client_id, &client, &secret)
            {
                return Err(unauthorised("client authentication failed").into());
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
    let family = opened.jti;
    let first_use = state
        .shared_store
        .consume_once(
            &format!("code:{family}"),
            code_marker_ttl(opened.expires_at),
        )
        .await
        .map_err(store_unavailable)?;
    if !first_use {
        tracing::warn!("an authorization code was presented twice: its tokens are revoked");
        state
            .shared_store
            .revoke_family(&family, state.config.lifetimes.refresh)
            .await
            .map_err(store_unavailable)?;
        return Err(OAuthError::invalid_grant(
            "the authorization code was already used; the tokens issued for it are revoked: sign in again",
        ));
    }
    let issued = seal_tokens(
        state,
        &client.fingerprint,
        &claims.scope,
        Granted {
            account: claims.account,
            policy: claims.policy,
            upstream: claims.upstream,
        },
        &family,
    )?;
    // The family is recorded even without a refresh token, so that a replay of the code
    // can revoke the access token issued here.
    let (current, lifetime) = match &issued.refresh_id {
        Some(current) => (current.as_str(), state.config.lifetimes.refresh),
        None => (NO_REFRESH_TOKEN, state.config.lifetimes.access),
    };
    let started = state
        .shared_store
        .start_family(&family, current, lifetime)
        .await
        .map_err(store_unavailable)?;
    if !started {
        return Err(revoked_sign_in());
    }
    Ok(issued.respond())
}

/// How long a code's single-use marker must live: until the code itself is refused.
/// Computed to the millisecond, so that a replay computes (nearly) the same expiry.
fn code_marker_ttl(expires_at: Option<i64>) -> Duration {
    let refused_from = expires_at
        .unwrap_or_else(unix_now)
        .saturating_add(CLOCK_SKEW_LEEWAY_SECS + 1)
        .saturating_mul(1000);
    let remaining = refused_from.saturating_sub(chrono::Utc::now().timestamp_millis());
    Duration::from_millis(u64::try_from(remaining).unwrap_or(0).max(1000))
}

/// The current token of a family that has no refresh token (a grant without
/// `offline_access`): no [`token_id`] looks like it, so any refresh token presented for the
/// family is stale.
const NO_REFRESH_TOKEN: &str = "!ended";

fn revoked_sign_in() -> OAuthError {
    OAuthError::invalid_grant(
        "this sign-in was revoked after a code or refresh token was reused: sign in again",
    )
}

fn store_unavailable(error: StoreError) -> OAuthError {
    tracing::error!(%error, "the shared store did not answer");
    OAuthError::shared_store_unavailable()
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
    let upstream = match &claims.upstream {
        Some(grant) => Some(refresh_upstream(state, grant).await?),
        None => None,
    };
    let issued = seal_tokens(
        state,
        &client.fingerprint,
        &scope,
        Granted {
            account: claims.account,
            policy: claims.policy,
            upstream,
        },
        &claims.family,
    )?;
    // A refresh narrowed to drop offline_access ends the family: no token matches.
    let next = issued.refresh_id.as_deref().unwrap_or(NO_REFRESH_TOKEN);
    let verdict = state
        .shared_store
        .rotate_refresh(
            &claims.family,
            &token_id(token),
            next,
            state.config.lifetimes.refresh,
        )
        .await
        .map_err(store_unavailable)?;
    match verdict {
        RefreshVerdict::Fresh => Ok(issued.respond()),
        RefreshVerdict::Reused => {
            tracing::warn!("a stale refresh token was presented: its whole family is revoked");
            Err(OAuthError::invalid_grant(
                "the refresh token was already used; every token of this sign-in is revoked: sign in again",
            ))
        }
        RefreshVerdict::FamilyRevoked => Err(revoked_sign_in()),
    }
}

/// Refreshes the mail provider's grant too, so that a sign-in the provider ended ends
/// here, and seals its rotated refresh token into the new tokens.
async fn refresh_upstream(
    state: &AppState,
    grant: &UpstreamGrant,
) -> Result<UpstreamGrant, OAuthError> {
    state
        .upstream
        .rotate(grant)
        .await
        .map_err(|error| match error {
            UpstreamError::InvalidGrant(_) | UpstreamError::UnknownProvider(_) => {
                tracing::info!(%error, "the mail provider refused to refresh a sign-in");
                OAuthError::invalid_grant(error.to_string())
            }
            other => {
                tracing::warn!(error = %other, "the mail provider could not refresh a sign-in");
                OAuthError::temporarily_unavailable()
            }
        })
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
            code: ErrorCode::InvalidTarget,
            description: "resource is not this server's MCP endpoint".into(),
            basic_challenge: false,
        }),
        _ => Ok(()),
    }
}

/// What a family's record holds for a refresh token: a digest of the token itself.
fn token_id(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(&Sha256::digest(token.as_bytes())[..18])
}

/// The tokens of one grant, sealed but not yet sent.
struct Issued {
    body: Value,
    /// [`token_id`] of the refresh token, when one was issued.
    refresh_id: Option<String>,
}

impl Issued {
    fn respond(self) -> Response {
        let mut response = Json(self.body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        response
    }
}

/// What a grant gives: the mail account, the person's policy and, for an OAuth provider,
/// its grant.
struct Granted {
    account: MailAccount,
    policy: SendPolicy,
    upstream: Option<UpstreamGrant>,
}

/// Seals an access token and, when the scope holds `offline_access`, a refresh token of
/// the same family (rotated on each refresh).
fn seal_tokens(
    state: &AppState,
    client: &str,
    scope: &str,
    granted: Granted,
    family: &str,
) -> Result<Issued, OAuthError> {
    let Granted {
        account,
        policy,
        upstream,
    } = granted;
    let lifetimes = &state.config.lifetimes;
    let access = AccessClaims {
        client: client.to_string(),
        scope: scope.to_string(),
        account: account.clone(),
        family: Some(family.to_string()),
        policy,
        upstream: upstream.clone(),
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
    if !scope::has(scope, scope::OFFLINE_ACCESS) {
        return Ok(Issued {
            body,
            refresh_id: None,
        });
    }
    let refresh = RefreshClaims {
        client: client.to_string(),
        scope: scope.to_string(),
        account,
        family: family.to_string(),
        policy,
        upstream,
    };
    let refresh_token = state
        .tokens
        .seal(Purpose::Refresh, &refresh, Some(lifetimes.refresh))
        .map_err(|_| OAuthError::server_error())?;
    let refresh_id = token_id(&refresh_token);
    body["refresh_token"] = refresh_token.into();
    Ok(Issued {
        body,
        refresh_id: Some(refresh_id),
    })
}
