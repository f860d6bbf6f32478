//! `label_mail_messages`: Gmail's labels added to or removed from messages (servers with
//! Gmail's IMAP extension, X-GM-EXT-1, only). Thin: check the arguments, run
//! `mail::imap::change_labels`, return each message's labels afterwards.

use rmcp::handler::server::wrapper::{Json, Parameters};
use rmcp::{schemars, tool, tool_router};
use serde::Deserialize;

use super::tool_error;
use crate::http::mcp::{Caller, MailServer};
use crate::mail::imap::{self, LabelsOutcome, MessageSelection};

/// Arguments of `label_mail_messages`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct LabelMailMessagesParams {
    /// The folder the messages are in, e.g. "INBOX" or "[Gmail]/All Mail".
    pub folder: String,
    /// The UID of the one message to label. Give this or `uids`.
    pub uid: Option<u32>,
    /// The UIDs of several messages (at most 1000). Give this or `uid`.
    pub uids: Option<Vec<u32>>,
    /// Labels to add, as Gmail names them (list results show them in `labels`): user
    /// labels such as "Work" or "Clients/ACME" (created when new), or system labels
    /// "\\Important", "\\Starred", "\\Inbox". At most 20.
    #[serde(default)]
    pub add: Vec<String>,
    /// Labels to remove, written as for `add`. Removing "\\Inbox" archives the message in
    /// Gmail; it stays in All Mail.
    #[serde(default)]
    pub remove: Vec<String>,
    /// The folder's uid_validity from an earlier result: if the folder changed since,
    /// nothing is changed and an error says to list it again.
    pub uid_validity: Option<u32>,
}

#[tool_router(router = label_tools, vis = "pub(crate)")]
impl MailServer {
    #[tool(
        name = "label_mail_messages",
        description = "Gmail only (servers with X-GM-EXT-1): add and/or remove labels on one message (uid) or several (uids) of a folder, e.g. add [\"Work\"] or remove [\"\\\\Inbox\"]. Returns each message's labels afterwards. On other servers it is refused: use update_mail_message_flags (keywords) or move_mail_message there.",
        annotations(
            title = "Label messages (Gmail)",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    #[tracing::instrument(skip_all, fields(tool = "label_mail_messages", folder = %params.folder))]
    async fn label_mail_messages(
        &self,
        caller: Caller,
        Parameters(params): Parameters<LabelMailMessagesParams>,
    ) -> Result<Json<LabelsOutcome>, String> {
        let selection =
            MessageSelection::new(&params.folder, params.uid, params.uids, params.uid_validity)
                .map_err(tool_error)?;
        let (add, remove) = (params.add, params.remove);
        self.with_imap(&caller, move |s| {
            Box::pin(async move {
                imap::change_labels(
                    s,
                    &selection.folder,
                    &selection.uids,
                    selection.uid_validity,
                    (&add, &remove),
                )
                .await
            })
        })
        .await
        .map(Json)
    }
}
