//! Messages for tests to put into a mailbox (IMAP APPEND or delivery).

/// A Message-ID no other message has: `<uuid@example.test>`.
pub fn unique_message_id() -> String {
    format!("<{}@example.test>", uuid::Uuid::new_v4())
}

/// A small text message from Carol, "This is `subject`.", with a unique Message-ID.
pub fn small_message(subject: &str) -> Vec<u8> {
    small_message_with_id(subject, &unique_message_id())
}

/// [`small_message`] with the Message-ID `message_id` (angle brackets included).
pub fn small_message_with_id(subject: &str, message_id: &str) -> Vec<u8> {
    format!(
        "From: Carol <carol@example.test>\r\nTo: someone@example.test\r\nSubject: {subject}\r\n\
         Message-ID: {message_id}\r\nDate: Mon, 2 Mar 2026 10:00:00 +0000\r\n\r\n\
         This is {subject}.\r\n"
    )
    .into_bytes()
}
