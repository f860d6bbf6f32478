//! What every tool shares: the [`Caller`] of the request, taken as an rmcp extractor, and
//! [`MailServer::with_imap`], the one way a tool reaches the caller's mailbox.

use futures::future::BoxFuture;
use rmcp::handler::server::common::FromContextPart;
use rmcp::handler::server::tool::ToolCallContext;
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer};

use super::tool_error;
use crate::http::mcp::{Caller, MailServer};
use crate::mail::{ImapSession, MailAccount, MailError};

impl Caller {
    /// The caller the bearer layer put into the HTTP request's extensions, if any.
    pub(crate) fn of(context: &RequestContext<RoleServer>) -> Option<Caller> {
        context
            .extensions
            .get::<http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<Caller>().cloned())
    }

    /// The mail account the access token carries.
    pub fn account(&self) -> &MailAccount {
        &self.0.account
    }
}

/// A tool names `caller: Caller` among its arguments to get the verified caller. The
/// server refuses a call without one before any tool runs (see `call_tool`), so the error
/// here is only a guard.
impl FromContextPart<ToolCallContext<'_, MailServer>> for Caller {
    fn from_context_part(context: &mut ToolCallContext<'_, MailServer>) -> Result<Self, ErrorData> {
        Caller::of(&context.request_context).ok_or_else(|| {
            ErrorData::invalid_request(
                "not authenticated: reconnect the mail server in your app",
                None,
            )
        })
    }
}

impl MailServer {
    /// Runs `work` on an IMAP session of the caller's account, which is given back (to
    /// the pool or logged out) afterwards; mail errors become tool errors the model can
    /// act on.
    pub(crate) async fn with_imap<T>(
        &self,
        caller: &Caller,
        work: impl for<'s> FnOnce(&'s mut ImapSession) -> BoxFuture<'s, Result<T, MailError>>,
    ) -> Result<T, String> {
        self.state
            .imap
            .with_session(&caller.account().imap, work)
            .await
            .map_err(tool_error)
    }
}
