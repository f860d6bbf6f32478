//! The MCP Tasks extension (`io.modelcontextprotocol/tasks`, SEP-2663) for long bulk runs.
//! A `tools/call` of an organising tool by search (`where`, not a dry run) from a client
//! that declares the extension in its request's capabilities, and whose search matches more
//! than one batch, answers at once with a task handle (`resultType: "task"`) and runs in the
//! background ([`runner`]); every other call runs inline as before. The server decides;
//! clients do not ask for a task (the 2026-07-28 extension has no task-augmented request).
//!
//! The server is stateless and may run as several instances: a task's state lives in the
//! shared store ([`record`]), keyed by an unguessable id and bound to the caller digest of
//! the call that made it, so `tasks/get` and `tasks/cancel` answer on any instance, and a
//! task of another caller is the same "no such task" as one that never existed. Bounds: a
//! task is kept [`record::TASK_TTL`], its result at most [`record::MAX_RESULT_BYTES`], and an
//! account runs at most [`MAX_TASKS_PER_ACCOUNT`] at once. Under "ask me first" the approval
//! comes first (`approval`), then the approved call may become a task.

pub mod record;
pub mod runner;

use std::sync::Arc;

use rmcp::handler::server::common::FromContextPart;
use rmcp::handler::server::tool::ToolCallContext;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, CancelTaskParams, ContentBlock,
    CreateTaskResult, GetTaskParams, GetTaskResult, MetaObject, ServerCapabilities,
    TASKS_EXTENSION_ID, UpdateTaskParams,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer};
use serde_json::Value;

use self::record::{Progress, TaskKeys, TaskRecord};
use super::approval::state::caller_digest;
use super::policy::{self, Guarded};
use super::{Caller, MailServer};
use crate::mail::imap::{BATCH_SIZE, BatchGate, NoGate};

/// Bulk tasks one account may run at once; a further one is refused until one ends.
pub const MAX_TASKS_PER_ACCOUNT: u64 = 3;

/// What a bulk tool asks after every batch: a task's [`runner::TaskGate`], or [`NoGate`]
/// for a call run inline. Tools take it as an argument (an rmcp extractor).
#[derive(Clone)]
pub struct Gate(pub Arc<dyn BatchGate>);

impl Gate {
    pub fn as_batch_gate(&self) -> &dyn BatchGate {
        self.0.as_ref()
    }
}

impl FromContextPart<ToolCallContext<'_, MailServer>> for Gate {
    fn from_context_part(context: &mut ToolCallContext<'_, MailServer>) -> Result<Self, ErrorData> {
        let gate = context
            .request_context
            .extensions
            .get::<http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<Gate>().cloned());
        Ok(gate.unwrap_or_else(|| Gate(Arc::new(NoGate))))
    }
}

/// Takes the Tasks extension out of `capabilities` (for `initialize` sessions, which cannot
/// declare it: it is declared per request, from 2026-07-28 on).
pub fn unadvertise(capabilities: &mut ServerCapabilities) {
    if let Some(extensions) = capabilities.extensions.as_mut() {
        extensions.remove(TASKS_EXTENSION_ID);
    }
    if capabilities
        .extensions
        .as_ref()
        .is_some_and(|e| e.is_empty())
    {
        capabilities.extensions = None;
    }
}

impl MailServer {
    /// Runs the call inline, or, for a long bulk run of a client that declared the Tasks
    /// extension, as a task (see the module docs).
    pub(crate) async fn run_or_task(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let caller = Caller::of(&context);
        let (Some(caller), true) = (caller, self.task_eligible(&request, &context)) else {
            return self.run(request, context).await;
        };
        let Some(matched) = self.count_matches(&request, &context).await else {
            return self.run(request, context).await;
        };
        if matched <= u32::try_from(BATCH_SIZE).unwrap_or(u32::MAX) {
            return self.run(request, context).await;
        }
        match self.start_task(caller, &request, matched).await {
            Ok(Some(response)) => Ok(response),
            Ok(None) => self.run(request, context).await,
            Err(refusal) => Ok(refusal),
        }
    }

    /// A bulk call by a client that declared the extension.
    fn task_eligible(
        &self,
        request: &CallToolRequestParams,
        context: &RequestContext<RoleServer>,
    ) -> bool {
        let declared = context
            .client_capabilities()
            .is_some_and(|caps| caps.supports_tasks());
        let tool = self.tools().into_iter().find(|t| t.name == request.name);
        let bulk = tool.is_some_and(|tool| {
            policy::guarded(&tool, request.arguments.as_ref()) == Some(Guarded::Bulk)
        });
        declared && bulk
    }

    /// How many messages the call's search matches, by the same call as a dry run; `None`
    /// when the dry run fails (the real call then runs inline and reports why).
    async fn count_matches(
        &self,
        request: &CallToolRequestParams,
        context: &RequestContext<RoleServer>,
    ) -> Option<u32> {
        let mut dry = request.clone();
        let mut arguments = dry.arguments.take().unwrap_or_default();
        arguments.insert("dry_run".into(), Value::Bool(true));
        dry.arguments = Some(arguments);
        let CallToolResponse::Complete(result) = self.run(dry, context.clone()).await.ok()? else {
            return None;
        };
        if result.is_error == Some(true) {
            return None;
        }
        let matched = result.structured_content?.get("matched")?.as_u64()?;
        u32::try_from(matched).ok()
    }

    /// Records a new task and starts it. `Ok(None)`: no task could be made (the store is
    /// unavailable, the server is draining), so the call runs inline; `Err`: refused.
    async fn start_task(
        &self,
        caller: Caller,
        request: &CallToolRequestParams,
        matched: u32,
    ) -> Result<Option<CallToolResponse>, CallToolResponse> {
        let store = self.state.shared_store.as_ref();
        let running = TaskKeys::running(caller.account());
        let place = store.hit(&running, record::TASK_TTL).await;
        let count = match place {
            Ok(window) => window.count,
            Err(error) => {
                tracing::warn!(%error, "no task could be started: the store is unavailable");
                return Ok(None);
            }
        };
        let free_place = || async {
            if let Err(error) = store.unhit(&running).await {
                tracing::warn!(%error, "a task's place could not be freed");
            }
        };
        if count > MAX_TASKS_PER_ACCOUNT {
            free_place().await;
            return Err(too_many_tasks());
        }
        let Some(entered) = self.state.drain.enter() else {
            free_place().await;
            return Ok(None);
        };
        let id = record::new_task_id();
        let progress = Progress {
            matched,
            total_batches: runner::total_batches(matched),
            ..Progress::default()
        };
        let message = format!("started: {}", runner::working_message(progress));
        let task = TaskRecord::new(caller_digest(&caller.0), progress, message);
        if let Err(error) = record::save(store, &id, &task).await {
            tracing::warn!(%error, "no task could be started: its state was not stored");
            free_place().await;
            return Ok(None);
        }
        let handle = CreateTaskResult::new(task.task(&id));
        tracing::info!(tool = %request.name, matched, "a bulk call runs as a task");
        let run = runner::Run {
            id,
            caller,
            tool: request.name.to_string(),
            arguments: request.arguments.clone().unwrap_or_default(),
            record: task,
            entered,
        };
        runner::spawn(self.clone(), run);
        Ok(Some(CallToolResponse::Task(handle)))
    }

    /// `tasks/get`: the task's state, from the shared store, for its own caller only.
    pub(crate) async fn get_bulk_task(
        &self,
        params: GetTaskParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetTaskResult, ErrorData> {
        let record = self.owned_task(&params.task_id, &context).await?;
        let mut result = GetTaskResult::new(record.detailed(&params.task_id));
        let mut meta = MetaObject::new();
        let progress = serde_json::to_value(record.progress).unwrap_or_default();
        meta.insert(record::PROGRESS_META.into(), progress);
        result.meta = Some(meta);
        Ok(result)
    }

    /// `tasks/cancel`: sets the task's cancel flag, which the running instance reads
    /// before its next batch. A finished task is left as it is.
    pub(crate) async fn cancel_bulk_task(
        &self,
        params: CancelTaskParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let record = self.owned_task(&params.task_id, &context).await?;
        if record.status.is_terminal() {
            return Ok(());
        }
        let store = self.state.shared_store.as_ref();
        store
            .hit(&TaskKeys::cancel(&params.task_id), record::TASK_TTL)
            .await
            .map_err(unavailable)?;
        tracing::info!("a bulk task was asked to stop");
        Ok(())
    }

    /// `tasks/update`: a bulk task never asks for input, so there is nothing to answer.
    pub(crate) async fn update_bulk_task(
        &self,
        params: UpdateTaskParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.owned_task(&params.task_id, &context).await?;
        Err(ErrorData::invalid_params(
            "this task asks for no input: poll it with tasks/get",
            None,
        ))
    }

    /// The record of task `id` if it belongs to this request's caller; otherwise the
    /// same error as for a task that does not exist.
    async fn owned_task(
        &self,
        id: &str,
        context: &RequestContext<RoleServer>,
    ) -> Result<TaskRecord, ErrorData> {
        let caller = Caller::of(context).ok_or_else(|| no_such_task(id))?;
        let store = self.state.shared_store.as_ref();
        let record = record::load(store, id).await.map_err(unavailable)?;
        match record {
            Some(record) if record.owner == caller_digest(&caller.0) => Ok(record.seen_now()),
            _ => Err(no_such_task(id)),
        }
    }
}

/// `-32602`, as the extension asks for an unknown (or expired, or foreign) task.
fn no_such_task(_id: &str) -> ErrorData {
    ErrorData::invalid_params(
        "Failed to retrieve task: no such task for this connection (it may have expired: \
         tasks are kept for an hour)",
        None,
    )
}

fn unavailable(error: crate::shared_store::StoreError) -> ErrorData {
    tracing::warn!(%error, "the task store did not answer");
    ErrorData::internal_error(
        "the task store is unavailable right now; try again in a few seconds",
        None,
    )
}

fn too_many_tasks() -> CallToolResponse {
    let text = format!(
        "this account already runs {MAX_TASKS_PER_ACCOUNT} bulk tasks; nothing was changed: \
         wait for one to finish (tasks/get) or cancel one (tasks/cancel), then call again"
    );
    CallToolResult::error(vec![ContentBlock::text(text)]).into()
}
