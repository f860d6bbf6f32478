//! [`SendPolicy`]: what the person allowed this connection to do with mail that leaves
//! the mailbox or cannot be undone, chosen on the consent page and sealed in the
//! authorization code and every access and refresh token descended from it, so the model
//! cannot change it and the server keeps no state.

use serde::{Deserialize, Serialize};

/// How a connection may send and destroy mail. It covers sending (send, reply, forward,
/// sending a draft), permanent deletes, folder deletion and bulk actions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SendPolicy {
    /// Everything the scope allows runs at once.
    SendFreely,
    /// Each such action waits until the person approves what exactly will happen. The
    /// default, and what a token sealed before policies existed gets.
    #[default]
    Ask,
    /// Writing tools save drafts; nothing leaves the mailbox and nothing is destroyed.
    DraftsOnly,
    /// Reading only (the token's scope has no `mail.send`).
    ReadOnly,
}

impl SendPolicy {
    /// Every policy, in the order the consent page offers them.
    pub const ALL: [SendPolicy; 4] = [
        SendPolicy::SendFreely,
        SendPolicy::Ask,
        SendPolicy::DraftsOnly,
        SendPolicy::ReadOnly,
    ];

    /// The policy's name on the wire and in forms (`send_freely`, `ask`, `drafts_only`,
    /// `read_only`).
    pub fn as_str(self) -> &'static str {
        match self {
            SendPolicy::SendFreely => "send_freely",
            SendPolicy::Ask => "ask",
            SendPolicy::DraftsOnly => "drafts_only",
            SendPolicy::ReadOnly => "read_only",
        }
    }

    /// The policy a form value names; `None` for anything else.
    pub fn from_form(value: &str) -> Option<SendPolicy> {
        SendPolicy::ALL.into_iter().find(|p| p.as_str() == value)
    }

    /// Whether the connection may write to the mailbox at all (the `mail.send` scope).
    pub fn allows_writing(self) -> bool {
        self != SendPolicy::ReadOnly
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Form names round-trip, match the serde names, and unknown values are refused.
    #[test]
    fn form_names_round_trip_and_match_serde() {
        for policy in SendPolicy::ALL {
            assert_eq!(SendPolicy::from_form(policy.as_str()), Some(policy));
            let json = serde_json::to_value(policy).unwrap();
            assert_eq!(json, policy.as_str());
        }
        assert_eq!(SendPolicy::from_form("SEND_FREELY"), None);
        assert_eq!(SendPolicy::from_form(""), None);
    }

    /// A token sealed before the field existed is treated as "ask", the safe default.
    #[test]
    fn missing_policy_means_ask() {
        #[derive(Deserialize)]
        struct Claims {
            #[serde(default)]
            policy: SendPolicy,
        }
        let claims: Claims = serde_json::from_str("{}").unwrap();
        assert_eq!(claims.policy, SendPolicy::Ask);
    }
}
