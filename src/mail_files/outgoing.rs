//! The files of outgoing mail, read from where each is given: decoded inline, read back
//! from the attachment store (this server's links of the sender's account only), or
//! fetched from the sender's mailbox. Refused as a whole, naming the item, when any one is
//! not usable or all of them add up to more than the limit; every refusal starts with
//! "nothing was sent".

use super::links::{LinkRefusal, PartLinks};
use crate::attachments::AttachmentStoreError;
use crate::mail::compose::Attachment;
use crate::mail::compose::attachment::human_size;
use crate::mail::imap::parts::read_part;
use crate::mail::{ImapSession, MailError};

/// The forms an attachment of outgoing mail may take, for error messages.
pub const ACCEPTED_FORMS: &str = "give each attachment as one of: {\"url\": \"<a URL that \
get_mail_message or get_mail_attachment returned>\"}; {\"folder\": \"INBOX\", \"uid\": 42, \
\"part\": \"2\"} naming an attachment of a message in this mailbox (its part_id from \
get_mail_message); or {\"filename\": \"report.pdf\", \"content_type\": \"application/pdf\", \
\"content_base64\": \"<the bytes in base64>\"}. No other URL is fetched";

/// Where one file of outgoing mail comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttachmentSource {
    /// The file's bytes, base64-encoded, with its name and (optional) MIME type.
    Inline {
        filename: String,
        content_type: Option<String>,
        content_base64: String,
    },
    /// An attachment link this server handed out; any other URL is refused.
    Link { url: String },
    /// An attachment of a message in the sender's mailbox.
    InMailbox(PartRef),
}

/// One part of a message in the mailbox, as the caller names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartRef {
    pub folder: String,
    pub uid: u32,
    pub part: String,
    /// When given, the folder must still have this UIDVALIDITY.
    pub uid_validity: Option<u32>,
}

impl PartLinks {
    /// The files of outgoing mail, in the caller's order, read from where each item says.
    /// The referenced attachments are read in one IMAP session of this account.
    pub async fn files_to_send(
        &self,
        items: Vec<AttachmentSource>,
    ) -> Result<Vec<Attachment>, String> {
        let mut files = OutgoingFiles::new(self.files.send_limit, items.len());
        let mut references = Vec::new();
        for (index, item) in items.into_iter().enumerate() {
            match item {
                AttachmentSource::Inline {
                    filename,
                    content_type,
                    content_base64,
                } => {
                    let file = Attachment::from_base64(
                        &filename,
                        content_type.as_deref(),
                        &content_base64,
                    )
                    .map_err(|e| numbered(index, e))?;
                    files.put(index, file)?;
                }
                AttachmentSource::Link { url } => {
                    let file = self.read_link(&url, files.room()).await;
                    files.put(index, file.map_err(|e| files.refusal(index, e))?)?;
                }
                AttachmentSource::InMailbox(part) => references.push((index, part)),
            }
        }
        if !references.is_empty() {
            files = self.read_references(files, references).await?;
        }
        Ok(files.into_list())
    }

    /// Reads the referenced attachments from the account's mailbox in one session.
    async fn read_references(
        &self,
        files: OutgoingFiles,
        references: Vec<(usize, PartRef)>,
    ) -> Result<OutgoingFiles, String> {
        let read_limit = self.files.read_limit;
        self.files
            .imap
            .with_session(&self.login, move |s| {
                Box::pin(
                    async move { Ok(read_all_references(s, files, references, read_limit).await) },
                )
            })
            .await
            .map_err(|e| {
                format!("nothing was sent: the attachments could not be read from the mailbox: {e}")
            })?
    }
}

async fn read_all_references(
    session: &mut ImapSession,
    mut files: OutgoingFiles,
    references: Vec<(usize, PartRef)>,
    read_limit: usize,
) -> Result<OutgoingFiles, String> {
    for (index, reference) in references {
        let PartRef {
            folder,
            uid,
            part,
            uid_validity,
        } = reference;
        let (_, fetched) = read_part(session, &folder, uid, uid_validity, &part, read_limit)
            .await
            .map_err(|e| numbered(index, e))?;
        let file = Attachment::new(
            fetched.filename.as_deref().unwrap_or_default(),
            Some(&fetched.content_type),
            fetched.bytes,
        );
        files.put(index, file)?;
    }
    Ok(files)
}

/// The files of an outgoing message so far, in the caller's order, and the size limit.
struct OutgoingFiles {
    slots: Vec<Option<Attachment>>,
    total: usize,
    limit: usize,
}

impl OutgoingFiles {
    fn new(limit: usize, count: usize) -> OutgoingFiles {
        OutgoingFiles {
            slots: vec![None; count],
            total: 0,
            limit,
        }
    }

    /// Bytes still allowed.
    fn room(&self) -> usize {
        self.limit.saturating_sub(self.total)
    }

    /// Keeps the file of item `index`, refusing it when it would exceed the limit.
    fn put(&mut self, index: usize, file: Attachment) -> Result<(), String> {
        if file.size() > self.room() {
            return Err(self.over_limit(index, file.filename(), file.size()));
        }
        self.total += file.size();
        if let Some(slot) = self.slots.get_mut(index) {
            *slot = Some(file);
        }
        Ok(())
    }

    fn over_limit(&self, index: usize, name: &str, size: usize) -> String {
        let before = match self.total {
            0 => String::new(),
            total => format!(" and the attachments before it hold {}", human_size(total)),
        };
        format!(
            "nothing was sent: attachment {} ({name}) is {}{before}, more than the limit of {} \
             for all attachments of a message; send fewer or smaller files",
            index + 1,
            human_size(size),
            human_size(self.limit)
        )
    }

    /// The sentence that refuses item `index` given as a link.
    fn refusal(&self, index: usize, refusal: LinkRefusal) -> String {
        let n = index + 1;
        match refusal {
            LinkRefusal::Foreign => format!(
                "nothing was sent: attachment {n} is a URL this server did not issue; {ACCEPTED_FORMS}"
            ),
            LinkRefusal::OtherAccount => format!(
                "nothing was sent: attachment {n} is a link to another mail account's attachment; \
                 only attachments of the signed-in account can be sent"
            ),
            LinkRefusal::Store(AttachmentStoreError::LinkExpired) => format!(
                "nothing was sent: the link of attachment {n} has expired; call \
                 get_mail_attachment for a new one, or give the attachment as {{\"folder\", \
                 \"uid\", \"part\"}}"
            ),
            LinkRefusal::Store(AttachmentStoreError::TooLarge { size, .. }) => self.over_limit(
                index,
                "from its link",
                usize::try_from(size).unwrap_or(usize::MAX),
            ),
            LinkRefusal::Store(other) => format!("nothing was sent: attachment {n}: {other}"),
        }
    }

    fn into_list(self) -> Vec<Attachment> {
        self.slots.into_iter().flatten().collect()
    }
}

/// A mail error about item `index`, saying nothing was sent.
fn numbered(index: usize, error: MailError) -> String {
    format!("nothing was sent: attachment {}: {error}", index + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, size: usize) -> Attachment {
        Attachment::new(name, None, vec![7; size])
    }

    #[test]
    fn files_keep_the_callers_order_within_the_limit() {
        let mut files = OutgoingFiles::new(10, 3);
        files.put(2, file("c", 3)).unwrap();
        files.put(0, file("a", 3)).unwrap();
        assert_eq!(files.room(), 4);
        let err = files.put(1, file("b.bin", 5)).unwrap_err();
        assert_eq!(
            err,
            "nothing was sent: attachment 2 (b.bin) is 5 bytes and the attachments before it \
             hold 6 bytes, more than the limit of 10 bytes for all attachments of a message; \
             send fewer or smaller files"
        );
        files.put(1, file("b", 4)).unwrap();
        let names: Vec<_> = files
            .into_list()
            .iter()
            .map(|f| f.filename().to_owned())
            .collect();
        assert_eq!(names, ["a", "b", "c"]);
    }

    #[test]
    fn refused_links_say_why_and_what_is_accepted() {
        let files = OutgoingFiles::new(100, 1);
        let cases = [
            (
                LinkRefusal::Foreign,
                "did not issue; give each attachment as one of",
            ),
            (LinkRefusal::OtherAccount, "another mail account"),
            (
                LinkRefusal::Store(AttachmentStoreError::LinkExpired),
                "has expired; call get_mail_attachment",
            ),
            (
                LinkRefusal::Store(AttachmentStoreError::LinkInvalid),
                "altered",
            ),
            (
                LinkRefusal::Store(AttachmentStoreError::TooLarge {
                    size: 500,
                    limit: 100,
                }),
                "is 500 bytes, more than the limit of 100 bytes",
            ),
        ];
        for (refusal, want) in cases {
            let text = files.refusal(0, refusal);
            assert!(text.starts_with("nothing was sent: "), "{text}");
            assert!(text.contains(want), "{text}");
        }
    }
}
