//! A scripted, hostile IMAP server on loopback, over plain TCP ([`HostileImap::start`]) or
//! implicit TLS with the stack's server certificate ([`HostileImap::start_tls`], as a
//! server typed on the login page must be): it greets, accepts any LOGIN, answers
//! SELECT/EXAMINE, LIST, STATUS, SEARCH and the rest like a tiny real server with one
//! message (UID 1) in INBOX, and answers one chosen command ([`Trigger`]) with a malicious
//! response ([`Answer`]). A real server cannot be made to send these.
//!
//! [`HostileImap::account`] is an account on the plain server, for
//! `TestServer::access_token_for`.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use mail_mcp::mail::{Endpoint, MailAccount, Security, ServerLogin};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use super::stack::Stack;

/// Which command gets the malicious answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// FETCH / UID FETCH: the answer is a FETCH response.
    Fetch,
    /// LIST: the answer is a LIST response.
    List,
    /// STATUS: the answer is a STATUS response.
    Status,
    /// CAPABILITY: the answer is a CAPABILITY response.
    Capability,
    /// LOGIN: the answer is an untagged response before the tagged OK (a server may send
    /// untagged data at any time): for [`Answer::Nested`], an unsolicited FETCH response
    /// with the deep BODYSTRUCTURE.
    Login,
}

/// What the malicious answer is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// A response nesting parenthesised lists this many levels deep (for FETCH, a
    /// BODYSTRUCTURE of that many multiparts), then the tagged OK.
    Nested(usize),
    /// A response line that never ends: bytes without CRLF until the client hangs up
    /// (at most 256 MiB).
    EndlessLine,
    /// A FETCH response announcing a literal of this many bytes, and then nothing.
    HugeLiteral(u64),
    /// For FETCH: the deep BODYSTRUCTURE of [`Answer::Nested`] behind an unknown item whose
    /// `({n}` looks like a literal spanning it; imap-proto reads that item up to its `)`
    /// and then parses the BODYSTRUCTURE.
    NestedBehindLiteral(usize),
    /// For FETCH: a response line that is not IMAP: [`JUNK_START`] (terminal control
    /// characters), this many `x`, then [`JUNK_END`], then the tagged OK.
    Junk(usize),
}

/// How an [`Answer::Junk`] line starts.
pub const JUNK_START: &str = "* 1 FETCH \x1b[2J\x07";
/// How an [`Answer::Junk`] line ends (before its CRLF).
pub const JUNK_END: &str = "END-OF-THE-HOSTILE-JUNK";

/// The running server; it stops when dropped.
pub struct HostileImap {
    pub port: u16,
    answers: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Drop for HostileImap {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl HostileImap {
    /// Listens on 127.0.0.1, port 0, and serves every connection with the same script,
    /// over plain TCP.
    pub async fn start(trigger: Trigger, answer: Answer) -> HostileImap {
        Self::listen(trigger, answer, None).await
    }

    /// Like [`start`](Self::start), over implicit TLS with the stack's server certificate
    /// (valid for 127.0.0.1, signed by the CA the app under test trusts).
    pub async fn start_tls(trigger: Trigger, answer: Answer, stack: &Stack) -> HostileImap {
        let tls_dir = stack
            .ca_file
            .parent()
            .expect("the CA file is in a directory");
        Self::listen(trigger, answer, Some(tls_acceptor(tls_dir))).await
    }

    async fn listen(trigger: Trigger, answer: Answer, tls: Option<TlsAcceptor>) -> HostileImap {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let answers = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&answers);
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let script = Script {
                    trigger,
                    answer,
                    answers: Arc::clone(&counter),
                };
                match &tls {
                    None => drop(tokio::spawn(script.serve(tcp))),
                    Some(acceptor) => {
                        let accepting = acceptor.accept(tcp);
                        tokio::spawn(async move {
                            if let Ok(stream) = accepting.await {
                                script.serve(stream).await;
                            }
                        });
                    }
                }
            }
        });
        HostileImap {
            port,
            answers,
            task,
        }
    }

    /// How many malicious answers were sent (so a test knows the attack was delivered).
    pub fn answers_sent(&self) -> usize {
        self.answers.load(Ordering::SeqCst)
    }

    /// An account whose IMAP server is this one (plain IMAP, as an operator may
    /// configure for a server on its own network); SMTP leads nowhere.
    pub fn account(&self) -> MailAccount {
        let login = |port| ServerLogin {
            endpoint: Endpoint::new("127.0.0.1", port, Security::Plain),
            username: "victim@example.test".into(),
            password: "any-password".into(),
        };
        MailAccount {
            email: "victim@example.test".into(),
            display_name: None,
            identities: Vec::new(),
            imap: login(self.port),
            smtp: login(1),
        }
    }
}

/// A TLS acceptor with the stack's `server.crt` and `server.key` from `tls_dir`.
pub fn tls_acceptor(tls_dir: &Path) -> TlsAcceptor {
    let certs = CertificateDer::pem_file_iter(tls_dir.join("server.crt"))
        .expect("the stack's server certificate")
        .collect::<Result<Vec<_>, _>>()
        .expect("PEM certificates");
    let key = PrivateKeyDer::from_pem_file(tls_dir.join("server.key")).expect("its key");
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("a valid certificate and key");
    TlsAcceptor::from(Arc::new(config))
}

struct Script {
    trigger: Trigger,
    answer: Answer,
    answers: Arc<AtomicUsize>,
}

impl Script {
    async fn serve(self, stream: impl AsyncRead + AsyncWrite + Send) {
        let (read, mut write) = tokio::io::split(stream);
        let mut lines = BufReader::new(read).lines();
        if send(&mut write, b"* OK hostile IMAP ready\r\n")
            .await
            .is_err()
        {
            return;
        }
        while let Ok(Some(line)) = lines.next_line().await {
            let mut words = line.split(' ');
            let tag = words.next().unwrap_or("*").to_string();
            let mut verb = words.next().unwrap_or("").to_ascii_uppercase();
            if verb == "UID" {
                verb = words.next().unwrap_or("").to_ascii_uppercase();
            }
            if self.triggered_by(&verb) {
                self.answers.fetch_add(1, Ordering::SeqCst);
                if self.attack(&mut write, &tag).await.is_err() {
                    return;
                }
                continue;
            }
            let reply = ordinary_reply(&verb, &tag);
            if send(&mut write, reply.as_bytes()).await.is_err() || verb == "LOGOUT" {
                return;
            }
        }
    }

    fn triggered_by(&self, verb: &str) -> bool {
        let trigger = match verb {
            "FETCH" => Trigger::Fetch,
            "LIST" => Trigger::List,
            "STATUS" => Trigger::Status,
            "CAPABILITY" => Trigger::Capability,
            "LOGIN" => Trigger::Login,
            _ => return false,
        };
        trigger == self.trigger
    }

    async fn attack(
        &self,
        write: &mut (impl AsyncWrite + Unpin),
        tag: &str,
    ) -> std::io::Result<()> {
        match self.answer {
            Answer::Nested(levels) => {
                let mut response = nested_response(self.trigger, levels);
                response.extend_from_slice(format!("{tag} OK done\r\n").as_bytes());
                send(write, &response).await
            }
            Answer::EndlessLine => {
                let start = match self.trigger {
                    Trigger::Fetch => "* 1 FETCH (UID 1 BODY[] \"",
                    Trigger::List => "* LIST () \"/\" \"",
                    Trigger::Status => "* STATUS \"",
                    Trigger::Capability | Trigger::Login => "* CAPABILITY IMAP4rev1 X",
                };
                send(write, start.as_bytes()).await?;
                let chunk = vec![b'x'; 64 * 1024];
                for _ in 0..4096 {
                    send(write, &chunk).await?;
                }
                Ok(())
            }
            Answer::NestedBehindLiteral(levels) => {
                let line = nested_response(Trigger::Fetch, levels);
                let body = line.strip_prefix(b"* 1 FETCH (").expect("a FETCH response");
                let hidden = &body[..body.len() - 3]; // up to the closing ")\r\n"
                let mut response =
                    format!("* 1 FETCH (X-NEW ({{{}}}\r\n) ", hidden.len() + 2).into_bytes();
                response.extend_from_slice(hidden);
                response.extend_from_slice(format!(")\r\n{tag} OK done\r\n").as_bytes());
                send(write, &response).await
            }
            Answer::Junk(filler) => {
                let junk = format!(
                    "{JUNK_START}{}{JUNK_END}\r\n{tag} OK done\r\n",
                    "x".repeat(filler)
                );
                send(write, junk.as_bytes()).await
            }
            Answer::HugeLiteral(size) => {
                let header = format!("* 1 FETCH (UID 1 BODY[] {{{size}}}\r\n");
                send(write, header.as_bytes()).await
            }
        }
    }
}

async fn send(write: &mut (impl AsyncWrite + Unpin), bytes: &[u8]) -> std::io::Result<()> {
    write.write_all(bytes).await?;
    write.flush().await
}

/// The untagged response nesting `levels` deep, with its CRLF.
fn nested_response(trigger: Trigger, levels: usize) -> Vec<u8> {
    let open = "(".repeat(levels);
    let close = ")".repeat(levels);
    let text = match trigger {
        Trigger::Fetch | Trigger::Login => {
            let leaf = r#"("text" "plain" NIL NIL NIL "7bit" 1 1)"#;
            let parts = r#" "mixed")"#.repeat(levels);
            format!("* 1 FETCH (UID 1 FLAGS () RFC822.SIZE 1 BODYSTRUCTURE {open}{leaf}{parts})")
        }
        Trigger::List => format!("* LIST ({open}{close}) \"/\" INBOX"),
        Trigger::Status => format!("* STATUS INBOX (MESSAGES {open}1{close})"),
        Trigger::Capability => format!("* CAPABILITY IMAP4rev1 {open}{close}"),
    };
    format!("{text}\r\n").into_bytes()
}

/// What a tiny well-behaved server with one message in INBOX answers.
fn ordinary_reply(verb: &str, tag: &str) -> String {
    let untagged = match verb {
        "CAPABILITY" => "* CAPABILITY IMAP4rev1\r\n",
        "SELECT" | "EXAMINE" => {
            "* FLAGS (\\Seen)\r\n* 1 EXISTS\r\n* 0 RECENT\r\n* OK [UIDVALIDITY 7] v\r\n\
             * OK [UIDNEXT 2] n\r\n"
        }
        "LIST" => "* LIST (\\HasNoChildren) \"/\" INBOX\r\n",
        "STATUS" => "* STATUS INBOX (MESSAGES 1 UNSEEN 0)\r\n",
        "SEARCH" => "* SEARCH 1\r\n",
        "FETCH" => "* 1 FETCH (UID 1 FLAGS ())\r\n",
        "LOGOUT" => "* BYE see you\r\n",
        _ => "",
    };
    format!("{untagged}{tag} OK done\r\n")
}
