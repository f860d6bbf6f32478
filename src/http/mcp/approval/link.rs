//! Approval by confirmation link, for every client that cannot show a 2026-07-28 form:
//! the tool result shows the preview and `<BASE_URL>/approve/<sealed>`, a link a person
//! must open to approve (the page is `http::approval_page`). The sealed token carries the
//! call and the caller's access claims (encrypted), so the page can run it without the
//! bearer token; it works once, for ten minutes.
//!
//! The result has `isError`: nothing was sent yet, and the model must neither report the
//! call as done nor take the text for the tool's usual report (whose output schema the
//! text does not match).

use rmcp::model::{CallToolRequestParams, CallToolResult, ContentBlock};

use super::preview::Preview;
use super::state;
use crate::http::mcp::{Caller, MailServer};
use crate::token::TokenError;

/// The path of the confirmation page, below BASE_URL.
pub const PATH: &str = "/approve";

impl MailServer {
    /// The tool result asking a person to open the confirmation link.
    pub(crate) fn link_result(
        &self,
        caller: &Caller,
        request: &CallToolRequestParams,
        preview: &Preview,
    ) -> CallToolResult {
        let sealed = state::seal(
            &self.state.tokens,
            &request.name,
            request.arguments.as_ref(),
            &caller.0,
            true,
        );
        let text = match sealed {
            Ok(sealed) => {
                let url = self.state.config.url(&format!("{PATH}/{sealed}"));
                format!(
                    "NOT DONE YET: this needs the person's approval, and nothing was sent, deleted or changed. \
                     Show the person this link; a person must open it in a browser to approve or cancel \
                     (it works once, within 10 minutes). Do not call the tool again for this.\n\n\
                     {url}\n\nWhat the link approves:\n{}",
                    preview.text()
                )
            }
            Err(TokenError::Encode(_)) => {
                "NOT DONE: this call is too large to approve through a link (inline attachments make it \
                 so). Attach files by URL or as {folder, uid, part} instead, or use an app that shows \
                 approval forms (MCP 2026-07-28). Nothing was sent, deleted or changed."
                    .to_string()
            }
            Err(error) => {
                tracing::error!(%error, "a confirmation link could not be sealed");
                "NOT DONE: the server could not prepare the approval link; try again. Nothing was sent, \
                 deleted or changed."
                    .to_string()
            }
        };
        CallToolResult::error(vec![ContentBlock::text(text)])
    }
}
