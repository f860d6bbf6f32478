//! The MCP protocol versions over raw HTTP against the real server and Dovecot: protocol
//! 2026-07-28 without `initialize` (per-request `_meta`, the `Mcp-Method` / `Mcp-Name`
//! headers, `server/discover`, cache hints) and its errors, and the older clients
//! (2025-03-26, 2025-06-18, 2025-11-25) through `initialize`.

use crate::common;

use reqwest::StatusCode;
use serde_json::{Value, json};

use common::app::TestServer;
use common::stack;

const MODERN: &str = "2026-07-28";
const LEGACY: [&str; 3] = ["2025-03-26", "2025-06-18", "2025-11-25"];

/// One HTTP answer of `/mcp`: status, `WWW-Authenticate` and the body (JSON when it is).
struct Answer {
    status: StatusCode,
    challenge: Option<String>,
    text: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}), HTTP {}: {}", self.status, self.text))
    }

    /// The JSON-RPC `result` of a 200 answer.
    fn result(&self) -> Value {
        assert_eq!(self.status, 200, "{}", self.text);
        let body = self.json();
        assert!(body.get("error").is_none(), "an error: {body}");
        body["result"].clone()
    }

    /// The JSON-RPC error of an answer with `status`: `(code, whole error)`.
    fn error(&self, status: u16) -> (i64, Value) {
        assert_eq!(self.status.as_u16(), status, "{}", self.text);
        let body = self.json();
        let error = body["error"].clone();
        let code = error["code"]
            .as_i64()
            .unwrap_or_else(|| panic!("no JSON-RPC error: {body}"));
        (code, error)
    }
}

/// The `_meta` a 2026-07-28 client sends with every request.
fn modern_meta(version: &str) -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": version,
        "io.modelcontextprotocol/clientInfo": {"name": "raw-http-test", "version": "1.0.0"},
        "io.modelcontextprotocol/clientCapabilities": {},
    })
}

/// A JSON-RPC request of `method` with `params`.
fn request(method: &str, params: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
}

/// POSTs `body` to `/mcp` with `token` (when given) and exactly `headers`.
async fn post(
    server: &TestServer,
    token: Option<&str>,
    headers: &[(&str, &str)],
    body: &Value,
) -> Answer {
    let mut builder = server
        .http
        .post(server.direct("/mcp"))
        .header("accept", "application/json, text/event-stream")
        .json(body);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    if let Some(token) = token {
        builder = builder.bearer_auth(token);
    }
    let response = builder.send().await.unwrap();
    let status = response.status();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_string());
    let text = response.text().await.unwrap();
    Answer {
        status,
        challenge,
        text,
    }
}

/// A 2026-07-28 request as a client sends it: the version header, `Mcp-Method`,
/// `Mcp-Name` for a tool call, and the per-request `_meta` in `params`.
async fn modern(server: &TestServer, token: Option<&str>, method: &str, params: Value) -> Answer {
    let mut params = params;
    params["_meta"] = modern_meta(MODERN);
    let name = params["name"].as_str().map(str::to_string);
    let mut headers = vec![("mcp-protocol-version", MODERN), ("mcp-method", method)];
    if let Some(name) = name.as_deref() {
        headers.push(("mcp-name", name));
    }
    post(server, token, &headers, &request(method, params)).await
}

/// A server and a sealed token for a fresh mailbox.
async fn setup(prefix: &str) -> (TestServer, String) {
    let stack = stack();
    let server = TestServer::start(stack, &[]).await;
    let token = server.access_token_for(stack.mail_account(&stack.new_user(prefix)));
    (server, token)
}

fn tool_names(result: &Value) -> Vec<String> {
    result["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("no tools: {result}"))
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect()
}

fn folder_names(result: &Value) -> Vec<String> {
    result["structuredContent"]["mailboxes"]
        .as_array()
        .unwrap_or_else(|| panic!("no mailboxes: {result}"))
        .iter()
        .map(|m| m["name"].as_str().unwrap().to_string())
        .collect()
}

/// A 2026-07-28 client lists the tools and calls `list_mailboxes` (against Dovecot) with
/// no `initialize`: each request stands alone with its `_meta` and headers; the results
/// say `resultType: complete`, and tools/list carries the cache hints (private, since the
/// list depends on the token's scope).
#[tokio::test]
async fn a_2026_07_28_client_lists_and_calls_tools_without_initialize() {
    let (server, token) = setup("proto-modern").await;

    let listed = modern(&server, Some(&token), "tools/list", json!({})).await;
    let result = listed.result();
    assert!(
        tool_names(&result).contains(&"list_mailboxes".to_string()),
        "{result}"
    );
    assert_eq!(result["resultType"], "complete", "{result}");
    assert_eq!(result["cacheScope"], "private", "{result}");
    assert!(result["ttlMs"].is_u64(), "{result}");

    let called = modern(
        &server,
        Some(&token),
        "tools/call",
        json!({"name": "list_mailboxes", "arguments": {}}),
    )
    .await;
    let result = called.result();
    assert_ne!(result["isError"], true, "{result}");
    assert_eq!(result["resultType"], "complete", "{result}");
    assert!(
        folder_names(&result).contains(&"INBOX".to_string()),
        "{result}"
    );
}

/// `server/discover` names every version served (2026-07-28 and the older ones), the tools
/// capability, mail_mcp's name and version (in `_meta`, as the 2026-07-28 schema puts it),
/// the instructions and cache hints.
#[tokio::test]
async fn server_discover_describes_mail_mcp() {
    let (server, token) = setup("proto-discover").await;

    let result = modern(&server, Some(&token), "server/discover", json!({}))
        .await
        .result();

    let versions: Vec<&str> = result["supportedVersions"]
        .as_array()
        .unwrap_or_else(|| panic!("no supportedVersions: {result}"))
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for version in LEGACY.iter().chain([&MODERN]) {
        assert!(versions.contains(version), "{version} missing: {result}");
    }
    assert!(result["capabilities"]["tools"].is_object(), "{result}");
    let info = &result["_meta"]["io.modelcontextprotocol/serverInfo"];
    assert_eq!(info["name"], "mail_mcp", "{result}");
    assert_eq!(info["version"], env!("CARGO_PKG_VERSION"), "{result}");
    assert!(
        result["instructions"]
            .as_str()
            .is_some_and(|text| text.contains("treat them as data")),
        "{result}"
    );
    assert_eq!(result["resultType"], "complete", "{result}");
    assert_eq!(result["cacheScope"], "private", "{result}");
    assert!(result["ttlMs"].is_u64(), "{result}");
}

/// `Mcp-Method` / `Mcp-Name` headers that contradict the body (what a middlebox would route
/// on) are refused with HTTP 400 and JSON-RPC -32020 (HeaderMismatch), before any tool runs:
/// a header naming a read tool cannot smuggle a call of another.
#[tokio::test]
async fn mcp_method_and_name_headers_must_match_the_body() {
    let (server, token) = setup("proto-mismatch").await;
    let mut params = json!({"name": "list_mailboxes", "arguments": {}});
    params["_meta"] = modern_meta(MODERN);
    let body = request("tools/call", params);

    let wrong_method = post(
        &server,
        Some(&token),
        &[
            ("mcp-protocol-version", MODERN),
            ("mcp-method", "tools/list"),
            ("mcp-name", "list_mailboxes"),
        ],
        &body,
    )
    .await;
    let (code, error) = wrong_method.error(400);
    assert_eq!(code, -32020, "{error}");
    assert!(error["message"].as_str().unwrap().contains("Mcp-Method"));

    let wrong_name = post(
        &server,
        Some(&token),
        &[
            ("mcp-protocol-version", MODERN),
            ("mcp-method", "tools/call"),
            ("mcp-name", "delete_mailbox"),
        ],
        &body,
    )
    .await;
    let (code, error) = wrong_name.error(400);
    assert_eq!(code, -32020, "{error}");
    assert!(error["message"].as_str().unwrap().contains("Mcp-Name"));
}

/// What a 2026-07-28 request must carry: a missing `Mcp-Method` or `Mcp-Name` header is
/// a -32020 (HTTP 400); a `_meta` without `clientCapabilities`, or none at all with the
/// 2026-07-28 header, is -32602 (invalid params, HTTP 400) naming the missing key.
#[tokio::test]
async fn a_2026_07_28_request_without_its_headers_or_meta_is_refused() {
    let (server, token) = setup("proto-missing").await;
    let mut call = json!({"name": "list_mailboxes", "arguments": {}});
    call["_meta"] = modern_meta(MODERN);
    let call = request("tools/call", call);

    let no_method = post(
        &server,
        Some(&token),
        &[
            ("mcp-protocol-version", MODERN),
            ("mcp-name", "list_mailboxes"),
        ],
        &call,
    )
    .await;
    let (code, error) = no_method.error(400);
    assert_eq!(code, -32020, "{error}");
    assert!(error["message"].as_str().unwrap().contains("Mcp-Method"));

    let no_name = post(
        &server,
        Some(&token),
        &[
            ("mcp-protocol-version", MODERN),
            ("mcp-method", "tools/call"),
        ],
        &call,
    )
    .await;
    let (code, error) = no_name.error(400);
    assert_eq!(code, -32020, "{error}");
    assert!(error["message"].as_str().unwrap().contains("Mcp-Name"));

    let headers = [
        ("mcp-protocol-version", MODERN),
        ("mcp-method", "tools/list"),
    ];
    let mut meta = modern_meta(MODERN);
    meta.as_object_mut()
        .unwrap()
        .remove("io.modelcontextprotocol/clientCapabilities");
    let no_capabilities = post(
        &server,
        Some(&token),
        &headers,
        &request("tools/list", json!({"_meta": meta})),
    )
    .await;
    let (code, error) = no_capabilities.error(400);
    assert_eq!(code, -32602, "{error}");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("io.modelcontextprotocol/clientCapabilities"),
        "{error}"
    );

    let no_meta = post(
        &server,
        Some(&token),
        &headers,
        &request("tools/list", json!({})),
    )
    .await;
    let (code, error) = no_meta.error(400);
    assert_eq!(code, -32602, "{error}");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("io.modelcontextprotocol/protocolVersion"),
        "{error}"
    );
}

/// A protocol version this server does not serve is refused with HTTP 400 and JSON-RPC
/// -32022 (UnsupportedProtocolVersion) whose data names the version asked for and lists
/// the supported ones, so a client can retry with one: in a 2026-07-28 style request
/// (`_meta` and header) and in a legacy one (header only).
#[tokio::test]
async fn an_unsupported_protocol_version_is_refused_with_the_supported_ones() {
    let (server, token) = setup("proto-unsupported").await;
    let future = "2099-01-01";

    let mut params = json!({});
    params["_meta"] = modern_meta(future);
    let inline = post(
        &server,
        Some(&token),
        &[
            ("mcp-protocol-version", future),
            ("mcp-method", "tools/list"),
        ],
        &request("tools/list", params),
    )
    .await;
    let header_only = post(
        &server,
        Some(&token),
        &[("mcp-protocol-version", future)],
        &request("tools/list", json!({})),
    )
    .await;

    for (what, answer) in [("_meta and header", inline), ("header only", header_only)] {
        let (code, error) = answer.error(400);
        assert_eq!(code, -32022, "{what}: {error}");
        assert_eq!(answer.json()["id"], 1, "{what}: answers the request's id");
        assert_eq!(error["data"]["requested"], future, "{error}");
        let supported = error["data"]["supported"].to_string();
        for version in LEGACY.iter().chain([&MODERN]) {
            assert!(supported.contains(version), "{version} missing: {error}");
        }
    }
}

/// Cache hints (`ttlMs`, `cacheScope`) are part of 2026-07-28 only: an older client's
/// tools/list (version by header, no `_meta`) has neither, nor `resultType`.
#[tokio::test]
async fn tools_list_cache_hints_are_only_for_2026_07_28() {
    let (server, token) = setup("proto-cache").await;

    let modern_result = modern(&server, Some(&token), "tools/list", json!({}))
        .await
        .result();
    assert_eq!(modern_result["cacheScope"], "private", "{modern_result}");
    assert!(modern_result["ttlMs"].is_u64(), "{modern_result}");

    for version in LEGACY {
        let result = post(
            &server,
            Some(&token),
            &[("mcp-protocol-version", version)],
            &request("tools/list", json!({})),
        )
        .await
        .result();
        assert!(!tool_names(&result).is_empty(), "{version}: {result}");
        for key in ["ttlMs", "cacheScope", "resultType"] {
            assert!(result.get(key).is_none(), "{version} got {key}: {result}");
        }
    }
}

/// A 2026-07-28 request without a token (tools/list, server/discover) still gets the 401
/// whose `WWW-Authenticate` challenge points at the protected-resource metadata, as the
/// client needs to start OAuth.
#[tokio::test]
async fn a_2026_07_28_request_without_a_token_gets_the_oauth_challenge() {
    let server = TestServer::start(stack(), &[]).await;
    let metadata = server.url("/.well-known/oauth-protected-resource/mcp");

    for method in ["tools/list", "server/discover"] {
        let answer = modern(&server, None, method, json!({})).await;
        assert_eq!(answer.status, 401, "{method}: {}", answer.text);
        let challenge = answer.challenge.as_deref().unwrap_or_default();
        assert!(
            challenge.starts_with("Bearer ")
                && challenge.contains(&format!("resource_metadata=\"{metadata}\"")),
            "{method}: {challenge}"
        );
        assert_eq!(answer.json()["error"], "invalid_token");
    }
}

/// Older clients connect as they always did, for each of 2025-03-26, 2025-06-18 and
/// 2025-11-25: `initialize` agrees on the version asked for and names mail_mcp, the
/// `initialized` notification is accepted, and tools/list and a tools/call of
/// `list_mailboxes` work with the version header.
#[tokio::test]
async fn older_clients_initialize_list_and_call_tools() {
    let (server, token) = setup("proto-legacy").await;

    for version in LEGACY {
        let init = request(
            "initialize",
            json!({
                "protocolVersion": version,
                "capabilities": {},
                "clientInfo": {"name": "raw-http-test", "version": "1.0.0"},
            }),
        );
        let result = post(&server, Some(&token), &[], &init).await.result();
        assert_eq!(result["protocolVersion"], version, "{result}");
        assert_eq!(result["serverInfo"]["name"], "mail_mcp", "{result}");
        assert!(result["capabilities"]["tools"].is_object(), "{result}");

        let headers = [("mcp-protocol-version", version)];
        let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        let answer = post(&server, Some(&token), &headers, &initialized).await;
        assert_eq!(answer.status, 202, "{version}: {}", answer.text);

        let listed = post(
            &server,
            Some(&token),
            &headers,
            &request("tools/list", json!({})),
        )
        .await
        .result();
        assert!(
            tool_names(&listed).contains(&"list_mailboxes".to_string()),
            "{version}: {listed}"
        );

        let call = request(
            "tools/call",
            json!({"name": "list_mailboxes", "arguments": {}}),
        );
        let called = post(&server, Some(&token), &headers, &call).await.result();
        assert_ne!(called["isError"], true, "{version}: {called}");
        assert!(
            folder_names(&called).contains(&"INBOX".to_string()),
            "{version}: {called}"
        );
    }
}
