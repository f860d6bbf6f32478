//! IMAP as a mail client sees it: log in, append, fetch whole messages, wait for mail.
//! Helpers panic with context; they are for assertions, not for the code under test.

use std::fmt::Debug;
use std::time::{Duration, Instant};

use async_imap::types::Flag;
use async_imap::{Client, Session};
use futures::TryStreamExt;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::{TestUser, stack};

/// A logged-in session over IMAPS.
pub type ImapSession = Session<TlsStream<TcpStream>>;
/// A logged-in session over the plain IMAP port (no TLS).
pub type PlainImapSession = Session<TcpStream>;

/// How long the `wait_for_*` helpers wait (delivery takes 20-80 ms), in real time: the
/// deadline holds even when a test pauses tokio's clock.
const WAIT: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(20);

/// One message as stored: its UID, its exact bytes (`BODY[]`) and its flags (`\Seen`, ...).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawMessage {
    pub uid: u32,
    pub raw: Vec<u8>,
    pub flags: Vec<String>,
}

/// Logs in over IMAPS (verifying the server against the test CA); the error is the
/// server's answer, e.g. for a wrong password.
pub async fn try_imap_session(
    email: &str,
    password: &str,
) -> async_imap::error::Result<ImapSession> {
    let stack = stack();
    let tcp = TcpStream::connect((stack.host.as_str(), stack.imaps_port)).await?;
    let name = ServerName::try_from("localhost").expect("valid server name");
    let tls = TlsConnector::from(stack.tls_config())
        .connect(name, tcp)
        .await?;
    login(Client::new(tls), email, password).await
}

/// `user` logged in over IMAPS.
pub async fn imap_session(user: &TestUser) -> ImapSession {
    try_imap_session(&user.email, &user.password)
        .await
        .unwrap_or_else(|e| panic!("IMAPS login of {} failed: {e}", user.email))
}

/// `user` logged in over the plain IMAP port, without STARTTLS.
pub async fn imap_session_plain(user: &TestUser) -> PlainImapSession {
    let stack = stack();
    let tcp = TcpStream::connect((stack.host.as_str(), stack.imap_port))
        .await
        .unwrap_or_else(|e| panic!("cannot connect to IMAP port {}: {e}", stack.imap_port));
    login(Client::new(tcp), &user.email, &user.password)
        .await
        .unwrap_or_else(|e| panic!("plain IMAP login of {} failed: {e}", user.email))
}

async fn login<T>(
    mut client: Client<T>,
    email: &str,
    password: &str,
) -> async_imap::error::Result<Session<T>>
where
    T: AsyncRead + AsyncWrite + Unpin + Debug + Send,
{
    client
        .read_response()
        .await?
        .ok_or(async_imap::error::Error::ConnectionLost)?;
    client.login(email, password).await.map_err(|(e, _)| e)
}

/// Appends `raw` to `folder` of `user` with `flags` (e.g. `&["\\Seen"]`).
pub async fn append(user: &TestUser, folder: &str, raw: &[u8], flags: &[&str]) {
    let mut session = imap_session(user).await;
    let flags = (!flags.is_empty()).then(|| format!("({})", flags.join(" ")));
    session
        .append(folder, flags.as_deref(), None, raw)
        .await
        .unwrap_or_else(|e| panic!("APPEND to {folder} of {} failed: {e}", user.email));
    session.logout().await.ok();
}

/// Every message in `folder` of `user`, by UID, read without changing flags.
pub async fn fetch_raw(user: &TestUser, folder: &str) -> Vec<RawMessage> {
    let mut session = imap_session(user).await;
    let messages = fetch_all(&mut session, user, folder).await;
    session.logout().await.ok();
    messages
}

/// Waits (up to 10 s) until `folder` of `user` holds at least `count` messages and
/// returns them all, by UID.
pub async fn wait_for_messages(user: &TestUser, folder: &str, count: usize) -> Vec<RawMessage> {
    let mut session = imap_session(user).await;
    let deadline = Instant::now() + WAIT;
    loop {
        let exists = examine(&mut session, user, folder).await;
        if exists as usize >= count {
            let messages = fetch_all(&mut session, user, folder).await;
            session.logout().await.ok();
            return messages;
        }
        if Instant::now() > deadline {
            panic!(
                "{folder} of {} holds {exists} messages after {WAIT:?}, expected {count}",
                user.email
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Waits (up to 10 s) for a message in `folder` of `user` whose bytes contain `needle`
/// (e.g. a unique subject), for mailboxes that tests share such as the catch-all.
pub async fn wait_for_message_containing(
    user: &TestUser,
    folder: &str,
    needle: &[u8],
) -> RawMessage {
    let deadline = Instant::now() + WAIT;
    loop {
        let found = fetch_raw(user, folder)
            .await
            .into_iter()
            .find(|m| m.raw.windows(needle.len()).any(|w| w == needle));
        if let Some(message) = found {
            return message;
        }
        if Instant::now() > deadline {
            panic!(
                "no message containing {:?} in {folder} of {} after {WAIT:?}",
                String::from_utf8_lossy(needle),
                user.email
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

async fn examine<T>(session: &mut Session<T>, user: &TestUser, folder: &str) -> u32
where
    T: AsyncRead + AsyncWrite + Unpin + Debug + Send,
{
    session
        .examine(folder)
        .await
        .unwrap_or_else(|e| panic!("EXAMINE {folder} of {} failed: {e}", user.email))
        .exists
}

async fn fetch_all<T>(session: &mut Session<T>, user: &TestUser, folder: &str) -> Vec<RawMessage>
where
    T: AsyncRead + AsyncWrite + Unpin + Debug + Send,
{
    if examine(session, user, folder).await == 0 {
        return Vec::new();
    }
    let fetches: Vec<_> = session
        .uid_fetch("1:*", "(UID FLAGS BODY.PEEK[])")
        .await
        .unwrap_or_else(|e| panic!("UID FETCH in {folder} of {} failed: {e}", user.email))
        .try_collect()
        .await
        .unwrap_or_else(|e| panic!("UID FETCH in {folder} of {} failed: {e}", user.email));
    let mut messages: Vec<RawMessage> = fetches
        .iter()
        .map(|f| RawMessage {
            uid: f.uid.expect("FETCH answer without UID"),
            raw: f.body().expect("FETCH answer without BODY[]").to_vec(),
            flags: f.flags().map(|flag| flag_name(&flag)).collect(),
        })
        .collect();
    messages.sort_by_key(|m| m.uid);
    messages
}

fn flag_name(flag: &Flag<'_>) -> String {
    match flag {
        Flag::Seen => "\\Seen".into(),
        Flag::Answered => "\\Answered".into(),
        Flag::Flagged => "\\Flagged".into(),
        Flag::Deleted => "\\Deleted".into(),
        Flag::Draft => "\\Draft".into(),
        Flag::Recent => "\\Recent".into(),
        Flag::MayCreate => "\\*".into(),
        Flag::Custom(name) => name.to_string(),
    }
}

/// Every folder name LIST reports on `session`, as the server spells it.
pub async fn list_folder_names<T>(session: &mut Session<T>) -> Vec<String>
where
    T: AsyncRead + AsyncWrite + Unpin + Debug + Send,
{
    session
        .list(Some(""), Some("*"))
        .await
        .unwrap_or_else(|e| panic!("LIST failed: {e}"))
        .map_ok(|name| name.name().to_owned())
        .try_collect()
        .await
        .unwrap_or_else(|e| panic!("LIST failed: {e}"))
}

/// Every folder name of `user` (IMAPS), as the server spells it.
pub async fn folder_names(user: &TestUser) -> Vec<String> {
    let mut session = imap_session(user).await;
    let names = list_folder_names(&mut session).await;
    session.logout().await.ok();
    names
}
