//! `SendPolicy::DraftsOnly`: nothing leaves the mailbox and nothing is destroyed. A send,
//! reply or forward is composed exactly as it would have been sent and saved in Drafts
//! instead ([`crate::mail::Outbox::send_as_draft`] and siblings), and its result says so;
//! sending a draft, permanent deletes, deleting a folder and bulk (`where`) changes are
//! refused with what the person can do. `tools/list` tells the model the same beforehand
//! ([`listed`]): the three sending tools carry the drafts-only description and output
//! schema, and the tools that would always be refused are not listed.

use std::borrow::Cow;
use std::sync::Arc;

use rmcp::handler::server::common::schema_for_output;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, JsonObject, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer};
use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::tools::tool_error;
use super::tools::write::{
    Fields, ForwardParams, ReplyParams, SendMailParams, addresses, outgoing,
};
use crate::http::mcp::policy::{self, Guarded};
use crate::http::mcp::{Caller, MailServer};
use crate::mail::StoredMessage;
use crate::mail::compose::ReplyText;
use crate::mail::outbox::{MessageRef, Recipients, SavedInstead};

/// The sending tools whose message is saved as a draft instead; every other
/// [`Guarded`] call is refused.
const DRAFTED: [&str; 3] = [
    "send_mail_message",
    "reply_to_mail_message",
    "forward_mail_message",
];

/// What a send, reply or forward of a drafts-only connection did instead of sending.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct DraftedInstead {
    /// Always false: nothing was sent; the message is a draft in the Drafts folder.
    pub sent: bool,
    /// Where the draft is: pass folder, uid and uid_validity to other tools.
    pub saved_as_draft: StoredMessage,
    /// The draft's Message-ID, with angle brackets.
    pub message_id: String,
    /// Every recipient the draft names (To, Cc and Bcc; Bcc is kept in the draft). None of
    /// them was sent anything.
    pub recipients: Vec<String>,
    /// True when an earlier call with the same idempotency_key had already saved this draft.
    pub already_saved: bool,
    /// The connection's policy: `drafts_only`.
    pub policy: &'static str,
    /// What to tell the person.
    pub note: String,
}

impl DraftedInstead {
    fn new(tool: &str, saved: SavedInstead) -> Self {
        let what = match tool {
            "reply_to_mail_message" => "reply",
            "forward_mail_message" => "forward",
            _ => "message",
        };
        let note = format!(
            "NOT SENT: this connection may only write drafts (the person chose \"Drafts only\" \
             when connecting it), so the {what} was saved as a draft in \"{}\" (uid {}) instead \
             of being sent. Nobody received it. The person can review and send it from their \
             mail app.",
            saved.draft.folder, saved.draft.uid
        );
        DraftedInstead {
            sent: false,
            saved_as_draft: saved.draft,
            message_id: saved.message_id,
            recipients: saved.recipients,
            already_saved: saved.already_saved,
            policy: "drafts_only",
            note,
        }
    }
}

impl MailServer {
    /// Handles a [`Guarded`] call of a drafts-only connection: a send, reply or forward
    /// becomes a draft; anything else is refused.
    pub(crate) async fn drafts_only(
        &self,
        action: Guarded,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let name = request.name.as_ref();
        let caller = Caller::of(&context);
        let (Guarded::Sends, Some(caller), true) = (action, caller, DRAFTED.contains(&name)) else {
            return Ok(
                CallToolResult::error(vec![ContentBlock::text(refusal(action, name))]).into(),
            );
        };
        let arguments = request.arguments.clone().unwrap_or_default();
        let saved = match name {
            "reply_to_mail_message" => self.reply_as_draft(&caller, arguments).await,
            "forward_mail_message" => self.forward_as_draft(&caller, arguments).await,
            _ => self.send_as_draft(&caller, arguments).await,
        };
        let result = match saved.and_then(|saved| {
            serde_json::to_value(DraftedInstead::new(name, saved)).map_err(|e| e.to_string())
        }) {
            Ok(value) => CallToolResult::structured(value),
            Err(message) => CallToolResult::error(vec![ContentBlock::text(message)]),
        };
        Ok(result.into())
    }

    async fn send_as_draft(
        &self,
        caller: &Caller,
        arguments: JsonObject,
    ) -> Result<SavedInstead, String> {
        let params: SendMailParams = parse(arguments)?;
        let files = self
            .attachments_to_send(caller, params.files.attachments)
            .await?;
        let message = outgoing(Fields {
            to: &params.to,
            copies: &params.copies,
            subject: params.subject,
            body: params.body,
            attachments: files,
            sender: params.sending_as.sender(caller.account())?,
        })?;
        self.state
            .outbox
            .send_as_draft(
                caller.account(),
                &message,
                params.idempotency_key.as_deref(),
            )
            .await
            .map_err(tool_error)
    }

    async fn reply_as_draft(
        &self,
        caller: &Caller,
        arguments: JsonObject,
    ) -> Result<SavedInstead, String> {
        let params: ReplyParams = parse(arguments)?;
        let parent = MessageRef::from(params.message);
        let text = ReplyText {
            text_body: params.text_body,
            html_body: params.html_body,
            from: params.sending_as.sender(caller.account())?,
        };
        let files = self
            .attachments_to_send(caller, params.files.attachments)
            .await?;
        self.state
            .outbox
            .reply_as_draft(caller.account(), &parent, params.reply_all, text, files)
            .await
            .map_err(tool_error)
    }

    async fn forward_as_draft(
        &self,
        caller: &Caller,
        arguments: JsonObject,
    ) -> Result<SavedInstead, String> {
        let params: ForwardParams = parse(arguments)?;
        let original = MessageRef::from(params.message);
        let recipients = Recipients {
            to: addresses("to", &params.to)?,
            cc: addresses("cc", &params.copies.cc)?,
            bcc: addresses("bcc", &params.copies.bcc)?,
            from: params.sending_as.sender(caller.account())?,
        };
        self.state
            .outbox
            .forward_as_draft(
                caller.account(),
                &original,
                recipients,
                params.text_body.as_deref(),
                params.include_attachments,
            )
            .await
            .map_err(tool_error)
    }
}

/// The tool's arguments, or the error rmcp would give for them.
fn parse<T: DeserializeOwned>(arguments: JsonObject) -> Result<T, String> {
    serde_json::from_value(serde_json::Value::Object(arguments))
        .map_err(|e| format!("invalid arguments: {e}"))
}

/// Why a [`Guarded`] call of a drafts-only connection was not run, and what the person
/// can do.
fn refusal(action: Guarded, tool: &str) -> String {
    let (what, instead) = match action {
        Guarded::Sends => (
            "nothing may be sent from it",
            "The draft stays where it is; the person can send it from their mail app.",
        ),
        Guarded::DeletesForGood => (
            "nothing may be deleted for good",
            "Delete without permanent to move the message to Trash.",
        ),
        Guarded::DeletesFolder => (
            "folders may not be deleted",
            "The person can delete the folder in their mail app.",
        ),
        Guarded::Bulk => (
            "changes to every message matching a search (where) are not allowed",
            "Run it with dry_run: true to see which messages it would touch, or name the \
             messages by uid or uids.",
        ),
    };
    format!(
        "{tool} was refused and nothing changed: the person chose \"Drafts only\" for this \
         connection, so {what}. {instead} To allow it, the person must reconnect this app \
         and choose another policy (\"Ask me first\" or \"Send freely\")."
    )
}

/// `tools/list` of a drafts-only connection: the sending tools that save drafts instead
/// say so (title, description, `openWorldHint: false`, the [`DraftedInstead`] output
/// schema, so clients that check results against it accept them); tools every call of
/// which would be refused (`send_draft`, `delete_mailbox`) are left out, as a read-only
/// connection's list leaves out the writing tools.
pub(crate) fn listed(tools: Vec<Tool>) -> Vec<Tool> {
    tools
        .into_iter()
        .filter_map(|tool| match policy::guarded(&tool, None) {
            None => Some(tool),
            Some(_) if DRAFTED.contains(&tool.name.as_ref()) => Some(as_drafting(tool)),
            Some(_) => None,
        })
        .collect()
}

/// `tool` as a drafts-only connection offers it: it saves a draft and sends nothing.
fn as_drafting(mut tool: Tool) -> Tool {
    let description = tool.description.as_deref().unwrap_or_default();
    tool.description = Some(Cow::Owned(format!(
        "DRAFTS ONLY on this connection: the message is composed exactly as described below \
         but saved as a draft in the Drafts folder and NOT sent (the result has sent: false \
         and the draft's folder, uid and uid_validity); the person sends it from their mail \
         app. {description}"
    )));
    let title = tool
        .annotations
        .as_ref()
        .and_then(|a| a.title.clone())
        .unwrap_or_else(|| tool.name.to_string());
    if let Some(annotations) = tool.annotations.as_mut() {
        annotations.title = Some(format!("{title} (saved as a draft)"));
        annotations.open_world_hint = Some(false);
    }
    tool.output_schema = Some(schema_for_output::<DraftedInstead>());
    tool
}

/// The output schema of a drafted send, shared with tests.
pub fn drafted_schema() -> Arc<JsonObject> {
    schema_for_output::<DraftedInstead>()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed_names() -> Vec<String> {
        listed(MailServer::router().list_all())
            .into_iter()
            .map(|t| t.name.to_string())
            .collect()
    }

    /// Under drafts-only the always-refused tools are not listed; the sending tools are,
    /// re-described as drafting, with the drafts-only output schema.
    #[test]
    fn the_listing_shows_drafting_tools_and_hides_refused_ones() {
        let names = listed_names();
        for hidden in ["send_draft", "delete_mailbox"] {
            assert!(!names.iter().any(|n| n == hidden), "{hidden} listed");
        }
        for kept in [
            "delete_mail_message",
            "move_mail_message",
            "create_draft_mail_message",
            "get_mail_message",
        ] {
            assert!(names.iter().any(|n| n == kept), "{kept} missing");
        }
        let tools = listed(MailServer::router().list_all());
        for name in DRAFTED {
            let tool = tools.iter().find(|t| t.name == name).unwrap();
            assert!(
                tool.description
                    .as_ref()
                    .unwrap()
                    .starts_with("DRAFTS ONLY")
            );
            let annotations = tool.annotations.as_ref().unwrap();
            assert_eq!(annotations.open_world_hint, Some(false));
            assert!(
                annotations
                    .title
                    .as_ref()
                    .unwrap()
                    .ends_with("(saved as a draft)")
            );
            assert_eq!(tool.output_schema, Some(drafted_schema()));
        }
    }

    /// Every refusal names the policy, says nothing changed and how to get another policy.
    #[test]
    fn refusals_name_the_policy_and_the_way_out() {
        for action in [
            Guarded::Sends,
            Guarded::DeletesForGood,
            Guarded::DeletesFolder,
            Guarded::Bulk,
        ] {
            let text = refusal(action, "some_tool");
            assert!(text.contains("\"Drafts only\""), "{text}");
            assert!(text.contains("nothing changed"), "{text}");
            assert!(text.contains("reconnect this app"), "{text}");
        }
        assert!(refusal(Guarded::Bulk, "t").contains("dry_run: true"));
        assert!(refusal(Guarded::DeletesForGood, "t").contains("without permanent"));
    }
}
