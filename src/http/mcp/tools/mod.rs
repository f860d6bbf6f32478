//! The MCP tools, grouped by purpose, one `#[tool_router]` block per file. Tools are thin:
//! take the [`Caller`](super::Caller) and the arguments, call `mail/` or `mail_files/`,
//! shape the result ([`context`] holds what they share). Errors the model can act on come
//! back as tool results with `isError`.

pub mod attachments;
pub mod changes;
pub mod context;
pub mod labels;
pub mod mailboxes;
pub mod organise;
pub mod read;
pub mod untrusted;
pub mod write;
pub mod write_fields;

use crate::http::oauth::scope;
use crate::mail::MailError;

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
