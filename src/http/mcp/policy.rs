//! Which tool calls the person's [`SendPolicy`] covers, and what it decides for each: a
//! call that sends mail, destroys it for good, deletes a folder or changes many messages
//! at once is a [`Guarded`] action. The kind is read from the tool's own annotations and
//! the call's arguments, so no list of tool names is kept here.

use rmcp::model::{JsonObject, Tool};
use serde_json::Value;

use crate::token::SendPolicy;

/// An action the policy covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Guarded {
    /// Mail leaves the mailbox: send, reply, forward, send a draft (`openWorldHint`).
    Sends,
    /// Messages are removed for good (`permanent: true`).
    DeletesForGood,
    /// A destructive call with no `permanent` choice: deleting a folder.
    DeletesFolder,
    /// A change to every message matching a search (`where`, not a dry run).
    Bulk,
}

/// What happens to a call under the connection's policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Run it now.
    Run,
    /// Run it only once the person approves it (`SendPolicy::Ask`).
    AskFirst(Guarded),
    /// Nothing leaves and nothing is destroyed: a send becomes a draft, the rest is
    /// refused (`SendPolicy::DraftsOnly`).
    DraftsOnly(Guarded),
}

/// The action a call of `tool` with `arguments` is, if the policy covers it.
pub fn guarded(tool: &Tool, arguments: Option<&JsonObject>) -> Option<Guarded> {
    let hints = tool.annotations.as_ref();
    let hint =
        |get: fn(&rmcp::model::ToolAnnotations) -> Option<bool>| hints.and_then(get) == Some(true);
    if hint(|a| a.read_only_hint) {
        return None;
    }
    let argument = |name: &str| arguments.and_then(|args| args.get(name));
    if hint(|a| a.open_world_hint) {
        return Some(Guarded::Sends);
    }
    if argument("where").is_some_and(|w| !w.is_null())
        && argument("dry_run") != Some(&Value::Bool(true))
    {
        return Some(Guarded::Bulk);
    }
    if hint(|a| a.destructive_hint) {
        if argument("permanent") == Some(&Value::Bool(true)) {
            return Some(Guarded::DeletesForGood);
        }
        if !tool_has_property(tool, "permanent") {
            return Some(Guarded::DeletesFolder);
        }
    }
    None
}

fn tool_has_property(tool: &Tool, name: &str) -> bool {
    tool.input_schema
        .get("properties")
        .and_then(Value::as_object)
        .is_some_and(|properties| properties.contains_key(name))
}

/// What `policy` decides for a call that is `action` (or not covered, `None`).
pub fn decide(policy: SendPolicy, action: Option<Guarded>) -> Decision {
    match (policy, action) {
        (_, None) | (SendPolicy::SendFreely, _) => Decision::Run,
        (SendPolicy::Ask, Some(action)) => Decision::AskFirst(action),
        // A read-only token has no mail.send scope, so its writing calls never get here;
        // should one, it is treated as strictly as drafts-only.
        (SendPolicy::DraftsOnly | SendPolicy::ReadOnly, Some(action)) => {
            Decision::DraftsOnly(action)
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::http::mcp::MailServer;

    fn tools() -> Vec<Tool> {
        MailServer::router().list_all()
    }

    fn kind(name: &str, arguments: Value) -> Option<Guarded> {
        let tool = tools().into_iter().find(|t| t.name == name).unwrap();
        guarded(&tool, arguments.as_object())
    }

    /// Each tool call is classified from its annotations and arguments.
    #[test]
    fn calls_are_classified_from_annotations_and_arguments() {
        let one = json!({"folder": "INBOX", "uid": 1});
        for sends in [
            "send_mail_message",
            "reply_to_mail_message",
            "forward_mail_message",
            "send_draft",
        ] {
            assert_eq!(kind(sends, json!({})), Some(Guarded::Sends), "{sends}");
        }
        assert_eq!(kind("create_draft_mail_message", json!({})), None);
        assert_eq!(kind("delete_mail_message", one.clone()), None);
        assert_eq!(
            kind(
                "delete_mail_message",
                json!({"folder": "INBOX", "uid": 1, "permanent": true})
            ),
            Some(Guarded::DeletesForGood)
        );
        assert_eq!(
            kind("delete_mailbox", json!({"name": "Old"})),
            Some(Guarded::DeletesFolder)
        );
        assert_eq!(kind("move_mail_message", one.clone()), None);
        let search =
            json!({"folder": "INBOX", "where": {"subject": "x"}, "destination": "Archive"});
        assert_eq!(
            kind("move_mail_message", search.clone()),
            Some(Guarded::Bulk)
        );
        let mut dry = search.clone();
        dry["dry_run"] = json!(true);
        assert_eq!(kind("move_mail_message", dry), None);
        assert_eq!(
            kind(
                "update_mail_message_flags",
                json!({"folder": "INBOX", "where": {"seen": false}, "add": ["\\Seen"]})
            ),
            Some(Guarded::Bulk)
        );
        assert_eq!(kind("get_mail_message", one.clone()), None);
        assert_eq!(
            kind(
                "search_mail_messages",
                json!({"folder": "INBOX", "where": {}})
            ),
            None
        );
        assert_eq!(kind("create_mailbox", json!({"name": "New"})), None);
        assert_eq!(
            kind("rename_mailbox", json!({"name": "A", "new_name": "B"})),
            None
        );
    }

    /// Only send-freely runs a covered call at once; uncovered calls always run.
    #[test]
    fn policies_decide() {
        use SendPolicy::*;
        for policy in SendPolicy::ALL {
            assert_eq!(decide(policy, None), Decision::Run);
        }
        assert_eq!(decide(SendFreely, Some(Guarded::Sends)), Decision::Run);
        assert_eq!(
            decide(Ask, Some(Guarded::Bulk)),
            Decision::AskFirst(Guarded::Bulk)
        );
        assert_eq!(
            decide(DraftsOnly, Some(Guarded::Sends)),
            Decision::DraftsOnly(Guarded::Sends)
        );
        assert_eq!(
            decide(ReadOnly, Some(Guarded::DeletesFolder)),
            Decision::DraftsOnly(Guarded::DeletesFolder)
        );
    }
}
