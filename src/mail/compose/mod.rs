//! Composing mail, without I/O: recipients parsed and checked ([`address`]), attachments
//! decoded and sanitised ([`attachment`]), the message being answered or forwarded read
//! with mail-parser ([`original`]), replies and forwards derived from it ([`reply`]), and
//! the lettre `Message` built from typed fields ([`message`]). Sending and saving live in
//! [`crate::mail::outbox`]; nothing here talks to a server.

pub mod address;
pub mod attachment;
pub mod draft;
pub mod message;
pub mod original;
pub mod reply;

pub use address::{AddressList, check_header_value, parse_address, parse_addresses};
pub use attachment::{Attachment, DEFAULT_MAX_ATTACHMENT_BYTES, check_total_size};
pub use message::{Author, Outgoing, Purpose, build, idempotent_message_id, new_message_id};
pub use original::Original;
pub use reply::{ReplyText, forward, reply_to};
