//! The server's encryption keys: an ordered list of 32-byte keys where the first one
//! seals new tokens and every one can still open old tokens, so a key is rotated by
//! putting a new one in front and dropping the old one once its tokens have expired.
//! Each key has a short, stable `kid` (a fingerprint, not the key) that tokens carry so
//! opening never has to guess. This module owns parsing `ENCRYPTION_KEYS`, making new
//! keys and deriving purpose-bound subkeys; it never prints key bytes.

use std::fmt;

use base64::Engine;
use base64::alphabet;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};

use super::TokenError;

/// Length in bytes of every key (AES-256).
pub const KEY_LEN: usize = 32;

/// Bytes of the key's SHA-256 that make its `kid` (11 base64url characters).
const KID_HASH_BYTES: usize = 8;

/// One key and its fingerprint.
#[derive(Clone)]
pub(crate) struct KeyEntry {
    kid: String,
    bytes: [u8; KEY_LEN],
}

impl KeyEntry {
    fn new(bytes: [u8; KEY_LEN]) -> Self {
        Self {
            kid: key_id(&bytes),
            bytes,
        }
    }

    pub(crate) fn kid(&self) -> &str {
        &self.kid
    }

    pub(crate) fn bytes(&self) -> &[u8; KEY_LEN] {
        &self.bytes
    }
}

/// The ordered keys: the first seals, all open.
#[derive(Clone)]
pub struct Keyring {
    entries: Vec<KeyEntry>,
}

impl Keyring {
    /// A keyring from keys in order of preference; fails only when there is none.
    pub fn new(keys: impl IntoIterator<Item = [u8; KEY_LEN]>) -> Result<Self, TokenError> {
        let entries: Vec<KeyEntry> = keys.into_iter().map(KeyEntry::new).collect();
        if entries.is_empty() {
            return Err(TokenError::BadKey("no key given".into()));
        }
        Ok(Self { entries })
    }

    /// Parses the `ENCRYPTION_KEYS` format: comma-separated base64 keys (standard or
    /// url-safe alphabet, padded or not, whitespace around entries ignored), each exactly
    /// 32 bytes. The error names the bad entry by position, never its content.
    pub fn parse(list: &str) -> Result<Self, TokenError> {
        if list.trim().is_empty() {
            return Err(TokenError::BadKey("the key list is empty".into()));
        }
        let keys = list
            .split(',')
            .enumerate()
            .map(|(index, entry)| decode_key_entry(index + 1, entry.trim()))
            .collect::<Result<Vec<_>, _>>()?;
        Self::new(keys)
    }

    /// A fresh random key from the operating system's CSPRNG (via `rand`'s thread RNG).
    pub fn generate_key() -> [u8; KEY_LEN] {
        let mut key = [0u8; KEY_LEN];
        rand::rng().fill_bytes(&mut key);
        key
    }

    /// A key in the form [`Keyring::parse`] reads: standard base64 with padding.
    pub fn encode_key(key: &[u8; KEY_LEN]) -> String {
        STANDARD.encode(key)
    }

    /// The `kid` of the key that seals new tokens.
    pub fn primary_kid(&self) -> &str {
        self.primary().kid()
    }

    /// The `kid`s of all keys, in order.
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(KeyEntry::kid)
    }

    /// A 32-byte key for another signing use (form tokens, attachment links, derived
    /// client secrets): HMAC-SHA256 of `label` under the primary key. Distinct labels give
    /// independent keys; rotating the primary key changes every subkey.
    pub fn derive_subkey(&self, label: &str) -> [u8; KEY_LEN] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.primary().bytes())
            .expect("HMAC accepts keys of any length");
        mac.update(label.as_bytes());
        mac.finalize().into_bytes().into()
    }

    pub(crate) fn primary(&self) -> &KeyEntry {
        &self.entries[0]
    }

    pub(crate) fn find(&self, kid: &str) -> Option<&KeyEntry> {
        self.entries.iter().find(|entry| entry.kid == kid)
    }
}

impl fmt::Debug for Keyring {
    /// Shows only the `kid`s, never key bytes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("kids", &self.kids().collect::<Vec<_>>())
            .finish()
    }
}

/// The short fingerprint of a key: base64url (no padding) of the first 8 bytes of its
/// SHA-256. It identifies the key without revealing it.
fn key_id(key: &[u8; KEY_LEN]) -> String {
    let digest = Sha256::digest(key);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..KID_HASH_BYTES])
}

/// Decodes entry number `position` (1-based) of the key list.
fn decode_key_entry(position: usize, entry: &str) -> Result<[u8; KEY_LEN], TokenError> {
    if entry.is_empty() {
        return Err(TokenError::BadKey(format!("key {position} is empty")));
    }
    let bytes = lenient_base64(entry)
        .decode(entry)
        .map_err(|_| TokenError::BadKey(format!("key {position} is not valid base64")))?;
    <[u8; KEY_LEN]>::try_from(bytes.as_slice()).map_err(|_| {
        TokenError::BadKey(format!(
            "key {position} decodes to {} bytes, expected {KEY_LEN}",
            bytes.len()
        ))
    })
}

/// A decoder for the alphabet the entry uses, with or without padding.
fn lenient_base64(entry: &str) -> GeneralPurpose {
    let url_safe = entry.contains(['-', '_']);
    let alphabet = if url_safe {
        &alphabet::URL_SAFE
    } else {
        &alphabet::STANDARD
    };
    let config =
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    GeneralPurpose::new(alphabet, config)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> [u8; KEY_LEN] {
        [byte; KEY_LEN]
    }

    #[test]
    fn parse_accepts_standard_and_url_safe_with_or_without_padding_and_whitespace() {
        let bytes: [u8; KEY_LEN] = std::array::from_fn(|i| (i as u8).wrapping_mul(37) ^ 0xfb);
        let standard = STANDARD.encode(bytes);
        let url_safe = base64::engine::general_purpose::URL_SAFE.encode(bytes);
        assert!(
            standard.contains(['+', '/']),
            "the sample must exercise the alphabets"
        );
        let cases = [
            standard.clone(),
            standard.trim_end_matches('=').to_string(),
            url_safe.clone(),
            url_safe.trim_end_matches('=').to_string(),
            format!("  {standard}\n"),
        ];
        for case in cases {
            let ring = Keyring::parse(&case).unwrap_or_else(|e| panic!("{case:?}: {e}"));
            assert_eq!(ring.primary().bytes(), &bytes, "{case:?}");
        }
    }

    #[test]
    fn parse_keeps_the_order_so_the_first_key_is_primary() {
        let list = format!(
            "{} , {}",
            Keyring::encode_key(&key(1)),
            Keyring::encode_key(&key(2))
        );
        let ring = Keyring::parse(&list).unwrap();
        assert_eq!(ring.primary().bytes(), &key(1));
        assert_eq!(ring.kids().count(), 2);
        assert!(ring.find(&key_id(&key(2))).is_some());
    }

    #[test]
    fn parse_errors_name_the_entry_and_its_length_but_never_the_key() {
        let good = Keyring::encode_key(&key(7));
        let short = STANDARD.encode([9u8; 31]);
        let cases = [
            ("", "the key list is empty"),
            ("   ", "the key list is empty"),
            ("not base64!", "key 1 is not valid base64"),
            (&short, "key 1 decodes to 31 bytes, expected 32"),
            (
                &format!("{good},{short}"),
                "key 2 decodes to 31 bytes, expected 32",
            ),
            (&format!("{good},,{good}"), "key 2 is empty"),
            (&format!("{good},"), "key 2 is empty"),
        ];
        for (input, reason) in cases {
            let err = Keyring::parse(input).unwrap_err();
            assert_eq!(err, TokenError::BadKey(reason.into()), "{input:?}");
            let message = err.to_string();
            assert!(!message.contains(&short) && !message.contains(&good));
        }
    }

    #[test]
    fn generated_keys_are_random_and_round_trip_through_encode_and_parse() {
        let (a, b) = (Keyring::generate_key(), Keyring::generate_key());
        assert_ne!(a, b);
        let ring = Keyring::parse(&Keyring::encode_key(&a)).unwrap();
        assert_eq!(ring.primary().bytes(), &a);
    }

    #[test]
    fn kid_is_short_stable_and_differs_between_keys() {
        assert_eq!(key_id(&key(1)), key_id(&key(1)));
        assert_ne!(key_id(&key(1)), key_id(&key(2)));
        assert_eq!(key_id(&key(1)).len(), 11);
    }

    #[test]
    fn subkeys_depend_on_label_and_primary_key_only() {
        let ring = Keyring::new([key(1), key(2)]).unwrap();
        let same_primary = Keyring::new([key(1)]).unwrap();
        let other_primary = Keyring::new([key(2), key(1)]).unwrap();
        assert_eq!(
            ring.derive_subkey("form"),
            same_primary.derive_subkey("form")
        );
        assert_ne!(
            ring.derive_subkey("form"),
            ring.derive_subkey("attachments")
        );
        assert_ne!(
            ring.derive_subkey("form"),
            other_primary.derive_subkey("form")
        );
        assert_ne!(ring.derive_subkey("form"), key(1));
    }

    #[test]
    fn new_refuses_an_empty_list() {
        assert!(matches!(Keyring::new([]), Err(TokenError::BadKey(_))));
    }

    #[test]
    fn debug_shows_kids_but_never_key_bytes() {
        let secret = Keyring::generate_key();
        let ring = Keyring::new([secret]).unwrap();
        let debug = format!("{ring:?}");
        assert!(debug.contains(ring.primary_kid()));
        for encoded in [
            Keyring::encode_key(&secret),
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret),
            format!("{secret:?}"),
            format!("{:?}", &secret[..4]),
        ] {
            assert!(!debug.contains(&encoded), "{debug}");
        }
    }
}
