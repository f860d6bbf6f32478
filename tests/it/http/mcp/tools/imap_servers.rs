//! The tools against a second kind of IMAP server: the stack's "basic" Dovecot, which
//! offers no MOVE, no UIDPLUS and no SPECIAL-USE, separates levels with '.', keeps every
//! personal folder below `INBOX.` and refuses folders at the top level, as Courier and
//! many hosted servers do (folders named as Exchange names them: "Sent Items", "Deleted
//! Items", "Junk E-mail"). Every test checks the mailbox itself over plain IMAP.

use crate::common;

use async_imap::Session;
use futures::TryStreamExt;
use rustls_pki_types::ServerName;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use common::app::TestServer;
use common::{TestUser, stack};

type BasicSession = Session<TlsStream<TcpStream>>;

/// The folders an Exchange-style account has on the basic server.
const EXCHANGE_FOLDERS: [&str; 4] = [
    "INBOX.Sent Items",
    "INBOX.Deleted Items",
    "INBOX.Drafts",
    "INBOX.Junk E-mail",
];

/// `user` logged in to the basic server, as another mail client.
async fn basic_session(user: &TestUser) -> BasicSession {
    let stack = stack();
    let tcp = TcpStream::connect((stack.host.as_str(), stack.basic_imaps_port()))
        .await
        .expect("the basic server answers");
    let name = ServerName::try_from("localhost").unwrap();
    let tls = TlsConnector::from(stack.tls_config())
        .connect(name, tcp)
        .await
        .unwrap();
    let mut client = async_imap::Client::new(tls);
    client.read_response().await.unwrap().unwrap();
    client
        .login(&user.email, &user.password)
        .await
        .map_err(|(e, _)| e)
        .expect("login to the basic server")
}

/// A small message with a unique Message-ID, and that Message-ID.
fn message(subject: &str) -> (Vec<u8>, String) {
    let id = common::unique_message_id();
    (common::small_message_with_id(subject, &id), id)
}

/// A running app, a fresh user on the basic server with `folders` created and one message
/// per subject in INBOX (UIDs 1, 2, ...), their Message-IDs, and an access token.
struct Account {
    server: TestServer,
    user: TestUser,
    token: String,
    message_ids: Vec<String>,
}

impl Account {
    async fn open(prefix: &str, folders: &[&str], subjects: &[&str]) -> Account {
        let stack = stack();
        let server = TestServer::start(stack, &[]).await;
        let user = stack.new_user(prefix);
        let mut session = basic_session(&user).await;
        for folder in folders {
            session.create(folder).await.unwrap();
        }
        let mut message_ids = Vec::new();
        for subject in subjects {
            let (raw, id) = message(subject);
            session.append("INBOX", None, None, &raw).await.unwrap();
            message_ids.push(id);
        }
        session.logout().await.ok();
        let token = server.access_token_for(stack.basic_mail_account(&user));
        Account {
            server,
            user,
            token,
            message_ids,
        }
    }

    async fn call(&self, tool: &str, arguments: Value) -> Value {
        self.server.call_tool(&self.token, tool, arguments).await
    }

    async fn call_ok(&self, tool: &str, arguments: Value) -> Value {
        self.server.call_tool_ok(&self.token, tool, arguments).await
    }

    /// Every folder name LIST reports.
    async fn folders(&self) -> Vec<String> {
        let mut session = basic_session(&self.user).await;
        let names = common::list_folder_names(&mut session).await;
        session.logout().await.ok();
        names
    }

    /// (UID, flags) of every message in `folder` whose Message-ID is `message_id`.
    async fn find(&self, folder: &str, message_id: &str) -> Vec<(u32, Vec<String>)> {
        let mut session = basic_session(&self.user).await;
        session.examine(folder).await.unwrap();
        let query = format!("HEADER Message-ID \"{message_id}\"");
        let uids = session.uid_search(&query).await.unwrap();
        let mut found = Vec::new();
        for uid in uids {
            let fetches: Vec<_> = session
                .uid_fetch(uid.to_string(), "(UID FLAGS)")
                .await
                .unwrap()
                .try_collect()
                .await
                .unwrap();
            for fetch in fetches {
                let flags = fetch.flags().map(|f| format!("{f:?}")).collect();
                found.push((fetch.uid.unwrap(), flags));
            }
        }
        session.logout().await.ok();
        found
    }

    /// The UIDs of the messages in `folder`.
    async fn uids(&self, folder: &str) -> Vec<u32> {
        let mut session = basic_session(&self.user).await;
        session.examine(folder).await.unwrap();
        let mut uids: Vec<u32> = session
            .uid_search("ALL")
            .await
            .unwrap()
            .into_iter()
            .collect();
        session.logout().await.ok();
        uids.sort_unstable();
        uids
    }

    /// Flags `uid` in INBOX \Deleted, as another mail client would (without expunging).
    async fn flag_deleted_elsewhere(&self, uid: u32) {
        let mut session = basic_session(&self.user).await;
        session.select("INBOX").await.unwrap();
        let _: Vec<_> = session
            .uid_store(uid.to_string(), "+FLAGS (\\Deleted)")
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        session.logout().await.ok();
    }
}

fn is_deleted(flags: &[String]) -> bool {
    flags.iter().any(|f| f == "Deleted")
}

/// The server really is the other kind: no MOVE, UIDPLUS, SPECIAL-USE; no top-level
/// folders. (Guards the other tests against a stack that quietly became the first one.)
#[tokio::test]
async fn the_basic_server_lacks_the_extensions() {
    let account = Account::open("basic-caps", &[], &[]).await;
    let mut session = basic_session(&account.user).await;
    let caps = session.capabilities().await.unwrap();
    for missing in ["MOVE", "UIDPLUS", "SPECIAL-USE"] {
        assert!(!caps.has_str(missing), "{missing} is offered");
    }
    assert!(session.create("Projects").await.is_err());
    session.logout().await.ok();
}

/// A sent message's copy goes into the existing "INBOX.Sent Items" (found by its usual
/// name inside the INBOX. namespace), under the UID the tool reports.
#[tokio::test]
async fn sending_files_the_copy_in_sent_items() {
    let account = Account::open("basic-send", &EXCHANGE_FOLDERS, &[]).await;
    let bob = stack().new_user("basic-bob");
    let report = account
        .call_ok(
            "send_mail_message",
            json!({"to": bob.email, "subject": "Plans", "text_body": "Hello"}),
        )
        .await;
    assert_eq!(report["copy_error"], Value::Null, "{report}");
    assert_eq!(report["saved_to"]["folder"], "INBOX.Sent Items", "{report}");
    let message_id = report["message_id"].as_str().unwrap();
    let found = account.find("INBOX.Sent Items", message_id).await;
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(report["saved_to"]["uid"], found[0].0);
}

/// With no Sent folder at all, one is created in the personal namespace (`INBOX.Sent`,
/// since the top level is refused), the copy is stored there and the report says so.
#[tokio::test]
async fn sending_without_a_sent_folder_creates_inbox_sent() {
    let account = Account::open("basic-nosent", &[], &[]).await;
    let bob = stack().new_user("basic-bob");
    let report = account
        .call_ok(
            "send_mail_message",
            json!({"to": bob.email, "subject": "First", "text_body": "Hello"}),
        )
        .await;
    assert_eq!(report["saved_to"]["folder"], "INBOX.Sent", "{report}");
    let note = report["saved_to"]["note"].as_str().unwrap_or_default();
    assert!(note.contains("was created"), "{report}");
    assert!(account.folders().await.contains(&"INBOX.Sent".to_owned()));
    let found = account
        .find("INBOX.Sent", report["message_id"].as_str().unwrap())
        .await;
    assert_eq!(
        found.iter().map(|f| f.0).collect::<Vec<_>>(),
        [report["saved_to"]["uid"].as_u64().unwrap() as u32]
    );
}

/// Without MOVE and UIDPLUS a move is COPY + \Deleted + EXPUNGE (safe: nothing else is
/// flagged); the new UID is found by Message-ID and matches the copy in the destination;
/// the other message stays, unflagged. The destination may be named without `INBOX.`.
#[tokio::test]
async fn moving_copies_expunges_and_reports_the_new_uid() {
    let account = Account::open("basic-move", &["INBOX.Archive"], &["one", "two"]).await;
    let moved = account
        .call_ok(
            "move_mail_message",
            json!({"folder": "INBOX", "uid": 1, "destination": "Archive"}),
        )
        .await;
    assert_eq!(moved["destination"], "INBOX.Archive", "{moved}");
    assert_eq!(moved["method"], "copy_expunge", "{moved}");
    let copies = account.find("INBOX.Archive", &account.message_ids[0]).await;
    assert_eq!(copies.len(), 1, "{copies:?}");
    assert_eq!(moved["moved"][0]["new_uid"], copies[0].0, "{moved}");
    assert_eq!(account.uids("INBOX").await, [2]);
    let other = account.find("INBOX", &account.message_ids[1]).await;
    assert!(!is_deleted(&other[0].1), "{other:?}");
}

/// Deleting moves the message to "INBOX.Deleted Items" (Exchange's Trash, found by name)
/// and reports its UID there.
#[tokio::test]
async fn deleting_moves_to_deleted_items() {
    let account = Account::open("basic-delete", &EXCHANGE_FOLDERS, &["junk mail"]).await;
    let deleted = account
        .call_ok("delete_mail_message", json!({"folder": "INBOX", "uid": 1}))
        .await;
    assert_eq!(deleted["trash"], "INBOX.Deleted Items", "{deleted}");
    let copies = account
        .find("INBOX.Deleted Items", &account.message_ids[0])
        .await;
    assert_eq!(copies.len(), 1, "{copies:?}");
    assert_eq!(deleted["moved_to_trash"][0]["new_uid"], copies[0].0);
    assert!(account.uids("INBOX").await.is_empty());
}

/// Another client's message flagged \Deleted in the source folder is never expunged: the
/// move copies, leaves the moved original flagged \Deleted (no EXPUNGE is safe) and says
/// so; the other client's message is still there. Our listing and search hide both.
#[tokio::test]
async fn another_clients_deleted_message_is_not_expunged() {
    let account = Account::open("basic-others", &["INBOX.Archive"], &["mine", "theirs"]).await;
    account.flag_deleted_elsewhere(2).await;
    let moved = account
        .call_ok(
            "move_mail_message",
            json!({"folder": "INBOX", "uid": 1, "destination": "INBOX.Archive"}),
        )
        .await;
    let note = moved["note"].as_str().unwrap_or_default();
    assert!(note.contains("left flagged"), "{moved}");
    let copies = account.find("INBOX.Archive", &account.message_ids[0]).await;
    assert_eq!(moved["moved"][0]["new_uid"], copies[0].0, "{moved}");
    assert_eq!(account.uids("INBOX").await, [1, 2]);
    let theirs = account.find("INBOX", &account.message_ids[1]).await;
    assert!(is_deleted(&theirs[0].1), "{theirs:?}");
    let mine = account.find("INBOX", &account.message_ids[0]).await;
    assert!(is_deleted(&mine[0].1), "{mine:?}");
    let listed = account
        .call_ok("list_mail_messages", json!({"folder": "INBOX"}))
        .await;
    assert_eq!(listed["messages"], json!([]), "{listed}");
    let searched = account
        .call_ok(
            "search_mail_messages",
            json!({"folder": "INBOX", "query": "ALL"}),
        )
        .await;
    assert_eq!(searched["messages"], json!([]), "{searched}");
    let permanent = account
        .call_ok(
            "delete_mail_message",
            json!({"folder": "INBOX", "uid": 1, "permanent": true}),
        )
        .await;
    assert!(
        permanent["note"]
            .as_str()
            .unwrap_or_default()
            .contains("left flagged"),
        "{permanent}"
    );
    assert_eq!(account.uids("INBOX").await, [1, 2]);
}

/// A folder a person names "Projects/2026" lands at `INBOX.Projects.2026`, reported with
/// the server's name and the person's; a second one is refused, and "INBOX.Deleted Items"
/// (Trash by its name) cannot be deleted.
#[tokio::test]
async fn a_folder_created_as_projects_2026_lands_below_inbox() {
    let account = Account::open("basic-create", &EXCHANGE_FOLDERS, &[]).await;
    let created = account
        .call_ok("create_mailbox", json!({"name": "Projects/2026"}))
        .await;
    assert_eq!(created["name"], "INBOX.Projects.2026", "{created}");
    assert_eq!(created["display_name"], "Projects/2026", "{created}");
    assert_eq!(created["delimiter"], ".", "{created}");
    let folders = account.folders().await;
    assert!(
        folders.contains(&"INBOX.Projects.2026".to_owned()),
        "{folders:?}"
    );
    let listed = account.call_ok("list_mailboxes", json!({})).await;
    let sent = listed["mailboxes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "INBOX.Sent Items")
        .cloned();
    assert_eq!(sent.unwrap()["display_name"], "Sent Items", "{listed}");
    let again = account
        .call("create_mailbox", json!({"name": "Projects/2026"}))
        .await;
    assert_eq!(again["isError"], true, "{again}");
    let protected = account
        .call("delete_mailbox", json!({"name": "INBOX.Deleted Items"}))
        .await;
    assert_eq!(protected["isError"], true, "{protected}");
    assert!(
        account
            .folders()
            .await
            .contains(&"INBOX.Deleted Items".to_owned())
    );
}

/// A draft goes to Drafts in the personal namespace (created as `INBOX.Drafts` when
/// missing) and its UID, found by Message-ID as the server has no UIDPLUS, is right.
#[tokio::test]
async fn a_draft_is_stored_and_found_by_its_message_id() {
    let account = Account::open("basic-draft", &[], &[]).await;
    let draft = account
        .call_ok(
            "create_draft_mail_message",
            json!({"to": "bob@example.test", "subject": "Not finished", "text_body": "Dear"}),
        )
        .await;
    assert_eq!(draft["folder"], "INBOX.Drafts", "{draft}");
    let uids = account.uids("INBOX.Drafts").await;
    assert_eq!(uids.len(), 1);
    assert_eq!(draft["uid"], uids[0], "{draft}");
}

/// A provider whose SMTP server files the Sent copy itself (`quirks = { smtp_saves_sent =
/// true }` in the provider table, as for Gmail and Outlook) gets no second copy over IMAP:
/// the report says so and Sent stays empty. The quirk is data, not a code branch.
#[tokio::test]
async fn a_provider_whose_smtp_files_sent_gets_no_second_copy() {
    let stack = stack();
    let providers = std::env::temp_dir().join(format!("providers-{}.toml", uuid::Uuid::new_v4()));
    std::fs::write(
        &providers,
        format!(
            "[[provider]]\nid = \"files-sent\"\nname = \"Files Sent\"\n\
             imap = {{ host = \"{host}\", port = {imap}, security = \"tls\" }}\n\
             smtp = {{ host = \"{host}\", port = {smtp}, security = \"starttls\" }}\n\
             quirks = {{ smtp_saves_sent = true }}\n",
            host = stack.host,
            imap = stack.basic_imaps_port(),
            smtp = stack.submission_port,
        ),
    )
    .unwrap();
    let server = TestServer::start(stack, &["--providers-file", providers.to_str().unwrap()]).await;
    let account = Account::open("basic-quirk", &EXCHANGE_FOLDERS, &[]).await;
    let token = server.access_token_for(stack.basic_mail_account(&account.user));
    let bob = stack.new_user("basic-bob");
    let report = server
        .call_tool_ok(
            &token,
            "send_mail_message",
            json!({"to": bob.email, "subject": "Once", "text_body": "Hello"}),
        )
        .await;
    std::fs::remove_file(&providers).ok();
    assert_eq!(report["saved_to"], Value::Null, "{report}");
    assert_eq!(report["copy_error"], Value::Null, "{report}");
    let note = report["sent_copy_note"].as_str().unwrap_or_default();
    assert!(note.contains("files the copy in Sent itself"), "{report}");
    assert!(account.uids("INBOX.Sent Items").await.is_empty());
}
