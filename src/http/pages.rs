//! The HTML pages (askama, auto-escaped): the login page, the error page and their
//! stylesheet, each sent with headers that keep it from being framed, cached or
//! scripted (CSP with no script at all).

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::token::SendPolicy;

/// Stylesheet shared by all pages, served from our origin so the CSP needs no inline style.
pub const STYLESHEET: &str = include_str!("../../templates/style.css");

/// `GET /oauth/style.css`.
pub async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLESHEET,
    )
        .into_response()
}

/// What the person typed, echoed back into the form after a failed login (no passwords).
#[derive(Default, Clone)]
pub struct LoginValues {
    pub name: String,
    pub email: String,
    pub username: String,
    pub smtp_username: String,
    pub same_smtp: bool,
    /// What the connection may do with mail that leaves or cannot be undone.
    pub policy: SendPolicy,
    /// The chosen provider id, `custom`, or empty for "from my email address".
    pub provider: String,
    pub custom: CustomServerValues,
}

/// Custom IMAP/SMTP servers typed on the login page.
#[derive(Clone)]
pub struct CustomServerValues {
    pub imap_host: String,
    pub imap_port: String,
    pub imap_security: String,
    pub smtp_host: String,
    pub smtp_port: String,
    pub smtp_security: String,
}

impl Default for CustomServerValues {
    fn default() -> Self {
        CustomServerValues {
            imap_host: String::new(),
            imap_port: "993".into(),
            imap_security: "tls".into(),
            smtp_host: String::new(),
            smtp_port: "465".into(),
            smtp_security: "tls".into(),
        }
    }
}

/// A provider the person may choose.
pub struct ProviderOption {
    pub id: String,
    pub name: String,
    pub hint: String,
}

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage {
    pub css_url: String,
    pub action_url: String,
    pub client_name: String,
    /// The host of a metadata-document client_id (who vouches for the name); else empty.
    pub client_host: String,
    pub redirect_host: String,
    /// The client fixes the servers (shown); otherwise the person chooses a provider.
    pub fixed_servers: bool,
    pub imap_server: String,
    pub smtp_server: String,
    /// Providers signed in with a password (the select of the password form).
    pub providers: Vec<ProviderOption>,
    /// Providers signed in with OAuth: a "Sign in with <name>" button each.
    pub oauth_providers: Vec<ProviderOption>,
    /// Where the buttons post (`/oauth/provider/start`).
    pub provider_start_url: String,
    /// Whether the password form is shown (fixed servers, password providers or custom).
    pub password_form: bool,
    pub allow_custom: bool,
    /// The client asked for more than reading: offer the choice of [`SendPolicy`].
    pub offer_send: bool,
    /// The policies offered, in order ([`PolicyOption::all`]).
    pub policy_options: Vec<PolicyOption>,
    pub form_token: String,
    pub values: LoginValues,
    pub errors: Vec<String>,
}

/// One choice of [`SendPolicy`] on the consent page.
pub struct PolicyOption {
    pub value: &'static str,
    pub title: &'static str,
    pub detail: &'static str,
}

impl PolicyOption {
    /// Every policy, with the words the page shows for it.
    pub fn all() -> Vec<PolicyOption> {
        SendPolicy::ALL
            .into_iter()
            .map(|policy| {
                let (title, detail) = match policy {
                    SendPolicy::SendFreely => (
                        "Send freely.",
                        "The app sends, forwards and permanently deletes mail as it decides.",
                    ),
                    SendPolicy::Ask => (
                        "Ask me first (recommended).",
                        "You see and approve each message before it is sent, and each permanent \
                         delete, folder deletion or change to many messages.",
                    ),
                    SendPolicy::DraftsOnly => (
                        "Drafts only.",
                        "The app writes drafts for you to send yourself; nothing is sent or \
                         permanently deleted.",
                    ),
                    SendPolicy::ReadOnly => (
                        "Read only.",
                        "The app reads and searches your mail and changes nothing.",
                    ),
                };
                PolicyOption {
                    value: policy.as_str(),
                    title,
                    detail,
                }
            })
            .collect()
    }
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub css_url: String,
    pub heading: String,
    pub message: String,
    pub hint: String,
}

/// Renders a page with the security headers; `form_targets` are the origins a form on the
/// page may post or be redirected to (CSP form-action applies to redirects too).
pub fn render(template: &impl Template, status: StatusCode, form_targets: &[String]) -> Response {
    let body = match template.render() {
        Ok(body) => body,
        Err(error) => {
            tracing::error!(%error, "rendering a page failed");
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                "page could not be rendered",
            )
                .into_response();
        }
    };
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    // Not `no-referrer`: under it browsers send `Origin: null` with the login form's POST,
    // which the same-origin check must refuse. `same-origin` still sends nothing to other
    // sites (the redirect to the client included).
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if let Ok(csp) = HeaderValue::from_str(&content_security_policy(form_targets)) {
        headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    response
}

fn content_security_policy(form_targets: &[String]) -> String {
    let mut form_action = String::from("'self'");
    for target in form_targets {
        form_action.push(' ');
        form_action.push_str(target);
    }
    format!(
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action {form_action}; \
         frame-ancestors 'none'; base-uri 'none'"
    )
}

/// An error page for a person in a browser.
pub fn error_page(
    css_url: String,
    status: StatusCode,
    heading: &str,
    message: &str,
    hint: &str,
) -> Response {
    let page = ErrorPage {
        css_url,
        heading: heading.to_string(),
        message: message.to_string(),
        hint: hint.to_string(),
    };
    render(&page, status, &[])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_escape_what_they_echo() {
        let page = ErrorPage {
            css_url: "/oauth/style.css".into(),
            heading: "Oops".into(),
            message: "\"><script>alert(1)</script>".into(),
            hint: String::new(),
        };
        let html = page.render().unwrap();
        assert!(!html.contains("<script>"));
        assert!(
            html.contains("&#34;&#62;&#60;script&#62;")
                || html.contains("&quot;&gt;&lt;script&gt;")
        );
    }

    #[test]
    fn the_csp_allows_no_script_and_no_framing() {
        let csp = content_security_policy(&["https://claude.ai".into()]);
        assert!(csp.contains("default-src 'none'"));
        assert!(csp.contains("frame-ancestors 'none'"));
        assert!(csp.contains("form-action 'self' https://claude.ai"));
        assert!(!csp.contains("script-src"));
    }
}
