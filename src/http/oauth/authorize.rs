//! `GET /oauth/authorize`: checks the client and its redirect URI before anything else (a
//! bad one gets an error page, never a redirect), then the request (response_type, PKCE
//! S256, scope; errors go back to the client's redirect URI), then shows the login page
//! carrying the OAuth parameters in a sealed, short-lived form token.

use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use url::Url;

use super::{form_guard, pkce, scope};
use crate::http::pages::{self, LoginPage, LoginValues, PolicyOption, ProviderOption};
use crate::oauth_clients;
use crate::state::AppState;
use crate::token::{ClientClaims, FormClaims, Purpose};

/// The query of an authorization request (RFC 6749 §4.1.1, RFC 7636, RFC 8707).
#[derive(Debug, Deserialize, Default)]
pub struct AuthorizeQuery {
    pub response_type: Option<String>,
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub state: Option<String>,
    pub scope: Option<String>,
    pub resource: Option<String>,
}

#[tracing::instrument(skip_all)]
pub async fn authorize(
    State(state): State<AppState>,
    Query(query): Query<AuthorizeQuery>,
) -> Response {
    let (client, redirect_uri) = match check_client(&state, &query).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let form = match check_request(&state, &query, &redirect_uri) {
        Ok(form) => form,
        Err(redirect) => return redirect,
    };
    if client.mail.is_none()
        && state.config.providers.is_empty()
        && !state.config.allow_custom_mail_servers
    {
        return error_page(
            &state,
            "No mail provider is set up",
            "This app registered itself, and this server offers no mail providers to choose from. \
             The server's operator must set PROVIDERS_FILE.",
        );
    }
    let form_token =
        match state
            .tokens
            .seal(Purpose::Form, &form, Some(state.config.lifetimes.form))
        {
            Ok(token) => token,
            Err(error) => {
                tracing::error!(%error, "sealing a form token failed");
                return error_page(&state, "Something went wrong", "Please try again.");
            }
        };
    // The page starts on the default policy: ask before anything is sent or destroyed.
    let values = LoginValues {
        same_smtp: true,
        ..LoginValues::default()
    };
    let mut response = login_page(
        &state,
        &client,
        &form,
        form_token.clone(),
        values,
        Vec::new(),
        StatusCode::OK,
    );
    let max_age = state.config.lifetimes.form.as_secs();
    response.headers_mut().insert(
        header::SET_COOKIE,
        form_guard::set_cookie(&state.config, &form_token, max_age),
    );
    response
}

/// Opens the client_id and finds the redirect URI it allows; anything wrong is a page.
async fn check_client(
    state: &AppState,
    query: &AuthorizeQuery,
) -> Result<(ClientClaims, String), Response> {
    let Some(client_id) = query.client_id.as_deref() else {
        return Err(error_page(
            state,
            "Missing client",
            "The request names no client_id.",
        ));
    };
    let client = state
        .oauth_clients
        .resolve(client_id)
        .await
        .map_err(|reason| {
            tracing::info!(%reason, "authorize with an unusable client_id");
            error_page(
                state,
                "Unknown client",
                &format!("This app's client is not valid for this server: {reason}."),
            )
        })?;
    let redirect_uri = match query.redirect_uri.as_deref() {
        Some(uri) => uri.to_string(),
        None if client.redirect_uris.len() == 1 => client.redirect_uris[0].clone(),
        None => {
            return Err(error_page(
                state,
                "Missing redirect URI",
                "The request names no redirect_uri.",
            ));
        }
    };
    if oauth_clients::allowed_redirect(&client, &redirect_uri).is_none() {
        return Err(error_page(
            state,
            "Redirect URI not allowed",
            "The app asked to be sent back to an address this client did not register.",
        ));
    }
    Ok((client, redirect_uri))
}

/// Checks the rest of the request; errors are redirected to the (trusted) redirect URI.
fn check_request(
    state: &AppState,
    query: &AuthorizeQuery,
    redirect_uri: &str,
) -> Result<FormClaims, Response> {
    let fail = |code: &str, description: &str| {
        redirect_error(
            state,
            redirect_uri,
            query.state.as_deref(),
            code,
            description,
        )
    };
    if query.response_type.as_deref() != Some("code") {
        return Err(fail(
            "unsupported_response_type",
            "response_type must be code",
        ));
    }
    let challenge = query.code_challenge.as_deref().unwrap_or_default();
    if query.code_challenge_method.as_deref() != Some("S256")
        || !pkce::is_valid_challenge(challenge)
    {
        return Err(fail(
            "invalid_request",
            "PKCE is required: code_challenge with code_challenge_method=S256",
        ));
    }
    if let Some(resource) = query.resource.as_deref()
        && resource.trim_end_matches('/') != state.config.resource()
    {
        return Err(fail(
            "invalid_target",
            "resource is not this server's MCP endpoint",
        ));
    }
    let scope = scope::normalise(query.scope.as_deref())
        .map_err(|unknown| fail("invalid_scope", &format!("unknown scope '{unknown}'")))?;
    Ok(FormClaims {
        client_id: query.client_id.clone().unwrap_or_default(),
        redirect_uri: redirect_uri.to_string(),
        state: query.state.clone(),
        code_challenge: challenge.to_string(),
        scope,
        resource: query.resource.clone(),
    })
}

/// A 302 to the client's redirect URI with `error`, `state` and `iss` (RFC 9207).
pub fn redirect_error(
    state: &AppState,
    redirect_uri: &str,
    oauth_state: Option<&str>,
    code: &str,
    description: &str,
) -> Response {
    let mut params = vec![("error", code), ("error_description", description)];
    if let Some(s) = oauth_state {
        params.push(("state", s));
    }
    params.push(("iss", state.config.base_url.as_str()));
    redirect_with(redirect_uri, &params)
}

/// A 302 to `redirect_uri` with `params` appended to its query.
pub fn redirect_with(redirect_uri: &str, params: &[(&str, &str)]) -> Response {
    let Ok(mut url) = Url::parse(redirect_uri) else {
        return (StatusCode::BAD_REQUEST, "invalid redirect_uri").into_response();
    };
    url.query_pairs_mut().extend_pairs(params);
    let mut response = Redirect::to(url.as_str()).into_response();
    *response.status_mut() = StatusCode::FOUND;
    response
}

/// The error page in this server's style.
pub fn error_page(state: &AppState, heading: &str, message: &str) -> Response {
    pages::error_page(
        state.config.url("/oauth/style.css"),
        StatusCode::BAD_REQUEST,
        heading,
        message,
        "Start the connection again from your app. If this keeps happening, tell the app's or this server's operator.",
    )
}

/// The host of a client_id that is a metadata document URL: the site that names the
/// client, shown on the page so a borrowed name cannot hide who is asking.
fn document_host(client_id: &str) -> Option<String> {
    if !oauth_clients::metadata_document::is_document_url(client_id) {
        return None;
    }
    Url::parse(client_id).ok()?.host_str().map(str::to_string)
}

/// Renders the login page for `form`; used for the first view and after a failed login.
pub fn login_page(
    state: &AppState,
    client: &ClientClaims,
    form: &FormClaims,
    form_token: String,
    values: LoginValues,
    errors: Vec<String>,
    status: StatusCode,
) -> Response {
    let redirect = Url::parse(&form.redirect_uri).ok();
    let redirect_origin = redirect
        .as_ref()
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default();
    let redirect_host = redirect
        .as_ref()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_default();
    let mail = client.mail.as_ref();
    let option = |p: &crate::providers::Provider| ProviderOption {
        id: p.id.clone(),
        name: p.name.clone(),
        hint: p.hint.clone().unwrap_or_default(),
    };
    let all = state.config.providers.all();
    let (oauth, password): (Vec<_>, Vec<_>) = all.iter().partition(|p| p.oauth.is_some());
    let providers: Vec<ProviderOption> = password.into_iter().map(option).collect();
    let oauth_providers: Vec<ProviderOption> = match mail {
        Some(_) => Vec::new(),
        None => oauth.iter().copied().map(option).collect(),
    };
    // CSP form-action also covers the redirect a form's POST leads to: the buttons'
    // redirect to each provider's authorization endpoint.
    let mut form_targets = vec![redirect_origin];
    form_targets.extend(oauth.iter().filter_map(|p| {
        let endpoint = &p.oauth.as_ref()?.authorization_endpoint;
        Some(Url::parse(endpoint).ok()?.origin().ascii_serialization())
    }));
    let password_form =
        mail.is_some() || !providers.is_empty() || state.config.allow_custom_mail_servers;
    let page = LoginPage {
        css_url: state.config.url("/oauth/style.css"),
        action_url: state.config.url("/oauth/authorize"),
        client_name: client
            .name
            .clone()
            .unwrap_or_else(|| "An MCP client".to_string()),
        client_host: document_host(&form.client_id).unwrap_or_default(),
        redirect_host,
        fixed_servers: mail.is_some(),
        imap_server: mail.map(|m| m.imap.to_string()).unwrap_or_default(),
        smtp_server: mail.map(|m| m.smtp.to_string()).unwrap_or_default(),
        providers,
        oauth_providers,
        provider_start_url: state.config.url("/oauth/provider/start"),
        password_form,
        allow_custom: state.config.allow_custom_mail_servers,
        offer_send: scope::has(&form.scope, scope::SEND),
        policy_options: PolicyOption::all(),
        form_token,
        values,
        errors,
    };
    pages::render(&page, status, &form_targets)
}
