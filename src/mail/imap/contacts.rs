//! Whether the account ever wrote to an address: a hint against mail from strangers (a
//! first message from someone asking for money or for mail to be forwarded deserves
//! suspicion). Looked up in the Sent folder (special-use \Sent, or the usual names):
//! `UID SEARCH OR TO a OR CC a BCC a`, then, because IMAP SEARCH matches substrings
//! (`TO boss@x.test` also finds `bigboss@x.test`), the To/Cc/Bcc of the newest few
//! matches are fetched and compared exactly. At most [`MAX_ADDRESSES`] addresses per call.

use std::collections::BTreeMap;

use mail_parser::MessageParser;

use super::mailboxes::{SpecialUse, find_special_use};
use super::search::uid_search;
use super::session::ImapSession;
use super::summary::uid_set;
use crate::mail::error::MailError;
use crate::mail::message::Address;
use crate::mail::message::address::addresses;
use crate::mail::search::{SearchKey, SearchProgram};

/// The most distinct addresses one call looks up; the rest stay unknown.
pub const MAX_ADDRESSES: usize = 20;

/// How many of the newest matches are fetched to confirm an exact address.
const CONFIRMED_MATCHES: usize = 10;

/// For each address of `addresses` (lower-cased, at most [`MAX_ADDRESSES`] distinct ones),
/// whether a message in the Sent folder was addressed to it (To, Cc or Bcc). Empty when
/// there is no Sent folder. Leaves the Sent folder examined: call it after the work on
/// another folder is done.
pub async fn written_to(
    session: &mut ImapSession,
    addresses: &[String],
) -> Result<BTreeMap<String, bool>, MailError> {
    let mut wanted: Vec<String> = addresses
        .iter()
        .map(|a| a.trim().to_ascii_lowercase())
        .filter(|a| searchable(a))
        .collect();
    wanted.sort();
    wanted.dedup();
    wanted.truncate(MAX_ADDRESSES);
    let mut found = BTreeMap::new();
    if wanted.is_empty() {
        return Ok(found);
    }
    let Some(sent) = find_special_use(session, SpecialUse::Sent).await? else {
        return Ok(found);
    };
    session.examine(&sent).await?;
    for address in wanted {
        let written = sent_to(session, &address).await?;
        found.insert(address, written);
    }
    Ok(found)
}

/// Whether the sender(s) of a message are strangers: `Some(true)` when the account never
/// wrote to any of `senders` (a first contact), `Some(false)` when it wrote to one of them,
/// `None` when unknown (no sender, no Sent folder, or the lookup failed; the failure is
/// logged, not returned: the hint never costs the caller the message).
pub async fn first_contact(session: &mut ImapSession, senders: &[Address]) -> Option<bool> {
    let emails: Vec<String> = senders.iter().map(|a| a.email.clone()).collect();
    match written_to(session, &emails).await {
        Ok(found) if !found.is_empty() => Some(!found.values().any(|written| *written)),
        Ok(_) => None,
        Err(err) => {
            tracing::debug!(error = %err, "looking up earlier mail to the sender failed");
            None
        }
    }
}

/// An address worth a search: one `@`, no spaces or controls, not absurdly long.
fn searchable(address: &str) -> bool {
    address.len() <= 254
        && address.matches('@').count() == 1
        && !address.starts_with('@')
        && !address.ends_with('@')
        && !address.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Whether a message of the examined Sent folder went to `address` (lower case).
async fn sent_to(session: &mut ImapSession, address: &str) -> Result<bool, MailError> {
    let text = |key| SearchKey::Text(key, address.to_owned());
    let any = SearchKey::Or(
        Box::new(text("TO")),
        Box::new(SearchKey::Or(Box::new(text("CC")), Box::new(text("BCC")))),
    );
    let uids = uid_search(session, &SearchProgram::new(vec![any])).await?;
    if uids.is_empty() {
        return Ok(false);
    }
    let newest = &uids[..uids.len().min(CONFIRMED_MATCHES)];
    let fetches = session
        .uid_fetch(
            "confirming recipients",
            uid_set(newest),
            "(UID BODY.PEEK[HEADER.FIELDS (TO CC BCC)])",
        )
        .await?;
    Ok(fetches
        .iter()
        .filter_map(|f| f.header())
        .any(|header| recipients(header).iter().any(|r| r == address)))
}

/// The To, Cc and Bcc addresses of a header block, lower-cased.
fn recipients(header: &[u8]) -> Vec<String> {
    let Some(message) = MessageParser::default().parse_headers(header) else {
        return Vec::new();
    };
    [message.to(), message.cc(), message.bcc()]
        .into_iter()
        .flat_map(addresses)
        .map(|a| a.email.to_ascii_lowercase())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipients_are_read_exactly() {
        let header = b"To: Big Boss <BigBoss@x.test>, b@y.test\r\nCc: \"C\" <c@z.test>\r\nBcc: d@w.test\r\n\r\n";
        assert_eq!(
            recipients(header),
            ["bigboss@x.test", "b@y.test", "c@z.test", "d@w.test"]
        );
        assert!(!recipients(header).contains(&"boss@x.test".to_owned()));
    }

    #[test]
    fn only_addresses_are_searched() {
        for good in ["a@b.test", "first.last+tag@sub.example.com"] {
            assert!(searchable(good), "{good}");
        }
        for bad in ["", "a", "@b", "a@", "a b@c", "a@b@c", "a\r\n@b"] {
            assert!(!searchable(bad), "{bad:?}");
        }
    }
}
