//! Reading MCP tool results (`CallToolResult` as JSON) in assertions.

use serde_json::Value;

/// The text of a tool result that must be an error (`isError: true`); panics otherwise.
pub fn error_text(result: &Value) -> String {
    assert_eq!(result["isError"], true, "expected a tool error: {result}");
    result["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("a tool error without text content: {result}"))
        .to_owned()
}
