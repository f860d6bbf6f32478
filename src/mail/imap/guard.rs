//! A guard in front of the IMAP parser. imap-proto (inside async-imap) parses nested lists
//! by recursion, so a server that answers with a list nested 100000 levels deep overflows
//! the stack and takes the whole process, every tenant, down with it. [`GuardedStream`]
//! wraps the byte stream handed to `async_imap::Client::new` and scans every byte the
//! server sends *before* the parser sees it; a read that would exceed a limit fails with
//! an io error carrying a [`Refusal`], which the session reports as a clear `MailError`.
//!
//! The scanner ([`ResponseScanner`]) follows just enough of the IMAP syntax to count what
//! the parser would recurse on: parenthesis depth outside quoted strings and literals
//! (`{n}\r\n`, `{n+}\r\n`, `~{n}\r\n` followed by n raw bytes), line length outside
//! literals, and the size a literal announces (refused before async-imap reserves room
//! for it). Wherever the parser might not take a `{n}` for a literal, the scanner reads
//! the bytes after it as the rest of the response too, which can only make it stricter:
//! - on status lines (`* OK|NO|BAD|BYE|PREAUTH`, tagged replies, `+` continuations) the
//!   parser reads the text as text, so no literal is recognised there;
//! - a `{` counts only after a space, `(` or `~`, where the grammar allows a literal;
//! - a literal's bytes are read both as data and as more of the response (an unknown
//!   FETCH item's `(...)` is read raw, up to its first `)`, by imap-proto).
//!
//! Writes pass through untouched. This module knows nothing of sessions or tools.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// What a server's responses may not exceed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ResponseLimits {
    /// Deepest parenthesis nesting; real BODYSTRUCTUREs nest a handful of levels (a
    /// message forwarded as an attachment adds about two).
    pub max_depth: u32,
    /// Longest line, counting every byte outside literals (literal data does not count).
    pub max_line_bytes: usize,
    /// Largest single literal (a whole message fetched as `BODY[]` is one literal).
    pub max_literal_bytes: u64,
}

impl ResponseLimits {
    /// 32 levels, 2 MiB lines, 128 MiB literals (more than most mail servers accept as
    /// one message).
    /// - Depth: unoptimised, the parser takes about 35 KB of stack per level; 60 levels
    ///   already overflow a 2 MiB thread stack (tokio's default) in a debug build.
    /// - Lines: a UID SEARCH answer for some 250 000 messages fits. async-imap parses a
    ///   line again from its start each time 4 KiB more of it arrive, so the work for one
    ///   line grows with its square: at 2 MiB that is a fraction of a second (a few
    ///   seconds unoptimised), and a server cannot make it more.
    pub const DEFAULT: ResponseLimits = ResponseLimits {
        max_depth: 32,
        max_line_bytes: 2 * 1024 * 1024,
        max_literal_bytes: 128 * 1024 * 1024,
    };
}

/// Why a response was refused; the io error's inner error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Refusal {
    #[error("the mail server sent a response nested deeper than {0} levels; refusing it")]
    TooDeep(u32),
    #[error("the mail server sent a line longer than {0} bytes; refusing it")]
    LineTooLong(usize),
    #[error("the mail server announced a literal larger than {0} bytes; refusing it")]
    LiteralTooLarge(u64),
    #[error("the mail server sent literals nested more than {0} deep; refusing it")]
    NestedLiterals(usize),
    /// imap-proto 0.17 slices a status line's text one byte after its `[code]`, which
    /// panics when that byte starts a multi-byte character (found by fuzz/imap_guard).
    #[error(
        "the mail server sent a status line with non-ASCII text right after its response code; refusing it"
    )]
    TextAfterCode,
}

impl Refusal {
    /// The refusal inside an io error that a [`GuardedStream`] returned, if it is one.
    pub(crate) fn of(err: &io::Error) -> Option<Refusal> {
        err.get_ref()?.downcast_ref::<Refusal>().copied()
    }
}

/// Where the scanner is within the server's byte stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Ordinary line bytes.
    Line,
    /// Inside a quoted string; `escaped` after a backslash.
    Quoted { escaped: bool },
    /// After a `{` that may open a literal: the digits so far.
    LiteralSize { size: u64, digits: u32 },
    /// After `{n+`: expecting `}`.
    LiteralPlus { size: u64 },
    /// After `{n}`: expecting CR.
    LiteralClose { size: u64 },
    /// After `{n}\r`: expecting LF.
    LiteralCr { size: u64 },
}

/// What the start of the current line says about literals on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LineKind {
    /// Not decided yet: `word` holds the first bytes after `* `.
    Undecided,
    /// Untagged data (FETCH, LIST, STATUS, ...): literals are literals.
    Data,
    /// A status line, tagged reply or continuation: text, no literals.
    Status,
}

/// The longest status word (`PREAUTH`) plus the byte that ends it.
const WORD: usize = 8;

/// How many literals may lie within one another (each read both ways, see
/// [`ResponseScanner`]); real responses have no literal inside another.
const MAX_NESTED_LITERALS: usize = 4;

/// Scans the server's bytes as they arrive and refuses what exceeds [`ResponseLimits`].
///
/// A literal's bytes are read twice over, as data (skipped) and as if `{n}` were no
/// literal header: imap-proto reads an unknown FETCH item's `(...)` up to the first `)`
/// without looking for literals, so the bytes after a `{n}` there are parsed as the rest
/// of the response, and nesting hidden in them must count too. The price: a literal
/// (a message's text) with a line holding more unclosed parentheses than the depth limit
/// is refused.
#[derive(Clone, Debug)]
pub(crate) struct ResponseScanner {
    /// The reading of the bytes now arriving.
    reading: Reading,
    /// Literals being read, innermost last, each with the reading that resumes after it.
    literals: Vec<OpenLiteral>,
    /// Bytes scanned so far.
    position: u64,
}

#[derive(Clone, Debug)]
struct OpenLiteral {
    /// The position just after the literal's last byte.
    end: u64,
    /// The reading in which these bytes were a literal.
    after: Reading,
}

impl ResponseScanner {
    pub(crate) fn new(limits: ResponseLimits) -> Self {
        ResponseScanner {
            reading: Reading::new(limits),
            literals: Vec::new(),
            position: 0,
        }
    }

    /// Scans the next bytes of the stream; an error means the stream must not be used on.
    pub(crate) fn scan(&mut self, bytes: &[u8]) -> Result<(), Refusal> {
        for &byte in bytes {
            self.position += 1;
            let in_literal = !self.literals.is_empty();
            if let Some(size) = self.reading.byte(byte, in_literal)? {
                self.open_literal(size)?;
            }
            while self.literals.last().is_some_and(|l| l.end == self.position) {
                let literal = self.literals.pop().expect("checked by the loop");
                self.reading = literal.after;
            }
        }
        Ok(())
    }

    /// A literal header just ended: the reading that took it as one resumes after its
    /// bytes; meanwhile those bytes are read on as if it were none.
    fn open_literal(&mut self, size: u64) -> Result<(), Refusal> {
        if size == 0 {
            return Ok(());
        }
        if self.literals.len() == MAX_NESTED_LITERALS {
            return Err(Refusal::NestedLiterals(MAX_NESTED_LITERALS));
        }
        let outer_end = self.literals.last().map_or(u64::MAX, |l| l.end);
        let mut after = self.reading.clone();
        after.previous = 0;
        self.literals.push(OpenLiteral {
            end: (self.position + size).min(outer_end),
            after,
        });
        Ok(())
    }
}

/// One reading of the stream: where it is within the IMAP syntax.
#[derive(Clone, Debug)]
struct Reading {
    limits: ResponseLimits,
    state: State,
    depth: u32,
    line_bytes: usize,
    kind: LineKind,
    word: [u8; WORD],
    word_len: usize,
    previous: u8,
}

impl Reading {
    fn new(limits: ResponseLimits) -> Self {
        Reading {
            limits,
            state: State::Line,
            depth: 0,
            line_bytes: 0,
            kind: LineKind::Undecided,
            word: [0; WORD],
            word_len: 0,
            previous: b'\n',
        }
    }

    /// One byte; `Some(n)` when it ended the header of an n-byte literal. Lines within a
    /// literal's bytes are bounded by the literal's size, not by the line limit.
    fn byte(&mut self, byte: u8, in_literal: bool) -> Result<Option<u64>, Refusal> {
        self.line_bytes += 1;
        if !in_literal && self.line_bytes > self.limits.max_line_bytes {
            return Err(Refusal::LineTooLong(self.limits.max_line_bytes));
        }
        self.classify(byte);
        if self.kind == LineKind::Status && self.previous == b']' && !byte.is_ascii() {
            return Err(Refusal::TextAfterCode);
        }
        let mut opened = None;
        self.state = match self.state {
            State::Line => self.in_line(byte)?,
            State::Quoted { escaped } => self.in_quoted(byte, escaped),
            State::LiteralCr { size } if byte == b'\n' => {
                opened = Some(size);
                State::Line
            }
            State::LiteralSize { .. }
            | State::LiteralPlus { .. }
            | State::LiteralClose { .. }
            | State::LiteralCr { .. } => self.in_literal_header(byte)?,
        };
        self.previous = byte;
        Ok(opened)
    }

    fn in_line(&mut self, byte: u8) -> Result<State, Refusal> {
        match byte {
            b'(' => {
                self.depth += 1;
                if self.depth > self.limits.max_depth {
                    return Err(Refusal::TooDeep(self.limits.max_depth));
                }
            }
            b')' => self.depth = self.depth.saturating_sub(1),
            b'"' => return Ok(State::Quoted { escaped: false }),
            b'{' if self.may_open_literal() => {
                return Ok(State::LiteralSize { size: 0, digits: 0 });
            }
            b'\n' => self.end_line(),
            _ => {}
        }
        Ok(State::Line)
    }

    /// A quoted string ends at its closing quote, or (malformed) at the end of the line.
    fn in_quoted(&mut self, byte: u8, escaped: bool) -> State {
        match byte {
            b'\n' => {
                self.end_line();
                State::Line
            }
            b'\r' => State::Line,
            _ if escaped => State::Quoted { escaped: false },
            b'\\' => State::Quoted { escaped: true },
            b'"' => State::Line,
            _ => State::Quoted { escaped: false },
        }
    }

    /// `{` digits [`+`] `}` CR LF; anything else means it was no literal after all, and
    /// the byte is read again as an ordinary line byte.
    fn in_literal_header(&mut self, byte: u8) -> Result<State, Refusal> {
        let next = match (self.state, byte) {
            (State::LiteralSize { size, digits }, b'0'..=b'9') => {
                let size = size * 10 + u64::from(byte - b'0');
                if size > self.limits.max_literal_bytes {
                    return Err(Refusal::LiteralTooLarge(self.limits.max_literal_bytes));
                }
                Some(State::LiteralSize {
                    size,
                    digits: digits + 1,
                })
            }
            (State::LiteralSize { size, digits }, b'+') if digits > 0 => {
                Some(State::LiteralPlus { size })
            }
            (State::LiteralSize { size, digits }, b'}') if digits > 0 => {
                Some(State::LiteralClose { size })
            }
            (State::LiteralPlus { size }, b'}') => Some(State::LiteralClose { size }),
            (State::LiteralClose { size }, b'\r') => Some(State::LiteralCr { size }),
            _ => None,
        };
        match next {
            Some(state) => Ok(state),
            None => self.in_line(byte),
        }
    }

    /// A literal may start after a space, `(` or the `~` of literal8, on a data line.
    fn may_open_literal(&self) -> bool {
        matches!(self.previous, b' ' | b'(' | b'~') && self.kind == LineKind::Data
    }

    /// Decides from the first bytes of a line whether literals may appear on it: only
    /// untagged responses other than status responses carry them.
    fn classify(&mut self, byte: u8) {
        if self.kind != LineKind::Undecided {
            return;
        }
        let position = self.line_bytes - 1;
        match position {
            0 if byte != b'*' => self.kind = LineKind::Status,
            0 => {}
            1 if byte != b' ' => self.kind = LineKind::Data,
            1 => {}
            _ if byte == b' ' || byte == b'\r' || byte == b'\n' => {
                let word = &self.word[..self.word_len];
                self.kind = if is_status_word(word) {
                    LineKind::Status
                } else {
                    LineKind::Data
                };
            }
            _ if self.word_len < WORD - 1 => {
                self.word[self.word_len] = byte;
                self.word_len += 1;
            }
            _ => self.kind = LineKind::Data,
        }
    }

    fn end_line(&mut self) {
        self.depth = 0;
        self.line_bytes = 0;
        self.kind = LineKind::Undecided;
        self.word_len = 0;
    }
}

/// `OK`, `NO`, `BAD`, `BYE`, `PREAUTH`, in any case.
fn is_status_word(word: &[u8]) -> bool {
    ["OK", "NO", "BAD", "BYE", "PREAUTH"]
        .iter()
        .any(|status| word.eq_ignore_ascii_case(status.as_bytes()))
}

/// A stream whose incoming bytes pass a [`ResponseScanner`] before anyone reads them.
#[derive(Debug)]
pub struct GuardedStream<S> {
    inner: S,
    scanner: ResponseScanner,
    refused: Option<Refusal>,
}

impl<S> GuardedStream<S> {
    pub(crate) fn new(inner: S, limits: ResponseLimits) -> Self {
        GuardedStream {
            inner,
            scanner: ResponseScanner::new(limits),
            refused: None,
        }
    }

    /// The wrapped stream (for STARTTLS: TLS goes over the bare connection).
    pub(crate) fn into_inner(self) -> S {
        self.inner
    }
}

fn refused(refusal: Refusal) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, refusal)
}

impl<S: AsyncRead + Unpin> AsyncRead for GuardedStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let Some(refusal) = self.refused {
            return Poll::Ready(Err(refused(refusal)));
        }
        let before = buf.filled().len();
        ready!(Pin::new(&mut self.inner).poll_read(cx, buf))?;
        let this = &mut *self;
        if let Err(refusal) = this.scanner.scan(&buf.filled()[before..]) {
            // The parser never sees the bytes that broke a limit.
            buf.set_filled(before);
            this.refused = Some(refusal);
            return Poll::Ready(Err(refused(refusal)));
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for GuardedStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: ResponseLimits = ResponseLimits {
        max_depth: 3,
        max_line_bytes: 64,
        max_literal_bytes: 100,
    };

    /// Scans `input` at once and byte by byte: both must agree.
    fn scan(input: &[u8]) -> Result<(), Refusal> {
        let whole = ResponseScanner::new(SMALL).scan(input);
        let mut scanner = ResponseScanner::new(SMALL);
        let bytewise = input
            .iter()
            .try_for_each(|b| scanner.scan(std::slice::from_ref(b)));
        assert_eq!(whole, bytewise, "{}", String::from_utf8_lossy(input));
        whole
    }

    /// A status line whose response code is followed directly by a non-ASCII byte (no
    /// space) is refused: imap-proto would panic slicing inside the character. Found by
    /// fuzz/imap_guard; the same text after the usual space passes.
    #[test]
    fn non_ascii_right_after_a_response_code_is_refused() {
        let refused = Err(Refusal::TextAfterCode);
        assert_eq!(scan("* OK [ALERT]\u{e9}t\u{e9}\r\n".as_bytes()), refused);
        assert_eq!(
            scan("A1 NO [AUTHENTICATIONFAILED]\u{fc}\r\n".as_bytes()),
            refused
        );
        assert_eq!(scan("* OK [ALERT] \u{e9}t\u{e9}\r\n".as_bytes()), Ok(()));
        assert_eq!(
            scan("* 1 FETCH (BODY[] \"]\u{e9}\")\r\n".as_bytes()),
            Ok(())
        );
    }

    #[test]
    fn nesting_lines_and_literals_are_bounded() {
        let deep = Err(Refusal::TooDeep(3));
        let long_literal = format!("* 1 FETCH (BODY[] {{90}}\r\n{}\r\n)\r\n", "x".repeat(88));
        let full_literal = format!("* 1 FETCH (BODY[] {{100}}\r\n{})\r\n", "x".repeat(100));
        let long_line = format!("* OK {}\r\n", "x".repeat(60));
        let nested_literals =
            b"* 1 A B {99}\r\n* 1 A B {90}\r\n* 1 A B {80}\r\n* 1 A B {70}\r\n* 1 A B {60}\r\n";
        #[rustfmt::skip]
        let cases: Vec<(&str, &[u8], Result<(), Refusal>)> = vec![
            ("depth exactly at the limit passes", b"* 1 FETCH (((x)))\r\n", Ok(())),
            ("one level deeper is refused", b"* 1 FETCH ((((x))))\r\n", deep),
            ("depth is counted per line", b"* 1 FETCH (((x)))\r\n* 2 FETCH (((x)))\r\n", Ok(())),
            ("an unclosed list ends with its line", b"* 1 FETCH (((x\r\n* 2 FETCH (((x)))\r\n", Ok(())),
            ("parens in a quoted string do not count", b"* 1 FETCH (\"((((((\" x)\r\n", Ok(())),
            ("an escaped quote does not end the string", b"* 1 FETCH (\"a\\\"((((((\" x)\r\n", Ok(())),
            ("an escaped backslash does", b"* 1 FETCH (\"a\\\\\" ((((x))))\r\n", deep),
            ("a literal's quotes and lines do not carry over", b"* 1 FETCH (BODY[] {14}\r\n((\"\r\n((\r\n* OK \"x)\r\n", Ok(())),
            ("nesting in a literal's first line counts", b"* 1 FETCH (BODY[] {6}\r\n((((\r\n)\r\n", deep),
            ("an unknown item cannot hide nesting in a literal", b"* 1 FETCH (X-NEW ({24}\r\n) BODYSTRUCTURE (((x)))))\r\n", deep),
            ("after an inner literal its skipping reading resumes", b"* 1 FETCH (A {23}\r\n* 1 FETCH (B {3}\r\n)))((\r\n", deep),
            ("an inner literal ends with its outer one", b"* 1 FETCH (A {15}\r\n* 1 X (B {9}\r\n)\r\n* 2 FETCH ((x))\r\n", Ok(())),
            ("literals nest at most four deep", nested_literals, Err(Refusal::NestedLiterals(4))),
            ("a non-synchronising literal", b"* 1 FETCH (BODY[] {6+}\r\n\"((((\")\r\n", Ok(())),
            ("a literal8", b"* 1 FETCH (BINARY[1] ~{6}\r\n\"((((\")\r\n", Ok(())),
            ("an empty literal", b"* 1 FETCH (BODY[] {0}\r\n ((((x))))\r\n", deep),
            ("lists after a literal still count", b"* 1 FETCH (BODY[] {2}\r\n() (((x))))\r\n", deep),
            ("a literal at the size limit passes", full_literal.as_bytes(), Ok(())),
            ("a larger literal is refused", b"* 1 FETCH (BODY[] {101}\r\n", Err(Refusal::LiteralTooLarge(100))),
            ("a huge size is refused, not overflowed", b"* 1 FETCH (BODY[] {99999999999999999999999}\r\n", Err(Refusal::LiteralTooLarge(100))),
            ("literal bytes do not count toward the line", long_literal.as_bytes(), Ok(())),
            ("a line over the limit is refused", long_line.as_bytes(), Err(Refusal::LineTooLong(64))),
            ("a line without an end is refused", &[b'x'; 65], Err(Refusal::LineTooLong(64))),
            ("status text is text: no literal hides the next line", b"* OK see {6}\r\n((((((\r\n", deep),
            ("nor in a tagged reply", b"A1 OK done {30}\r\n* 1 FETCH ((((x))))\r\n", deep),
            ("nor in a continuation", b"+ go {30}\r\n* 1 FETCH ((((x))))\r\n", deep),
            ("a brace inside an atom opens no literal", b"* 1 FETCH (X a{30}\r\n* 1 FETCH ((((x))))\r\n", deep),
            ("a brace that is no literal header is a plain byte", b"* 1 FETCH ({x} ({1}) (y))\r\n", Ok(())),
            ("status words are matched whole", b"* OKAY {3}\r\n(()\r\n", Ok(())),
        ];
        for (name, input, expected) in cases {
            assert_eq!(scan(input), expected, "{name}");
        }
    }

    #[test]
    fn a_stream_that_was_refused_stays_refused() {
        use tokio::io::AsyncReadExt;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async {
            let hostile: &[u8] = b"* OK hi\r\n* 1 FETCH ((((x))))\r\n";
            let mut stream = GuardedStream::new(hostile, SMALL);
            let mut read = Vec::new();
            let err = stream.read_to_end(&mut read).await.unwrap_err();
            assert_eq!(Refusal::of(&err), Some(Refusal::TooDeep(3)));
            assert!(read.is_empty(), "the refused bytes reach nobody");
            let again = stream.read(&mut [0; 16]).await.unwrap_err();
            assert_eq!(Refusal::of(&again), Some(Refusal::TooDeep(3)));
        });
    }

    /// A FETCH line whose BODYSTRUCTURE nests `multiparts` multiparts around one text part:
    /// `multiparts + 2` levels of parentheses in all.
    fn nested_bodystructure(multiparts: usize) -> Vec<u8> {
        let leaf = r#"("text" "plain" NIL NIL NIL "7bit" 1 1)"#;
        format!(
            "* 1 FETCH (UID 1 BODYSTRUCTURE {}{leaf}{})\r\n",
            "(".repeat(multiparts),
            r#" "mixed")"#.repeat(multiparts)
        )
        .into_bytes()
    }

    /// The default depth is one the parser survives on a tokio worker's 2 MiB stack, even
    /// unoptimised (where 60 levels overflow it); the scanner lets exactly that depth
    /// through and refuses one more.
    #[test]
    fn the_parser_survives_the_deepest_nesting_let_through() {
        let limit = ResponseLimits::DEFAULT.max_depth as usize;
        let deepest = nested_bodystructure(limit - 2);
        let deeper = nested_bodystructure(limit - 1);
        let mut scanner = ResponseScanner::new(ResponseLimits::DEFAULT);
        assert_eq!(scanner.scan(&deepest), Ok(()));
        assert_eq!(
            scanner.scan(&deeper),
            Err(Refusal::TooDeep(ResponseLimits::DEFAULT.max_depth))
        );
        let parsed = std::thread::Builder::new()
            .stack_size(2 * 1024 * 1024)
            .spawn(move || async_imap::imap_proto::Response::parse(&deepest).is_ok())
            .unwrap()
            .join()
            .expect("the parser does not overflow the stack");
        assert!(
            parsed,
            "the deepest BODYSTRUCTURE let through is valid IMAP"
        );
    }
}
