//! The floor: the IMAP exchanges a tool call needs, done directly against Dovecot with
//! async-imap over the same TLS settings (rustls, the stack's CA, session resumption),
//! without HTTP, tokens, JSON or MIME parsing, and with the same FETCH items the server
//! uses:
//!
//! - list: `FETCH n-19:n (summary items)`.
//! - get: `UID FETCH uid (UID FLAGS RFC822.SIZE BODYSTRUCTURE BODY.PEEK[]<0.65536>)`.
//! - search: `UID SEARCH SUBJECT "invoice"`, `UID FETCH <newest 20> (summary items)`.
//!
//! Three ways to get there: [`Open::Noop`] on a session that has the folder open already
//! (exactly what a warm mail_mcp session sends: NOOP, then the commands), [`Open::Examine`]
//! on a logged-in session (EXAMINE, then the commands: what a client that keeps no folder
//! state pays), and cold (TCP + TLS + greeting + LOGIN + EXAMINE, then the commands:
//! what a first call pays).

use std::time::{Duration, Instant};

use async_imap::{Client, Session};
use futures::TryStreamExt;
use mail_mcp::mail::TlsSettings;
use mail_mcp::mail::message::headers::SUMMARY_FIELDS;
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

pub type ImapSession = Session<TlsStream<TcpStream>>;

/// A series stops after this long once it has [`MIN_SAMPLES`] (slow searches in big folders).
pub const SERIES_BUDGET: Duration = Duration::from_secs(8);
pub const MIN_SAMPLES: usize = 20;

/// Which exchange.
#[derive(Clone, Copy, Debug)]
pub enum Exchange {
    List,
    Get(u32),
    Search,
}

/// How the folder is reached before the exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Open {
    /// The folder is open already: NOOP (which also reports new mail), then the commands.
    Noop,
    /// EXAMINE the folder, then the commands.
    Examine,
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

/// Runs one exchange on a logged-in session; with [`Open::Noop`] the folder must be open
/// already and hold `exists` messages.
pub async fn run(
    session: &mut ImapSession,
    folder: &str,
    exchange: Exchange,
    open: Open,
    exists: &mut u32,
) -> Result<(), String> {
    match open {
        Open::Examine => {
            *exists = session
                .examine(folder)
                .await
                .map_err(|e| e.to_string())?
                .exists;
        }
        Open::Noop => session.noop().await.map_err(|e| e.to_string())?,
    }
    let exists = *exists;
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
                .uid_fetch(
                    uid.to_string(),
                    "(UID FLAGS RFC822.SIZE BODYSTRUCTURE BODY.PEEK[]<0.65536>)",
                )
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

/// A logged-in session with `folder` open (one untimed exchange done), for warm samples.
pub struct Warm {
    session: ImapSession,
    folder: String,
    exchange: Exchange,
    open: Open,
    exists: u32,
}

impl Warm {
    pub async fn new(
        tls: &TlsSettings,
        port: u16,
        user: (&str, &str),
        folder: &str,
        exchange: Exchange,
        open: Open,
    ) -> Result<Warm, String> {
        let mut session = login(tls, port, user.0, user.1).await?;
        let mut exists = 0;
        run(&mut session, folder, exchange, Open::Examine, &mut exists).await?;
        Ok(Warm {
            session,
            folder: folder.to_owned(),
            exchange,
            open,
            exists,
        })
    }

    /// One timed exchange.
    pub async fn sample(&mut self) -> Result<Duration, String> {
        let start = Instant::now();
        run(
            &mut self.session,
            &self.folder,
            self.exchange,
            self.open,
            &mut self.exists,
        )
        .await?;
        Ok(start.elapsed())
    }

    pub async fn close(mut self) {
        self.session.logout().await.ok();
    }
}

/// One cold exchange: log in, EXAMINE, the commands (LOGOUT is not timed).
pub async fn cold(
    tls: &TlsSettings,
    port: u16,
    user: &(String, String),
    folder: &str,
    exchange: Exchange,
) -> Result<Duration, String> {
    let start = Instant::now();
    let mut session = login(tls, port, &user.0, &user.1).await?;
    run(&mut session, folder, exchange, Open::Examine, &mut 0).await?;
    let elapsed = start.elapsed();
    session.logout().await.ok();
    Ok(elapsed)
}
