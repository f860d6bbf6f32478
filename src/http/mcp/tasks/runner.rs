//! Running a bulk call as a task, in the background of the instance that created it: the
//! call goes through the tool router as an approved call does (`approval::run`), with a
//! [`TaskGate`] in its extensions. After every batch the gate writes the progress to the
//! task's record and checks, in the shared store, whether the task was cancelled (from any
//! instance), and whether this instance is shutting down: either stops the run before the
//! next batch. The run holds a place in the drain (`crate::drain`), so a shutdown waits for
//! it to write its final state; a run stopped by the shutdown ends `failed` with a message
//! saying to call again. The end state is written once, and the account's place freed.

use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use rmcp::model::{CallToolResult, JsonObject, TaskStatus};
use serde_json::Value;

use super::Gate;
use super::record::{self, Progress, TaskKeys, TaskRecord};
use crate::drain::Entered;
use crate::http::mcp::{Caller, MailServer};
use crate::mail::imap::{BATCH_SIZE, BatchGate, BulkOutcome};

/// Why a run stopped early.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stop {
    Cancelled,
    ShuttingDown,
}

/// The gate of one task's run.
pub struct TaskGate {
    server: MailServer,
    id: String,
    record: Mutex<TaskRecord>,
    stop: Mutex<Option<Stop>>,
}

impl TaskGate {
    fn record(&self) -> TaskRecord {
        self.record
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn update(&self, change: impl FnOnce(&mut TaskRecord)) -> TaskRecord {
        let mut record = self.record.lock().unwrap_or_else(|e| e.into_inner());
        change(&mut record);
        record.clone()
    }

    fn stopped(&self) -> Option<Stop> {
        *self.stop.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn save(&self, record: &TaskRecord) {
        let store = self.server.state.shared_store.as_ref();
        if let Err(error) = record::save(store, &self.id, record).await {
            tracing::warn!(%error, "a task's state could not be written");
        }
    }

    /// Whether `tasks/cancel` set this task's flag (a store that cannot answer: no).
    async fn cancel_requested(&self) -> bool {
        let store = self.server.state.shared_store.as_ref();
        match store.peek(&TaskKeys::cancel(&self.id)).await {
            Ok(flag) => flag.is_some(),
            Err(error) => {
                tracing::warn!(%error, "a task's cancel flag could not be read");
                false
            }
        }
    }

    /// Writes the final state from the call's result.
    async fn finish(&self, result: Result<CallToolResult, String>) {
        let stop = self.stopped();
        let record = self.update(|record| settle(record, stop, result));
        self.save(&record).await;
    }
}

impl BatchGate for TaskGate {
    fn after_batch<'a>(&'a self, so_far: &'a BulkOutcome) -> BoxFuture<'a, bool> {
        Box::pin(async move {
            let progress = progress_of(so_far);
            let record = self.update(|record| {
                record.progress = progress;
                record.message = Some(working_message(progress));
                record.touch();
            });
            self.save(&record).await;
            let stop = match () {
                _ if self.cancel_requested().await => Some(Stop::Cancelled),
                _ if self.server.state.drain.is_draining() => Some(Stop::ShuttingDown),
                _ => None,
            };
            *self.stop.lock().unwrap_or_else(|e| e.into_inner()) = stop;
            stop.is_none()
        })
    }
}

/// The progress a bulk outcome so far shows.
pub fn progress_of(so_far: &BulkOutcome) -> Progress {
    Progress {
        matched: so_far.matched,
        done: so_far.done,
        batches: so_far.batches,
        total_batches: total_batches(so_far.matched),
    }
}

/// How many batches a run over `matched` messages takes.
pub fn total_batches(matched: u32) -> u32 {
    let size = u32::try_from(BATCH_SIZE).unwrap_or(u32::MAX);
    matched.div_ceil(size)
}

/// The status message of a working task.
pub fn working_message(progress: Progress) -> String {
    format!(
        "{} of {} messages done ({} of {} batches)",
        progress.done, progress.matched, progress.batches, progress.total_batches
    )
}

/// The end state of a run: completed with the tool's result (an `isError` one included),
/// cancelled, or failed when the shutdown stopped it or the call could not be made.
fn settle(record: &mut TaskRecord, stop: Option<Stop>, result: Result<CallToolResult, String>) {
    let result = match result {
        Ok(result) => result,
        Err(error) => {
            return record.fail(format!(
                "the bulk call could not be run: {error}; run the same call again"
            ));
        }
    };
    let outcome = result.structured_content.clone().unwrap_or_default();
    let stopped = outcome.get("stopped") == Some(&Value::Bool(true));
    let note = outcome
        .get("note")
        .and_then(Value::as_str)
        .unwrap_or("run the same call again to finish the rest")
        .to_owned();
    match (stop, stopped) {
        (Some(Stop::Cancelled), true) => {
            record.settle(TaskStatus::Cancelled, format!("cancelled: {note}"));
        }
        (Some(Stop::ShuttingDown), true) => record.fail(format!(
            "the server shut down before this task finished: {note} (on this or another \
             instance)"
        )),
        _ => {
            let object = serde_json::to_value(&result)
                .ok()
                .and_then(|v| v.as_object().cloned())
                .unwrap_or_else(JsonObject::new);
            record.result = Some(record::bounded_result(object));
            let message = match result.is_error {
                Some(true) => "finished with an error (see the result)".to_owned(),
                _ => format!("completed: {}", working_message(record.progress)),
            };
            record.settle(TaskStatus::Completed, message);
        }
    }
}

/// What a background run needs besides the server.
pub struct Run {
    pub id: String,
    pub caller: Caller,
    pub tool: String,
    pub arguments: JsonObject,
    pub record: TaskRecord,
    /// The drain's hold on this run: a shutdown waits for it.
    pub entered: Entered,
}

/// Starts `run` in the background; it writes its own progress and end state.
pub fn spawn(server: MailServer, run: Run) {
    let Run {
        id,
        caller,
        tool,
        arguments,
        record,
        entered,
    } = run;
    let running_key = TaskKeys::running(caller.account());
    let gate = Arc::new(TaskGate {
        server: server.clone(),
        id,
        record: Mutex::new(record),
        stop: Mutex::new(None),
    });
    tokio::spawn(async move {
        let _entered = entered;
        let result = server
            .run_approved_with(caller, &tool, arguments, Some(Gate(gate.clone())))
            .await;
        gate.finish(result).await;
        tracing::info!(tool = %tool, status = ?gate.record().status, "a bulk task ended");
        if let Err(error) = server.state.shared_store.unhit(&running_key).await {
            tracing::warn!(%error, "a task's place could not be freed");
        }
    });
}
