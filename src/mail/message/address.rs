//! [`Address`]: one mailbox of a From, To, Cc, Reply-To or Sender header, decoded (RFC
//! 2047 encoded words in names are read by mail-parser), as tools report and accept it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A mailbox: an optional display name and an address.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Address {
    /// The display name, e.g. "John Smith", when the header gives one.
    pub name: Option<String>,
    /// The address, e.g. "john@example.com".
    pub email: String,
}

/// The mailboxes of a parsed address header, groups flattened; entries without an
/// address (an empty group such as `undisclosed-recipients:;`) are left out.
pub(crate) fn addresses(header: Option<&mail_parser::Address<'_>>) -> Vec<Address> {
    header
        .map(|list| list.iter().filter_map(address).collect())
        .unwrap_or_default()
}

fn address(addr: &mail_parser::Addr<'_>) -> Option<Address> {
    let email = addr.address.as_deref()?.trim();
    if email.is_empty() {
        return None;
    }
    let name = addr
        .name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty() && *n != email)
        .map(str::to_owned);
    Some(Address {
        name,
        email: email.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use mail_parser::MessageParser;

    fn to_of(header: &str) -> Vec<Address> {
        let raw = format!("To: {header}\r\n\r\n");
        let message = MessageParser::default()
            .parse_headers(raw.as_bytes())
            .unwrap();
        addresses(message.to())
    }

    fn mailbox(name: Option<&str>, email: &str) -> Address {
        Address {
            name: name.map(str::to_owned),
            email: email.into(),
        }
    }

    #[test]
    fn headers_become_mailboxes() {
        let cases: Vec<(&str, Vec<Address>)> = vec![
            ("john@x.com", vec![mailbox(None, "john@x.com")]),
            (
                "\"Smith, John\" <john@x.com>, jane@y.org",
                vec![
                    mailbox(Some("Smith, John"), "john@x.com"),
                    mailbox(None, "jane@y.org"),
                ],
            ),
            (
                "=?UTF-8?Q?J=C3=BCrg_M=C3=BCller?= <jm@x.ch>",
                vec![mailbox(Some("Jürg Müller"), "jm@x.ch")],
            ),
            (
                "Team: a@x.com, B <b@x.com>;, c@x.com",
                vec![
                    mailbox(None, "a@x.com"),
                    mailbox(Some("B"), "b@x.com"),
                    mailbox(None, "c@x.com"),
                ],
            ),
            ("undisclosed-recipients:;", vec![]),
        ];
        for (header, want) in cases {
            assert_eq!(to_of(header), want, "{header}");
        }
    }
}
