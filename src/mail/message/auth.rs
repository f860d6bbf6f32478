//! The receiving mail server's verdicts on a message's origin, from its
//! `Authentication-Results` header (RFC 8601): SPF, DKIM and DMARC, the domains they vouch
//! for, and warnings when DMARC failed or the From domain is not vouched for by a passing
//! check. Pure parsing, no I/O, no DNS: nothing is verified again here.
//!
//! Which header is trusted: only the topmost one. The receiving server adds its header
//! at the top; every header below it came with the message, and a sender can write any
//! verdict there ("dmarc=pass") to look trustworthy. A message whose topmost header is
//! not the receiving server's own (a server that adds none) may show the sender's forged
//! header: the verdicts are only as good as the mail provider that wrote them.

use schemars::JsonSchema;
use serde::Serialize;

/// The name of the header, as IMAP and mail-parser spell it.
pub const HEADER: &str = "Authentication-Results";

/// One check's result, as RFC 8601 names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Fail,
    Softfail,
    Neutral,
    None,
    Temperror,
    Permerror,
    Policy,
}

impl Verdict {
    fn parse(text: &str) -> Option<Self> {
        Some(match text.to_ascii_lowercase().as_str() {
            "pass" => Verdict::Pass,
            "fail" | "hardfail" => Verdict::Fail,
            "softfail" => Verdict::Softfail,
            "neutral" => Verdict::Neutral,
            "none" => Verdict::None,
            "temperror" => Verdict::Temperror,
            "permerror" => Verdict::Permerror,
            "policy" => Verdict::Policy,
            _ => return None,
        })
    }
}

/// What the receiving server found about where a message comes from.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Authentication {
    /// The server that checked (the authserv-id of the topmost Authentication-Results
    /// header, the only one trusted: lower ones may be written by the sender).
    pub checked_by: String,
    /// SPF: whether the sending server may send for the envelope sender's domain.
    pub spf: Option<Verdict>,
    /// DKIM: pass when any signature verified, else the first signature's result.
    pub dkim: Option<Verdict>,
    /// DMARC: whether the From domain's owner vouches for the message.
    pub dmarc: Option<Verdict>,
    /// The domains (d=) of the DKIM signatures that verified.
    pub dkim_domains: Vec<String>,
    /// The domain SPF checked (of smtp.mailfrom, else smtp.helo).
    pub spf_domain: Option<String>,
    /// What to be wary of: DMARC failed, or the From domain is vouched for by no passing
    /// DKIM signature or SPF check (the sender may be forged).
    pub warnings: Vec<String>,
}

impl Authentication {
    /// The verdicts of the topmost of `headers` (raw values, top first), with warnings for
    /// a message from `from_domain`; `None` without any Authentication-Results header.
    pub fn of<'h>(
        mut headers: impl Iterator<Item = &'h str>,
        from_domain: Option<&str>,
    ) -> Option<Self> {
        let header = parse_header(headers.next()?)?;
        let mut auth = Authentication {
            checked_by: header.authserv_id,
            ..Default::default()
        };
        for result in &header.results {
            match result.method.as_str() {
                "spf" if auth.spf.is_none() => {
                    auth.spf = Some(result.verdict);
                    auth.spf_domain = result
                        .property("smtp.mailfrom")
                        .or_else(|| result.property("smtp.helo"))
                        .map(domain_of);
                }
                "dkim" => {
                    if result.verdict == Verdict::Pass {
                        auth.dkim = Some(Verdict::Pass);
                        if let Some(d) = result
                            .property("header.d")
                            .or_else(|| result.property("header.i"))
                        {
                            auth.dkim_domains.push(domain_of(d));
                        }
                    } else if auth.dkim.is_none() {
                        auth.dkim = Some(result.verdict);
                    }
                }
                "dmarc" if auth.dmarc.is_none() => auth.dmarc = Some(result.verdict),
                _ => {}
            }
        }
        auth.warnings = auth.warnings_for(from_domain);
        Some(auth)
    }

    fn warnings_for(&self, from_domain: Option<&str>) -> Vec<String> {
        let mut warnings = Vec::new();
        if matches!(self.dmarc, Some(Verdict::Fail)) {
            warnings.push(
                "DMARC failed: the owner of the From domain does not vouch for this message; \
                 the sender is probably forged"
                    .to_owned(),
            );
            return warnings;
        }
        if self.dmarc == Some(Verdict::Pass) {
            return warnings;
        }
        let Some(from) = from_domain else {
            return warnings;
        };
        let spf_aligned = self.spf == Some(Verdict::Pass)
            && self.spf_domain.as_deref().is_some_and(|d| aligned(d, from));
        let dkim_aligned = self.dkim_domains.iter().any(|d| aligned(d, from));
        if !spf_aligned && !dkim_aligned {
            warnings.push(format!(
                "no passing DKIM signature or SPF check is for the From domain {from}: the \
                 sender may be forged"
            ));
        }
        warnings
    }
}

/// Whether two domains are aligned in DMARC's relaxed sense, approximated without the
/// public suffix list: equal, or one a subdomain of the other.
fn aligned(a: &str, b: &str) -> bool {
    let (a, b) = (a.to_ascii_lowercase(), b.to_ascii_lowercase());
    a == b || a.ends_with(&format!(".{b}")) || b.ends_with(&format!(".{a}"))
}

/// The domain of an address (`user@example.com`, `@example.com`) or a bare domain.
fn domain_of(value: &str) -> String {
    value
        .rsplit_once('@')
        .map_or(value, |(_, domain)| domain)
        .trim_end_matches('>')
        .to_ascii_lowercase()
}

/// One Authentication-Results header.
#[derive(Debug, PartialEq, Eq)]
struct Header {
    authserv_id: String,
    results: Vec<ResultInfo>,
}

/// One `method=result ptype.property=value …` of a header.
#[derive(Debug, PartialEq, Eq)]
struct ResultInfo {
    method: String,
    verdict: Verdict,
    properties: Vec<(String, String)>,
}

impl ResultInfo {
    fn property(&self, name: &str) -> Option<&str> {
        self.properties
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A header's value parsed: comments dropped, quoted strings kept whole, results with an
/// unknown verdict skipped. `None` when it names no authserv-id.
fn parse_header(value: &str) -> Option<Header> {
    let text = without_comments(value);
    let mut segments = split_outside_quotes(&text, ';').into_iter();
    let authserv_id = tokens(&segments.next()?).into_iter().next()?;
    let Token::Word(authserv_id) = authserv_id else {
        return None;
    };
    let results = segments
        .filter_map(|segment| result_info(&tokens(&segment)))
        .collect();
    Some(Header {
        authserv_id,
        results,
    })
}

fn result_info(tokens: &[Token]) -> Option<ResultInfo> {
    let [
        Token::Word(method),
        Token::Equals,
        Token::Word(result),
        rest @ ..,
    ] = tokens
    else {
        return None;
    };
    let method = method
        .split('/')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let verdict = Verdict::parse(result)?;
    let mut properties = Vec::new();
    let mut rest = rest;
    while let [
        Token::Word(name),
        Token::Equals,
        Token::Word(value),
        more @ ..,
    ] = rest
    {
        properties.push((name.to_ascii_lowercase(), value.clone()));
        rest = more;
    }
    Some(ResultInfo {
        method,
        verdict,
        properties,
    })
}

/// A word (a quoted string unquoted) or `=`.
#[derive(Debug, PartialEq, Eq)]
enum Token {
    Word(String),
    Equals,
}

/// The words and `=` signs of a segment; whitespace separates words.
fn tokens(segment: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut chars = segment.chars();
    let flush = |word: &mut String, out: &mut Vec<Token>| {
        if !word.is_empty() {
            out.push(Token::Word(std::mem::take(word)));
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                flush(&mut word, &mut out);
                let mut quoted = String::new();
                while let Some(q) = chars.next() {
                    match q {
                        '\\' => quoted.extend(chars.next()),
                        '"' => break,
                        _ => quoted.push(q),
                    }
                }
                out.push(Token::Word(quoted));
            }
            '=' => {
                flush(&mut word, &mut out);
                out.push(Token::Equals);
            }
            c if c.is_whitespace() => flush(&mut word, &mut out),
            c => word.push(c),
        }
    }
    flush(&mut word, &mut out);
    out
}

/// `text` split at `separator` where it is outside quoted strings.
fn split_outside_quotes(text: &str, separator: char) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut quoted = false;
    let mut escaped = false;
    for c in text.chars() {
        let part = parts.last_mut().expect("never empty");
        match c {
            _ if escaped => {
                escaped = false;
                part.push(c);
            }
            '\\' if quoted => {
                escaped = true;
                part.push(c);
            }
            '"' => {
                quoted = !quoted;
                part.push(c);
            }
            c if c == separator && !quoted => parts.push(String::new()),
            c => part.push(c),
        }
    }
    parts
}

/// `text` unfolded, with its (nested) comments replaced by a space; parentheses inside
/// quoted strings are kept.
fn without_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut depth = 0usize;
    let mut quoted = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' if quoted || depth > 0 => {
                let next = chars.next();
                if depth == 0 {
                    out.push(c);
                    out.extend(next);
                }
            }
            '"' if depth == 0 => {
                quoted = !quoted;
                out.push(c);
            }
            '(' if !quoted => depth += 1,
            ')' if !quoted && depth > 0 => {
                depth -= 1;
                if depth == 0 {
                    out.push(' ');
                }
            }
            '\r' | '\n' => out.push(' '),
            _ if depth > 0 => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdicts(header: &str, from: &str) -> Authentication {
        Authentication::of([header].into_iter(), Some(from)).expect("a header")
    }

    /// (header, spf, dkim, dmarc, dkim domains, spf domain, number of warnings)
    type Case = (
        &'static str,
        Option<Verdict>,
        Option<Verdict>,
        Option<Verdict>,
        &'static [&'static str],
        Option<&'static str>,
        usize,
    );

    #[test]
    fn headers_parse() {
        use Verdict::{Fail, Neutral, Pass, Permerror, Softfail, Temperror};
        // (header, spf, dkim, dmarc, dkim domains, spf domain, warnings)
        let cases: [Case; 11] = [
            (
                "mx.example.net; spf=pass smtp.mailfrom=a@example.com; dkim=pass header.d=example.com; dmarc=pass header.from=example.com",
                Some(Pass),
                Some(Pass),
                Some(Pass),
                &["example.com"],
                Some("example.com"),
                0,
            ),
            (
                "mx.example.net (Postfix 3.7); spf=pass (sender SPF authorized (nested)) smtp.mailfrom=example.com",
                Some(Pass),
                None,
                None,
                &[],
                Some("example.com"),
                0,
            ),
            (
                "mx.example.net;\r\n\tdkim=fail reason=\"bad; (not a comment) signature\" header.d=example.com;\r\n\tdmarc=fail header.from=example.com",
                None,
                Some(Fail),
                Some(Fail),
                &[],
                None,
                1,
            ),
            ("mx.example.net; none", None, None, None, &[], None, 1),
            (
                "mx.example.net 1; spf=softfail smtp.mailfrom=x@example.com",
                Some(Softfail),
                None,
                None,
                &[],
                Some("example.com"),
                1,
            ),
            (
                "mx; dkim = pass header.d = example.com",
                None,
                Some(Pass),
                None,
                &["example.com"],
                None,
                0,
            ),
            (
                "mx; dkim=fail header.d=other.test; dkim=pass header.i=@mail.example.com",
                None,
                Some(Pass),
                None,
                &["mail.example.com"],
                None,
                0,
            ),
            (
                "mx; spf=pass smtp.mailfrom=bounce@other.test",
                Some(Pass),
                None,
                None,
                &[],
                Some("other.test"),
                1,
            ),
            (
                "mx; dkim/1=neutral; spf=TempError; dmarc=permerror",
                Some(Temperror),
                Some(Neutral),
                Some(Permerror),
                &[],
                None,
                1,
            ),
            (
                "\"quoted id\"; spf=banana; dmarc=none",
                None,
                None,
                Some(Verdict::None),
                &[],
                None,
                1,
            ),
            (
                "mx; spf=hardfail smtp.helo=relay.example.com",
                Some(Fail),
                None,
                None,
                &[],
                Some("relay.example.com"),
                1,
            ),
        ];
        for (header, spf, dkim, dmarc, dkim_domains, spf_domain, warnings) in cases {
            let auth = verdicts(header, "example.com");
            assert_eq!(auth.spf, spf, "spf of {header}");
            assert_eq!(auth.dkim, dkim, "dkim of {header}");
            assert_eq!(auth.dmarc, dmarc, "dmarc of {header}");
            assert_eq!(auth.dkim_domains, dkim_domains, "dkim domains of {header}");
            assert_eq!(
                auth.spf_domain.as_deref(),
                spf_domain,
                "spf domain of {header}"
            );
            assert_eq!(
                auth.warnings.len(),
                warnings,
                "warnings of {header}: {:?}",
                auth.warnings
            );
        }
    }

    #[test]
    fn only_the_topmost_header_counts() {
        let headers = [
            "mx.example.net; dmarc=fail header.from=bank.test",
            "mx.example.net; spf=pass smtp.mailfrom=bank.test; dkim=pass header.d=bank.test; dmarc=pass",
        ];
        let auth = Authentication::of(headers.into_iter(), Some("bank.test")).unwrap();
        assert_eq!(auth.checked_by, "mx.example.net");
        assert_eq!(auth.dmarc, Some(Verdict::Fail));
        assert!(auth.warnings[0].starts_with("DMARC failed"), "{auth:?}");
        assert_eq!(Authentication::of([].into_iter(), Some("bank.test")), None);
    }

    #[test]
    fn subdomains_align() {
        assert!(aligned("mail.example.com", "example.com"));
        assert!(aligned("EXAMPLE.com", "example.COM"));
        assert!(!aligned("badexample.com", "example.com"));
        assert_eq!(domain_of("Bounce@Example.COM"), "example.com");
    }

    #[test]
    fn garbage_does_not_panic() {
        for header in [
            "",
            ";",
            ";;;",
            "(",
            "((((",
            "\"",
            "a; =",
            "a; b=",
            "a; =pass",
            "\\",
            "a; dkim=pass header.d",
        ] {
            let _ = Authentication::of([header].into_iter(), Some("x.test"));
        }
        assert_eq!(parse_header("(only a comment)"), None);
    }
}
