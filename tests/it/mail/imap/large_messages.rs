//! Reading large messages (over 256 KB) part by part against the stack's Dovecot: what
//! `get_message` returns is exactly what parsing the whole message gives (headers, text,
//! HTML, attachments with part ids, names and decoded sizes), while Dovecot's own byte
//! count shows that the attachments never left the server; and a big attachment read on
//! its own (in pieces) comes out byte for byte.

use crate::common;

use base64::Engine;
use mail_mcp::mail::imap::{self, GetOptions, PoolSettings};
use mail_mcp::mail::message::{ReadOptions, read_message};
use mail_mcp::mail::{Imap, MailSettings, TlsSettings};

use common::{TestUser, eventually, stack};

/// An IMAP client that logs out after each call, so that Dovecot logs its byte counts.
fn imap() -> Imap {
    let settings =
        MailSettings::new(TlsSettings::new(Some(&stack().ca_file)).expect("the test CA loads"));
    Imap::with_pool(
        settings,
        PoolSettings {
            idle: std::time::Duration::ZERO,
            ..PoolSettings::default()
        },
    )
}

/// `len` bytes of base64 in 76-character lines.
fn base64_lines(len: usize, seed: u8) -> String {
    let data: Vec<u8> = (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect();
    let encoded = base64::engine::general_purpose::STANDARD.encode(data);
    encoded
        .as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join("\r\n")
}

/// A mail with text and HTML alternatives, an inline image, a 600 KB PDF, an attached
/// 300 KB message and a small text attachment.
fn big_mixed_message() -> Vec<u8> {
    let inner = format!(
        "From: inner@example.test\r\nSubject: Attached report\r\nContent-Type: text/plain\r\n\r\n{}\r\n",
        "inner line of the attached message\r\n".repeat(8_000)
    );
    format!(
        "From: Ann <ann@example.test>\r\nTo: bob@example.test\r\nSubject: Big one\r\n\
Date: Mon, 1 Jan 2024 10:00:00 +0000\r\nMessage-ID: <big@example.test>\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"outer\"\r\n\r\npreamble\r\n\
--outer\r\nContent-Type: multipart/alternative; boundary=\"alt\"\r\n\r\n\
--alt\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n\
Hello Bob, gr=C3=BC=C3=9Fe. The report is attached.\r\n\
--alt\r\nContent-Type: multipart/related; boundary=\"rel\"\r\n\r\n\
--rel\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Hello <b>Bob</b> <img src=\"cid:logo@x\"></p>\r\n\
--rel\r\nContent-Type: image/png\r\nContent-ID: <logo@x>\r\nContent-Transfer-Encoding: base64\r\n\r\n{png}\r\n\
--rel--\r\n\r\n--alt--\r\n\r\n\
--outer\r\nContent-Type: application/pdf; name=\"report.pdf\"\r\n\
Content-Disposition: attachment; filename=\"report.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{pdf}\r\n\
--outer\r\nContent-Type: message/rfc822\r\nContent-Disposition: attachment\r\n\r\n{inner}\r\n\
--outer\r\nContent-Type: text/plain; name=notes.txt\r\nContent-Disposition: attachment; filename=notes.txt\r\n\r\n\
some notes\r\n--outer--\r\n",
        png = base64_lines(3_000, 1),
        pdf = base64_lines(600_001, 2),
    )
    .into_bytes()
}

/// A message that is one 400 KB binary part, no multipart at all.
fn big_single_part() -> Vec<u8> {
    format!(
        "From: a@example.test\r\nSubject: Just a file\r\nMIME-Version: 1.0\r\n\
Content-Type: application/octet-stream; name=blob.bin\r\n\
Content-Disposition: attachment; filename=blob.bin\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n",
        base64_lines(400_000, 3)
    )
    .into_bytes()
}

/// A 300 KB plain text mail: its text is the body, so it comes whole.
fn big_text() -> Vec<u8> {
    format!(
        "From: a@example.test\r\nSubject: Long read\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{}",
        "All work and no play makes Jack a dull boy. ".repeat(7_000)
    )
    .into_bytes()
}

/// A 100 KB mail with an attachment: more than the first FETCH, read whole in two.
fn medium() -> Vec<u8> {
    format!(
        "From: a@example.test\r\nSubject: Medium\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nsee file\r\n\
--b\r\nContent-Type: application/zip\r\nContent-Disposition: attachment; filename=a.zip\r\n\
Content-Transfer-Encoding: base64\r\n\r\n{}\r\n--b--\r\n",
        base64_lines(75_000, 4)
    )
    .into_bytes()
}

/// Bytes Dovecot sent to `user` in all its sessions so far, from the `out=` of its
/// "Logged out" lines.
fn bytes_sent_to(user: &TestUser) -> usize {
    let log = std::fs::read_to_string(stack().dir.join("dovecot.log")).unwrap_or_default();
    let who = format!("imap({})", user.email);
    log.lines()
        .filter(|line| line.contains(&who) && line.contains("Logged out"))
        .filter_map(|line| line.split(" out=").nth(1))
        .filter_map(|rest| rest.split_whitespace().next()?.parse::<usize>().ok())
        .sum()
}

/// Waits until Dovecot logged `sessions` logouts of `user` (its log process writes a
/// moment after the connection closed).
async fn logged_out(user: &TestUser, sessions: usize) {
    let logouts = || {
        let log = std::fs::read_to_string(stack().dir.join("dovecot.log")).unwrap_or_default();
        let who = format!("imap({})", user.email);
        log.lines()
            .filter(|l| l.contains(&who) && l.contains("Logged out"))
            .count()
    };
    eventually("Dovecot logged the logouts", async || logouts() >= sessions).await;
}

/// Each large message reads exactly as the whole message parsed here, with and without
/// HTML, and a window further in reads the same too.
#[tokio::test]
async fn large_messages_read_the_same_as_whole_ones() {
    let user = stack().new_user("large-same");
    let messages = [big_mixed_message(), big_single_part(), big_text(), medium()];
    for raw in &messages[..3] {
        assert!(raw.len() > 256 * 1024, "{} bytes", raw.len());
    }
    for raw in &messages {
        common::append(&user, "INBOX", raw, &[]).await;
    }
    let imap = imap();
    let login = stack().mail_account(&user).imap;
    for (i, raw) in messages.iter().enumerate() {
        for read in [
            ReadOptions::new(0, 20_000, false).unwrap(),
            ReadOptions::new(100, 5_000, true).unwrap(),
        ] {
            let uid = i as u32 + 1;
            let options = GetOptions {
                uid_validity: None,
                read,
                mark_seen: false,
            };
            let got = imap
                .with_session(&login, |s| {
                    Box::pin(async move { imap::get_message(s, "INBOX", uid, options).await })
                })
                .await
                .unwrap();
            let want = read_message(raw, &read).unwrap();
            assert_eq!(got.content, want, "message {uid} with {read:?}");
            assert_eq!(got.size, raw.len(), "message {uid}");
        }
    }
    let mixed = read_message(&messages[0], &ReadOptions::new(0, 100, false).unwrap()).unwrap();
    let parts: Vec<_> = mixed
        .attachments
        .iter()
        .map(|a| (a.part_id.as_str(), a.size))
        .collect();
    assert_eq!(
        parts,
        [
            ("1.2.2", 3_000),
            ("2", 600_001),
            ("3", parts[2].1),
            ("4", 10)
        ],
        "the test message has the parts it is meant to have"
    );
}

/// Reading the 1.2 MB mail costs Dovecot under a tenth of it in bytes sent: the PDF and
/// the attached message stay on the server.
#[tokio::test]
async fn attachments_are_not_downloaded_to_read_a_message() {
    let user = stack().new_user("large-bytes");
    let raw = big_mixed_message();
    common::append(&user, "INBOX", &raw, &[]).await;
    logged_out(&user, 1).await;
    let before = bytes_sent_to(&user);
    let login = stack().mail_account(&user).imap;
    let options = GetOptions {
        uid_validity: None,
        read: ReadOptions::new(0, 20_000, true).unwrap(),
        mark_seen: false,
    };
    let got = imap()
        .with_session(&login, |s| {
            Box::pin(async move { imap::get_message(s, "INBOX", 1, options).await })
        })
        .await
        .unwrap();
    assert_eq!(got.content.attachments.len(), 4);
    logged_out(&user, 2).await;
    let sent = bytes_sent_to(&user) - before;
    assert!(
        sent < raw.len() / 10,
        "Dovecot sent {sent} bytes to read a {} byte message",
        raw.len()
    );
}

/// An attachment bigger than one piece (5 MB of base64, three pieces of 2 MiB) comes out
/// byte for byte as attached, with its name and type, read piece by piece.
#[tokio::test]
async fn big_attachments_are_read_in_pieces_byte_for_byte() {
    use mail_mcp::mail::imap::parts::{CHUNK, read_part};
    let user = stack().new_user("large-part");
    let data: Vec<u8> = (0..3_900_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let encoded = base64::engine::general_purpose::STANDARD.encode(&data);
    let wrapped = encoded
        .as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join("\r\n");
    assert!(wrapped.len() > 2 * CHUNK, "more than two pieces");
    let raw = format!(
        "From: a@example.test\r\nSubject: Big file\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nsee file\r\n\
--b\r\nContent-Type: application/zip; name=big.zip\r\nContent-Disposition: attachment; filename=big.zip\r\n\
Content-Transfer-Encoding: base64\r\n\r\n{wrapped}\r\n--b--\r\n"
    );
    common::append(&user, "INBOX", raw.as_bytes(), &[]).await;
    let login = stack().mail_account(&user).imap;
    let (_, part) = imap()
        .with_session(&login, |s| {
            Box::pin(async move { read_part(s, "INBOX", 1, None, "2", usize::MAX).await })
        })
        .await
        .unwrap();
    assert_eq!(part.filename.as_deref(), Some("big.zip"));
    assert_eq!(part.content_type, "application/zip");
    assert!(
        part.bytes == data,
        "{} bytes, not the {} attached",
        part.bytes.len(),
        data.len()
    );
}
