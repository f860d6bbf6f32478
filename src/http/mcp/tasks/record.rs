//! One task's state as the shared store keeps it ([`TaskRecord`], JSON under `task:{id}`),
//! so that any instance answers `tasks/get` and `tasks/cancel` for a task another runs: its
//! owner (the caller digest), status, message, progress, and the final result or error.
//! Its cancel flag is a counter `task-cancel:{id}` (set by `tasks/cancel` on any instance,
//! read by the running one between batches); an account's running tasks are counted under
//! `tasks-running:{account}`. Every key expires with the task ([`TASK_TTL`]).

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rmcp::model::{DetailedTask, JsonObject, Task, TaskPayload, TaskStatus};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::mail::MailAccount;
use crate::shared_store::{SharedStore, StoreError};

/// How long a task and its result are kept after it was created (its `ttlMs`).
pub const TASK_TTL: Duration = Duration::from_secs(60 * 60);

/// The polling interval suggested to clients (`pollIntervalMs`).
pub const POLL_INTERVAL_MS: u64 = 1_000;

/// A working task whose record was not updated for this long is reported failed: the
/// instance running it stopped (a crash, a kill past the shutdown grace).
pub const STALE_AFTER: Duration = Duration::from_secs(10 * 60);

/// The largest final result kept, in bytes of JSON.
pub const MAX_RESULT_BYTES: usize = 64 * 1024;

/// The `_meta` key of a task's progress in `tasks/get`.
pub const PROGRESS_META: &str = "mail_mcp/progress";

/// How far a bulk task got.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    /// Messages matching the search when the task started.
    pub matched: u32,
    /// Messages moved, deleted or changed so far.
    pub done: u32,
    /// Batches run so far.
    pub batches: u32,
    /// Batches the whole run takes.
    pub total_batches: u32,
}

/// The stored state of one task.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TaskRecord {
    /// The caller digest of the call that created it: only that caller sees it.
    pub owner: String,
    pub status: TaskStatus,
    pub message: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    /// Unix seconds of `updated_at`, to find stale tasks.
    pub updated_unix: i64,
    pub progress: Progress,
    pub result: Option<JsonObject>,
    pub error: Option<JsonObject>,
}

impl TaskRecord {
    /// A new working task of `owner`.
    pub fn new(owner: String, progress: Progress, message: String) -> TaskRecord {
        let now = rmcp::task_manager::current_timestamp();
        TaskRecord {
            owner,
            status: TaskStatus::Working,
            message: Some(message),
            created_at: now.clone(),
            updated_at: now,
            updated_unix: chrono::Utc::now().timestamp(),
            progress,
            result: None,
            error: None,
        }
    }

    /// Marks the record updated now.
    pub fn touch(&mut self) {
        self.updated_at = rmcp::task_manager::current_timestamp();
        self.updated_unix = chrono::Utc::now().timestamp();
    }

    /// Ends the task with `status` and `message`.
    pub fn settle(&mut self, status: TaskStatus, message: String) {
        self.status = status;
        self.message = Some(message);
        self.touch();
    }

    /// Ends the task `failed` with a JSON-RPC internal error carrying `message`.
    pub fn fail(&mut self, message: String) {
        self.error = json!({"code": -32603, "message": message})
            .as_object()
            .cloned();
        self.settle(TaskStatus::Failed, message);
    }

    /// The record as a client sees it now: a working task nobody updated for
    /// [`STALE_AFTER`] is failed (its instance stopped before finishing).
    pub fn seen_now(mut self) -> TaskRecord {
        let quiet = chrono::Utc::now().timestamp() - self.updated_unix;
        let stale = u64::try_from(quiet).is_ok_and(|s| s > STALE_AFTER.as_secs());
        if self.status == TaskStatus::Working && stale {
            let so_far = self.progress;
            self.fail(format!(
                "the server instance running this task stopped before it finished, after {} of \
                 {} messages; run the same call again to finish the rest (only messages that \
                 still match are touched)",
                so_far.done, so_far.matched
            ));
        }
        self
    }

    /// The task as `tasks/get` and `CreateTaskResult` show it.
    pub fn task(&self, id: &str) -> Task {
        let mut task = Task::new(id, self.status, &self.created_at, &self.updated_at)
            .with_ttl_ms(millis(TASK_TTL))
            .with_poll_interval_ms(POLL_INTERVAL_MS);
        task.status_message = self.message.clone();
        task
    }

    /// The task with its status' payload (result, error).
    pub fn detailed(&self, id: &str) -> DetailedTask {
        let payload = match self.status {
            TaskStatus::Completed => TaskPayload::Completed {
                result: self.result.clone().unwrap_or_default(),
            },
            TaskStatus::Failed => TaskPayload::Failed {
                error: self.error.clone().unwrap_or_default(),
            },
            TaskStatus::Cancelled => TaskPayload::Cancelled,
            _ => TaskPayload::Working,
        };
        DetailedTask::new(self.task(id), payload)
    }
}

/// The tasks' keys in the shared store.
pub struct TaskKeys;

impl TaskKeys {
    pub fn record(id: &str) -> String {
        format!("task:{id}")
    }

    pub fn cancel(id: &str) -> String {
        format!("task-cancel:{id}")
    }

    pub fn running(account: &MailAccount) -> String {
        let who = json!([
            account.email,
            account.imap.endpoint.host,
            account.imap.username
        ]);
        let digest = URL_SAFE_NO_PAD.encode(Sha256::digest(who.to_string().as_bytes()));
        format!("tasks-running:{digest}")
    }
}

/// A fresh, unguessable task id (256 random bits).
pub fn new_task_id() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

/// Reads task `id`'s record.
pub async fn load(store: &dyn SharedStore, id: &str) -> Result<Option<TaskRecord>, StoreError> {
    let raw = store.get_record(&TaskKeys::record(id)).await?;
    Ok(raw.and_then(|raw| serde_json::from_str(&raw).ok()))
}

/// Writes task `id`'s record, for the rest of [`TASK_TTL`].
pub async fn save(
    store: &dyn SharedStore,
    id: &str,
    record: &TaskRecord,
) -> Result<(), StoreError> {
    let raw = serde_json::to_string(record).unwrap_or_default();
    store
        .put_record(&TaskKeys::record(id), &raw, TASK_TTL)
        .await
}

/// A final result as kept: the tool's own result, or an `isError` one saying it was too
/// large (a bulk outcome is a few hundred bytes; this only bounds the store).
pub fn bounded_result(result: JsonObject) -> JsonObject {
    let size = serde_json::to_vec(&result).map_or(usize::MAX, |bytes| bytes.len());
    if size <= MAX_RESULT_BYTES {
        return result;
    }
    let text = format!(
        "the task finished, but its result ({size} bytes) is over the {MAX_RESULT_BYTES} bytes \
         kept; list the folders to see the outcome"
    );
    json!({"content": [{"type": "text", "text": text}], "isError": true})
        .as_object()
        .cloned()
        .unwrap_or_default()
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A working task nobody updated for longer than STALE_AFTER reads as failed, with a
    /// message that says how far it got and that a retry finishes it; a fresh one works.
    #[test]
    fn stale_working_tasks_read_as_failed() {
        let progress = Progress {
            matched: 2000,
            done: 500,
            batches: 1,
            total_batches: 4,
        };
        let fresh = TaskRecord::new("me".into(), progress, "working".into());
        assert_eq!(fresh.clone().seen_now().status, TaskStatus::Working);
        let mut stale = fresh;
        stale.updated_unix -= STALE_AFTER.as_secs() as i64 + 1;
        let seen = stale.seen_now();
        assert_eq!(seen.status, TaskStatus::Failed);
        let message = seen.message.unwrap();
        assert!(message.contains("500 of 2000"), "{message}");
        assert!(message.contains("run the same call again"), "{message}");
        assert_eq!(seen.error.unwrap()["code"], -32603);
    }

    /// Results are kept up to MAX_RESULT_BYTES; a larger one becomes a short isError result.
    #[test]
    fn results_are_bounded() {
        let small = json!({"content": [], "isError": false});
        let small = small.as_object().cloned().unwrap();
        assert_eq!(bounded_result(small.clone()), small);
        let big = json!({"content": [{"type": "text", "text": "x".repeat(MAX_RESULT_BYTES)}]});
        let kept = bounded_result(big.as_object().cloned().unwrap());
        assert_eq!(kept["isError"], true);
        assert!(serde_json::to_vec(&kept).unwrap().len() < 1024);
    }

    /// Task ids are long and never repeat.
    #[test]
    fn task_ids_are_unguessable() {
        let (a, b) = (new_task_id(), new_task_id());
        assert_ne!(a, b);
        assert!(a.len() >= 43, "{a}");
    }
}
