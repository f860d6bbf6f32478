//! Recipients as a caller gives them (a list, or one comma-separated string) turned into
//! checked lettre `Mailbox`es, and the header-value check that refuses CR, LF and NUL
//! before anything reaches a header. Pure: no I/O.

use std::str::FromStr;

use lettre::message::Mailbox;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::mail::error::MailError;

/// Recipients: a list of addresses, or one string of comma-separated addresses. Each
/// address is `name@example.com` or `Name <name@example.com>`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum AddressList {
    /// `["bob@example.com", "Carol <carol@example.com>"]`
    List(Vec<String>),
    /// `"bob@example.com, Carol <carol@example.com>"`
    Text(String),
}

impl Default for AddressList {
    fn default() -> Self {
        AddressList::List(Vec::new())
    }
}

impl AddressList {
    /// Every address the caller wrote, one per item, commas inside quotes kept.
    fn items(&self) -> Vec<String> {
        let texts: Vec<&str> = match self {
            AddressList::List(items) => items.iter().map(String::as_str).collect(),
            AddressList::Text(text) => vec![text.as_str()],
        };
        texts.into_iter().flat_map(split_addresses).collect()
    }
}

/// Refuses a header value holding CR, LF or NUL: such a value could end the header and
/// start another (header injection). `field` names the value in the message.
pub fn check_header_value(field: &str, value: &str) -> Result<(), MailError> {
    let bad = value
        .chars()
        .find(|c| matches!(c, '\r' | '\n' | '\0'))
        .map(|c| match c {
            '\0' => "a NUL character",
            _ => "a line break (CR or LF)",
        });
    match bad {
        Some(what) => Err(MailError::InvalidInput(format!(
            "the {field} contains {what}, which a mail header cannot hold; put it on one line"
        ))),
        None => Ok(()),
    }
}

/// Parses the recipients of `field` ("to", "cc", "bcc"): each must be a valid address.
/// Duplicates (compared without regard to case) are dropped, the first kept.
pub fn parse_addresses(field: &str, list: &AddressList) -> Result<Vec<Mailbox>, MailError> {
    let mut mailboxes: Vec<Mailbox> = Vec::new();
    for item in list.items() {
        let mailbox = parse_address(field, &item)?;
        if !contains_address(&mailboxes, mailbox.email.as_ref()) {
            mailboxes.push(mailbox);
        }
    }
    Ok(mailboxes)
}

/// One address, `a@b.example` or `Name <a@b.example>`, checked strictly: lettre's parser
/// ignores trailing text, so the address it found must be all of the item or sit in
/// angle brackets at its end.
pub fn parse_address(field: &str, item: &str) -> Result<Mailbox, MailError> {
    check_header_value(
        &format!("address \"{}\" in {field}", item.escape_debug()),
        item,
    )?;
    let invalid = || {
        MailError::InvalidInput(format!(
            "\"{item}\" in {field} is not a valid email address; write name@example.com or \
             Name <name@example.com>"
        ))
    };
    let mailbox = Mailbox::from_str(item).map_err(|_| invalid())?;
    let address = mailbox.email.to_string();
    let whole = item.eq_ignore_ascii_case(&address);
    let bracketed = item
        .to_ascii_lowercase()
        .ends_with(&format!("<{}>", address.to_ascii_lowercase()));
    if !(whole || bracketed) || !has_plausible_domain(mailbox.email.domain()) {
        return Err(invalid());
    }
    Ok(mailbox)
}

/// A domain with a dot (`example.com`), an address literal (`[192.0.2.1]`) or `localhost`.
fn has_plausible_domain(domain: &str) -> bool {
    domain.contains('.') || domain.starts_with('[') || domain.eq_ignore_ascii_case("localhost")
}

/// Whether `mailboxes` holds `address` (compared without regard to case).
pub fn contains_address(mailboxes: &[Mailbox], address: &str) -> bool {
    mailboxes
        .iter()
        .any(|m| m.email.to_string().eq_ignore_ascii_case(address))
}

/// Splits on commas and semicolons outside quotes and angle brackets; drops empty items.
fn split_addresses(text: &str) -> Vec<String> {
    let mut items = Vec::new();
    let mut current = String::new();
    let (mut quoted, mut bracketed, mut escaped) = (false, false, false);
    for c in text.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '<' if !quoted => bracketed = true,
            '>' if !quoted => bracketed = false,
            ',' | ';' if !quoted && !bracketed => {
                items.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    items.push(current);
    items
        .into_iter()
        .map(|item| item.trim().to_owned())
        .filter(|item| !item.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn emails(list: &AddressList) -> Result<Vec<String>, String> {
        parse_addresses("to", list)
            .map(|m| m.iter().map(|m| m.to_string()).collect())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn lists_and_comma_separated_strings_both_work() {
        let cases: [(AddressList, &[&str]); 5] = [
            (
                AddressList::Text("bob@example.com, Carol <carol@example.com>".into()),
                &["bob@example.com", "Carol <carol@example.com>"],
            ),
            (
                AddressList::List(vec!["bob@example.com".into(), "c@example.org".into()]),
                &["bob@example.com", "c@example.org"],
            ),
            (
                AddressList::Text("\"Smith, John\" <john@example.com>; x@example.com".into()),
                &["\"Smith, John\" <john@example.com>", "x@example.com"],
            ),
            (
                AddressList::Text("a@example.com, A@EXAMPLE.com,, ".into()),
                &["a@example.com"],
            ),
            (AddressList::Text("  ".into()), &[]),
        ];
        for (list, want) in cases {
            assert_eq!(emails(&list).unwrap(), want, "{list:?}");
        }
    }

    #[test]
    fn invalid_addresses_are_refused_by_name() {
        let cases = [
            "bob",
            "bob@",
            "@example.com",
            "bob@example.com junk",
            "Bob <bob@example.com> trailing",
            "two words@example.com",
            "bob@example",
        ];
        for item in cases {
            let err = emails(&AddressList::Text(item.into())).unwrap_err();
            assert!(
                err.contains("is not a valid email address"),
                "{item}: {err}"
            );
        }
    }

    #[test]
    fn line_breaks_in_addresses_are_refused() {
        let list = AddressList::List(vec!["Bob\r\nBcc: eve@example.com <bob@example.com>".into()]);
        let err = emails(&list).unwrap_err();
        assert!(err.contains("line break"), "{err}");
    }

    #[test]
    fn header_values_refuse_cr_lf_and_nul() {
        let cases = [
            ("Hello", None),
            ("Hello\r\nBcc: x@example.com", Some("a line break")),
            ("Hello\nthere", Some("a line break")),
            ("Hel\0lo", Some("a NUL character")),
            ("Ünïcode ✓", None),
        ];
        for (value, want) in cases {
            let got = check_header_value("subject", value)
                .err()
                .map(|e| e.to_string());
            match want {
                None => assert_eq!(got, None, "{value:?}"),
                Some(part) => assert!(got.unwrap().contains(part), "{value:?}"),
            }
        }
    }

    #[test]
    fn address_lists_deserialise_from_both_shapes() {
        let list: AddressList = serde_json::from_str(r#"["a@example.com"]"#).unwrap();
        assert_eq!(list, AddressList::List(vec!["a@example.com".into()]));
        let text: AddressList = serde_json::from_str(r#""a@example.com, b@example.com""#).unwrap();
        assert_eq!(
            text,
            AddressList::Text("a@example.com, b@example.com".into())
        );
    }
}
