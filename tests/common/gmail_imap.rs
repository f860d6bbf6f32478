//! A scripted stand-in for Gmail's IMAP server, over implicit TLS with the stack's
//! certificate: Gmail cannot run locally, and no other server speaks its extension
//! (`X-GM-EXT-1`, <https://developers.google.com/gmail/imap/imap-extensions>). It answers
//! as that document shows Gmail doing, for the commands mail_mcp sends:
//!
//! - CAPABILITY with `X-GM-EXT-1` (and of Gmail's other capabilities those this script
//!   implements: UIDPLUS, SPECIAL-USE, LIST-EXTENDED, ID, ...);
//! - LIST with Gmail's folders and their special-use attributes (`[Gmail]/All Mail` is
//!   `\All`, `[Gmail]/Sent Mail` `\Sent`, ...), always included as Gmail does;
//! - a message's folders follow from its labels, as on Gmail: INBOX holds the messages
//!   labelled `\Inbox`, Sent Mail those labelled `\Sent`, All Mail every message; each
//!   folder numbers its messages with its own UIDs;
//! - FETCH / UID FETCH of UID, FLAGS, RFC822.SIZE, INTERNALDATE, BODYSTRUCTURE (text/plain
//!   messages), BODY.PEEK[HEADER.FIELDS (...)], BODY.PEEK[] (also partial), and Gmail's
//!   `X-GM-LABELS` (a list of flags for system labels, astrings for the rest, e.g.
//!   `X-GM-LABELS (\Inbox \Important "Muy Importante")`), `X-GM-THRID` and `X-GM-MSGID`;
//! - UID SEARCH with `ALL`, `UNDELETED`, `X-GM-THRID <id>`, `X-GM-LABELS <label>`, and
//!   `X-GM-RAW "<gmail query>"` for the operators `label:`, `from:` and plain words (the
//!   subset this script understands of Gmail's search syntax); any other key matches
//!   nothing, so nothing here pretends to be a real search;
//! - UID STORE `+X-GM-LABELS (...)` / `-X-GM-LABELS (...)`, answering with the message's
//!   labels in an untagged FETCH as Gmail does, and `±FLAGS`.
//!
//! Every command line received is recorded ([`GmailImap::commands`]), so a test can show
//! which path mail_mcp took.

use std::sync::{Arc, Mutex};

use mail_mcp::mail::{Endpoint, MailAccount, Security, ServerLogin};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::hostile_imap::tls_acceptor;
use super::stack::Stack;

/// What Gmail's CAPABILITY says, reduced to what this script implements.
const CAPABILITIES: &str = "IMAP4rev1 UNSELECT IDLE NAMESPACE ID XLIST CHILDREN X-GM-EXT-1 \
                            UIDPLUS ENABLE LIST-EXTENDED SPECIAL-USE";

/// Gmail's folders: name and LIST attributes.
const FOLDERS: [(&str, &str); 9] = [
    ("INBOX", "\\HasNoChildren"),
    ("[Gmail]", "\\HasChildren \\Noselect"),
    ("[Gmail]/All Mail", "\\All \\HasNoChildren"),
    ("[Gmail]/Drafts", "\\Drafts \\HasNoChildren"),
    ("[Gmail]/Important", "\\HasNoChildren \\Important"),
    ("[Gmail]/Sent Mail", "\\HasNoChildren \\Sent"),
    ("[Gmail]/Spam", "\\HasNoChildren \\Junk"),
    ("[Gmail]/Starred", "\\Flagged \\HasNoChildren"),
    ("[Gmail]/Trash", "\\HasNoChildren \\Trash"),
];

/// The UIDVALIDITY every folder reports.
const UID_VALIDITY: u32 = 11;

/// One message of the account.
#[derive(Clone, Debug)]
pub struct GmailMessage {
    pub raw: Vec<u8>,
    /// Its labels as Gmail writes them: `\Inbox`, `\Sent`, `\Important`, `Work`, ...
    pub labels: Vec<String>,
    pub thread_id: u64,
    pub message_id: u64,
    /// UIDs per folder, given when the message is added (a folder keeps a message's UID).
    uids: Vec<(String, u32)>,
}

#[derive(Default)]
struct Account {
    messages: Vec<GmailMessage>,
    next_uid: Vec<(String, u32)>,
}

impl Account {
    fn next_uid(&mut self, folder: &str) -> u32 {
        match self.next_uid.iter_mut().find(|(f, _)| f == folder) {
            Some((_, next)) => {
                *next += 1;
                *next - 1
            }
            None => {
                self.next_uid.push((folder.to_owned(), 2));
                1
            }
        }
    }

    /// The messages of `folder`, by ascending UID there.
    fn folder(&self, folder: &str) -> Vec<(u32, usize)> {
        let mut found: Vec<(u32, usize)> = self
            .messages
            .iter()
            .enumerate()
            .filter(|(_, m)| in_folder(m, folder))
            .filter_map(|(i, m)| Some((uid_in(m, folder)?, i)))
            .collect();
        found.sort_unstable();
        found
    }
}

fn in_folder(message: &GmailMessage, folder: &str) -> bool {
    let has = |label: &str| message.labels.iter().any(|l| l == label);
    match folder {
        "[Gmail]/All Mail" => true,
        "INBOX" => has("\\Inbox"),
        "[Gmail]/Sent Mail" => has("\\Sent"),
        "[Gmail]/Important" => has("\\Important"),
        "[Gmail]/Starred" => has("\\Starred"),
        _ => false,
    }
}

fn uid_in(message: &GmailMessage, folder: &str) -> Option<u32> {
    message
        .uids
        .iter()
        .find(|(f, _)| f == folder)
        .map(|(_, u)| *u)
}

/// The running server; it stops when dropped.
pub struct GmailImap {
    pub port: u16,
    account: Arc<Mutex<Account>>,
    commands: Arc<Mutex<Vec<String>>>,
    task: JoinHandle<()>,
}

impl Drop for GmailImap {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl GmailImap {
    /// Listens on 127.0.0.1 (port 0) over implicit TLS with the stack's certificate.
    pub async fn start(stack: &Stack) -> GmailImap {
        let tls_dir = stack.ca_file.parent().expect("the CA file's directory");
        let acceptor = tls_acceptor(tls_dir);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let account = Arc::new(Mutex::new(Account::default()));
        let commands = Arc::new(Mutex::new(Vec::new()));
        let (shared, log) = (Arc::clone(&account), Arc::clone(&commands));
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let accepting = acceptor.accept(tcp);
                let (shared, log) = (Arc::clone(&shared), Arc::clone(&log));
                tokio::spawn(async move {
                    if let Ok(stream) = accepting.await {
                        serve(stream, shared, log).await;
                    }
                });
            }
        });
        GmailImap {
            port,
            account,
            commands,
            task,
        }
    }

    /// Adds a message with `labels` to conversation `thread_id`; it gets a UID in All
    /// Mail and in each folder its labels put it in. Returns its UIDs (folder, uid).
    pub fn add(&self, raw: &[u8], labels: &[&str], thread_id: u64) -> Vec<(String, u32)> {
        let mut account = self.account.lock().unwrap();
        let mut message = GmailMessage {
            raw: raw.to_vec(),
            labels: labels.iter().map(|l| l.to_string()).collect(),
            thread_id,
            message_id: 1_600_000_000_000_000_000 + account.messages.len() as u64,
            uids: Vec::new(),
        };
        for (folder, _) in FOLDERS {
            if in_folder(&message, folder) {
                let uid = account.next_uid(folder);
                message.uids.push((folder.to_owned(), uid));
            }
        }
        let uids = message.uids.clone();
        account.messages.push(message);
        uids
    }

    /// The labels of the message whose All Mail UID is `uid`.
    pub fn labels_of(&self, all_mail_uid: u32) -> Vec<String> {
        let account = self.account.lock().unwrap();
        account
            .messages
            .iter()
            .find(|m| uid_in(m, "[Gmail]/All Mail") == Some(all_mail_uid))
            .map(|m| m.labels.clone())
            .unwrap_or_default()
    }

    /// Every command line received so far (LOGIN lines with the password left out).
    pub fn commands(&self) -> Vec<String> {
        self.commands.lock().unwrap().clone()
    }

    /// An account on this server (implicit TLS, the stack's CA); SMTP leads nowhere.
    pub fn account(&self) -> MailAccount {
        let login = |port| ServerLogin {
            endpoint: Endpoint::new("127.0.0.1", port, Security::Tls),
            username: "someone@gmail.test".into(),
            password: "app-password".into(),
        };
        MailAccount {
            email: "someone@gmail.test".into(),
            display_name: None,
            identities: Vec::new(),
            imap: login(self.port),
            smtp: login(1),
        }
    }
}

/// One connection: greeting, then command by command.
async fn serve(
    stream: impl AsyncRead + AsyncWrite + Send,
    account: Arc<Mutex<Account>>,
    log: Arc<Mutex<Vec<String>>>,
) {
    let (read, mut write) = tokio::io::split(stream);
    let mut lines = BufReader::new(read).lines();
    let greeting = b"* OK Gimap ready for requests from 127.0.0.1 stand-in\r\n";
    if send(&mut write, greeting).await.is_err() {
        return;
    }
    let mut selected: Option<String> = None;
    while let Ok(Some(line)) = lines.next_line().await {
        let words = tokens(&line);
        let (tag, verb) = match words.as_slice() {
            [tag, verb, ..] => (tag.clone(), verb.to_ascii_uppercase()),
            _ => continue,
        };
        log.lock().unwrap().push(match verb.as_str() {
            "LOGIN" => format!("{tag} LOGIN"),
            _ => line.clone(),
        });
        let (uid, args) = match verb.as_str() {
            "UID" => (true, &words[2..]),
            _ => (false, &words[1..]),
        };
        let verb = args
            .first()
            .map(|v| v.to_ascii_uppercase())
            .unwrap_or_default();
        let reply = {
            let mut account = account.lock().unwrap();
            answer(&mut account, &mut selected, &tag, &verb, &args[1..], uid)
        };
        if send(&mut write, &reply).await.is_err() || verb == "LOGOUT" {
            return;
        }
    }
}

/// The answer to one command, tagged completion included.
fn answer(
    account: &mut Account,
    selected: &mut Option<String>,
    tag: &str,
    verb: &str,
    args: &[String],
    uid: bool,
) -> Vec<u8> {
    let ok = |text: &str| format!("{tag} OK {text}\r\n").into_bytes();
    match verb {
        "CAPABILITY" => format!("* CAPABILITY {CAPABILITIES}\r\n{tag} OK Success\r\n").into_bytes(),
        "LOGIN" => format!(
            "* CAPABILITY {CAPABILITIES}\r\n{tag} OK someone@gmail.test authenticated (Success)\r\n"
        )
        .into_bytes(),
        "ID" => {
            format!("* ID (\"name\" \"GImap\" \"vendor\" \"Google, Inc.\")\r\n{tag} OK Success\r\n")
                .into_bytes()
        }
        "NOOP" | "ENABLE" | "UNSELECT" | "CLOSE" => ok("Success"),
        "LOGOUT" => format!("* BYE LOGOUT Requested\r\n{tag} OK 73 good day\r\n").into_bytes(),
        "LIST" => {
            let mut out = String::new();
            for (name, attributes) in FOLDERS {
                out.push_str(&format!("* LIST ({attributes}) \"/\" \"{name}\"\r\n"));
            }
            out.push_str(&format!("{tag} OK Success\r\n"));
            out.into_bytes()
        }
        "SELECT" | "EXAMINE" => {
            let name = args.first().cloned().unwrap_or_default();
            if !FOLDERS
                .iter()
                .any(|(f, a)| *f == name && !a.contains("Noselect"))
            {
                *selected = None;
                return format!("{tag} NO [NONEXISTENT] Unknown Mailbox: {name}\r\n").into_bytes();
            }
            let exists = account.folder(&name).len();
            let next = account.folder(&name).last().map_or(1, |(u, _)| u + 1);
            *selected = Some(name);
            let mode = if verb == "SELECT" {
                "READ-WRITE"
            } else {
                "READ-ONLY"
            };
            format!(
                "* FLAGS (\\Answered \\Flagged \\Draft \\Deleted \\Seen)\r\n* {exists} EXISTS\r\n\
                 * 0 RECENT\r\n* OK [UIDVALIDITY {UID_VALIDITY}] UIDs valid.\r\n\
                 * OK [UIDNEXT {next}] Predicted next UID.\r\n{tag} OK [{mode}] {verb} Success\r\n"
            )
            .into_bytes()
        }
        "SEARCH" | "FETCH" | "STORE" => {
            let Some(folder) = selected.clone() else {
                return format!("{tag} BAD Command in invalid state\r\n").into_bytes();
            };
            let listed = account.folder(&folder);
            let mut out = match verb {
                "SEARCH" => search(account, &listed, args, uid),
                "FETCH" => fetch(account, &listed, args, uid),
                _ => store(account, &listed, args, uid),
            };
            out.extend_from_slice(format!("{tag} OK Success\r\n").as_bytes());
            out
        }
        _ => format!("{tag} BAD Unknown command\r\n").into_bytes(),
    }
}

/// The (sequence number, UID, message index) of `listed` that `set` names.
fn named(listed: &[(u32, usize)], set: &str, uid: bool) -> Vec<(usize, u32, usize)> {
    let max = match uid {
        true => listed.last().map_or(0, |(u, _)| *u),
        false => listed.len() as u32,
    };
    let number = |s: &str| match s {
        "*" => max,
        _ => s.parse().unwrap_or(0),
    };
    let ranges: Vec<(u32, u32)> = set
        .split(',')
        .map(|part| match part.split_once(':') {
            Some((a, b)) => {
                let (a, b) = (number(a), number(b));
                (a.min(b), a.max(b))
            }
            None => (number(part), number(part)),
        })
        .collect();
    listed
        .iter()
        .enumerate()
        .map(|(i, (u, m))| (i + 1, *u, *m))
        .filter(|(seq, u, _)| {
            let n = if uid { *u } else { *seq as u32 };
            ranges.iter().any(|(a, b)| (*a..=*b).contains(&n))
        })
        .collect()
}

fn search(account: &Account, listed: &[(u32, usize)], args: &[String], uid: bool) -> Vec<u8> {
    let matches = |m: &GmailMessage| -> bool {
        let mut words = args.iter();
        let mut all = true;
        while let Some(key) = words.next() {
            let value = || words.clone().next().cloned().unwrap_or_default();
            all &= match key.to_ascii_uppercase().as_str() {
                "ALL" | "UNDELETED" => true,
                "X-GM-THRID" => value().parse() == Ok(m.thread_id),
                "X-GM-LABELS" => m.labels.iter().any(|l| *l == value()),
                "X-GM-RAW" => raw_matches(m, &value()),
                _ => false,
            };
            if matches!(
                key.to_ascii_uppercase().as_str(),
                "X-GM-THRID" | "X-GM-LABELS" | "X-GM-RAW"
            ) {
                words.next();
            }
        }
        all
    };
    let found: Vec<String> = listed
        .iter()
        .enumerate()
        .filter(|(_, (_, i))| matches(&account.messages[*i]))
        .map(|(seq, (u, _))| {
            if uid {
                u.to_string()
            } else {
                (seq + 1).to_string()
            }
        })
        .collect();
    format!("* SEARCH {}\r\n", found.join(" "))
        .replace("SEARCH \r\n", "SEARCH\r\n")
        .into_bytes()
}

/// The subset of Gmail's search syntax understood here: `label:x`, `from:x` and words.
fn raw_matches(message: &GmailMessage, query: &str) -> bool {
    let text = String::from_utf8_lossy(&message.raw).to_lowercase();
    query
        .split_whitespace()
        .all(|term| match term.split_once(':') {
            Some(("label", label)) => message.labels.iter().any(|l| l.eq_ignore_ascii_case(label)),
            Some(("from", who)) => text
                .lines()
                .any(|l| l.starts_with("from:") && l.contains(&who.to_lowercase())),
            _ => text.contains(&term.to_lowercase()),
        })
}

fn fetch(account: &Account, listed: &[(u32, usize)], args: &[String], uid: bool) -> Vec<u8> {
    let set = args.first().cloned().unwrap_or_default();
    let items = args[1..].join(" ").to_ascii_uppercase();
    let mut out = Vec::new();
    for (seq, u, index) in named(listed, &set, uid) {
        let message = &account.messages[index];
        let mut parts: Vec<Vec<u8>> = vec![format!("UID {u}").into_bytes()];
        let raw = &message.raw;
        let wanted = |item: &str| items.contains(item);
        if wanted("FLAGS") {
            parts.push(b"FLAGS ()".to_vec());
        }
        if wanted("RFC822.SIZE") {
            parts.push(format!("RFC822.SIZE {}", raw.len()).into_bytes());
        }
        if wanted("INTERNALDATE") {
            parts.push(b"INTERNALDATE \"02-Mar-2026 10:00:00 +0000\"".to_vec());
        }
        if wanted("BODYSTRUCTURE") {
            let body = body_of(raw);
            let lines = body.split(|b| *b == b'\n').count();
            parts.push(
                format!(
                    "BODYSTRUCTURE (\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" {} {lines} NIL NIL NIL NIL)",
                    body.len()
                )
                .into_bytes(),
            );
        }
        if let Some(start) = items.find("HEADER.FIELDS (") {
            let rest = &items[start + "HEADER.FIELDS (".len()..];
            let fields = &rest[..rest.find(')').unwrap_or(rest.len())];
            let names: Vec<&str> = fields.split_whitespace().collect();
            let header = header_fields(raw, &names);
            parts.push(literal(&format!("BODY[HEADER.FIELDS ({fields})]"), &header));
        }
        if let Some(start) = items.find("BODY.PEEK[]") {
            let after = &items[start + "BODY.PEEK[]".len()..];
            match after.strip_prefix("<0.") {
                Some(partial) => {
                    let n: usize = partial
                        .split('>')
                        .next()
                        .and_then(|n| n.parse().ok())
                        .unwrap_or(raw.len());
                    parts.push(literal("BODY[]<0>", &raw[..n.min(raw.len())]));
                }
                None => parts.push(literal("BODY[]", raw)),
            }
        }
        if wanted("X-GM-LABELS") {
            parts.push(format!("X-GM-LABELS ({})", labels_list(&message.labels)).into_bytes());
        }
        if wanted("X-GM-THRID") {
            parts.push(format!("X-GM-THRID {}", message.thread_id).into_bytes());
        }
        if wanted("X-GM-MSGID") {
            parts.push(format!("X-GM-MSGID {}", message.message_id).into_bytes());
        }
        out.extend_from_slice(format!("* {seq} FETCH (").as_bytes());
        out.extend_from_slice(&parts.join(&b' '));
        out.extend_from_slice(b")\r\n");
    }
    out
}

fn store(account: &mut Account, listed: &[(u32, usize)], args: &[String], uid: bool) -> Vec<u8> {
    let set = args.first().cloned().unwrap_or_default();
    let item = args
        .get(1)
        .map(|i| i.to_ascii_uppercase())
        .unwrap_or_default();
    let values: Vec<String> = args[2.min(args.len())..]
        .iter()
        .map(|v| v.trim_matches(|c| c == '(' || c == ')').to_owned())
        .filter(|v| !v.is_empty())
        .collect();
    let mut out = Vec::new();
    for (seq, u, index) in named(listed, &set, uid) {
        let message = &mut account.messages[index];
        if item.ends_with("X-GM-LABELS") || item.ends_with("X-GM-LABELS.SILENT") {
            let adding = item.starts_with('+');
            for value in &values {
                message.labels.retain(|l| l != value);
                if adding {
                    message.labels.push(value.clone());
                }
            }
            out.extend_from_slice(
                format!(
                    "* {seq} FETCH (X-GM-LABELS ({}) UID {u})\r\n",
                    labels_list(&message.labels)
                )
                .as_bytes(),
            );
        }
    }
    out
}

/// Labels as Gmail writes them in a FETCH: system labels as flags, the rest as atoms or
/// quoted strings.
fn labels_list(labels: &[String]) -> String {
    labels
        .iter()
        .map(|l| {
            let atom = !l.is_empty()
                && l.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '\\' || c == '-' || c == '_');
            match atom {
                true => l.clone(),
                false => format!("\"{}\"", l.replace('\\', "\\\\").replace('"', "\\\"")),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn literal(name: &str, data: &[u8]) -> Vec<u8> {
    let mut out = format!("{name} {{{}}}\r\n", data.len()).into_bytes();
    out.extend_from_slice(data);
    out
}

fn body_of(raw: &[u8]) -> &[u8] {
    raw.windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(&raw[raw.len()..], |at| &raw[at + 4..])
}

/// The header lines of `raw` named in `names` (upper case), with their continuations,
/// and the empty line that ends a header.
fn header_fields(raw: &[u8], names: &[&str]) -> Vec<u8> {
    let header_end = raw.len() - body_of(raw).len();
    let text = String::from_utf8_lossy(&raw[..header_end]);
    let mut out = String::new();
    let mut keep = false;
    for line in text.split("\r\n") {
        if line.starts_with([' ', '\t']) {
            if keep {
                out.push_str(line);
                out.push_str("\r\n");
            }
            continue;
        }
        let name = line.split(':').next().unwrap_or("").to_ascii_uppercase();
        keep = names.contains(&name.as_str());
        if keep {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    out.push_str("\r\n");
    out.into_bytes()
}

/// The words of a command line split at spaces, quoted strings unquoted (a quoted string
/// inside a word, as in `("Muy Importante")`, is unquoted in place; parentheses stay
/// attached to their words).
fn tokens(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut chars = line.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c == ' ' {
            chars.next();
            continue;
        }
        let mut word = String::new();
        if c == '"' {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => word.extend(chars.next()),
                    '"' => break,
                    c => word.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ' ' {
                    break;
                }
                if c == '"' {
                    chars.next();
                    while let Some(c) = chars.next() {
                        match c {
                            '\\' => word.extend(chars.next()),
                            '"' => break,
                            c => word.push(c),
                        }
                    }
                    continue;
                }
                word.push(c);
                chars.next();
            }
        }
        words.push(word);
    }
    words
}

async fn send(write: &mut (impl AsyncWrite + Unpin), bytes: &[u8]) -> std::io::Result<()> {
    write.write_all(bytes).await?;
    write.flush().await
}
