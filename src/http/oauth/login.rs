//! `POST /oauth/authorize`: the login form. Checks the form is this browser's own and
//! unexpired, counts the attempt against the sign-in limits *before* connecting (the
//! count decides; in-flight sign-ins are capped per account and per IP), checks the IMAP
//! login live and then, only if IMAP accepted, the SMTP login (each with timeouts, within
//! the login checks' own connection budget), and on success redirects to the client with
//! a sealed authorization code. A failed login shows the page again with the fields kept
//! (never the password) and one line per failing side; a refused IMAP login never tries
//! SMTP, so the page cannot tell whether the SMTP password was right.

use axum::Form;
use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use serde::Deserialize;

use super::authorize::{error_page, login_page, redirect_with};
use super::{form_guard, mail_choice, scope};
use crate::http::forwarded;
use crate::http::pages::{CustomServerValues, LoginValues};
use crate::mail::{LoginCheck, MailAccount, MailError, ServerLogin};
use crate::metrics::LoginOutcome;
use crate::shared_store::{Accounts, LimitError, Outcome};
use crate::state::AppState;
use crate::token::{
    ClientClaims, CodeClaims, FormClaims, MailEndpoints, Purpose, SendPolicy, UpstreamGrant,
    client_fingerprint,
};

/// The Retry-After of a sign-in refused because too many are in flight.
const BUSY_RETRY: Duration = Duration::from_secs(5);

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
    /// "Also send as": other addresses of this mailbox, comma or newline separated.
    #[serde(default)]
    pub also_send_as: String,
    #[serde(default)]
    pub same_smtp: Option<String>,
    #[serde(default)]
    pub smtp_username: String,
    #[serde(default)]
    pub smtp_password: String,
    /// The [`SendPolicy`] chosen, by its form name.
    #[serde(default)]
    pub policy: String,
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
            also_send_as: self.also_send_as.clone(),
            same_smtp: self.same_smtp.is_some(),
            policy: self.policy(),
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

    /// The policy the person chose; anything unreadable is the default, "ask".
    pub fn policy(&self) -> SendPolicy {
        chosen_policy(&self.policy)
    }
}

/// The [`SendPolicy`] a form value names; a missing, unknown or misspelt value is the
/// default, "ask", never anything freer.
pub(super) fn chosen_policy(value: &str) -> SendPolicy {
    SendPolicy::from_form(value).unwrap_or_default()
}

/// The policy sealed in the code: read-only when the client did not ask for `mail.send`
/// (the page offers no choice then), else what the person chose ([`chosen_policy`]).
pub(super) fn sealed_policy(requested_scope: &str, value: &str) -> SendPolicy {
    match scope::has(requested_scope, scope::SEND) {
        true => chosen_policy(value),
        false => SendPolicy::ReadOnly,
    }
}

#[tracing::instrument(skip_all)]
pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let ip = forwarded::client_ip(state.config.trust_forwarded_for, peer, &headers);
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
    let accounts = Accounts {
        imap: (&account.imap.endpoint.host, &account.imap.username),
        smtp: (&account.smtp.endpoint.host, &account.smtp.username),
    };
    let attempt = match state.login_limiter.begin(ip, accounts).await {
        Ok(attempt) => attempt,
        Err(limited) => {
            state.metrics.login(limited_outcome(&limited));
            return too_many(retry, limited);
        }
    };
    let check = match state
        .login_budget
        .verify(&state.imap, &state.smtp, &account)
        .await
    {
        Ok(check) => check,
        Err(busy) => {
            tracing::warn!(%busy, "login check budget spent");
            attempt.untried().await;
            state.metrics.login(LoginOutcome::Limited);
            return too_many(retry, LimitError::Busy);
        }
    };
    let outcome = Outcome {
        imap_ok: check.imap.is_ok(),
        smtp_ok: check.smtp.as_ref().map(Result::is_ok),
    };
    let limited = attempt.finish(outcome).await;
    state.metrics.login(login_outcome(&check));
    if !check.is_ok() {
        tracing::info!(imap_ok = outcome.imap_ok, smtp_ok = ?outcome.smtp_ok, "mail login refused");
        let mut errors = login_errors(&check);
        errors.extend(limited.as_ref().map(limit_message));
        return retry(errors);
    }
    let policy = sealed_policy(&form_claims.scope, &form.policy);
    let scope = scope::granted(&form_claims.scope, policy);
    issue_code(
        &state,
        &form_claims,
        Grant {
            scope,
            policy,
            account,
            upstream: None,
        },
    )
}

/// Opens the form token, checks it belongs to this browser, and re-opens its client.
pub(super) async fn open_form(
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
        .oauth_clients
        .resolve(&claims.client_id)
        .await
        .map_err(|_| expired())?;
    Ok((claims, client))
}

/// A finished login check as the sign-in metrics count it: refused when a server refused
/// the credentials, an error when one could not be asked.
pub(super) fn login_outcome(check: &LoginCheck) -> LoginOutcome {
    if check.is_ok() {
        LoginOutcome::Ok
    } else if check.errors().any(MailError::is_auth_failure) {
        LoginOutcome::Refused
    } else {
        LoginOutcome::Error
    }
}

/// A sign-in stopped by the limits (or by their store failing) as the metrics count it.
fn limited_outcome(limited: &LimitError) -> LoginOutcome {
    match limited {
        LimitError::Store(_) => LoginOutcome::Error,
        LimitError::RetryAfter(_) | LimitError::Busy => LoginOutcome::Limited,
    }
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
        LimitError::Busy => "Another sign-in for this account or from your address is still \
            being checked, or this server is checking many sign-ins right now. Wait a moment \
            and try again."
            .to_string(),
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
        LimitError::RetryAfter(_) | LimitError::Busy => StatusCode::TOO_MANY_REQUESTS,
        LimitError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
    };
    let wait = match limited {
        LimitError::RetryAfter(wait) => Some(wait),
        LimitError::Busy => Some(BUSY_RETRY),
        LimitError::Store(_) => None,
    };
    if let Some(wait) = wait
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
    let identities = crate::mail::parse_identities(&form.also_send_as, &email)
        .map_err(|e| format!("Also send as: {e}"))?;
    let name = form.name.trim();
    Ok(MailAccount {
        display_name: (!name.is_empty()).then(|| name.to_string()),
        identities,
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

/// One readable line per failing side (SMTP is not tried when IMAP failed, so the page
/// says nothing about the SMTP password then).
pub(super) fn login_errors(check: &LoginCheck) -> Vec<String> {
    let mut errors = Vec::new();
    if let Err(error) = &check.imap {
        errors.push(format!("IMAP: {error}"));
    }
    if let Some(Err(error)) = &check.smtp {
        errors.push(format!("SMTP: {error}"));
    }
    errors
}

/// Seals the authorization code and redirects to the client with `code`, `state`, `iss`.
/// `upstream`: the grant of an OAuth provider sign-in (`provider_signin`).
/// What a successful sign-in grants.
pub(super) struct Grant {
    pub scope: String,
    pub policy: SendPolicy,
    pub account: MailAccount,
    pub upstream: Option<UpstreamGrant>,
}

pub(super) fn issue_code(state: &AppState, form: &FormClaims, grant: Grant) -> Response {
    let Grant {
        scope,
        policy,
        account,
        upstream,
    } = grant;
    let claims = CodeClaims {
        client: client_fingerprint(&form.client_id),
        redirect_uri: form.redirect_uri.clone(),
        code_challenge: form.code_challenge.clone(),
        scope,
        resource: form.resource.clone(),
        account,
        policy,
        upstream,
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

    fn posted(body: &str) -> LoginForm {
        serde_urlencoded::from_str(body).expect("the form parses")
    }

    /// Each policy's form value is read as that policy; a missing, empty, unknown or
    /// differently spelt value is "ask", never "send freely".
    #[test]
    fn the_posted_policy_is_read_and_anything_else_is_ask() {
        for policy in SendPolicy::ALL {
            let form = posted(&format!("email=a%40b.co&policy={}", policy.as_str()));
            assert_eq!(form.policy(), policy);
        }
        for body in [
            "email=a%40b.co",
            "policy=",
            "policy=SEND_FREELY",
            "policy=send-freely",
            "policy=send_freely%20",
            "policy=on",
            "policy=anything",
            "allow_send=on",
        ] {
            assert_eq!(posted(body).policy(), SendPolicy::Ask, "{body}");
        }
    }

    /// The choice is echoed into the page after a failed login.
    #[test]
    fn a_failed_login_keeps_the_choice() {
        let form = posted("email=a%40b.co&policy=drafts_only");
        assert_eq!(form.values().policy, SendPolicy::DraftsOnly);
    }

    /// A client that asked for reading only gets read-only whatever is posted; otherwise
    /// the person's choice is sealed.
    #[test]
    fn a_read_scope_client_gets_read_only() {
        let full = "mail.read mail.send offline_access";
        assert_eq!(
            sealed_policy("mail.read", "send_freely"),
            SendPolicy::ReadOnly
        );
        assert_eq!(
            sealed_policy("mail.read offline_access", ""),
            SendPolicy::ReadOnly
        );
        assert_eq!(sealed_policy(full, "send_freely"), SendPolicy::SendFreely);
        assert_eq!(sealed_policy(full, "drafts_only"), SendPolicy::DraftsOnly);
        assert_eq!(sealed_policy(full, "bogus"), SendPolicy::Ask);
    }

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
