//! Sign-in at a mail provider that uses OAuth 2.0 (a `[provider.oauth]` block), from the
//! login page's "Sign in with <provider>" button:
//!
//! - `POST /oauth/provider/start` (the button's form, bound to this browser like the
//!   password form) seals our authorization request, the provider's PKCE verifier, its
//!   `state` and an OIDC `nonce` into a short-lived `HttpOnly` cookie (`SameSite=Lax`, so
//!   it comes back on the provider's top-level redirect) and sends the browser to the
//!   provider with PKCE S256.
//! - `GET /oauth/provider/callback` takes the provider's answer only with that cookie and
//!   the same `state`, exchanges the code, learns the mailbox address from the provider
//!   (verified id_token or userinfo; nothing the person typed), checks IMAP and SMTP live
//!   with the fresh access token and then issues our authorization code exactly as a
//!   password login does, with the provider's refresh token sealed in it.

use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::Rng;
use rand::distr::Alphanumeric;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::authorize::{error_page, redirect_error};
use super::login::{Grant, LoginForm, issue_code, login_errors, open_form, sealed_policy};
use super::scope;
use crate::mail::{MailAccount, ServerLogin};
use crate::providers::{AddressSource, Provider};
use crate::state::AppState;
use crate::token::{Purpose, UpstreamGrant, UpstreamRequestClaims};
use crate::upstream::{TokenAnswer, Upstream, UpstreamError};

const COOKIE: &str = "mail_mcp_upstream";

/// What the login page's form posts when a provider button is pressed: the form token,
/// the button's provider and the policy chosen. The page has one form for every way in,
/// so the password form's fields come along too and are ignored (never read or logged).
#[derive(Deserialize, Default)]
pub struct StartForm {
    #[serde(default)]
    pub form_token: String,
    /// The pressed button's provider id.
    #[serde(default)]
    pub oauth_provider: String,
    /// The [`SendPolicy`](crate::token::SendPolicy) chosen, by its form name.
    #[serde(default)]
    pub policy: String,
}

/// `POST /oauth/provider/start`.
#[tracing::instrument(skip_all)]
pub async fn start(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<StartForm>,
) -> Response {
    let login_form = LoginForm {
        form_token: form.form_token.clone(),
        ..LoginForm::default()
    };
    let (form_claims, client) = match open_form(&state, &headers, &login_form).await {
        Ok(opened) => opened,
        Err(response) => return response,
    };
    if client.mail.is_some() {
        return error_page(
            &state,
            "This app names its own mail servers",
            "Sign in with the password form of this page.",
        );
    }
    let Ok((_, oauth)) = state.upstream.provider(&form.oauth_provider) else {
        return error_page(
            &state,
            "Unknown mail provider",
            "This server does not offer that provider's sign-in.",
        );
    };
    let verifier = random_string(64);
    let policy = sealed_policy(&form_claims.scope, &form.policy);
    let request = UpstreamRequestClaims {
        form: form_claims,
        provider: form.oauth_provider.clone(),
        state: random_string(32),
        verifier: verifier.clone(),
        nonce: random_string(32),
        policy,
    };
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let url =
        match state
            .upstream
            .authorization_url(oauth, &request.state, &challenge, &request.nonce)
        {
            Ok(url) => url,
            Err(error) => {
                tracing::error!(%error, "building the provider's authorization URL failed");
                return error_page(&state, "Something went wrong", "Please try again.");
            }
        };
    let lifetime = state.config.lifetimes.form;
    let sealed = match state
        .tokens
        .seal(Purpose::Upstream, &request, Some(lifetime))
    {
        Ok(sealed) => sealed,
        Err(error) => {
            tracing::error!(%error, "sealing a provider sign-in failed");
            return error_page(&state, "Something went wrong", "Please try again.");
        }
    };
    let mut response = Redirect::to(url.as_str()).into_response();
    *response.status_mut() = axum::http::StatusCode::FOUND;
    if let Ok(cookie) = set_cookie(&state, &sealed, lifetime.as_secs()) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

/// The provider's redirect back (RFC 6749 §4.1.2; RFC 9207 `iss`, checked when sent).
#[derive(Deserialize, Default)]
pub struct CallbackQuery {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    pub iss: Option<String>,
}

/// `GET /oauth/provider/callback`.
#[tracing::instrument(skip_all)]
pub async fn callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<CallbackQuery>,
) -> Response {
    let request = match open_request(&state, &headers, &query) {
        Ok(request) => request,
        Err(response) => return response,
    };
    let mut response = finish(&state, &request, &query).await;
    if let Ok(cleared) = clear_cookie(&state) {
        response.headers_mut().append(header::SET_COOKIE, cleared);
    }
    response
}

/// The sealed sign-in of this browser, when its `state` is the one the provider sent back.
#[allow(clippy::result_large_err)]
fn open_request(
    state: &AppState,
    headers: &HeaderMap,
    query: &CallbackQuery,
) -> Result<UpstreamRequestClaims, Response> {
    let expired = || {
        error_page(
            state,
            "This sign-in has expired",
            "Sign-in at your mail provider must finish within a few minutes, in the browser that started it.",
        )
    };
    let sealed = cookie_value(headers).ok_or_else(|| {
        tracing::info!("provider callback without its sign-in cookie");
        expired()
    })?;
    let request: UpstreamRequestClaims =
        state
            .tokens
            .open(Purpose::Upstream, &sealed)
            .map_err(|error| {
                tracing::debug!(%error, "provider callback with an unusable sign-in cookie");
                expired()
            })?;
    let returned = query.state.as_deref().unwrap_or_default();
    if !bool::from(returned.as_bytes().ct_eq(request.state.as_bytes())) {
        tracing::info!("provider callback with another state than this browser's sign-in");
        return Err(expired());
    }
    Ok(request)
}

/// Exchanges the code, checks the mailbox, and redirects to our client with our code.
async fn finish(
    state: &AppState,
    request: &UpstreamRequestClaims,
    query: &CallbackQuery,
) -> Response {
    let form = &request.form;
    if let Some(error) = query.error.as_deref() {
        tracing::info!(error, "the provider did not grant access");
        return redirect_error(
            state,
            &form.redirect_uri,
            form.state.as_deref(),
            "access_denied",
            "access was not granted at the mail provider",
        );
    }
    let Some(code) = query.code.as_deref() else {
        return error_page(
            state,
            "The mail provider sent no code",
            "Start the sign-in again.",
        );
    };
    if !issuer_matches(&state.upstream, &request.provider, query.iss.as_deref()) {
        tracing::warn!("provider callback naming another issuer (RFC 9207)");
        return error_page(
            state,
            "The answer came from another provider",
            "Start the sign-in again.",
        );
    }
    let signed_in = sign_in_upstream(
        &state.upstream,
        &request.provider,
        code,
        &request.verifier,
        &request.nonce,
    );
    let (provider, signed_in) = match signed_in.await {
        Ok(found) => found,
        Err(error) => {
            tracing::info!(%error, "sign-in at the mail provider failed");
            return error_page(
                state,
                "Sign-in at your mail provider failed",
                &error.to_string(),
            );
        }
    };
    let mut account = account_for(provider, &signed_in.address, &signed_in.answer.access_token);
    let check = match state
        .login_budget
        .verify(&state.imap, &state.smtp, &account)
        .await
    {
        Ok(check) => check,
        Err(busy) => {
            tracing::warn!(%busy, "login check budget spent");
            state.metrics.login(crate::metrics::LoginOutcome::Limited);
            return error_page(
                state,
                "This server is busy",
                "Many sign-ins are being checked right now: wait a moment and try again.",
            );
        }
    };
    state.metrics.login(super::login::login_outcome(&check));
    if !check.is_ok() {
        tracing::info!("mail servers refused the provider's access token");
        return error_page(
            state,
            "Your mailbox could not be opened",
            &login_errors(&check).join(" "),
        );
    }
    state
        .upstream
        .remember(&signed_in.refresh_token, &signed_in.answer)
        .await;
    account.imap.password.clear();
    account.smtp.password.clear();
    let grant = UpstreamGrant {
        provider: request.provider.clone(),
        refresh_token: signed_in.refresh_token,
    };
    let grant = Grant {
        scope: scope::granted(&form.scope, request.policy),
        policy: request.policy,
        account,
        upstream: Some(grant),
    };
    issue_code(state, form, grant)
}

/// RFC 9207: an `iss` in the callback must be the provider's issuer (a mix-up defence),
/// where the issuer is known exactly (an id_token issuer without `{tenantid}`).
pub(crate) fn issuer_matches(upstream: &Upstream, provider: &str, iss: Option<&str>) -> bool {
    let Some(iss) = iss else {
        return true;
    };
    let Ok((_, oauth)) = upstream.provider(provider) else {
        return false;
    };
    match &oauth.address {
        AddressSource::IdToken { issuer, .. } if !issuer.contains("{tenantid}") => {
            iss.trim_end_matches('/') == issuer.trim_end_matches('/')
        }
        _ => true,
    }
}

/// What the provider's code gave.
pub(crate) struct SignedIn {
    pub answer: TokenAnswer,
    pub refresh_token: String,
    pub address: String,
}

/// Exchanges the code of `provider_id` (with its PKCE `verifier`) and learns the mailbox
/// address from the provider (the id_token checked against `nonce`, or userinfo). Also
/// used by `mail_mcp token --provider`.
pub(crate) async fn sign_in_upstream<'a>(
    upstream: &'a Upstream,
    provider_id: &str,
    code: &str,
    verifier: &str,
    nonce: &str,
) -> Result<(&'a Provider, SignedIn), UpstreamError> {
    let (provider, oauth) = upstream.provider(provider_id)?;
    let answer = upstream.exchange_code(oauth, code, verifier).await?;
    let refresh_token = answer.refresh_token.clone().ok_or_else(|| {
        UpstreamError::Identity(
            "it gave no refresh token (the operator must ask for offline access)".into(),
        )
    })?;
    let address = upstream.address(oauth, &answer, nonce).await?;
    Ok((
        provider,
        SignedIn {
            answer,
            refresh_token,
            address,
        },
    ))
}

/// The account of `address` at `provider`, signing in with `access_token`.
pub(crate) fn account_for(provider: &Provider, address: &str, access_token: &str) -> MailAccount {
    let endpoints = provider.endpoints();
    let login = |endpoint| ServerLogin {
        endpoint,
        username: address.to_string(),
        password: access_token.to_string(),
    };
    MailAccount {
        email: address.to_string(),
        display_name: None,
        identities: Vec::new(),
        imap: login(endpoints.imap),
        smtp: login(endpoints.smtp),
    }
}

pub(crate) fn random_string(len: usize) -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

fn cookie_path(state: &AppState) -> String {
    let path = url::Url::parse(&state.config.base_url)
        .map(|u| u.path().trim_end_matches('/').to_string())
        .unwrap_or_default();
    format!("{path}/oauth/provider")
}

fn set_cookie(
    state: &AppState,
    value: &str,
    max_age: u64,
) -> Result<HeaderValue, header::InvalidHeaderValue> {
    let secure = if state.config.base_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{COOKIE}={value}; Path={}; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}",
        cookie_path(state)
    ))
}

fn clear_cookie(state: &AppState) -> Result<HeaderValue, header::InvalidHeaderValue> {
    HeaderValue::from_str(&format!(
        "{COOKIE}=; Path={}; Max-Age=0; HttpOnly; SameSite=Lax",
        cookie_path(state)
    ))
}

fn cookie_value(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::SendPolicy;

    /// The page's one form, posted by a provider button, carries the password form's
    /// fields too (a `provider` select among them): they are ignored, the button's
    /// provider and the policy are read, and an unknown policy is "ask".
    #[test]
    fn the_start_form_reads_the_button_and_the_policy() {
        let full = "mail.read mail.send offline_access";
        let form: StartForm = serde_urlencoded::from_str(
            "form_token=t&policy=drafts_only&provider=&email=a%40b.co&password=x\
             &oauth_provider=gmail-oauth",
        )
        .unwrap();
        assert_eq!(form.oauth_provider, "gmail-oauth");
        assert_eq!(sealed_policy(full, &form.policy), SendPolicy::DraftsOnly);
        let form: StartForm =
            serde_urlencoded::from_str("form_token=t&oauth_provider=g&policy=yes").unwrap();
        assert_eq!(sealed_policy(full, &form.policy), SendPolicy::Ask);
        assert_eq!(
            sealed_policy("mail.read", "send_freely"),
            SendPolicy::ReadOnly
        );
    }
}
