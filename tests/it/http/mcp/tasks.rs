//! Long bulk runs as tasks (the Tasks extension, `io.modelcontextprotocol/tasks`) over raw
//! 2026-07-28 HTTP against the real stack: a bulk move of 2,000 messages by search is dry
//! run first, then answered with a task handle at once and polled with `tasks/get` to its
//! result; another account's token cannot see or cancel it; a cancel stops it between
//! batches and the same call finishes it; a second instance sharing Redis sees the same
//! state, and a shutdown of the running instance fails the task with a retryable message;
//! clients that did not declare the extension get the inline result. A [`FaultProxy`]
//! holding the IMAP bytes keeps a run between two points for as long as a test needs,
//! without sleeps; outcomes are read from the mailboxes over IMAP.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::{Value, json};

use crate::common;
use common::app::TestServer;
use common::fault_proxy::FaultProxy;
use common::{Stack, TestUser, append, eventually, eventually_within, fetch_raw, small_message};
use common::{imap_session, stack};
use mail_mcp::mail::MailAccount;
use mail_mcp::token::SendPolicy;

const MODERN: &str = "2026-07-28";
const TASKS: &str = "io.modelcontextprotocol/tasks";

/// A guard against a hung run, not a timing assertion.
const PATIENCE: Duration = Duration::from_secs(120);

/// Where a test sends JSON-RPC: one instance's `/mcp`.
#[derive(Clone)]
struct Endpoint {
    http: reqwest::Client,
    url: String,
}

impl Endpoint {
    fn of(server: &TestServer) -> Endpoint {
        Endpoint {
            http: server.http.clone(),
            url: server.direct("/mcp"),
        }
    }

    /// A 2026-07-28 request (declaring the Tasks extension when `tasks`); `name` is the
    /// `Mcp-Name` header (the tool, or the task id; none when empty). Returns the HTTP status and body.
    async fn send(
        &self,
        token: &str,
        method: &str,
        mut params: Value,
        name: &str,
        tasks: bool,
    ) -> (u16, Value) {
        let capabilities = match tasks {
            true => json!({"extensions": {TASKS: {}}, "elicitation": {"form": {}}}),
            false => json!({}),
        };
        params["_meta"] = json!({
            "io.modelcontextprotocol/protocolVersion": MODERN,
            "io.modelcontextprotocol/clientCapabilities": capabilities,
            "io.modelcontextprotocol/clientInfo": {"name": "raw-tasks", "version": "1"},
        });
        let mut request = self
            .http
            .post(&self.url)
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", MODERN)
            .header("mcp-method", method);
        if !name.is_empty() {
            request = request.header("mcp-name", name);
        }
        let response = request
            .bearer_auth(token)
            .json(&json!({"jsonrpc": "2.0", "id": 9, "method": method, "params": params}))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(json!({"raw": text})),
        )
    }

    /// A request that must succeed; its `result`.
    async fn ok(&self, token: &str, method: &str, params: Value, name: &str) -> Value {
        let (status, body) = self.send(token, method, params, name, true).await;
        assert_eq!(status, 200, "{method}: {body}");
        assert!(body.get("error").is_none(), "{method}: {body}");
        body["result"].clone()
    }

    /// `tools/call` of `tool` as a client declaring the extension.
    async fn call(&self, token: &str, tool: &str, arguments: &Value) -> Value {
        let params = json!({"name": tool, "arguments": arguments});
        self.ok(token, "tools/call", params, tool).await
    }

    async fn get(&self, token: &str, id: &str) -> Value {
        self.ok(token, "tasks/get", json!({"taskId": id}), id).await
    }

    /// Polls `tasks/get` until the task is in a terminal status; its last state.
    async fn until_done(&self, token: &str, id: &str) -> Value {
        let mut last = Value::Null;
        eventually_within("the task ends", PATIENCE, async || {
            last = self.get(token, id).await;
            matches!(
                last["status"].as_str(),
                Some("completed" | "failed" | "cancelled")
            )
        })
        .await;
        last
    }
}

/// Appends one small message per subject to `folder` over one IMAP session.
async fn append_many(user: &TestUser, folder: &str, subjects: impl Iterator<Item = String>) {
    let mut session = imap_session(user).await;
    for subject in subjects {
        session
            .append(folder, None, None, &small_message(&subject))
            .await
            .unwrap_or_else(|e| panic!("APPEND {subject} failed: {e}"));
    }
    session.logout().await.ok();
}

/// `user`'s INBOX: a message before, `n` "Sale N" messages, a message after.
async fn seed(user: &TestUser, n: u32) {
    append(user, "INBOX", &small_message("Keep me one"), &[]).await;
    append_many(user, "INBOX", (1..=n).map(|i| format!("Sale {i}"))).await;
    append(user, "INBOX", &small_message("Keep me two"), &[]).await;
}

/// The subjects of `folder`, as stored.
async fn subjects(user: &TestUser, folder: &str) -> Vec<String> {
    fetch_raw(user, folder)
        .await
        .iter()
        .map(|m| {
            let text = String::from_utf8_lossy(&m.raw);
            let line = text.lines().find(|l| l.starts_with("Subject: "));
            line.unwrap_or_default()["Subject: ".len()..].to_owned()
        })
        .collect()
}

/// Asserts the end state of a finished move: every Sale message in Archive exactly once,
/// INBOX holding only the two others.
async fn assert_all_moved_once(user: &TestUser, n: usize) {
    let archived = subjects(user, "Archive").await;
    let distinct: HashSet<&String> = archived.iter().collect();
    assert_eq!(archived.len(), n, "every match moved");
    assert_eq!(distinct.len(), n, "each exactly once");
    assert!(archived.iter().all(|s| s.starts_with("Sale ")));
    assert_eq!(
        subjects(user, "INBOX").await,
        vec!["Keep me one", "Keep me two"]
    );
}

fn move_sales(dry_run: bool) -> Value {
    json!({"folder": "INBOX", "where": {"subject": "Sale"}, "destination": "Archive",
           "dry_run": dry_run})
}

/// `user`'s account with IMAP through the proxy on `port`.
fn account_via(stack: &Stack, user: &TestUser, port: u16) -> MailAccount {
    let mut account = stack.mail_account(user);
    account.imap.endpoint.port = port;
    account
}

/// The task handle of a call that must have become a task.
fn task_id(handle: &Value) -> String {
    assert_eq!(handle["resultType"], "task", "{handle}");
    assert_eq!(handle["status"], "working", "{handle}");
    assert_eq!(handle["ttlMs"], 3_600_000, "{handle}");
    assert!(handle["pollIntervalMs"].as_u64().is_some(), "{handle}");
    handle["taskId"].as_str().unwrap().to_owned()
}

fn progress(task: &Value) -> &Value {
    &task["_meta"]["mail_mcp/progress"]
}

/// Proves issue 15's bulk move as a task: 2,000 messages matching `where` are counted by
/// a dry run (inline, with a sample) that moves nothing; the real call answers at once
/// with a task handle; while its IMAP is held, `tasks/get` shows it working with its
/// progress; released, it ends `completed` with the tool's own result (2,000 in 4
/// batches), and the 2,000 are in Archive exactly once. Another account's token gets
/// "no such task" from tasks/get and tasks/cancel, and its cancel changes nothing.
#[tokio::test]
async fn a_long_bulk_move_runs_as_a_task_polled_to_its_result() {
    let stack = stack();
    let proxy = FaultProxy::start(stack.imaps_port).await;
    let server = TestServer::start(stack, &[]).await;
    let mcp = Endpoint::of(&server);
    let user = stack.new_user("taskmove");
    seed(&user, 2000).await;
    let token = server.access_token_for(account_via(stack, &user, proxy.port));
    let other = server.access_token_for(stack.mail_account(&stack.new_user("taskother")));

    let dry = mcp
        .call(&token, "move_mail_message", &move_sales(true))
        .await;
    assert_eq!(dry["resultType"], "complete", "a dry run is inline: {dry}");
    let preview = &dry["structuredContent"];
    assert_eq!(
        (&preview["matched"], &preview["done"]),
        (&json!(2000), &json!(0))
    );
    assert_eq!(preview["sample"].as_array().unwrap().len(), 10, "{preview}");
    assert!(
        fetch_raw(&user, "Archive").await.is_empty(),
        "a dry run moves nothing"
    );

    let handle = mcp
        .call(&token, "move_mail_message", &move_sales(false))
        .await;
    let id = task_id(&handle);
    proxy.hold();
    let working = mcp.get(&token, &id).await;
    assert_eq!(working["status"], "working", "{working}");
    assert_eq!(working["resultType"], "complete", "{working}");
    assert_eq!(progress(&working)["matched"], 2000, "{working}");
    assert_eq!(progress(&working)["totalBatches"], 4, "{working}");
    assert!(
        working["statusMessage"]
            .as_str()
            .unwrap()
            .contains("of 2000 messages"),
        "{working}"
    );

    for method in ["tasks/get", "tasks/cancel"] {
        let (_, refused) = mcp
            .send(&other, method, json!({"taskId": id}), &id, true)
            .await;
        assert_eq!(refused["error"]["code"], -32602, "{method}: {refused}");
        assert!(!refused.to_string().contains("Sale"), "{refused}");
    }
    proxy.release();

    let done = mcp.until_done(&token, &id).await;
    assert_eq!(
        done["status"], "completed",
        "another's cancel did nothing: {done}"
    );
    let result = &done["result"]["structuredContent"];
    assert_eq!(
        (&result["matched"], &result["done"], &result["batches"]),
        (&json!(2000), &json!(2000), &json!(4)),
        "{done}"
    );
    assert_eq!(progress(&done)["done"], 2000, "{done}");
    assert_all_moved_once(&user, 2000).await;
}

/// Proves cancellation between batches: with the run held inside its first batch, a
/// `tasks/cancel` is acknowledged; released, the run stops after that batch and the task
/// ends `cancelled`, saying how far it got. The mailbox is consistent (every message in
/// exactly one of the two folders, whole batches moved), and the same call again moves
/// the rest, each message once.
#[tokio::test]
async fn a_cancel_stops_between_batches_and_the_same_call_finishes() {
    let stack = stack();
    let proxy = FaultProxy::start(stack.imaps_port).await;
    let server = TestServer::start(stack, &[]).await;
    let mcp = Endpoint::of(&server);
    let user = stack.new_user("taskcancel");
    seed(&user, 2000).await;
    let token = server.access_token_for(account_via(stack, &user, proxy.port));

    let handle = mcp
        .call(&token, "move_mail_message", &move_sales(false))
        .await;
    let id = task_id(&handle);
    proxy.hold();
    let ack = mcp
        .ok(&token, "tasks/cancel", json!({"taskId": id}), &id)
        .await;
    assert_eq!(ack, json!({"resultType": "complete"}));
    proxy.release();

    let ended = mcp.until_done(&token, &id).await;
    assert_eq!(ended["status"], "cancelled", "{ended}");
    let message = ended["statusMessage"].as_str().unwrap();
    assert!(message.contains("of 2000 matching messages"), "{message}");
    assert!(message.contains("run the same call again"), "{message}");
    let moved = fetch_raw(&user, "Archive").await.len();
    let left = fetch_raw(&user, "INBOX").await.len();
    assert!(
        moved > 0 && moved < 2000 && moved % 500 == 0,
        "whole batches: {moved}"
    );
    assert_eq!(moved + left, 2002, "each message in exactly one folder");

    let retry = mcp
        .call(&token, "move_mail_message", &move_sales(false))
        .await;
    if retry["resultType"] == "task" {
        let finished = mcp.until_done(&token, &task_id(&retry)).await;
        assert_eq!(finished["status"], "completed", "{finished}");
        let rest = &finished["result"]["structuredContent"];
        assert_eq!(rest["done"], json!(2000 - moved), "{finished}");
    } else {
        assert_eq!(
            retry["structuredContent"]["done"],
            json!(2000 - moved),
            "{retry}"
        );
    }
    assert_all_moved_once(&user, 2000).await;
}

/// Proves the state is shared and survives a shutdown: two instances share one Redis; a
/// task started on the first is seen working through the second; the first is shut down
/// while its run is held; it drains (new calls get 503), the run stops before its next
/// batch and the task, polled through the second instance, ends `failed` with a
/// JSON-RPC error saying to call again. The same call through the second instance then
/// finishes the move, each message once.
#[tokio::test]
async fn a_task_is_shared_between_instances_and_a_shutdown_fails_it_retryably() {
    let stack = stack();
    let proxy = FaultProxy::start(stack.imaps_port).await;
    let redis = stack.own_redis_url();
    let first = TestServer::start(stack, &["--redis-url", &redis]).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let second =
        TestServer::start_another_instance(&first, listener, stack, &["--redis-url", &redis]).await;
    let (a, b) = (Endpoint::of(&first), Endpoint::of(&second));
    let user = stack.new_user("taskshared");
    seed(&user, 2000).await;
    let token = first.access_token_for(account_via(stack, &user, proxy.port));

    let handle = a
        .call(&token, "move_mail_message", &move_sales(false))
        .await;
    let id = task_id(&handle);
    proxy.hold();
    let seen = b.get(&token, &id).await;
    assert_eq!(seen["status"], "working", "{seen}");
    assert_eq!(
        seen["createdAt"], handle["createdAt"],
        "the same task: {seen}"
    );

    drop(first);
    eventually("the first instance drains", async || {
        let (status, _) = a
            .send(&token, "tasks/get", json!({"taskId": id}), &id, true)
            .await;
        status == 503
    })
    .await;
    proxy.release();

    let ended = b.until_done(&token, &id).await;
    assert_eq!(ended["status"], "failed", "{ended}");
    assert_eq!(ended["error"]["code"], -32603, "{ended}");
    let message = ended["error"]["message"].as_str().unwrap();
    assert!(message.contains("shut down"), "{message}");
    assert!(message.contains("run the same call again"), "{message}");
    let moved = fetch_raw(&user, "Archive").await.len();
    assert!(moved < 2000, "stopped before the end: {moved}");

    let retry = b
        .call(&token, "move_mail_message", &move_sales(false))
        .await;
    if retry["resultType"] == "task" {
        let finished = b.until_done(&token, &task_id(&retry)).await;
        assert_eq!(finished["status"], "completed", "{finished}");
    }
    assert_all_moved_once(&user, 2000).await;
}

/// Proves clients that did not declare the extension never get a task: a 2025-06-18
/// client and a 2026-07-28 client without it both get the inline result of a bulk move
/// of two batches; a client declaring it gets inline results for one batch or less.
#[tokio::test]
async fn clients_without_the_extension_get_the_inline_result() {
    let stack = stack();
    let server = TestServer::start(stack, &[]).await;
    let mcp = Endpoint::of(&server);
    let user = stack.new_user("taskinline");
    append_many(&user, "INBOX", (1..=501).map(|i| format!("Old {i}"))).await;
    append_many(&user, "INBOX", (1..=501).map(|i| format!("New {i}"))).await;
    append_many(&user, "INBOX", (1..=3).map(|i| format!("Few {i}"))).await;
    let token = server.access_token_for(stack.mail_account(&user));
    let by = |subject: &str| json!({"folder": "INBOX", "where": {"subject": subject}, "destination": "Archive"});

    let old = server
        .call_tool_ok(&token, "move_mail_message", by("Old"))
        .await;
    assert_eq!(
        (&old["done"], &old["batches"]),
        (&json!(501), &json!(2)),
        "{old}"
    );

    let params = json!({"name": "move_mail_message", "arguments": by("New")});
    let (status, body) = mcp
        .send(&token, "tools/call", params, "move_mail_message", false)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["resultType"], "complete", "{body}");
    assert_eq!(body["result"]["structuredContent"]["done"], 501, "{body}");

    let few = mcp.call(&token, "move_mail_message", &by("Few")).await;
    assert_eq!(
        few["resultType"], "complete",
        "one batch runs inline: {few}"
    );
    assert_eq!(few["structuredContent"]["done"], 3, "{few}");
    assert_eq!(fetch_raw(&user, "Archive").await.len(), 1005);
}

/// Proves the extension is advertised where the 2026-07-28 spec puts it, in the
/// capabilities `server/discover` returns, and not to an `initialize` session (2025-06-18),
/// which cannot declare it.
#[tokio::test]
async fn server_discover_advertises_the_tasks_extension() {
    let stack = stack();
    let server = TestServer::start(stack, &[]).await;
    let user = stack.new_user("taskdiscover");
    let token = server.access_token_for(stack.mail_account(&user));
    let discovered = Endpoint::of(&server)
        .ok(&token, "server/discover", json!({}), "")
        .await;
    assert_eq!(
        discovered["capabilities"]["extensions"][TASKS],
        json!({}),
        "{discovered}"
    );
    let params = json!({"protocolVersion": "2025-06-18", "capabilities": {},
                        "clientInfo": {"name": "raw-legacy", "version": "1"}});
    let initialized = server.mcp(&token, "initialize", params).await;
    assert!(
        initialized["capabilities"]["tools"].is_object(),
        "{initialized}"
    );
    assert!(
        initialized["capabilities"]["extensions"]
            .get(TASKS)
            .is_none(),
        "{initialized}"
    );
}

/// Proves the send policy comes first: under "ask me first" a bulk move from a client
/// declaring the extension is answered with the approval form, not a task, and nothing
/// moves; the approved retry then runs as a task to the end. Under "drafts only" the bulk
/// call is refused as before (an `isError` result, no task) and nothing moves.
#[tokio::test]
async fn the_send_policy_decides_before_a_task_is_made() {
    let stack = stack();
    let server = TestServer::start(stack, &[]).await;
    let mcp = Endpoint::of(&server);
    let user = stack.new_user("taskask");
    seed(&user, 600).await;
    let account = stack.mail_account(&user);
    let ask = server.access_token_with_policy(account.clone(), SendPolicy::Ask);
    let drafts = server.access_token_with_policy(account, SendPolicy::DraftsOnly);

    let refused = mcp
        .call(&drafts, "move_mail_message", &move_sales(false))
        .await;
    assert_eq!(refused["resultType"], "complete", "{refused}");
    assert_eq!(refused["isError"], true, "{refused}");

    let asked = mcp
        .call(&ask, "move_mail_message", &move_sales(false))
        .await;
    assert_eq!(asked["resultType"], "input_required", "{asked}");
    assert!(
        fetch_raw(&user, "Archive").await.is_empty(),
        "nothing before approval"
    );
    let state = asked["requestState"].as_str().unwrap();
    let approve = json!({"approval": {"action": "accept", "content": {"decision": "approve"}}});
    let params = json!({"name": "move_mail_message", "arguments": move_sales(false),
                        "inputResponses": approve, "requestState": state});
    let handle = mcp
        .ok(&ask, "tools/call", params, "move_mail_message")
        .await;
    let done = mcp.until_done(&ask, &task_id(&handle)).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["result"]["structuredContent"]["done"], 600, "{done}");
    assert_all_moved_once(&user, 600).await;
}

/// Proves the per-account bound: while three bulk tasks of one account run (each held
/// on its own IMAP proxy), a fourth long bulk call of that account, even through another
/// connection, is refused with an `isError` result naming the limit and moves nothing;
/// the three then finish, each message moved once.
#[tokio::test]
async fn an_account_runs_at_most_three_tasks_at_once() {
    let stack = stack();
    let server = TestServer::start(stack, &[]).await;
    let mcp = Endpoint::of(&server);
    let user = stack.new_user("taskcap");
    for set in ["A", "B", "C"] {
        append_many(&user, "INBOX", (1..=501).map(|i| format!("Sale {set}{i}"))).await;
    }
    let by = |set: &str| {
        json!({"folder": "INBOX", "where": {"subject": format!("Sale {set}")},
               "destination": "Archive"})
    };
    let mut running = Vec::new();
    for set in ["A", "B", "C"] {
        let proxy = FaultProxy::start(stack.imaps_port).await;
        let token = server.access_token_for(account_via(stack, &user, proxy.port));
        let handle = mcp.call(&token, "move_mail_message", &by(set)).await;
        let id = task_id(&handle);
        proxy.hold();
        running.push((proxy, token, id));
    }

    let direct = server.access_token_for(stack.mail_account(&user));
    let fourth = mcp.call(&direct, "move_mail_message", &by("A")).await;
    assert_eq!(fourth["resultType"], "complete", "{fourth}");
    assert_eq!(fourth["isError"], true, "{fourth}");
    let text = fourth["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("already runs 3 bulk tasks"), "{text}");

    for (proxy, token, id) in &running {
        proxy.release();
        let done = mcp.until_done(token, id).await;
        assert_eq!(done["status"], "completed", "{done}");
        assert_eq!(done["result"]["structuredContent"]["done"], 501, "{done}");
    }
    let archived = subjects(&user, "Archive").await;
    let distinct: HashSet<&String> = archived.iter().collect();
    assert_eq!((archived.len(), distinct.len()), (1503, 1503));
    assert!(fetch_raw(&user, "INBOX").await.is_empty());
}
