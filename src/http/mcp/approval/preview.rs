//! What the person is shown before approving: exactly what the call will do, built from
//! its exact arguments (and the mailbox where the arguments name messages), through the
//! same functions the tools use. One [`Preview`] renders as text (the 2026-07-28 form's
//! message, the confirmation link's tool result) and as the confirmation page.
//!
//! This is the one place besides the tools that knows their argument shapes, so it
//! matches on tool names; a tool it does not know is shown by its arguments.

use rmcp::model::JsonObject;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::http::mcp::policy::Guarded;
use crate::http::mcp::tools::write::{
    Fields, ForwardParams, ReplyParams, SendDraftParams, SendMailParams, outgoing,
};
use crate::http::mcp::{Caller, MailServer};
use crate::mail::MailAccount;
use crate::mail::compose::attachment::human_size;
use crate::mail::compose::reply::html_to_text;
use crate::mail::compose::{Attachment, Original, Outgoing, ReplyText, parse_addresses};
use crate::mail::outbox::{MessageRef, Recipients};

/// Lines of a message body shown at most.
const BODY_LINES: usize = 20;
/// Characters of a message body shown at most.
const BODY_CHARS: usize = 1500;
/// Characters of one argument shown at most (the generic preview).
const VALUE_CHARS: usize = 300;

/// One labelled line of a preview.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    pub label: String,
    pub value: String,
}

/// What will happen, for the person.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Preview {
    /// The question: "Send this email?".
    pub heading: String,
    /// The approving button's label: "Send", "Delete for good", ...
    pub confirm: String,
    pub fields: Vec<Field>,
    /// The start of the message body, as plain text.
    pub body: Option<String>,
    /// Whether `body` was cut short.
    pub body_cut: bool,
    /// The title of `items` ("Attachments (2)", "Messages (3)").
    pub items_title: String,
    pub items: Vec<String>,
}

impl Preview {
    fn new(heading: &str, confirm: &str) -> Preview {
        Preview {
            heading: heading.to_string(),
            confirm: confirm.to_string(),
            fields: Vec::new(),
            body: None,
            body_cut: false,
            items_title: String::new(),
            items: Vec::new(),
        }
    }

    fn field(&mut self, label: &str, value: impl Into<String>) {
        let value = value.into();
        if !value.is_empty() {
            self.fields.push(Field {
                label: label.to_string(),
                value,
            });
        }
    }

    /// The preview as plain text, the way a form's message or a tool result shows it.
    pub fn text(&self) -> String {
        let mut text = format!("{}\n", self.heading);
        for field in &self.fields {
            text.push_str(&format!("{}: {}\n", field.label, field.value));
        }
        if let Some(body) = &self.body {
            let more = if self.body_cut { " (beginning)" } else { "" };
            text.push_str(&format!("Text{more}:\n"));
            for line in body.lines() {
                text.push_str(&format!("  | {line}\n"));
            }
        }
        if !self.items.is_empty() {
            text.push_str(&format!("{}:\n", self.items_title));
            for item in &self.items {
                text.push_str(&format!("  - {item}\n"));
            }
        }
        text
    }

    /// A message that will leave the mailbox from `account`.
    fn of_message(heading: &str, account: &MailAccount, message: &Outgoing) -> Preview {
        let mut preview = Preview::new(heading, "Send");
        preview.field("From", from_line(account, message));
        preview.field("To", mailboxes(&message.to));
        preview.field("Cc", mailboxes(&message.cc));
        preview.field("Bcc", mailboxes(&message.bcc));
        preview.field("Subject", one_line(&message.subject));
        let text = match (&message.text_body, &message.html_body) {
            (Some(text), _) => text.clone(),
            (None, Some(html)) => html_to_text(html),
            (None, None) => String::new(),
        };
        let (body, cut) = beginning(&text);
        preview.body = Some(body);
        preview.body_cut = cut;
        preview.attachments(&message.attachments);
        preview
    }

    fn attachments(&mut self, attachments: &[Attachment]) {
        if attachments.is_empty() {
            return;
        }
        self.items_title = format!("Attachments ({})", attachments.len());
        self.items = attachments
            .iter()
            .map(|a| format!("{} ({})", one_line(a.filename()), human_size(a.size())))
            .collect();
    }

    /// Any call, shown by its arguments.
    fn of_arguments(tool: &str, action: Guarded, arguments: &JsonObject) -> Preview {
        let (heading, confirm) = match action {
            Guarded::Sends => ("Send this?", "Send"),
            Guarded::DeletesForGood => ("Delete for good?", "Delete for good"),
            Guarded::DeletesFolder => ("Delete this folder?", "Delete the folder"),
            Guarded::Bulk => ("Change all these messages?", "Apply"),
        };
        let mut preview = Preview::new(heading, confirm);
        preview.field("Action", tool);
        let mut names: Vec<_> = arguments.keys().collect();
        names.sort();
        for name in names {
            let value = match &arguments[name] {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            preview.field(name, cut(&one_line(&value), VALUE_CHARS));
        }
        preview
    }
}

impl MailServer {
    /// The preview of `tool` called with `arguments` by `caller`. Errors are the tool's own
    /// (bad arguments, a message that is not there): the call would fail the same way.
    pub(crate) async fn preview(
        &self,
        caller: &Caller,
        action: Guarded,
        tool: &str,
        arguments: &JsonObject,
    ) -> Result<Preview, String> {
        match tool {
            "send_mail_message" => self.preview_send(caller, arguments).await,
            "reply_to_mail_message" => self.preview_reply(caller, arguments).await,
            "forward_mail_message" => self.preview_forward(caller, arguments).await,
            "send_draft" => self.preview_draft(caller, arguments).await,
            _ if action == Guarded::Bulk => self.preview_bulk(caller, tool, arguments).await,
            _ if action == Guarded::DeletesForGood => self.preview_delete(caller, arguments).await,
            _ if action == Guarded::DeletesFolder => self.preview_folder(caller, arguments).await,
            _ => Ok(Preview::of_arguments(tool, action, arguments)),
        }
    }

    async fn preview_send(
        &self,
        caller: &Caller,
        arguments: &JsonObject,
    ) -> Result<Preview, String> {
        let params: SendMailParams = parse(arguments)?;
        let files = self
            .attachments_to_send(caller, params.files.attachments)
            .await?;
        let message = outgoing(Fields {
            to: &params.to,
            copies: &params.copies,
            subject: params.subject,
            body: params.body,
            attachments: files,
            sender: params.sending_as.sender(caller.account())?,
        })?;
        Ok(Preview::of_message(
            "Send this email?",
            caller.account(),
            &message,
        ))
    }
}

impl MailServer {
    /// A reply, with the recipients resolved from the original as the send will.
    async fn preview_reply(
        &self,
        caller: &Caller,
        arguments: &JsonObject,
    ) -> Result<Preview, String> {
        let params: ReplyParams = parse(arguments)?;
        let parent = MessageRef::from(params.message);
        let files = self
            .attachments_to_send(caller, params.files.attachments)
            .await?;
        let text = ReplyText {
            text_body: params.text_body,
            html_body: params.html_body,
            from: params.sending_as.sender(caller.account())?,
        };
        let message = self
            .state
            .outbox
            .prepare_reply(caller.account(), &parent, params.reply_all, text, files)
            .await
            .map_err(|e| e.to_string())?;
        Ok(Preview::of_message(
            "Send this reply?",
            caller.account(),
            &message,
        ))
    }

    /// A forward, with the original's attachments that go along.
    async fn preview_forward(
        &self,
        caller: &Caller,
        arguments: &JsonObject,
    ) -> Result<Preview, String> {
        let params: ForwardParams = parse(arguments)?;
        let original = MessageRef::from(params.message);
        let addresses = |field, list| parse_addresses(field, list).map_err(|e| e.to_string());
        let recipients = Recipients {
            to: addresses("to", &params.to)?,
            cc: addresses("cc", &params.copies.cc)?,
            bcc: addresses("bcc", &params.copies.bcc)?,
            from: params.sending_as.sender(caller.account())?,
        };
        let message = self
            .state
            .outbox
            .prepare_forward(
                caller.account(),
                &original,
                recipients,
                params.text_body.as_deref(),
                params.include_attachments,
            )
            .await
            .map_err(|e| e.to_string())?;
        Ok(Preview::of_message(
            "Forward this email?",
            caller.account(),
            &message,
        ))
    }

    /// A saved draft, as it will go out (its Bcc: every recipient not in To or Cc).
    async fn preview_draft(
        &self,
        caller: &Caller,
        arguments: &JsonObject,
    ) -> Result<Preview, String> {
        let params: SendDraftParams = parse(arguments)?;
        let draft = MessageRef {
            folder: params.folder,
            uid: params.uid,
            uid_validity: Some(params.uid_validity),
        };
        let ready = self
            .state
            .outbox
            .prepare_draft(caller.account(), &draft)
            .await
            .map_err(|e| e.to_string())?;
        let original = Original::parse(&ready.bytes).map_err(|e| e.to_string())?;
        let shown: Vec<String> = original
            .to
            .iter()
            .chain(&original.cc)
            .map(|m| m.email.to_string().to_ascii_lowercase())
            .collect();
        let bcc = ready
            .recipients
            .iter()
            .filter(|a| !shown.contains(&a.to_string().to_ascii_lowercase()))
            .filter_map(|a| a.to_string().parse().ok())
            .collect();
        let message = Outgoing {
            to: original.to,
            cc: original.cc,
            bcc,
            subject: original.subject,
            text_body: Some(original.text),
            attachments: original.attachments,
            ..Outgoing::default()
        };
        Ok(Preview::of_message(
            "Send this draft?",
            caller.account(),
            &message,
        ))
    }
}

/// The messages a permanent delete names.
#[derive(serde::Deserialize)]
struct NamedMessages {
    folder: String,
    #[serde(default)]
    uid: Option<u32>,
    #[serde(default)]
    uids: Option<Vec<u32>>,
    #[serde(default)]
    uid_validity: Option<u32>,
}

/// The folder `delete_mailbox` names.
#[derive(serde::Deserialize)]
struct NamedFolder {
    name: String,
}

/// Messages listed at most in a delete preview.
const LISTED: usize = 20;

impl MailServer {
    /// A permanent delete: each message (uid, from, subject, date) and how many.
    async fn preview_delete(
        &self,
        caller: &Caller,
        arguments: &JsonObject,
    ) -> Result<Preview, String> {
        let named: NamedMessages = parse(arguments)?;
        let mut uids: Vec<u32> = named
            .uid
            .into_iter()
            .chain(named.uids.unwrap_or_default())
            .collect();
        uids.sort_unstable();
        uids.dedup();
        let (folder, validity) = (named.folder.clone(), named.uid_validity);
        let wanted = uids.clone();
        let found = self
            .with_imap(caller, move |s| {
                Box::pin(async move {
                    s.examine_checked(&folder, validity).await?;
                    crate::mail::imap::summary::fetch_by_uid(s, &wanted).await
                })
            })
            .await?;
        let mut preview = Preview::new("Delete these messages for good?", "Delete for good");
        preview.field("Folder", one_line(&named.folder));
        preview.field(
            "Messages",
            format!("{} (they cannot be restored)", found.len()),
        );
        preview.items_title = format!("Messages ({})", found.len());
        preview.items = found
            .iter()
            .take(LISTED)
            .map(|m| {
                let m = &m.summary;
                let from = m.from.first().map(|a| a.email.clone()).unwrap_or_default();
                format!(
                    "uid {}: from {}, \"{}\", {}",
                    m.uid,
                    one_line(&from),
                    cut(&one_line(m.subject.as_deref().unwrap_or("")), 120),
                    m.date.as_deref().unwrap_or("no date")
                )
            })
            .collect();
        Ok(preview)
    }

    /// `delete_mailbox`: the folder and how many messages it holds.
    async fn preview_folder(
        &self,
        caller: &Caller,
        arguments: &JsonObject,
    ) -> Result<Preview, String> {
        let named: NamedFolder = parse(arguments)?;
        let folder = named.name.clone();
        let selected = self
            .with_imap(caller, move |s| {
                Box::pin(async move { s.examine(&folder).await })
            })
            .await?;
        let mut preview = Preview::new("Delete this folder?", "Delete the folder");
        preview.field("Folder", one_line(&named.name));
        preview.field("Messages in it", selected.exists.to_string());
        Ok(preview)
    }

    /// A change to every message matching a search: the same call as a dry run says what
    /// matches (the tool's own dry-run path), shown with the criteria.
    async fn preview_bulk(
        &self,
        caller: &Caller,
        tool: &str,
        arguments: &JsonObject,
    ) -> Result<Preview, String> {
        let mut dry = arguments.clone();
        dry.insert("dry_run".into(), Value::Bool(true));
        let result = self.run_approved(caller.clone(), tool, dry).await?;
        if result.is_error == Some(true) {
            let text: Vec<String> = result
                .content
                .iter()
                .filter_map(|c| c.as_text().map(|t| t.text.clone()))
                .collect();
            return Err(text.join(" "));
        }
        // The bulk outcome is flattened into the tool's result (see `tools::organise`).
        let bulk = result.structured_content.clone().unwrap_or(Value::Null);
        let mut preview = Preview::new("Change all these messages?", "Apply");
        preview.field("Action", tool);
        preview.field(
            "Folder",
            arguments
                .get("folder")
                .and_then(Value::as_str)
                .map(one_line)
                .unwrap_or_default(),
        );
        let criteria = arguments
            .get("where")
            .map(Value::to_string)
            .unwrap_or_default();
        preview.field("Criteria", cut(&criteria, VALUE_CHARS));
        for (name, value) in arguments {
            if !["folder", "where", "dry_run", "uid_validity"].contains(&name.as_str()) {
                preview.field(name, cut(&one_line(&value.to_string()), VALUE_CHARS));
            }
        }
        preview.field(
            "Matching messages",
            bulk.get("matched")
                .map(Value::to_string)
                .unwrap_or_default(),
        );
        let sample = bulk
            .get("sample")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        preview.items_title = format!("Some of them ({})", sample.len());
        preview.items = sample
            .iter()
            .map(|m| {
                format!(
                    "uid {}: \"{}\"",
                    m.get("uid").map(Value::to_string).unwrap_or_default(),
                    cut(
                        &one_line(m.get("subject").and_then(Value::as_str).unwrap_or("")),
                        120
                    )
                )
            })
            .collect();
        Ok(preview)
    }
}

/// The arguments as the tool's parameter struct; the error reads as rmcp's would.
fn parse<T: DeserializeOwned>(arguments: &JsonObject) -> Result<T, String> {
    serde_json::from_value(Value::Object(arguments.clone()))
        .map_err(|e| format!("failed to deserialize parameters: {e}"))
}

fn from_line(account: &MailAccount, message: &Outgoing) -> String {
    let (email, name) = match &message.sender {
        Some(author) => (&author.email, author.display_name.as_deref()),
        None => (&account.email, account.display_name.as_deref()),
    };
    match name.filter(|n| !n.is_empty()) {
        Some(name) => format!("{name} <{email}>"),
        None => email.clone(),
    }
}

fn mailboxes(list: &[lettre::message::Mailbox]) -> String {
    list.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// `text` on one line: control characters (line breaks included) become spaces.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// At most `max` characters of `text`, with "…" when cut.
fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_string(),
    }
}

/// The first [`BODY_LINES`] lines and [`BODY_CHARS`] characters of a body, controls other
/// than line breaks and tabs taken out; and whether it was cut.
fn beginning(body: &str) -> (String, bool) {
    let clean: String = body
        .replace("\r\n", "\n")
        .chars()
        .filter(|&c| c == '\n' || c == '\t' || !c.is_control())
        .collect();
    let trimmed = clean.trim_end();
    let mut lines: Vec<&str> = trimmed.lines().collect();
    let mut was_cut = lines.len() > BODY_LINES;
    lines.truncate(BODY_LINES);
    let joined = lines.join("\n");
    if joined.chars().count() > BODY_CHARS {
        was_cut = true;
        return (cut(&joined, BODY_CHARS), was_cut);
    }
    (joined, was_cut)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A long body is cut at 20 lines or 1,500 characters, and says so.
    #[test]
    fn bodies_are_cut_to_their_beginning() {
        let long: String = (1..=30).map(|i| format!("line {i}\r\n")).collect();
        let (body, was_cut) = beginning(&long);
        assert!(was_cut);
        assert_eq!(body.lines().count(), 20);
        assert!(body.ends_with("line 20"));
        let wide = "x".repeat(4000);
        let (body, was_cut) = beginning(&wide);
        assert!(was_cut);
        assert_eq!(body.chars().count(), BODY_CHARS + 1);
        assert_eq!(beginning("short\n"), ("short".to_string(), false));
        assert_eq!(beginning("a\u{1b}[31mb"), ("a[31mb".to_string(), false));
    }

    /// The text form lists every field, the body quoted, and the items.
    #[test]
    fn the_text_shows_every_part() {
        let mut preview = Preview::new("Send this email?", "Send");
        preview.field("To", "bob@example.test");
        preview.field("Bcc", "carol@example.test");
        preview.field("Cc", "");
        preview.body = Some("Hello\nBob".into());
        preview.items_title = "Attachments (1)".into();
        preview.items = vec!["a.pdf (2 KB)".into()];
        let text = preview.text();
        assert_eq!(
            text,
            "Send this email?\nTo: bob@example.test\nBcc: carol@example.test\nText:\n  | Hello\n  | Bob\nAttachments (1):\n  - a.pdf (2 KB)\n"
        );
    }
}
