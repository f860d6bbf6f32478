//! Decoding the OAuth forms as axum hands them to the handlers: any body posted to the
//! login form or the token endpoint, and any query string of the authorization request,
//! is decoded or refused with a 4xx answer that has a body, never a panic.
#![no_main]

use axum::extract::{FromRequest, FromRequestParts, Query};
use axum::response::IntoResponse;
use axum::{Form, body::Body};
use http::{Request, header};
use libfuzzer_sys::fuzz_target;
use mail_mcp::http::oauth::authorize::AuthorizeQuery;
use mail_mcp::http::oauth::login::LoginForm;
use mail_mcp::http::oauth::token_endpoint::TokenRequest;

fn post(body: &[u8], content_type: &str) -> Request<Body> {
    Request::post("/oauth/token")
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from(body.to_vec()))
        .expect("a valid request")
}

/// A refusal must be a client error that says something.
fn check_refusal(response: axum::response::Response) {
    assert!(response.status().is_client_error(), "{}", response.status());
    let body = futures::executor::block_on(axum::body::to_bytes(response.into_body(), 1 << 20))
        .expect("a readable body");
    assert!(!body.is_empty(), "a refusal without a body");
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    let content_type = match mode % 3 {
        0 => "application/x-www-form-urlencoded",
        1 => "application/x-www-form-urlencoded; charset=utf-8",
        _ => "text/plain",
    };
    let login = futures::executor::block_on(Form::<LoginForm>::from_request(
        post(body, content_type),
        &(),
    ));
    if let Err(rejection) = login {
        check_refusal(rejection.into_response());
    }
    let token = futures::executor::block_on(Form::<TokenRequest>::from_request(
        post(body, content_type),
        &(),
    ));
    if let Err(rejection) = token {
        check_refusal(rejection.into_response());
    }
    let Ok(query) = std::str::from_utf8(body) else {
        return;
    };
    let Ok(request) = Request::get(format!("/oauth/authorize?{query}")).body(()) else {
        return;
    };
    let (mut parts, ()) = request.into_parts();
    let authorize =
        futures::executor::block_on(Query::<AuthorizeQuery>::from_request_parts(&mut parts, &()));
    if let Err(rejection) = authorize {
        check_refusal(rejection.into_response());
    }
});
