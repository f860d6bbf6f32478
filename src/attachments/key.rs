//! Object keys: where one attachment of one message lives in a store. A key is derived
//! deterministically from the account's verified identity ([`Owner`]: the IMAP server and
//! the username it accepted the password for, never the address typed on the login page,
//! which nobody checks) and the part's address (folder, uid_validity, uid,
//! part id), so reading the same message twice finds the object already uploaded; it is an
//! HMAC under a server subkey, so it reveals neither the address nor the folder and cannot
//! be guessed without the server's key. The key also names a local file, so [`parse`]
//! accepts nothing but the exact shape [`derive`] makes (no `..`, no stray characters).
//!
//! Shape: `<account tag>/<object tag>[.<ext>]`, both tags base64url. The account tag
//! groups an account's objects (one prefix per account: a lifecycle rule or a clean-up can
//! target it), the optional extension only makes URLs friendlier.
//!
//! [`parse`]: AttachmentKey::parse
//! [`derive`]: AttachmentKey::derive

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Label of the keyring subkey that keys are derived under (`Keyring::derive_subkey`).
pub const KEY_SUBKEY_LABEL: &str = "attachment-keys";

/// Bytes of HMAC kept for the account tag (16 base64url characters).
const ACCOUNT_TAG_BYTES: usize = 12;
/// Bytes of HMAC kept for the object tag (32 base64url characters).
const OBJECT_TAG_BYTES: usize = 24;
const ACCOUNT_TAG_CHARS: usize = 16;
/// Bytes of HMAC kept for the owner tag (43 base64url characters).
const OWNER_TAG_BYTES: usize = 32;
const OWNER_TAG_CHARS: usize = 43;
const OBJECT_TAG_CHARS: usize = 32;
/// Longest extension kept from a filename.
const MAX_EXTENSION_CHARS: usize = 10;

/// Whom an object belongs to: the identity the mail server verified. The IMAP host is
/// compared case-insensitively; port and username exactly (servers differ on whether
/// usernames fold case, so two spellings stay two owners).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Owner<'a> {
    pub imap_host: &'a str,
    pub imap_port: u16,
    pub username: &'a str,
}

impl Owner<'_> {
    fn feed_into(&self, mac: &mut Hmac<Sha256>) {
        feed(mac, self.imap_host.to_lowercase().as_bytes());
        mac.update(&self.imap_port.to_be_bytes());
        feed(mac, self.username.as_bytes());
    }
}

/// The opaque, validated name of one stored attachment.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct AttachmentKey(String);

impl AttachmentKey {
    /// The key of part `part` of message `uid` in `folder` (with its `uid_validity`) of
    /// the account `owner`; folder and part compared exactly. `subkey` is
    /// `keyring.derive_subkey(KEY_SUBKEY_LABEL)`.
    pub fn derive(
        subkey: &[u8; 32],
        owner: &Owner<'_>,
        folder: &str,
        uid_validity: u32,
        uid: u32,
        part: &str,
    ) -> AttachmentKey {
        let account = account_tag(subkey, owner);
        let mut mac = keyed(subkey, b"object-v2");
        owner.feed_into(&mut mac);
        feed(&mut mac, folder.as_bytes());
        mac.update(&uid_validity.to_be_bytes());
        mac.update(&uid.to_be_bytes());
        feed(&mut mac, part.as_bytes());
        let object = URL_SAFE_NO_PAD.encode(&mac.finalize().into_bytes()[..OBJECT_TAG_BYTES]);
        AttachmentKey(format!("{account}/{object}"))
    }

    /// The same key with the lower-cased extension of `filename` appended (`.pdf`), when
    /// it has a short alphanumeric one; otherwise unchanged.
    pub fn with_extension_of(self, filename: &str) -> AttachmentKey {
        let base = self.0.split('.').next().unwrap_or_default().to_string();
        match extension(filename) {
            Some(ext) => AttachmentKey(format!("{base}.{ext}")),
            None => AttachmentKey(base),
        }
    }

    /// Whether this key was derived for `owner` (any message).
    pub fn belongs_to(&self, subkey: &[u8; 32], owner: &Owner<'_>) -> bool {
        self.account_tag() == account_tag(subkey, owner)
    }

    /// Accepts exactly the shape [`AttachmentKey::derive`] makes, nothing else.
    pub fn parse(text: &str) -> Option<AttachmentKey> {
        let (account, rest) = text.split_once('/')?;
        let (object, ext) = match rest.split_once('.') {
            Some((object, ext)) => (object, Some(ext)),
            None => (rest, None),
        };
        let tags_ok = is_tag(account, ACCOUNT_TAG_CHARS) && is_tag(object, OBJECT_TAG_CHARS);
        let ext_ok = ext.is_none_or(is_extension);
        (tags_ok && ext_ok).then(|| AttachmentKey(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The per-account prefix (first path segment).
    pub fn account_tag(&self) -> &str {
        self.0.split('/').next().unwrap_or_default()
    }

    /// The file name part (object tag and extension).
    pub fn object_name(&self) -> &str {
        self.0
            .split_once('/')
            .map(|(_, name)| name)
            .unwrap_or_default()
    }
}

impl fmt::Display for AttachmentKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for AttachmentKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AttachmentKey({})", self.0)
    }
}

/// Whom a stored object belongs to, kept with the object itself (S3 metadata `owner`, the
/// local store's description file): an HMAC of the verified identity ([`Owner`]) under
/// the same subkey as the keys, in its own domain, so it reveals no identity and cannot
/// be made without the server's key. A read checks it against the caller's before handing
/// anything out: the key already names the account, so a different tag under one's own
/// key means the store was written to by someone else.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnerTag(String);

impl OwnerTag {
    /// The tag of `owner`; `subkey` is `keyring.derive_subkey(KEY_SUBKEY_LABEL)`.
    pub fn derive(subkey: &[u8; 32], owner: &Owner<'_>) -> OwnerTag {
        let mut mac = keyed(subkey, b"owner-v1");
        owner.feed_into(&mut mac);
        OwnerTag(URL_SAFE_NO_PAD.encode(&mac.finalize().into_bytes()[..OWNER_TAG_BYTES]))
    }

    /// Accepts exactly the shape [`OwnerTag::derive`] makes (a stored value is not trusted).
    pub fn parse(text: &str) -> Option<OwnerTag> {
        is_tag(text, OWNER_TAG_CHARS).then(|| OwnerTag(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `stored` is this tag, compared in constant time.
    pub fn matches(&self, stored: &OwnerTag) -> bool {
        use subtle::ConstantTimeEq;
        bool::from(self.0.as_bytes().ct_eq(stored.0.as_bytes()))
    }
}

fn account_tag(subkey: &[u8; 32], owner: &Owner<'_>) -> String {
    let mut mac = keyed(subkey, b"account-v2");
    owner.feed_into(&mut mac);
    URL_SAFE_NO_PAD.encode(&mac.finalize().into_bytes()[..ACCOUNT_TAG_BYTES])
}

fn keyed(subkey: &[u8; 32], domain: &[u8]) -> Hmac<Sha256> {
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(subkey).expect("HMAC accepts keys of any length");
    feed(&mut mac, domain);
    mac
}

/// Length-prefixed, so that no two different field lists hash the same bytes.
fn feed(mac: &mut Hmac<Sha256>, field: &[u8]) {
    mac.update(&(field.len() as u64).to_be_bytes());
    mac.update(field);
}

fn is_tag(text: &str, len: usize) -> bool {
    text.len() == len
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn is_extension(text: &str) -> bool {
    (1..=MAX_EXTENSION_CHARS).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

fn extension(filename: &str) -> Option<String> {
    let (stem, ext) = filename.rsplit_once('.')?;
    let ext = ext.to_ascii_lowercase();
    (!stem.is_empty() && is_extension(&ext)).then_some(ext)
}

/// An owner at a made-up IMAP server, for unit tests of the stores.
#[cfg(test)]
pub(crate) fn tests_owner(username: &'static str) -> Owner<'static> {
    Owner {
        imap_host: "imap.example.test",
        imap_port: 993,
        username,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUBKEY: [u8; 32] = [7; 32];

    fn owner(username: &str) -> Owner<'_> {
        Owner {
            imap_host: "imap.example.test",
            imap_port: 993,
            username,
        }
    }

    fn key(user: &str, folder: &str, uid_validity: u32, uid: u32, part: &str) -> AttachmentKey {
        AttachmentKey::derive(&SUBKEY, &owner(user), folder, uid_validity, uid, part)
    }

    #[test]
    fn derivation_is_deterministic_and_case_insensitive_for_the_host_only() {
        let a = key("alice", "INBOX", 1, 2, "2");
        assert_eq!(a, key("alice", "INBOX", 1, 2, "2"));
        let upper_host = Owner {
            imap_host: "IMAP.Example.TEST",
            ..owner("alice")
        };
        assert_eq!(
            a,
            AttachmentKey::derive(&SUBKEY, &upper_host, "INBOX", 1, 2, "2")
        );
        assert_ne!(
            a.account_tag(),
            key("Alice", "INBOX", 1, 2, "2").account_tag()
        );
        assert_eq!(AttachmentKey::parse(a.as_str()), Some(a));
    }

    /// The identity is what the IMAP server verified (host, port, username): another
    /// username, port or host is another owner, whatever address was typed at login.
    #[test]
    fn every_field_changes_the_object_and_only_the_identity_changes_the_prefix() {
        let base = key("alice", "INBOX", 1, 2, "2");
        let others = [
            (key("bob", "INBOX", 1, 2, "2"), true),
            (key("alice", "Archive", 1, 2, "2"), false),
            (key("alice", "INBOX", 9, 2, "2"), false),
            (key("alice", "INBOX", 1, 3, "2"), false),
            (key("alice", "INBOX", 1, 2, "3"), false),
            (key("alice", "INBOX", 1, 2, "2.1"), false),
        ];
        for (other, other_account) in others {
            assert_ne!(other.object_name(), base.object_name(), "{other:?}");
            assert_eq!(other.account_tag() != base.account_tag(), other_account);
        }
        let identities = [
            Owner {
                imap_host: "imap.other",
                ..owner("alice")
            },
            Owner {
                imap_port: 143,
                ..owner("alice")
            },
        ];
        for other in identities {
            let k = AttachmentKey::derive(&SUBKEY, &other, "INBOX", 1, 2, "2");
            assert_ne!(k.account_tag(), base.account_tag(), "{other:?}");
            assert!(!base.belongs_to(&SUBKEY, &other), "{other:?}");
        }
        let other_subkey = AttachmentKey::derive(&[8; 32], &owner("alice"), "INBOX", 1, 2, "2");
        assert_ne!(other_subkey, base);
    }

    /// The owner tag is per identity and per server key, has one shape, and names nothing.
    #[test]
    fn owner_tags_differ_per_identity_and_reveal_nothing() {
        let alice = OwnerTag::derive(&SUBKEY, &owner("alice@example.test"));
        assert_eq!(
            alice,
            OwnerTag::derive(&SUBKEY, &owner("alice@example.test"))
        );
        assert!(alice.matches(&OwnerTag::parse(alice.as_str()).unwrap()));
        let others = [
            OwnerTag::derive(&SUBKEY, &owner("bob@example.test")),
            OwnerTag::derive(&[8; 32], &owner("alice@example.test")),
        ];
        for other in others {
            assert!(!alice.matches(&other), "{other:?}");
        }
        let account = key("alice@example.test", "INBOX", 1, 2, "2");
        assert_ne!(alice.as_str(), account.account_tag());
        assert!(!alice.as_str().contains("alice"));
        for bad in [
            "",
            "short",
            &format!("{}/", &alice.as_str()[1..]),
            &format!("{}x", alice.as_str()),
        ] {
            assert_eq!(OwnerTag::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn keys_reveal_nothing_of_the_account_or_folder() {
        let k = key("alice@example.test", "Secret-Project", 1, 2, "2");
        for word in ["alice", "example", "Secret", "INBOX", "@"] {
            assert!(!k.as_str().contains(word), "{k:?} contains {word}");
        }
        assert!(k.belongs_to(&SUBKEY, &owner("alice@example.test")));
        assert!(!k.belongs_to(&SUBKEY, &owner("bob@example.test")));
    }

    #[test]
    fn extensions_are_short_lowercase_and_replace_an_earlier_one() {
        let k = key("a@example.test", "INBOX", 1, 2, "2");
        let cases = [
            ("report.PDF", Some("pdf")),
            ("archive.tar.gz", Some("gz")),
            ("no-extension", None),
            (".hidden", None),
            ("weird.p/f", None),
            ("long.abcdefghijk", None),
            ("ümlaut.dä", None),
        ];
        for (filename, ext) in cases {
            let with = k.clone().with_extension_of(filename);
            let expected = match ext {
                Some(ext) => format!("{k}.{ext}"),
                None => k.to_string(),
            };
            assert_eq!(with.as_str(), expected, "{filename}");
            assert_eq!(AttachmentKey::parse(with.as_str()), Some(with.clone()));
            assert_eq!(with.with_extension_of("x.txt").as_str(), format!("{k}.txt"));
        }
    }

    #[test]
    fn parse_refuses_anything_but_the_derived_shape() {
        let k = key("a@example.test", "INBOX", 1, 2, "2").to_string();
        let (account, object) = k.split_once('/').unwrap();
        let cases = [
            String::new(),
            "../../etc/passwd".to_string(),
            format!("{account}/{object}/x"),
            format!("{account}/../{object}"),
            format!("{account}/{object}.PDF"),
            format!("{account}/{object}.a.b"),
            format!("{account}/{object}."),
            format!("{account}x/{object}"),
            format!("{account}/{}", &object[1..]),
            format!("{account}/{}%2e", &object[1..]),
            format!("/{account}/{object}"),
            format!("{account}\\{object}"),
        ];
        for case in cases {
            assert_eq!(AttachmentKey::parse(&case), None, "{case:?}");
        }
    }
}
