//! `SendPolicy::DraftsOnly`: nothing leaves the mailbox and nothing is destroyed.
//! (Skeleton: refuses every such call until sends-become-drafts lands.)

use rmcp::model::{CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer};

use crate::http::mcp::MailServer;
use crate::http::mcp::policy::Guarded;

impl MailServer {
    /// Handles a [`Guarded`] call of a drafts-only connection.
    pub(crate) async fn drafts_only(
        &self,
        action: Guarded,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let message = format!(
            "this connection may only write drafts, so {} ({action:?}) was not run",
            request.name
        );
        Ok(CallToolResult::error(vec![ContentBlock::text(message)]).into())
    }
}
