//! Binds a login form to the browser that loaded it: the page sets a `SameSite=Strict`,
//! `HttpOnly` cookie holding an HMAC of the form token, and a POST is accepted only when the
//! cookie matches the form it carries. A page on another site can neither read the token
//! into the victim's browser nor make it send the cookie, so cross-site posting fails.

use axum::http::{HeaderMap, HeaderValue, header};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::config::Config;

const COOKIE: &str = "mail_mcp_login";

/// A form bound to the browser by its own cookie: name, path below BASE_URL, HMAC label.
pub struct Binding {
    pub cookie: &'static str,
    pub path: &'static str,
    pub label: &'static str,
}

/// The login form's binding.
const LOGIN: Binding = Binding {
    cookie: COOKIE,
    path: "/oauth",
    label: "login-form-cookie",
};

fn binding_for(config: &Config, form: &Binding, form_token: &str) -> String {
    let key = config.keyring.derive_subkey(form.label);
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes any key length");
    mac.update(form_token.as_bytes());
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

fn cookie_path(config: &Config) -> String {
    cookie_path_for(config, &LOGIN)
}

fn cookie_path_for(config: &Config, form: &Binding) -> String {
    let path = url::Url::parse(&config.base_url)
        .map(|u| u.path().trim_end_matches('/').to_string())
        .unwrap_or_default();
    format!("{path}{}", form.path)
}

/// The `Set-Cookie` value that binds `form_token` to this browser.
pub fn set_cookie(config: &Config, form_token: &str, max_age_secs: u64) -> HeaderValue {
    set_cookie_for(config, &LOGIN, form_token, max_age_secs)
}

/// [`set_cookie`] for another form's [`Binding`].
pub fn set_cookie_for(
    config: &Config,
    form: &Binding,
    form_token: &str,
    max_age_secs: u64,
) -> HeaderValue {
    let secure = if config.base_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let value = format!(
        "{}={}; Path={}; Max-Age={max_age_secs}; HttpOnly; SameSite=Strict{secure}",
        form.cookie,
        binding_for(config, form, form_token),
        cookie_path_for(config, form),
    );
    HeaderValue::from_str(&value).expect("cookie is ASCII")
}

/// The `Set-Cookie` value that removes the binding after a successful login.
pub fn clear_cookie(config: &Config) -> HeaderValue {
    let value = format!(
        "{COOKIE}=; Path={}; Max-Age=0; HttpOnly; SameSite=Strict",
        cookie_path(config)
    );
    HeaderValue::from_str(&value).expect("cookie is ASCII")
}

/// True when the request's cookie matches the form token it posts.
pub fn matches(config: &Config, headers: &HeaderMap, form_token: &str) -> bool {
    matches_for(config, &LOGIN, headers, form_token)
}

/// [`matches`] for another form's [`Binding`].
pub fn matches_for(config: &Config, form: &Binding, headers: &HeaderMap, form_token: &str) -> bool {
    let expected = binding_for(config, form, form_token);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(name, _)| *name == form.cookie)
        .any(|(_, value)| bool::from(value.as_bytes().ct_eq(expected.as_bytes())))
}

/// True when an `Origin` header, if present, is this server's own origin.
pub fn same_origin(config: &Config, headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let Ok(base) = url::Url::parse(&config.base_url) else {
        return false;
    };
    origin == base.origin().ascii_serialization()
}
