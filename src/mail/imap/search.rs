//! Searching a folder: `UID SEARCH` with a [`SearchProgram`] built and checked by
//! [`crate::mail::search`], newest (highest UID) first, one page of summaries fetched by
//! UID. Non-ASCII strings go as `LITERAL+` literals when the server offers them. On a
//! server without UIDPLUS, where a move may leave messages flagged \Deleted rather than
//! expunge another client's, the results leave out messages flagged \Deleted, as the
//! listing does. Gmail's own keys (X-GM-LABELS, X-GM-RAW) go only to a server that offers
//! them (X-GM-EXT-1).

use super::gmail::GMAIL_EXTENSION;
use super::read::{MessagePage, PageRequest};
use super::session::ImapSession;
use super::summary::fetch_by_uid;
use crate::mail::error::MailError;
use crate::mail::search::SearchProgram;

/// A page of the messages of `folder` that match `program`, newest first.
pub async fn search_messages(
    session: &mut ImapSession,
    folder: &str,
    program: &SearchProgram,
    page: PageRequest,
) -> Result<MessagePage, MailError> {
    let selected = session.examine(folder).await?;
    let uids = listed_matches(session, program).await?;
    let wanted = &uids[page.index_range(uids.len())];
    let messages = fetch_by_uid(session, wanted).await?;
    let total = u32::try_from(uids.len()).unwrap_or(u32::MAX);
    let summaries = messages.into_iter().map(|m| m.summary).collect();
    Ok(MessagePage::new(&selected, total, page, summaries))
}

/// The UIDs [`uid_search`] finds, leaving out, on a server without UIDPLUS, messages
/// flagged \Deleted (as the listing does), highest first.
pub async fn listed_matches(
    session: &mut ImapSession,
    program: &SearchProgram,
) -> Result<Vec<u32>, MailError> {
    let mut uids = uid_search(session, program).await?;
    if !session.has_capability("UIDPLUS").await? {
        let undeleted = session
            .read_command("searching", |s| s.uid_search("UNDELETED"))
            .await?;
        uids.retain(|uid| undeleted.contains(uid));
    }
    Ok(uids)
}

/// The UIDs of the messages in the selected folder that match `program`, highest first.
/// Gmail's keys (label, gmail_raw) are refused, with a message saying so, on a server
/// without X-GM-EXT-1.
pub async fn uid_search(
    session: &mut ImapSession,
    program: &SearchProgram,
) -> Result<Vec<u32>, MailError> {
    if program.needs_gmail() && !session.has_capability(GMAIL_EXTENSION).await? {
        return Err(MailError::InvalidInput(
            "label and gmail_raw are Gmail's searches, and this server does not offer Gmail's \
             IMAP extension (X-GM-EXT-1): search by the other criteria, or find a keyword \
             (as flags shows it) with query \"KEYWORD name\""
                .into(),
        ));
    }
    let literal_plus = session.has_capability("LITERAL+").await?;
    let query = program.to_imap(literal_plus);
    let found = session
        .read_command("searching", |s| s.uid_search(query))
        .await?;
    let mut uids: Vec<u32> = found.into_iter().collect();
    uids.sort_unstable_by(|a, b| b.cmp(a));
    Ok(uids)
}
