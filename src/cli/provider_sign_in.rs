//! `mail_mcp token --provider NAME`: sign-in at a mail provider that uses OAuth 2.0 (a
//! `[provider.oauth]` block of PROVIDERS_FILE) from the terminal, as a native app does
//! (RFC 8252): a loopback listener on 127.0.0.1, the provider's authorization URL (PKCE
//! S256, `state`, OIDC `nonce`) printed for the person to open, one redirect received on
//! the listener (its `state` checked, a "you can close this window" page), then the code
//! exchanged and the mailbox address learned exactly as the login page's provider button
//! does it ([`provider_signin`]).

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::Query;
use axum::response::Html;
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::http::oauth::provider_signin::{
    CallbackQuery, account_for, issuer_matches, random_string, sign_in_upstream,
};
use crate::mail::MailAccount;
use crate::providers::Providers;
use crate::token::UpstreamGrant;
use crate::upstream::Upstream;

/// How long the person has to finish signing in at the provider.
const SIGN_IN_LIMIT: Duration = Duration::from_secs(10 * 60);

/// The path of the loopback redirect URI.
const CALLBACK_PATH: &str = "/callback";

/// A finished provider sign-in: the account (its passwords the provider's fresh access
/// token, for the live check) and the provider's grant to seal into our token.
pub struct ProviderSignIn {
    pub account: MailAccount,
    pub grant: UpstreamGrant,
}

/// Signs in at `provider_id` of `providers_file`, the redirect coming back to
/// `http://127.0.0.1:<port>/callback` (`port` 0: any free port).
pub async fn sign_in(
    providers_file: Option<&Path>,
    provider_id: &str,
    port: u16,
) -> Result<ProviderSignIn, String> {
    let path = providers_file.ok_or(
        "--provider needs the providers file: pass --providers-file or set PROVIDERS_FILE",
    )?;
    let providers = Providers::load(path)?;
    let listener = TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|e| format!("cannot listen on 127.0.0.1:{port} for the redirect: {e}"))?;
    let address = listener
        .local_addr()
        .map_err(|e| format!("cannot read the loopback address: {e}"))?;
    let redirect_uri = format!("http://{address}{CALLBACK_PATH}");
    let upstream = Upstream::new(providers, String::new(), 1).redirecting_to(redirect_uri.clone());
    let (provider, oauth) = upstream.provider(provider_id).map_err(|_| {
        format!(
            "'{provider_id}' is not a provider with an [provider.oauth] block in {}",
            path.display()
        )
    })?;

    let (verifier, state, nonce) = (random_string(64), random_string(32), random_string(32));
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let url = upstream
        .authorization_url(oauth, &state, &challenge, &nonce)
        .map_err(|e| e.to_string())?;
    eprintln!(
        "Open this address in your browser and sign in at {name}:\n\n  {url}\n\n\
         Waiting for {name}'s answer on {redirect_uri} (for {limit})...",
        name = provider.name,
        limit = humantime::format_duration(SIGN_IN_LIMIT),
    );
    let answer = receive_redirect(listener, &state).await?;
    if let Some(error) = answer.error.as_deref() {
        return Err(format!("{} did not grant access ({error})", provider.name));
    }
    if !issuer_matches(&upstream, provider_id, answer.iss.as_deref()) {
        return Err(
            "the answer came from another provider's issuer (RFC 9207); no token was made".into(),
        );
    }
    let code = answer.code.as_deref().ok_or("the provider sent no code")?;
    let (provider, signed_in) = sign_in_upstream(&upstream, provider_id, code, &verifier, &nonce)
        .await
        .map_err(|e| format!("sign-in at {} failed: {e}", provider.name))?;
    eprintln!("Signed in at {} as {}.", provider.name, signed_in.address);
    Ok(ProviderSignIn {
        account: account_for(provider, &signed_in.address, &signed_in.answer.access_token),
        grant: UpstreamGrant {
            provider: provider_id.to_string(),
            refresh_token: signed_in.refresh_token,
        },
    })
}

/// Serves `listener` until the first request to the callback path; its query, when its
/// `state` is ours. Other paths (a browser's favicon) get a 404.
async fn receive_redirect(listener: TcpListener, state: &str) -> Result<CallbackQuery, String> {
    let (sender, received) = oneshot::channel::<CallbackQuery>();
    let slot = Arc::new(Mutex::new(Some(sender)));
    let expected = state.to_string();
    let app = Router::new().route(
        CALLBACK_PATH,
        get(move |Query(query): Query<CallbackQuery>| async move {
            let page = page_for(&query, &expected);
            if let Some(sender) = slot.lock().ok().and_then(|mut s| s.take()) {
                let _ = sender.send(query);
            }
            Html(page)
        }),
    );
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .into_future(),
    );
    let answer = tokio::time::timeout(SIGN_IN_LIMIT, received).await;
    let _ = stop.send(());
    if tokio::time::timeout(Duration::from_secs(2), server)
        .await
        .is_err()
    {
        tracing::debug!("the browser kept its connection open; stopped listening anyway");
    }
    let query = match answer {
        Ok(Ok(query)) => query,
        _ => {
            return Err(format!(
                "no answer from the browser within {}; no token was made",
                humantime::format_duration(SIGN_IN_LIMIT)
            ));
        }
    };
    if !state_matches(&query, state) {
        return Err(
            "the redirect carried another state than this sign-in's; no token was made".into(),
        );
    }
    Ok(query)
}

fn state_matches(query: &CallbackQuery, state: &str) -> bool {
    let returned = query.state.as_deref().unwrap_or_default();
    bool::from(returned.as_bytes().ct_eq(state.as_bytes()))
}

/// The page the browser shows after the redirect (static text: nothing of the query).
fn page_for(query: &CallbackQuery, state: &str) -> String {
    let (title, text) = if !state_matches(query, state) {
        (
            "This answer is not for this sign-in",
            "Start <code>mail_mcp token</code> again.",
        )
    } else if query.error.is_some() {
        ("Access was not granted", "Return to the terminal.")
    } else {
        (
            "Signed in",
            "You can close this window and return to the terminal.",
        )
    };
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title></head>\
         <body><h1>{title}</h1><p>{text}</p></body></html>"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_says_whether_the_state_matched_and_echoes_nothing() {
        let query = |state: &str, error: Option<&str>| CallbackQuery {
            code: Some("<script>".into()),
            state: Some(state.into()),
            error: error.map(str::to_string),
            iss: None,
        };
        assert!(page_for(&query("s1", None), "s1").contains("You can close this window"));
        assert!(page_for(&query("s2", None), "s1").contains("not for this sign-in"));
        assert!(page_for(&query("s1", Some("access_denied")), "s1").contains("not granted"));
        assert!(!page_for(&query("s1", None), "s1").contains("<script>"));
    }
}
