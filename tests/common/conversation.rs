//! A realistic conversation to put into a mailbox: several people replying to each other,
//! each reply quoting the whole message above it the way mail clients do ("On …, X wrote:"
//! and `>` lines, so the quoting grows with every reply), one Outlook-style top post with
//! an "-----Original Message-----" block, signatures, and an HTML-only reply whose quote
//! is a Gmail `blockquote`. Incoming messages are delivered through the stack's Postfix;
//! the account's own replies are stored in Sent, as its mail client would.
//!
//! Every message's own text carries a marker sentence, `OWN-<n>:`, so a test can count
//! how often each message's text appears in a thread view.

use super::{TestUser, append, deliver, wait_for_messages};

/// One message of the conversation as written.
#[derive(Clone, Debug)]
pub struct Written {
    /// 1-based position in the conversation.
    pub number: usize,
    pub message_id: String,
    /// Whether the account itself sent it (stored in Sent).
    pub own: bool,
    /// The sender's own words (with the `OWN-<n>:` marker).
    pub own_text: String,
    /// The raw message.
    pub raw: Vec<u8>,
}

/// Who writes and how.
#[derive(Clone, Copy)]
enum Style {
    Plain,
    Signed,
    Html,
    Outlook,
}

/// The people of the conversation besides the account.
const PEOPLE: [(&str, &str); 3] = [
    ("Ann Lee", "ann@partner.example.test"),
    ("Bob Marsh", "bob@partner.example.test"),
    ("Carol Diaz", "carol@vendor.example.test"),
];

/// What each message says (the sender's own paragraphs), in order.
const SAYINGS: [&str; 10] = [
    "We need to settle the Q3 offsite: dates, venue and budget. I have pencilled in the \
     week of 14 September at the Harbour Hotel, which quoted 180 per person per night \
     including meeting rooms. Could each of you confirm whether that week works for your \
     team, and flag any travel constraints before Friday? I would also like a first draft \
     of the agenda by the end of next week.",
    "The week of the 14th works for logistics, but Tuesday is our quarterly stock count, so \
     I would rather arrive Wednesday morning. On the venue: the Harbour Hotel is fine, but \
     their parking is limited; we should ask about the public car park next door and \
     whether they can validate tickets.",
    "Thanks both. Wednesday to Friday suits my team as well. I checked the budget: 180 per \
     night for 24 people over two nights is within what finance approved, as long as \
     dinner on the first evening stays under 45 a head. I can take the agenda draft.",
    "From the vendor side we can run the workshop on Thursday afternoon. We need a room \
     for 12 with a projector and two whiteboards, and about 90 minutes. Please also let \
     me know if any attendees have accessibility needs so we can adapt the material.",
    "Great, I have asked the hotel for the Thursday room and the projector. They confirmed \
     the car park next door validates tickets for hotel guests. Remaining open points: \
     dietary requirements for the dinner, and who books the coach from the station.",
    "I will book the coach: 24 seats from the station at 08:30 on Wednesday, and back on \
     Friday at 16:00. Two of my people are vegetarian and one needs step-free access, \
     which the hotel says is available in the east wing.",
    "Agenda draft attached in spirit: Wednesday strategy review, Thursday morning team \
     sessions, Thursday afternoon vendor workshop, Friday retrospective and planning. \
     Please send comments by Monday so I can circulate the final version.",
    "Looks good. One request: could the workshop move to 14:00 so the morning sessions \
     are not rushed? Our trainer can stay until 17:30 if needed.",
    "14:00 is fine, I have updated the agenda and told the hotel. Final numbers go to \
     them on Wednesday next week, so please confirm attendance by Tuesday evening.",
    "Confirmed: all 24 attending. Thanks everyone, this was quick. See you at the station.",
];

/// Sender and style of message `n` (1-based): who writes, and whether it is the account.
fn author(n: usize) -> (Option<usize>, Style) {
    match n {
        1 => (Some(0), Style::Plain),
        2 => (Some(1), Style::Signed),
        3 => (None, Style::Plain),
        4 => (Some(2), Style::Html),
        5 => (Some(0), Style::Plain),
        6 => (Some(1), Style::Signed),
        7 => (None, Style::Plain),
        8 => (Some(2), Style::Outlook),
        9 => (Some(0), Style::Plain),
        _ => (None, Style::Plain),
    }
}

/// The conversation of `count` (2 to 10) messages about the Q3 offsite, with the account
/// of `me` writing messages 3, 7 and 10, as raw messages, oldest first.
pub fn offsite_thread(me: &TestUser, count: usize) -> Vec<Written> {
    assert!((2..=10).contains(&count), "2 to 10 messages");
    let run = uuid::Uuid::new_v4();
    let mut written: Vec<Written> = Vec::new();
    // What a reply quotes of each message: its text as a reader's client shows it.
    let mut quotable: Vec<String> = Vec::new();
    for n in 1..=count {
        let (who, style) = author(n);
        let (name, email) = match who {
            Some(i) => PEOPLE[i],
            None => ("Me Myself", me.email.as_str()),
        };
        let own_text = format!("OWN-{n}: {}", SAYINGS[n - 1]);
        let date = format!("Mon, {} Mar 2026 {:02}:15:00 +0000", 2 + n / 4, 8 + n);
        let message_id = format!("<offsite-{n}-{run}@example.test>");
        let parent = written.last();
        let greeting = match n {
            1 => "Hi all,".to_owned(),
            _ => format!("Hi {},", first_name_of(parent_author(n - 1, me))),
        };
        let signature = match style {
            Style::Signed => Some(format!(
                "-- \n{name}\nHead of Logistics, Partner Ltd\n+44 20 7946 0{n:03}\nhttps://partner.example.test"
            )),
            _ => None,
        };
        let mut text = format!(
            "{greeting}\n\n{}\n\nBest,\n{}",
            wrap(&own_text),
            first_name(name)
        );
        if let Some(signature) = &signature {
            text = format!("{text}\n\n{signature}");
        }
        let previous = quotable.last().cloned();
        let (body_text, quoted_view) = match (&previous, parent) {
            (Some(prev), Some(parent)) => {
                let (pname, pemail) = parent_author(parent.number, me);
                let pdate = format!(
                    "Mon, {} Mar 2026 at {:02}:15",
                    2 + parent.number / 4,
                    8 + parent.number
                );
                match style {
                    Style::Outlook => {
                        let block = format!(
                            "-----Original Message-----\nFrom: {pname} <{pemail}>\nSent: {pdate}\n\
                             To: {name} <{email}>\nSubject: Re: Q3 offsite\n\n{prev}"
                        );
                        let full = format!("{text}\n\n{block}");
                        (full.clone(), full)
                    }
                    _ => {
                        let attribution = format!("On {pdate}, {pname} <{pemail}> wrote:");
                        let full = format!("{text}\n\n{attribution}\n{}", quote(prev));
                        (full.clone(), full)
                    }
                }
            }
            _ => (text.clone(), text.clone()),
        };
        let references: Vec<&str> = written.iter().map(|w| w.message_id.as_str()).collect();
        let subject = match n {
            1 => "Q3 offsite".to_owned(),
            _ => "Re: Q3 offsite".to_owned(),
        };
        let recipients = PEOPLE
            .iter()
            .filter(|(_, e)| *e != email)
            .map(|(n, e)| format!("{n} <{e}>"))
            .chain((who.is_some()).then(|| format!("Me Myself <{}>", me.email)))
            .collect::<Vec<_>>()
            .join(", ");
        let mut headers = format!(
            "From: {name} <{email}>\r\nTo: {recipients}\r\nSubject: {subject}\r\nDate: {date}\r\n\
             Message-ID: {message_id}\r\nMIME-Version: 1.0\r\n"
        );
        if let Some(parent) = parent {
            headers.push_str(&format!(
                "In-Reply-To: {}\r\nReferences: {}\r\n",
                parent.message_id,
                references.join(" ")
            ));
        }
        let raw = match style {
            Style::Html => {
                let html = html_reply(&text, previous.as_deref(), parent, me);
                format!(
                    "{headers}Content-Type: text/html; charset=utf-8\r\n\r\n{}",
                    crlf(&html)
                )
            }
            _ => format!(
                "{headers}Content-Type: text/plain; charset=utf-8\r\n\r\n{}",
                crlf(&body_text)
            ),
        };
        quotable.push(quoted_view);
        written.push(Written {
            number: n,
            message_id,
            own: who.is_none(),
            own_text,
            raw: raw.into_bytes(),
        });
    }
    written
}

/// Delivers the incoming messages of `thread` to `me` through Postfix and stores the
/// account's own in Sent; returns when all have arrived.
pub async fn put_thread(me: &TestUser, thread: &[Written]) {
    let mut incoming = 0;
    let mut sent = 0;
    for message in thread {
        match message.own {
            true => {
                append(me, "Sent", &message.raw, &["\\Seen"]).await;
                sent += 1;
            }
            false => {
                deliver("ann@partner.example.test", &[&me.email], &message.raw).await;
                incoming += 1;
                // One at a time, so that the INBOX holds them in conversation order.
                wait_for_messages(me, "INBOX", incoming).await;
            }
        }
    }
    wait_for_messages(me, "Sent", sent).await;
}

fn parent_author(number: usize, me: &TestUser) -> (&'static str, String) {
    match author(number).0 {
        Some(i) => (PEOPLE[i].0, PEOPLE[i].1.to_owned()),
        None => ("Me Myself", me.email.clone()),
    }
}

fn first_name_of((name, _): (&str, String)) -> String {
    first_name(name).to_owned()
}

fn first_name(name: &str) -> &str {
    name.split(' ').next().unwrap_or(name)
}

/// `text` wrapped at 72 columns, as mail clients send it.
fn wrap(text: &str) -> String {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.len() + word.len() + 1 > 72 {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    lines.push(line);
    lines.join("\n")
}

/// Every line of `text` quoted with `>` (`>>` for lines already quoted).
fn quote(text: &str) -> String {
    text.lines()
        .map(|l| match l.starts_with('>') || l.is_empty() {
            true => format!(">{l}"),
            false => format!("> {l}"),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn crlf(text: &str) -> String {
    format!("{}\r\n", text.replace('\n', "\r\n"))
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// An HTML reply as Gmail writes it: the new text in a `div`, the quoted message in a
/// `gmail_quote` blockquote under its attribution.
fn html_reply(
    text: &str,
    previous: Option<&str>,
    parent: Option<&Written>,
    me: &TestUser,
) -> String {
    let own: String = text
        .split("\n\n")
        .map(|p| format!("<div dir=\"ltr\">{}</div>", escape(p).replace('\n', " ")))
        .collect();
    let (Some(previous), Some(parent)) = (previous, parent) else {
        return format!("<html><body>{own}</body></html>");
    };
    let (pname, pemail) = parent_author(parent.number, me);
    let quoted = escape(previous).replace('\n', "<br>\n");
    format!(
        "<html><body>{own}<br><div class=\"gmail_quote\"><div dir=\"ltr\" class=\"gmail_attr\">\
         On Mon, {} Mar 2026 at {:02}:15, {pname} &lt;<a href=\"mailto:{pemail}\">{pemail}</a>&gt; \
         wrote:<br></div><blockquote class=\"gmail_quote\" style=\"margin:0px 0px 0px 0.8ex;\
         border-left:1px solid rgb(204,204,204);padding-left:1ex\">{quoted}</blockquote></div>\
         </body></html>",
        2 + parent.number / 4,
        8 + parent.number
    )
}
