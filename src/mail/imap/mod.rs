//! IMAP access. [`Imap`] is the one place that hands out logged-in sessions
//! ([`ImapSession`]); every other IMAP operation takes a session from it. Connection reuse
//! (a pool) belongs inside `Imap::session` and `ImapSession::logout`, so callers will not
//! change when it arrives.

pub mod append;
mod connect;
mod errors;
pub mod folders;
pub mod mailboxes;
pub mod names;
pub mod organise;
pub mod parts;
pub mod read;
pub mod search;
mod session;
pub mod summary;
pub mod thread;
pub mod uidset;

use futures::future::BoxFuture;
use tracing::Instrument;

pub use append::{StoredMessage, append_message, find_by_message_id};
pub use connect::{BoxedStream, ImapStream, RawSession};
pub use folders::{
    CreatedMailbox, DeletedMailbox, RenamedMailbox, create_mailbox, delete_mailbox, rename_mailbox,
};
pub use mailboxes::{
    MailboxInfo, SpecialUse, find_special_use, list_mailboxes, pick_special_use, resolve_folder,
};
pub use organise::{
    DeleteOutcome, FlagsOutcome, MessageSelection, MoveMethod, MoveOutcome, delete_messages,
    move_messages, move_messages_by, update_flags,
};
pub use read::{GetOptions, MailMessage, MessagePage, PageRequest, get_message, list_messages};
pub use search::search_messages;
pub use session::{ImapSession, SelectedFolder};
pub use summary::MessageSummary;
pub use thread::{MailThread, ThreadMessage, get_thread};

use crate::mail::account::ServerLogin;
use crate::mail::error::MailError;
use crate::mail::settings::MailSettings;

/// Hands out logged-in IMAP sessions; cheap to clone.
#[derive(Clone, Debug)]
pub struct Imap {
    settings: MailSettings,
}

impl Imap {
    pub fn new(settings: MailSettings) -> Self {
        Imap { settings }
    }

    pub fn settings(&self) -> &MailSettings {
        &self.settings
    }

    /// A logged-in session for `login`. Give it back with [`ImapSession::logout`].
    pub async fn session(&self, login: &ServerLogin) -> Result<ImapSession, MailError> {
        let server = format!("{}:{}", login.endpoint.host, login.endpoint.port);
        let span = tracing::debug_span!("imap_login", %server, security = %login.endpoint.security);
        let logged_in = connect::open(&self.settings, login)
            .instrument(span)
            .await?;
        Ok(ImapSession::new(
            logged_in,
            server,
            self.settings.command_timeout,
        ))
    }

    /// Opens a session, runs `work` on it and logs out, whether `work` succeeded or not:
    /// `imap.with_session(login, |s| Box::pin(list_mailboxes(s, true)))`. (`work` returns
    /// a boxed future because an async closure's future cannot yet be proven `Send`.)
    pub async fn with_session<T>(
        &self,
        login: &ServerLogin,
        work: impl for<'s> FnOnce(&'s mut ImapSession) -> BoxFuture<'s, Result<T, MailError>>,
    ) -> Result<T, MailError> {
        let mut session = self.session(login).await?;
        let result = work(&mut session).await;
        session.logout().await;
        result
    }

    /// Logs in and out again: proves the endpoint and credentials work.
    pub async fn check_login(&self, login: &ServerLogin) -> Result<(), MailError> {
        self.session(login).await?.logout().await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>(_: &T) {}

    /// Handlers run on a multi-threaded runtime: every future here must be `Send`.
    #[test]
    fn futures_are_send() {
        let imap = Imap::new(MailSettings::new(crate::mail::TlsSettings::public_roots()));
        let login = ServerLogin {
            endpoint: crate::mail::Endpoint {
                host: "imap.example.com".into(),
                port: 993,
                security: crate::mail::Security::Tls,
            },
            username: "u".into(),
            password: "p".into(),
        };
        assert_send(&imap.session(&login));
        assert_send(&imap.check_login(&login));
        assert_send(&async {
            let mut s = imap.session(&login).await?;
            let sent = find_special_use(&mut s, SpecialUse::Sent).await?;
            let inbox = s.select("INBOX").await?;
            let all = list_mailboxes(&mut s, true).await?;
            s.logout().await;
            Ok::<_, MailError>((sent, inbox, all))
        });
        assert_send(&imap.with_session(&login, |s| {
            Box::pin(async move {
                let folder = resolve_folder(s, "inbox").await?;
                s.examine(&folder).await
            })
        }));
    }
}
