//! Sealing and opening tokens. A token is a JWE in compact form, `alg=dir`,
//! `enc=A256GCM`, sealed with the keyring's primary key and naming that key in its `kid`
//! header. Its payload is one JSON object: the registered claims `iss`, `aud`, `iat`,
//! `exp` (left out for tokens that never expire), `jti` and `typ` (the [`Purpose`]), with
//! the typed claims flattened beside them.
//!
//! Opening is strict and checks, in this order: the compact shape and header (only what
//! this module makes is accepted, and the IV and tag must have their full lengths), the
//! key named by `kid`, decryption, then `typ`, `iss`, `aud` and `exp`. `aud` is the MCP
//! resource for access tokens and the issuer for every other kind. A token counts as
//! expired from `exp + CLOCK_SKEW_LEEWAY_SECS` on. This module knows nothing of what the
//! claims mean.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use josekit::jwe::{self, Dir, JweHeader};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::keyring::{KeyEntry, Keyring};
use super::{Purpose, TokenError};

/// Seconds a token is still accepted after its `exp`, for clocks of several replicas that
/// disagree slightly. Small on purpose: lifetimes are what decide validity.
pub const CLOCK_SKEW_LEEWAY_SECS: i64 = 5;

/// The longest token this module makes or opens (bytes). Longer input is refused before
/// any decoding work; a seal that would exceed it fails.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

const ALG_DIR: &str = "dir";
const ENC_A256GCM: &str = "A256GCM";
/// A256GCM's nonce and tag lengths. josekit does not check them, and OpenSSL verifies a
/// shortened tag against its prefix only, so they are checked here before decrypting.
const IV_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// Claim names this module writes; typed claims must not use them.
const REGISTERED_CLAIMS: [&str; 6] = ["iss", "aud", "iat", "exp", "jti", "typ"];

/// Seals and opens every kind of token with one keyring, for one issuer and resource.
#[derive(Clone, Debug)]
pub struct TokenCodec {
    keyring: Keyring,
    issuer: String,
    resource: String,
}

impl TokenCodec {
    /// `issuer` is this server's OAuth issuer URL; `resource` the MCP endpoint's URL, the
    /// audience of access tokens. Key lengths are already guaranteed by [`Keyring`].
    pub fn new(keyring: Keyring, issuer: impl Into<String>, resource: impl Into<String>) -> Self {
        Self {
            keyring,
            issuer: issuer.into(),
            resource: resource.into(),
        }
    }

    pub fn keyring(&self) -> &Keyring {
        &self.keyring
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn resource(&self) -> &str {
        &self.resource
    }

    /// Seals `claims` as a token of `purpose`, valid for `lifetime` from now (`None`: no
    /// `exp`, the token never expires).
    pub fn seal<T: Serialize>(
        &self,
        purpose: Purpose,
        claims: &T,
        lifetime: Option<Duration>,
    ) -> Result<String, TokenError> {
        self.seal_at(purpose, claims, lifetime, unix_now())
    }

    /// [`seal`](Self::seal) as if the time were `now` (unix seconds).
    pub fn seal_at<T: Serialize>(
        &self,
        purpose: Purpose,
        claims: &T,
        lifetime: Option<Duration>,
        now: i64,
    ) -> Result<String, TokenError> {
        let payload = self.payload(purpose, claims, lifetime, now)?;
        let token = encrypt(self.keyring.primary(), &payload)?;
        if token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::Encode(format!(
                "token would exceed {MAX_TOKEN_LEN} bytes"
            )));
        }
        Ok(token)
    }

    /// Opens a token that must be of `purpose`, made by this issuer for the right
    /// audience and not expired, and returns its typed claims.
    pub fn open<T: DeserializeOwned>(
        &self,
        purpose: Purpose,
        token: &str,
    ) -> Result<T, TokenError> {
        self.open_at(purpose, token, unix_now())
    }

    /// [`open`](Self::open) as if the time were `now` (unix seconds).
    pub fn open_at<T: DeserializeOwned>(
        &self,
        purpose: Purpose,
        token: &str,
        now: i64,
    ) -> Result<T, TokenError> {
        self.open_with_id_at(purpose, token, now)
            .map(|opened| opened.claims)
    }

    /// [`open`](Self::open), also returning the token's `jti` and `exp` (for single-use
    /// codes and refresh-token rotation).
    pub fn open_with_id<T: DeserializeOwned>(
        &self,
        purpose: Purpose,
        token: &str,
    ) -> Result<Opened<T>, TokenError> {
        self.open_with_id_at(purpose, token, unix_now())
    }

    /// `payload` sealed as is with the primary key, for the fuzz targets
    /// ([`crate::fuzzing`]): opening can then be tried on any claims, past decryption.
    pub(crate) fn seal_raw(&self, payload: &[u8]) -> Result<String, TokenError> {
        encrypt(self.keyring.primary(), payload)
    }

    fn open_with_id_at<T: DeserializeOwned>(
        &self,
        purpose: Purpose,
        token: &str,
        now: i64,
    ) -> Result<Opened<T>, TokenError> {
        let mut claims = self.decrypt_claims(token)?;
        check_purpose(&claims, purpose)?;
        self.check_issuer(&claims)?;
        self.check_audience(&claims, purpose)?;
        check_expiry(&claims, now)?;
        let jti = string_claim(&claims, "jti")?.to_string();
        let expires_at = claims.get("exp").and_then(Value::as_i64);
        for name in REGISTERED_CLAIMS {
            claims.remove(name);
        }
        let claims = T::deserialize(Value::Object(claims)).map_err(|_| TokenError::Malformed)?;
        Ok(Opened {
            claims,
            jti,
            expires_at,
        })
    }

    /// The audience a token of `purpose` is made for.
    fn audience(&self, purpose: Purpose) -> &str {
        match purpose {
            Purpose::Access => &self.resource,
            _ => &self.issuer,
        }
    }

    /// The JSON payload: the typed claims with the registered claims beside them.
    fn payload<T: Serialize>(
        &self,
        purpose: Purpose,
        claims: &T,
        lifetime: Option<Duration>,
        now: i64,
    ) -> Result<Vec<u8>, TokenError> {
        let mut map = claims_object(claims)?;
        map.insert("typ".into(), purpose.as_str().into());
        map.insert("iss".into(), self.issuer.clone().into());
        map.insert("aud".into(), self.audience(purpose).into());
        map.insert("iat".into(), now.into());
        if let Some(exp) = expiry(now, lifetime)? {
            map.insert("exp".into(), exp.into());
        }
        map.insert(
            "jti".into(),
            uuid::Uuid::new_v4().simple().to_string().into(),
        );
        serde_json::to_vec(&map)
            .map_err(|_| TokenError::Encode("claims cannot be serialised".into()))
    }

    /// Checks the token's shape, finds its key and decrypts its payload object.
    fn decrypt_claims(&self, token: &str) -> Result<Map<String, Value>, TokenError> {
        let kid = checked_kid(token)?;
        let key = self.keyring.find(&kid).ok_or(TokenError::Decrypt)?;
        let payload = decrypt(key, token)?;
        match serde_json::from_slice(&payload) {
            Ok(Value::Object(map)) => Ok(map),
            _ => Err(TokenError::Malformed),
        }
    }

    fn check_issuer(&self, claims: &Map<String, Value>) -> Result<(), TokenError> {
        if string_claim(claims, "iss")? != self.issuer {
            return Err(TokenError::WrongIssuer);
        }
        Ok(())
    }

    fn check_audience(
        &self,
        claims: &Map<String, Value>,
        purpose: Purpose,
    ) -> Result<(), TokenError> {
        if string_claim(claims, "aud")? != self.audience(purpose) {
            return Err(TokenError::WrongAudience);
        }
        Ok(())
    }
}

/// An opened token: its typed claims and the registered claims callers may need.
#[derive(Debug)]
pub struct Opened<T> {
    pub claims: T,
    /// The token's unique id.
    pub jti: String,
    /// Expiry in unix seconds, if the token expires.
    pub expires_at: Option<i64>,
}

/// The current time in unix seconds.
pub fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// The typed claims as a JSON object that leaves the registered names free.
fn claims_object<T: Serialize>(claims: &T) -> Result<Map<String, Value>, TokenError> {
    let value = serde_json::to_value(claims)
        .map_err(|_| TokenError::Encode("claims cannot be serialised".into()))?;
    let Value::Object(map) = value else {
        return Err(TokenError::Encode("claims must be a JSON object".into()));
    };
    if let Some(name) = REGISTERED_CLAIMS
        .iter()
        .find(|name| map.contains_key(**name))
    {
        return Err(TokenError::Encode(format!(
            "claims use the reserved name {name}"
        )));
    }
    Ok(map)
}

/// `now + lifetime` in unix seconds, or `None` for no lifetime.
fn expiry(now: i64, lifetime: Option<Duration>) -> Result<Option<i64>, TokenError> {
    let Some(lifetime) = lifetime else {
        return Ok(None);
    };
    i64::try_from(lifetime.as_secs())
        .ok()
        .and_then(|secs| now.checked_add(secs))
        .map(Some)
        .ok_or_else(|| TokenError::Encode("lifetime is too long".into()))
}

fn encrypt(key: &KeyEntry, payload: &[u8]) -> Result<String, TokenError> {
    let mut header = JweHeader::new();
    header.set_content_encryption(ENC_A256GCM);
    header.set_key_id(key.kid());
    let encrypter = Dir
        .encrypter_from_bytes(key.bytes())
        .map_err(|_| TokenError::Encode("key rejected".into()))?;
    jwe::serialize_compact(payload, &header, &encrypter)
        .map_err(|_| TokenError::Encode("encryption failed".into()))
}

fn decrypt(key: &KeyEntry, token: &str) -> Result<Vec<u8>, TokenError> {
    let decrypter = Dir
        .decrypter_from_bytes(key.bytes())
        .map_err(|_| TokenError::Decrypt)?;
    let (payload, _header) =
        jwe::deserialize_compact(token, &decrypter).map_err(|_| TokenError::Decrypt)?;
    Ok(payload)
}

/// The protected header this module writes; anything else (other algorithms,
/// compression, `crit`) is refused.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProtectedHeader {
    alg: String,
    enc: String,
    kid: String,
    #[serde(default, rename = "typ")]
    _typ: Option<String>,
}

/// Checks that `token` is a compact JWE of the shape this module makes and returns the
/// `kid` of its header. Nothing is decrypted yet.
fn checked_kid(token: &str) -> Result<String, TokenError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(TokenError::Malformed);
    }
    let parts: Vec<&str> = token.split('.').collect();
    let [header, encrypted_key, iv, _ciphertext, tag] = parts.as_slice() else {
        return Err(TokenError::Malformed);
    };
    let shape_is_ours = encrypted_key.is_empty()
        && decoded_len(iv) == Some(IV_LEN)
        && decoded_len(tag) == Some(TAG_LEN);
    if !shape_is_ours {
        return Err(TokenError::Malformed);
    }
    let header: ProtectedHeader = URL_SAFE_NO_PAD
        .decode(header)
        .ok()
        .and_then(|json| serde_json::from_slice(&json).ok())
        .ok_or(TokenError::Malformed)?;
    if header.alg != ALG_DIR || header.enc != ENC_A256GCM {
        return Err(TokenError::Malformed);
    }
    Ok(header.kid)
}

fn decoded_len(part: &str) -> Option<usize> {
    URL_SAFE_NO_PAD.decode(part).ok().map(|bytes| bytes.len())
}

fn string_claim<'a>(claims: &'a Map<String, Value>, name: &str) -> Result<&'a str, TokenError> {
    claims
        .get(name)
        .and_then(Value::as_str)
        .ok_or(TokenError::Malformed)
}

fn check_purpose(claims: &Map<String, Value>, expected: Purpose) -> Result<(), TokenError> {
    let found: Purpose = string_claim(claims, "typ")?
        .parse()
        .map_err(|()| TokenError::Malformed)?;
    if found != expected {
        return Err(TokenError::WrongPurpose { expected, found });
    }
    Ok(())
}

fn check_expiry(claims: &Map<String, Value>, now: i64) -> Result<(), TokenError> {
    let Some(exp) = claims.get("exp") else {
        return Ok(());
    };
    let exp = exp.as_i64().ok_or(TokenError::Malformed)?;
    if now >= exp.saturating_add(CLOCK_SKEW_LEEWAY_SECS) {
        return Err(TokenError::Expired);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::fmt::Debug;
    use std::time::Instant;

    use super::*;
    use crate::token::claims::fixtures;
    use crate::token::{AccessClaims, Lifetimes};

    const ISSUER: &str = "https://mail.example.com";
    const RESOURCE: &str = "https://mail.example.com/mcp";
    /// 2026-01-01T00:00:00Z.
    const T0: i64 = 1_767_225_600;
    const HOUR: Duration = Duration::from_secs(3600);

    fn codec_with(keys: &[[u8; 32]]) -> TokenCodec {
        TokenCodec::new(
            Keyring::new(keys.iter().copied()).unwrap(),
            ISSUER,
            RESOURCE,
        )
    }

    fn codec() -> TokenCodec {
        codec_with(&[[1; 32]])
    }

    fn access_token(codec: &TokenCodec) -> String {
        codec
            .seal_at(Purpose::Access, &fixtures::access(), Some(HOUR), T0)
            .unwrap()
    }

    fn open_access(codec: &TokenCodec, token: &str) -> Result<AccessClaims, TokenError> {
        codec.open_at(Purpose::Access, token, T0)
    }

    /// The decrypted payload with its registered claims, for tests that look at them.
    fn raw_claims(codec: &TokenCodec, token: &str) -> Map<String, Value> {
        codec.decrypt_claims(token).unwrap()
    }

    fn header_of(token: &str) -> Value {
        let header = token.split('.').next().unwrap();
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap()
    }

    fn assert_round_trip<T>(purpose: Purpose, claims: T)
    where
        T: Serialize + DeserializeOwned + PartialEq + Debug,
    {
        let codec = codec();
        let lifetime = Lifetimes::default().for_purpose(purpose);
        let token = codec.seal_at(purpose, &claims, lifetime, T0).unwrap();
        let opened: T = codec.open_at(purpose, &token, T0).unwrap();
        assert_eq!(opened, claims, "{purpose}");
    }

    #[test]
    fn every_purpose_round_trips_its_claims() {
        assert_round_trip(Purpose::Client, fixtures::client());
        assert_round_trip(Purpose::Code, fixtures::code());
        assert_round_trip(Purpose::Access, fixtures::access());
        assert_round_trip(Purpose::Refresh, fixtures::refresh());
        assert_round_trip(Purpose::Form, fixtures::form());
    }

    #[test]
    fn payload_carries_the_registered_claims_beside_the_typed_ones() {
        let codec = codec();
        let access = raw_claims(&codec, &access_token(&codec));
        assert_eq!(access["typ"], "access");
        assert_eq!(access["iss"], ISSUER);
        assert_eq!(access["aud"], RESOURCE);
        assert_eq!(access["iat"], T0);
        assert_eq!(access["exp"], T0 + 3600);
        assert_eq!(access["jti"].as_str().unwrap().len(), 32);
        assert_eq!(access["scope"], "mail");

        let client = codec
            .seal_at(Purpose::Client, &fixtures::client(), None, T0)
            .unwrap();
        assert_eq!(raw_claims(&codec, &client)["aud"], ISSUER);
    }

    #[test]
    fn header_is_dir_a256gcm_with_the_primary_kid() {
        let codec = codec();
        let header = header_of(&access_token(&codec));
        assert_eq!(
            header,
            serde_json::json!({"alg": "dir", "enc": "A256GCM", "kid": codec.keyring().primary_kid()})
        );
    }

    #[test]
    fn the_same_claims_seal_to_different_tokens_with_different_jtis() {
        let codec = codec();
        let (a, b) = (access_token(&codec), access_token(&codec));
        assert_ne!(a, b);
        assert_ne!(raw_claims(&codec, &a)["jti"], raw_claims(&codec, &b)["jti"]);
    }

    #[test]
    fn a_token_from_another_key_cannot_be_decrypted() {
        let token = access_token(&codec_with(&[[2; 32]]));
        assert_eq!(open_access(&codec(), &token), Err(TokenError::Decrypt));
    }

    #[test]
    fn altering_any_of_the_five_compact_parts_is_refused() {
        let codec = codec();
        let token = access_token(&codec);
        let cases = [
            ("header", TokenError::Malformed),
            ("encrypted key", TokenError::Malformed),
            ("iv", TokenError::Decrypt),
            ("ciphertext", TokenError::Decrypt),
            ("tag", TokenError::Decrypt),
        ];
        for (part, (name, expected)) in cases.into_iter().enumerate() {
            let tampered = tamper_part(&token, part);
            assert_ne!(tampered, token);
            assert_eq!(open_access(&codec, &tampered), Err(expected), "{name}");
        }
    }

    #[test]
    fn the_header_is_authenticated_even_when_it_still_parses() {
        let codec = codec();
        let token = access_token(&codec);
        let (_, rest) = token.split_once('.').unwrap();
        let same_meaning = serde_json::to_string_pretty(&header_of(&token)).unwrap();
        let rewritten = format!("{}.{rest}", URL_SAFE_NO_PAD.encode(same_meaning));
        assert_eq!(open_access(&codec, &rewritten), Err(TokenError::Decrypt));
    }

    /// Flips one character in the middle of part `index` (whose bits are all used), or
    /// fills the part when it is empty (the encrypted key of `dir`).
    fn tamper_part(token: &str, index: usize) -> String {
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let part = &mut parts[index];
        if part.is_empty() {
            part.push_str("AAAA");
        } else {
            let middle = part.len() / 2;
            let replacement = if &part[middle..=middle] == "A" {
                "B"
            } else {
                "A"
            };
            part.replace_range(middle..=middle, replacement);
        }
        parts.join(".")
    }

    #[test]
    fn a_shortened_tag_is_refused_although_josekit_alone_would_accept_it() {
        let codec = codec();
        let token = access_token(&codec);
        let (rest, tag) = token.rsplit_once('.').unwrap();
        let short_tag = URL_SAFE_NO_PAD.encode(&URL_SAFE_NO_PAD.decode(tag).unwrap()[..4]);
        let truncated = format!("{rest}.{short_tag}");

        // OpenSSL checks only as many tag bytes as it is given: a 4-byte tag leaves 2^32
        // tries to forge a token. This is why `checked_kid` insists on the full length.
        let decrypter = Dir.decrypter_from_bytes([1u8; 32]).unwrap();
        assert!(jwe::deserialize_compact(&truncated, &decrypter).is_ok());

        assert_eq!(open_access(&codec, &truncated), Err(TokenError::Malformed));
    }

    #[test]
    fn input_that_is_not_one_of_our_jwes_is_malformed() {
        let codec = codec();
        let token = access_token(&codec);
        let kid = codec.keyring().primary_kid().to_owned();
        let with_header = |header: Value| {
            let encoded = URL_SAFE_NO_PAD.encode(header.to_string());
            let (_, rest) = token.split_once('.').unwrap();
            format!("{encoded}.{rest}")
        };
        let cases = [
            ("empty", String::new()),
            ("not a token", "not a token".to_owned()),
            (
                "four parts",
                token.splitn(5, '.').take(4).collect::<Vec<_>>().join("."),
            ),
            ("six parts", format!("{token}.AAAA")),
            ("too long", format!("{token}{}", "A".repeat(MAX_TOKEN_LEN))),
            (
                "other enc",
                with_header(serde_json::json!({"alg": "dir", "enc": "A128GCM", "kid": kid})),
            ),
            (
                "other alg",
                with_header(serde_json::json!({"alg": "A256KW", "enc": "A256GCM", "kid": kid})),
            ),
            (
                "compressed",
                with_header(
                    serde_json::json!({"alg": "dir", "enc": "A256GCM", "kid": kid, "zip": "DEF"}),
                ),
            ),
            (
                "no kid",
                with_header(serde_json::json!({"alg": "dir", "enc": "A256GCM"})),
            ),
        ];
        for (name, input) in cases {
            assert_eq!(
                open_access(&codec, &input),
                Err(TokenError::Malformed),
                "{name}"
            );
        }
    }

    #[test]
    fn a_token_of_one_purpose_is_refused_as_another() {
        let codec = codec();
        let cases = [
            (Purpose::Access, Purpose::Refresh),
            (Purpose::Refresh, Purpose::Access),
            (Purpose::Code, Purpose::Access),
            (Purpose::Client, Purpose::Access),
            (Purpose::Form, Purpose::Code),
        ];
        for (sealed_as, opened_as) in cases {
            // Claims any purpose could carry: the purpose is checked before the claims.
            let claims = serde_json::json!({"client": "x"});
            let token = codec.seal_at(sealed_as, &claims, Some(HOUR), T0).unwrap();
            let result = codec.open_at::<Value>(opened_as, &token, T0);
            let expected = TokenError::WrongPurpose {
                expected: opened_as,
                found: sealed_as,
            };
            assert_eq!(result, Err(expected), "{sealed_as} opened as {opened_as}");
        }
    }

    #[test]
    fn a_token_expires_at_exp_plus_the_leeway() {
        let codec = codec();
        let token = access_token(&codec);
        let exp = T0 + 3600;
        let cases = [
            (T0, true),
            (exp - 1, true),
            (exp + CLOCK_SKEW_LEEWAY_SECS - 1, true),
            (exp + CLOCK_SKEW_LEEWAY_SECS, false),
            (exp + 86_400, false),
        ];
        for (now, valid) in cases {
            let result = codec.open_at::<AccessClaims>(Purpose::Access, &token, now);
            let expected = if valid {
                Ok(fixtures::access())
            } else {
                Err(TokenError::Expired)
            };
            assert_eq!(result, expected, "at exp{:+}", now - exp);
        }
    }

    #[test]
    fn a_client_id_sealed_without_lifetime_has_no_exp_and_never_expires() {
        let codec = codec();
        let token = codec
            .seal_at(Purpose::Client, &fixtures::client(), None, T0)
            .unwrap();
        assert!(!raw_claims(&codec, &token).contains_key("exp"));
        let in_a_thousand_years = T0 + 1000 * 365 * 86_400;
        let opened = codec.open_at(Purpose::Client, &token, in_a_thousand_years);
        assert_eq!(opened, Ok(fixtures::client()));
    }

    #[test]
    fn a_token_from_another_issuer_is_refused_even_with_the_same_key() {
        let other = TokenCodec::new(codec().keyring().clone(), "https://other.example", RESOURCE);
        let token = access_token(&other);
        assert_eq!(open_access(&codec(), &token), Err(TokenError::WrongIssuer));
    }

    #[test]
    fn an_access_token_for_another_resource_is_refused_but_other_kinds_do_not_care() {
        let other = TokenCodec::new(
            codec().keyring().clone(),
            ISSUER,
            "https://other.example/mcp",
        );
        assert_eq!(
            open_access(&codec(), &access_token(&other)),
            Err(TokenError::WrongAudience)
        );
        let client = other
            .seal_at(Purpose::Client, &fixtures::client(), None, T0)
            .unwrap();
        assert!(
            codec()
                .open_at::<Value>(Purpose::Client, &client, T0)
                .is_ok()
        );
    }

    #[test]
    fn rotation_opens_old_tokens_while_the_old_key_is_listed_and_seals_with_the_new_one() {
        let (old_key, new_key) = ([1u8; 32], [2u8; 32]);
        let before = codec_with(&[old_key]);
        let during = codec_with(&[new_key, old_key]);
        let after = codec_with(&[new_key]);
        let old_token = access_token(&before);

        assert_eq!(open_access(&during, &old_token), Ok(fixtures::access()));
        assert_eq!(open_access(&after, &old_token), Err(TokenError::Decrypt));

        let new_token = access_token(&during);
        assert_eq!(header_of(&new_token)["kid"], after.keyring().primary_kid());
        assert_ne!(header_of(&new_token)["kid"], header_of(&old_token)["kid"]);
        assert_eq!(open_access(&after, &new_token), Ok(fixtures::access()));
    }

    #[test]
    fn claims_may_not_use_registered_names_or_be_other_than_an_object() {
        let codec = codec();
        let cases = [
            serde_json::json!({"exp": 1}),
            serde_json::json!({"typ": "access"}),
            serde_json::json!(["not", "an", "object"]),
        ];
        for claims in cases {
            let result = codec.seal_at(Purpose::Access, &claims, Some(HOUR), T0);
            assert!(matches!(result, Err(TokenError::Encode(_))), "{claims}");
        }
    }

    #[test]
    fn claims_of_the_wrong_shape_are_malformed() {
        let codec = codec();
        let token = codec
            .seal_at(
                Purpose::Access,
                &serde_json::json!({"scope": 1}),
                Some(HOUR),
                T0,
            )
            .unwrap();
        assert_eq!(open_access(&codec, &token), Err(TokenError::Malformed));
    }

    #[test]
    fn debug_of_the_codec_shows_no_key_bytes() {
        let key = Keyring::generate_key();
        let debug = format!("{:?}", codec_with(&[key]));
        assert!(!debug.contains(&Keyring::encode_key(&key)), "{debug}");
        assert!(!debug.contains(&format!("{:?}", &key[..4])), "{debug}");
    }

    #[test]
    fn error_messages_contain_no_token_material() {
        let codec = codec();
        let token = access_token(&codec);
        let errors = [
            open_access(&codec, &tamper_part(&token, 3)).unwrap_err(),
            codec
                .open_at::<Value>(Purpose::Refresh, &token, T0)
                .unwrap_err(),
            codec
                .open_at::<Value>(Purpose::Access, &token, T0 + 86_400)
                .unwrap_err(),
        ];
        for error in errors {
            let message = error.to_string();
            assert!(message.len() < 60, "{message}");
            assert!(
                token
                    .split('.')
                    .all(|part| !message.contains(part) || part.is_empty())
            );
            assert!(!message.contains("alice"), "{message}");
        }
    }

    /// Not an assertion: prints what a seal and an open of a typical access token cost
    /// and how long the token is. Run with `cargo test --lib token -- --nocapture`.
    #[test]
    fn measure_access_token_cost_and_length() {
        let codec = codec();
        let claims = fixtures::access();
        let token = codec.seal(Purpose::Access, &claims, Some(HOUR)).unwrap();
        const ROUNDS: u32 = 2000;
        let start = Instant::now();
        for _ in 0..ROUNDS {
            let token = codec.seal(Purpose::Access, &claims, Some(HOUR)).unwrap();
            let _: AccessClaims = codec.open(Purpose::Access, &token).unwrap();
        }
        let micros = start.elapsed().as_secs_f64() * 1e6 / f64::from(ROUNDS);
        println!(
            "access token: seal+open {micros:.1} µs (mean of {ROUNDS}, {} build), {} chars",
            if cfg!(debug_assertions) {
                "debug"
            } else {
                "release"
            },
            token.len()
        );
    }
}
