//! "Ask me first" (`SendPolicy::Ask`): a [`Guarded`] call runs only once the person has
//! seen exactly what it will do ([`preview`]) and approved it, once.
//!
//! - A 2026-07-28 client that declares form elicitation gets an input request ([`form`]):
//!   the preview in a form, and a sealed `requestState` ([`state`]). Its retry is opened
//!   and checked (expiry, the same caller, the same tool and arguments); an approval then
//!   takes the state's single-use mark in the shared store and runs the tool once.
//! - Every other client gets a tool result with the preview and a confirmation link
//!   ([`link`]), which a person opens in a browser (`http::approval_page`). The classic
//!   `elicitation/create` request cannot be used: this server answers each POST with one
//!   JSON response (stateless, no SSE stream, no session), so there is no channel on
//!   which to ask the client in the middle of a call and wait for its answer.
//!
//! Nothing about a pending approval is stored server-side; only the decision's
//! single-use mark is, for the approval's remaining lifetime.

pub mod form;
pub mod link;
pub mod preview;
pub mod run;
pub mod state;

use rmcp::model::{CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer};

use self::form::Answer;
use self::state::{APPROVED, CANCELLED, Refusal};
use crate::http::mcp::policy::Guarded;
use crate::http::mcp::{Caller, MailServer};

/// What a cancelled or declined approval answers (an `isError` result, as every answer
/// that did not run the tool: the model must not take it for the tool's report, and a
/// client validating `structuredContent` against the tool's output schema would refuse a
/// plain success without it).
pub const NOTHING_DONE: &str =
    "The person did not approve this: nothing was sent, deleted or changed.";

impl MailServer {
    /// Runs `request` only once the person approved it (see the module docs).
    pub(crate) async fn ask_first(
        &self,
        action: Guarded,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let Some(caller) = Caller::of(&context) else {
            return Ok(refused(
                "not authenticated: reconnect the mail server in your app",
            ));
        };
        if request.request_state.is_some() || request.input_responses.is_some() {
            return self.resume(request, context, &caller).await;
        }
        let arguments = request.arguments.clone().unwrap_or_default();
        let preview = match self
            .preview(&caller, action, &request.name, &arguments)
            .await
        {
            Ok(preview) => preview,
            Err(error) => return Ok(refused(&error)),
        };
        if form::client_shows_forms(&context) {
            let sealed = state::seal(
                &self.state.tokens,
                &request.name,
                request.arguments.as_ref(),
                &caller.0,
                false,
            );
            return Ok(match sealed {
                Ok(sealed) => form::ask(&preview, sealed).into(),
                Err(error) => {
                    tracing::error!(%error, "an approval state could not be sealed");
                    refused("the server could not prepare the approval; try again")
                }
            });
        }
        Ok(self.link_result(&caller, &request, &preview).into())
    }

    /// The retry of a 2026-07-28 client: the state must be ours, unexpired, this caller's
    /// and this very call's; then the person's answer decides, once.
    async fn resume(
        &self,
        mut request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
        caller: &Caller,
    ) -> Result<CallToolResponse, ErrorData> {
        let Some(sealed) = request.request_state.take() else {
            return Ok(refused(
                "the retry carries inputResponses without the requestState it answers: nothing was sent or changed",
            ));
        };
        let checked = state::open(&self.state.tokens, &sealed).and_then(|approval| {
            approval.check_call(&request.name, request.arguments.as_ref(), &caller.0)?;
            Ok(approval)
        });
        let approval = match checked {
            Ok(approval) => approval,
            Err(refusal) => return Ok(refusal_result(&refusal)),
        };
        let responses = request.input_responses.take();
        let (outcome, runs) = match form::answer(responses.as_ref()) {
            Answer::Approved => (APPROVED, true),
            Answer::Cancelled => (CANCELLED, false),
            Answer::Missing => {
                return Ok(refused(
                    "the retry carries no answer to the approval form: nothing was sent or changed",
                ));
            }
        };
        if let Err(refusal) = approval
            .take(self.state.shared_store.as_ref(), outcome)
            .await
        {
            return Ok(refusal_result(&refusal));
        }
        if !runs {
            return Ok(refused(NOTHING_DONE));
        }
        tracing::info!(tool = %request.name, "the person approved a guarded call");
        self.run_or_task(request, context).await
    }
}

/// A result with `isError` and `text`: nothing ran.
pub(crate) fn refused(text: &str) -> CallToolResponse {
    CallToolResult::error(vec![ContentBlock::text(text.to_string())]).into()
}

fn refusal_result(refusal: &Refusal) -> CallToolResponse {
    tracing::info!(%refusal, "an approval was refused");
    refused(&refusal.to_string())
}
