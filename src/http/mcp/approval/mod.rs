//! Asking the person before a [`Guarded`] action runs (`SendPolicy::Ask`).
//! (Skeleton: refuses every such call until the approval flows land.)

use rmcp::model::{CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer};

use crate::http::mcp::MailServer;
use crate::http::mcp::policy::Guarded;

impl MailServer {
    /// Runs `request` only once the person approved it.
    pub(crate) async fn ask_first(
        &self,
        action: Guarded,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let message = format!(
            "{} needs the person's approval ({action:?}) and this server cannot ask yet",
            request.name
        );
        Ok(CallToolResult::error(vec![ContentBlock::text(message)]).into())
    }
}
