//! The warm IMAP session pool against the stack's real Dovecot: sessions are reused, a
//! warm session still sees new mail, a connection the server dropped is replaced without
//! the caller noticing, a refused login evicts the account's warm sessions (and only
//! theirs), the per-account cap holds under concurrency, accounts never share sessions,
//! idle sessions expire, and a token's calls through the MCP endpoint log in once.
//! Logins are counted with the pool's own counters and, end to end, in Dovecot's log.

use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use mail_mcp::mail::imap::{self, PageRequest, PoolSettings};
use mail_mcp::mail::{Endpoint, Imap, MailError, MailSettings, Security, ServerLogin, TlsSettings};
use serde_json::json;

use common::app::TestServer;
use common::silent::SilentServer;
use common::{TestUser, eventually, small_message as message, stack};

fn settings() -> MailSettings {
    MailSettings::new(TlsSettings::new(Some(&stack().ca_file)).expect("the test CA loads"))
}

fn pooled(per_account: usize) -> Imap {
    Imap::with_pool(
        settings(),
        PoolSettings {
            per_account,
            ..PoolSettings::default()
        },
    )
}

fn imaps(user: &TestUser) -> ServerLogin {
    stack().mail_account(user).imap
}

/// The number of messages of INBOX, through the pool.
async fn inbox_count(imap: &Imap, login: &ServerLogin) -> u32 {
    imap.with_session(login, |s| {
        Box::pin(async move {
            let page = imap::list_messages(s, "INBOX", PageRequest::new(1, 20)?).await?;
            Ok(page.total)
        })
    })
    .await
    .unwrap()
}

/// Three calls of one account log in once and reuse the session twice.
#[tokio::test]
async fn calls_of_one_account_reuse_one_session() {
    let user = stack().new_user("pool-reuse");
    let imap = pooled(4);
    for _ in 0..3 {
        assert_eq!(inbox_count(&imap, &imaps(&user)).await, 0);
    }
    let stats = imap.pool_stats();
    assert_eq!(
        (stats.logins, stats.reused, stats.idle),
        (1, 2, 1),
        "{stats:?}"
    );
}

/// A warm session remembers its open folder (no SELECT again) while nothing changes, and
/// still sees mail that arrived since: the count is right and the folder is reopened.
#[tokio::test]
async fn a_warm_session_sees_new_mail() {
    let user = stack().new_user("pool-newmail");
    let login = imaps(&user);
    let imap = pooled(4);
    common::append(&user, "INBOX", &message("one"), &[]).await;
    assert_eq!(inbox_count(&imap, &login).await, 1);

    let warm = imap.session(&login).await.unwrap();
    assert_eq!(
        warm.open_folder().map(|f| (f.name.as_str(), f.exists)),
        Some(("INBOX", 1)),
        "after a NOOP with nothing new, INBOX stays open and known"
    );
    warm.logout().await;

    common::append(&user, "INBOX", &message("two"), &[]).await;
    let mut warm = imap.session(&login).await.unwrap();
    assert!(
        warm.open_folder().is_none(),
        "the NOOP showed new mail: the folder must be opened again"
    );
    assert_eq!(warm.examine("INBOX").await.unwrap().exists, 2);
    warm.logout().await;
    assert_eq!(inbox_count(&imap, &login).await, 2);
    assert_eq!(imap.pool_stats().logins, 1, "all on one connection");
}

/// The server drops the warm connection (`doveadm kick`): the next call fails its NOOP
/// check, logs in anew and answers as if nothing happened.
#[tokio::test]
async fn a_dropped_connection_is_replaced_transparently() {
    let user = stack().new_user("pool-kick");
    let login = imaps(&user);
    let imap = pooled(4);
    assert_eq!(inbox_count(&imap, &login).await, 0);
    let conf = stack().dir.join("dovecot.conf");
    let doveadm = |args: &[&str]| {
        let out = std::process::Command::new("doveadm")
            .arg("-c")
            .arg(&conf)
            .args(args)
            .output()
            .expect("doveadm runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    doveadm(&["kick", &user.email]);
    // The kicked process exits a moment later: wait until Dovecot lists no connection.
    eventually("the connection is gone", async || {
        !doveadm(&["who"]).contains(&user.email)
    })
    .await;
    assert_eq!(inbox_count(&imap, &login).await, 0);
    let stats = imap.pool_stats();
    assert_eq!((stats.logins, stats.failed_checks), (2, 1), "{stats:?}");
}

/// After the password changes at the server, the first refused login closes every warm
/// session of the old credentials, idle or in use: the old token stops working at once.
/// A wrong password of someone else does not touch them.
#[tokio::test]
async fn a_refused_login_evicts_the_accounts_warm_sessions() {
    let user = stack().new_user("pool-evict");
    let login = imaps(&user);
    let imap = pooled(4);
    // Two warm sessions: take two at once, give both back.
    let (a, b) = tokio::join!(imap.session(&login), imap.session(&login));
    a.unwrap().logout().await;
    b.unwrap().logout().await;
    assert_eq!(imap.pool_stats().idle, 2);

    let wrong = ServerLogin {
        password: "not-the-password".into(),
        ..login.clone()
    };
    let err = imap.check_login(&wrong).await.unwrap_err();
    assert!(err.is_auth_failure(), "{err}");
    assert_eq!(
        imap.pool_stats().idle,
        2,
        "another key's failure evicts nothing"
    );

    let in_use = imap.session(&login).await.unwrap();
    // The password changes (a longer one, so Dovecot's passwd-file cache sees a new size).
    let file = stack().users_dir.join(&user.email);
    let tmp = stack().users_dir.join(format!(".new.{}", user.email));
    let line = format!("{}:{{PLAIN}}{}-changed::::::\n", user.email, user.password);
    std::fs::write(&tmp, line).unwrap();
    std::fs::rename(&tmp, &file).unwrap();
    // Dovecot rereads the file at most once a second: log in until it refuses.
    eventually("the old password is refused", async || {
        match imap.check_login(&login).await {
            Err(e) if e.is_auth_failure() => true,
            Err(e) => panic!("unexpected {e}"),
            Ok(()) => false,
        }
    })
    .await;
    assert_eq!(imap.pool_stats().idle, 0, "every idle session was closed");
    in_use.logout().await;
    assert_eq!(
        imap.pool_stats().idle,
        0,
        "the session in use is not taken back"
    );
    let err = imap.session(&login).await.unwrap_err();
    assert!(matches!(err, MailError::AuthFailed { .. }), "{err}");
}

/// Ten calls of one account at once never use more than the cap of connections (two),
/// the others wait their turn and all succeed.
#[tokio::test]
async fn the_per_account_cap_holds_under_concurrency() {
    let user = stack().new_user("pool-cap");
    common::append(&user, "INBOX", &message("x"), &[]).await;
    let login = imaps(&user);
    let imap = pooled(2);
    let running = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let calls = (0..10).map(|_| {
        let (imap, login) = (imap.clone(), login.clone());
        let (running, most) = (running.clone(), most.clone());
        async move {
            imap.with_session(&login, move |s| {
                Box::pin(async move {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    let page = imap::list_messages(s, "INBOX", PageRequest::new(1, 5)?).await;
                    running.fetch_sub(1, Ordering::SeqCst);
                    page
                })
            })
            .await
        }
    });
    for result in futures::future::join_all(calls).await {
        assert_eq!(result.unwrap().total, 1);
    }
    assert!(most.load(Ordering::SeqCst) <= 2, "{most:?} calls at once");
    let stats = imap.pool_stats();
    assert!(stats.logins <= 2, "{stats:?}");
    assert_eq!(stats.logins + stats.reused, 10, "{stats:?}");
}

/// The only login permit is held by a login that hangs (a host that never greets). A
/// second call of an account with a session in use does not queue behind it: it takes the
/// session the first call gives back, and nobody logs in again. (Before, it waited the
/// whole connect time limit for the permit and then logged in a second connection.)
#[tokio::test]
async fn a_call_waiting_to_log_in_takes_a_session_given_back_meanwhile() {
    let user = stack().new_user("pool-takeover");
    let login = imaps(&user);
    let mut slow = settings();
    slow.connect_timeout = Duration::from_secs(120);
    let imap = Imap::with_pool(slow, PoolSettings::default()).with_max_connecting(1);
    let first = imap.session(&login).await.unwrap();

    let silent = SilentServer::start().await;
    let mut hanging_login = login.clone();
    hanging_login.endpoint = Endpoint::new("127.0.0.1", silent.port, Security::Plain);
    let hanging = tokio::spawn({
        let imap = imap.clone();
        async move { imap.session(&hanging_login).await.map(|_| ()) }
    });
    eventually("the hanging login holds the permit", async || {
        silent.accepted() == 1
    })
    .await;

    let second = tokio::spawn({
        let (imap, login) = (imap.clone(), login.clone());
        async move { inbox_count(&imap, &login).await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    first.logout().await;
    assert_eq!(second.await.unwrap(), 0);
    assert!(!hanging.is_finished(), "the permit was never free");
    let stats = imap.pool_stats();
    assert_eq!((stats.logins, stats.reused), (1, 1), "{stats:?}");
    hanging.abort();
}

/// With one login permit, held: a second call of an account whose one session is in use
/// waits, then a call of an account with no session arrives. When the permit frees, the
/// account with no session logs in first (its calls have nothing to share); the other
/// logs its second connection in after. (Before, the queue was first come first served.)
#[tokio::test]
async fn in_a_login_queue_accounts_without_a_session_go_first() {
    let (ann, bob) = (
        stack().new_user("pool-first-ann"),
        stack().new_user("pool-first-bob"),
    );
    let imap = Imap::with_pool(settings(), PoolSettings::default()).with_max_connecting(1);
    let held = imap.session(&imaps(&ann)).await.unwrap();

    let silent = SilentServer::start().await;
    let mut hanging_login = imaps(&ann);
    hanging_login.endpoint = Endpoint::new("127.0.0.1", silent.port, Security::Plain);
    let hanging = tokio::spawn({
        let imap = imap.clone();
        async move { imap.session(&hanging_login).await.map(|_| ()) }
    });
    eventually("the hanging login holds the permit", async || {
        silent.accepted() == 1
    })
    .await;

    let (done, mut order) = tokio::sync::mpsc::unbounded_channel();
    let call = |user: &TestUser, name: &'static str| {
        let (imap, login, done) = (imap.clone(), imaps(user), done.clone());
        tokio::spawn(async move {
            let session = imap.session(&login).await.unwrap();
            done.send(name).unwrap();
            session.logout().await;
        })
    };
    let ann_second = call(&ann, "ann's second connection");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let bob_first = call(&bob, "bob's first connection");
    tokio::time::sleep(Duration::from_millis(300)).await;
    hanging.abort();
    bob_first.await.unwrap();
    ann_second.await.unwrap();
    let got = [order.recv().await.unwrap(), order.recv().await.unwrap()];
    assert_eq!(got, ["bob's first connection", "ann's second connection"]);
    assert_eq!(imap.pool_stats().logins, 3, "ann twice, bob once");
    held.logout().await;
}

/// A call that waits longer than the command time limit for its turn to log in gets a
/// "too busy" error that says nothing was done, not a timeout blamed on the mail server.
#[tokio::test]
async fn a_call_that_waits_too_long_for_a_login_turn_is_told_busy() {
    let user = stack().new_user("pool-busy");
    let silent = SilentServer::start().await;
    let mut quick = settings();
    quick.command_timeout = Duration::from_millis(500);
    quick.connect_timeout = Duration::from_secs(120);
    let imap = Imap::with_pool(quick, PoolSettings::default()).with_max_connecting(1);
    let mut hanging_login = imaps(&user);
    hanging_login.endpoint = Endpoint::new("127.0.0.1", silent.port, Security::Plain);
    let hanging = tokio::spawn({
        let imap = imap.clone();
        async move { imap.session(&hanging_login).await.map(|_| ()) }
    });
    eventually("the hanging login holds the permit", async || {
        silent.accepted() == 1
    })
    .await;

    let Err(err) = imap.session(&imaps(&user)).await else {
        panic!("a session without a turn to log in");
    };
    assert!(matches!(err, MailError::Busy { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.starts_with("too busy to reach the IMAP server 127.0.0.1:")
            && text.contains("waited 500 ms for a turn to log in")
            && text.contains("nothing was done, try again"),
        "{text}"
    );
    hanging.abort();
}

/// Two accounts alternating on one pool each get their own connection and their own
/// mailbox: nothing (open folder, counts) leaks from one to the other.
#[tokio::test]
async fn accounts_never_share_sessions() {
    let (ann, bob) = (stack().new_user("pool-ann"), stack().new_user("pool-bob"));
    common::append(&ann, "INBOX", &message("for ann"), &[]).await;
    let imap = pooled(4);
    for _ in 0..3 {
        assert_eq!(inbox_count(&imap, &imaps(&ann)).await, 1);
        assert_eq!(inbox_count(&imap, &imaps(&bob)).await, 0);
    }
    let stats = imap.pool_stats();
    assert_eq!(
        (stats.logins, stats.accounts, stats.idle),
        (2, 2, 2),
        "{stats:?}"
    );
}

/// With reuse off (idle 0) every call logs in and nothing is kept.
#[tokio::test]
async fn reuse_can_be_turned_off() {
    let user = stack().new_user("pool-off");
    let imap = Imap::with_pool(
        settings(),
        PoolSettings {
            idle: Duration::ZERO,
            ..PoolSettings::default()
        },
    );
    for _ in 0..3 {
        inbox_count(&imap, &imaps(&user)).await;
    }
    let stats = imap.pool_stats();
    assert_eq!(
        (stats.logins, stats.reused, stats.idle),
        (3, 0, 0),
        "{stats:?}"
    );
}

/// The reaper closes sessions idle longer than the idle time, and shutdown closes the
/// rest; a call after that still works (it logs in again).
#[tokio::test]
async fn idle_sessions_expire_and_shutdown_closes_them() {
    let user = stack().new_user("pool-expire");
    let login = imaps(&user);
    let short = Imap::with_pool(
        settings(),
        PoolSettings {
            idle: Duration::from_millis(300),
            ..PoolSettings::default()
        },
    );
    inbox_count(&short, &login).await;
    assert_eq!(short.pool_stats().idle, 1);
    eventually("the reaper closed the idle session", async || {
        short.pool_stats().idle == 0
    })
    .await;
    assert_eq!(short.pool_stats().expired, 1);

    let imap = pooled(4);
    inbox_count(&imap, &login).await;
    imap.shutdown().await;
    assert_eq!(imap.pool_stats().idle, 0);
    inbox_count(&imap, &login).await;
    assert_eq!(imap.pool_stats().idle, 0, "nothing is kept after shutdown");
}

/// End to end: three tool calls with one access token log in to Dovecot once, as its own
/// log shows.
#[tokio::test]
async fn a_tokens_calls_log_in_once() {
    let stack = stack();
    let server = TestServer::start(stack, &[]).await;
    let user = stack.new_user("pool-e2e");
    let token = server.access_token_for(stack.mail_account(&user));
    for _ in 0..3 {
        let page = server
            .call_tool_ok(&token, "list_mail_messages", json!({}))
            .await;
        assert_eq!(page["total"], 0);
    }
    // A login of another user after ours: once Dovecot logged it, ours are logged too.
    let marker = stack.new_user("pool-e2e-marker");
    common::imap_session(&marker).await.logout().await.ok();
    let log = stack.dir.join("dovecot.log");
    let logins_of = |who: &TestUser| {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let needle = format!("Login: user=<{}>", who.email);
        text.lines().filter(|l| l.contains(&needle)).count()
    };
    eventually("Dovecot logged the marker login", async || {
        logins_of(&marker) == 1
    })
    .await;
    assert_eq!(logins_of(&user), 1, "three calls, one IMAP login");
}

/// Two sends of one account go over one SMTP connection: Postfix logs the connection's
/// end (after the pool is shut down) with both messages on it.
#[tokio::test]
async fn smtp_sends_of_one_account_share_a_connection() {
    use lettre::address::{Address, Envelope};
    use mail_mcp::mail::Smtp;

    let user = stack().new_user("pool-smtp");
    let smtp = Smtp::new(settings());
    let login = stack().mail_account(&user).smtp;
    let from: Address = user.email.parse().unwrap();
    let envelope = Envelope::new(Some(from.clone()), vec![from]).unwrap();
    for subject in ["first", "second"] {
        let raw = format!(
            "From: {0}\r\nTo: {0}\r\nSubject: {subject}\r\n\r\nhello\r\n",
            user.email
        );
        smtp.send(&login, &envelope, raw.as_bytes()).await.unwrap();
    }
    assert_eq!(smtp.idle_connections(), 1);
    smtp.shutdown().await;
    assert_eq!(smtp.idle_connections(), 0);

    let log = stack().dir.join("postfix.log");
    let needle = format!("sasl_username={}", user.email);
    let mut summary = None;
    eventually("Postfix logged the end of the connection", async || {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let Some(first) = lines.iter().position(|l| l.contains(&needle)) else {
            return false;
        };
        let pid = lines[first]
            .split("smtpd[")
            .nth(1)
            .and_then(|r| r.split(']').next());
        let pid = format!("smtpd[{}]: disconnect from", pid.unwrap_or_default());
        summary = lines[first..]
            .iter()
            .find(|l| l.contains(&pid))
            .map(|l| l.to_string());
        summary.is_some()
    })
    .await;
    let summary = summary.unwrap();
    assert!(summary.contains(" auth=1 "), "{summary}");
    assert!(summary.contains(" mail=2 "), "{summary}");
}
