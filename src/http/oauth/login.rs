//! `POST /oauth/authorize`: the login form. Checks the form is this browser's own and
//! unexpired, checks the IMAP and SMTP logins live (in parallel, with timeouts), and on
//! success redirects to the client with a sealed authorization code. A failed login shows
//! the page again with the fields kept (never the password) and one line per failing side.

use axum::Form;
use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use serde::Deserialize;

use super::authorize::{error_page, login_page, redirect_with};
use super::{form_guard, mail_choice, scope};
use crate::app::AppState;
use crate::http::pages::{CustomServerValues, LoginValues};
use crate::mail::{LoginCheck, MailAccount, ServerLogin, verify_login};
use crate::store::{LimitError, LoginLimiter};
use crate::token::{
    ClientClaims, CodeClaims, FormClaims, MailEndpoints, Purpose, client_fingerprint,
};

/// The fields of the login form.
#[derive(Deserialize, Default)]
pub struct LoginForm {
    #[serde(default)]
    pub form_token: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub password: String,
    #[serde(default)]
    pub same_smtp: Option<String>,
    #[serde(default)]
    pub smtp_username: String,
    #[serde(default)]
    pub smtp_password: String,
    #[serde(default)]
    pub allow_send: Option<String>,
    #[serde(default)]
    pub provider: String,
    #[serde(default)]
    pub imap_host: String,
    #[serde(default)]
    pub imap_port: String,
    #[serde(default)]
    pub imap_security: String,
    #[serde(default)]
    pub smtp_host: String,
    #[serde(default)]
    pub smtp_port: String,
    #[serde(default)]
    pub smtp_security: String,
}

impl LoginForm {
    fn values(&self) -> LoginValues {
        LoginValues {
            name: self.name.clone(),
            email: self.email.clone(),
            username: self.username.clone(),
            smtp_username: self.smtp_username.clone(),
            same_smtp: self.same_smtp.is_some(),
            allow_send: self.allow_send.is_some(),
            provider: self.provider.clone(),
            custom: self.custom_servers(),
        }
    }

    fn custom_servers(&self) -> CustomServerValues {
        CustomServerValues {
            imap_host: self.imap_host.clone(),
            imap_port: self.imap_port.clone(),
            imap_security: self.imap_security.clone(),
            smtp_host: self.smtp_host.clone(),
            smtp_port: self.smtp_port.clone(),
            smtp_security: self.smtp_security.clone(),
        }
    }

    /// The scope granted: the requested one, less `mail.send` unless the person allowed it.
    fn granted_scope(&self, requested: &str) -> String {
        if self.allow_send.is_some() {
            return requested.to_string();
        }
        requested
            .split_ascii_whitespace()
            .filter(|s| *s != scope::SEND)
            .collect::<Vec<_>>()
            .join(" ")
    }
}

#[tracing::instrument(skip_all)]
pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let ip = client_ip(&state, peer, &headers);
    let (form_claims, client) = match open_form(&state, &headers, &form).await {
        Ok(opened) => opened,
        Err(response) => return response,
    };
    let retry = |errors: Vec<String>| {
        login_page(
            &state,
            &client,
            &form_claims,
            form.form_token.clone(),
            form.values(),
            errors,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
    };
    let chosen = mail_choice::choose(
        &state.config,
        &client,
        &form.provider,
        form.email.trim(),
        &form.custom_servers(),
    )
    .await;
    let account = match chosen.and_then(|mail| account_from_form(&form, &mail)) {
        Ok(account) => account,
        Err(message) => return retry(vec![message]),
    };
    let limiter = LoginLimiter::new(state.store.clone(), state.config.login_limits);
    let (host, username) = (&account.imap.endpoint.host, &account.imap.username);
    if let Err(limited) = limiter.check(ip, host, username).await {
        return too_many(retry, limited);
    }
    let check = verify_login(&state.imap, &state.smtp, &account).await;
    let mut errors = login_errors(&check);
    if !errors.is_empty() {
        tracing::info!(
            imap_ok = check.imap.is_ok(),
            smtp_ok = check.smtp.is_ok(),
            "mail login refused"
        );
        let refused = [&check.imap, &check.smtp]
            .iter()
            .any(|side| side.as_ref().is_err_and(|e| e.is_auth_failure()));
        if refused && let Err(limited) = limiter.record_failure(ip, host, username).await {
            errors.push(limit_message(&limited));
        }
        return retry(errors);
    }
    let scope = form.granted_scope(&form_claims.scope);
    issue_code(&state, &form_claims, scope, account)
}

/// Opens the form token, checks it belongs to this browser, and re-opens its client.
async fn open_form(
    state: &AppState,
    headers: &HeaderMap,
    form: &LoginForm,
) -> Result<(FormClaims, ClientClaims), Response> {
    let expired = || {
        error_page(
            state,
            "This sign-in page has expired",
            "Sign-in pages are valid for a few minutes and only in the browser that opened them.",
        )
    };
    if !form_guard::same_origin(&state.config, headers)
        || !form_guard::matches(&state.config, headers, &form.form_token)
    {
        tracing::info!("login form posted without its browser binding");
        return Err(expired());
    }
    let claims: FormClaims =
        state
            .tokens
            .open(Purpose::Form, &form.form_token)
            .map_err(|error| {
                tracing::debug!(%error, "login form with an unusable form token");
                expired()
            })?;
    let client = state
        .clients
        .resolve(&claims.client_id)
        .await
        .map_err(|_| expired())?;
    Ok((claims, client))
}

/// The address sign-in attempts are counted against.
fn client_ip(state: &AppState, peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
    if !state.config.trust_forwarded_for {
        return peer.ip();
    }
    headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .and_then(|last| last.trim().parse().ok())
        .unwrap_or(peer.ip())
}

/// What the page says when the limit is reached.
fn limit_message(limited: &LimitError) -> String {
    match limited {
        LimitError::RetryAfter(wait) => {
            let minutes = wait.as_secs().div_ceil(60).max(1);
            format!(
                "Too many failed sign-ins. For your account's safety, try again in {minutes} minute(s)."
            )
        }
        LimitError::Store(_) => {
            "Sign-in is unavailable for a moment; try again shortly.".to_string()
        }
    }
}

fn too_many(retry: impl FnOnce(Vec<String>) -> Response, limited: LimitError) -> Response {
    if let LimitError::Store(error) = &limited {
        tracing::error!(%error, "the shared store did not answer");
    }
    let mut response = retry(vec![limit_message(&limited)]);
    *response.status_mut() = match limited {
        LimitError::RetryAfter(_) => StatusCode::TOO_MANY_REQUESTS,
        LimitError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
    };
    if let LimitError::RetryAfter(wait) = limited
        && let Ok(value) = wait.as_secs().max(1).to_string().parse()
    {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// Builds the account from the form and the client's mail servers.
fn account_from_form(form: &LoginForm, mail: &MailEndpoints) -> Result<MailAccount, String> {
    let email = form.email.trim().to_string();
    if !is_plausible_email(&email) {
        return Err("Enter your full email address, like you@example.com.".to_string());
    }
    if form.password.is_empty() {
        return Err("Enter your password.".to_string());
    }
    let username = non_empty_or(form.username.trim(), &email);
    let same = form.same_smtp.is_some();
    let (smtp_username, smtp_password) = if same {
        (username.clone(), form.password.clone())
    } else {
        if form.smtp_password.is_empty() {
            return Err(
                "Enter the SMTP password, or tick \"Use the same username and password for SMTP\"."
                    .to_string(),
            );
        }
        (
            non_empty_or(form.smtp_username.trim(), &username),
            form.smtp_password.clone(),
        )
    };
    let name = form.name.trim();
    Ok(MailAccount {
        display_name: (!name.is_empty()).then(|| name.to_string()),
        imap: ServerLogin {
            endpoint: mail.imap.clone(),
            username,
            password: form.password.clone(),
        },
        smtp: ServerLogin {
            endpoint: mail.smtp.clone(),
            username: smtp_username,
            password: smtp_password,
        },
        email,
    })
}

fn non_empty_or(value: &str, fallback: &str) -> String {
    if value.is_empty() {
        fallback.to_string()
    } else {
        value.to_string()
    }
}

fn is_plausible_email(email: &str) -> bool {
    match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !email
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>')
        }
        None => false,
    }
}

/// One readable line per failing side.
fn login_errors(check: &LoginCheck) -> Vec<String> {
    let mut errors = Vec::new();
    if let Err(error) = &check.imap {
        errors.push(format!("IMAP: {error}"));
    }
    if let Err(error) = &check.smtp {
        errors.push(format!("SMTP: {error}"));
    }
    errors
}

/// Seals the authorization code and redirects to the client with `code`, `state`, `iss`.
fn issue_code(
    state: &AppState,
    form: &FormClaims,
    scope: String,
    account: MailAccount,
) -> Response {
    let claims = CodeClaims {
        client: client_fingerprint(&form.client_id),
        redirect_uri: form.redirect_uri.clone(),
        code_challenge: form.code_challenge.clone(),
        scope,
        resource: form.resource.clone(),
        account,
    };
    let code = match state
        .tokens
        .seal(Purpose::Code, &claims, Some(state.config.lifetimes.code))
    {
        Ok(code) => code,
        Err(error) => {
            tracing::error!(%error, "sealing an authorization code failed");
            return error_page(state, "Something went wrong", "Please try again.");
        }
    };
    let mut params = vec![("code", code.as_str())];
    if let Some(s) = form.state.as_deref() {
        params.push(("state", s));
    }
    params.push(("iss", state.config.base_url.as_str()));
    let mut response = redirect_with(&form.redirect_uri, &params);
    response
        .headers_mut()
        .insert(header::SET_COOKIE, form_guard::clear_cookie(&state.config));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plausible_addresses_pass() {
        for ok in ["a@b.co", "first.last+tag@mail.example.org"] {
            assert!(is_plausible_email(ok), "{ok}");
        }
        for bad in [
            "",
            "a",
            "@b.co",
            "a@b",
            "a b@c.de",
            "a@b.co\r\nBcc: x@y.z",
            "<a@b.co>",
        ] {
            assert!(!is_plausible_email(bad), "{bad:?}");
        }
    }
}
