//! The mailbox address of a provider sign-in, as the provider states it: a claim of the
//! id_token of the code exchange (signature checked with a key of the provider's JWKS,
//! fetched then; `iss`, `aud`, `exp`, our `nonce`, and `email_verified` unless the
//! provider sends none), or a claim of its userinfo answer. The address is never taken
//! from anything the person typed.

use std::time::SystemTime;

use josekit::jwk::{Jwk, JwkSet};
use josekit::jws::JwsVerifier;
use josekit::jwt::JwtPayload;
use serde_json::Value;

use super::{TokenAnswer, Upstream, UpstreamError};
use crate::providers::{AddressSource, OAuthSettings};

/// The clock skew allowed on `exp`.
const LEEWAY_SECS: u64 = 60;

fn refused(reason: impl Into<String>) -> UpstreamError {
    UpstreamError::Identity(reason.into())
}

impl Upstream {
    /// The address the provider vouches for in `answer` (a code exchange's answer).
    pub async fn address(
        &self,
        oauth: &OAuthSettings,
        answer: &TokenAnswer,
        nonce: &str,
    ) -> Result<String, UpstreamError> {
        let address = match &oauth.address {
            AddressSource::IdToken {
                issuer,
                jwks_uri,
                claim,
                require_verified,
            } => {
                let id_token = answer.id_token.as_deref().ok_or_else(|| {
                    refused("its answer has no id_token (is `openid` in scopes?)")
                })?;
                let keys = self.get_json(jwks_uri, None).await?;
                let keys = JwkSet::from_bytes(&keys)
                    .map_err(|_| UpstreamError::Unavailable("its JWKS is not usable".into()))?;
                let payload = verify_id_token(id_token, &keys)?;
                let expected = IdTokenRules {
                    issuer,
                    audience: &oauth.client_id,
                    nonce,
                    claim,
                    require_verified: *require_verified,
                };
                expected.check(&payload)?
            }
            AddressSource::Userinfo { url, claim } => {
                let body = self.get_json(url, Some(&answer.access_token)).await?;
                let info: Value = serde_json::from_slice(&body)
                    .map_err(|_| refused("its userinfo answer is not JSON"))?;
                string_claim(&info, claim)?
            }
        };
        plausible_address(&address)
    }
}

/// Checks the id_token's signature with the JWKS key its header names.
fn verify_id_token(id_token: &str, keys: &JwkSet) -> Result<JwtPayload, UpstreamError> {
    let header =
        josekit::jwt::decode_header(id_token).map_err(|_| refused("the id_token is malformed"))?;
    let alg = header
        .claim("alg")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let kid = header
        .claim("kid")
        .and_then(Value::as_str)
        .map(str::to_string);
    let jwk = match &kid {
        Some(kid) => keys.get(kid).into_iter().next(),
        None => keys.keys().into_iter().next(),
    }
    .ok_or_else(|| refused("the id_token is signed with a key the provider does not publish"))?;
    let verifier = verifier_for(&alg, jwk)?;
    let (payload, _) = josekit::jwt::decode_with_verifier(id_token, verifier.as_ref())
        .map_err(|_| refused("the id_token's signature does not verify"))?;
    Ok(payload)
}

/// A verifier for the asymmetric algorithms providers sign id_tokens with.
fn verifier_for(alg: &str, jwk: &Jwk) -> Result<Box<dyn JwsVerifier>, UpstreamError> {
    use josekit::jws::{ES256, ES384, PS256, RS256, RS384, RS512};
    let unusable = |_| refused("the provider's signing key is not usable");
    Ok(match alg {
        "RS256" => Box::new(RS256.verifier_from_jwk(jwk).map_err(unusable)?),
        "RS384" => Box::new(RS384.verifier_from_jwk(jwk).map_err(unusable)?),
        "RS512" => Box::new(RS512.verifier_from_jwk(jwk).map_err(unusable)?),
        "PS256" => Box::new(PS256.verifier_from_jwk(jwk).map_err(unusable)?),
        "ES256" => Box::new(ES256.verifier_from_jwk(jwk).map_err(unusable)?),
        "ES384" => Box::new(ES384.verifier_from_jwk(jwk).map_err(unusable)?),
        other => {
            return Err(refused(format!(
                "the id_token's algorithm '{other}' is not accepted"
            )));
        }
    })
}

/// What a verified id_token's claims must say.
struct IdTokenRules<'a> {
    /// `{tenantid}` stands for the token's `tid` claim.
    issuer: &'a str,
    audience: &'a str,
    nonce: &'a str,
    claim: &'a str,
    require_verified: bool,
}

impl IdTokenRules<'_> {
    /// The address claim, once `iss`, `aud`, `exp`, `nonce` and `email_verified` pass.
    fn check(&self, payload: &JwtPayload) -> Result<String, UpstreamError> {
        let claims = Value::Object(payload.claims_set().clone());
        let tenant = claims
            .get("tid")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let issuer = self.issuer.replace("{tenantid}", tenant);
        if payload.issuer() != Some(issuer.as_str()) {
            return Err(refused("the id_token comes from another issuer"));
        }
        let audience = payload.audience().unwrap_or_default();
        if !audience.contains(&self.audience) {
            return Err(refused("the id_token was issued to another client"));
        }
        let now = SystemTime::now();
        let expired = payload
            .expires_at()
            .and_then(|exp| exp.checked_add(std::time::Duration::from_secs(LEEWAY_SECS)))
            .is_none_or(|until| until < now);
        if expired {
            return Err(refused("the id_token has expired"));
        }
        if claims.get("nonce").and_then(Value::as_str) != Some(self.nonce) {
            return Err(refused(
                "the id_token was not issued for this sign-in (nonce)",
            ));
        }
        if self.require_verified && !is_true(claims.get("email_verified")) {
            return Err(refused("the provider has not verified this address"));
        }
        string_claim(&claims, self.claim)
    }
}

/// `true`, or Google's older `"true"`.
fn is_true(value: Option<&Value>) -> bool {
    matches!(value, Some(Value::Bool(true))) || value.and_then(Value::as_str) == Some("true")
}

fn string_claim(claims: &Value, name: &str) -> Result<String, UpstreamError> {
    claims
        .get(name)
        .and_then(Value::as_str)
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| refused(format!("no '{name}' claim")))
}

/// An address with one `@`, no spaces, controls or angle brackets.
fn plausible_address(address: &str) -> Result<String, UpstreamError> {
    let ok = matches!(address.split_once('@'), Some((local, domain)) if !local.is_empty() && domain.contains('.') && !domain.contains('@'))
        && !address
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>');
    if ok {
        Ok(address.to_string())
    } else {
        Err(refused("the address it gave is not a mailbox address"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(claims: Value) -> JwtPayload {
        JwtPayload::from_map(claims.as_object().unwrap().clone()).unwrap()
    }

    fn rules() -> IdTokenRules<'static> {
        IdTokenRules {
            issuer: "https://login.example/{tenantid}/v2.0",
            audience: "client-1",
            nonce: "n-1",
            claim: "email",
            require_verified: true,
        }
    }

    fn good() -> Value {
        let exp = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 600;
        serde_json::json!({
            "iss": "https://login.example/t-9/v2.0", "tid": "t-9", "aud": "client-1",
            "exp": exp, "nonce": "n-1", "email": "ann@example.org", "email_verified": true
        })
    }

    /// Each rule of the id_token is enforced: a token failing one gives no address.
    #[test]
    fn id_token_claims_are_checked_one_by_one() {
        assert_eq!(rules().check(&payload(good())).unwrap(), "ann@example.org");
        let cases: [(&str, Value); 6] = [
            ("iss", "https://evil.example/t-9/v2.0".into()),
            ("tid", "t-other".into()),
            ("aud", "client-2".into()),
            ("exp", 1_000_000.into()),
            ("nonce", "n-2".into()),
            ("email_verified", false.into()),
        ];
        for (claim, value) in cases {
            let mut claims = good();
            claims[claim] = value;
            assert!(rules().check(&payload(claims)).is_err(), "{claim}");
        }
        let mut unverified = good();
        unverified.as_object_mut().unwrap().remove("email_verified");
        let lenient = IdTokenRules {
            require_verified: false,
            ..rules()
        };
        assert!(lenient.check(&payload(unverified)).is_ok());
    }

    #[test]
    fn only_mailbox_addresses_are_taken() {
        assert!(plausible_address("a@b.example").is_ok());
        for bad in [
            "a",
            "a@b",
            "a b@c.example",
            "<a@b.example>",
            "a@b.example\r\nX: y",
        ] {
            assert!(plausible_address(bad).is_err(), "{bad:?}");
        }
    }
}
