//! Quoted history and signatures folded out of a body, so a model reads what the sender
//! wrote and not the whole conversation again. Three shapes of quoted history are found:
//! a tail that starts with an attribution ("On … wrote:", also German, French, Spanish)
//! followed only by `>` lines; an Outlook header block ("From: … Sent: …", or
//! "-----Original Message-----") and everything after it; and runs of `>` lines in the
//! middle of an interleaved reply. The signature is what follows the last `-- ` line, when
//! it is short. Each fold leaves a one-line marker, and link references at the very end
//! (`[1]: https://…`, as HTML bodies converted to Markdown list them) are kept. Pure text
//! in, text out.

/// The longest signature folded, in lines; a longer "signature" is probably not one.
const MAX_SIGNATURE_LINES: usize = 20;

/// How far below an Outlook "From:" line its "Sent:"/"Date:" and "To:"/"Subject:" lines may be.
const OUTLOOK_HEADER_SPAN: usize = 6;

/// A body with its quoted history and signature folded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Folded {
    pub text: String,
    /// How many lines were left out.
    pub folded_lines: usize,
}

/// `text` with quoted history and signature folded into marker lines.
pub fn fold_quoted(text: &str) -> Folded {
    let lines: Vec<&str> = text.lines().collect();
    let (body_end, references) = split_link_references(&lines);
    let mut body = &lines[..body_end];
    let mut out: Vec<String> = Vec::new();
    let mut folded = 0;
    let tail = history_start(body).map(|start| {
        let count = body[start..]
            .iter()
            .filter(|l| !l.trim().is_empty())
            .count();
        body = trim_trailing_blank(&body[..start]);
        count
    });
    let signature = signature_start(body).map(|start| {
        let count = body.len() - start;
        body = trim_trailing_blank(&body[..start]);
        count
    });
    folded += fold_quote_runs(body, &mut out);
    if let Some(count) = signature {
        out.push(format!("[signature folded: {count} lines]"));
        folded += count;
    }
    if let Some(count) = tail {
        out.push(String::new());
        out.push(format!(
            "[quoted history folded: {count} lines; include_quoted: true shows it]"
        ));
        folded += count;
    }
    if folded == 0 {
        return Folded {
            text: text.to_owned(),
            folded_lines: 0,
        };
    }
    if !references.is_empty() {
        out.push(String::new());
        out.extend(references.iter().map(|l| l.to_string()));
    }
    Folded {
        text: out.join("\n"),
        folded_lines: folded,
    }
}

/// Where the trailing block of link references (`[n]: url` lines) starts, and those lines.
fn split_link_references<'a>(lines: &'a [&'a str]) -> (usize, &'a [&'a str]) {
    let mut start = lines.len();
    while start > 0 && (is_link_reference(lines[start - 1]) || lines[start - 1].trim().is_empty()) {
        start -= 1;
    }
    let references = &lines[start..];
    match references.iter().any(|l| is_link_reference(l)) {
        true => (start, trim_leading_blank(references)),
        false => (lines.len(), &[]),
    }
}

fn is_link_reference(line: &str) -> bool {
    let Some(rest) = line.trim_start().strip_prefix('[') else {
        return false;
    };
    let Some((number, after)) = rest.split_once("]: ") else {
        return false;
    };
    !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit()) && !after.contains(' ')
}

/// The first line of a quoted-history tail: an Outlook header block, or an attribution
/// followed by nothing but quoted lines. Never the first line of the body (a message that
/// is all history, like a forward, stays as it is).
fn history_start(lines: &[&str]) -> Option<usize> {
    let first_text = lines.iter().position(|l| !l.trim().is_empty())?;
    for index in first_text + 1..lines.len() {
        if is_outlook_header(lines, index) {
            return Some(with_separator(lines, index));
        }
        if let Some(quote) = attribution_end(lines, index)
            && lines[quote + 1..]
                .iter()
                .all(|l| l.trim().is_empty() || is_quoted(l))
            && lines[quote + 1..].iter().any(|l| is_quoted(l))
        {
            return Some(index);
        }
    }
    None
}

/// Takes a separator line (`____`, `────`, `----`) just above a header block with it.
fn with_separator(lines: &[&str], index: usize) -> usize {
    let above = lines[..index].iter().rposition(|l| !l.trim().is_empty());
    match above {
        Some(line) if is_rule(lines[line]) => line,
        _ => index,
    }
}

fn is_rule(line: &str) -> bool {
    let line = line.trim();
    line.chars().count() >= 5
        && line
            .chars()
            .all(|c| matches!(c, '_' | '-' | '─' | '━' | '='))
}

/// A line without Markdown emphasis marks around it, trimmed.
fn plain(line: &str) -> &str {
    line.trim().trim_matches(|c| c == '*' || c == '_').trim()
}

fn starts_with_field(line: &str, names: &[&str]) -> bool {
    let line = plain(line);
    names.iter().any(|name| {
        line.get(..name.len())
            .is_some_and(|start| start.eq_ignore_ascii_case(name))
    })
}

/// "From: …" with "Sent:"/"Date:" and "To:"/"Subject:" just below, or an
/// "-----Original Message-----" line.
fn is_outlook_header(lines: &[&str], index: usize) -> bool {
    let line = plain(lines[index]).to_ascii_lowercase();
    if line.starts_with('-') && line.contains("original message") {
        return true;
    }
    if !starts_with_field(lines[index], &["From:", "Von:", "De :", "De:"]) {
        return false;
    }
    let below = &lines[index + 1..lines.len().min(index + 1 + OUTLOOK_HEADER_SPAN)];
    let has = |names: &[&str]| below.iter().any(|l| starts_with_field(l, names));
    has(&["Sent:", "Date:", "Gesendet:", "Envoyé :", "Envoyé:"])
        && has(&["To:", "Subject:", "An:", "Betreff:", "À :", "Objet :"])
}

/// The last line of an attribution starting at `index` ("On … wrote:", possibly wrapped
/// onto the next line), if there is one.
fn attribution_end(lines: &[&str], index: usize) -> Option<usize> {
    const ENDINGS: [&str; 5] = ["wrote:", "schrieb:", "a écrit :", "a écrit:", "escribió:"];
    let ends = |line: &str| ENDINGS.iter().any(|e| plain(line).ends_with(e));
    let opening = plain(lines[index]);
    if opening.chars().count() > 300 || is_quoted(opening) {
        return None;
    }
    if ends(lines[index]) {
        return Some(index);
    }
    let starts = ["On ", "Am ", "Le ", "El "]
        .iter()
        .any(|s| opening.starts_with(s));
    let next = lines.get(index + 1)?;
    (starts && ends(next)).then_some(index + 1)
}

fn is_quoted(line: &str) -> bool {
    line.trim_start().starts_with('>')
}

/// Where a short signature starts: the last `-- ` line (or `--`), within
/// [`MAX_SIGNATURE_LINES`] of the end.
fn signature_start(lines: &[&str]) -> Option<usize> {
    let start = lines
        .iter()
        .rposition(|l| *l == "-- " || l.trim_end() == "--")?;
    let after = lines.len() - start - 1;
    (start > 0 && after > 0 && after <= MAX_SIGNATURE_LINES).then_some(start)
}

/// Copies `lines` into `out`, each run of quoted lines (with the attribution line just
/// above it) as one marker line; returns how many lines were folded.
fn fold_quote_runs(lines: &[&str], out: &mut Vec<String>) -> usize {
    let mut folded = 0;
    let mut index = 0;
    while index < lines.len() {
        let attribution = attribution_end(lines, index)
            .filter(|&end| lines.get(end + 1).is_some_and(|l| is_quoted(l)));
        let run_start = attribution.map_or(index, |end| end + 1);
        let run = lines[run_start..]
            .iter()
            .take_while(|l| is_quoted(l))
            .count();
        if run == 0 {
            out.push(lines[index].to_owned());
            index += 1;
            continue;
        }
        let count = run_start - index + run;
        out.push(format!("> [{count} quoted lines folded]"));
        folded += count;
        index += count;
    }
    folded
}

fn trim_trailing_blank<'a>(lines: &'a [&'a str]) -> &'a [&'a str] {
    let end = lines
        .iter()
        .rposition(|l| !l.trim().is_empty())
        .map_or(0, |i| i + 1);
    &lines[..end]
}

fn trim_leading_blank<'a>(lines: &'a [&'a str]) -> &'a [&'a str] {
    let start = lines
        .iter()
        .position(|l| !l.trim().is_empty())
        .unwrap_or(lines.len());
    &lines[start..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_top_posted_reply_loses_its_quoted_tail_and_signature() {
        let text = "Sounds good, see you then.\n\n-- \nAnn Smith\nACME\n\n\
On Mon, 2 Mar 2026 at 10:00, Bob <bob@x.com> wrote:\n> Shall we meet?\n>\n> Bob\n";
        let folded = fold_quoted(text);
        assert_eq!(
            folded.text,
            "Sounds good, see you then.\n[signature folded: 3 lines]\n\n\
[quoted history folded: 4 lines; include_quoted: true shows it]"
        );
        assert_eq!(folded.folded_lines, 7);
    }

    #[test]
    fn a_wrapped_attribution_and_emphasis_are_recognised() {
        let text = "Yes.\n\nOn Mon, 2 Mar 2026 at 10:00, Bob Example <bob@example.com>\nwrote:\n\n> Meet?\n";
        assert_eq!(
            fold_quoted(text).text,
            "Yes.\n\n[quoted history folded: 3 lines; include_quoted: true shows it]"
        );
    }

    #[test]
    fn an_outlook_block_and_everything_after_it_fold() {
        let text = "Approved.\n\n________________________________\n**From:** Bob <bob@x.com>\n\
**Sent:** Monday, March 2, 2026 10:00\n**To:** Ann\n**Subject:** Budget\n\nPlease approve.\n";
        let folded = fold_quoted(text);
        assert_eq!(
            folded.text,
            "Approved.\n\n[quoted history folded: 6 lines; include_quoted: true shows it]"
        );
    }

    #[test]
    fn interleaved_quotes_fold_run_by_run_and_answers_stay() {
        let text = "Hi,\nOn Monday Bob wrote:\n> first question\n> more\nfirst answer\n> second question\nsecond answer\n";
        let folded = fold_quoted(text);
        assert_eq!(
            folded.text,
            "Hi,\n> [3 quoted lines folded]\nfirst answer\n> [1 quoted lines folded]\nsecond answer"
        );
        assert_eq!(folded.folded_lines, 4);
    }

    #[test]
    fn link_references_at_the_end_are_kept() {
        let text = "See [the plan][1].\n\nOn Mon, Bob wrote:\n> old [x][2]\n\n[1]: https://x.test/plan\n[2]: https://x.test/old\n";
        let folded = fold_quoted(text);
        assert!(folded.text.starts_with("See [the plan][1].\n"));
        assert!(
            folded
                .text
                .ends_with("[1]: https://x.test/plan\n[2]: https://x.test/old")
        );
        assert!(!folded.text.contains("old [x]"));
    }

    #[test]
    fn text_without_history_is_untouched() {
        for text in [
            "Just a note.\nWith two lines.\n",
            "On Monday we ship.\nThe team wrote: nothing.\n",
            "-- \nonly a signature line at the top\n",
            "",
        ] {
            let folded = fold_quoted(text);
            assert_eq!(folded.text, text);
            assert_eq!(folded.folded_lines, 0);
        }
    }

    #[test]
    fn a_forward_that_is_all_history_stays() {
        let text = "From: Bob <bob@x.com>\nSent: Monday\nTo: Ann\nSubject: Plan\n\nThe plan.\n";
        assert_eq!(fold_quoted(text).text, text);
    }
}
