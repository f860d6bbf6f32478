//! Organising tools: `move_mail_message`, `delete_mail_message`, `update_mail_message_flags`,
//! `archive_mail_message` (messages named by folder and UIDs, or by a search: `where`,
//! with `dry_run`) and `create_mailbox`, `rename_mailbox`, `delete_mailbox`. Thin: parse
//! the arguments, run the `mail::imap` operation on one session, return its outcome. A
//! bulk run asks its [`Gate`] after every batch (a task's progress and cancel flag).

use rmcp::handler::server::wrapper::{Json, Parameters};
use rmcp::{schemars, tool, tool_router};
use serde::{Deserialize, Serialize};

use super::tool_error;
use crate::http::mcp::tasks::Gate;
use crate::http::mcp::{Caller, MailServer};
use crate::mail::flags::FlagChange;
use crate::mail::imap::{
    self, BulkAction, BulkOutcome, BulkSelection, CreatedMailbox, DeleteOutcome, DeletedMailbox,
    FlagsOutcome, MessageSelection, MoveOutcome, RenamedMailbox,
};
use crate::mail::search::SearchCriteria;

/// The result of an organising call: the per-message outcome when UIDs were named, the
/// counts of a bulk run (or dry run) when `where` was.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Organised<T> {
    #[serde(flatten)]
    pub named: Option<T>,
    #[serde(flatten)]
    pub bulk: Option<BulkOutcome>,
}

/// The messages an organising call names: UIDs, or a search and whether it is a dry run.
pub(super) enum Named {
    Uids(MessageSelection),
    Search(BulkSelection, bool),
}

impl Named {
    /// Checks that the call names its messages one way: `uid`/`uids`, or `where` (with an
    /// optional `dry_run`, which only goes with `where`).
    pub(super) fn parse(
        folder: &str,
        (uid, uids): (Option<u32>, Option<Vec<u32>>),
        search: Option<SearchCriteria>,
        dry_run: bool,
        uid_validity: Option<u32>,
    ) -> Result<Named, String> {
        let Some(criteria) = search else {
            if dry_run {
                return Err("dry_run goes with where: name the messages by a search".into());
            }
            let selection = MessageSelection::new(folder, uid, uids, uid_validity);
            return selection.map(Named::Uids).map_err(tool_error);
        };
        if uid.is_some() || uids.is_some() {
            return Err("give either uid/uids or where, not both".into());
        }
        if criteria == SearchCriteria::default() {
            return Err(
                "where names no criterion, so it would match every message of the \
                        folder: add one (to mean the whole folder, say so with query \"ALL\")"
                    .into(),
            );
        }
        if folder.trim().is_empty() {
            return Err("name the folder to search, e.g. \"INBOX\"".into());
        }
        let program = criteria.build().map_err(tool_error)?;
        let selection = BulkSelection {
            folder: folder.to_owned(),
            program,
            uid_validity,
        };
        Ok(Named::Search(selection, dry_run))
    }
}

impl<T> Organised<T> {
    pub(super) fn named(outcome: T) -> Self {
        Organised {
            named: Some(outcome),
            bulk: None,
        }
    }

    pub(super) fn bulk(outcome: BulkOutcome) -> Self {
        Organised {
            named: None,
            bulk: Some(outcome),
        }
    }
}

/// Arguments of `move_mail_message`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct MoveMailMessageParams {
    /// The folder the messages are in now, e.g. "INBOX".
    pub folder: String,
    /// The UID of the one message to move. Give this, `uids` or `where`.
    pub uid: Option<u32>,
    /// The UIDs of several messages to move (at most 1000). Give this, `uid` or `where`.
    pub uids: Option<Vec<u32>>,
    /// The folder to move them to, e.g. "Archive" (see list_mailboxes).
    pub destination: String,
    /// Instead of uid/uids: every message of the folder matching these search criteria
    /// (the same fields as search_mail_messages, e.g. {"subject": "Newsletter"}), handled in
    /// batches of 500. Try it with dry_run first. Re-running the same call after an
    /// interrupted one finishes the rest.
    #[serde(rename = "where")]
    pub search: Option<SearchCriteria>,
    /// With where: change nothing, return how many messages match and a sample of the
    /// first ones (uid and subject). Recommended before every bulk call.
    #[serde(default)]
    pub dry_run: bool,
    /// The source folder's uid_validity from an earlier result: if the folder changed
    /// since, nothing is moved and an error says to list it again.
    pub uid_validity: Option<u32>,
}

/// Arguments of `archive_mail_message`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct ArchiveMailMessageParams {
    /// The folder the messages are in now, e.g. "INBOX".
    pub folder: String,
    /// The UID of the one message to archive. Give this, `uids` or `where`.
    pub uid: Option<u32>,
    /// The UIDs of several messages to archive (at most 1000). Give this, `uid` or `where`.
    pub uids: Option<Vec<u32>>,
    /// Instead of uid/uids: every message of the folder matching these search criteria
    /// (the same fields as search_mail_messages, e.g. {"subject": "Newsletter"}), handled in
    /// batches of 500. Try it with dry_run first. Re-running the same call after an
    /// interrupted one finishes the rest.
    #[serde(rename = "where")]
    pub search: Option<SearchCriteria>,
    /// With where: change nothing, return how many messages match and a sample of the
    /// first ones (uid and subject). Recommended before every bulk call.
    #[serde(default)]
    pub dry_run: bool,
    /// The folder's uid_validity from an earlier result: if the folder changed since,
    /// nothing is archived and an error says to list it again.
    pub uid_validity: Option<u32>,
}

/// Arguments of `delete_mail_message`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct DeleteMailMessageParams {
    /// The folder the messages are in, e.g. "INBOX".
    pub folder: String,
    /// The UID of the one message to delete. Give this, `uids` or `where`.
    pub uid: Option<u32>,
    /// The UIDs of several messages to delete (at most 1000). Give this, `uid` or `where`.
    pub uids: Option<Vec<u32>>,
    /// Delete for good instead of moving to Trash. Messages already in Trash are always
    /// deleted for good.
    #[serde(default)]
    pub permanent: bool,
    /// Instead of uid/uids: every message of the folder matching these search criteria
    /// (the same fields as search_mail_messages, e.g. {"subject": "Newsletter"}), handled in
    /// batches of 500. Try it with dry_run first. Re-running the same call after an
    /// interrupted one finishes the rest.
    #[serde(rename = "where")]
    pub search: Option<SearchCriteria>,
    /// With where: change nothing, return how many messages match and a sample of the
    /// first ones (uid and subject). Recommended before every bulk call.
    #[serde(default)]
    pub dry_run: bool,
    /// The folder's uid_validity from an earlier result: if the folder changed since,
    /// nothing is deleted and an error says to list it again.
    pub uid_validity: Option<u32>,
}

/// Arguments of `update_mail_message_flags`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct UpdateMailMessageFlagsParams {
    /// The folder the messages are in, e.g. "INBOX".
    pub folder: String,
    /// The UID of the one message to change. Give this, `uids` or `where`.
    pub uid: Option<u32>,
    /// The UIDs of several messages to change (at most 1000). Give this, `uid` or `where`.
    pub uids: Option<Vec<u32>>,
    /// Flags to set: system flags "\\Seen", "\\Answered", "\\Flagged", "\\Deleted",
    /// "\\Draft" (the backslash and case are optional: "seen", "Flagged"), or keywords such
    /// as "$Label1" or "Invoice" (letters, digits, punctuation; no spaces).
    #[serde(default)]
    pub add: Vec<String>,
    /// Flags to clear, written as for `add`.
    #[serde(default)]
    pub remove: Vec<String>,
    /// Instead of uid/uids: every message of the folder matching these search criteria
    /// (the same fields as search_mail_messages, e.g. {"subject": "Newsletter"}), handled in
    /// batches of 500. Try it with dry_run first. Re-running the same call after an
    /// interrupted one finishes the rest.
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

/// Arguments of `create_mailbox`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct CreateMailboxParams {
    /// The new folder's full name; levels are separated by the server's delimiter (the
    /// `delimiter` list_mailboxes reports, often "/"), e.g. "Projects/2026". Non-ASCII
    /// names are fine.
    pub name: String,
}

/// Arguments of `rename_mailbox`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct RenameMailboxParams {
    /// The folder's current full name, as list_mailboxes reports it.
    pub name: String,
    /// Its new full name (levels separated by the server's delimiter); may move it under
    /// another parent. Subfolders move along.
    pub new_name: String,
}

/// Arguments of `delete_mailbox`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct DeleteMailboxParams {
    /// The folder's full name, as list_mailboxes reports it.
    pub name: String,
    /// Also delete the messages it holds. Without it a folder that is not empty is refused
    /// (the error says how many messages it holds).
    #[serde(default)]
    pub force: bool,
}

#[tool_router(router = organise_tools, vis = "pub(crate)")]
impl MailServer {
    #[tool(
        name = "move_mail_message",
        description = "Move one message (uid) or several (uids) from a folder to another folder. Returns, for each moved message, its new UID in the destination and the destination's uid_validity; UIDs not found in the folder are listed in not_found and left alone (if none is found, nothing happens and an error says so). Only the named messages are touched. Or name the messages by a search (where), best with dry_run=true first: the result then gives matched, done and batches instead of per-message UIDs.",
        annotations(
            title = "Move messages",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    #[tracing::instrument(skip_all, fields(tool = "move_mail_message", folder = %params.folder))]
    async fn move_mail_message(
        &self,
        caller: Caller,
        gate: Gate,
        Parameters(params): Parameters<MoveMailMessageParams>,
    ) -> Result<Json<Organised<MoveOutcome>>, String> {
        let named = Named::parse(
            &params.folder,
            (params.uid, params.uids),
            params.search,
            params.dry_run,
            params.uid_validity,
        )?;
        let destination = params.destination;
        self.with_imap(&caller, move |s| {
            Box::pin(async move {
                match named {
                    Named::Uids(selection) => imap::move_messages(s, &selection, &destination)
                        .await
                        .map(Organised::named),
                    Named::Search(selection, dry_run) => {
                        let action = BulkAction::Move {
                            destination: &destination,
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

    #[tool(
        name = "archive_mail_message",
        description = "Archive one message (uid), several (uids) or every message matching a search (where, best with dry_run=true first): move them to the account's archive folder (the one marked \\Archive or named Archive; on Gmail without one, All Mail), created as \"Archive\" when the account has none (the note says so). Returns what move_mail_message returns.",
        annotations(
            title = "Archive messages",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    #[tracing::instrument(skip_all, fields(tool = "archive_mail_message", folder = %params.folder))]
    async fn archive_mail_message(
        &self,
        caller: Caller,
        gate: Gate,
        Parameters(params): Parameters<ArchiveMailMessageParams>,
    ) -> Result<Json<Organised<MoveOutcome>>, String> {
        let named = Named::parse(
            &params.folder,
            (params.uid, params.uids),
            params.search,
            params.dry_run,
            params.uid_validity,
        )?;
        self.with_imap(&caller, move |s| {
            Box::pin(async move {
                match named {
                    Named::Uids(selection) => imap::archive_messages(s, &selection)
                        .await
                        .map(Organised::named),
                    Named::Search(selection, dry_run) => {
                        let action = BulkAction::Archive;
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

    #[tool(
        name = "delete_mail_message",
        description = "Delete one message (uid) or several (uids). By default they are moved to the Trash folder (the result gives their UIDs there, to restore them); with permanent=true, or when they already are in Trash, they are removed for good. Only the named messages are removed: messages someone else flagged \\Deleted are never expunged with them. UIDs not found are listed in not_found. Or name the messages by a search (where), best with dry_run=true first: the result then gives matched, done and batches.",
        annotations(
            title = "Delete messages",
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    #[tracing::instrument(
        skip_all,
        fields(tool = "delete_mail_message", folder = %params.folder, permanent = params.permanent)
    )]
    async fn delete_mail_message(
        &self,
        caller: Caller,
        gate: Gate,
        Parameters(params): Parameters<DeleteMailMessageParams>,
    ) -> Result<Json<Organised<DeleteOutcome>>, String> {
        let named = Named::parse(
            &params.folder,
            (params.uid, params.uids),
            params.search,
            params.dry_run,
            params.uid_validity,
        )?;
        let permanent = params.permanent;
        self.with_imap(&caller, move |s| {
            Box::pin(async move {
                match named {
                    Named::Uids(selection) => imap::delete_messages(s, &selection, permanent)
                        .await
                        .map(Organised::named),
                    Named::Search(selection, dry_run) => {
                        let action = BulkAction::Delete { permanent };
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

    #[tool(
        name = "update_mail_message_flags",
        description = "Add and/or remove flags on one message (uid) or several (uids): system flags \\Seen (read), \\Answered, \\Flagged (starred), \\Deleted, \\Draft, and keywords (labels such as \"$Label1\" or \"Invoice\"). Returns each message's flags afterwards. \\Deleted only marks a message; use delete_mail_message to delete it. Or name the messages by a search (where), best with dry_run=true first: the result then gives matched, done and batches.",
        annotations(
            title = "Update message flags",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    #[tracing::instrument(
        skip_all,
        fields(tool = "update_mail_message_flags", folder = %params.folder)
    )]
    async fn update_mail_message_flags(
        &self,
        caller: Caller,
        gate: Gate,
        Parameters(params): Parameters<UpdateMailMessageFlagsParams>,
    ) -> Result<Json<Organised<FlagsOutcome>>, String> {
        let named = Named::parse(
            &params.folder,
            (params.uid, params.uids),
            params.search,
            params.dry_run,
            params.uid_validity,
        )?;
        let change = FlagChange::parse(&params.add, &params.remove).map_err(tool_error)?;
        self.with_imap(&caller, move |s| {
            Box::pin(async move {
                match named {
                    Named::Uids(selection) => imap::update_flags(s, &selection, &change)
                        .await
                        .map(Organised::named),
                    Named::Search(selection, dry_run) => {
                        let action = BulkAction::Flags(&change);
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

    #[tool(
        name = "create_mailbox",
        description = "Create a mail folder. Nested folders use the server's hierarchy delimiter (see list_mailboxes), e.g. \"Projects/2026\"; missing parents are created too. Refused if the folder exists.",
        annotations(
            title = "Create folder",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    #[tracing::instrument(skip_all, fields(tool = "create_mailbox"))]
    async fn create_mailbox(
        &self,
        caller: Caller,
        Parameters(params): Parameters<CreateMailboxParams>,
    ) -> Result<Json<CreatedMailbox>, String> {
        self.with_imap(&caller, move |s| {
            Box::pin(async move { imap::create_mailbox(s, &params.name).await })
        })
        .await
        .map(Json)
    }

    #[tool(
        name = "rename_mailbox",
        description = "Rename a mail folder (or move it under another parent); its subfolders move along. INBOX and the special folders (Sent, Drafts, Trash, Junk, Archive, ...) cannot be renamed.",
        annotations(
            title = "Rename folder",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    #[tracing::instrument(skip_all, fields(tool = "rename_mailbox"))]
    async fn rename_mailbox(
        &self,
        caller: Caller,
        Parameters(params): Parameters<RenameMailboxParams>,
    ) -> Result<Json<RenamedMailbox>, String> {
        self.with_imap(&caller, move |s| {
            Box::pin(async move { imap::rename_mailbox(s, &params.name, &params.new_name).await })
        })
        .await
        .map(Json)
    }

    #[tool(
        name = "delete_mailbox",
        description = "Delete a mail folder. A folder that holds messages is deleted (with its messages) only with force=true; one with subfolders is refused. INBOX and the special folders (Sent, Drafts, Trash, Junk, Archive, ...) cannot be deleted.",
        annotations(
            title = "Delete folder",
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    #[tracing::instrument(skip_all, fields(tool = "delete_mailbox", force = params.force))]
    async fn delete_mailbox(
        &self,
        caller: Caller,
        Parameters(params): Parameters<DeleteMailboxParams>,
    ) -> Result<Json<DeletedMailbox>, String> {
        self.with_imap(&caller, move |s| {
            Box::pin(async move { imap::delete_mailbox(s, &params.name, params.force).await })
        })
        .await
        .map(Json)
    }
}
