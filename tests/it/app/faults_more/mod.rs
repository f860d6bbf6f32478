//! More faults between the server and the parts it depends on, each through the real
//! server and the real stack: an IMAP connection cut while a message is being stored
//! (APPEND), TLS handshakes that fail (an untrusted certificate, a port that does not
//! speak TLS), the shared store (Redis) down or silent, and the attachment store (S3)
//! down or silent. Each gives a clear tool or OAuth error naming the side that failed,
//! within the time limits, and the next call works once the fault is gone.

mod append;
mod redis;
mod s3;
mod tls;

use mail_mcp::mail::MailAccount;

use crate::common::{Stack, TestUser};

/// `user`'s account with IMAP going through a proxy on `imap_port`.
fn imap_via(stack: &Stack, user: &TestUser, imap_port: u16) -> MailAccount {
    let mut account = stack.mail_account(user);
    account.imap.endpoint.port = imap_port;
    account
}
