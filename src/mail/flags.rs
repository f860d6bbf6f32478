//! Message flags as callers name them: the system flags (`\Seen`, `\Answered`, `\Flagged`,
//! `\Deleted`, `\Draft`, given with or without the backslash, in any case) and keywords
//! (`$Label1`, `Invoice`: IMAP atoms). Parsing and validation only, apart from I/O, so
//! that nothing a caller writes can reach an IMAP command line unchecked.

use std::fmt;

use crate::mail::error::MailError;

/// The longest keyword accepted; servers limit them and nobody needs more.
pub const MAX_KEYWORD_LEN: usize = 100;

/// A flag that can be set on or cleared from a message.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Flag {
    Seen,
    Answered,
    Flagged,
    Deleted,
    Draft,
    /// A keyword: an IMAP atom such as `$Label1` or `Invoice`.
    Keyword(String),
}

/// The system flags a caller may set, with their IMAP spelling.
const SYSTEM_FLAGS: [(Flag, &str); 5] = [
    (Flag::Seen, "\\Seen"),
    (Flag::Answered, "\\Answered"),
    (Flag::Flagged, "\\Flagged"),
    (Flag::Deleted, "\\Deleted"),
    (Flag::Draft, "\\Draft"),
];

impl Flag {
    /// The flag as an IMAP command writes it: `\Seen`, `$Label1`.
    pub fn as_imap(&self) -> &str {
        match self {
            Flag::Keyword(keyword) => keyword,
            system => SYSTEM_FLAGS
                .iter()
                .find(|(flag, _)| flag == system)
                .map_or("", |(_, name)| name),
        }
    }

    /// Whether two flags are the same to IMAP (keywords compare without regard to case).
    fn same_as(&self, other: &Flag) -> bool {
        match (self, other) {
            (Flag::Keyword(a), Flag::Keyword(b)) => a.eq_ignore_ascii_case(b),
            (a, b) => a == b,
        }
    }
}

impl fmt::Display for Flag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_imap())
    }
}

/// Reads one flag as a caller wrote it: `"\\Seen"`, `"seen"`, `"Flagged"`, `"$Label1"`.
pub fn parse_flag(input: &str) -> Result<Flag, MailError> {
    let trimmed = input.trim();
    let bare = trimmed.strip_prefix('\\');
    let name = bare.unwrap_or(trimmed);
    if let Some((flag, _)) = SYSTEM_FLAGS
        .iter()
        .find(|(_, spelled)| spelled[1..].eq_ignore_ascii_case(name))
    {
        return Ok(flag.clone());
    }
    if name.eq_ignore_ascii_case("Recent") {
        return Err(invalid(
            "\\Recent is set by the server alone and cannot be added or removed",
        ));
    }
    if bare.is_some() {
        return Err(invalid(&format!(
            "unknown system flag {trimmed:?}: the system flags are \\Seen, \\Answered, \
             \\Flagged, \\Deleted and \\Draft; a keyword is written without a backslash"
        )));
    }
    check_keyword(name)?;
    Ok(Flag::Keyword(name.to_owned()))
}

/// Flags to add and to remove, validated together: at least one flag, none in both lists,
/// each listed once.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FlagChange {
    pub add: Vec<Flag>,
    pub remove: Vec<Flag>,
}

impl FlagChange {
    /// Parses both lists; refuses an empty change and a flag both added and removed.
    pub fn parse(add: &[String], remove: &[String]) -> Result<FlagChange, MailError> {
        let change = FlagChange {
            add: parse_flags(add)?,
            remove: parse_flags(remove)?,
        };
        if change.add.is_empty() && change.remove.is_empty() {
            return Err(invalid(
                "name at least one flag in add or remove, e.g. add: [\"\\\\Seen\"]",
            ));
        }
        if let Some(both) = change
            .add
            .iter()
            .find(|a| change.remove.iter().any(|r| a.same_as(r)))
        {
            return Err(invalid(&format!(
                "{both} is both in add and in remove; name it in one of them"
            )));
        }
        Ok(change)
    }
}

/// The flags as an IMAP flag list: `(\Seen $Label1)`.
pub fn flag_list(flags: &[Flag]) -> String {
    let names: Vec<&str> = flags.iter().map(Flag::as_imap).collect();
    format!("({})", names.join(" "))
}

/// Parses each flag and drops repeats.
fn parse_flags(inputs: &[String]) -> Result<Vec<Flag>, MailError> {
    let mut flags: Vec<Flag> = Vec::with_capacity(inputs.len());
    for input in inputs {
        let flag = parse_flag(input)?;
        if !flags.iter().any(|seen| seen.same_as(&flag)) {
            flags.push(flag);
        }
    }
    Ok(flags)
}

/// A keyword must be an IMAP atom: printable ASCII without space and without
/// `( ) { % * " \ ]`.
fn check_keyword(keyword: &str) -> Result<(), MailError> {
    if keyword.is_empty() {
        return Err(invalid("a flag name is empty"));
    }
    if keyword.len() > MAX_KEYWORD_LEN {
        return Err(invalid(&format!(
            "the keyword {:?}… is longer than {MAX_KEYWORD_LEN} characters",
            keyword.chars().take(20).collect::<String>()
        )));
    }
    match keyword.chars().find(|&c| !is_atom_char(c)) {
        None => Ok(()),
        Some(bad) => Err(invalid(&format!(
            "the keyword {keyword:?} contains {}, which a keyword cannot hold: use letters, \
             digits and punctuation other than ( ) {{ % * \" \\ ] (e.g. \"$Label1\", \"Invoice\")",
            describe_char(bad)
        ))),
    }
}

/// RFC 3501 ATOM-CHAR: any printable ASCII character except the atom-specials.
fn is_atom_char(c: char) -> bool {
    c.is_ascii_graphic() && !matches!(c, '(' | ')' | '{' | '%' | '*' | '"' | '\\' | ']')
}

fn describe_char(c: char) -> String {
    match c {
        ' ' => "a space".into(),
        '\r' => "a carriage return (CR)".into(),
        '\n' => "a line feed (LF)".into(),
        c if c.is_control() => format!("the control character U+{:04X}", c as u32),
        c if !c.is_ascii() => format!("the non-ASCII character {c:?}"),
        c => format!("{c:?}"),
    }
}

fn invalid(message: &str) -> MailError {
    MailError::InvalidInput(message.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn system_flags_are_read_with_or_without_backslash_in_any_case() {
        let cases = [
            ("\\Seen", Flag::Seen),
            ("seen", Flag::Seen),
            ("SEEN", Flag::Seen),
            (" \\seen ", Flag::Seen),
            ("Flagged", Flag::Flagged),
            ("\\Answered", Flag::Answered),
            ("deleted", Flag::Deleted),
            ("\\DRAFT", Flag::Draft),
            ("$Label1", Flag::Keyword("$Label1".into())),
            ("Invoice", Flag::Keyword("Invoice".into())),
            ("$Forwarded", Flag::Keyword("$Forwarded".into())),
            ("work-2024_q1.x", Flag::Keyword("work-2024_q1.x".into())),
        ];
        for (input, want) in cases {
            assert_eq!(parse_flag(input).ok(), Some(want), "{input:?}");
        }
    }

    #[test]
    fn bad_flags_are_refused_with_the_reason() {
        let cases = [
            ("\\Recent", "\\Recent is set by the server"),
            ("recent", "\\Recent is set by the server"),
            ("\\Important", "unknown system flag"),
            ("\\*", "unknown system flag"),
            ("", "empty"),
            ("two words", "a space"),
            ("a(b", "'('"),
            ("a)b", "')'"),
            ("a{3}", "'{'"),
            ("quo\"te", "'\"'"),
            ("back\\slash", "'\\\\'"),
            ("per%cent", "'%'"),
            ("st*r", "'*'"),
            ("br]acket", "']'"),
            ("x\r\nA1 DELETE INBOX", "carriage return"),
            ("line\nfeed", "line feed"),
            ("nul\0", "U+0000"),
            ("Ärger", "non-ASCII"),
        ];
        for (input, want) in cases {
            let err = parse_flag(input).expect_err(input).to_string();
            assert!(err.contains(want), "{input:?}: {err}");
        }
        let long = "k".repeat(MAX_KEYWORD_LEN + 1);
        assert!(
            parse_flag(&long)
                .unwrap_err()
                .to_string()
                .contains("longer")
        );
    }

    #[test]
    fn a_change_needs_a_flag_and_no_contradiction() {
        let ok = FlagChange::parse(&strings(&["seen", "\\Seen", "$A"]), &strings(&["$b"]));
        assert_eq!(
            ok.unwrap(),
            FlagChange {
                add: vec![Flag::Seen, Flag::Keyword("$A".into())],
                remove: vec![Flag::Keyword("$b".into())],
            }
        );
        let cases: [(&[&str], &[&str], &str); 3] = [
            (&[], &[], "at least one flag"),
            (
                &["Seen"],
                &["\\seen"],
                "\\Seen is both in add and in remove",
            ),
            (&["$Work"], &["$work"], "$Work is both"),
        ];
        for (add, remove, want) in cases {
            let err = FlagChange::parse(&strings(add), &strings(remove)).unwrap_err();
            assert!(err.to_string().contains(want), "{add:?} {remove:?}: {err}");
        }
    }

    #[test]
    fn flag_lists_are_written_as_imap_writes_them() {
        assert_eq!(
            flag_list(&[Flag::Seen, Flag::Keyword("$Label1".into())]),
            "(\\Seen $Label1)"
        );
        assert_eq!(flag_list(&[]), "()");
    }
}
