//! The kinds of token this server makes and how long each kind lives. Every token names
//! its [`Purpose`] in its `typ` claim, and whoever opens a token names the purpose it
//! expects, so a token of one kind can never stand in for another.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What a token is for; serialised lowercase in the `typ` claim.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Purpose {
    /// A client_id: the registered client itself (never expires).
    Client,
    /// An authorization code, exchanged once at the token endpoint.
    Code,
    /// A bearer token for the MCP endpoint; its audience is the MCP resource.
    Access,
    /// A refresh token, exchanged for a new access token.
    Refresh,
    /// The OAuth parameters a login form carries between showing it and posting it.
    Form,
    /// A sign-in at a mail provider in progress (our request, the provider's state and
    /// PKCE verifier), kept in a cookie from the redirect to the provider to its callback.
    Upstream,
    /// One guarded tool call waiting for the person's approval ([`APPROVAL_LIFETIME`]):
    /// a 2026-07-28 `requestState`, or a confirmation link.
    Approval,
}

/// How long a person has to approve a guarded call (the `exp` of an approval token).
pub const APPROVAL_LIFETIME: Duration = Duration::from_secs(10 * 60);

impl Purpose {
    pub const ALL: [Purpose; 7] = [
        Purpose::Client,
        Purpose::Code,
        Purpose::Access,
        Purpose::Refresh,
        Purpose::Form,
        Purpose::Upstream,
        Purpose::Approval,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Client => "client",
            Purpose::Code => "code",
            Purpose::Access => "access",
            Purpose::Refresh => "refresh",
            Purpose::Form => "form",
            Purpose::Upstream => "upstream",
            Purpose::Approval => "approval",
        }
    }
}

impl fmt::Display for Purpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Purpose {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Purpose::ALL
            .into_iter()
            .find(|purpose| purpose.as_str() == s)
            .ok_or(())
    }
}

/// How long each kind of token stays valid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lifetimes {
    pub access: Duration,
    pub refresh: Duration,
    pub code: Duration,
    pub form: Duration,
}

impl Default for Lifetimes {
    /// Access 8 h, refresh 30 days, code 5 min, login form 15 min.
    fn default() -> Self {
        const MINUTE: u64 = 60;
        const HOUR: u64 = 60 * MINUTE;
        const DAY: u64 = 24 * HOUR;
        Self {
            access: Duration::from_secs(8 * HOUR),
            refresh: Duration::from_secs(30 * DAY),
            code: Duration::from_secs(5 * MINUTE),
            form: Duration::from_secs(15 * MINUTE),
        }
    }
}

impl Lifetimes {
    /// The lifetime to seal a token of `purpose` with; `None` (no `exp`) for client ids.
    pub fn for_purpose(&self, purpose: Purpose) -> Option<Duration> {
        match purpose {
            Purpose::Client => None,
            Purpose::Code => Some(self.code),
            Purpose::Access => Some(self.access),
            Purpose::Refresh => Some(self.refresh),
            Purpose::Form | Purpose::Upstream => Some(self.form),
            Purpose::Approval => Some(APPROVAL_LIFETIME),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purpose_text_is_the_same_in_serde_display_and_from_str() {
        for purpose in Purpose::ALL {
            let json = serde_json::to_string(&purpose).unwrap();
            assert_eq!(json, format!("\"{purpose}\""));
            assert_eq!(purpose.as_str().parse::<Purpose>(), Ok(purpose));
        }
        assert!("Access".parse::<Purpose>().is_err());
    }

    #[test]
    fn default_lifetimes_match_the_design_and_client_ids_never_expire() {
        let lifetimes = Lifetimes::default();
        assert_eq!(lifetimes.access, Duration::from_secs(8 * 3600));
        assert_eq!(lifetimes.refresh, Duration::from_secs(30 * 86400));
        assert_eq!(lifetimes.code, Duration::from_secs(300));
        assert_eq!(lifetimes.form, Duration::from_secs(900));
        assert_eq!(lifetimes.for_purpose(Purpose::Client), None);
        assert_eq!(
            lifetimes.for_purpose(Purpose::Access),
            Some(lifetimes.access)
        );
    }
}
