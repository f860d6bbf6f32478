//! Tokens: every OAuth artefact this server hands out (client ids, authorization codes,
//! access and refresh tokens, login-form tokens) is a JWE sealed with the server's own
//! keys, so the server keeps no state. This layer owns the keys ([`Keyring`]), sealing and
//! opening ([`TokenCodec`]), the kinds of token and how long each lives ([`Purpose`],
//! [`Lifetimes`]) and what each kind carries ([`ClientClaims`], [`CodeClaims`],
//! [`AccessClaims`], [`RefreshClaims`], [`FormClaims`], [`ApprovalClaims`]) and the person's [`SendPolicy`]. It knows nothing of HTTP: the
//! caller turns a [`TokenError`] into whatever answer its protocol wants.

mod claims;
mod jwe;
mod keyring;
mod policy;
mod purpose;

pub use claims::{
    AccessClaims, ApprovalClaims, ApprovedCall, AuthMethod, ClientClaims, CodeClaims, FormClaims,
    MailEndpoints, RefreshClaims, UpstreamGrant, UpstreamRequestClaims, client_fingerprint,
    hash_secret,
};
pub use jwe::{CLOCK_SKEW_LEEWAY_SECS, MAX_TOKEN_LEN, Opened, TokenCodec, unix_now};
pub use keyring::{KEY_LEN, Keyring};
pub use policy::SendPolicy;
pub use purpose::{APPROVAL_LIFETIME, Lifetimes, Purpose};

/// Why a token could not be made or opened. Messages are short and never contain token,
/// claim or key material, so they are safe to log.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    /// Not a JWE of the shape this server makes (parts, header, lengths, claims).
    #[error("token is malformed")]
    Malformed,
    /// Made with a key this server does not hold, or altered since it was made.
    #[error("token cannot be decrypted")]
    Decrypt,
    /// A genuine token, but of another kind than the one asked for.
    #[error("token is a {found} token, expected a {expected} token")]
    WrongPurpose { expected: Purpose, found: Purpose },
    /// Its `exp` lies in the past.
    #[error("token has expired")]
    Expired,
    /// Its `iss` is not this server.
    #[error("token was issued by another issuer")]
    WrongIssuer,
    /// Its `aud` is not what this kind of token must be meant for.
    #[error("token is meant for another audience")]
    WrongAudience,
    /// An encryption key could not be used; the reason names the entry, not its content.
    #[error("bad encryption key: {0}")]
    BadKey(String),
    /// A token could not be made.
    #[error("cannot make token: {0}")]
    Encode(String),
}
