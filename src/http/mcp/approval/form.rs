//! Approval by a 2026-07-28 client (multi round-trip requests, SEP-2322): the call's
//! answer is an `InputRequiredResult` holding one form elicitation (the preview as its
//! message, a required choice approve / cancel) and the sealed `requestState`; the client
//! shows the form and retries the same call with the person's answer in
//! `inputResponses` and the state echoed back.

use rmcp::RoleServer;
use rmcp::model::{
    ElicitRequest, ElicitRequestParams, ElicitResult, ElicitationAction, ElicitationSchema,
    EnumSchema, InputRequest, InputRequests, InputRequiredResult, InputResponses, ProtocolVersion,
};
use rmcp::service::RequestContext;

use super::preview::Preview;

/// The key of the one input request.
pub const INPUT_KEY: &str = "approval";
/// The form's one field.
pub const FIELD: &str = "decision";
/// The field's value that approves.
pub const APPROVE: &str = "approve";
/// The field's value that cancels.
pub const CANCEL: &str = "cancel";

/// Whether the request can be answered with a form: protocol 2026-07-28 or later, and
/// the client declared form elicitation in its per-request capabilities (an empty
/// `elicitation` object means form, as before modes existed).
pub fn client_shows_forms(context: &RequestContext<RoleServer>) -> bool {
    let modern = context
        .protocol_version()
        .is_some_and(|version| version >= ProtocolVersion::V_2026_07_28);
    let forms = context
        .client_capabilities()
        .and_then(|capabilities| capabilities.elicitation)
        .is_some_and(|elicitation| elicitation.form.is_some() || elicitation.url.is_none());
    modern && forms
}

/// The input request asking the person to approve what `preview` shows.
pub fn ask(preview: &Preview, state: String) -> InputRequiredResult {
    let choice = EnumSchema::builder(vec![APPROVE.to_string(), CANCEL.to_string()])
        .title("Your decision")
        .enum_titles(vec![
            preview.confirm.clone(),
            "Cancel: send and change nothing".to_string(),
        ])
        .expect("one title per value")
        .build();
    let schema = ElicitationSchema::builder()
        .required_enum_schema(FIELD, choice)
        .build()
        .expect("the one field exists");
    let message = format!(
        "{}\nNothing happens unless you choose \"{}\".",
        preview.text(),
        preview.confirm
    );
    let form = ElicitRequest::new(ElicitRequestParams::FormElicitationParams {
        meta: None,
        message,
        requested_schema: schema,
    });
    let mut requests = InputRequests::new();
    requests.insert(INPUT_KEY.to_string(), InputRequest::Elicitation(form));
    InputRequiredResult::new(Some(requests), Some(state))
}

/// What the person answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    Approved,
    /// Declined, cancelled, or chose cancel.
    Cancelled,
    /// No usable answer to our input request.
    Missing,
}

/// The person's answer among `responses`: approved only when the form was accepted with
/// the approving choice.
pub fn answer(responses: Option<&InputResponses>) -> Answer {
    let Some(response) = responses.and_then(|r| r.get(INPUT_KEY)) else {
        return Answer::Missing;
    };
    let Ok(result) = serde_json::from_value::<ElicitResult>(response.clone()) else {
        return Answer::Missing;
    };
    let chosen = result
        .content
        .as_ref()
        .and_then(|content| content.get(FIELD))
        .and_then(|value| value.as_str());
    match (result.action, chosen) {
        (ElicitationAction::Accept, Some(APPROVE)) => Answer::Approved,
        (ElicitationAction::Accept, Some(_)) => Answer::Cancelled,
        (ElicitationAction::Accept, None) => Answer::Missing,
        // Declined, cancelled, or an action this server does not know.
        _ => Answer::Cancelled,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn responses(value: serde_json::Value) -> InputResponses {
        let mut map = InputResponses::new();
        map.insert(INPUT_KEY.into(), value);
        map
    }

    /// Only an accepted form with the approving choice approves.
    #[test]
    fn answers_are_read_strictly() {
        let cases = [
            (
                json!({"action": "accept", "content": {"decision": "approve"}}),
                Answer::Approved,
            ),
            (
                json!({"action": "accept", "content": {"decision": "cancel"}}),
                Answer::Cancelled,
            ),
            (
                json!({"action": "accept", "content": {"decision": "APPROVE"}}),
                Answer::Cancelled,
            ),
            (json!({"action": "accept", "content": {}}), Answer::Missing),
            (json!({"action": "decline"}), Answer::Cancelled),
            (json!({"action": "cancel"}), Answer::Cancelled),
            (json!("approve"), Answer::Missing),
        ];
        for (response, expected) in cases {
            assert_eq!(
                answer(Some(&responses(response.clone()))),
                expected,
                "{response}"
            );
        }
        assert_eq!(answer(None), Answer::Missing);
        assert_eq!(answer(Some(&InputResponses::new())), Answer::Missing);
    }
}
