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
    /// The "Also send as" addresses as typed.
    pub also_send_as: String,
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

/// One choice of [`SendPolicy`] on the consent page: a title, a one-line detail, and
/// whether it is the recommended one (the default, "ask me first").
pub struct PolicyOption {
    pub value: &'static str,
    pub title: &'static str,
    pub detail: &'static str,
    pub recommended: bool,
}

impl PolicyOption {
    /// Every policy, in [`SendPolicy::ALL`] order, with the words the page shows for it.
    pub fn all() -> Vec<PolicyOption> {
        SendPolicy::ALL.into_iter().map(PolicyOption::of).collect()
    }

    fn of(policy: SendPolicy) -> PolicyOption {
        let (title, detail) = match policy {
            SendPolicy::SendFreely => (
                "Send freely",
                "The app sends, replies, forwards and deletes for good without asking you.",
            ),
            SendPolicy::Ask => (
                "Ask me first",
                "You see and approve each message before it is sent, and each permanent \
                 delete, folder deletion or change to many messages.",
            ),
            SendPolicy::DraftsOnly => (
                "Drafts only",
                "The app writes drafts that you send from your mail app; nothing is sent \
                 or deleted for good.",
            ),
            SendPolicy::ReadOnly => (
                "Read only",
                "The app reads and searches your mail and changes nothing.",
            ),
        };
        PolicyOption {
            value: policy.as_str(),
            title,
            detail,
            recommended: policy == SendPolicy::default(),
        }
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

    fn login_page(oauth: bool, password: bool, offer_send: bool, policy: SendPolicy) -> String {
        let option = |id: &str| ProviderOption {
            id: id.into(),
            name: id.into(),
            hint: String::new(),
        };
        LoginPage {
            css_url: "/oauth/style.css".into(),
            action_url: "/oauth/authorize".into(),
            client_name: "Some App".into(),
            client_host: String::new(),
            redirect_host: "app.example".into(),
            fixed_servers: false,
            imap_server: String::new(),
            smtp_server: String::new(),
            providers: vec![option("fastmail")],
            oauth_providers: if oauth {
                vec![option("gmail-oauth"), option("ms")]
            } else {
                vec![]
            },
            provider_start_url: "/oauth/provider/start".into(),
            password_form: password,
            allow_custom: false,
            offer_send,
            policy_options: PolicyOption::all(),
            form_token: "tok".into(),
            values: LoginValues {
                policy,
                ..LoginValues::default()
            },
            errors: Vec::new(),
        }
        .render()
        .unwrap()
    }

    /// The choice is a fieldset with a legend; each of the four radios is inside its
    /// label with a title and a detail; "Ask me first" is marked recommended and checked
    /// by default; a kept choice (after a failed login) is the one checked.
    #[test]
    fn the_policy_choice_is_an_accessible_radio_group() {
        let html = login_page(false, true, true, SendPolicy::default());
        assert_eq!(html.matches("<fieldset class=\"policy\">").count(), 1);
        assert!(html.contains("<legend>What may Some App do with your mail?</legend>"));
        assert_eq!(html.matches("type=\"radio\" name=\"policy\"").count(), 4);
        for option in PolicyOption::all() {
            let radio = format!(
                "<label class=\"policy-option\"><input type=\"radio\" name=\"policy\" value=\"{}\"",
                option.value
            );
            assert!(
                html.contains(&radio),
                "{} is wrapped by its label",
                option.value
            );
            assert!(html.contains(option.title) && html.contains(option.detail));
        }
        assert_eq!(html.matches("Recommended").count(), 1);
        let checked: Vec<&str> = html
            .split("<input type=\"radio\"")
            .skip(1)
            .filter(|radio| radio.split('>').next().unwrap().contains("checked"))
            .collect();
        assert_eq!(checked.len(), 1);
        assert!(checked[0].contains("value=\"ask\""), "{}", checked[0]);
        assert!(!html.contains("style="), "no inline style under the CSP");

        let kept = login_page(false, true, true, SendPolicy::DraftsOnly);
        assert!(kept.contains("value=\"drafts_only\" checked"));
        assert!(!kept.contains("value=\"ask\" checked"));
    }

    /// A client that asked only to read is offered no choice.
    #[test]
    fn a_read_only_request_offers_no_choice() {
        let html = login_page(true, true, false, SendPolicy::default());
        assert!(!html.contains("name=\"policy\""));
    }

    /// With provider buttons and a password form, the page has one form, so the one
    /// choice goes with whichever button is pressed: the provider buttons post it to the
    /// provider start URL (formaction, no validation of the password fields), and the
    /// form's first submit button, which Enter in a field presses, is the password one.
    #[test]
    fn one_form_carries_the_choice_to_every_button() {
        let html = login_page(true, true, true, SendPolicy::default());
        assert_eq!(html.matches("<form").count(), 1);
        for id in ["gmail-oauth", "ms"] {
            let button = format!(
                "name=\"oauth_provider\" value=\"{id}\" formaction=\"/oauth/provider/start\" formnovalidate"
            );
            assert!(html.contains(&button), "{id}: {html}");
        }
        let first_submit = html.split("type=\"submit\"").nth(1).unwrap();
        assert!(
            first_submit.starts_with(" class=\"default-submit\""),
            "{first_submit}"
        );
        let policy_at = html.find("name=\"policy\"").unwrap();
        assert!(policy_at < html.find("oauth_provider").unwrap());
        assert!(html.contains("action=\"/oauth/authorize\""));

        let only_buttons = login_page(true, false, true, SendPolicy::default());
        assert_eq!(only_buttons.matches("<form").count(), 1);
        assert!(only_buttons.contains("action=\"/oauth/provider/start\""));
        assert!(!only_buttons.contains("default-submit"));
        assert!(!only_buttons.contains("name=\"password\""));
    }
}
