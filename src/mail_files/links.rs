//! One account's attachment links: [`PartLinks`] uploads a part once and hands out the
//! store's signed URL, confirms over the caller's own IMAP session that a part exists
//! before naming a stored object, and reads back only links of its own account.

use std::sync::Arc;
use std::time::SystemTime;

use serde::Serialize;

use super::MailFiles;
use bytes::Bytes;

use crate::attachments::{
    AttachmentKey, AttachmentStoreError, Issued, ObjectInfo, Owner, OwnerTag, PiecesError,
    put_pieces, stored_url,
};
use crate::mail::compose::Attachment;
use crate::mail::compose::attachment::human_size;
use crate::mail::imap::parts::{MessagePart, PartReader, Piece, confirm_part};
use crate::mail::imap::{ImapSession, MailMessage};
use crate::mail::message::AttachmentInfo;
use crate::mail::{MailError, SelectedFolder, ServerLogin};

/// A download link for one attachment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct AttachmentLink {
    /// Signed URL that downloads the file; it works for anyone who has it until expires_at.
    pub url: String,
    /// When the URL stops working (RFC 3339); ask again for a new one.
    pub expires_at: String,
    /// The file name (made safe: no paths or control characters).
    pub filename: String,
    /// Its MIME type, e.g. "application/pdf".
    pub content_type: String,
    /// Its size in bytes.
    pub size: u64,
    /// The part id of the attachment in its message.
    pub part: String,
    /// The folder of the message.
    pub folder: String,
    /// The message's UID.
    pub uid: u32,
    /// The folder's UIDVALIDITY.
    pub uid_validity: u32,
    /// True when this call uploaded the file; false when it was already stored.
    pub uploaded: bool,
}

/// Why a link could not be made: the mailbox or the store said no.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("{0}")]
    Mail(#[from] MailError),
    #[error("{0}")]
    Store(#[from] AttachmentStoreError),
    #[error(
        "the attachment is about {} by its structure, over the read limit of {} \
         (MAX_ATTACHMENT_READ_BYTES); it was not fetched. Open it in a mail client, or ask \
         the operator to raise the limit",
        human_size(*size), human_size(*limit)
    )]
    TooLarge { size: usize, limit: usize },
}

/// Why a link cannot be sent.
pub(super) enum LinkRefusal {
    /// Not a link of our store.
    Foreign,
    /// Our link, made for another account.
    OtherAccount,
    /// Expired, altered, gone, too large or unreadable.
    Store(AttachmentStoreError),
}

/// Makes and checks the attachment links of one account.
#[derive(Clone)]
pub struct PartLinks {
    pub(super) files: Arc<MailFiles>,
    /// The account's IMAP login: its verified identity (host, port, login username) keys
    /// the objects, and referenced attachments of outgoing mail are read with it.
    pub(super) login: ServerLogin,
}

impl PartLinks {
    pub(super) fn new(files: Arc<MailFiles>, login: ServerLogin) -> PartLinks {
        PartLinks { files, login }
    }

    /// The account as the mail server verified it; never the address typed at login.
    fn owner(&self) -> Owner<'_> {
        Owner {
            imap_host: &self.login.endpoint.host,
            imap_port: self.login.endpoint.port,
            username: &self.login.username,
        }
    }

    /// The tag stored with this account's objects, and checked before handing one out.
    fn owner_tag(&self) -> OwnerTag {
        OwnerTag::derive(&self.files.subkey, &self.owner())
    }

    fn key(&self, folder: &str, uid_validity: u32, uid: u32, part: &str) -> AttachmentKey {
        AttachmentKey::derive(
            &self.files.subkey,
            &self.owner(),
            folder,
            uid_validity,
            uid,
            part,
        )
    }

    /// Whether `key` was made for this account.
    fn owns(&self, key: &AttachmentKey) -> bool {
        key.belongs_to(&self.files.subkey, &self.owner())
    }

    /// The link of a part already in the store as this account's, without touching the
    /// mailbox: `None` when absent or untagged (fetched again then), refused when it
    /// carries another owner's tag.
    async fn existing(
        &self,
        folder: &str,
        uid_validity: u32,
        uid: u32,
        part: &str,
    ) -> Result<Option<AttachmentLink>, AttachmentStoreError> {
        let key = self.key(folder, uid_validity, uid, part);
        let store = self.files.store.as_ref();
        let stored = stored_url(store, &key, &self.owner_tag(), self.files.ttl).await?;
        Ok(stored.map(|issued| link(issued, folder, uid_validity, uid, part)))
    }

    /// Refuses, before anything is fetched, a part whose announced size is over the limit.
    fn check_read_limit(&self, announced: Option<u64>) -> Result<(), LinkError> {
        let size = usize::try_from(announced.unwrap_or(0)).unwrap_or(usize::MAX);
        let limit = self.files.read_limit;
        if size > limit {
            return Err(LinkError::TooLarge { size, limit });
        }
        Ok(())
    }

    /// The link of part `part` of message `uid` in `folder` (open in `session`),
    /// uploading the part first when the store does not have it: refused before fetching
    /// when its structure announces more than the read limit, cut off when the server
    /// sends more.
    async fn issue(
        &self,
        session: &mut ImapSession,
        folder: &SelectedFolder,
        uid: u32,
        part: &str,
    ) -> Result<AttachmentLink, LinkError> {
        let announced = confirm_part(session, folder, uid, part).await?;
        self.check_read_limit(announced)?;
        let key = self.key(&folder.name, folder.uid_validity, uid, part);
        let owner = self.owner_tag();
        let store = self.files.store.as_ref();
        let issued = match stored_url(store, &key, &owner, self.files.ttl).await? {
            Some(issued) => issued,
            None => {
                let info = self
                    .upload(session, folder, uid, part, &key, &owner)
                    .await?;
                let url = store.url(&key, self.files.ttl).await?;
                Issued {
                    url,
                    info,
                    uploaded: true,
                }
            }
        };
        Ok(link(issued, &folder.name, folder.uid_validity, uid, part))
    }

    /// Streams part `part` from the mailbox into the store under `key`, piece by piece as
    /// it is decoded (a piece and one S3 part in memory, not the whole file). A part that
    /// does not decode in pieces is stored whole, as decoded at once.
    async fn upload(
        &self,
        session: &mut ImapSession,
        folder: &SelectedFolder,
        uid: u32,
        part: &str,
        key: &AttachmentKey,
        owner: &OwnerTag,
    ) -> Result<ObjectInfo, LinkError> {
        let reader = PartReader::open(session, folder, uid, part, self.files.read_limit).await?;
        let filename = reader.filename.clone().unwrap_or_default();
        let content_type = reader.content_type.clone();
        let pieces = futures::stream::unfold(Some(reader), |reader| async move {
            let mut reader = reader?;
            match reader.next_piece().await {
                Ok(Piece::Data(data)) => Some((Ok(Bytes::from(data)), Some(reader))),
                Ok(Piece::End) => None,
                Ok(Piece::Restart(whole)) => Some((Err(Stop::Restart(whole)), None)),
                Err(e) => Some((Err(Stop::Mail(e)), None)),
            }
        });
        let store = self.files.store.as_ref();
        match put_pieces(store, key, owner, pieces, &filename, &content_type).await {
            Ok(info) => Ok(info),
            Err(PiecesError::Store(e)) => Err(e.into()),
            Err(PiecesError::Source(Stop::Mail(e))) => Err(e.into()),
            Err(PiecesError::Source(Stop::Restart(whole))) => {
                let name = whole.filename.unwrap_or_default();
                let body = whole.bytes.into();
                let put = store.put_owned(key, Some(owner), body, &name, &whole.content_type);
                Ok(put.await?)
            }
        }
    }

    /// The link of part `part` of message `uid` in `folder`, which is opened read-only in
    /// `session` (refused when `uid_validity` is given and no longer matches). See
    /// [`PartLinks::confirmed`].
    pub async fn in_folder(
        &self,
        session: &mut ImapSession,
        folder: &str,
        uid_validity: Option<u32>,
        uid: u32,
        part: &str,
    ) -> Result<AttachmentLink, LinkError> {
        let selected = session.examine_checked(folder, uid_validity).await?;
        self.confirmed(session, &selected, uid, part).await
    }

    /// The link of a part that the caller's own mailbox was just asked about: the message
    /// and part must exist in `folder` (open in `session`, its uid_validity checked) before
    /// any stored object is named, so nobody gets a URL for a part their IMAP login
    /// cannot see.
    pub async fn confirmed(
        &self,
        session: &mut ImapSession,
        folder: &SelectedFolder,
        uid: u32,
        part: &str,
    ) -> Result<AttachmentLink, LinkError> {
        confirm_part(session, folder, uid, part).await?;
        let stored = self
            .existing(&folder.name, folder.uid_validity, uid, part)
            .await?;
        match stored {
            Some(link) => Ok(link),
            None => self.issue(session, folder, uid, part).await,
        }
    }

    /// Gives every attachment of `message` its URL, or the reason it has none. The folder
    /// is opened again (read-only, same uid_validity) only if a part must be uploaded.
    pub async fn add_to_message(&self, session: &mut ImapSession, message: &mut MailMessage) {
        let mut opened = None;
        for attachment in &mut message.content.attachments {
            let made = self
                .link_in_message(
                    session,
                    &mut opened,
                    &message.folder,
                    message.uid_validity,
                    message.uid,
                    &attachment.part_id,
                )
                .await;
            describe_link(attachment, made);
        }
    }

    async fn link_in_message(
        &self,
        session: &mut ImapSession,
        opened: &mut Option<SelectedFolder>,
        folder: &str,
        uid_validity: u32,
        uid: u32,
        part: &str,
    ) -> Result<AttachmentLink, LinkError> {
        if let Some(link) = self.existing(folder, uid_validity, uid, part).await? {
            return Ok(link);
        }
        let selected = match opened {
            Some(selected) => selected,
            None => opened.insert(session.examine_checked(folder, Some(uid_validity)).await?),
        };
        self.issue(session, selected, uid, part).await
    }

    /// The file behind one of our links, at most `room` bytes: only a URL this store
    /// issued, not expired, for this account, of an object stored with this account's
    /// owner tag (another's or none is refused as another account's).
    pub(super) async fn read_link(
        &self,
        url: &str,
        room: usize,
    ) -> Result<Attachment, LinkRefusal> {
        let store = &self.files.store;
        let key = match store.resolve_url(url) {
            Ok(Some(key)) => key,
            Ok(None) => return Err(LinkRefusal::Foreign),
            Err(AttachmentStoreError::LinkExpired) => {
                // An edited lifetime or date can make a link look expired: an altered
                // link is told as altered, not sent back for a fresh one.
                store.verify_issued(url).await.map_err(LinkRefusal::Store)?;
                return Err(LinkRefusal::Store(AttachmentStoreError::LinkExpired));
            }
            Err(e) => return Err(LinkRefusal::Store(e)),
        };
        if !self.owns(&key) {
            return Err(LinkRefusal::OtherAccount);
        }
        store.verify_issued(url).await.map_err(LinkRefusal::Store)?;
        let (info, bytes) = store
            .read_all_owned(&key, &self.owner_tag(), room as u64)
            .await
            .map_err(|e| match e {
                AttachmentStoreError::NotOurs => LinkRefusal::OtherAccount,
                other => LinkRefusal::Store(other),
            })?;
        Ok(Attachment::new(
            &info.filename,
            Some(&info.content_type),
            bytes.to_vec(),
        ))
    }
}

/// Why the pieces of a part stopped before its end.
enum Stop {
    Mail(MailError),
    /// Decoded at once instead (see [`Piece::Restart`]).
    Restart(MessagePart),
}

/// Puts a link (or why there is none) on an attachment's description.
fn describe_link(attachment: &mut AttachmentInfo, made: Result<AttachmentLink, LinkError>) {
    match made {
        Ok(link) => {
            attachment.url = Some(link.url);
            attachment.url_expires_at = Some(link.expires_at);
        }
        Err(e) => {
            tracing::warn!(error = %e, "no URL for an attachment");
            attachment.url_error = Some(format!(
                "no download URL could be made ({e}); try get_mail_attachment later"
            ));
        }
    }
}

fn link(issued: Issued, folder: &str, uid_validity: u32, uid: u32, part: &str) -> AttachmentLink {
    AttachmentLink {
        url: issued.url.url,
        expires_at: rfc3339(issued.url.expires_at),
        filename: issued.info.filename,
        content_type: issued.info.content_type,
        size: issued.info.size,
        part: part.to_owned(),
        folder: folder.to_owned(),
        uid,
        uid_validity,
        uploaded: issued.uploaded,
    }
}

fn rfc3339(time: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(time).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
