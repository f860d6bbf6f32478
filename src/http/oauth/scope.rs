//! The scopes this server grants: what a token may do with the mailbox.

use crate::token::SendPolicy;

/// Read mail: list, read, search, thread.
pub const READ: &str = "mail.read";
/// Change mail: send, reply, forward, draft, move, delete, flag, manage folders.
pub const SEND: &str = "mail.send";
/// Ask for a refresh token.
pub const OFFLINE_ACCESS: &str = "offline_access";

/// Every scope, as advertised in the metadata.
pub const SUPPORTED: &[&str] = &[READ, SEND, OFFLINE_ACCESS];

/// The scope granted when the client asks for none: full mail access with refresh.
pub const DEFAULT: &str = "mail.read mail.send offline_access";

/// Normalises a requested scope string, or names the first unknown scope.
pub fn normalise(requested: Option<&str>) -> Result<String, String> {
    let requested = requested
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or(DEFAULT);
    let mut granted: Vec<&str> = Vec::new();
    for scope in requested.split_ascii_whitespace() {
        if !SUPPORTED.contains(&scope) {
            return Err(scope.to_string());
        }
        if !granted.contains(&scope) {
            granted.push(scope);
        }
    }
    Ok(granted.join(" "))
}

/// The requested scope as granted under `policy`: without `mail.send` when the person
/// chose read-only access.
pub fn granted(requested: &str, policy: SendPolicy) -> String {
    requested
        .split_ascii_whitespace()
        .filter(|s| policy.allows_writing() || *s != SEND)
        .collect::<Vec<_>>()
        .join(" ")
}

/// True when a space-separated scope string holds `wanted`.
pub fn has(scope: &str, wanted: &str) -> bool {
    scope.split_ascii_whitespace().any(|s| s == wanted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_normalise_with_a_default_and_reject_unknowns() {
        assert_eq!(normalise(None).unwrap(), DEFAULT);
        assert_eq!(normalise(Some("  ")).unwrap(), DEFAULT);
        assert_eq!(normalise(Some("mail.read mail.read")).unwrap(), "mail.read");
        assert_eq!(normalise(Some("mail.read admin")).unwrap_err(), "admin");
        assert!(has("mail.read offline_access", OFFLINE_ACCESS));
        assert!(!has("mail.readx", READ));
        assert_eq!(
            granted(DEFAULT, SendPolicy::ReadOnly),
            "mail.read offline_access"
        );
        for policy in [
            SendPolicy::SendFreely,
            SendPolicy::Ask,
            SendPolicy::DraftsOnly,
        ] {
            assert_eq!(granted(DEFAULT, policy), DEFAULT);
        }
    }
}
