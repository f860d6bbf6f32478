//! The confirmation page of "Ask me first" for clients without 2026-07-28 forms:
//! `GET /approve/{sealed}` shows what the call will do (the same [`Preview`] the tool
//! result showed, rebuilt from the sealed call) with the approving button and Cancel;
//! `POST /approve/{sealed}` decides, once. The form is protected like the login form:
//! same-origin check and a form token bound to a `SameSite=Strict` cookie. The decision
//! takes the approval's single-use mark in the shared store before anything runs, so a
//! second POST (or a replay on another instance) only shows "already done". Approving
//! runs the tool through the MCP server's own router ([`MailServer::run_approved`]).
//! Mail text is only ever shown as auto-escaped text.

use std::sync::Arc;

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use serde::Deserialize;

use crate::http::mcp::approval::preview::Preview;
use crate::http::mcp::approval::state::{self, APPROVED, Approval, CANCELLED, Refusal};
use crate::http::mcp::policy;
use crate::http::mcp::{Caller, MailServer};
use crate::http::oauth::form_guard::{self, Binding};
use crate::http::pages::render;
use crate::state::AppState;
use crate::token::{AccessClaims, ApprovedCall};

/// The page's form binding: its own cookie, below `/approve`.
const FORM: Binding = Binding {
    cookie: "mail_mcp_approve",
    path: "/approve",
    label: "approval-form-cookie",
};

#[derive(Template)]
#[template(path = "approval.html")]
struct ApprovalPage {
    css_url: String,
    action_url: String,
    form_token: String,
    preview: Preview,
    expires: u64,
}

#[derive(Template)]
#[template(path = "approval_done.html")]
struct DonePage {
    css_url: String,
    heading: String,
    message: String,
    detail: String,
    failed: bool,
}

/// What the form posts.
#[derive(Deserialize)]
pub struct Decision {
    #[serde(default)]
    form_token: String,
    #[serde(default)]
    decision: String,
}

fn css_url(state: &AppState) -> String {
    state.config.url("/oauth/style.css")
}

fn done(
    state: &AppState,
    status: StatusCode,
    heading: &str,
    message: &str,
    detail: &str,
) -> Response {
    let page = DonePage {
        css_url: css_url(state),
        heading: heading.to_string(),
        message: message.to_string(),
        detail: detail.to_string(),
        failed: !status.is_success(),
    };
    render(&page, status, &[])
}

fn refusal_page(state: &AppState, refusal: &Refusal) -> Response {
    let (status, heading) = match refusal {
        Refusal::Expired => (StatusCode::GONE, "This link has expired"),
        Refusal::AlreadyUsed(_) => (StatusCode::CONFLICT, "Already done"),
        Refusal::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "Please try again"),
        _ => (StatusCode::BAD_REQUEST, "This link is not valid"),
    };
    done(state, status, heading, &refusal.to_string(), "")
}

/// The opened link and its call.
fn open(state: &AppState, sealed: &str) -> Result<(Approval, ApprovedCall), Response> {
    let approval = state::open(&state.tokens, sealed).map_err(|r| refusal_page(state, &r))?;
    let call = approval
        .sealed_call()
        .map_err(|r| refusal_page(state, &r))?
        .clone();
    Ok((approval, call))
}

/// The caller of the sealed call: its sign-in must not be revoked, and a provider
/// sign-in gets the provider's current access token.
async fn caller_of(state: &AppState, mut access: AccessClaims) -> Result<Caller, Response> {
    let unavailable = || {
        done(
            state,
            StatusCode::SERVICE_UNAVAILABLE,
            "Please try again",
            "The server's shared store did not answer, so it cannot check this sign-in right now; nothing was sent or changed. Try again in a few seconds.",
            "",
        )
    };
    if let Some(family) = access.family.as_deref() {
        match state.shared_store.family_revoked(family).await {
            Ok(false) => {}
            Ok(true) => {
                return Err(done(
                    state,
                    StatusCode::FORBIDDEN,
                    "This sign-in was revoked",
                    "The app's sign-in was revoked, so this approval cannot run: nothing was sent or changed.",
                    "",
                ));
            }
            Err(_) => return Err(unavailable()),
        }
    }
    if let Some(grant) = &access.upstream {
        let token = state.upstream.access_token(grant).await.map_err(|_| {
            done(
                state,
                StatusCode::SERVICE_UNAVAILABLE,
                "Your mail provider did not answer",
                "Nothing was sent or changed; reconnect the app or try again.",
                "",
            )
        })?;
        access.account.imap.password = token.clone();
        access.account.smtp.password = token;
    }
    Ok(Caller(Arc::new(access)))
}

/// `GET /approve/{sealed}`: the preview, with the decision form.
pub async fn show(State(state): State<AppState>, Path(sealed): Path<String>) -> Response {
    let (approval, call) = match open(&state, &sealed) {
        Ok(opened) => opened,
        Err(page) => return page,
    };
    let caller = match caller_of(&state, call.access).await {
        Ok(caller) => caller,
        Err(page) => return page,
    };
    let server = MailServer::new(state.clone());
    let Some(tool) = server
        .tools()
        .into_iter()
        .find(|t| t.name == approval.claims.tool)
    else {
        return refusal_page(&state, &Refusal::Invalid);
    };
    let Some(action) = policy::guarded(&tool, Some(&call.arguments)) else {
        return refusal_page(&state, &Refusal::Invalid);
    };
    let preview = match server
        .preview(&caller, action, &approval.claims.tool, &call.arguments)
        .await
    {
        Ok(preview) => preview,
        Err(error) => {
            return done(
                &state,
                StatusCode::UNPROCESSABLE_ENTITY,
                "This cannot be done",
                &error,
                "",
            );
        }
    };
    let form_token = uuid::Uuid::new_v4().simple().to_string();
    let page = ApprovalPage {
        css_url: css_url(&state),
        action_url: state.config.url(&format!("/approve/{sealed}")),
        form_token: form_token.clone(),
        preview,
        expires: crate::token::APPROVAL_LIFETIME.as_secs() / 60,
    };
    let mut response = render(&page, StatusCode::OK, &[]);
    let max_age = crate::token::APPROVAL_LIFETIME.as_secs();
    response.headers_mut().insert(
        header::SET_COOKIE,
        form_guard::set_cookie_for(&state.config, &FORM, &form_token, max_age),
    );
    response
}

/// `POST /approve/{sealed}`: approve (run the call once) or cancel; the first decision
/// counts and every later one shows "already done".
pub async fn decide(
    State(state): State<AppState>,
    Path(sealed): Path<String>,
    headers: HeaderMap,
    Form(form): Form<Decision>,
) -> Response {
    if !form_guard::same_origin(&state.config, &headers)
        || !form_guard::matches_for(&state.config, &FORM, &headers, &form.form_token)
    {
        return done(
            &state,
            StatusCode::FORBIDDEN,
            "Open the link again",
            "This form did not come from this page in this browser: nothing was sent or changed. Open the approval link again.",
            "",
        );
    }
    let (approval, call) = match open(&state, &sealed) {
        Ok(opened) => opened,
        Err(page) => return page,
    };
    let approve = form.decision == "approve";
    let caller = match caller_of(&state, call.access).await {
        Ok(caller) => caller,
        Err(page) => return page,
    };
    let outcome = if approve { APPROVED } else { CANCELLED };
    if let Err(refusal) = approval.take(state.shared_store.as_ref(), outcome).await {
        return refusal_page(&state, &refusal);
    }
    if !approve {
        return done(
            &state,
            StatusCode::OK,
            "Cancelled",
            "Nothing was sent, deleted or changed.",
            "",
        );
    }
    tracing::info!(tool = %approval.claims.tool, "a person approved a guarded call by link");
    let server = MailServer::new(state.clone());
    match server
        .run_approved(caller, &approval.claims.tool, call.arguments)
        .await
    {
        Ok(result) => {
            let text: String = result
                .content
                .iter()
                .filter_map(|c| c.as_text().map(|t| t.text.clone()))
                .collect::<Vec<_>>()
                .join("\n");
            if result.is_error == Some(true) {
                done(
                    &state,
                    StatusCode::BAD_GATEWAY,
                    "It did not work",
                    "The mail server refused or failed:",
                    &text,
                )
            } else {
                done(
                    &state,
                    StatusCode::OK,
                    "Done",
                    "Approved and done, once.",
                    &text,
                )
            }
        }
        Err(error) => done(
            &state,
            StatusCode::INTERNAL_SERVER_ERROR,
            "It did not work",
            &error,
            "",
        ),
    }
}

/// `/approve/{sealed}`.
pub fn routes() -> axum::Router<AppState> {
    axum::Router::new().route(
        &format!("{}/{{sealed}}", crate::http::mcp::approval::link::PATH),
        axum::routing::get(show).post(decide),
    )
}
