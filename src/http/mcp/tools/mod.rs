//! The MCP tools, grouped by purpose, one `#[tool_router]` block per file. Tools are thin:
//! find the caller, parse arguments, call `mail/`, shape the result. Errors the model can
//! act on come back as tool results with `isError`.

pub mod attachments;
pub mod mailboxes;
pub mod organise;
pub mod read;
pub mod write;

use http::request::Parts;

use super::Caller;
use crate::http::oauth::scope;
use crate::mail::MailError;

/// The caller of this request, put there by the bearer layer.
pub(crate) fn caller(parts: &Parts) -> Result<Caller, String> {
    parts
        .extensions
        .get::<Caller>()
        .cloned()
        .ok_or_else(|| "not authenticated: reconnect the mail server in your app".to_string())
}

/// The scope a tool needs: reading tools `mail.read`, everything else `mail.send`. Decided
/// from the tool's own `readOnlyHint`, so no list of tool names is kept anywhere.
pub(crate) fn required_scope(tool: &rmcp::model::Tool) -> &'static str {
    let read_only = tool.annotations.as_ref().and_then(|a| a.read_only_hint) == Some(true);
    if read_only { scope::READ } else { scope::SEND }
}

/// A mail error as the text of a tool error.
pub(crate) fn tool_error(error: MailError) -> String {
    error.to_string()
}
