//! `list_changes`: what is new, changed or gone in a folder since a cursor this tool
//! returned earlier. Thin: opens the cursor (sealed with a keyring subkey, bound to the
//! account), asks `mail::imap::changes`, seals the new one.

use rmcp::handler::server::wrapper::{Json, Parameters};
use rmcp::{schemars, tool, tool_router};
use serde::Deserialize;

use super::tool_error;
use super::untrusted::{Markers, Untrusted};
use crate::http::mcp::{Caller, MailServer};
use crate::mail::imap::changes::{FolderChanges, FolderSnapshot, changes_since};

/// Label of the keyring subkey that seals list_changes cursors.
const CURSOR_SUBKEY_LABEL: &str = "list-changes-cursor";

/// Arguments of `list_changes`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct ListChangesParams {
    /// The folder to watch, e.g. "INBOX".
    pub folder: String,
    /// The cursor from the previous list_changes answer for this folder; leave it out on
    /// the first call (the answer then only gives a cursor).
    #[serde(default)]
    pub cursor: Option<String>,
}

#[tool_router(router = changes_tools, vis = "pub(crate)")]
impl MailServer {
    #[tool(
        name = "list_changes",
        description = "What changed in a folder since the cursor an earlier list_changes call returned: new messages (uid, subject), messages whose flags changed (uid, flags now), and UIDs gone (moved or deleted). The first call, without cursor, returns only a cursor. Pass the returned cursor next time. Without CONDSTORE on the server, flags_changed only says whether some flags changed.",
        annotations(
            title = "List changes since last time",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    #[tracing::instrument(skip_all, fields(tool = "list_changes", folder = %params.folder))]
    async fn list_changes(
        &self,
        caller: Caller,
        Parameters(params): Parameters<ListChangesParams>,
    ) -> Result<Json<Untrusted<FolderChanges>>, String> {
        let key = self.state.config.keyring.derive_subkey(CURSOR_SUBKEY_LABEL);
        let account = caller.account().email.clone();
        let since = params
            .cursor
            .as_deref()
            .map(|cursor| FolderSnapshot::open(cursor, &key, &account))
            .transpose()
            .map_err(tool_error)?;
        let folder = params.folder;
        self.with_imap(&caller, move |s| {
            Box::pin(async move {
                changes_since(s, &folder, since, |now| now.seal(&key, &account)).await
            })
        })
        .await
        .map(|changes| Json(Markers::new().changes(changes)))
    }
}
