//! Folder tools: `list_mailboxes`.

use rmcp::handler::server::wrapper::{Json, Parameters};
use rmcp::{schemars, tool, tool_router};
use serde::{Deserialize, Serialize};

use crate::http::mcp::{Caller, MailServer};
use crate::mail::MailboxInfo;

/// Arguments of `list_mailboxes`.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
pub struct ListMailboxesParams {
    /// Also report each folder's message and unseen counts (one STATUS per folder: slower).
    #[serde(default)]
    pub with_counts: bool,
}

/// The folders of the account.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ListMailboxesResult {
    /// Every folder, INBOX first.
    pub mailboxes: Vec<MailboxInfo>,
}

#[tool_router(router = mailbox_tools, vis = "pub(crate)")]
impl MailServer {
    #[tool(
        name = "list_mailboxes",
        description = "List the account's mail folders with their hierarchy delimiter, attributes and special use (\\Sent, \\Drafts, \\Trash, \\Junk, \\Archive). With with_counts, also the number of messages and unseen messages in each.",
        annotations(
            title = "List mailboxes",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    #[tracing::instrument(
        skip_all,
        fields(tool = "list_mailboxes", with_counts = params.with_counts)
    )]
    async fn list_mailboxes(
        &self,
        caller: Caller,
        Parameters(params): Parameters<ListMailboxesParams>,
    ) -> Result<Json<ListMailboxesResult>, String> {
        let with_counts = params.with_counts;
        let mailboxes = self
            .with_imap(&caller, move |s| {
                Box::pin(async move { crate::mail::imap::list_mailboxes(s, with_counts).await })
            })
            .await?;
        Ok(Json(ListMailboxesResult { mailboxes }))
    }
}
