//! Stdio-only MCP clients reaching the server through `mcp-remote` (npm), the bridge
//! desktop apps without remote-server support use: the TypeScript SDK's stdio client
//! (`tests/mcp_clients/node/stdio_client.mjs`) and MCP Inspector's CLI each launch
//! `mcp-remote <url> --header-file …`, all run by Node 22, against the real server and
//! Dovecot.

use crate::common;

use std::path::Path;

use serde_json::Value;

use super::node22::{self, Scratch};
use common::app::TestServer;
use common::stack;

/// The stdio client lists our tools and calls `list_mailboxes` through mcp-remote, which
/// sends the sealed token from its header file (kept out of the process list) on every
/// request, over streamable HTTP only; the answer is the account's own folders.
#[tokio::test]
async fn a_stdio_client_lists_and_calls_tools_through_mcp_remote() {
    let stack = stack();
    let server = TestServer::start(stack, &[]).await;
    let token = server.access_token_for(stack.mail_account(&stack.new_user("mcp-remote")));
    let home = Scratch::new();
    let headers = home.0.join("headers.txt");
    std::fs::write(&headers, format!("Authorization: Bearer {token}\n")).unwrap();

    let remote_args = serde_json::to_string(&[
        node22::mcp_remote().display().to_string(),
        server.url("/mcp"),
        "--header-file".into(),
        headers.display().to_string(),
        "--transport".into(),
        "http-only".into(),
    ])
    .unwrap();
    let node = node22::node().display().to_string();
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mcp_clients/node/stdio_client.mjs");
    let output = node22::run(
        &node22::node(),
        &[script.display().to_string()],
        &[("STDIO_COMMAND", &node), ("STDIO_ARGS", &remote_args)],
        &home,
    )
    .await;

    let printed = node22::printed(&output);
    assert!(!printed.contains(&token), "the token is never printed");
    assert!(output.status.success(), "{printed}");
    let line = String::from_utf8_lossy(&output.stdout);
    let report: Value = serde_json::from_str(line.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("no JSON report ({e}): {printed}"));
    assert_eq!(report["server"]["name"], "mail_mcp", "{report}");
    let tools = report["tools"].to_string();
    assert!(tools.contains("\"list_mailboxes\""), "{report}");
    let folders = report["mailboxes"].to_string();
    assert!(
        folders.contains("\"INBOX\"") && folders.contains("\"Sent\""),
        "{report}"
    );
}

/// MCP Inspector's CLI as the stdio client (`--transport stdio`, the command after `--`):
/// it starts mcp-remote, which bridges to the server with the token of its header file,
/// and lists our tools, as the README shows for trying mcp-remote by hand.
#[tokio::test]
async fn the_inspector_cli_lists_tools_through_mcp_remote() {
    let stack = stack();
    let server = TestServer::start(stack, &[]).await;
    let token = server.access_token_for(stack.mail_account(&stack.new_user("remote-insp")));
    let home = Scratch::new();
    let headers = home.0.join("headers.txt");
    std::fs::write(&headers, format!("Authorization: Bearer {token}\n")).unwrap();

    let args = [
        node22::inspector().display().to_string(),
        "--cli".into(),
        "--transport".into(),
        "stdio".into(),
        "--method".into(),
        "tools/list".into(),
        "--format".into(),
        "json".into(),
        "--".into(),
        node22::node().display().to_string(),
        node22::mcp_remote().display().to_string(),
        server.url("/mcp"),
        "--header-file".into(),
        headers.display().to_string(),
        "--transport".into(),
        "http-only".into(),
    ];
    let output = node22::run(&node22::node(), &args, &[], &home).await;

    let printed = node22::printed(&output);
    assert!(!printed.contains(&token), "the token is never printed");
    assert!(output.status.success(), "{printed}");
    let report: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {printed}"));
    let tools = report["result"]["tools"].to_string();
    assert!(tools.contains("\"name\":\"list_mailboxes\""), "{printed}");
}
