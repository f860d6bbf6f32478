//! A saved draft made ready to send: its recipients (To, Cc, Bcc) for the envelope, its
//! Message-ID, and its bytes with the Bcc header taken out (Bcc recipients are never shown)
//! and the Date set to the moment of sending. Everything else goes out exactly as saved.
//! Pure.

use lettre::Address;
use mail_parser::MessageParser;

use crate::mail::error::MailError;

/// A draft as it will be sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadyDraft {
    /// The exact bytes to send and to file in Sent.
    pub bytes: Vec<u8>,
    /// Every To, Cc and Bcc address, each once.
    pub recipients: Vec<Address>,
    /// The draft's Message-ID with angle brackets.
    pub message_id: String,
    /// The envelope sender: the draft's From, one of the account's sending addresses (the
    /// first of them when the draft has no From).
    pub sender: String,
}

/// Makes the draft `raw` ready to send at `date` (RFC 5322 text) from one of
/// `sending_addresses` (the account's address first, then its confirmed identities).
/// Refused when it has no recipient, no Message-ID, or a From other than those.
pub fn ready_to_send(
    raw: &[u8],
    sending_addresses: &[String],
    date: &str,
) -> Result<ReadyDraft, MailError> {
    let parsed = MessageParser::default()
        .parse(raw)
        .ok_or_else(|| invalid("the draft could not be read as an email message"))?;
    let from: Vec<String> = addresses(parsed.from());
    let ours = |a: &String| sending_addresses.iter().any(|s| s.eq_ignore_ascii_case(a));
    if !from.iter().all(ours) || from.len() > 1 {
        return Err(invalid(&format!(
            "the draft is from {}, not from this account ({}): only drafts from the \
             signed-in address or an address confirmed at sign-in can be sent",
            from.join(", "),
            sending_addresses.join(", ")
        )));
    }
    let sender = from
        .first()
        .or(sending_addresses.first())
        .cloned()
        .unwrap_or_default();
    let mut recipients: Vec<Address> = Vec::new();
    for header in [parsed.to(), parsed.cc(), parsed.bcc()] {
        for address in addresses(header) {
            let address: Address = address
                .parse()
                .map_err(|_| invalid(&format!("the draft's recipient {address} is not valid")))?;
            if !recipients.contains(&address) {
                recipients.push(address);
            }
        }
    }
    if recipients.is_empty() {
        return Err(invalid(
            "the draft has no recipient (To, Cc or Bcc): add one before sending it",
        ));
    }
    let message_id = parsed
        .message_id()
        .map(|id| format!("<{id}>"))
        .ok_or_else(|| invalid("the draft has no Message-ID"))?;
    Ok(ReadyDraft {
        bytes: without_bcc_dated(raw, date),
        recipients,
        message_id,
        sender,
    })
}

/// The addresses in a header (groups flattened).
fn addresses(header: Option<&mail_parser::Address<'_>>) -> Vec<String> {
    header
        .map(|h| {
            h.iter()
                .filter_map(|a| a.address())
                .map(|a| a.trim().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// `raw` with its Bcc and Date header fields (with their folded lines) removed and
/// `Date: {date}` put first; the body untouched.
fn without_bcc_dated(raw: &[u8], date: &str) -> Vec<u8> {
    let split = find(raw, b"\r\n\r\n").map(|i| i + 2).unwrap_or(raw.len());
    let (header, body) = raw.split_at(split);
    let mut out = format!("Date: {date}\r\n").into_bytes();
    let mut dropping = false;
    for line in header.split_inclusive(|&b| b == b'\n') {
        let folded = line.first().is_some_and(|b| *b == b' ' || *b == b'\t');
        if !folded {
            dropping = is_field(line, b"bcc") || is_field(line, b"date");
        }
        if !dropping {
            out.extend_from_slice(line);
        }
    }
    out.extend_from_slice(body);
    out
}

/// Whether header line `line` is the field `name` (lowercase).
fn is_field(line: &[u8], name: &[u8]) -> bool {
    line.len() > name.len()
        && line[..name.len()].eq_ignore_ascii_case(name)
        && line[name.len()..].trim_ascii_start().first() == Some(&b':')
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn invalid(message: &str) -> MailError {
    MailError::InvalidInput(message.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DRAFT: &[u8] = b"From: Ann <ann@example.com>\r\nDate: Mon, 2 Mar 2026 10:00:00 +0000\r\n\
        To: bob@example.com\r\nBcc: carol@example.com,\r\n dave@example.com\r\n\
        Subject: Hi\r\nMessage-ID: <d1@example.com>\r\n\r\nBcc: in the body stays\r\n";

    #[test]
    fn a_draft_goes_out_without_bcc_and_dated_now() {
        let ready = ready_to_send(
            DRAFT,
            &["ann@example.com".into()],
            "Tue, 3 Mar 2026 09:00:00 +0000",
        )
        .unwrap();
        let text = String::from_utf8(ready.bytes).unwrap();
        assert_eq!(
            text,
            "Date: Tue, 3 Mar 2026 09:00:00 +0000\r\nFrom: Ann <ann@example.com>\r\n\
             To: bob@example.com\r\nSubject: Hi\r\nMessage-ID: <d1@example.com>\r\n\r\n\
             Bcc: in the body stays\r\n"
        );
        let to: Vec<String> = ready.recipients.iter().map(|a| a.to_string()).collect();
        assert_eq!(
            to,
            ["bob@example.com", "carol@example.com", "dave@example.com"]
        );
        assert_eq!(ready.message_id, "<d1@example.com>");
        assert_eq!(ready.sender, "ann@example.com");
    }

    #[test]
    fn drafts_that_cannot_go_out_say_why() {
        let cases: [(&[u8], &str); 3] = [
            (
                b"From: eve@example.com\r\nTo: b@example.com\r\nMessage-ID: <x@y>\r\n\r\nx",
                "not from this account",
            ),
            (
                b"From: ann@example.com\r\nSubject: s\r\nMessage-ID: <x@y>\r\n\r\nx",
                "no recipient",
            ),
            (
                b"From: ann@example.com\r\nTo: b@example.com\r\n\r\nx",
                "no Message-ID",
            ),
        ];
        for (raw, want) in cases {
            let err = ready_to_send(raw, &["ann@example.com".into()], "now").unwrap_err();
            assert!(err.to_string().contains(want), "{want}: {err}");
        }
    }

    /// A draft from one of the account's confirmed identities goes out with that address
    /// as the envelope sender; one from any other address is refused, naming the allowed.
    #[test]
    fn a_draft_from_an_identity_is_sent_from_it() {
        let ours = ["ada@example.com".to_owned(), "ann@example.com".to_owned()];
        let ready = ready_to_send(DRAFT, &ours, "now").unwrap();
        assert_eq!(ready.sender, "ann@example.com");
        let err = ready_to_send(DRAFT, &ours[..1], "now").unwrap_err();
        assert!(err.to_string().contains("ada@example.com"), "{err}");
    }
}
