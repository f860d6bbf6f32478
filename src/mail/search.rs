//! Search criteria for IMAP `UID SEARCH`, built and checked apart from any I/O.
//!
//! Callers describe what they want either with [`SearchCriteria`] (structured fields) or
//! with a raw IMAP query for experts, or both. Either way the result is a tree of
//! [`SearchKey`]s that this module wrote itself: a raw query is split into pieces, every key is
//! checked against the IMAP grammar (RFC 3501 §6.4.4) and then rendered again from the
//! tree, never passed through. Strings are sent quoted and escaped, or as literals under
//! `CHARSET UTF-8` when they are not ASCII; CR, LF, NUL and other control characters,
//! unbalanced quotes or parentheses, IMAP literals and unknown keys are refused with a
//! message saying what to change. Nothing a caller writes can end the command early or
//! add another one.

use chrono::{Datelike, NaiveDate};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::mail::error::MailError;

/// How deeply `NOT`, `OR` and parentheses may nest in a raw query.
const MAX_DEPTH: usize = 32;

/// The longest raw query accepted, in characters.
const MAX_QUERY_CHARS: usize = 4000;

/// How `has_attachments` is approximated: IMAP has no criterion for attachments, and a
/// message with attachments is almost always `multipart/mixed`.
pub const ATTACHMENT_CONTENT_TYPE: &str = "multipart/mixed";

/// Keys without an argument.
const BARE_KEYS: &[&str] = &[
    "ALL",
    "ANSWERED",
    "DELETED",
    "DRAFT",
    "FLAGGED",
    "NEW",
    "OLD",
    "RECENT",
    "SEEN",
    "UNANSWERED",
    "UNDELETED",
    "UNDRAFT",
    "UNFLAGGED",
    "UNSEEN",
];

/// Gmail's label search key (X-GM-EXT-1), followed by a string.
pub const GMAIL_LABELS: &str = "X-GM-LABELS";

/// Gmail's raw search key (X-GM-EXT-1), followed by a string in Gmail's search syntax.
pub const GMAIL_RAW: &str = "X-GM-RAW";

/// Keys followed by a string.
const TEXT_KEYS: &[&str] = &["BCC", "BODY", "CC", "FROM", "SUBJECT", "TEXT", "TO"];

/// Keys followed by a date.
const DATE_KEYS: &[&str] = &["BEFORE", "ON", "SINCE", "SENTBEFORE", "SENTON", "SENTSINCE"];

/// Keys followed by a size in bytes.
const SIZE_KEYS: &[&str] = &["LARGER", "SMALLER"];

/// Keys followed by a flag keyword.
const KEYWORD_KEYS: &[&str] = &["KEYWORD", "UNKEYWORD"];

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Structured search criteria; every field given must match (AND). The search tool takes
/// them as its arguments (flattened), so each field's doc comment is the description the
/// model reads.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, JsonSchema)]
pub struct SearchCriteria {
    /// Text in the From header (name or address).
    #[serde(default)]
    pub from: Option<String>,
    /// Text in the To header.
    #[serde(default)]
    pub to: Option<String>,
    /// Text in the Cc header.
    #[serde(default)]
    pub cc: Option<String>,
    /// Text in the subject.
    #[serde(default)]
    pub subject: Option<String>,
    /// Text anywhere in the headers or body.
    #[serde(default)]
    pub text: Option<String>,
    /// Text in the body.
    #[serde(default)]
    pub body: Option<String>,
    /// Received on or after this day, YYYY-MM-DD.
    #[serde(default)]
    pub since: Option<String>,
    /// Received before this day, YYYY-MM-DD.
    #[serde(default)]
    pub before: Option<String>,
    /// true: only read messages; false: only unread ones.
    #[serde(default)]
    pub seen: Option<bool>,
    /// true: only flagged (starred) messages; false: only unflagged ones.
    #[serde(default)]
    pub flagged: Option<bool>,
    /// true: only answered messages; false: only unanswered ones.
    #[serde(default)]
    pub answered: Option<bool>,
    /// true: only messages with attachments; false: only without. IMAP cannot search for
    /// attachments, so this matches Content-Type multipart/mixed, which nearly every
    /// message with attachments has (has_attachments in the results is exact).
    // IMAP has no such key: ATTACHMENT_CONTENT_TYPE stands in for it.
    #[serde(default)]
    pub has_attachments: Option<bool>,
    /// Only messages larger than this many bytes.
    #[serde(default)]
    pub larger: Option<u32>,
    /// Only messages smaller than this many bytes.
    #[serde(default)]
    pub smaller: Option<u32>,
    /// Gmail (and servers with its X-GM-EXT-1 extension) only: messages with this label,
    /// as list results report them in `labels` (e.g. "Work", "\\Important", "\\Starred").
    #[serde(default)]
    pub label: Option<String>,
    /// Gmail (X-GM-EXT-1) only: a search in Gmail's own syntax, as typed in its search
    /// box (X-GM-RAW), e.g. "has:attachment older_than:1y" or "category:promotions".
    #[serde(default)]
    pub gmail_raw: Option<String>,
    /// For experts: IMAP SEARCH keys, combined with the criteria above, e.g.
    /// `OR FROM "John Smith" FROM jane` or `NOT SEEN SENTSINCE 1-Feb-2024`. Strings with
    /// spaces go in double quotes. Known keys only; no literals, no line breaks.
    #[serde(default)]
    pub query: Option<String>,
}

/// One checked IMAP search key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SearchKey {
    /// A key without an argument: `SEEN`, `ALL`, ...
    Bare(&'static str),
    /// A key and a string: `FROM "john"`.
    Text(&'static str, String),
    /// `HEADER <field-name> <string>`.
    Header(String, String),
    /// A key and a day: `SINCE 1-Feb-2024`.
    Date(&'static str, NaiveDate),
    /// `LARGER n` or `SMALLER n`.
    Size(&'static str, u32),
    /// `KEYWORD $label` or `UNKEYWORD $label`.
    Keyword(&'static str, String),
    /// `UID <sequence-set>`.
    Uid(String),
    Not(Box<SearchKey>),
    Or(Box<SearchKey>, Box<SearchKey>),
    /// Parenthesised keys, all of which must match.
    Group(Vec<SearchKey>),
    /// `INTHREAD REFS <key>` (draft-ietf-morg-inthread): every message of the threads (as
    /// the server's REFS threading, by references only, builds them) that hold a message
    /// matching the key. Built by the thread search only, never parsed from a query.
    InThread(Box<SearchKey>),
    /// `X-GM-THRID <id>`: the messages of one Gmail conversation. Built by the thread
    /// search only.
    GmailThread(u64),
}

/// Checked search keys, ready to render as the arguments of `UID SEARCH`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SearchProgram {
    keys: Vec<SearchKey>,
}

impl SearchCriteria {
    /// The checked keys of these criteria; `ALL` when none was given.
    pub fn build(&self) -> Result<SearchProgram, MailError> {
        let mut keys = Vec::new();
        // Labels are mailbox names on the wire: modified UTF-7.
        let label = self.label.as_deref().map(crate::mail::imap::names::to_wire);
        let texts = [
            ("FROM", "from", &self.from),
            ("TO", "to", &self.to),
            ("CC", "cc", &self.cc),
            ("SUBJECT", "subject", &self.subject),
            ("TEXT", "text", &self.text),
            ("BODY", "body", &self.body),
            (GMAIL_LABELS, "label", &label),
            (GMAIL_RAW, "gmail_raw", &self.gmail_raw),
        ];
        for (key, field, value) in texts {
            if let Some(value) = value {
                keys.push(SearchKey::Text(key, search_text(field, value)?));
            }
        }
        keys.extend(self.date_keys()?);
        keys.extend(self.flag_keys());
        if let Some(wanted) = self.has_attachments {
            keys.push(attachment_key(wanted));
        }
        keys.extend(self.larger.map(|n| SearchKey::Size("LARGER", n)));
        keys.extend(self.smaller.map(|n| SearchKey::Size("SMALLER", n)));
        if let Some(query) = &self.query {
            keys.extend(parse_query(query)?);
        }
        Ok(SearchProgram::new(keys))
    }

    fn date_keys(&self) -> Result<Vec<SearchKey>, MailError> {
        let since = self
            .since
            .as_deref()
            .map(|d| iso_date("since", d))
            .transpose()?;
        let before = self
            .before
            .as_deref()
            .map(|d| iso_date("before", d))
            .transpose()?;
        if let (Some(since), Some(before)) = (since, before)
            && since >= before
        {
            return Err(invalid(format!(
                "since ({since}) must be earlier than before ({before}): no message can match"
            )));
        }
        let mut keys = Vec::new();
        keys.extend(since.map(|d| SearchKey::Date("SINCE", d)));
        keys.extend(before.map(|d| SearchKey::Date("BEFORE", d)));
        Ok(keys)
    }

    fn flag_keys(&self) -> Vec<SearchKey> {
        let flags = [
            (self.seen, "SEEN", "UNSEEN"),
            (self.flagged, "FLAGGED", "UNFLAGGED"),
            (self.answered, "ANSWERED", "UNANSWERED"),
        ];
        flags
            .into_iter()
            .filter_map(|(wanted, yes, no)| {
                wanted.map(|w| SearchKey::Bare(if w { yes } else { no }))
            })
            .collect()
    }
}

impl SearchProgram {
    /// A program of `keys`, all of which must match; `ALL` when there are none.
    pub fn new(keys: Vec<SearchKey>) -> Self {
        match keys.is_empty() {
            true => SearchProgram {
                keys: vec![SearchKey::Bare("ALL")],
            },
            false => SearchProgram { keys },
        }
    }

    /// Messages whose Message-ID, References or In-Reply-To header names any of `ids`
    /// (each written with its angle brackets). `ALL` is never the result: no ids match
    /// nothing but are refused.
    pub fn mentioning_any(ids: &[String]) -> Result<Self, MailError> {
        let per_id = ids.iter().map(|id| {
            let id = search_text("message id", id)?;
            let header = |field: &str| SearchKey::Header(field.to_owned(), id.clone());
            Ok(or(
                header("Message-ID"),
                or(header("References"), header("In-Reply-To")),
            ))
        });
        let keys: Vec<SearchKey> = per_id.collect::<Result<_, MailError>>()?;
        let any = keys
            .into_iter()
            .reduce(or)
            .ok_or_else(|| invalid("no message ids to look for".to_owned()))?;
        Ok(SearchProgram { keys: vec![any] })
    }

    /// The keys, in order.
    pub fn keys(&self) -> &[SearchKey] {
        &self.keys
    }

    /// Whether a key is one of Gmail's (X-GM-EXT-1), which other servers refuse.
    pub fn needs_gmail(&self) -> bool {
        self.keys.iter().any(key_needs_gmail)
    }

    /// Whether a string is not ASCII, so that the search needs `CHARSET UTF-8`.
    pub fn needs_utf8(&self) -> bool {
        self.keys.iter().any(key_needs_utf8)
    }

    /// The arguments of `UID SEARCH`. Non-ASCII strings are sent as non-synchronising
    /// literals (`{n+}`) when the server has `LITERAL+`, else as quoted UTF-8 (which most
    /// servers accept under `CHARSET UTF-8`).
    pub fn to_imap(&self, literal_plus: bool) -> String {
        let mut out = String::new();
        if self.needs_utf8() {
            out.push_str("CHARSET UTF-8 ");
        }
        let writer = Writer { literal_plus };
        for (i, key) in self.keys.iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            writer.key(key, &mut out);
        }
        out
    }
}

fn or(a: SearchKey, b: SearchKey) -> SearchKey {
    SearchKey::Or(Box::new(a), Box::new(b))
}

fn attachment_key(wanted: bool) -> SearchKey {
    let header = SearchKey::Header("Content-Type".into(), ATTACHMENT_CONTENT_TYPE.into());
    match wanted {
        true => header,
        false => SearchKey::Not(Box::new(header)),
    }
}

fn key_needs_gmail(key: &SearchKey) -> bool {
    match key {
        SearchKey::Text(name, _) => name.starts_with("X-GM-"),
        SearchKey::GmailThread(_) => true,
        SearchKey::Not(k) | SearchKey::InThread(k) => key_needs_gmail(k),
        SearchKey::Or(a, b) => key_needs_gmail(a) || key_needs_gmail(b),
        SearchKey::Group(keys) => keys.iter().any(key_needs_gmail),
        _ => false,
    }
}

fn key_needs_utf8(key: &SearchKey) -> bool {
    match key {
        SearchKey::Text(_, s) | SearchKey::Header(_, s) => !s.is_ascii(),
        SearchKey::Not(k) | SearchKey::InThread(k) => key_needs_utf8(k),
        SearchKey::Or(a, b) => key_needs_utf8(a) || key_needs_utf8(b),
        SearchKey::Group(keys) => keys.iter().any(key_needs_utf8),
        _ => false,
    }
}

/// Renders keys as IMAP text.
struct Writer {
    literal_plus: bool,
}

impl Writer {
    fn key(&self, key: &SearchKey, out: &mut String) {
        match key {
            SearchKey::Bare(name) => out.push_str(name),
            SearchKey::Text(name, value) => {
                out.push_str(name);
                out.push(' ');
                self.string(value, out);
            }
            SearchKey::Header(field, value) => {
                out.push_str("HEADER ");
                self.string(field, out);
                out.push(' ');
                self.string(value, out);
            }
            SearchKey::Date(name, day) => out.push_str(&format!("{name} {}", imap_date(*day))),
            SearchKey::Size(name, n) => out.push_str(&format!("{name} {n}")),
            SearchKey::Keyword(name, flag) => out.push_str(&format!("{name} {flag}")),
            SearchKey::Uid(set) => out.push_str(&format!("UID {set}")),
            SearchKey::Not(inner) => {
                out.push_str("NOT ");
                self.key(inner, out);
            }
            SearchKey::GmailThread(id) => out.push_str(&format!("X-GM-THRID {id}")),
            SearchKey::InThread(inner) => {
                out.push_str("INTHREAD REFS ");
                self.key(inner, out);
            }
            SearchKey::Or(a, b) => {
                out.push_str("OR ");
                self.key(a, out);
                out.push(' ');
                self.key(b, out);
            }
            SearchKey::Group(keys) => {
                out.push('(');
                for (i, key) in keys.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    self.key(key, out);
                }
                out.push(')');
            }
        }
    }

    /// A quoted string, or a literal when it is not ASCII and the server takes `LITERAL+`.
    /// Strings never contain CR, LF or NUL (checked when they were accepted).
    fn string(&self, value: &str, out: &mut String) {
        if !value.is_ascii() && self.literal_plus {
            out.push_str(&format!("{{{}+}}\r\n{value}", value.len()));
            return;
        }
        out.push('"');
        for c in value.chars() {
            if matches!(c, '"' | '\\') {
                out.push('\\');
            }
            out.push(c);
        }
        out.push('"');
    }
}

/// `1-Feb-2024`, the IMAP way of writing a day.
fn imap_date(day: NaiveDate) -> String {
    let month = MONTHS[day.month0() as usize];
    format!("{}-{month}-{}", day.day(), day.year())
}

/// A `YYYY-MM-DD` day given in the structured field `field`.
fn iso_date(field: &str, value: &str) -> Result<NaiveDate, MailError> {
    NaiveDate::parse_from_str(value.trim(), "%Y-%m-%d").map_err(|_| {
        invalid(format!(
            "{field} must be a date written YYYY-MM-DD (e.g. 2024-03-01), not \"{value}\""
        ))
    })
}

/// A string to search for: not empty, without control characters.
fn search_text(field: &str, value: &str) -> Result<String, MailError> {
    if value.is_empty() {
        return Err(invalid(format!(
            "{field} is empty: leave it out to match every message"
        )));
    }
    if let Some(problem) = value.chars().find_map(control_problem) {
        return Err(invalid(format!("{field} contains {problem}")));
    }
    Ok(value.to_owned())
}

/// What is wrong with a control character, or `None` for any other character.
fn control_problem(c: char) -> Option<String> {
    match c {
        '\r' | '\n' => Some(
            "a line break (CR/LF), which is not allowed: IMAP would read it as the end of the command"
                .into(),
        ),
        '\0' => Some("a NUL character, which is not allowed".into()),
        c if c.is_control() => Some(format!(
            "the control character U+{:04X}, which is not allowed",
            c as u32
        )),
        _ => None,
    }
}

fn invalid(message: String) -> MailError {
    MailError::InvalidInput(message)
}

fn query_error(message: impl std::fmt::Display) -> MailError {
    invalid(format!("invalid search query: {message}"))
}

/// One piece of a raw query: a parenthesis, a quoted string or a bare word (atom).
#[derive(Clone, Debug, PartialEq, Eq)]
enum QueryPiece {
    Open,
    Close,
    Quoted(String),
    Atom(String),
}

/// Checks a raw IMAP search query and returns its keys.
pub fn parse_query(query: &str) -> Result<Vec<SearchKey>, MailError> {
    if query.chars().count() > MAX_QUERY_CHARS {
        return Err(query_error(format!(
            "it is longer than {MAX_QUERY_CHARS} characters"
        )));
    }
    let pieces = split_query(query)?;
    check_parentheses(&pieces)?;
    let mut parser = Parser { pieces, pos: 0 };
    let mut keys = Vec::new();
    while !parser.at_end() {
        keys.push(parser.key(0)?);
    }
    if keys.is_empty() {
        return Err(query_error(
            "it is empty; leave query out to match every message",
        ));
    }
    Ok(keys)
}

fn split_query(query: &str) -> Result<Vec<QueryPiece>, MailError> {
    let mut pieces = Vec::new();
    let mut chars = query.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c != '\t'
            && let Some(problem) = control_problem(c)
        {
            return Err(query_error(format!("it contains {problem}")));
        }
        match c {
            ' ' | '\t' => {
                chars.next();
            }
            '(' => {
                chars.next();
                pieces.push(QueryPiece::Open);
            }
            ')' => {
                chars.next();
                pieces.push(QueryPiece::Close);
            }
            '"' => {
                chars.next();
                pieces.push(QueryPiece::Quoted(quoted(&mut chars)?));
            }
            '{' => {
                return Err(query_error(
                    "IMAP literals ({n}) are not accepted; write the text in double quotes",
                ));
            }
            _ => pieces.push(QueryPiece::Atom(atom(&mut chars)?)),
        }
    }
    Ok(pieces)
}

/// The rest of a quoted string whose opening quote was read; `\"` and `\\` are escapes.
fn quoted(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Result<String, MailError> {
    let mut text = String::new();
    loop {
        match chars.next() {
            None => {
                return Err(query_error(
                    "unbalanced quotes: a quoted string is not closed with \"",
                ));
            }
            Some('"') => return Ok(text),
            Some('\\') => match chars.next() {
                Some(c @ ('"' | '\\')) => text.push(c),
                _ => {
                    return Err(query_error(
                        "inside quotes a backslash may only escape \" or \\",
                    ));
                }
            },
            Some(c) => match control_problem(c) {
                Some(problem) => return Err(query_error(format!("it contains {problem}"))),
                None => text.push(c),
            },
        }
    }
}

fn atom(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Result<String, MailError> {
    let mut text = String::new();
    while let Some(&c) = chars.peek() {
        if matches!(c, ' ' | '\t' | '(' | ')' | '"') || control_problem(c).is_some() {
            break;
        }
        if c == '{' {
            return Err(query_error(
                "IMAP literals ({n}) are not accepted; write the text in double quotes",
            ));
        }
        text.push(c);
        chars.next();
    }
    Ok(text)
}

fn check_parentheses(pieces: &[QueryPiece]) -> Result<(), MailError> {
    let mut depth = 0usize;
    for piece in pieces {
        match piece {
            QueryPiece::Open => depth += 1,
            QueryPiece::Close if depth == 0 => {
                return Err(query_error(
                    "unbalanced parentheses: a ')' has no matching '('",
                ));
            }
            QueryPiece::Close => depth -= 1,
            _ => {}
        }
    }
    match depth {
        0 => Ok(()),
        _ => Err(query_error("unbalanced parentheses: a '(' is not closed")),
    }
}

/// A recursive-descent reader of search keys over the pieces of a balanced query.
struct Parser {
    pieces: Vec<QueryPiece>,
    pos: usize,
}

impl Parser {
    fn at_end(&self) -> bool {
        self.pos >= self.pieces.len()
    }

    fn next(&mut self) -> Option<QueryPiece> {
        let piece = self.pieces.get(self.pos).cloned();
        self.pos += 1;
        piece
    }

    fn key(&mut self, depth: usize) -> Result<SearchKey, MailError> {
        if depth > MAX_DEPTH {
            return Err(query_error(format!(
                "NOT, OR and parentheses nest deeper than {MAX_DEPTH} levels"
            )));
        }
        match self.next() {
            None => Err(query_error(
                "it ends where a search key was expected (after NOT or OR?)",
            )),
            Some(QueryPiece::Open) => self.group(depth),
            Some(QueryPiece::Close) => Err(query_error("a search key is missing before ')'")),
            Some(QueryPiece::Quoted(text)) => Err(query_error(format!(
                "\"{text}\" stands where a search key was expected; put a key such as FROM before it"
            ))),
            Some(QueryPiece::Atom(word)) => self.keyword(&word, depth),
        }
    }

    fn group(&mut self, depth: usize) -> Result<SearchKey, MailError> {
        let mut keys = Vec::new();
        loop {
            if self.pieces.get(self.pos) == Some(&QueryPiece::Close) {
                self.pos += 1;
                break;
            }
            keys.push(self.key(depth + 1)?);
        }
        match keys.is_empty() {
            true => Err(query_error("empty parentheses ()")),
            false => Ok(SearchKey::Group(keys)),
        }
    }

    fn keyword(&mut self, word: &str, depth: usize) -> Result<SearchKey, MailError> {
        let upper = word.to_ascii_uppercase();
        let known = |table: &[&'static str]| table.iter().copied().find(|k| *k == upper);
        if let Some(key) = known(BARE_KEYS) {
            return Ok(SearchKey::Bare(key));
        }
        if let Some(key) = known(TEXT_KEYS) {
            return Ok(SearchKey::Text(key, self.string(key)?));
        }
        if let Some(key) = known(DATE_KEYS) {
            return Ok(SearchKey::Date(key, self.date(key)?));
        }
        if let Some(key) = known(SIZE_KEYS) {
            return Ok(SearchKey::Size(key, self.number(key)?));
        }
        if let Some(key) = known(KEYWORD_KEYS) {
            return Ok(SearchKey::Keyword(key, self.flag_keyword(key)?));
        }
        match upper.as_str() {
            "HEADER" => {
                let field = self.field_name()?;
                Ok(SearchKey::Header(field, self.string("HEADER")?))
            }
            "UID" => Ok(SearchKey::Uid(self.uid_set()?)),
            "NOT" => Ok(SearchKey::Not(Box::new(self.key(depth + 1)?))),
            "OR" => {
                let a = self.key(depth + 1)?;
                let b = self.key(depth + 1)?;
                Ok(or(a, b))
            }
            _ if is_sequence_set(word) => Err(query_error(format!(
                "\"{word}\" looks like message sequence numbers, which change as mail \
                 arrives; use UID {word} instead"
            ))),
            _ => Err(query_error(format!(
                "unknown search key \"{word}\"; known keys: {}, HEADER, UID, NOT, OR",
                [BARE_KEYS, TEXT_KEYS, DATE_KEYS, SIZE_KEYS, KEYWORD_KEYS]
                    .concat()
                    .join(", ")
            ))),
        }
    }

    /// The argument of `key`: a quoted string or a single word.
    fn argument(&mut self, key: &str, what: &str) -> Result<String, MailError> {
        match self.next() {
            Some(QueryPiece::Quoted(text)) | Some(QueryPiece::Atom(text)) => Ok(text),
            _ => Err(query_error(format!("{key} must be followed by {what}"))),
        }
    }

    fn string(&mut self, key: &str) -> Result<String, MailError> {
        let text = self.argument(key, "a string (in double quotes if it has spaces)")?;
        search_text(key, &text).map_err(|e| query_error(e.to_string()))
    }

    fn date(&mut self, key: &str) -> Result<NaiveDate, MailError> {
        let text = self.argument(key, "a date such as 1-Feb-2024 or 2024-02-01")?;
        parse_query_date(&text).ok_or_else(|| {
            query_error(format!(
                "{key} must be followed by a date such as 1-Feb-2024 or 2024-02-01, not \"{text}\""
            ))
        })
    }

    fn number(&mut self, key: &str) -> Result<u32, MailError> {
        let text = self.argument(key, "a number of bytes")?;
        text.parse::<u32>().map_err(|_| {
            query_error(format!(
                "{key} must be followed by a number of bytes, not \"{text}\""
            ))
        })
    }

    fn flag_keyword(&mut self, key: &str) -> Result<String, MailError> {
        let text = self.argument(key, "a keyword such as $label")?;
        match !text.is_empty() && text.chars().all(is_atom_char) {
            true => Ok(text),
            false => Err(query_error(format!(
                "{key} must be followed by a keyword of letters, digits and $-_. (not \"{text}\"); \
                 for system flags use SEEN, FLAGGED, ANSWERED, DELETED or DRAFT"
            ))),
        }
    }

    fn field_name(&mut self) -> Result<String, MailError> {
        let text = self.argument("HEADER", "a header name and a string")?;
        let valid = !text.is_empty()
            && text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        match valid {
            true => Ok(text),
            false => Err(query_error(format!(
                "HEADER must be followed by a header name such as Message-ID, not \"{text}\""
            ))),
        }
    }

    fn uid_set(&mut self) -> Result<String, MailError> {
        let text = self.argument("UID", "a UID set such as 42, 10:20 or 5,7,9:*")?;
        match is_sequence_set(&text) {
            true => Ok(text),
            false => Err(query_error(format!(
                "UID must be followed by a UID set such as 42, 10:20 or 5,7,9:*, not \"{text}\""
            ))),
        }
    }
}

/// `1-Feb-2024`, `01-feb-2024` or `2024-02-01`.
fn parse_query_date(text: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .or_else(|| NaiveDate::parse_from_str(text, "%d-%b-%Y").ok())
}

/// Letters, digits and the few punctuation marks keywords use in practice.
fn is_atom_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '$' | '-' | '_' | '.' | '+' | '/' | '&' | '\'')
}

/// `42`, `1:5`, `7,9:*`: numbers, `*`, ranges and lists, nothing else.
fn is_sequence_set(text: &str) -> bool {
    let number = |s: &str| s == "*" || (!s.is_empty() && s.chars().all(|c| c.is_ascii_digit()));
    !text.is_empty()
        && text.split(',').all(|range| {
            let mut ends = range.split(':');
            let first = ends.next().is_some_and(number);
            let second = ends.next().is_none_or(number);
            first && second && ends.next().is_none()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn criteria() -> SearchCriteria {
        SearchCriteria::default()
    }

    fn render(criteria: SearchCriteria) -> String {
        criteria.build().unwrap().to_imap(true)
    }

    fn refusal(criteria: SearchCriteria) -> String {
        criteria.build().unwrap_err().to_string()
    }

    fn raw(query: &str) -> SearchCriteria {
        SearchCriteria {
            query: Some(query.into()),
            ..criteria()
        }
    }

    #[test]
    fn structured_criteria_render_as_imap() {
        let cases: Vec<(SearchCriteria, &str)> = vec![
            (criteria(), "ALL"),
            (
                SearchCriteria {
                    from: Some("John Smith".into()),
                    ..criteria()
                },
                r#"FROM "John Smith""#,
            ),
            (
                SearchCriteria {
                    subject: Some(r#"say "hi" \o/"#.into()),
                    ..criteria()
                },
                r#"SUBJECT "say \"hi\" \\o/""#,
            ),
            (
                SearchCriteria {
                    to: Some("bob".into()),
                    cc: Some("carol".into()),
                    text: Some("x".into()),
                    body: Some("y".into()),
                    ..criteria()
                },
                r#"TO "bob" CC "carol" TEXT "x" BODY "y""#,
            ),
            (
                SearchCriteria {
                    since: Some("2024-03-01".into()),
                    before: Some("2024-12-25".into()),
                    ..criteria()
                },
                "SINCE 1-Mar-2024 BEFORE 25-Dec-2024",
            ),
            (
                SearchCriteria {
                    seen: Some(false),
                    flagged: Some(true),
                    answered: Some(false),
                    ..criteria()
                },
                "UNSEEN FLAGGED UNANSWERED",
            ),
            (
                SearchCriteria {
                    has_attachments: Some(true),
                    larger: Some(1000),
                    smaller: Some(5000),
                    ..criteria()
                },
                r#"HEADER "Content-Type" "multipart/mixed" LARGER 1000 SMALLER 5000"#,
            ),
            (
                SearchCriteria {
                    has_attachments: Some(false),
                    ..criteria()
                },
                r#"NOT HEADER "Content-Type" "multipart/mixed""#,
            ),
            (
                SearchCriteria {
                    from: Some("alice".into()),
                    query: Some("OR FLAGGED SEEN".into()),
                    ..criteria()
                },
                r#"FROM "alice" OR FLAGGED SEEN"#,
            ),
        ];
        for (criteria, want) in cases {
            assert_eq!(render(criteria.clone()), want, "{criteria:?}");
        }
    }

    #[test]
    fn non_ascii_strings_go_as_literals_under_charset_utf8() {
        let jurg = SearchCriteria {
            from: Some("Jürg".into()),
            seen: Some(true),
            ..criteria()
        };
        let program = jurg.build().unwrap();
        assert!(program.needs_utf8());
        assert_eq!(
            program.to_imap(true),
            "CHARSET UTF-8 FROM {5+}\r\nJürg SEEN"
        );
        assert_eq!(program.to_imap(false), "CHARSET UTF-8 FROM \"Jürg\" SEEN");
        let ascii = SearchCriteria {
            from: Some("jurg".into()),
            ..criteria()
        };
        assert!(!ascii.build().unwrap().needs_utf8());
    }

    #[test]
    fn raw_queries_are_rendered_from_the_parsed_keys() {
        let cases = [
            (r#"FROM "John Smith""#, r#"FROM "John Smith""#),
            ("from john", r#"FROM "john""#),
            ("seen", "SEEN"),
            (
                r#"OR FROM alice (TO bob SUBJECT "a \"b\"")"#,
                r#"OR FROM "alice" (TO "bob" SUBJECT "a \"b\"")"#,
            ),
            ("NOT NOT deleted", "NOT NOT DELETED"),
            (
                "since 1-feb-2024 SENTBEFORE 2024-03-05",
                "SINCE 1-Feb-2024 SENTBEFORE 5-Mar-2024",
            ),
            ("larger 10 smaller 20", "LARGER 10 SMALLER 20"),
            (
                "KEYWORD $label1 UNKEYWORD Junk",
                "KEYWORD $label1 UNKEYWORD Junk",
            ),
            (
                "HEADER List-Id \"<news.example.com>\"",
                r#"HEADER "List-Id" "<news.example.com>""#,
            ),
            ("UID 1:5,7,9:*", "UID 1:5,7,9:*"),
            ("  (  all  )  ", "(ALL)"),
            ("TEXT \"Grüße\"", "CHARSET UTF-8 TEXT {7+}\r\nGrüße"),
        ];
        for (query, want) in cases {
            assert_eq!(render(raw(query)), want, "{query}");
        }
    }

    #[test]
    fn injection_and_malformed_queries_are_refused_with_a_reason() {
        let cases = [
            ("ALL\r\nA1 DELETE INBOX", "line break (CR/LF)"),
            ("ALL\nA1 DELETE INBOX", "line break (CR/LF)"),
            ("FROM \"x\r\nA1 DELETE INBOX\"", "line break (CR/LF)"),
            ("FROM x\0", "NUL"),
            ("FROM \"John", "unbalanced quotes"),
            ("FROM John\"", "unbalanced quotes"),
            ("(FROM john", "'(' is not closed"),
            ("FROM john)", "')' has no matching '('"),
            (") (", "')' has no matching '('"),
            ("FROM {5}", "literals"),
            ("FROM {5+}\r\nhello", "literals"),
            ("FROM x DELETE INBOX", "unknown search key \"DELETE\""),
            ("EXPUNGE", "unknown search key \"EXPUNGE\""),
            ("FROM", "FROM must be followed by a string"),
            ("OR SEEN", "ends where a search key was expected"),
            ("NOT", "ends where a search key was expected"),
            ("\"john\"", "stands where a search key was expected"),
            ("()", "empty parentheses"),
            ("SINCE yesterday", "SINCE must be followed by a date"),
            ("LARGER big", "LARGER must be followed by a number"),
            ("KEYWORD \\Seen", "keyword of letters"),
            ("HEADER \"a b\" x", "header name"),
            ("UID 1;2", "UID set"),
            ("1:10", "use UID 1:10 instead"),
            ("FROM \"a\\b\"", "backslash"),
            ("", "it is empty"),
            ("   ", "it is empty"),
            ("FROM \"\"", "FROM is empty"),
        ];
        for (query, reason) in cases {
            let message = refusal(raw(query));
            assert!(
                message.starts_with("invalid search query: ") && message.contains(reason),
                "{query:?} -> {message}"
            );
        }
    }

    #[test]
    fn deep_nesting_and_huge_queries_are_refused() {
        let deep = "NOT ".repeat(100) + "SEEN";
        assert!(refusal(raw(&deep)).contains("nest deeper"));
        let parens = "(".repeat(100) + "SEEN" + &")".repeat(100);
        assert!(refusal(raw(&parens)).contains("nest deeper"));
        let long = "SEEN ".repeat(1000);
        assert!(refusal(raw(&long)).contains("longer than"));
    }

    #[test]
    fn structured_fields_are_checked() {
        let cases = [
            (
                SearchCriteria {
                    from: Some("a\r\nb".into()),
                    ..criteria()
                },
                "from contains a line break",
            ),
            (
                SearchCriteria {
                    subject: Some(String::new()),
                    ..criteria()
                },
                "subject is empty",
            ),
            (
                SearchCriteria {
                    since: Some("03/01/2024".into()),
                    ..criteria()
                },
                "since must be a date written YYYY-MM-DD",
            ),
            (
                SearchCriteria {
                    before: Some("2024-02-30".into()),
                    ..criteria()
                },
                "before must be a date",
            ),
            (
                SearchCriteria {
                    since: Some("2024-05-01".into()),
                    before: Some("2024-05-01".into()),
                    ..criteria()
                },
                "must be earlier than before",
            ),
        ];
        for (criteria, reason) in cases {
            let message = refusal(criteria.clone());
            assert!(message.contains(reason), "{criteria:?} -> {message}");
        }
    }

    #[test]
    fn thread_search_mentions_each_id_in_three_headers() {
        let ids = vec!["<a@x>".to_owned(), "<b\"@x>".to_owned()];
        let program = SearchProgram::mentioning_any(&ids).unwrap();
        assert_eq!(
            program.to_imap(true),
            r#"OR OR HEADER "Message-ID" "<a@x>" OR HEADER "References" "<a@x>" HEADER "In-Reply-To" "<a@x>" OR HEADER "Message-ID" "<b\"@x>" OR HEADER "References" "<b\"@x>" HEADER "In-Reply-To" "<b\"@x>""#
        );
        assert!(SearchProgram::mentioning_any(&[]).is_err());
        assert!(SearchProgram::mentioning_any(&["<a\r\n>".to_owned()]).is_err());
    }

    #[test]
    fn sequence_sets_are_recognised() {
        for good in ["1", "1:5", "*", "1:*", "1,3,5:7", "10:2"] {
            assert!(is_sequence_set(good), "{good}");
        }
        for bad in ["", "a", "1:", ":1", "1::2", "1:2:3", "1,,2", "1;2", "-1"] {
            assert!(!is_sequence_set(bad), "{bad}");
        }
    }
}
