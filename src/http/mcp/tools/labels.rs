//! `label_mail_messages`: Gmail's labels added to or removed from messages (servers with
//! Gmail's IMAP extension, X-GM-EXT-1, only). Thin: check the arguments, run
//! `mail::imap::change_labels` (or, for a search, `mail::imap::bulk_organise`), return each
//! message's labels afterwards (or the bulk counts).

use rmcp::handler::server::wrapper::{Json, Parameters};
use rmcp::{schemars, tool, tool_router};
use serde::Deserialize;

use super::organise::{Named, Organised};
use crate::http::mcp::tasks::Gate;
use crate::http::mcp::{Caller, MailServer};
use crate::mail::imap::{self, BulkAction, LabelsOutcome};
use crate::mail::search::SearchCriteria;

/// Arguments of `label_mail_messages`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct LabelMailMessagesParams {
    /// The folder the messages are in, e.g. "INBOX" or "[Gmail]/All Mail".
    pub folder: String,
    /// The UID of the one message to label. Give this, `uids` or `where`.
    pub uid: Option<u32>,
    /// The UIDs of several messages (at most 1000). Give this, `uid` or `where`.
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
    /// Instead of uid/uids: every message of the folder matching these search criteria
    /// (the same fields as search_mail_messages, e.g. {"label": "Newsletters"} or
    /// {"gmail_raw": "older_than:1y"}), handled in batches of 500. Try it with dry_run
    /// first. Re-running the same call finishes an interrupted one (labels already there
    /// stay as they are).
    #[serde(rename = "where")]
    pub search: Option<SearchCriteria>,
    /// With where: change nothing, return how many messages match and a sample of the
    /// first ones (uid and subject). Recommended before every bulk call.
    #[serde(default)]
    pub dry_run: bool,
    /// The folder's uid_validity from an earlier result: if the folder changed since,
    /// nothing is changed and an error says to list it again.
    pub uid_validity: Option<u32>,
}

#[tool_router(router = label_tools, vis = "pub(crate)")]
impl MailServer {
    #[tool(
        name = "label_mail_messages",
        description = "Gmail only (servers with X-GM-EXT-1): add and/or remove labels on one message (uid), several (uids) or every message of a folder matching a search (where, best with dry_run=true first; the result then gives matched, done and batches), e.g. add [\"Work\"] or remove [\"\\\\Inbox\"]. Returns each message's labels afterwards. On other servers it is refused: use update_mail_message_flags (keywords) or move_mail_message there.",
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
        gate: Gate,
        Parameters(params): Parameters<LabelMailMessagesParams>,
    ) -> Result<Json<Organised<LabelsOutcome>>, String> {
        let named = Named::parse(
            &params.folder,
            (params.uid, params.uids),
            params.search,
            params.dry_run,
            params.uid_validity,
        )?;
        let (add, remove) = (params.add, params.remove);
        self.with_imap(&caller, move |s| {
            Box::pin(async move {
                match named {
                    Named::Uids(selection) => imap::change_labels(
                        s,
                        &selection.folder,
                        &selection.uids,
                        selection.uid_validity,
                        (&add, &remove),
                    )
                    .await
                    .map(Organised::named),
                    Named::Search(selection, dry_run) => {
                        let action = BulkAction::Labels {
                            add: &add,
                            remove: &remove,
                        };
                        imap::bulk_organise(s, &selection, action, dry_run, gate.as_batch_gate())
                            .await
                            .map(Organised::bulk)
                    }
                }
            })
        })
        .await
        .map(Json)
    }
}
