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

/// `value` with the markers of mail text taken off (`<mail-N>text</mail-N>` becomes
/// `text`) and the `untrusted` note removed, so that assertions compare the mail's own
/// text. Checks on the way that every marker of one result uses the nonce its note names.
pub fn unwrap_mail(value: &Value) -> Value {
    let mut value = value.clone();
    let nonce = value
        .get("untrusted")
        .and_then(Value::as_str)
        .and_then(|note| note.split_once("<mail-"))
        .and_then(|(_, rest)| rest.split_once('>'))
        .map(|(nonce, _)| nonce.to_owned());
    if let Some(object) = value.as_object_mut() {
        object.remove("untrusted");
    }
    if let Some(nonce) = nonce {
        strip_markers(&mut value, &nonce);
    }
    value
}

fn strip_markers(value: &mut Value, nonce: &str) {
    let (open, close) = (format!("<mail-{nonce}>"), format!("</mail-{nonce}>"));
    match value {
        Value::String(text) => {
            if let Some(inner) = text
                .strip_prefix(open.as_str())
                .and_then(|t| t.strip_suffix(close.as_str()))
            {
                *text = inner.to_owned();
            }
            assert!(
                !text.contains("<mail-"),
                "a marker not of this call's nonce {nonce}: {text}"
            );
        }
        Value::Array(items) => items.iter_mut().for_each(|v| strip_markers(v, nonce)),
        Value::Object(map) => map.values_mut().for_each(|v| strip_markers(v, nonce)),
        _ => {}
    }
}
