//! A scripted, hostile IMAP server on loopback (plain TCP): it greets, accepts any LOGIN,
//! answers SELECT/EXAMINE, LIST, STATUS, SEARCH and the rest like a tiny real server with
//! one message (UID 1) in INBOX, and answers one chosen command ([`Trigger`]) with a
//! malicious response ([`Answer`]). A real server cannot be made to send these.
//!
//! [`HostileImap::account`] is an account on it, for `TestServer::access_token_for`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use mail_mcp::mail::{Endpoint, MailAccount, Security, ServerLogin};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

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
}

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
    /// Listens on 127.0.0.1, port 0, and serves every connection with the same script.
    pub async fn start(trigger: Trigger, answer: Answer) -> HostileImap {
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
                tokio::spawn(script.serve(tcp));
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
            imap: login(self.port),
            smtp: login(1),
        }
    }
}

struct Script {
    trigger: Trigger,
    answer: Answer,
    answers: Arc<AtomicUsize>,
}

impl Script {
    async fn serve(self, tcp: TcpStream) {
        let (read, mut write) = tcp.into_split();
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
            _ => return false,
        };
        trigger == self.trigger
    }

    async fn attack(&self, write: &mut OwnedWriteHalf, tag: &str) -> std::io::Result<()> {
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
                    Trigger::Capability => "* CAPABILITY IMAP4rev1 X",
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
            Answer::HugeLiteral(size) => {
                let header = format!("* 1 FETCH (UID 1 BODY[] {{{size}}}\r\n");
                send(write, header.as_bytes()).await
            }
        }
    }
}

async fn send(write: &mut OwnedWriteHalf, bytes: &[u8]) -> std::io::Result<()> {
    write.write_all(bytes).await?;
    write.flush().await
}

/// The untagged response nesting `levels` deep, with its CRLF.
fn nested_response(trigger: Trigger, levels: usize) -> Vec<u8> {
    let open = "(".repeat(levels);
    let close = ")".repeat(levels);
    let text = match trigger {
        Trigger::Fetch => {
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
