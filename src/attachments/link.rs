//! Signed, expiring local attachment links (`BASE_URL/attachments/<signed_link>`).
//! A signed link names one object key and a Unix expiry time, authenticated with HMAC-SHA256
//! under a subkey of the server's keyring; verification is constant-time and checks the
//! signature before the expiry, so an altered expiry is "tampered", not "expired".
//! Pure: time is passed in, nothing is read or written.
//!
//! Signed link: `<base64url(key)>.<expiry seconds>.<base64url(first 16 bytes of the MAC)>`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::AttachmentStoreError;
use super::key::AttachmentKey;

/// Label of the keyring subkey that signs links (`Keyring::derive_subkey`).
pub const LINK_SUBKEY_LABEL: &str = "attachment-links";

/// Bytes of the MAC a signed link carries (128 bits).
const TAG_BYTES: usize = 16;
/// Longest signed link considered at all (a key, an expiry and a tag are far shorter).
const MAX_SIGNED_LINK_CHARS: usize = 256;
/// Domain separation for the MAC input.
const CONTEXT: &[u8] = b"mail_mcp attachment link v1";

/// Signs and checks signed links with one subkey.
#[derive(Clone)]
pub struct LinkSigner {
    subkey: [u8; 32],
}

impl LinkSigner {
    /// A signer for `keyring.derive_subkey(LINK_SUBKEY_LABEL)`.
    pub fn new(subkey: [u8; 32]) -> LinkSigner {
        LinkSigner { subkey }
    }

    /// A signed link for `key` that stops working at `expires_unix` (seconds since the epoch).
    pub fn sign(&self, key: &AttachmentKey, expires_unix: u64) -> String {
        let tag = self.mac(key.as_str(), expires_unix).finalize().into_bytes();
        format!(
            "{}.{expires_unix}.{}",
            URL_SAFE_NO_PAD.encode(key.as_str()),
            URL_SAFE_NO_PAD.encode(&tag[..TAG_BYTES])
        )
    }

    /// The key a signed link names, when its signature is ours ([`AttachmentStoreError::LinkInvalid`]
    /// otherwise) and it has not expired at `now_unix` ([`AttachmentStoreError::LinkExpired`]).
    pub fn verify(
        &self,
        signed_link: &str,
        now_unix: u64,
    ) -> Result<AttachmentKey, AttachmentStoreError> {
        let (key, expires, tag) =
            split_signed_link(signed_link).ok_or(AttachmentStoreError::LinkInvalid)?;
        self.mac(key.as_str(), expires)
            .verify_truncated_left(&tag)
            .map_err(|_| AttachmentStoreError::LinkInvalid)?;
        if now_unix >= expires {
            return Err(AttachmentStoreError::LinkExpired);
        }
        Ok(key)
    }

    fn mac(&self, key: &str, expires_unix: u64) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.subkey)
            .expect("HMAC accepts keys of any length");
        mac.update(CONTEXT);
        mac.update(&(key.len() as u64).to_be_bytes());
        mac.update(key.as_bytes());
        mac.update(&expires_unix.to_be_bytes());
        mac
    }
}

/// The three parts of a well-formed signed link; `None` for anything else.
fn split_signed_link(signed_link: &str) -> Option<(AttachmentKey, u64, Vec<u8>)> {
    if signed_link.len() > MAX_SIGNED_LINK_CHARS {
        return None;
    }
    let mut parts = signed_link.split('.');
    let (key, expires, tag) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || !expires.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let key = String::from_utf8(URL_SAFE_NO_PAD.decode(key).ok()?).ok()?;
    let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
    if tag.len() != TAG_BYTES {
        return None;
    }
    Some((AttachmentKey::parse(&key)?, expires.parse().ok()?, tag))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> AttachmentKey {
        AttachmentKey::derive(
            &[1; 32],
            &crate::attachments::key::tests_owner("a"),
            "INBOX",
            1,
            2,
            "2",
        )
        .with_extension_of("x.pdf")
    }

    fn signer() -> LinkSigner {
        LinkSigner::new([3; 32])
    }

    #[test]
    fn a_signed_link_opens_until_it_expires() {
        let signed_link = signer().sign(&key(), 1_000);
        assert!(
            !signed_link.contains('/'),
            "a signed link is one path segment: {signed_link}"
        );
        assert_eq!(signer().verify(&signed_link, 999).ok(), Some(key()));
        assert!(matches!(
            signer().verify(&signed_link, 1_000),
            Err(AttachmentStoreError::LinkExpired)
        ));
        assert!(matches!(
            signer().verify(&signed_link, 5_000),
            Err(AttachmentStoreError::LinkExpired)
        ));
    }

    #[test]
    fn altered_or_foreign_signed_links_are_invalid_even_when_expired() {
        let signed_link = signer().sign(&key(), 1_000);
        let (encoded_key, rest) = signed_link.split_once('.').unwrap();
        let (_, tag) = rest.split_once('.').unwrap();
        let other_key = AttachmentKey::derive(
            &[1; 32],
            &crate::attachments::key::tests_owner("b"),
            "INBOX",
            1,
            2,
            "2",
        );
        let first = if tag.starts_with('A') { "B" } else { "A" };
        let flipped_tag = format!("{first}{}", &tag[1..]);
        let cases = [
            format!("{encoded_key}.9999.{tag}"),
            format!("{encoded_key}.1000.{flipped_tag}"),
            format!("{}.1000.{tag}", URL_SAFE_NO_PAD.encode(other_key.as_str())),
            LinkSigner::new([4; 32]).sign(&key(), 1_000),
            format!("{signed_link}.x"),
            format!("{encoded_key}.+1000.{tag}"),
            format!("{encoded_key}.1000"),
            format!("{}.1000.{tag}", URL_SAFE_NO_PAD.encode("../../etc/passwd")),
            format!("{encoded_key}.1000.{}", &tag[..tag.len() - 2]),
            String::new(),
            "x".repeat(300),
        ];
        for case in cases {
            for now in [500, 5_000] {
                let result = signer().verify(&case, now);
                assert!(
                    matches!(result, Err(AttachmentStoreError::LinkInvalid)),
                    "{case}: {result:?}"
                );
            }
        }
    }
}
