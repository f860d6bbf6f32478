//! Storing a message in a folder: APPEND with flags, answering where it went (folder,
//! UID, UIDVALIDITY). async-imap's own `append` drops the tagged OK and with it the
//! APPENDUID code (RFC 4315), so APPEND is run here by hand on the raw session; where a
//! server gives no APPENDUID the message is found again by its Message-ID. Also the
//! Message-ID search that the idempotent send uses. A connection that fails once the
//! message itself is on its way is reported as [`MailError::ConnectionLost`]: the server
//! may or may not have stored it.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};

use async_imap::imap_proto::rfc4315::UidSetMember;
use async_imap::imap_proto::{RequestId, Response, ResponseCode, Status};
use schemars::JsonSchema;
use serde::Serialize;
use tokio::io::AsyncWriteExt;

use super::connect::RawSession;
use super::session::ImapSession;
use crate::mail::error::{MailError, Protocol};

/// Where a stored message is: pass `folder`, `uid` and `uid_validity` to other tools.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct StoredMessage {
    /// The folder that holds it.
    pub folder: String,
    /// Its UID in that folder.
    pub uid: u32,
    /// The folder's UIDVALIDITY; the UID is meaningful only with it.
    pub uid_validity: u32,
    /// Anything the caller should know, e.g. that the folder was created for this.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Appends `message` to `folder` with `flags` (e.g. `["\\Seen"]`) and says where it is:
/// from the server's APPENDUID, else by searching the folder for `message_id` (`<id>`).
/// APPENDUID belongs to UIDPLUS: from a server that does not announce UIDPLUS it is not
/// relied on, and the message is found by its Message-ID.
pub async fn append_message(
    session: &mut ImapSession,
    folder: &str,
    flags: &[&str],
    message: &[u8],
    message_id: &str,
) -> Result<StoredMessage, MailError> {
    let command = append_command(folder, flags, message.len())?;
    let literal_started = AtomicBool::new(false);
    let appended = session
        .command("storing a message", |s| {
            run_append(s, command, message, &literal_started)
        })
        .await;
    let appended_uid = match appended {
        Ok(appended_uid) => appended_uid,
        Err(err)
            if literal_started.load(Ordering::Relaxed)
                && !matches!(err, MailError::ServerSaid { .. }) =>
        {
            return Err(MailError::ConnectionLost {
                protocol: Protocol::Imap,
                server: session.server().to_owned(),
                what: format!("storing the message in \"{folder}\" (it may or may not be there)"),
            });
        }
        Err(err) => return Err(err),
    };
    let appended_uid = match session.has_capability("UIDPLUS").await? {
        true => appended_uid,
        false => None,
    };
    if let Some((uid_validity, uid)) = appended_uid {
        return Ok(StoredMessage {
            folder: folder.to_owned(),
            uid,
            uid_validity,
            note: None,
        });
    }
    let selected = session.examine(folder).await?;
    match find_by_message_id(session, message_id).await? {
        Some(uid) => Ok(StoredMessage {
            folder: folder.to_owned(),
            uid,
            uid_validity: selected.uid_validity,
            note: None,
        }),
        None => Err(MailError::Protocol(format!(
            "the message was stored in \"{folder}\" but the server did not say under which UID, \
             and it could not be found there by its Message-ID"
        ))),
    }
}

/// The highest UID in the selected folder of a message whose Message-ID header holds
/// `message_id` (`<id>`), if any.
pub async fn find_by_message_id(
    session: &mut ImapSession,
    message_id: &str,
) -> Result<Option<u32>, MailError> {
    let query = format!("HEADER Message-ID {}", quoted(message_id)?);
    let uids: HashSet<u32> = session
        .command("searching by Message-ID", |s| s.uid_search(query))
        .await?;
    Ok(uids.into_iter().max())
}

/// `APPEND "folder" (\Flag ...) {size}`.
fn append_command(folder: &str, flags: &[&str], size: usize) -> Result<String, MailError> {
    for flag in flags {
        let valid = flag.strip_prefix('\\').unwrap_or(flag);
        if valid.is_empty() || !valid.chars().all(|c| c.is_ascii_alphanumeric() || c == '$') {
            return Err(MailError::InvalidInput(format!(
                "\"{flag}\" is not an IMAP flag"
            )));
        }
    }
    Ok(format!(
        "APPEND {} ({}) {{{size}}}",
        quoted(folder)?,
        flags.join(" ")
    ))
}

/// `text` as an IMAP quoted string; CR, LF and NUL cannot be quoted and are refused.
fn quoted(text: &str) -> Result<String, MailError> {
    if text.contains(['\r', '\n', '\0']) {
        return Err(MailError::InvalidInput(format!(
            "\"{}\" contains a line break or NUL, which IMAP cannot send",
            text.escape_debug()
        )));
    }
    Ok(format!(
        "\"{}\"",
        text.replace('\\', "\\\\").replace('"', "\\\"")
    ))
}

/// Sends the APPEND, waits for the go-ahead, sends the literal and reads up to the tagged
/// answer: `Some((uid_validity, uid))` when it carries APPENDUID.
/// `literal_started` is set once the first byte of the message is on its way: a failure
/// after that (other than the server's NO or BAD) leaves unknown whether it was stored.
async fn run_append(
    session: &mut RawSession,
    command: String,
    message: &[u8],
    literal_started: &AtomicBool,
) -> async_imap::error::Result<Option<(u32, u32)>> {
    let tag = session.run_command(&command).await?;
    match next_answer(session, &tag).await? {
        Answer::GoAhead => {}
        Answer::Refused(refusal) => return Err(refusal),
        Answer::Done(_) | Answer::Other => return Err(async_imap::error::Error::Append),
    }
    let stream = session.get_mut();
    literal_started.store(true, Ordering::Relaxed);
    stream.write_all(message).await?;
    stream.write_all(b"\r\n").await?;
    stream.flush().await?;
    match next_answer(session, &tag).await? {
        Answer::Done(appended_uid) => Ok(appended_uid),
        Answer::Refused(refusal) => Err(refusal),
        Answer::GoAhead | Answer::Other => Err(async_imap::error::Error::Append),
    }
}

/// What one server response means to a running APPEND.
enum Answer {
    /// `+`: send the literal.
    GoAhead,
    /// The tagged OK, with the APPENDUID it carries, if any.
    Done(Option<(u32, u32)>),
    /// The tagged NO or BAD.
    Refused(async_imap::error::Error),
    /// An untagged response, not ours to handle.
    Other,
}

fn classify(response: &Response<'_>, tag: &RequestId) -> Answer {
    match response {
        Response::Continue { .. } => Answer::GoAhead,
        Response::Done {
            tag: done,
            status,
            outcome,
        } if done == tag => match status {
            Status::Ok => Answer::Done(appended_uid(outcome.code.as_ref())),
            _ => Answer::Refused(refusal(outcome)),
        },
        _ => Answer::Other,
    }
}

/// The next response of the server that matters to the APPEND tagged `tag`.
async fn next_answer(
    session: &mut RawSession,
    tag: &RequestId,
) -> async_imap::error::Result<Answer> {
    loop {
        let response = session
            .read_response()
            .await?
            .ok_or(async_imap::error::Error::ConnectionLost)?;
        match classify(response.parsed(), tag) {
            Answer::Other => continue,
            answer => return Ok(answer),
        }
    }
}

/// A NO or BAD, in the shape async-imap gives its own (so the server's text is found).
fn refusal(outcome: &async_imap::imap_proto::Outcome<'_>) -> async_imap::error::Error {
    async_imap::error::Error::No(format!(
        "code: {:?}, info: {:?}",
        outcome.code, outcome.information
    ))
}

/// `(uid_validity, uid)` from an APPENDUID response code.
fn appended_uid(code: Option<&ResponseCode<'_>>) -> Option<(u32, u32)> {
    match code? {
        ResponseCode::AppendUid(uid_validity, uids) => {
            let uid = match uids.first()? {
                UidSetMember::Uid(uid) => *uid,
                UidSetMember::UidRange(range) => *range.start(),
            };
            Some((*uid_validity, uid))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn append_commands_quote_the_folder_and_list_flags() {
        let cases = [
            ("Sent", &["\\Seen"][..], 42, "APPEND \"Sent\" (\\Seen) {42}"),
            (
                "Drafts",
                &["\\Draft", "\\Seen"][..],
                1,
                "APPEND \"Drafts\" (\\Draft \\Seen) {1}",
            ),
            ("My \"x\"", &[][..], 0, "APPEND \"My \\\"x\\\"\" () {0}"),
            (
                "a\\b",
                &["$Label1"][..],
                3,
                "APPEND \"a\\\\b\" ($Label1) {3}",
            ),
        ];
        for (folder, flags, size, want) in cases {
            assert_eq!(append_command(folder, flags, size).unwrap(), want);
        }
    }

    #[test]
    fn bad_folders_and_flags_are_refused() {
        assert!(append_command("Sent\r\nX", &[], 1).is_err());
        assert!(append_command("Sent", &["\\Seen)"], 1).is_err());
        assert!(append_command("Sent", &["\\"], 1).is_err());
    }

    #[test]
    fn appenduid_gives_validity_and_uid() {
        let code = ResponseCode::AppendUid(7, vec![UidSetMember::Uid(42)]);
        assert_eq!(appended_uid(Some(&code)), Some((7, 42)));
        let range = ResponseCode::AppendUid(7, vec![UidSetMember::UidRange(5..=6)]);
        assert_eq!(appended_uid(Some(&range)), Some((7, 5)));
        assert_eq!(appended_uid(Some(&ResponseCode::ReadWrite)), None);
        assert_eq!(appended_uid(None), None);
    }

    #[test]
    fn refusals_carry_the_servers_words() {
        let outcome = async_imap::imap_proto::Outcome {
            code: Some(ResponseCode::TryCreate),
            information: Some("Mailbox doesn't exist: Sent".into()),
        };
        let err = super::super::errors::command_error("h:993", refusal(&outcome));
        assert_eq!(
            err.to_string(),
            "the IMAP server said: Mailbox doesn't exist: Sent"
        );
    }
}
