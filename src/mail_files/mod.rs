//! Attachments of mail as files: the links that reading hands out for the attachments of
//! messages, and the files that sending attaches. It joins the mailbox (`mail/`) and the
//! attachment store (`attachments/`) and nothing else: it never imports `http/`, MCP or
//! tokens, and never fetches a URL a caller names.
//!
//! Reading uploads a part to the store once, under a key derived from the account and the
//! part's address (folder, uid_validity, uid, part), and hands out the store's signed,
//! expiring URL; a later read finds the object and does not fetch the part again. Sending
//! reads attachments back from the store (only URLs the store itself issued, for the
//! caller's own account) or from the caller's mailbox.
//!
//! # Layout
//! - [`MailFiles`]: the per-process settings, built once at start-up.
//! - [`links`]: [`PartLinks`], one account's links: issue, confirm, read back.
//! - [`outgoing`]: [`AttachmentSource`], the files of outgoing mail within the size limit.

pub mod links;
pub mod outgoing;

use std::sync::Arc;
use std::time::Duration;

pub use links::{AttachmentLink, LinkError, PartLinks};
pub use outgoing::{ACCEPTED_FORMS, AttachmentSource, PartRef};

use crate::attachments::AttachmentStore;
use crate::mail::{Imap, ServerLogin};

/// What every account's links share: the store, the key that derives object keys and
/// owner tags, the URL lifetime and the size limits. Built once; cheap to share.
pub struct MailFiles {
    store: Arc<dyn AttachmentStore>,
    subkey: [u8; 32],
    ttl: Duration,
    /// The largest part fetched from a mailbox (MAX_ATTACHMENT_READ_BYTES).
    read_limit: usize,
    /// The most attachment bytes one outgoing message may carry (MAX_ATTACHMENT_BYTES).
    send_limit: usize,
    /// Where referenced attachments of outgoing mail are read from.
    imap: Imap,
}

/// The limits and lifetime [`MailFiles`] works within.
#[derive(Clone, Copy, Debug)]
pub struct FileLimits {
    /// Lifetime of every URL handed out.
    pub url_ttl: Duration,
    /// The largest single part read from a mailbox, in bytes.
    pub read_bytes: u64,
    /// The largest total of the attachments of one outgoing message, in bytes.
    pub send_bytes: u64,
}

impl MailFiles {
    /// Files kept in `store`, keyed and tagged with `subkey` (derived from the keyring
    /// under [`crate::attachments::KEY_SUBKEY_LABEL`]).
    pub fn new(
        store: Arc<dyn AttachmentStore>,
        subkey: [u8; 32],
        limits: FileLimits,
        imap: Imap,
    ) -> MailFiles {
        MailFiles {
            store,
            subkey,
            ttl: limits.url_ttl,
            read_limit: usize::try_from(limits.read_bytes).unwrap_or(usize::MAX),
            send_limit: usize::try_from(limits.send_bytes).unwrap_or(usize::MAX),
            imap,
        }
    }

    /// The links of the account that `login` logs in to; its objects are keyed by the
    /// identity the mail server verified (host, port, login username).
    pub fn for_account(self: &Arc<Self>, login: &ServerLogin) -> PartLinks {
        PartLinks::new(self.clone(), login.clone())
    }

    /// The most attachment bytes one outgoing message may carry.
    pub fn send_limit(&self) -> usize {
        self.send_limit
    }
}
