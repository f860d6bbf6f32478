//! The sealed approval state: one guarded call, bound to its caller and to the SHA-256 of
//! its canonical arguments, valid for [`APPROVAL_LIFETIME`], with a unique id (`jti`).
//!
//! It is a JWE of our own [`TokenCodec`] ([`Purpose::Approval`]), not rmcp's
//! `RequestStateCodec`: that codec only signs (its payload is readable base64), and a
//! confirmation link must carry the caller's access claims, mail password included, to
//! run the call from a browser that has no bearer token. One sealed format serves both
//! the 2026-07-28 `requestState` (digests only) and the link (digests plus the call), with
//! the keyring's rotation, the strict opening checks and the expiry we already trust.
//! Nothing is stored server-side but the single-use mark taken when the person decides
//! ([`take`]).

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rmcp::model::JsonObject;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::shared_store::SharedStore;
use crate::token::{
    APPROVAL_LIFETIME, AccessClaims, ApprovalClaims, ApprovedCall, CLOCK_SKEW_LEEWAY_SECS, Purpose,
    TokenCodec, TokenError, unix_now,
};

/// The mark's value once the person approved.
pub const APPROVED: &str = "approved";
/// The mark's value once the person cancelled (or declined).
pub const CANCELLED: &str = "cancelled";

/// Why an approval state cannot be used. The texts are for the person and the model.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Refusal {
    #[error(
        "this approval expired (approvals last 10 minutes): nothing was sent or changed; call the tool again to ask anew"
    )]
    Expired,
    #[error("this is not a valid approval of this server: nothing was sent or changed")]
    Invalid,
    #[error("this approval belongs to another connection or account: nothing was sent or changed")]
    OtherCaller,
    #[error(
        "the retried call differs from the one the person was asked to approve (another tool or other arguments): nothing was sent or changed; call the tool again to ask anew"
    )]
    Altered,
    #[error("this approval was already used ({0}): nothing more was sent or changed")]
    AlreadyUsed(String),
    #[error(
        "the server's shared store did not answer, so the approval cannot be recorded right now: nothing was sent or changed; try again in a few seconds"
    )]
    Unavailable,
}

/// An opened approval state.
#[derive(Debug)]
pub struct Approval {
    pub claims: ApprovalClaims,
    /// The token's `jti`: the name of its single-use mark.
    pub id: String,
    /// Unix seconds.
    pub expires_at: i64,
}

/// SHA-256 of who asks: the access token's client, its sign-in (refresh family) and the
/// account, so a state taken to another connection or account is refused.
pub fn caller_digest(access: &AccessClaims) -> String {
    let who = serde_json::json!([
        access.client,
        access.family,
        access.account.email,
        access.account.imap.endpoint.host,
        access.account.imap.username,
    ]);
    digest(who.to_string().as_bytes())
}

/// SHA-256 of the canonical JSON of `arguments` (keys sorted at every level, no spaces;
/// no arguments is `{}`), so the same call always has the same digest.
pub fn arguments_digest(arguments: Option<&JsonObject>) -> String {
    let value = Value::Object(arguments.cloned().unwrap_or_default());
    let mut text = String::new();
    canonical(&value, &mut text);
    digest(text.as_bytes())
}

fn canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, value)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                canonical(value, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

fn digest(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(bytes))
}

/// Seals the approval of `tool` with `arguments` for `access`. With `link`, the call
/// itself goes in too (see [`ApprovedCall`]); an OAuth provider's access token is then
/// left out (the page fetches a current one).
pub fn seal(
    codec: &TokenCodec,
    tool: &str,
    arguments: Option<&JsonObject>,
    access: &AccessClaims,
    link: bool,
) -> Result<String, TokenError> {
    let call = link.then(|| {
        let mut access = access.clone();
        if access.upstream.is_some() {
            access.account.imap.password.clear();
            access.account.smtp.password.clear();
        }
        ApprovedCall {
            access,
            arguments: arguments.cloned().unwrap_or_default(),
        }
    });
    let claims = ApprovalClaims {
        tool: tool.to_string(),
        args: arguments_digest(arguments),
        caller: caller_digest(access),
        call,
    };
    codec.seal(Purpose::Approval, &claims, Some(APPROVAL_LIFETIME))
}

/// Opens an approval state: ours, unaltered and not expired.
pub fn open(codec: &TokenCodec, sealed: &str) -> Result<Approval, Refusal> {
    let opened = codec
        .open_with_id::<ApprovalClaims>(Purpose::Approval, sealed)
        .map_err(|error| match error {
            TokenError::Expired => Refusal::Expired,
            _ => Refusal::Invalid,
        })?;
    Ok(Approval {
        claims: opened.claims,
        id: opened.jti,
        expires_at: opened.expires_at.unwrap_or_else(unix_now),
    })
}

impl Approval {
    /// Checks that `tool` with `arguments`, asked by `access`, is exactly the call this
    /// state approves.
    pub fn check_call(
        &self,
        tool: &str,
        arguments: Option<&JsonObject>,
        access: &AccessClaims,
    ) -> Result<(), Refusal> {
        if self.claims.caller != caller_digest(access) {
            return Err(Refusal::OtherCaller);
        }
        if self.claims.tool != tool || self.claims.args != arguments_digest(arguments) {
            return Err(Refusal::Altered);
        }
        Ok(())
    }

    /// The call a confirmation link carries, checked against its own digests.
    pub fn sealed_call(&self) -> Result<&ApprovedCall, Refusal> {
        let call = self.claims.call.as_ref().ok_or(Refusal::Invalid)?;
        self.check_call(&self.claims.tool, Some(&call.arguments), &call.access)?;
        Ok(call)
    }

    /// Takes the single-use mark for `outcome`: only the first decision counts.
    pub async fn take(&self, store: &dyn SharedStore, outcome: &str) -> Result<(), Refusal> {
        let remaining = self.expires_at - unix_now() + CLOCK_SKEW_LEEWAY_SECS + 60;
        let ttl = Duration::from_secs(remaining.max(1) as u64);
        match store.take_once(&self.id, outcome, ttl).await {
            Ok(None) => Ok(()),
            Ok(Some(earlier)) => Err(Refusal::AlreadyUsed(earlier)),
            Err(error) => {
                tracing::error!(%error, "the shared store did not record an approval");
                Err(Refusal::Unavailable)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn object(value: Value) -> JsonObject {
        value.as_object().unwrap().clone()
    }

    /// Key order and spacing do not change the digest; any other change does.
    #[test]
    fn the_arguments_digest_is_canonical() {
        let a = object(json!({"to": ["a@x.test"], "subject": "Hi", "n": {"b": 1, "a": [2, 3]}}));
        let b = object(json!({"n": {"a": [2, 3], "b": 1}, "subject": "Hi", "to": ["a@x.test"]}));
        assert_eq!(arguments_digest(Some(&a)), arguments_digest(Some(&b)));
        let c = object(json!({"to": ["b@x.test"], "subject": "Hi", "n": {"b": 1, "a": [2, 3]}}));
        assert_ne!(arguments_digest(Some(&a)), arguments_digest(Some(&c)));
        assert_eq!(
            arguments_digest(None),
            arguments_digest(Some(&JsonObject::new()))
        );
        let mut text = String::new();
        canonical(&json!({"b": "\"", "a": [1, null]}), &mut text);
        assert_eq!(text, r#"{"a":[1,null],"b":"\""}"#);
    }
}
