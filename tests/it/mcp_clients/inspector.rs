//! MCP Inspector's CLI (`mcp-inspector --cli`, npm `@modelcontextprotocol/inspector`) run
//! by Node 22 against the real server and Dovecot, with a sealed token in an
//! `Authorization` header, its output read as JSON (`--format json`).

use crate::common;

use serde_json::Value;

use super::node22::{self, Scratch};
use common::app::TestServer;
use common::stack;

/// Runs the Inspector CLI against `server` with `token` and `options` (`--method` …),
/// never interactively (`--stored-auth-only`: no browser sign-in is started).
async fn inspector(server: &TestServer, token: &str, options: &[&str]) -> std::process::Output {
    let home = Scratch::new();
    let authorization = format!("Authorization: Bearer {token}");
    let mut args = vec![
        node22::inspector().display().to_string(),
        "--cli".into(),
        server.url("/mcp"),
        "--transport".into(),
        "http".into(),
        "--header".into(),
        authorization,
        "--format".into(),
        "json".into(),
        "--stored-auth-only".into(),
    ];
    args.extend(options.iter().map(|s| s.to_string()));
    node22::run(&node22::node(), &args, &[], &home).await
}

/// The `result` of the JSON object a successful run printed on stdout.
fn result(output: &std::process::Output, token: &str) -> Value {
    let printed = node22::printed(output);
    assert!(!printed.contains(token), "the token is never printed");
    assert!(output.status.success(), "{printed}");
    let printed_json: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {printed}"));
    printed_json["result"].clone()
}

fn tool_names(listed: &Value) -> Vec<&str> {
    listed["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("no tools: {listed}"))
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect()
}

/// The Inspector CLI connects in its default protocol era (`legacy`: `initialize`, which
/// agrees on 2025-11-25) and in the `modern` one (2026-07-28, no `initialize`), sees
/// mail_mcp, lists our tools and calls `list_mailboxes` (`--tool-arg with_counts=true`)
/// with a sealed token; the mailboxes are the account's own, with their counts.
#[tokio::test]
async fn the_inspector_cli_lists_tools_and_calls_list_mailboxes() {
    let stack = stack();
    let server = TestServer::start(stack, &[]).await;
    let token = server.access_token_for(stack.mail_account(&stack.new_user("inspector")));

    for (era, version) in [("legacy", "2025-11-25"), ("modern", "2026-07-28")] {
        let connected = inspector(
            &server,
            &token,
            &["--protocol-era", era, "--method", "initialize"],
        )
        .await;
        let connected = result(&connected, &token);
        assert_eq!(connected["protocolVersion"], version, "{era}: {connected}");
        assert_eq!(
            connected["serverInfo"]["name"], "mail_mcp",
            "{era}: {connected}"
        );

        let listed = inspector(
            &server,
            &token,
            &["--protocol-era", era, "--method", "tools/list"],
        )
        .await;
        let listed = result(&listed, &token);
        let names = tool_names(&listed);
        assert!(
            names.contains(&"list_mailboxes") && names.contains(&"send_mail_message"),
            "{era}: {names:?}"
        );

        let called = inspector(
            &server,
            &token,
            &[
                "--protocol-era",
                era,
                "--method",
                "tools/call",
                "--tool-name",
                "list_mailboxes",
                "--tool-arg",
                "with_counts=true",
            ],
        )
        .await;
        let called = result(&called, &token);
        assert_ne!(called["isError"], true, "{era}: {called}");
        let folders = called["structuredContent"]["mailboxes"].to_string();
        assert!(
            folders.contains("\"INBOX\"") && folders.contains("\"Sent\""),
            "{era}: {called}"
        );
        let inbox = &called["structuredContent"]["mailboxes"][0];
        assert_eq!(
            inbox["messages"], 0,
            "with_counts=true arrived as a boolean: {called}"
        );
    }
}

/// A token the server does not accept makes the Inspector CLI fail at once, not wait for
/// a sign-in: exit code 3 and an `auth_required` error on stderr that carries our 401's
/// reason.
#[tokio::test]
async fn the_inspector_cli_with_a_bad_token_fails_clearly() {
    let server = TestServer::start(stack(), &[]).await;
    let output = inspector(&server, "not-a-token", &["--method", "tools/list"]).await;
    let printed = node22::printed(&output);
    assert_eq!(output.status.code(), Some(3), "{printed}");
    let error: Value = serde_json::from_slice(&output.stderr)
        .unwrap_or_else(|e| panic!("no JSON error ({e}): {printed}"));
    assert_eq!(error["error"]["code"], "auth_required", "{printed}");
    assert!(
        error["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("The access token is missing, invalid or expired")),
        "{printed}"
    );
}

/// A real 2026-07-28 client with the Tasks extension (the Inspector CLI's modern era,
/// which calls tools through `@modelcontextprotocol/ext-tasks`): a bulk move of two
/// batches comes back to it as a task handle, which it polls with `tasks/get` on its own
/// and prints as the tool's final result; the messages are moved once. The task's record
/// (in the server's Redis, with a TTL) shows it ran as a task and completed.
#[tokio::test]
async fn the_inspector_cli_follows_a_bulk_task_to_its_result() {
    let stack = stack();
    let redis_url = stack.own_redis_url();
    let server = TestServer::start(stack, &["--redis-url", &redis_url]).await;
    let user = stack.new_user("inspectortask");
    let mut session = common::imap_session(&user).await;
    for n in 1..=600 {
        let raw = common::small_message(&format!("Sale {n}"));
        session.append("INBOX", None, None, &raw).await.unwrap();
    }
    session.logout().await.ok();
    let token = server.access_token_for(stack.mail_account(&user));

    let called = inspector(
        &server,
        &token,
        &[
            "--protocol-era",
            "modern",
            "--method",
            "tools/call",
            "--tool-name",
            "move_mail_message",
            "--tool-arg",
            "folder=INBOX",
            "--tool-arg",
            "destination=Archive",
            "--tool-arg",
            r#"where={"subject":"Sale"}"#,
        ],
    )
    .await;
    let called = result(&called, &token);
    assert_ne!(called["isError"], true, "{called}");
    let outcome = &called["structuredContent"];
    assert_eq!(
        (&outcome["matched"], &outcome["done"], &outcome["batches"]),
        (
            &serde_json::json!(600),
            &serde_json::json!(600),
            &serde_json::json!(2)
        ),
        "{called}"
    );
    assert_eq!(common::fetch_raw(&user, "Archive").await.len(), 600);
    assert!(common::fetch_raw(&user, "INBOX").await.is_empty());

    let mut redis = redis::Client::open(redis_url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("mail_mcp:record:task:*")
        .query_async(&mut redis)
        .await
        .unwrap();
    assert_eq!(keys.len(), 1, "one task was made: {keys:?}");
    let (record, ttl): (String, i64) = redis::pipe()
        .get(&keys[0])
        .pttl(&keys[0])
        .query_async(&mut redis)
        .await
        .unwrap();
    assert!(ttl > 0, "the task record expires");
    let record: Value = serde_json::from_str(&record).unwrap();
    assert_eq!(record["status"], "completed", "{record}");
}
