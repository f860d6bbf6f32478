//! The floor: the same IMAP exchanges a tool call needs, done directly against Dovecot
//! with async-imap over the same TLS settings (rustls, the stack's CA, session
//! resumption), without HTTP, tokens, JSON or MIME parsing. Warm: on a logged-in session.
//! Cold: TCP + TLS + greeting + LOGIN first.
//!
//! - list: `EXAMINE folder`, `FETCH n-19:n (summary items)`.
//! - get: `EXAMINE folder`, `UID FETCH uid (UID FLAGS BODY.PEEK[])`.
//! - search: `EXAMINE folder`, `UID SEARCH SUBJECT "invoice"`, `UID FETCH <newest 20>
//!   (summary items)`.

use std::time::{Duration, Instant};

use async_imap::{Client, Session};
use futures::TryStreamExt;
use mail_mcp::mail::TlsSettings;
use mail_mcp::mail::message::headers::SUMMARY_FIELDS;
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

pub type ImapSession = Session<TlsStream<TcpStream>>;

/// Which exchange.
#[derive(Clone, Copy, Debug)]
pub enum Exchange {
    List,
    Get(u32),
    Search,
}

fn summary_items() -> String {
    format!(
        "(UID FLAGS RFC822.SIZE INTERNALDATE BODYSTRUCTURE BODY.PEEK[HEADER.FIELDS ({SUMMARY_FIELDS})])"
    )
}

/// Logs in over IMAPS.
pub async fn login(
    tls: &TlsSettings,
    port: u16,
    user: &str,
    password: &str,
) -> Result<ImapSession, String> {
    let tcp = TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| e.to_string())?;
    tcp.set_nodelay(true).ok();
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let stream = tls
        .connector()
        .connect(name, tcp)
        .await
        .map_err(|e| e.to_string())?;
    let mut client = Client::new(stream);
    client
        .read_response()
        .await
        .map_err(|e| e.to_string())?
        .ok_or("no greeting")?;
    client
        .login(user, password)
        .await
        .map_err(|(e, _)| e.to_string())
}

/// Runs one exchange on a logged-in session.
pub async fn run(
    session: &mut ImapSession,
    folder: &str,
    exchange: Exchange,
) -> Result<(), String> {
    let mailbox = session.examine(folder).await.map_err(|e| e.to_string())?;
    let exists = mailbox.exists;
    match exchange {
        Exchange::List => {
            let set = format!("{}:{}", exists.saturating_sub(19).max(1), exists);
            let fetched: Vec<_> = session
                .fetch(set, summary_items())
                .await
                .map_err(|e| e.to_string())?
                .try_collect()
                .await
                .map_err(|e| e.to_string())?;
            if fetched.len() < 20.min(exists as usize) {
                return Err(format!("listed {} messages", fetched.len()));
            }
        }
        Exchange::Get(uid) => {
            let fetched: Vec<_> = session
                .uid_fetch(uid.to_string(), "(UID FLAGS BODY.PEEK[])")
                .await
                .map_err(|e| e.to_string())?
                .try_collect()
                .await
                .map_err(|e| e.to_string())?;
            if !fetched.iter().any(|f| f.body().is_some()) {
                return Err(format!("no message {uid}"));
            }
        }
        Exchange::Search => {
            let found = session
                .uid_search("SUBJECT \"invoice\"")
                .await
                .map_err(|e| e.to_string())?;
            let mut uids: Vec<u32> = found.into_iter().collect();
            uids.sort_unstable_by(|a, b| b.cmp(a));
            uids.truncate(20);
            let set = uids
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(",");
            let fetched: Vec<_> = session
                .uid_fetch(set, summary_items())
                .await
                .map_err(|e| e.to_string())?
                .try_collect()
                .await
                .map_err(|e| e.to_string())?;
            if fetched.is_empty() {
                return Err("search found nothing".into());
            }
        }
    }
    Ok(())
}

/// `n` warm exchanges on one session (after one untimed warm-up).
pub async fn warm(
    tls: &TlsSettings,
    port: u16,
    user: (&str, &str),
    folder: &str,
    exchange: Exchange,
    n: usize,
) -> Result<Vec<Duration>, String> {
    let mut session = login(tls, port, user.0, user.1).await?;
    run(&mut session, folder, exchange).await?;
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        run(&mut session, folder, exchange).await?;
        samples.push(start.elapsed());
    }
    session.logout().await.ok();
    Ok(samples)
}

/// `users.len()` cold exchanges: each logs in first (LOGOUT is not timed).
pub async fn cold(
    tls: &TlsSettings,
    port: u16,
    users: &[(String, String)],
    folder: &str,
    exchange: Exchange,
) -> Result<Vec<Duration>, String> {
    let mut samples = Vec::with_capacity(users.len());
    for (user, password) in users {
        let start = Instant::now();
        let mut session = login(tls, port, user, password).await?;
        run(&mut session, folder, exchange).await?;
        samples.push(start.elapsed());
        session.logout().await.ok();
    }
    Ok(samples)
}
