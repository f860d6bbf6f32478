//! Running an approved call outside an MCP request (the confirmation page): the call goes
//! through this server's own tool router, as one `tools/call` served by rmcp the way its
//! stateless HTTP transport serves one (`serve_directly` on a one-shot transport), with a
//! [`Caller`] made from the sealed access claims in the request's extensions. There is no
//! second implementation of sending or deleting: the tool runs exactly as over MCP, only
//! the policy step is skipped, because the person has just approved this very call.

use http::request::Parts;
use rmcp::model::{
    CallToolRequest, CallToolRequestParams, CallToolResponse, CallToolResult, ClientJsonRpcMessage,
    ClientRequest, JsonObject, JsonRpcMessage, JsonRpcRequest, RequestId, ServerConfig,
    ServerResult,
};
use rmcp::service::{RequestContext, serve_directly};
use rmcp::transport::OneshotTransport;
use rmcp::{ErrorData, RoleServer, ServerHandler};

use crate::http::mcp::tasks::Gate;
use crate::http::mcp::tools::required_scope;
use crate::http::mcp::{Caller, MailServer};

/// The server as it answers an approved call: tools run with no policy step.
#[derive(Clone)]
struct Approved(MailServer);

impl ServerHandler for Approved {
    fn get_info(&self) -> ServerConfig {
        self.0.get_info()
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        self.0.run(request, context).await
    }
}

impl MailServer {
    /// Runs `tool` with `arguments` for `caller`, as approved; the tool's own result
    /// (`isError` when it failed). `Err` only when the call could not be made at all.
    pub(crate) async fn run_approved(
        &self,
        caller: Caller,
        tool: &str,
        arguments: JsonObject,
    ) -> Result<CallToolResult, String> {
        self.run_approved_with(caller, tool, arguments, None).await
    }

    /// [`run_approved`](Self::run_approved), with a bulk run's `gate` (a task's, see
    /// `tasks::runner`) in the request's extensions.
    pub(crate) async fn run_approved_with(
        &self,
        caller: Caller,
        tool: &str,
        arguments: JsonObject,
        gate: Option<Gate>,
    ) -> Result<CallToolResult, String> {
        let allowed = self
            .tools()
            .iter()
            .find(|t| t.name == tool)
            .is_some_and(|t| caller.has_scope(required_scope(t)));
        if !allowed {
            return Err(format!("this connection may not use {tool}"));
        }
        let (mut parts, ()) = http::Request::new(()).into_parts();
        parts.extensions.insert(caller);
        if let Some(gate) = gate {
            parts.extensions.insert(gate);
        }
        let params = CallToolRequestParams::new(tool.to_string()).with_arguments(arguments);
        let mut request = CallToolRequest::new(params);
        request.extensions.insert::<Parts>(parts);
        let message = ClientJsonRpcMessage::Request(JsonRpcRequest::new(
            RequestId::Number(1),
            ClientRequest::CallToolRequest(request),
        ));
        let (transport, mut answers) = OneshotTransport::<RoleServer>::new(message);
        let service = serve_directly(Approved(self.clone()), transport, None);
        let answer = answers.recv().await;
        let _ = service.cancel().await;
        match answer {
            Some(JsonRpcMessage::Response(response)) => match response.result {
                ServerResult::CallToolResult(result) => Ok(result),
                _ => Err("the tool gave no result".into()),
            },
            Some(JsonRpcMessage::Error(error)) => Err(error.error.message.to_string()),
            _ => Err("the tool gave no answer".into()),
        }
    }
}
