//! Filling mailboxes fast: realistic messages written straight into Dovecot's Maildir
//! (`maildir:~/Maildir:LAYOUT=fs`, so folder `k10` is `~/Maildir/k10/{cur,new,tmp}`),
//! about ten times faster than APPEND. Messages are deterministic for a seed: plain text
//! (70%), text + HTML alternatives (20%) or with a small attachment (10%); about 2% have
//! "invoice" in the subject (what the search benchmark looks for); 80% are \Seen. File
//! names carry the size (`S=`) and the CRLF size (`W=`) so that Dovecot need not stat or
//! read them to answer RFC822.SIZE, and the file time is the message's arrival.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use base64::Engine;

const FIRST: &[&str] = &[
    "Anna", "Ben", "Chloé", "David", "Emma", "Farid", "Greta", "Hiro", "Ines", "Jonas", "Kofi",
    "Lena", "Marta", "Nils", "Olga", "Pavel", "Quinn", "Rosa", "Sven", "Tariq",
];
const LAST: &[&str] = &[
    "Almeida",
    "Becker",
    "Costa",
    "Dubois",
    "Eriksen",
    "Fischer",
    "García",
    "Hansen",
    "Ivanov",
    "Jensen",
    "Kowalski",
    "Lindqvist",
    "Moreau",
    "Novak",
    "Olsen",
    "Peters",
    "Rossi",
];
const WORDS: &[&str] = &[
    "meeting",
    "project",
    "report",
    "quarterly",
    "budget",
    "review",
    "schedule",
    "team",
    "update",
    "client",
    "proposal",
    "draft",
    "deadline",
    "feedback",
    "agenda",
    "notes",
    "summary",
    "contract",
    "delivery",
    "travel",
    "plan",
    "release",
    "design",
    "question",
    "answer",
    "thanks",
    "tomorrow",
    "today",
    "next",
    "week",
    "please",
    "could",
    "would",
    "the",
    "a",
    "and",
    "of",
    "to",
    "for",
    "with",
    "on",
    "about",
    "we",
    "you",
    "our",
];

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.below(from.len())]
    }

    fn words(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| self.pick(WORDS))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// The folder directory of `folder` ("INBOX" or a name) under a Maildir home.
pub fn folder_dir(home: &Path, folder: &str) -> PathBuf {
    match folder {
        "INBOX" => home.join("Maildir"),
        name => home.join("Maildir").join(name),
    }
}

fn make_folder(dir: &Path) -> io::Result<()> {
    for sub in ["cur", "new", "tmp"] {
        fs::create_dir_all(dir.join(sub))?;
    }
    Ok(())
}

/// One generated message (LF line ends, as Maildir keeps them).
fn message(rng: &mut Rng, n: usize, date: i64) -> String {
    let from = format!("{} {}", rng.pick(FIRST), rng.pick(LAST));
    let from_addr = from
        .to_lowercase()
        .replace(' ', ".")
        .replace(['é', 'í'], "e")
        .replace('á', "a");
    let to = format!("{} {}", rng.pick(FIRST), rng.pick(LAST));
    let invoice = rng.below(50) == 0;
    let count = 3 + rng.below(5);
    let mut subject = rng.words(count);
    if invoice {
        subject = format!("Invoice {} {subject}", 10_000 + n);
    }
    if rng.below(3) == 0 {
        subject = format!("Re: {subject}");
    }
    let date_text = chrono::DateTime::from_timestamp(date, 0)
        .unwrap()
        .to_rfc2822();
    let paragraphs: Vec<String> = (0..2 + rng.below(6))
        .map(|_| {
            let mut line = String::new();
            let count = 40 + rng.below(60);
            for (i, word) in rng.words(count).split(' ').enumerate() {
                line.push_str(word);
                line.push(if i % 12 == 11 { '\n' } else { ' ' });
            }
            line
        })
        .collect();
    let text = paragraphs.join("\n\n");
    let head = format!(
        "Return-Path: <{from_addr}@example.org>\nFrom: {from} <{from_addr}@example.org>\n\
To: {to} <me@example.test>\nSubject: {subject}\nDate: {date_text}\n\
Message-ID: <{n}.{date}@bench.example.org>\nMIME-Version: 1.0\n"
    );
    match rng.below(10) {
        0..=6 => format!(
            "{head}Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n{text}\n"
        ),
        7 | 8 => {
            let html = paragraphs
                .iter()
                .map(|p| format!("<p>{p}</p>"))
                .collect::<String>();
            format!(
                "{head}Content-Type: multipart/alternative; boundary=\"alt{n}\"\n\n\
--alt{n}\nContent-Type: text/plain; charset=utf-8\n\n{text}\n\
--alt{n}\nContent-Type: text/html; charset=utf-8\n\n<html><body>{html}</body></html>\n\
--alt{n}--\n"
            )
        }
        _ => {
            let len = 2_000 + rng.below(8_000);
            let data: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            format!(
                "{head}Content-Type: multipart/mixed; boundary=\"mix{n}\"\n\n\
--mix{n}\nContent-Type: text/plain; charset=utf-8\n\n{text}\n\
--mix{n}\nContent-Type: application/pdf; name=\"report-{n}.pdf\"\n\
Content-Disposition: attachment; filename=\"report-{n}.pdf\"\nContent-Transfer-Encoding: base64\n\n{}\n\
--mix{n}--\n",
                wrap(&base64::engine::general_purpose::STANDARD.encode(data))
            )
        }
    }
}

/// Base64 in 76-character lines.
fn wrap(encoded: &str) -> String {
    encoded
        .as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Writes one message file into `cur/`, dated `date`.
fn write_message(dir: &Path, n: usize, date: i64, seen: bool, text: &str) -> io::Result<()> {
    let lines = text.matches('\n').count();
    let flags = if seen { "S" } else { "" };
    let name = format!(
        "{date}.M{n:07}P1.bench,S={},W={}:2,{flags}",
        text.len(),
        text.len() + lines
    );
    let path = dir.join("cur").join(name);
    let mut file = fs::File::create(&path)?;
    file.write_all(text.as_bytes())?;
    file.set_modified(UNIX_EPOCH + Duration::from_secs(date as u64))?;
    Ok(())
}

/// Writes `count` messages into `folder` of the Maildir at `home`, oldest first, one
/// every few minutes up to `newest`. Returns the bytes written.
pub fn fill_folder(
    home: &Path,
    folder: &str,
    count: usize,
    seed: u64,
    newest: i64,
) -> io::Result<u64> {
    let dir = folder_dir(home, folder);
    make_folder(&dir)?;
    let mut rng = Rng(seed.max(1) ^ 0x9E37_79B9_7F4A_7C15);
    let mut bytes = 0;
    for n in 0..count {
        let date = newest - ((count - n) as i64) * 300;
        let text = message(&mut rng, n, date);
        write_message(&dir, n, date, rng.below(5) != 0, &text)?;
        bytes += text.len() as u64;
    }
    Ok(bytes)
}

/// One message with a text part and an attachment of `attachment` bytes (base64).
pub fn big_message(home: &Path, folder: &str, attachment: usize, date: i64) -> io::Result<u64> {
    let dir = folder_dir(home, folder);
    make_folder(&dir)?;
    let mut rng = Rng(42);
    let data: Vec<u8> = (0..attachment).map(|_| rng.next() as u8).collect();
    let text = format!(
        "From: Big Sender <big@example.org>\nTo: me@example.test\nSubject: The 25 MB file\n\
Date: {}\nMessage-ID: <big@bench.example.org>\nMIME-Version: 1.0\n\
Content-Type: multipart/mixed; boundary=\"big\"\n\n--big\nContent-Type: text/plain; charset=utf-8\n\n\
Here is the file you asked for.\n\n--big\nContent-Type: application/octet-stream; name=\"data.bin\"\n\
Content-Disposition: attachment; filename=\"data.bin\"\nContent-Transfer-Encoding: base64\n\n{}\n--big--\n",
        chrono::DateTime::from_timestamp(date, 0)
            .unwrap()
            .to_rfc2822(),
        wrap(&base64::engine::general_purpose::STANDARD.encode(data))
    );
    write_message(&dir, 0, date, false, &text)?;
    Ok(text.len() as u64)
}

/// Makes an empty INBOX (Dovecot wants cur/new/tmp to exist).
pub fn empty_inbox(home: &Path) -> io::Result<()> {
    make_folder(&folder_dir(home, "INBOX"))
}

/// Hands the tree to the mail user (Dovecot runs as `nobody` on the stack).
pub fn chown_tree(path: &Path) -> io::Result<()> {
    let status = std::process::Command::new("chown")
        .args(["-R", "nobody:nogroup"])
        .arg(path)
        .status()?;
    match status.success() {
        true => Ok(()),
        false => Err(io::Error::other(format!(
            "chown -R {} failed",
            path.display()
        ))),
    }
}
